import DemandResponse
import FlexSupport
import Foundation

/// `simulate --tariff/--schedule/--system-load`: the same inputs the live sources turn into messages,
/// laid out on the virtual clock. Every time here is a real instant (seconds since 1970 UTC); local
/// wall-clock time exists only through `clock`.
public struct TariffScenario: Sendable {
    public var tariff: TariffClock?
    public var schedule: Schedule?
    public var systemLoad: SystemLoadSeries?
    /// The transmission charge a 4CP kW costs, USD per kW-year (ERCOT: about 50–150).
    public var transmissionUSDPerKWYear: Double?
    /// The zone of billing months, the 4CP summer months and local-time price files.
    public var clock: LocalClock

    public init(clock: LocalClock) { self.clock = clock }

    /// The simulated span: `from`/`to` when given, else the price series' (converted to real instants),
    /// else the system-load series'.
    /// - Throws: `SimulationError` saying what to give.
    public func span(from: Date?, to: Date?, prices: PriceSeries?) throws(SimulationError) -> (Double, Double) {
        if let from, let to {
            guard to > from else { throw SimulationError("--to must be after --from") }
            guard to.timeIntervalSince(from) <= 20 * 366 * 86_400 else {
                throw SimulationError("--from/--to span more than 20 years")
            }
            return (from.timeIntervalSince1970, to.timeIntervalSince1970)
        }
        if from != nil || to != nil { throw SimulationError("give --from and --to together") }
        if let p = prices, let first = p.points.first, let last = p.points.last {
            return (localToReal(first.time), localToReal(last.time) + p.intervalSeconds)
        }
        if let l = systemLoad, let first = l.points.first, let last = l.points.last { return (first.start, last.end) }
        throw SimulationError("give --from and --to (or --prices or --system-load for the span)")
    }

    /// A time written without a zone (price files keep the market's clock, labelled UTC) as a real
    /// instant in `clock`'s zone: the earlier of a repeated time, the jump of a skipped one.
    public func localToReal(_ naive: Double, second: Bool = false) -> Double {
        let days = Int((naive / 86_400).rounded(.down))
        let (y, m, d) = ISO8601.civilFromDays(days)
        let rest = Int(naive - Double(days) * 86_400)
        let all = clock.instants(year: y, month: m, day: d, hour: rest / 3600, minute: rest / 60 % 60)
        let base =
            (second ? all.last : all.first)
            ?? clock.firstInstant(year: y, month: m, day: d, hour: rest / 3600, minute: rest / 60 % 60)
        return base.timeIntervalSince1970 + Double(rest % 60)
    }

    /// A price series moved onto real instants (its repeated DST hour becomes the hour it really was).
    public func realTime(_ p: PriceSeries) -> PriceSeries {
        var points: [PricePoint] = []
        for (i, point) in p.points.enumerated() {
            let repeated = i > 0 && p.points[i - 1].time == point.time
            points.append(
                PricePoint(
                    time: localToReal(point.time, second: repeated), usdPerMWh: point.usdPerMWh, line: point.line))
        }
        return PriceSeries(
            points: points, intervalSeconds: p.intervalSeconds, gaps: [], duplicateTimestamps: 0,
            skippedRows: p.skippedRows, reordered: p.reordered, path: p.path, timeColumn: p.timeColumn,
            priceColumn: p.priceColumn, settlementPoint: p.settlementPoint, layout: p.layout)
    }

    /// 15-minute rows over [from, to) priced by the tariff (the meter reprices each as the month's kWh grow).
    public func series(from: Double, to: Double, meter: TariffMeter) throws(SimulationError) -> PriceSeries {
        let start = (from / 900).rounded(.down) * 900
        let count = Int(((to - start) / 900).rounded(.up))
        guard count >= 1 else { throw SimulationError("the span is empty") }
        guard count <= 20 * 366 * 96 else { throw SimulationError("the span is more than 20 years") }
        let points = (0..<count).map { i in
            let t = start + Double(i) * 900
            return PricePoint(time: t, usdPerMWh: meter.price(at: t) ?? 0, line: i + 1)
        }
        return PriceSeries(
            points: points, intervalSeconds: 900, gaps: [], duplicateTimestamps: 0, skippedRows: [], reordered: false,
            path: (tariff.map { "tariff \($0.tariff.label ?? $0.tariff.name ?? "")" } ?? "schedule") + " (times UTC)",
            timeColumn: "",
            priceColumn: "", settlementPoint: nil, layout: .table)
    }

