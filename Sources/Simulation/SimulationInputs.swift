import DemandResponse
import FlexSupport
import Foundation

/// What `simulate` replays: a price file, or a tariff's, schedule's and system load's messages over a span,
/// with the curtailment events of an events file. The command parses flags; this reads the files.
public struct SimulationInputs {
    public var series: PriceSeries
    public var events: [CurtailmentEvent]
    /// With --tariff, --schedule or --system-load.
    public var scenario: TariffScenario?
    public var meter: TariffMeter?

    /// The files and flags as given.
    public struct Files: Sendable {
        public var prices: String?
        public var priceOptions = PriceSeries.Options()
        public var events: String?
        public var tariff: String?
        public var timezone: String?
        public var holidays: String?
        public var schedule: String?
        public var systemLoad: String?
        public var transmissionUSDPerKWYear: Double?
        public var from: Date?
        public var to: Date?

        public init() {}

        /// Whether any of the calendar inputs is given.
        public var calendar: Bool { tariff != nil || schedule != nil || systemLoad != nil }
    }

    /// - Throws: `SimulationError` naming the flag, the file and the field.
    public static func load(_ f: Files, powerWatts: Double) throws(SimulationError) -> SimulationInputs {
        let prices = try f.prices.map { p throws(SimulationError) in
            try PriceSeries.load(path: p, options: f.priceOptions)
        }
        let events = try f.events.map { p throws(SimulationError) in try CurtailmentEvent.load(path: p) } ?? []
        guard f.calendar else {
            guard let prices else { throw SimulationError("give --prices, or --tariff/--schedule/--system-load") }
            return SimulationInputs(series: prices, events: events)
        }
        let scenario = try TariffScenario.load(
            tariff: f.tariff, timezone: f.timezone, holidays: f.holidays, schedule: f.schedule,
            systemLoad: f.systemLoad,
            transmissionUSDPerKWYear: f.transmissionUSDPerKWYear)
        let prepared = try scenario.prepare(from: f.from, to: f.to, prices: prices, powerWatts: powerWatts)
        return SimulationInputs(
            series: prepared.series,
            events: (events + prepared.events).sorted { ($0.time, $0.line) < ($1.time, $1.line) },
            scenario: scenario, meter: prepared.meter)
    }

    /// The policy with the peak rule's months in the schedule's (or the tariff's) zone, unless the policy
    /// file names its own (`keepZone`).
    public func adjusted(_ config: PolicyConfig, keepZone: Bool = false) -> PolicyConfig {
        var c = config
        if !keepZone, let zone = scenario?.schedule?.peakTimeZone ?? scenario?.clock.zone { c.peakTimeZone = zone }
        return c
    }
}
