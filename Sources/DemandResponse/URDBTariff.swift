import FlexSupport
import Foundation

/// A rate from the OpenEI Utility Rate Database (URDB), in its JSON form: time-of-use energy periods
/// with tiers, the 12 × 24 weekday and weekend schedules, and the fixed and demand charges.
///
/// Schedules are 0-based throughout, as in the JSON: row 0 is January, column 0 the hour 00:00–00:59,
/// each value a 0-based index into `energyratestructure` (OpenEI's web page shows periods 1-based:
/// "period 1" there is index 0 here). Hours are the utility's local wall clock.
public struct URDBTariff: Sendable, Hashable {
    /// One tier of an energy period: up to `maxKWh` of cumulative energy in the billing month.
    public struct Tier: Sendable, Hashable {
        /// Upper bound of the tier, cumulative kWh in the month (nil: unbounded).
        public let maxKWh: Double?
        /// `rate + adj`, $/kWh.
        public let usdPerKWh: Double
    }

    /// One tier of a demand charge: up to `maxKW` of the month's maximum demand.
    public struct DemandTier: Sendable, Hashable {
        public let maxKW: Double?
        /// `rate + adj`, $/kW.
        public let usdPerKW: Double
    }

    public let name: String?
    public let utility: String?
    public let label: String?
    /// Energy periods, each a list of tiers (ascending `maxKWh`, the last unbounded).
    public let energyPeriods: [[Tier]]
    public let energyWeekday: [[Int]]
    public let energyWeekend: [[Int]]
    /// `fixedmonthlycharge` (older records) or `fixedchargefirstmeter` with units $/month.
    public let fixedMonthlyUSD: Double?
    /// Time-of-use demand charges ($/kW of the period's maximum demand in the month).
    public let demandPeriods: [[DemandTier]]
    public let demandWeekday: [[Int]]?
    public let demandWeekend: [[Int]]?
    /// Monthly (flat) demand charges, and which of them each month uses.
    public let flatDemand: [[DemandTier]]
    public let flatDemandMonths: [Int]?

    /// Reads a record, or the API's `{"items":[record]}` (the first item).
    /// - Throws: `InputError` naming the file and the field.
    public init(contentsOf path: String) throws(InputError) {
        do throws(InputError) {
            try self.init(json: InputFile.data(path))
        } catch {
            throw InputError("tariff \(path): \(error.message)")
        }
    }

    public init(json data: Data) throws(InputError) {
        var f = try JSONFields(json: data, what: "a URDB tariff")
        if let items = try f.array("items") {
            guard let first = items.first as? [String: Any] else {
                throw InputError("field \"items\" must hold at least one rate record (an object)")
            }
            f = JSONFields(first, path: "items[0].")
        }
        try self.init(fields: f)
    }

    init(fields f: JSONFields) throws(InputError) {
        name = try f.string("name")
        utility = try f.string("utility")
        label = try f.string("label")
        energyPeriods = try Self.energyStructure(f)
        energyWeekday = try Self.requiredSchedule(f, "energyweekdayschedule", periods: energyPeriods.count)
        energyWeekend = try Self.requiredSchedule(f, "energyweekendschedule", periods: energyPeriods.count)
        if let fixed = try f.number("fixedmonthlycharge", in: 0...1e9) {
            fixedMonthlyUSD = fixed
        } else if let first = try f.number("fixedchargefirstmeter", in: 0...1e9) {
            let units = try f.string("fixedchargeunits") ?? "$/month"
            guard units == "$/month" else {
                throw InputError("field \"\(f.path)fixedchargeunits\" must be $/month, got \"\(units.prefix(20))\"")
            }
            fixedMonthlyUSD = first
        } else {
            fixedMonthlyUSD = nil
        }
        demandPeriods = try Self.demandStructure(f, "demandratestructure")
        demandWeekday = try Self.schedule(f, "demandweekdayschedule", periods: demandPeriods.count, required: false)
        demandWeekend = try Self.schedule(f, "demandweekendschedule", periods: demandPeriods.count, required: false)
        if !demandPeriods.isEmpty && (demandWeekday == nil || demandWeekend == nil) {
            throw InputError(
                "field \"\(f.path)demandratestructure\" needs demandweekdayschedule and demandweekendschedule")
        }
        flatDemand = try Self.demandStructure(f, "flatdemandstructure")
        if let months = try f.array("flatdemandmonths") {
            guard months.count == 12 else {
                throw InputError("field \"\(f.path)flatdemandmonths\" must have 12 entries, got \(months.count)")
            }
            var out: [Int] = []
            for (i, v) in months.enumerated() {
                guard let n = JSONScalar.integer(v, in: 0...(max(0, flatDemand.count - 1))) else {
                    throw InputError(
                        "field \"\(f.path)flatdemandmonths[\(i)]\" must be a period index 0...\(max(0, flatDemand.count - 1))"
                    )
                }
                out.append(n)
            }
            flatDemandMonths = flatDemand.isEmpty ? nil : out
        } else {
            flatDemandMonths = flatDemand.isEmpty ? nil : Array(repeating: 0, count: 12)
        }
    }

