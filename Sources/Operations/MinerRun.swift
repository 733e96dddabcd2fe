import DemandResponse
import FlexSupport
import Foundation
import LoadController
import Logging
import Mining
import MiningKernels
import NIOPosix
import NodeRPC
import OpenADRSignals
import PowerSources
import ServiceLifecycle
import Stratum
import Synchronization
import WorkSources

/// `flexminer run`: the miner as a `ServiceGroup` of small services — the decision log, the engine, the
/// controller's ticker, the work source, each signal source, the HTTP API, the status line and the
/// `--seconds` timer. The group starts them together and, on SIGINT/SIGTERM or when the timer ends,
/// shuts them down in reverse order: the status line and the sources first (no new signals), then
/// the work, then the engine (workers halted and joined), and the decision log last.
public final class MinerRun: Sendable {
    public let settings: RunSettings
    public let version: String
    let logger: Logger
    let sink: LogSink
    let blockCounts = Mutex(BlockCounts())
    let workError = Mutex<String?>(nil)
    let finalReport = Mutex<StatusReport?>(nil)
    /// The last hour, one sample a second, for the dashboard.
    public let history = HistoryRing()
    /// The last 50 decision-log entries, for the dashboard.
    public let decisions = RecentDecisions()
    /// Energy and its cost, integrated by the ticker from capacity × power and the current price.
    let energy = Mutex((kwh: 0.0, usd: 0.0))
    /// Per signal source: lines accepted and refused, and when the last one arrived.
    let sourceHealth = SourceHealth()
    /// systemd's notifications (`Type=notify`), when started by it.
    let notifier: SystemdNotifier?
    /// Re-reads the policy and applies it; set while the run is on (see `reloadPolicy()`).
    let reloader = Mutex<(@Sendable () throws(ConfigError) -> String)?>(nil)

    /// - Parameter notifier: where to send `READY=1`, `STATUS=`, `STOPPING=1` and the watchdog's pets
    ///   (`SystemdNotifier.fromEnvironment()` under systemd); nil sends nothing.
    public init(
        settings: RunSettings, version: String, logger: Logger, sink: LogSink = .standardError,
        notifier: SystemdNotifier? = nil
    ) {
        self.settings = settings
        self.version = version
        self.logger = logger
        self.sink = sink
        self.notifier = notifier
    }

    /// Reads the policy again (`systemctl reload`, SIGHUP): the config file's policy fields and the policy
    /// file, as at start; active curtailments stay. A file that does not parse or check is refused and the
    /// policy in force stays.
    /// - Returns: the controller's reason after the reload.
    /// - Throws: `ConfigError` naming the file and the key, or when the run has not started or has ended.
    @discardableResult
    public func reloadPolicy() throws(ConfigError) -> String {
        guard let reload = reloader.withLock({ $0 }) else { throw ConfigError("reload: the run is not on") }
        return try reload()
    }

    /// Runs until SIGINT/SIGTERM or `--seconds`, and returns the summary.
    /// - Throws: `ConfigError` for what is wrong before mining can start (a file, a socket in use).
    public func run(workSource: (any WorkSource)? = nil) async throws -> RunSummary {
        // Power first: a host without the RAPL counters it was told to read is refused before anything opens.
        let power = try PowerRun(settings: settings.power, report: { [logger] in logger.error("\($0)") })
        do {
            return try await run(workSource: workSource, power: power)
        } catch {
            power.stop()
            throw error
        }
    }

