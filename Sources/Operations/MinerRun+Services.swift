import FlexSupport
import Foundation
import LoadController
import Mining
import MiningKernels
import NIOCore
import OpenADR2bSignals
import OpenADRSignals
import ServiceLifecycle
import WorkSources

extension MinerRun {
    /// The run's services, in start order (they shut down in reverse): the status line and the sources first
    /// (no new signals), then the work, then the engine (workers halted and joined), the power samplers, and
    /// the decision log last.
    func services(_ p: RunParts, loops: RunEventLoops, owned: RunCleanup, stopPower: RunCleanup.Closer)
        throws(ConfigError) -> [ServiceGroupConfiguration.ServiceConfiguration]
    {
        let s = settings
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        func add(_ service: some Service, endsRun: Bool = false) {
            services.append(
                .init(service: service, successTerminationBehavior: endsRun ? .gracefullyShutdownGroup : .ignore))
        }
        let notifications = try notifications()
        let listens: @Sendable (String) -> Void = { notifications?.listens($0) }
        for service in lifetimeServices(p, owned: owned, stopPower: stopPower) { add(service) }
        add(ticker(p, notifications: notifications))
        add(
            WorkService(source: p.work, engine: p.engine, logger: logger) { [self] block in
                blockCounts.withLock { $0.count(block) }
                p.metrics.block(block.outcome, superseded: block.superseded)
                p.log.write([
                    "event": "block", "hash": block.hash, "height": block.height, "result": block.outcome.description,
                    "superseded": block.superseded,
                ])
            } onFailure: { [self] error in
                workError.withLock { $0 = error }
            })
        let perSource = try connectionsPerSource()
        for source in try signalSources(p, loops: loops, perSource: perSource, listening: listens) { add(source) }
        if let address = s.http {
            add(httpService(p, address: address, group: loops.http, maxConnections: perSource, listening: listens))
        }
        if s.statusLine { add(StatusLineService(sink: sink, line: { [self] in report(p).statusLine })) }
        if let seconds = s.seconds { add(Timer(seconds: seconds), endsRun: true) }
        // Shut down first (services stop in reverse): systemd hears STOPPING=1 before anything closes.
        add(AfterShutdown { notifications?.notifier.stopping() })
        return services
    }

    /// The graceful shutdown's closings, through the same closers as a failed start's: the engine halts
    /// first, then the power samplers stop (the telemetry's last samples show the load going), then the state
    /// file and the decision log close.
    func lifetimeServices(_ p: RunParts, owned: RunCleanup, stopPower: RunCleanup.Closer) -> [AfterShutdown] {
        let closeFiles = owned.owns { [p] in
            p.stateFile?.close()
            p.log.write([
                "event": "stop", "hashes": Int(clamping: p.engine.snapshot().totalHashes),
                "seconds": (ContinuousClock.now - p.started).seconds,
            ])
            p.log.close()
        }
        return [
            AfterShutdown { await closeFiles() },
            AfterShutdown { await stopPower() },
            AfterShutdown { [self] in
                // The summary describes the run, not the shutdown: take it before the workers halt.
                finalReport.withLock { $0 = report(p) }
                p.engine.halt()
                p.engine.stop()
            },
        ]
    }

    /// The controller's clock every 100 ms (expiring curtailments, dwell, ramps, stale signals) and the
    /// watchdog; once a second the metrics, the dashboard's history and the energy.
    func ticker(_ p: RunParts, notifications: ServiceNotifications?) -> Periodic {
        let s = settings
        return Periodic(every: .milliseconds(100)) { [self] n in
            p.controller.tick()
            // The watchdog is petted here, after the control path's own turn: a wedged controller stops it.
            notifications?.afterTick(working: p.engine.currentJob != nil, refresh: n % 10 == 0) {
                let r = report(p)
                let pct = Int((r.capacity * 100).rounded())  // effective: 0 while halted
                return "\(r.state): capacity \(pct)% · \(r.controller.reason)"
            }
            guard n % 10 == 0 else { return }
            // Once a second: metrics, the dashboard's history, energy (never on the hashing threads).
            let r = report(p)
            updateMetrics(p, r)
            history.record(
                .init(
                    time: Date().timeIntervalSince1970, hashRate: r.engine.hashRate5s, capacity: r.capacity,
                    activeWorkers: r.engine.activeWorkers, price: r.controller.price,
                    breakEven: r.controller.breakEven, state: r.state))
            if let watts = s.policy.powerWatts {
                let kwh = watts / 1000 * r.capacity / 3600
                energy.withLock {
                    $0.kwh += kwh
                    $0.usd += kwh / 1000 * (r.controller.price ?? 0)
                }
            }
        }
    }