    /// One line for the operator: what is priced, and the charges that are read but not turned into prices.
    public var summary: String {
        let tiers = energyPeriods.map(\.count).max() ?? 1
        var parts = ["\(name ?? label ?? "URDB rate")\(utility.map { " (\($0))" } ?? "")"]
        parts.append("\(energyPeriods.count) energy period(s)\(tiers > 1 ? ", up to \(tiers) tiers" : "")")
        if let fixed = fixedMonthlyUSD { parts.append("fixed \(fixed) USD/month") }
        if !demandPeriods.isEmpty || !flatDemand.isEmpty {
            parts.append(
                "demand charges (\(demandPeriods.count) TOU, \(flatDemand.count) flat) reported by simulate, not priced"
            )
        }
        return parts.joined(separator: "; ")
    }

    /// The energy period (0-based) for a month (1...12), an hour (0...23) and a kind of day.
    public func energyPeriod(month: Int, hour: Int, weekend: Bool) -> Int {
        (weekend ? energyWeekend : energyWeekday)[month - 1][hour]
    }

    /// The energy price, USD/MWh, of `period` when `monthKWh` have already been used this billing month.
    public func usdPerMWh(period: Int, monthKWh: Double) -> Double {
        let tiers = energyPeriods[period]
        let tier = tiers.first { $0.maxKWh.map { monthKWh < $0 } ?? true } ?? tiers[tiers.count - 1]
        return tier.usdPerKWh * 1000
    }

    /// The cost, USD, of `kWh` more in `period` starting at `monthKWh` this month: split across tier
    /// boundaries, so energy that crosses one is charged at both rates.
    public func energyCost(period: Int, monthKWh: Double, kWh: Double) -> Double {
        var used = monthKWh
        var left = kWh
        var usd = 0.0
        for tier in energyPeriods[period] where left > 0 {
            let room = tier.maxKWh.map { max(0, $0 - used) } ?? .infinity
            let take = min(left, room)
            usd += take * tier.usdPerKWh
            used += take
            left -= take
        }
        if left > 0 { usd += left * (energyPeriods[period].last?.usdPerKWh ?? 0) }
        return usd
    }

    /// The demand charge, USD, for `kW` under tiered demand rates (each tier's kW at its rate).
    public static func demandCharge(_ tiers: [DemandTier], kW: Double) -> Double {
        var below = 0.0
        var usd = 0.0
        for tier in tiers {
            let top = tier.maxKW ?? .infinity
            let part = max(0, min(kW, top) - below)
            usd += part * tier.usdPerKW
            below = top
            if kW <= top { break }
        }
        return usd
    }

    private static func energyStructure(_ f: JSONFields) throws(InputError) -> [[Tier]] {
        let key = "energyratestructure"
        guard let periods = try f.array(key), !periods.isEmpty else {
            throw InputError("missing field \"\(f.path)\(key)\" (a list of periods, each a list of tiers)")
        }
        guard periods.count <= 288 else { throw InputError("field \"\(f.path)\(key)\" has more than 288 periods") }
        var out: [[Tier]] = []
        for period in try rawTiers(f, key, periods) {
            var list: [Tier] = []
            for tier in period {
                let maxKWh = try tier.fields.number("max", in: 0...1e15)
                let unit = try tier.fields.string("unit") ?? "kWh"
                // Tiers by day, or by kWh per kW of demand, would need more than the month's kWh: refused.
                if period.count > 1 || maxKWh != nil, unit != "kWh" && unit != "kWh/month" {
                    throw InputError(
                        "field \"\(tier.path).unit\" is \"\(unit.prefix(20))\": only kWh (per month) tiers are supported"
                    )
                }
                if let previous = list.last {
                    guard let prevMax = previous.maxKWh, maxKWh.map({ $0 > prevMax }) ?? true else {
                        throw InputError("field \"\(tier.path).max\" must be above the previous tier's max")
                    }
                }
                list.append(Tier(maxKWh: maxKWh, usdPerKWh: tier.usd))
            }
            out.append(list)
        }
        return out
    }

    private static func demandStructure(_ f: JSONFields, _ key: String) throws(InputError) -> [[DemandTier]] {
        guard let periods = try f.array(key) else { return [] }
        return try rawTiers(f, key, periods).map { period throws(InputError) in
            var list: [DemandTier] = []
            for tier in period {
                list.append(DemandTier(maxKW: try tier.fields.number("max", in: 0...1e15), usdPerKW: tier.usd))
            }
            return list
        }
    }

