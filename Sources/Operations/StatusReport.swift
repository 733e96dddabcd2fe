import CPUFeatures
import FlexSupport
import Foundation
import LoadController
import Mining
import WorkSources

/// Blocks solved during a run, by outcome.
public struct BlockCounts: Sendable, Hashable {
    public var found = 0
    public var accepted = 0
    public var rejected = 0
    public var unsubmitted = 0

    public init() {}

    public mutating func count(_ outcome: BlockOutcome) {
        found += 1
        switch outcome {
        case .written: break
        case .accepted: accepted += 1
        case .rejected: rejected += 1
        case .unsubmitted: unsubmitted += 1
        }
    }
}

/// The miner's state at one moment: the one value behind `/status`, the terminal status line and the
/// summary printed at the end of `run`, so that they never disagree.
public struct StatusReport: Sendable {
    public var version: String
    public var kernel: String
    public var kernelReason: String?
    public var threads: Int
    public var engine: MiningEngine.Snapshot
    public var controller: LoadController.Status
    public var blocks: BlockCounts
    public var workKind: String
    public var workOrigin: String
    /// Why the work source stopped for good, if it did (the workers are then halted).
    public var workError: String?
    public var uptimeSeconds: Double
    /// The pool, when mining for one: URL, connected, difficulty, shares by result and reason, last share
    /// time, failovers.
    public var pool: PoolStatus? = nil

    /// The state in one word: "fail-safe", "curtailed", "halted" (by price or pause), "partial"
    /// (throttled) or "mining".
    public var state: String {
        if workError != nil && engine.halted { return "stopped" }
        if controller.stale { return "fail-safe" }
        if engine.halted { return controller.curtailment >= 1 ? "curtailed" : "halted" }
        return engine.capacity < 1 ? "partial" : "mining"
    }

    /// `GET /status`: one JSON object.
    public var json: String {
        let st = controller
        var object: [String: Any] = [
            "version": version, "kernel": kernel, "cpu_features": CPUFeatures.current.names, "threads": threads,
            "capacity": engine.capacity, "halted": engine.halted, "active_workers": engine.activeWorkers,
            "controller": [
                "state": state, "reason": st.reason, "stale": st.stale, "curtailment": st.curtailment,
                "active_curtailments": st.activeCurtailments,
            ] as [String: Any],
            "hash_rate_5s": engine.hashRate5s, "hash_rate_60s": engine.hashRate60s,
            "hashes_total": Int(clamping: engine.totalHashes), "jobs": engine.jobsStarted,
            "blocks": [
                "found": blocks.found, "accepted": blocks.accepted, "rejected": blocks.rejected,
                "unsubmitted": blocks.unsubmitted,
            ],
            "work": ["kind": workKind, "origin": workOrigin, "error": workError ?? NSNull()] as [String: Any],
            "uptime_seconds": uptimeSeconds, "signals": st.messages,
        ]
        object["kernel_reason"] = kernelReason ?? NSNull()
        object["price_usd_per_mwh"] = st.price ?? NSNull()
        object["breakeven_usd_per_mwh"] = st.breakEven ?? NSNull()
        object["last_halt_latency_ms"] = st.lastHaltLatency.map(\.milliseconds) ?? NSNull()
        object["last_resume_latency_ms"] = st.lastResumeLatency.map(\.milliseconds) ?? NSNull()
        if let pool { object["pool"] = pool.json }
        return JSONLine.encode(object)
    }

    /// The terminal status line (without the carriage return and erase sequence).
    public var statusLine: String {
        let price = controller.price.map { String(format: "%.2f USD/MWh", $0) } ?? "no price"
        return String(
            format: "%.2f MH/s · capacity %d%% · %@ · %@ · %@", engine.hashRate5s / 1e6,
            Int((engine.capacity * 100).rounded()), price, state, controller.reason)
    }
}

/// What `run` prints at the end: from the last status report and the run's latency samples.
public struct RunSummary: Sendable {
    public let text: String
    public let json: String

    public init(report r: StatusReport, halts: [Duration], resumes: [Duration]) {
        let elapsed = max(r.uptimeSeconds, 1e-9)
        let h = LatencySummary(halts)
        let s = LatencySummary(resumes)
        let signalsOK = r.controller.messages.values.reduce(0) { $0 + ($1["ok"] ?? 0) }
        let signalsError = r.controller.messages.values.reduce(0) { $0 + ($1["error"] ?? 0) }
        let hashes = r.engine.totalHashes
        var summary: [String: Any] = [
            "seconds": elapsed, "hashes": Int(clamping: hashes), "hash_rate": Double(hashes) / elapsed,
            "threads": r.threads, "kernel": r.kernel, "halts": h.count, "resumes": s.count,
            "halt_latency_ms_p50": h.p50.milliseconds, "halt_latency_ms_p99": h.p99.milliseconds,
            "halt_latency_ms_max": h.max.milliseconds, "resume_latency_ms_p50": s.p50.milliseconds,
            "resume_latency_ms_p99": s.p99.milliseconds, "capacity": r.controller.capacity,
            "signals_ok": signalsOK, "signals_error": signalsError, "blocks": r.blocks.found, "state": r.state,
            "work_error": r.workError ?? NSNull(),
        ]
        if let pool = r.pool {
            summary["pool"] = pool.json
            summary["shares_accepted"] = pool.accepted
            summary["shares_rejected"] = pool.rejected
            summary["shares_stale"] = pool.stale
        }
        json = JSONLine.encode(summary)
        text = String(
            format: "ran %.1f s: %llu hashes (%.2f MH/s), %d halts (p50 %.3f ms, p99 %.3f ms), %d signals (%d refused)",
            elapsed, hashes, Double(hashes) / elapsed / 1e6, h.count, h.p50.milliseconds, h.p99.milliseconds, signalsOK,
            signalsError)
    }
}
