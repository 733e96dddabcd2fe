import Foundation

/// How the load an event is measured against is found.
public enum BaselineMethod: String, Sendable, Hashable, CaseIterable {
    /// The mean load over the `baselineMinutes` before the signal (ERCOT's method for loads that deploy in
    /// minutes).
    case meterBefore = "meter-before"
    /// The mean, over the previous `ReportOptions.baselineDays` un-curtailed days of the same kind
    /// (weekdays for a weekday event, weekend days for a weekend one), of the load in the event's clock
    /// window, in `ReportOptions.timeZone`.
    case meanOfDays = "mean-of-days"
}

/// The report's settings. Every constant that decides a figure is here and printed with the report.
public struct ReportOptions: Sendable, Hashable {
    /// Events whose signal arrived in [from, to) are reported (seconds since 1970; nil: unbounded).
    public var from: Double?
    public var to: Double?
    public var baseline: BaselineMethod
    /// The meter-before window, minutes (also the context shown around an event in its chart).
    public var baselineMinutes: Double
    /// The zone whose clock and weekdays `mean-of-days` uses (UTC unless given: the telemetry is UTC).
    public var timeZone: TimeZone
    /// Compliance: shed ≥ requested × (1 − tolerance).
    public var tolerance: Double

    /// The zone's name as printed (Foundation on Linux calls UTC "GMT").
    public var timeZoneName: String { timeZone.identifier == "GMT" ? "UTC" : timeZone.identifier }

    /// The response time is the time until the load reached this fraction of the requested shed.
    public static let responseFraction = 0.9
    /// Days averaged by `mean-of-days`, and how many calendar days back they are looked for.
    public static let baselineDays = 10
    public static let daysSearched = 30
    /// A gap: consecutive samples of one host and source more than this many median intervals apart.
    public static let gapFactor = 3.0
    /// Bad lines listed by name (all are counted).
    public static let badLinesListed = 20
    /// Samples kept per host and source inside the report's windows (memory bound: 16 bytes × 3 each).
    public static let maxSamplesPerStream = 4_000_000
    /// Slack kept around every window so that a gap at its edge is seen (samples come at most every 60 s).
    public static let edgeSeconds = 300.0
    /// `until`-less events still open at the end of the data are cut here for the `mean-of-days` windows.
    public static let openEventDaySeconds = 86_400.0

    public init(
        from: Double? = nil, to: Double? = nil, baseline: BaselineMethod = .meterBefore, baselineMinutes: Double = 15,
        timeZone: TimeZone = TimeZone(identifier: "UTC")!, tolerance: Double = 0.05
    ) {
        self.from = from
        self.to = to
        self.baseline = baseline
        self.baselineMinutes = baselineMinutes
        self.timeZone = timeZone
        self.tolerance = tolerance
    }
}