    private func run(workSource: (any WorkSource)?, power: PowerRun) async throws -> RunSummary {
        let s = settings
        let logger = self.logger
        let note: @Sendable (String) -> Void = { logger.info("\($0)") }
        let recent = decisions
        let mirror: @Sendable (String) -> Void = { recent.record($0) }
        let fileLog: DecisionLog?
        do {
            fileLog = try s.decisionLog.map { p throws(SignalError) in
                // Told once, from the log's own thread: a full or failing disk is reported, never silent.
                try DecisionLog(path: p, report: { logger.error("\($0)") }, mirror: mirror)
            }
        } catch {
            throw ConfigError(error.message)
        }
        // Without --decision-log the entries are still kept in memory for the dashboard.
        let log = fileLog ?? DecisionLog(inMemory: mirror)
        let metrics = MinerMetrics()
        let started = ContinuousClock.now
        let stateFile: CurtailmentStateFile?
        do {
            stateFile = try s.stateFile.map { p throws(SignalError) in
                try CurtailmentStateFile(path: p, report: { logger.error("\($0)") })
            }
        } catch {
            fileLog?.close()
            throw ConfigError(error.message)
        }

        let work = try workSource ?? makeWorkSource()
        let engine: MiningEngine
        do {
            engine = try MiningEngine(
                kernel: s.kernel, threads: s.threads, priority: s.priority, source: work.jobSource)
        } catch { throw ConfigError(error.message) }
        // Curtailments kept from the last run hold from the first moment: the workers start halted and the
        // controller's start applies what the curtailments allow.
        let restored = stateFile?.load(now: Date()) ?? [:]
        let restoredLevel = restored.values.map(\.level).max() ?? 0
        if s.policy.config.initialCapacity == 0 || restoredLevel > 0 { engine.halt() }
        if restoredLevel > 0 && s.policy.needsHashRate {
            engine.stop()
            throw ConfigError(
                "policy: a curtailment restored from the state file forbids the 2 s hash-rate probe; give \"hashrate_hs\" in the policy"
            )
        }

        var config: PolicyConfig
        let measured = s.policy.needsHashRate ? await probe(engine) : nil
        do {
            config = try s.policy.resolved(measuredHashRate: measured)
        } catch {
            engine.stop()
            throw ConfigError("policy: \(error.message)")
        }
        if !s.hasSignalSources {
            // Nothing can go stale without a source: the fail-safe stays unarmed.
            config.staleAfterSeconds = .greatestFiniteMagnitude
        }
        let priceActive = s.policy.hasBreakEven || s.breakevenGiven
        let controller = LoadController(
            actuator: engine, config: config, priceActive: priceActive, log: log, message: note,
            observer: { [self] event in
                metrics.record(event)
                if case .message(let source, let ok) = event { sourceHealth.record(source: source, ok: ok) }
            }, stateFile: stateFile)
        if priceActive {
            note(String(format: "break-even %.2f USD/MWh", config.breakEvenUSDPerMWh))
        } else if s.hasSignalSources {
            note("no break-even configured: prices are recorded, only curtailments change capacity")
        } else {
            note("no --signals: mining at full capacity, fail-safe unarmed (HTTP pause/resume still work)")
        }
        note("work: \(work.origin); kernel \(s.kernel), \(s.threads) thread(s)")
        log.write([
            "event": "start", "threads": s.threads, "kernel": s.kernel.description, "signals": s.signalTexts,
            "breakeven_usd_per_mwh": priceActive ? config.breakEvenUSDPerMWh as Any : NSNull(),
            "initial_capacity": config.initialCapacity, "work": work.kind,
        ])
        controller.start(restoring: restored)
        reloader.withLock {
            $0 = { () throws(ConfigError) -> String in
                try Self.reload(settings: s, measured: measured, controller: controller)
            }
        }
        let hangup = Self.onHangup { [self] in
            do throws(ConfigError) {
                let reason = try reloadPolicy()
                logger.notice("SIGHUP: policy reloaded: \(reason)")
            } catch {
                logger.error("SIGHUP: policy not reloaded, the old one stays: \(error.message)")
            }
        }
        defer {
            hangup.cancel()
            reloader.withLock { $0 = nil }
        }
        // READY=1 waits for every listening source (OpenADR is a client: it does not hold the start up).
        let notifications = notifier.map { n in
            ServiceNotifications(
                notifier: n,
                sources: s.specs.filter { if case .openadr3 = $0 { false } else { true } }.map(\.description)
                    + (s.http == nil ? [] : ["http"]))
        }
        let listens: @Sendable (String) -> Void = { notifications?.listens($0) }

        // Why this kernel: the measured dispatch's reason when `auto` chose it (cached, so no new calibration).
        let auto = KernelDispatch.auto()
        let kernelReason =
            auto.kernel == s.kernel ? "auto: \(auto.reason)" : "named on the command line or in the config"
        // The OpenADR 3 source, once made (below), for its part of the status.
        let openADRSource = Mutex<OpenADRSource?>(nil)
        // The calibration's one-thread rate of this kernel × threads: what the fleet's alert compares against.
        let calibrated = auto.figures.first { $0.kernel == s.kernel.name.rawValue }.map {
            $0.hashesPerSecond * Double(s.threads)
        }
        let report: @Sendable () -> StatusReport = { [self] in
            var r = StatusReport(
                version: version, kernel: s.kernel.description, kernelReason: kernelReason, threads: s.threads,
                engine: engine.snapshot(), controller: controller.status, blocks: blockCounts.withLock { $0 },
                workKind: work.kind, workOrigin: work.origin, workError: workError.withLock { $0 },
                uptimeSeconds: (ContinuousClock.now - started).seconds, decisionLogErrors: fileLog?.errors,
                decisionLogDropped: fileLog?.dropped, stateFileErrors: stateFile?.errors)
            // Over the latest 1,000 of each: a status request sorts a bounded sample.
            let halts = engine.measuredHaltLatencies(last: 1000)
            let resumes = engine.measuredResumeLatencies(last: 1000)
            r.haltLatencyP99 = halts.isEmpty ? nil : LatencySummary(halts).p99
            r.resumeLatencyP99 = resumes.isEmpty ? nil : LatencySummary(resumes).p99
            r.powerWatts = s.policy.powerWatts
            (r.energyKWh, r.energyCostUSD) = energy.withLock { ($0.kwh, $0.usd) }
            r.decisionsTotal = decisions.total
            r.signalSources = sourceHealth.report(configured: s.signalTexts + (s.http == nil ? [] : ["http"]))
            r.pool = (work as? any ShareSource)?.poolStatus
            r.openADR = openADRSource.withLock { $0 }?.status
            r.power = power.readings
            r.telemetryDropped = power.telemetry?.dropped
            r.telemetryErrors = power.telemetry?.errors
            return r
        }
        let serviceMetrics: @Sendable (StatusReport) -> Void = { r in
            metrics.updateService(
                calibratedHashRate: calibrated, stateFileErrors: r.stateFileErrors, workStopped: r.workError != nil)
            metrics.updatePower(r.power, telemetryDropped: r.telemetryDropped)
        }
        // Each socket source has a thread of its own on the control path, real-time when permitted (see
        // `ControlThread`): a flood of clients on one source cannot delay a curtailment on another. HTTP
        // (status, metrics, the dashboard, pause/resume) has its own thread at normal priority.
        let httpGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        // Aligned with `s.specs`: a group for each socket source, nil for the others.
        let specGroups = s.specs.map { $0.isSocket ? MultiThreadedEventLoopGroup(numberOfThreads: 1) : nil }
        let controlGroups = specGroups.compactMap { $0 }
        for (spec, group) in zip(s.specs, specGroups) {
            guard let group else { continue }
            let loop = group.next()
            let rc = (try? await loop.submit { ControlThread.raiseCurrent() }.get()) ?? -1
            if rc != 0 {
                note(
                    "signal thread of \(spec) at normal priority (\(rc == EPERM ? "no permission" : "errno \(rc)")): grant CAP_SYS_NICE or LimitRTPRIO=1 for millisecond curtailments on a busy host"
                )
                continue
            }
            note("signal thread of \(spec): SCHED_FIFO (served ahead of other processes' threads)")
            // Over half a CPU for a window (a flood of clients): normal priority until it calms down.
            let budget = ControlThread.Budget()
            loop.scheduleRepeatedTask(initialDelay: .milliseconds(100), delay: .milliseconds(100)) { _ in
                switch budget.check() {
                case .lowered(let share)?:
                    note(
                        String(
                            format: "signal thread of %@ used %.0f%% of a CPU: at normal priority until it is quiet",
                            spec.description, share * 100))
                case .raised?: note("signal thread of \(spec): SCHED_FIFO again")
                case nil: break
                }
            }
        }
        // Halts boost the workers to finish their batch at once; report whether this process may.
        var probe: Bool? = nil
        for _ in 0..<50 where probe == nil {
            probe = engine.probeWorkerBoost()
            if probe == nil { try? await Task.sleep(for: .milliseconds(2)) }
        }
        if probe == false {
            note(
                "halts cannot boost the workers (needs CAP_SYS_NICE, or RLIMIT_NICE 20 for idle-priority workers): on a host whose CPUs are busy with other processes, a halt waits for them"
            )
        }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        func add(_ service: some Service, endsRun: Bool = false) {
            services.append(
                .init(service: service, successTerminationBehavior: endsRun ? .gracefullyShutdownGroup : .ignore))
        }
        // Listed in start order; shut down in reverse.
        add(
            AfterShutdown {
                stateFile?.close()
                log.write([
                    "event": "stop", "hashes": Int(clamping: engine.snapshot().totalHashes),
                    "seconds": (ContinuousClock.now - started).seconds,
                ])
                log.close()
            })
        // Stopped after the engine halts, so that the telemetry's last samples show the load going.
        add(AfterShutdown { power.stop() })
        add(
            AfterShutdown { [self] in
                // The summary describes the run, not the shutdown: take it before the workers halt.
                finalReport.withLock { $0 = report() }
                engine.halt()
                engine.stop()
            })
        add(
            Periodic(every: .milliseconds(100)) { [self] n in
                controller.tick()
                // The watchdog is petted here, after the control path's own turn: a wedged controller stops it.
                notifications?.afterTick(working: engine.currentJob != nil, refresh: n % 10 == 0) {
                    let r = report()
                    let pct = Int((r.capacity * 100).rounded())  // effective: 0 while halted
                    return "\(r.state): capacity \(pct)% · \(r.controller.reason)"
                }
                guard n % 10 == 0 else { return }
                // Once a second: metrics, the dashboard's history, energy (never on the hashing threads).
                let r = report()
                metrics.update(r)
                serviceMetrics(r)
                if let fileLog { metrics.updateDecisionLog(errors: fileLog.errors, dropped: fileLog.dropped) }
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
                if n % 10 == 0, let pool = (work as? any ShareSource)?.poolStatus { metrics.pool(pool) }
            })
        add(
            WorkService(source: work, engine: engine, logger: logger) { [self] block in
                blockCounts.withLock { $0.count(block) }
                metrics.block(block.outcome, superseded: block.superseded)
                log.write([
                    "event": "block", "hash": block.hash, "height": block.height, "result": block.outcome.description,
                    "superseded": block.superseded,
                ])
            } onFailure: { [self] error in
                workError.withLock { $0 = error }
            })
        // Each listening source gets an equal share of the descriptors (idle clients of one cannot starve
        // another); the soft limit is raised first.
        let listening = s.specs.filter { if case .file = $0 { false } else { true } }.count + (s.http == nil ? 0 : 1)
        let descriptors = DescriptorBudget.raiseLimit()
        let perSource = DescriptorBudget.perSource(limit: descriptors, sources: listening)
        if listening > 0 && perSource < SignalSocketServer.Limits.standard.maxConnections {
            note("descriptor limit \(descriptors): at most \(perSource) connections per source")
        }
        var limits = SignalSocketServer.Limits.standard
        limits.maxConnections = perSource
        for (spec, group) in zip(s.specs, specGroups) {
            add(
                SignalSourceService(
                    spec: spec, controller: controller, token: spec.requiresConfiguredToken ? s.token : nil,
                    group: group ?? httpGroup, note: note,
                    limits: limits, groupAccess: s.socketGroupAccess, listening: listens))
        }
        if let calendar = s.calendar {
            // The tariff's and the schedule's timer: its own task, feeding the controller like any source.
            let source = CalendarSource(
                name: s.calendarName, signals: calendar, controller: controller, powerWatts: s.policy.powerWatts)
            add(CalendarService(source: source, note: note))
        }
        if let adr = s.openADR {
            // OpenADR 3: one more service; it schedules curtailments with the controller, never blocks it.
            do {
                // USAGE reports carry the measured energy when a meter or RAPL is configured.
                let source = try OpenADRSource(
                    configuration: adr, controller: controller, note: note, alert: { logger.error("\($0)") },
                    measuredEnergy: { power.measuredEnergyJoules })
                openADRSource.withLock { $0 = source }
                add(OpenADRService(source: source))
            } catch {
                engine.stop()
                throw ConfigError(error.message)
            }
        }
        if let address = s.http {
            let origin = SignalOrigin(name: "http")
            add(
                HTTPService(
                    address: address, token: s.token, group: httpGroup, note: note,
                    dashboard: .init(
                        status: { report().json }, history: { [self] in history.json },
                        decisions: { [self] in decisions.json }),
                    routes: .init(
                        status: { report().json },
                        metrics: {
                            let r = report()
                            metrics.update(r)
                            serviceMetrics(r)
                            if let fileLog {
                                metrics.updateDecisionLog(errors: fileLog.errors, dropped: fileLog.dropped)
                            }
                            if let pool = (work as? any ShareSource)?.poolStatus { metrics.pool(pool) }
                            return metrics.render()
                        },
                        signalReply: { line in controller.handle(line: Array(line.utf8), origin: origin) }),
                    maxConnections: perSource, listening: listens))
        }
        if s.statusLine { add(StatusLineService(sink: sink, line: { report().statusLine })) }
        if let seconds = s.seconds { add(Timer(seconds: seconds), endsRun: true) }
        // Shut down first (services stop in reverse): systemd hears STOPPING=1 before anything closes.
        add(AfterShutdown { notifications?.notifier.stopping() })

        if !s.power.isEmpty {
            // Per sample: atomics and one short controller lock, never the whole report.
            let minerState: @Sendable () -> PowerRun.MinerState = { [self, engine, controller] in
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
            do { try power.start(threads: s.threads, minerState: minerState, metrics: metrics) } catch {
                engine.stop()
                throw error
            }
            note(power.summary)
        }
        let serviceGroup = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await serviceGroup.run()
        } catch {
            engine.stop()
            for g in controlGroups { try? await g.shutdownGracefully() }
            try? await httpGroup.shutdownGracefully()
            throw ConfigError("\(error)")
        }
        for g in controlGroups { try? await g.shutdownGracefully() }
        try? await httpGroup.shutdownGracefully()
        note("stopped cleanly")
        let last = finalReport.withLock { $0 } ?? report()
        return RunSummary(
            report: last, halts: Array(engine.measuredHaltLatencies.dropLast()), resumes: engine.measuredResumeLatencies
        )
    }

