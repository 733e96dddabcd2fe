import CoreMetrics
import Foundation
import OpenADR2b

extension MinerMetrics {
    /// Brings the OpenADR 2.0b source's gauges and counters up to date from its status (running totals),
    /// the same status `/status` shows.
    package func openADR2b(_ s: VENMachine.Status, curtailsSent: Int) {
        func gauge(_ label: String, _ value: Double) {
            CoreMetrics.Gauge(label: label, factory: factory).record(value)
        }
        gauge("flexminer_openadr2b_registered", s.registered ? 1 : 0)
        gauge("flexminer_openadr2b_events_known", Double(s.eventsKnown))
        gauge("flexminer_openadr2b_last_poll_timestamp_seconds", s.lastPoll?.timeIntervalSince1970 ?? .nan)
        let totals = [
            ("flexminer_openadr2b_reports_sent_total", s.reportsSent),
            ("flexminer_openadr2b_failures_total", s.failures),
            ("flexminer_openadr2b_curtailments_sent_total", curtailsSent),
        ]
        for (label, total) in totals {
            let delta = countedPool.withLock { c in
                defer { c[label] = Swift.max(c[label] ?? 0, total) }
                return total - (c[label] ?? 0)
            }
            // Created at 0 on the first update, so the series exists before anything is counted.
            let counter = CoreMetrics.Counter(label: label, factory: factory)
            if delta > 0 { counter.increment(by: Int64(delta)) }
        }
    }
}
