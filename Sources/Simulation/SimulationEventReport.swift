import Foundation
import Reports

extension SimulationReport {
    /// The host name the simulated site has in its event report.
    public static let eventReportHost = "simulated"

    /// The event report of `flexminer report` for the replayed curtailments, on the modelled load (power ×
    /// capacity of the simulated decisions, sampled every second around each event): the rehearsal and
    /// the live event read alike. The same core computes both; nothing here re-derives a figure. Times are
    /// the price file's (market-local when it has no zone, printed with a Z). Nil without events.
    public func eventReport(baselineMinutes: Double = 15) -> EventReport? {
        guard !result.events.isEmpty else { return nil }
        let host = Self.eventReportHost
        let events = result.events.map { e in
            LoggedEvent(
                kind: .curtailment, source: "events", id: e.id ?? "line \(e.line)", level: e.level, start: e.time,
                haltedAt: e.time + e.responseSeconds, haltLatencyMS: e.responseSeconds * 1000, end: e.end,
                endReason: "replayed", line: e.line)
        }
        var assembler = ReportAssembler(
            options: ReportOptions(baselineMinutes: baselineMinutes), eventsByHost: [host: events])
        let spans = result.spans
        // Capacity at t: the span holding it (spans are in time order and do not overlap).
        func capacity(at t: Double) -> Double? {
            var lo = 0
            var hi = spans.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if spans[mid].end <= t { lo = mid + 1 } else { hi = mid }
            }
            return lo < spans.count && spans[lo].start <= t ? spans[lo].capacity : nil
        }
        let context = baselineMinutes * 60 + ReportOptions.edgeSeconds
        // Samples per event at most: a curtailment open until the end of a year-long series is sampled
        // more coarsely, never without bound.
        let maxSamples = 200_000.0
        var sampled = Set<Double>()
        for e in events {
            let a = e.start - context
            let b = min(e.end ?? e.start, e.start + 7 * 86_400) + context
            let step = max(1, ((b - a) / maxSamples).rounded(.up))
            var t = (a / step).rounded(.down) * step
            while t < b {
                if !sampled.contains(t), let c = capacity(at: t) {
                    sampled.insert(t)
                    assembler.add(
                        TelemetrySample(
                            time: t, host: host, source: "model", modelled: true, watts: site.powerWatts * c,
                            capacity: c))
                }
                t += step
            }
        }
        return assembler.finish()
    }
}
