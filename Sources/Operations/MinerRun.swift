import DemandResponse
import FlexSupport
import Foundation
import LoadController
import Logging
import Mining
import MiningKernels
import NIOPosix
import NodeRPC
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

    public init(settings: RunSettings, version: String, logger: Logger, sink: LogSink = .standardError) {
        self.settings = settings
        self.version = version
        self.logger = logger
        self.sink = sink
    }

    /// Runs until SIGINT/SIGTERM or `--seconds`, and returns the summary.
    /// - Throws: `ConfigError` for what is wrong before mining can start (a file, a socket in use).
    public func run(workSource: (any WorkSource)? = nil) async throws -> RunSummary {
        let s = settings
        let logger = self.logger
        let note: @Sendable (String) -> Void = { logger.info("\($0)") }
        let log: DecisionLog?
        do { log = try s.decisionLog.map { p throws(SignalError) in try DecisionLog(path: p) } } catch {
            throw ConfigError(error.message)
        }
        let metrics = MinerMetrics()
        let started = ContinuousClock.now

        let work = try workSource ?? makeWorkSource()
        let engine: MiningEngine
        do {
            engine = try MiningEngine(
                kernel: s.kernel, threads: s.threads, priority: s.priority, source: work.jobSource)
        } catch { throw ConfigError(error.message) }
        if s.policy.config.initialCapacity == 0 { engine.halt() }

        var config: PolicyConfig
        do {
            config = try s.policy.resolved(measuredHashRate: s.policy.needsHashRate ? await probe(engine) : nil)
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
            observer: { metrics.record($0) })
        if priceActive {
            note(String(format: "break-even %.2f USD/MWh", config.breakEvenUSDPerMWh))
        } else if s.hasSignalSources {
            note("no break-even configured: prices are recorded, only curtailments change capacity")
        } else {
            note("no --signals: mining at full capacity, fail-safe unarmed (HTTP pause/resume still work)")
        }
        note("work: \(work.origin); kernel \(s.kernel), \(s.threads) thread(s)")
        log?.write([
            "event": "start", "threads": s.threads, "kernel": s.kernel.description, "signals": s.signalTexts,
            "breakeven_usd_per_mwh": priceActive ? config.breakEvenUSDPerMWh as Any : NSNull(),
            "initial_capacity": config.initialCapacity, "work": work.kind,
        ])
        controller.start()

        let report: @Sendable () -> StatusReport = { [self] in
            StatusReport(
                version: version, kernel: s.kernel.description, kernelReason: nil, threads: s.threads,
                engine: engine.snapshot(), controller: controller.status, blocks: blockCounts.withLock { $0 },
                workKind: work.kind, workOrigin: work.origin, workError: workError.withLock { $0 },
                uptimeSeconds: (ContinuousClock.now - started).seconds, pool: (work as? any ShareSource)?.poolStatus)
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        func add(_ service: some Service, endsRun: Bool = false) {
            services.append(
                .init(service: service, successTerminationBehavior: endsRun ? .gracefullyShutdownGroup : .ignore))
        }
        // Listed in start order; shut down in reverse.
        add(
            AfterShutdown {
                log?.write([
                    "event": "stop", "hashes": Int(clamping: engine.snapshot().totalHashes),
                    "seconds": (ContinuousClock.now - started).seconds,
                ])
                log?.close()
            })
        add(
            AfterShutdown { [self] in
                // The summary describes the run, not the shutdown: take it before the workers halt.
                finalReport.withLock { $0 = report() }
                engine.halt()
                engine.stop()
            })
        add(
            Periodic(every: .milliseconds(100)) { n in
                controller.tick()
                if n % 10 == 0 { metrics.update(engine: engine.snapshot(), status: controller.status) }
                if n % 10 == 0, let pool = (work as? any ShareSource)?.poolStatus { metrics.pool(pool) }
            })
        add(
            WorkService(source: work, engine: engine, logger: logger) { [self] block in
                blockCounts.withLock { $0.count(block.outcome) }
                metrics.block(block.outcome)
                log?.write([
                    "event": "block", "hash": block.hash, "height": block.height, "result": block.outcome.description,
                ])
            } onFailure: { [self] error in
                workError.withLock { $0 = error }
            })
        for spec in s.specs {
            add(
                SignalSourceService(
                    spec: spec, controller: controller, token: spec.isLocal ? nil : s.token, group: group, note: note))
        }
        if let address = s.http {
            let origin = SignalOrigin(name: "http")
            add(
                HTTPService(
                    address: address, token: s.token, group: group, note: note,
                    routes: .init(
                        status: { report().json },
                        metrics: {
                            metrics.update(engine: engine.snapshot(), status: controller.status)
                            if let pool = (work as? any ShareSource)?.poolStatus { metrics.pool(pool) }
                            return metrics.render()
                        },
                        signal: { line in
                            let r = controller.handle(line: Array(line.utf8), origin: origin)
                            return (r.ok, r.line)
                        })))
        }
        if s.statusLine { add(StatusLineService(sink: sink, line: { report().statusLine })) }
        if let seconds = s.seconds { add(Timer(seconds: seconds), endsRun: true) }

        let serviceGroup = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await serviceGroup.run()
        } catch {
            engine.stop()
            try? await group.shutdownGracefully()
            throw ConfigError("\(error)")
        }
        try? await group.shutdownGracefully()
        note("stopped cleanly")
        let last = finalReport.withLock { $0 } ?? report()
        return RunSummary(
            report: last, halts: Array(engine.measuredHaltLatencies.dropLast()), resumes: engine.measuredResumeLatencies
        )
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
            return PoolWork(options: options, logger: logger)
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