    /// Re-reads the policy (see `reloadPolicy()`) and hands it to the controller.
    static func reload(settings s: RunSettings, measured: Double?, controller: LoadController) throws(ConfigError)
        -> String
    {
        let (policy, breakevenGiven) = try s.reloadedPolicy()
        if policy.needsHashRate && measured == nil {
            throw ConfigError(
                "policy: a hashprice-based break-even needs \"hashrate_hs\" on reload (the hash rate is measured only at start)"
            )
        }
        var config: PolicyConfig
        do { config = try policy.resolved(measuredHashRate: measured) } catch {
            throw ConfigError("policy: \(error.message)")
        }
        if !s.hasSignalSources { config.staleAfterSeconds = .greatestFiniteMagnitude }
        controller.reload(config: config, priceActive: policy.hasBreakEven || breakevenGiven)
        return controller.status.reason
    }

    /// Calls `body` on each SIGHUP (on a dispatch queue, off the control path) until cancelled; SIGHUP's
    /// default action (ending the process) is off meanwhile.
    static func onHangup(_ body: @escaping @Sendable () -> Void) -> any DispatchSourceSignal {
        signal(SIGHUP, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        source.setEventHandler(handler: body)
        source.resume()
        return source
    }

    /// The work source the settings name.
    func makeWorkSource() throws -> any WorkSource {
        let s = settings
        switch s.work {
        case .benchmark:
            return BenchmarkWork(seed: UInt64(Date().timeIntervalSince1970))
        case .template(let path):
            do {
                let work = try TemplateFileWork.load(
                    path: path, payout: s.payout ?? "", network: s.network, message: s.coinbaseMessage)
                return TemplateFileWork(
                    work: work, origin: "template \(path)", blocks: s.blocks ?? 1, out: s.out, afterLimit: .keepHashing,
                    logger: logger)
            } catch { throw ConfigError(error.message) }
        case .node(let url, let credentials):
            let client: NodeRPCClient
            do { client = try NodeRPCClient(url: url, credentials: credentials) } catch {
                throw ConfigError(error.message)
            }
            var options = NodeWork.Options(payout: s.payout ?? "")
            options.blocks = s.blocks ?? Int.max
            options.coinbaseMessage = Array(s.coinbaseMessage.utf8)
            return NodeWork(client: client, journal: BlockJournal(path: s.journal), options: options, logger: logger)
        case .pool(let urls, let user, let password):
            var options = PoolWork.Options(pools: [], user: user)
            do { options.pools = try urls.map { u throws(StratumError) in try StratumURL(u) } } catch {
                throw ConfigError("--pool \(error.message)")
            }
            options.password = password
            options.userAgent = "flexminer/\(version)"
            options.blocks = s.blocks
            options.suggestDifficulty = s.suggestDifficulty
            options.allowRedirect = s.allowRedirect
            return PoolWork(options: options, journal: BlockJournal(path: s.journal), logger: logger)
        }
    }

    /// Measures the engine's hash rate for a hashprice-based break-even (2 s on an unsolvable job).
    func probe(_ engine: MiningEngine) async -> Double {
        logger.info("measuring the hash rate for the break-even price (2 s)")
        engine.setJob(MiningJob.unsolvable(seed: 1))
        try? await Task.sleep(for: .milliseconds(250))
        let a = engine.snapshot().totalHashes
        let t0 = ContinuousClock.now
        try? await Task.sleep(for: .seconds(2))
        let rate = Double(engine.snapshot().totalHashes - a) / (ContinuousClock.now - t0).seconds
        engine.clearJob()
        return rate
    }
}