    /// The metrics from a status report, the decision log's counters and the pool's.
    func updateMetrics(_ p: RunParts, _ r: StatusReport) {
        p.metrics.update(r)
        p.metrics.updateService(
            calibratedHashRate: p.calibratedHashRate, stateFileErrors: r.stateFileErrors,
            workStopped: r.workError != nil
        )
        p.metrics.updatePower(r.power, telemetryDropped: r.telemetryDropped)
        if let source = r.openADR2b { p.metrics.openADR2b(source.status, curtailsSent: source.curtailsSent) }
        if let fileLog = p.fileLog { p.metrics.updateDecisionLog(errors: fileLog.errors, dropped: fileLog.dropped) }
        if let pool = (p.work as? any ShareSource)?.poolStatus { p.metrics.pool(pool) }
    }

    /// `GET /status`, `GET /metrics`, `POST /pause`, `POST /resume` and the dashboard.
    func httpService(
        _ p: RunParts, address: HostPort, group: any EventLoopGroup, maxConnections: Int,
        listening: @escaping @Sendable (String) -> Void
    ) -> HTTPService {
        let origin = SignalOrigin(name: "http")
        return HTTPService(
            address: address, token: settings.token, group: group, note: note,
            dashboard: .init(
                status: { [self] in report(p).json }, history: { [self] in history.json },
                decisions: { [self] in decisions.json }),
            routes: .init(
                status: { [self] in report(p).json },
                metrics: { [self] in
                    updateMetrics(p, report(p))
                    return p.metrics.render()
                },
                signalReply: { line in p.controller.handle(line: Array(line.utf8), origin: origin) }),
            maxConnections: maxConnections, listening: listening)
    }

    /// `/status`: the engine, the controller, the work, the sources, the power.
    func report(_ p: RunParts) -> StatusReport {
        let s = settings
        var r = StatusReport(
            version: version, kernel: s.kernel.description, kernelReason: p.kernelReason, threads: s.threads,
            engine: p.engine.snapshot(), controller: p.controller.status, blocks: blockCounts.withLock { $0 },
            workKind: p.work.kind, workOrigin: p.work.origin, workError: workError.withLock { $0 },
            uptimeSeconds: (ContinuousClock.now - p.started).seconds, decisionLogErrors: p.fileLog?.errors,
            decisionLogDropped: p.fileLog?.dropped, stateFileErrors: p.stateFile?.errors)
        // Over the latest 1,000 of each: a status request sorts a bounded sample.
        let halts = p.engine.measuredHaltLatencies(last: 1000)
        let resumes = p.engine.measuredResumeLatencies(last: 1000)
        r.haltLatencyP99 = halts.isEmpty ? nil : LatencySummary(halts).p99
        r.resumeLatencyP99 = resumes.isEmpty ? nil : LatencySummary(resumes).p99
        r.powerWatts = s.policy.powerWatts
        (r.energyKWh, r.energyCostUSD) = energy.withLock { ($0.kwh, $0.usd) }
        r.decisionsTotal = decisions.total
        r.signalSources = sourceHealth.report(configured: s.signalTexts + (s.http == nil ? [] : ["http"]))
        r.pool = (p.work as? any ShareSource)?.poolStatus
        r.openADR = p.sources.withLock { $0.lazy.compactMap { ($0 as? OpenADRService)?.source }.first }?.status
        r.openADR2b = p.sources.withLock { $0.lazy.compactMap { ($0 as? OpenADR2bService)?.source }.first }
        r.power = p.power.readings
        r.telemetryDropped = p.power.telemetry?.dropped
        r.telemetryErrors = p.power.telemetry?.errors
        return r
    }

    /// What a power sample needs of the miner: atomics and one short controller lock, never the whole report.
    /// It holds the engine and the controller only, never the run's parts: the samplers are held by the
    /// `PowerRun` among those parts, and a cycle would keep the decision log's descriptor open after the run.
    func minerState(_ p: RunParts) -> @Sendable () -> PowerRun.MinerState {
        { [self, engine = p.engine, controller = p.controller] in
            let c = controller.curtailmentBrief
            let halted = engine.isHalted
            let stopped = workError.withLock { $0 != nil }
            return PowerRun.MinerState(
                capacity: stopped ? 0 : engine.effectiveCapacity,
                state: StatusReport.state(
                    stopped: stopped, stale: c.stale, halted: halted, curtailment: c.curtailment,
                    capacitySetting: engine.capacity),
                curtailments: c.ids)
        }
    }
}
