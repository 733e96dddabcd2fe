import CPUFeatures
import FlexSupport
import Foundation
import LoadController
import Mining
import OpenADR2bSignals
import OpenADRSignals
import PowerSources
import Synchronization
import WorkSources

/// Blocks solved during a run, by outcome.
package struct BlockCounts: Sendable, Hashable {
    package var found = 0
    package var accepted = 0
    package var rejected = 0
    package var unsubmitted = 0
    /// Accepted by a pool on a parent that already had one of ours counted: found, not counted as accepted
    /// (only one of them can be on the chain).
    package var superseded = 0

    package init() {}

    /// Counts `block` by its outcome, or as superseded.
    package mutating func count(_ block: SolvedBlock) {
        guard block.superseded else { return count(block.outcome) }
        found += 1
        superseded += 1
    }

    package mutating func count(_ outcome: BlockOutcome) {
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
package struct StatusReport: Sendable {
    package var version: String
    package var kernel: String
    package var kernelReason: String?
    package var threads: Int
    package var engine: MiningEngine.Snapshot
    package var controller: LoadController.Status
    package var blocks: BlockCounts
    package var workKind: String
    package var workOrigin: String
    /// Why the work source stopped for good, if it did (the workers are then halted).
    package var workError: String?
    package var uptimeSeconds: Double
    /// Halt and resume latency percentiles over the run (the engine's samples), for the dashboard.
    package var haltLatencyP99: Duration? = nil
    package var resumeLatencyP99: Duration? = nil
    /// Energy drawn so far and what it cost at the prices received, when a power figure is configured.
    package var powerWatts: Double? = nil
    package var energyKWh: Double = 0
    package var energyCostUSD: Double = 0
    /// Decision-log entries so far (the dashboard reloads its list when this changes).
    package var decisionsTotal: Int = 0
    /// Each signal source's health: lines accepted and refused, seconds since its last line.
    package var signalSources: [SourceHealth.Entry] = []
    /// Decision-log entries that could not be written (nil without `--decision-log`).
    package var decisionLogErrors: Int? = nil
    /// Decision-log entries dropped because the disk did not keep up (nil without `--decision-log`).
    package var decisionLogDropped: Int? = nil
    /// State-file writes that failed (nil without `--state-file`).
    package var stateFileErrors: Int? = nil
    /// The pool, when mining for one: URL, connected, difficulty, shares by result and reason, last share
    /// time, failovers.
    package var pool: PoolStatus? = nil
    /// The OpenADR 3 source, when there is one: mode (webhook/poll), version, enrolment, the error to act on.
    package var openADR: OpenADRSource.Status? = nil
    /// The OpenADR 2.0b source, when there is one: `/status` shows its `statusJSON` (registration, VEN id,
    /// last poll, events known, opt-ins, reports sent, failures, the error).
    package var openADR2b: OpenADR2bSource? = nil
    /// The power sources' readings, measured first then the model (empty without `--power`/`--power-watts`).
    package var power: [PowerSampler.Reading] = []
    /// Telemetry lines dropped (the disk did not keep up) and lost to write errors; nil without `--telemetry`.
    package var telemetryDropped: Int? = nil
    package var telemetryErrors: Int? = nil

    /// What the host is doing, in [0, 1]: 0 while halted (curtailed, fail-safe, paused, by price) or when
    /// the work source stopped (nothing to hash), else the duty fraction set (`engine.capacitySetting`).
    /// `capacity` in `/status`, the metrics, the dashboard and the status line.
    package var capacity: Double { workError != nil ? 0 : engine.effectiveCapacity }

    /// The state in one word: "fail-safe", "curtailed", "halted" (by price or pause), "partial"
    /// (throttled) or "mining".
    package var state: String {
        Self.state(
            stopped: workError != nil, stale: controller.stale, halted: engine.halted,
            curtailment: controller.curtailment, capacitySetting: engine.capacitySetting)
    }

    /// `state` from its parts (the power telemetry's, without a whole report).
    package static func state(stopped: Bool, stale: Bool, halted: Bool, curtailment: Double, capacitySetting: Double)
        -> String
    {
        if stopped { return "stopped" }  // failed for good or finished: nothing is hashed
        if stale { return "fail-safe" }
        if halted { return curtailment >= 1 ? "curtailed" : "halted" }
        return capacitySetting < 1 ? "partial" : "mining"
    }

    /// `GET /status`: one JSON object.
    package var json: String {
        let st = controller
        var object: [String: Any] = [
            "version": version, "kernel": kernel, "cpu_features": CPUFeatures.current.names, "threads": threads,
            "capacity": capacity, "capacity_setting": engine.capacitySetting, "halted": engine.halted,
            "active_workers": engine.activeWorkers,
            "controller": [
                "state": state, "reason": st.reason, "stale": st.stale, "curtailment": st.curtailment,
                "active_curtailments": st.activeCurtailments,
            ] as [String: Any],
            "hash_rate_5s": engine.hashRate5s, "hash_rate_60s": engine.hashRate60s,
            "hashes_total": Int(clamping: engine.totalHashes), "jobs": engine.jobsStarted,
            "blocks": [
                "found": blocks.found, "accepted": blocks.accepted, "rejected": blocks.rejected,
                "unsubmitted": blocks.unsubmitted, "superseded": blocks.superseded,
            ],
            "work": ["kind": workKind, "origin": workOrigin, "error": workError ?? NSNull()] as [String: Any],
            "uptime_seconds": uptimeSeconds, "signals": st.messages,
        ]
        object["kernel_reason"] = kernelReason ?? NSNull()
        object["cpu"] = CPUFeatures.current.brand
        object["halt_latency_p99_ms"] = haltLatencyP99.map(\.milliseconds) ?? NSNull()
        object["resume_latency_p99_ms"] = resumeLatencyP99.map(\.milliseconds) ?? NSNull()
        object["power_watts"] = powerWatts ?? NSNull()
        if powerWatts != nil {
            object["energy_kwh"] = energyKWh
            object["energy_cost_usd"] = energyCostUSD
        }
        object["decisions_total"] = decisionsTotal
        object["curtailments"] = controller.curtailments.map { c -> [String: Any] in
            [
                "source": c.source, "id": c.id ?? NSNull(), "level": c.level,
                "until": c.until.map { ISO8601.format($0) } ?? NSNull(), "reason": c.reason ?? NSNull(),
            ]
        }
        object["signal_sources"] = signalSources.map { e -> [String: Any] in
            ["name": e.name, "ok": e.ok, "error": e.error, "last_message_age_seconds": e.lastMessageAge ?? NSNull()]
        }
        object["price_usd_per_mwh"] = st.price ?? NSNull()
        object["breakeven_usd_per_mwh"] = st.breakEven ?? NSNull()
        object["last_halt_latency_ms"] = st.lastHaltLatency.map(\.milliseconds) ?? NSNull()
        object["last_resume_latency_ms"] = st.lastResumeLatency.map(\.milliseconds) ?? NSNull()
        object["decision_log_errors"] = decisionLogErrors ?? NSNull()
        object["decision_log_dropped"] = decisionLogDropped ?? NSNull()
        object["state_file_errors"] = stateFileErrors ?? NSNull()
        if let pool { object["pool"] = pool.json }
        if let openADR { object["openadr3"] = openADR.json }
        if let openADR2b { object["openadr2b"] = openADR2b.statusJSON }
        if !power.isEmpty || telemetryDropped != nil {
            // Measured and modelled side by side: each object says its source, watts, modelled, stale, error.
            object["power"] =
                [
                    "measured": power.first { !$0.modelled }?.json ?? NSNull(),
                    "modelled": power.first { $0.modelled }?.json ?? NSNull(),
                    "telemetry_dropped": telemetryDropped ?? NSNull(), "telemetry_errors": telemetryErrors ?? NSNull(),
                ] as [String: Any]
        }
        return JSONLine.encode(object)
    }

    /// The terminal status line (without the carriage return and erase sequence).
    package var statusLine: String {
        let price = controller.price.map { String(format: "%.2f USD/MWh", $0) } ?? "no price"
        let line = String(
            format: "%.2f MH/s · capacity %d%% · %@ · %@ · %@", engine.hashRate5s / 1e6,
            Int((capacity * 100).rounded()), price, state, controller.reason)
        return power.isEmpty ? line : line + " · " + powerText
    }

    /// "412 W rapl / 1500 W modelled": each source's watts, "stale" or its error.
    var powerText: String {
        power.map { r in
            let value =
                r.watts.map { String(format: "%.0f W", $0) } ?? (r.error.map { "\($0.reason)" } ?? "stale")
            return "\(value) \(r.modelled ? "modelled" : r.source)"
        }.joined(separator: " / ")
    }
}

/// What `run` prints at the end: from the last status report and the run's latency samples.
package struct RunSummary: Sendable {
    package let text: String
    package let json: String

    package init(report r: StatusReport, halts: [Duration], resumes: [Duration]) {
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
            "resume_latency_ms_p99": s.p99.milliseconds, "capacity": r.capacity,
            "capacity_setting": r.engine.capacitySetting,
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

/// Lines per signal source, accepted and refused, and the age of the last one: the dashboard's health
/// column. Sources are grouped by name without a connection suffix (`unix:/s#3` counts as `unix:/s`), so
/// the table stays as small as the configured sources.
package final class SourceHealth: Sendable {
    package struct Entry: Sendable {
        package let name: String
        package let ok: Int
        package let error: Int
        package let lastMessageAge: Double?
    }

    private let table = Mutex<[String: (ok: Int, error: Int, last: ContinuousClock.Instant)]>([:])
    /// Sources named from outside are bounded: lines from beyond this many names are counted under "other".
    static let maxSources = 64

    package init() {}

    package func record(source: String, ok: Bool) {
        let base = source.split(separator: "#", maxSplits: 1).first.map(String.init) ?? source
        table.withLock { t in
            let key = t[base] != nil || t.count < Self.maxSources ? base : "other"
            var e = t[key] ?? (0, 0, .now)
            if ok { e.ok += 1 } else { e.error += 1 }
            e.last = .now
            t[key] = e
        }
    }

    /// The configured sources first (also those that never spoke), then any other name seen.
    package func report(configured: [String]) -> [Entry] {
        let now = ContinuousClock.now
        return table.withLock { t in
            var names = configured
            names += t.keys.filter { !configured.contains($0) }.sorted()
            return names.map { n in
                let e = t[n]
                return Entry(
                    name: n, ok: e?.ok ?? 0, error: e?.error ?? 0, lastMessageAge: e.map { (now - $0.last).seconds })
            }
        }
    }
}
