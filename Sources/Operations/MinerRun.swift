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
///
/// `run` is a composition of builders (`openDecisionLog`, `openStateFile`, `startEngine`, `startController`,
/// `openEventLoops`, `services`, …), each registering how to close what it opened with the run's
/// `RunCleanup` as soon as it is open: a step that fails closes everything opened before it. The signal
/// sources come from `SignalSourceRegistry`, one kind per `--signals` scheme.
package final class MinerRun: Sendable {
    package let settings: RunSettings
    package let version: String
    let logger: Logger
    let sink: LogSink
    let blockCounts = Mutex(BlockCounts())
    let workError = Mutex<String?>(nil)
    let finalReport = Mutex<StatusReport?>(nil)
    /// The last hour, one sample a second, for the dashboard.
    package let history = HistoryRing()
    /// The last 50 decision-log entries, for the dashboard.
    package let decisions = RecentDecisions()
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
    package init(
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
    package func reloadPolicy() throws(ConfigError) -> String {
        guard let reload = reloader.withLock({ $0 }) else { throw ConfigError("reload: the run is not on") }
        return try reload()
    }

    /// Runs until SIGINT/SIGTERM or `--seconds`, and returns the summary.
    /// - Throws: `ConfigError` for what is wrong before mining can start (a file, a socket in use). Whatever
    ///   the run had opened by then (decision log, state file, power samplers, engine, event loops) is closed.
    package func run(workSource: (any WorkSource)? = nil) async throws -> RunSummary {
        let owned = RunCleanup()
        do {
            let (parts, services) = try await build(workSource: workSource, owned: owned)
            return try await serve(parts, services: services, owned: owned)
        } catch {
            await owned.closeAll()
            throw error
        }
    }

    /// Opens the run's resources in order, each registered with `owned` as soon as it is open, and lists
    /// the services that will own them while the run is on.
    private func build(workSource: (any WorkSource)?, owned: RunCleanup) async throws -> (
        RunParts, [ServiceGroupConfiguration.ServiceConfiguration]
    ) {
        let s = settings
        // Power first: a host without the RAPL counters it was told to read is refused before anything opens.
        let power = try PowerRun(settings: s.power, report: { [logger] in logger.error("\($0)") })
        let stopPower = owned.owns { power.stop() }
        let (log, fileLog) = try openDecisionLog(owned: owned)
        let stateFile = try openStateFile(owned: owned)
        let work = try workSource ?? makeWorkSource()
        let engine = try startEngine(jobSource: work.jobSource, owned: owned)
        let metrics = MinerMetrics()
        let (controller, measured) = try await startController(
            engine: engine, work: work, log: log, stateFile: stateFile, metrics: metrics)
        installReload(measured: measured, controller: controller, owned: owned)
        let parts = RunParts(
            log: log, fileLog: fileLog, stateFile: stateFile, power: power, work: work, engine: engine,
            controller: controller, metrics: metrics, settings: s)
        let loops = try await openEventLoops(owned: owned)
        await reportWorkerBoost(engine)
        let services = try services(parts, loops: loops, owned: owned, stopPower: stopPower)
        if !s.power.isEmpty {
            try power.start(threads: s.threads, minerState: minerState(parts), metrics: metrics)
            note(power.summary)
        }
        return (parts, services)
    }

    /// Runs the services until the shutdown, then closes what is left.
    private func serve(
        _ p: RunParts, services: [ServiceGroupConfiguration.ServiceConfiguration], owned: RunCleanup
    ) async throws -> RunSummary {
        let serviceGroup = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await serviceGroup.run()
        } catch {
            throw ConfigError("\(error)")
        }
        await owned.closeAll()
        note("stopped cleanly")
        let last = finalReport.withLock { $0 } ?? report(p)
        return RunSummary(
            report: last, halts: Array(p.engine.measuredHaltLatencies.dropLast()),
            resumes: p.engine.measuredResumeLatencies)
    }

    /// Operator messages, at info level.
    var note: @Sendable (String) -> Void {
        let logger = self.logger
        return { logger.info("\($0)") }
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
}
