import DemandResponse
import Foundation
import LoadController
import Mining

// The measuring side of `SignalLatencyBench.run`: one curtail/release cycle on the socket, timed from
// outside. The figures and their analysis stay in SignalLatencyBench.swift.
extension SignalLatencyBench {
    /// One curtail/release cycle's steps: a line written to the socket, the workers watched until they
    /// are all blocked (or runnable again), the controller's reply read.
    struct Probe {
        let client: SignalClient
        let engine: MiningEngine
        /// The workers' thread ids, and the control thread's followed by them.
        let tids: [Int32]
        let traced: [Int32]
        let curtailLine = Array(#"{"type":"curtail","level":1.0,"id":"bench"}"#.utf8) + [10]
        let releaseLine = Array(#"{"type":"release","id":"bench"}"#.utf8) + [10]

        /// A curtailment: the time until every worker is blocked, the controller's own figures from its
        /// reply, and a slow one taken apart.
        func curtail(index: Int, into samples: inout Samples) throws(SignalError) {
            // Read before the line is written and after the halt is seen, so never inside the measurement.
            let before = traced.map { ThreadStates.accounting(tid: $0) }
            let cpus = tids.map { ThreadStates.lastCPU(tid: $0) }
            let start = ContinuousClock.now
            try client.sendRaw(curtailLine)
            var slowTotal: Duration? = nil
            var decide: Duration? = nil
            var after: [ThreadStates.Accounting?] = []
            if let t = waitFor({ ThreadStates.allBlocked(tids) }, since: start) {
                samples.halts.append(t)
                if t > slowThreshold {
                    slowTotal = t
                    after = traced.map { ThreadStates.accounting(tid: $0) }
                }
            } else {
                samples.timeouts += 1
            }
            let reply = try client.readLine()
            if let obj = try? JSONSerialization.jsonObject(with: Data(reply.utf8)) as? [String: Any],
                let ms = obj["receipt_to_halted_ms"] as? Double, ms.isFinite, ms >= 0, ms < 1e9
            {
                samples.receiptToHalted.append(.nanoseconds(Int64(ms * 1e6)))
                // Receipt → halt() began = receipt → halted - halt()'s own latency.
                if let h = obj["halt_latency_ms"] as? Double, h.isFinite, h >= 0, h <= ms {
                    decide = .nanoseconds(Int64((ms - h) * 1e6))
                }
            }
            guard let total = slowTotal else { return }
            samples.slowCount += 1
            guard samples.slow.count < slowLimit else { return }
            var e = takeApart(
                total: total, written: start, trace: engine.lastHaltTrace, decide: decide, before: before,
                after: after)
            e.workerCPUs = cpus
            e.index = index
            samples.slow.append(e)
        }

        /// A release: the time until every worker is runnable, and the controller's resume latency.
        func release(into samples: inout Samples) throws(SignalError) {
            let start = ContinuousClock.now
            try client.sendRaw(releaseLine)
            if let t = waitFor({ ThreadStates.allRunnable(tids) }, since: start) {
                samples.resumes.append(t)
            } else {
                samples.timeouts += 1
            }
            let r = try client.readLine()
            if let obj = try? JSONSerialization.jsonObject(with: Data(r.utf8)) as? [String: Any],
                let ms = obj["resume_latency_ms"] as? Double, ms.isFinite, ms >= 0, ms < 1e9
            {
                samples.resumeInside.append(.nanoseconds(Int64(ms * 1e6)))
            }
        }
    }
}