    /// One tier of a URDB rate structure as read: its fields, its path for errors, and rate + adj.
    private struct RawTier {
        let fields: JSONFields
        let path: String
        let usd: Double
    }

    /// The periods of a URDB rate structure (`[[{"rate", "adj", "max", "unit"}]]`, energy or demand), each
    /// a list of 1 to 64 tier objects whose rate + adj is checked non-negative; errors name the field.
    private static func rawTiers(_ f: JSONFields, _ key: String, _ periods: [Any]) throws(InputError) -> [[RawTier]] {
        var out: [[RawTier]] = []
        for (p, period) in periods.enumerated() {
            let name = "\(f.path)\(key)[\(p)]"
            guard let tiers = period as? [Any], !tiers.isEmpty, tiers.count <= 64 else {
                throw InputError("field \"\(name)\" must be a list of 1 to 64 tiers")
            }
            var list: [RawTier] = []
            for (t, tier) in tiers.enumerated() {
                guard let o = tier as? [String: Any] else {
                    throw InputError("field \"\(name)[\(t)]\" must be an object")
                }
                let tf = JSONFields(o, path: "\(name)[\(t)].")
                let rate = try tf.number("rate", in: 0...1e6) ?? 0
                let adj = try tf.number("adj", in: -1e6...1e6) ?? 0
                guard rate + adj >= 0 else {
                    throw InputError("field \"\(name)[\(t)]\": rate + adj must not be negative, got \(rate + adj)")
                }
                list.append(RawTier(fields: tf, path: "\(name)[\(t)]", usd: rate + adj))
            }
            out.append(list)
        }
        return out
    }

    /// A 12 × 24 matrix of period indices within 0..<periods.
    private static func requiredSchedule(_ f: JSONFields, _ key: String, periods: Int) throws(InputError) -> [[Int]] {
        guard let rows = try schedule(f, key, periods: periods, required: true) else {
            throw InputError("missing field \"\(f.path)\(key)\" (12 rows of 24 period indices)")
        }
        return rows
    }

    private static func schedule(_ f: JSONFields, _ key: String, periods: Int, required: Bool) throws(InputError)
        -> [[Int]]?
    {
        guard let rows = try f.array(key) else {
            if required { throw InputError("missing field \"\(f.path)\(key)\" (12 rows of 24 period indices)") }
            return nil
        }
        guard rows.count == 12 else {
            throw InputError("field \"\(f.path)\(key)\" must have 12 rows (January–December), got \(rows.count)")
        }
        var out: [[Int]] = []
        for (m, row) in rows.enumerated() {
            guard let hours = row as? [Any], hours.count == 24 else {
                let n = (row as? [Any])?.count ?? 0
                throw InputError("field \"\(f.path)\(key)[\(m)]\" must have 24 hours, got \(n)")
            }
            var line: [Int] = []
            for (h, v) in hours.enumerated() {
                guard let p = JSONScalar.integer(v, in: 0...(periods - 1)) else {
                    throw InputError(
                        "field \"\(f.path)\(key)[\(m)][\(h)]\" must be a period index 0...\(periods - 1) (0-based), got \(v)"
                    )
                }
                line.append(p)
            }
            out.append(line)
        }
        return out
    }
}

/// A tariff read on a local wall clock: which period and price apply at an instant.
public struct TariffClock: Sendable, Hashable {
    public let tariff: URDBTariff
    public let clock: LocalClock
    public let holidays: HolidayList

    public init(tariff: URDBTariff, clock: LocalClock, holidays: HolidayList = HolidayList()) {
        self.tariff = tariff
        self.clock = clock
        self.holidays = holidays
    }

    /// Weekend schedule on Saturdays, Sundays and holidays.
    public func isWeekend(_ local: LocalTime) -> Bool { local.isWeekend || holidays.contains(local) }

    /// The energy period in force at `date` (0-based, as in the JSON).
    public func energyPeriod(at date: Date) -> Int {
        let l = clock.local(date)
        return tariff.energyPeriod(month: l.month, hour: l.hour, weekend: isWeekend(l))
    }

    /// The demand period in force at `date`, when the tariff has time-of-use demand charges.
    public func demandPeriod(at date: Date) -> Int? {
        guard let wd = tariff.demandWeekday, let we = tariff.demandWeekend else { return nil }
        let l = clock.local(date)
        return (isWeekend(l) ? we : wd)[l.month - 1][l.hour]
    }

    /// The energy price at `date`, USD/MWh, with `monthKWh` already used in the billing month.
    public func usdPerMWh(at date: Date, monthKWh: Double = 0) -> Double {
        tariff.usdPerMWh(period: energyPeriod(at: date), monthKWh: monthKWh)
    }
}
