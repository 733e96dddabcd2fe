import FlexSupport
import Foundation

/// A stretch of a window without a valid sample: consecutive samples more than
/// `ReportOptions.gapFactor` median intervals apart (or none at all at a window's edge). Reported, never
/// filled in: figures are means of the samples there are, and energy counts measured time only.
public struct TelemetryGap: Sendable, Hashable {
    public var start: Double
    public var end: Double
    /// `baseline`, `event`, or `day` (a `mean-of-days` day that was skipped for it).
    public var window: String
    public var seconds: Double { end - start }
}

/// One event on one host, with its figures. Every figure comes from `powerSource` (`modelled` says
/// whether that is the operator's model rather than a meter).
public struct HostEventFigures: Sendable {
    public var host: String
    public var event: LoggedEvent
    /// The end used for the figures: the logged one, or for an event still open at the end of the log the
    /// last sample (or `to`).
    public var end: Double
    public var powerSource: String?
    public var modelled: Bool
    public var baselineKW: Double?
    public var baselineStart: Double?
    public var baselineEnd: Double?
    public var baselineSamples: Int
    /// `mean-of-days`: the days averaged (local dates), most recent first.
    public var baselineDays: [String]
    public var eventKW: Double?
    public var eventSamples: Int
    /// Level × baseline.
    public var requestedShedKW: Double?
    public var shedKW: Double?
    public var shedPercentOfRequested: Double?
    /// Signal received → load at or below baseline − 90 % of the requested shed; nil when never reached.
    public var responseSeconds: Double?
    /// Shed × measured time in the event (gap time excluded).
    public var energyAvoidedKWh: Double?
    /// Shed ≥ requested × (1 − tolerance); nil when it cannot be judged (no baseline or no samples).
    public var compliant: Bool?
    public var gaps: [TelemetryGap]
    public var notes: [String]
    /// The load around the event (time, kW), at most `ReportChart.maxPoints` points: what `--svg` draws.
    public var chartPoints: [(time: Double, kw: Double)]
    public var chartStart: Double
    public var chartEnd: Double

    public var duration: Double { max(0, end - event.start) }
}

/// The fleet's view of one event id across hosts: sums of baselines and sheds, the slowest host.
public struct FleetFigures: Sendable {
    public var id: String
    public var hosts: [String]
    public var baselineKW: Double
    public var shedKW: Double
    public var requestedShedKW: Double
    public var shedPercentOfRequested: Double?
    public var energyAvoidedKWh: Double
    public var compliant: Bool?
    /// The host that took longest to respond (one that never did counts as slowest).
    public var slowestHost: String?
    public var slowestResponseSeconds: Double?
    /// Hosts whose figures are missing from the sums (no baseline or no samples).
    public var hostsWithoutFigures: [String]
    /// Whether any host's figures are modelled.
    public var anyModelled: Bool
}

/// A line that could not be used, by file and line.
public struct BadLine: Sendable, Hashable {
    public var file: String
    public var line: Int
    public var error: String

    public init(file: String, line: Int, error: String) {
        self.file = file
        self.line = line
        self.error = error
    }

    public var description: String { "\(file): line \(line): \(error)" }
}

/// One input file and what was read from it.
public struct InputSummary: Sendable, Hashable {
    public var path: String
    /// `decision-log` or `telemetry`.
    public var kind: String
    /// The host it belongs to (a decision log's is resolved from the telemetry; see docs/report.md).
    public var host: String?
    public var lines: Int
    public var badLines: Int

    public init(path: String, kind: String, host: String?, lines: Int = 0, badLines: Int = 0) {
        self.path = path
        self.kind = kind
        self.host = host
        self.lines = lines
        self.badLines = badLines
    }
}

/// One host's stream of samples from one power source.
public struct StreamSummary: Sendable, Hashable {
    public var host: String
    public var source: String
    public var modelled: Bool
    public var samples: Int
    /// Failed samples (`watts` null).
    public var failed: Int
    public var medianIntervalSeconds: Double?
    public var first: Double?
    public var last: Double?
}

/// The event report: every event, the fleet sections, and what was read.
public struct EventReport: Sendable {
    public var options: ReportOptions
    public var events: [HostEventFigures]
    public var fleet: [FleetFigures]
    public var inputs: [InputSummary]
    public var streams: [StreamSummary]
    public var badLines: [BadLine]
    public var badLineCount: Int
}
