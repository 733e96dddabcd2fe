import CoreMetrics
import Foundation
import LoadController
import Mining
import PowerSources
import Prometheus
import Synchronization
import WorkSources

/// The miner's metrics, recorded through swift-metrics into a Prometheus registry of their own (so that
/// several miners, e.g. in tests, never share one), and rendered in Prometheus' text format.
///
/// | metric | type |
/// |---|---|
/// | `flexminer_hashes_total` | counter |
/// | `flexminer_hash_rate_hs` (5 s window) | gauge |
/// | `flexminer_capacity` (0…1, what the host is doing: 0 while halted), `flexminer_capacity_setting` (0…1, the duty fraction set), `flexminer_halted` (0/1), `flexminer_active_workers` | gauge |
/// | `flexminer_price_usd_per_mwh`, `flexminer_breakeven_usd_per_mwh` | gauge |
/// | `flexminer_blocks_total{result="found"/"accepted"/"rejected"/"unsubmitted"/"superseded"}` | counter |
/// | `flexminer_halt_latency_seconds`, `flexminer_resume_latency_seconds` | histogram |
/// | `flexminer_signal_messages_total{source,result="ok"/"error"}` | counter |
/// | `flexminer_decision_log_errors_total`, `flexminer_decision_log_dropped_total` | counter |
/// | `flexminer_pool_connected` (0/1), `flexminer_pool_difficulty`, `flexminer_pool_info{url}` | gauge |
/// | `flexminer_pool_shares_total{result="accepted"/"rejected"/"stale"}`, `flexminer_pool_share_reasons_total{reason}` | counter |
/// | `flexminer_pool_failovers_total` | counter |
/// | `flexminer_pool_last_share_timestamp_seconds` | gauge |
/// | `flexminer_curtailment_level` (largest active, 0…1), `flexminer_curtailments_active` | gauge |
/// | `flexminer_signals_stale` (0/1: the fail-safe holds, no signal for `stale_after_seconds`) | gauge |
/// | `flexminer_power_watts{source="model"/"rapl"/"sunspec"}` (the source's last good sample; NaN when stale, i.e. older than `--power-stale`, a failing source keeping its last good value until then, or, for the model, without `power_watts`) | gauge |
/// | `flexminer_energy_joules_total{source}` (energy counted by the source since the start) | counter |
/// | `flexminer_power_errors_total{source,reason}` (failed samples) | counter |
/// | `flexminer_telemetry_dropped_total` (telemetry lines dropped: the disk did not keep up) | counter |
/// | `flexminer_calibrated_hash_rate_hs` (the kernel's calibrated one-thread rate × threads) | gauge |
/// | `flexminer_state_file_errors_total` | counter |
/// | `flexminer_work_stopped` (0/1: the work source stopped for good, e.g. the journal cannot be written) | gauge |
/// | `flexminer_openadr2b_registered` (0/1), `flexminer_openadr2b_events_known`, `flexminer_openadr2b_last_poll_timestamp_seconds` | gauge |
/// | `flexminer_openadr2b_reports_sent_total`, `flexminer_openadr2b_failures_total`, `flexminer_openadr2b_curtailments_sent_total` | counter |
///
/// The fleet's alert rules (`packaging/prometheus/flexminer-rules.yml`) use these names: renaming one is a
/// contract change.
package final class MinerMetrics: Sendable {
    package let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory
    private let hashes: CoreMetrics.Counter
    private let hashRate: CoreMetrics.Gauge
    private let capacity: CoreMetrics.Gauge
    private let capacitySetting: CoreMetrics.Gauge
    private let halted: CoreMetrics.Gauge
    private let activeWorkers: CoreMetrics.Gauge
    private let price: CoreMetrics.Gauge
    private let breakEven: CoreMetrics.Gauge
    private let haltLatency: CoreMetrics.Timer
    private let resumeLatency: CoreMetrics.Timer
    private let countedHashes = Atomic<UInt64>(0)
    private let logErrors: CoreMetrics.Counter
    private let logDropped: CoreMetrics.Counter
    private let countedLogErrors = Atomic<Int>(0)
    private let countedLogDropped = Atomic<Int>(0)
    private let curtailment: CoreMetrics.Gauge
    private let curtailments: CoreMetrics.Gauge
    private let stale: CoreMetrics.Gauge
    /// Energy already added to `flexminer_energy_joules_total`, by source.
    private let countedEnergy = Mutex<[String: Double]>([:])
    private let countedTelemetryDropped = Atomic<Int>(0)
    private let telemetryDropped: CoreMetrics.Counter
    private let calibrated: CoreMetrics.Gauge
    private let stateFileErrors: CoreMetrics.Counter
    private let countedStateFileErrors = Atomic<Int>(0)
    private let workStopped: CoreMetrics.Gauge
    /// Pool and OpenADR 2.0b counts already added to the counters (they report running totals).
    let countedPool = Mutex<[String: Int]>([:])

    package init() {
        registry = PrometheusCollectorRegistry()
        var f = PrometheusMetricsFactory(registry: registry)
        // Halts take microseconds to milliseconds: the default buckets (5 ms and up) would say nothing.
        let latencyBuckets: [Duration] = [
            .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1),
            .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(50), .milliseconds(250), .seconds(1),
        ]
        f.durationHistogramBuckets["flexminer_halt_latency_seconds"] = latencyBuckets
        f.durationHistogramBuckets["flexminer_resume_latency_seconds"] = latencyBuckets
        factory = f
        hashes = CoreMetrics.Counter(label: "flexminer_hashes_total", factory: f)
        hashRate = CoreMetrics.Gauge(label: "flexminer_hash_rate_hs", factory: f)
        capacity = CoreMetrics.Gauge(label: "flexminer_capacity", factory: f)
        capacitySetting = CoreMetrics.Gauge(label: "flexminer_capacity_setting", factory: f)
        halted = CoreMetrics.Gauge(label: "flexminer_halted", factory: f)
        activeWorkers = CoreMetrics.Gauge(label: "flexminer_active_workers", factory: f)
        price = CoreMetrics.Gauge(label: "flexminer_price_usd_per_mwh", factory: f)
        breakEven = CoreMetrics.Gauge(label: "flexminer_breakeven_usd_per_mwh", factory: f)
        haltLatency = CoreMetrics.Timer(label: "flexminer_halt_latency_seconds", factory: f)
        resumeLatency = CoreMetrics.Timer(label: "flexminer_resume_latency_seconds", factory: f)
        logErrors = CoreMetrics.Counter(label: "flexminer_decision_log_errors_total", factory: f)
        logDropped = CoreMetrics.Counter(label: "flexminer_decision_log_dropped_total", factory: f)
        curtailment = CoreMetrics.Gauge(label: "flexminer_curtailment_level", factory: f)
        curtailments = CoreMetrics.Gauge(label: "flexminer_curtailments_active", factory: f)
        stale = CoreMetrics.Gauge(label: "flexminer_signals_stale", factory: f)
        telemetryDropped = CoreMetrics.Counter(label: "flexminer_telemetry_dropped_total", factory: f)
        calibrated = CoreMetrics.Gauge(label: "flexminer_calibrated_hash_rate_hs", factory: f)
        stateFileErrors = CoreMetrics.Counter(label: "flexminer_state_file_errors_total", factory: f)
        workStopped = CoreMetrics.Gauge(label: "flexminer_work_stopped", factory: f)
        // The model's gauge exists from the start (NaN without `power_watts`), as the unlabelled one did.
        CoreMetrics.Gauge(label: "flexminer_power_watts", dimensions: [("source", "model")], factory: f).record(
            Double.nan)
        calibrated.record(Double.nan)
        workStopped.record(0)
        // Every result appears from the start (at 0), so dashboards need not special-case a fresh miner.
        for r in ["found", "accepted", "rejected", "unsubmitted", "superseded"] {
            _ = CoreMetrics.Counter(label: "flexminer_blocks_total", dimensions: [("result", r)], factory: f)
        }
        price.record(Double.nan)
        breakEven.record(Double.nan)
    }

    /// Feeds controller events (wire it as the controller's observer).
    package func record(_ event: ControllerEvent) {
        switch event {
        case .message(let source, let ok):
            CoreMetrics.Counter(
                label: "flexminer_signal_messages_total",
                dimensions: [("source", source), ("result", ok ? "ok" : "error")],
                factory: factory
            ).increment()
        case .halted(let latency): haltLatency.recordNanoseconds(Self.nanoseconds(latency))
        case .resumed(let latency): resumeLatency.recordNanoseconds(Self.nanoseconds(latency))
        }
    }

    /// One solved block ("found"), and then its outcome where there is one ("superseded" instead of
    /// "accepted" for a block on a parent that already had one of ours counted).
    package func block(_ outcome: BlockOutcome, superseded: Bool = false) {
        func count(_ result: String) {
            CoreMetrics.Counter(label: "flexminer_blocks_total", dimensions: [("result", result)], factory: factory)
                .increment()
        }
        count("found")
        if superseded { return count("superseded") }
        switch outcome {
        case .written: break
        case .accepted: count("accepted")
        case .rejected: count("rejected")
        case .unsubmitted: count("unsubmitted")
        }
    }

    /// Brings the gauges and the hash counter up to date (before each scrape and once a second), from the
    /// same report as `/status`, so that the two never disagree.
    package func update(_ report: StatusReport) {
        let engine = report.engine
        let total = engine.totalHashes
        let previous = countedHashes.exchange(total, ordering: .relaxed)
        if total > previous { hashes.increment(by: Int64(clamping: total - previous)) }
        hashRate.record(engine.hashRate5s)
        capacity.record(report.capacity)
        capacitySetting.record(engine.capacitySetting)
        halted.record(engine.halted ? 1 : 0)
        activeWorkers.record(engine.activeWorkers)
        // NaN (Prometheus' "no value") until a price arrives / without a break-even.
        price.record(report.controller.price ?? .nan)
        breakEven.record(report.controller.breakEven ?? .nan)
        curtailment.record(report.controller.curtailment)
        curtailments.record(report.controller.activeCurtailments)
        stale.record(report.controller.stale ? 1 : 0)
    }

    /// What the fleet's alerts compare against: the calibrated hash rate, state-file write errors (total
    /// since the start) and whether the work source stopped for good.
    package func updateService(calibratedHashRate: Double?, stateFileErrors errors: Int?, workStopped stopped: Bool) {
        calibrated.record(calibratedHashRate ?? .nan)
        workStopped.record(stopped ? 1 : 0)
        if let errors {
            let e = countedStateFileErrors.exchange(errors, ordering: .relaxed)
            if errors > e { stateFileErrors.increment(by: Int64(errors - e)) }
        }
    }

    /// Brings the power gauges and energy counters up to date from the samplers' readings (NaN while a
    /// reading is stale: the last good value is never shown as current).
    package func updatePower(_ readings: [PowerSampler.Reading], telemetryDropped dropped: Int?) {
        for r in readings {
            CoreMetrics.Gauge(label: "flexminer_power_watts", dimensions: [("source", r.source)], factory: factory)
                .record(r.watts ?? .nan)
            guard let energy = r.energyJoules, energy.isFinite else { continue }
            let delta = countedEnergy.withLock { c in
                defer { c[r.source] = Swift.max(c[r.source] ?? 0, energy) }
                return energy - (c[r.source] ?? 0)
            }
            let counter = CoreMetrics.FloatingPointCounter(
                label: "flexminer_energy_joules_total", dimensions: [("source", r.source)], factory: factory)
            if delta > 0 { counter.increment(by: delta) }
        }
        if let dropped {
            let d = countedTelemetryDropped.exchange(dropped, ordering: .relaxed)
            if dropped > d { telemetryDropped.increment(by: Int64(dropped - d)) }
        }
    }

    /// One failed sample of `source`, by reason: a reason outside `PowerError.reasons` counts as "other", so
    /// nothing a meter sends can add a label value.
    package func powerError(source: String, reason: String) {
        CoreMetrics.Counter(
            label: "flexminer_power_errors_total",
            dimensions: [("source", source), ("reason", PowerError.label(reason))],
            factory: factory
        ).increment()
    }

    /// Brings the decision log's error and drop counters up to date (totals since the start).
    package func updateDecisionLog(errors: Int, dropped: Int) {
        let e = countedLogErrors.exchange(errors, ordering: .relaxed)
        if errors > e { logErrors.increment(by: Int64(errors - e)) }
        let d = countedLogDropped.exchange(dropped, ordering: .relaxed)
        if dropped > d { logDropped.increment(by: Int64(dropped - d)) }
    }

    /// Brings the pool's gauges and counters up to date from its running totals.
    package func pool(_ p: PoolStatus) {
        func gauge(_ label: String, _ value: Double, _ dims: [(String, String)] = []) {
            CoreMetrics.Gauge(label: label, dimensions: dims, factory: factory).record(value)
        }
        gauge("flexminer_pool_connected", p.connected ? 1 : 0)
        gauge("flexminer_pool_difficulty", p.difficulty ?? .nan)
        gauge("flexminer_pool_info", 1, [("url", p.url)])
        gauge("flexminer_pool_last_share_timestamp_seconds", p.lastShareTime?.timeIntervalSince1970 ?? .nan)
        var totals: [(String, [(String, String)], Int)] = [
            ("flexminer_pool_shares_total", [("result", "accepted")], p.accepted),
            ("flexminer_pool_shares_total", [("result", "rejected")], p.rejected),
            ("flexminer_pool_shares_total", [("result", "stale")], p.stale),
            ("flexminer_pool_failovers_total", [], p.failovers),
        ]
        for (reason, n) in p.reasons { totals.append(("flexminer_pool_share_reasons_total", [("reason", reason)], n)) }
        for (label, dims, total) in totals {
            let key = label + dims.map { "|\($0.1)" }.joined()
            let delta = countedPool.withLock { c in
                defer { c[key] = Swift.max(c[key] ?? 0, total) }
                return total - (c[key] ?? 0)
            }
            let counter = CoreMetrics.Counter(label: label, dimensions: dims, factory: factory)
            if delta > 0 { counter.increment(by: Int64(delta)) }
        }
    }

    /// The registry in Prometheus text format (version 0.0.4).
    package func render() -> String { registry.emitToString() }

    static func nanoseconds(_ d: Duration) -> Int64 {
        d.components.seconds * 1_000_000_000 + d.components.attoseconds / 1_000_000_000
    }
}
