import FlexSupport
import Foundation

/// Builds the report from one pass over the telemetry. Pure: the caller feeds it decision-log events
/// per host and telemetry samples in any order and file layout; nothing here reads a file or a clock.
///
/// Memory stays bounded per host: only samples inside the windows the events need (the baseline, the
/// event, its chart context, the `mean-of-days` days) are kept, at most
/// `ReportOptions.maxSamplesPerStream` per host and source. The median sample interval (for gaps) comes
/// from a histogram of every spacing in 1 % steps.
public struct ReportAssembler: Sendable {
    public let options: ReportOptions
    /// Every event per host (also those outside [from, to): they decide which days were curtailed).
    let eventsByHost: [String: [LoggedEvent]]
    var hosts: [String: HostStreams] = [:]

    struct Point: Sendable {
        var time: Double
        var mono: Double
        var watts: Double
    }

    struct Stream: Sendable {
        var modelled: Bool
        var points: [Point] = []
        var histogram: [Int32: Spacing] = [:]
        var lastTime: Double?
        var samples = 0
        var failed = 0
        var first: Double?
        var last: Double?
        var truncated = false
        var unsorted = false
    }

    /// Spacings that fell into one 1 % bucket: how many, and their sum (the median is reported as the
    /// bucket's mean, not its edge).
    struct Spacing: Sendable {
        var count = 0
        var sum = 0.0
    }

    struct HostStreams: Sendable {
        /// Sorted, merged windows [lower, upper] whose samples are kept.
        var windows: [(Double, Double)]
        var streams: [String: Stream] = [:]
    }

    public init(options: ReportOptions, eventsByHost: [String: [LoggedEvent]]) {
        self.options = options
        self.eventsByHost = eventsByHost
        for (host, events) in eventsByHost {
            var w: [(Double, Double)] = []
            for e in events where Self.inRange(e, options) {
                let m = options.baselineMinutes * 60
                let end = e.end.map { $0 + m + ReportOptions.edgeSeconds } ?? .infinity
                w.append((e.start - m - ReportOptions.edgeSeconds, end))
                if options.baseline == .meanOfDays {
                    for d in Self.candidateDays(e, all: events, options: options) {
                        w.append((d.start - ReportOptions.edgeSeconds, d.end + ReportOptions.edgeSeconds))
                    }
                }
            }
            hosts[host] = HostStreams(windows: Self.merged(w))
        }
    }

    static func inRange(_ e: LoggedEvent, _ o: ReportOptions) -> Bool {
        (o.from.map { e.start >= $0 } ?? true) && (o.to.map { e.start < $0 } ?? true)
    }

    static func merged(_ w: [(Double, Double)]) -> [(Double, Double)] {
        var out: [(Double, Double)] = []
        for x in w.sorted(by: { $0.0 < $1.0 }) {
            if let last = out.last, x.0 <= last.1 {
                out[out.count - 1].1 = max(last.1, x.1)
            } else {
                out.append(x)
            }
        }
        return out
    }

    /// Adds one sample (any order; a host without events is only counted).
    public mutating func add(_ s: TelemetrySample) {
        let known = hosts[s.host] != nil
        if !known { hosts[s.host] = HostStreams(windows: []) }
        hosts[s.host]!.add(s)
    }

    /// The report.
    /// - Parameters: inputs, badLines, badLineCount: what the caller read, listed in the report.
    public mutating func finish(inputs: [InputSummary] = [], badLines: [BadLine] = [], badLineCount: Int = 0)
        -> EventReport
    {
        // Files given out of order (newest first) leave a stream unsorted: sorted once here.
        for host in Array(hosts.keys) {
            for (source, s) in hosts[host]!.streams where s.unsorted {
                hosts[host]!.streams[source]!.points.sort { $0.time < $1.time }
                hosts[host]!.streams[source]!.unsorted = false
            }
        }
        var figures: [HostEventFigures] = []
        for host in eventsByHost.keys.sorted() {
            let events = eventsByHost[host]!
            for e in events where Self.inRange(e, options) {
                figures.append(figuresFor(e, host: host, all: events))
            }
        }
        figures.sort { a, b in
            a.event.start != b.event.start
                ? a.event.start < b.event.start : a.event.id != b.event.id ? a.event.id < b.event.id : a.host < b.host
        }
        var streams: [StreamSummary] = []
        for (host, h) in hosts.sorted(by: { $0.key < $1.key }) {
            for (source, s) in h.streams.sorted(by: { $0.key < $1.key }) {
                streams.append(
                    StreamSummary(
                        host: host, source: source, modelled: s.modelled, samples: s.samples, failed: s.failed,
                        medianIntervalSeconds: Self.median(s.histogram), first: s.first, last: s.last))
            }
        }
        return EventReport(
            options: options, events: figures, fleet: Self.fleet(figures, options: options), inputs: inputs,
            streams: streams, badLines: badLines, badLineCount: badLineCount)
    }
}