    /// The schedule's windows as the messages the live source sends when each opens (curtailments and peak
    /// watches until the window's end), and the system load at the end of each interval (when it is known).
    public func events(from: Double, to: Double) -> [CurtailmentEvent] {
        var out: [CurtailmentEvent] = []
        if let schedule {
            let occurrences = schedule.occurrences(
                from: Date(timeIntervalSince1970: from), to: Date(timeIntervalSince1970: to))
            for (n, o) in occurrences.enumerated() {
                if case .price = o.window.action { continue }  // priced by the meter, interval by interval
                // A window already open at the start is sent at the start, as the live source does.
                let at = max(o.start.timeIntervalSince1970, from)
                out.append(
                    CurtailmentEvent(
                        time: at, message: Schedule.message(o.window, start: o.start, end: o.end), line: n + 1))
            }
        }
        if let systemLoad {
            out += systemLoad.messages().filter { $0.time >= from && $0.time < to }
        }
        return out.sorted { ($0.time, $0.line) < ($1.time, $1.line) }
    }

    func monthName(_ m: Int) -> String {
        let y = m / 12
        let mm = m % 12 + 1
        return "\(y)-\(mm < 10 ? "0" : "")\(mm)"
    }
}

extension TariffScenario {
    /// Reads the files `simulate --tariff/--schedule/--system-load` name.
    /// - Throws: `SimulationError` naming the flag, the file and the field.
    public static func load(
        tariff: String?, timezone: String?, holidays: String?, schedule: String?, systemLoad: String?,
        transmissionUSDPerKWYear: Double?
    ) throws(SimulationError) -> TariffScenario {
        do throws(InputError) {
            let sched = try schedule.map { p throws(InputError) in try Schedule(contentsOf: p) }
            let zone: LocalClock
            if let timezone {
                zone = try LocalClock(identifier: timezone, field: "--timezone")
            } else if tariff != nil || systemLoad != nil {
                throw InputError("--timezone IANA is needed with --tariff or --system-load (their hours are local)")
            } else {
                zone = LocalClock(
                    zone: sched?.peakTimeZone ?? sched?.windows.first?.clock.zone ?? TimeZone(identifier: "UTC")!)
            }
            if holidays != nil && tariff == nil { throw InputError("--holidays goes with --tariff") }
            var s = TariffScenario(clock: zone)
            s.schedule = sched
            if let path = tariff {
                let days = try holidays.map { h throws(InputError) in try HolidayList(contentsOf: h) } ?? HolidayList()
                s.tariff = TariffClock(tariff: try URDBTariff(contentsOf: path), clock: zone, holidays: days)
            }
            if let rate = transmissionUSDPerKWYear {
                guard rate.isFinite, (0...1e6).contains(rate) else {
                    throw InputError("--transmission-usd-per-kw-year must be within [0, 1e6], got \(rate)")
                }
                guard systemLoad != nil else {
                    throw InputError("--transmission-usd-per-kw-year goes with --system-load")
                }
                s.transmissionUSDPerKWYear = rate
            }
            if let path = systemLoad {
                do { s.systemLoad = try SystemLoadSeries.load(path: path, clock: zone) } catch {
                    throw InputError("--system-load \(error.message)")
                }
            }
            return s
        } catch {
            throw SimulationError(error.message)
        }
    }
}

extension TariffScenario {
    /// The simulation's inputs: the series (the tariff's 15-minute rows over the span; or, with no tariff,
    /// the price file moved onto real instants), the schedule's and system load's messages, and the meter.
    public func prepare(from: Date?, to: Date?, prices: PriceSeries?, powerWatts: Double) throws(SimulationError)
        -> (series: PriceSeries, events: [CurtailmentEvent], meter: TariffMeter)
    {
        let (start, end) = try span(from: from, to: to, prices: prices)
        let meter = TariffMeter(tariff: tariff, schedule: schedule, clock: clock, powerWatts: powerWatts)
        let series: PriceSeries
        if tariff == nil, let prices {
            var moved = realTime(prices)
            moved.points = moved.points.filter { $0.time >= start && $0.time < end }
            guard !moved.points.isEmpty else { throw SimulationError("no price rows between --from and --to") }
            series = moved
        } else {
            series = try self.series(from: start, to: end, meter: meter)
        }
        return (series, events(from: start, to: end), meter)
    }
}
