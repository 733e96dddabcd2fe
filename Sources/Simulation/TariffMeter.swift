import DemandResponse
import FlexSupport
import Foundation

/// Prices and bills a simulation under a tariff and a schedule: the price each interval sends to the
/// policy (the schedule's price window, else the tariff's period and tier for the local hour), and the
/// energy the modelled miner used, by TOU period, billing month and 15-minute interval (for demand charges
/// and the 4CP report). A reference type: the simulator records into it as it runs.
public final class TariffMeter {
    public let tariff: TariffClock?
    public let schedule: Schedule?
    /// The zone of billing months (the tariff's, else the schedule's peak watch, else UTC).
    public let clock: LocalClock
    public let powerWatts: Double
    /// kWh used so far in each billing month (year × 12 + month - 1, local).
    public private(set) var monthKWh: [Int: Double] = [:]
    /// kWh and USD by energy period (0-based; -1 for energy priced by a schedule price window).
    public private(set) var periodKWh: [Int: Double] = [:]
    public private(set) var periodUSD: [Int: Double] = [:]
    /// Seconds curtailed by a curtailment (a schedule window or the peak rule), by billing month.
    public private(set) var curtailedSecondsByMonth: [Int: Double] = [:]
    /// kWh per 15-minute interval, indexed from `firstBucket`.
    public private(set) var buckets: [Double] = []
    public private(set) var firstBucket: Int?

    public init(tariff: TariffClock?, schedule: Schedule?, clock: LocalClock, powerWatts: Double) {
        self.tariff = tariff
        self.schedule = schedule
        self.clock = clock
        self.powerWatts = powerWatts
    }

    func month(_ t: Double) -> Int { clock.local(Date(timeIntervalSince1970: t)).monthIndex }

    /// The price the policy sees at `t` (nil: neither a price window nor a tariff prices it).
    public func price(at t: Double) -> Double? {
        let date = Date(timeIntervalSince1970: t)
        if let p = schedule?.price(at: date) { return p }
        return tariff?.usdPerMWh(at: date, monthKWh: monthKWh[month(t)] ?? 0)
    }

    /// Records [from, to) at `kWh` (within one interval of the series: one local hour, one period) and
    /// returns its cost, USD. Energy that crosses a tier boundary is charged at both tiers' rates.
    func record(from: Double, to: Double, kWh: Double, curtailedByEvent: Bool, fallbackUSDPerMWh: Double) -> Double {
        let date = Date(timeIntervalSince1970: from)
        let m = month(from)
        let used = monthKWh[m] ?? 0
        let usd: Double
        let period: Int
        if let p = schedule?.price(at: date) {
            usd = kWh * p / 1000
            period = -1
        } else if let tariff {
            period = tariff.energyPeriod(at: date)
            usd = tariff.tariff.energyCost(period: period, monthKWh: used, kWh: kWh)
        } else {
            usd = kWh * fallbackUSDPerMWh / 1000
            period = -1
        }
        monthKWh[m] = used + kWh
        periodKWh[period, default: 0] += kWh
        periodUSD[period, default: 0] += usd
        if curtailedByEvent { curtailedSecondsByMonth[m, default: 0] += to - from }
        // 15-minute demand: energy into the clock quarter-hours it spans (whole- and half-hour zones alike).
        var t = from
        while t < to {
            let b = Int((t / 900).rounded(.down))
            let end = min(to, Double(b + 1) * 900)
            let share = to > from ? kWh * (end - t) / (to - from) : 0
            if firstBucket == nil { firstBucket = b }
            let i = b - firstBucket!
            if i >= 0 {
                if i >= buckets.count { buckets.append(contentsOf: repeatElement(0, count: i - buckets.count + 1)) }
                buckets[i] += share
            }
            t = end
        }
        return usd
    }

    /// Mean capacity (0...1) over [start, end), from the energy recorded in its quarter-hours.
    public func meanCapacity(start: Double, end: Double) -> Double? {
        guard let first = firstBucket, powerWatts > 0, end > start else { return nil }
        var kWh = 0.0
        var b = Int((start / 900).rounded(.down))
        while Double(b) * 900 < end {
            let i = b - first
            guard i >= 0 && i < buckets.count else { return nil }
            kWh += buckets[i]
            b += 1
        }
        return kWh / (powerWatts / 1000 * (end - start) / 3600)
    }

    /// One billing month's demand: the highest 15-minute demand (kW) overall and in each TOU demand period.
    public struct MonthDemand: Sendable {
        public let month: Int
        public var maxKW = 0.0
        public var maxKWByPeriod: [Int: Double] = [:]
        public var flatUSD = 0.0
        public var touUSD = 0.0
    }

    /// Demand charges per billing month, from the modelled 15-minute maximum demand.
    public func demand() -> [MonthDemand] {
        guard let first = firstBucket else { return [] }
        var months: [Int: MonthDemand] = [:]
        for (i, kWh) in buckets.enumerated() {
            let t = Double(first + i) * 900
            let kW = kWh * 4
            let m = month(t)
            var d = months[m] ?? MonthDemand(month: m)
            d.maxKW = max(d.maxKW, kW)
            if let p = tariff?.demandPeriod(at: Date(timeIntervalSince1970: t)) {
                d.maxKWByPeriod[p] = max(d.maxKWByPeriod[p] ?? 0, kW)
            }
            months[m] = d
        }
        guard let tariff = tariff?.tariff else { return months.values.sorted { $0.month < $1.month } }
        for (m, var d) in months {
            if let index = tariff.flatDemandMonths?[m % 12], index < tariff.flatDemand.count {
                d.flatUSD = URDBTariff.demandCharge(tariff.flatDemand[index], kW: d.maxKW)
            }
            d.touUSD = d.maxKWByPeriod.reduce(0) { sum, entry in
                entry.key < tariff.demandPeriods.count
                    ? sum + URDBTariff.demandCharge(tariff.demandPeriods[entry.key], kW: entry.value) : sum
            }
            months[m] = d
        }
        return months.values.sorted { $0.month < $1.month }
    }
}
