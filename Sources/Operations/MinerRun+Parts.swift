import DemandResponse
import FlexSupport
import Foundation
import LoadController
import Mining
import MiningKernels
import Synchronization
import WorkSources

/// A run's parts once built: what its services, its status and its summary read. Their lifetimes are
/// owned by the run's `RunCleanup` and the services that close them at the graceful shutdown.
final class RunParts: Sendable {
    let log: DecisionLog
    /// The decision log's file (nil without `--decision-log`: the entries are kept in memory only).
    let fileLog: DecisionLog?
    let stateFile: CurtailmentStateFile?
    let power: PowerRun
    let work: any WorkSource
    let engine: MiningEngine
    let controller: LoadController
    let metrics: MinerMetrics
    let started = ContinuousClock.now
    /// Why this kernel: the measured dispatch's reason when `auto` chose it.
    let kernelReason: String
    /// The calibration's one-thread rate of this kernel × threads: what the fleet's alert compares against.
    let calibratedHashRate: Double?
    /// The signal sources once made, for their parts of the status (OpenADR 3's).
    let sources = Mutex<[any SignalSource]>([])

    init(
        log: DecisionLog, fileLog: DecisionLog?, stateFile: CurtailmentStateFile?, power: PowerRun,
        work: any WorkSource, engine: MiningEngine, controller: LoadController, metrics: MinerMetrics,
        settings s: RunSettings
    ) {
        // The dispatch is cached: no new calibration.
        let auto = KernelDispatch.auto()
        kernelReason = auto.kernel == s.kernel ? "auto: \(auto.reason)" : "named on the command line or in the config"
        calibratedHashRate = auto.figures.first { $0.kernel == s.kernel.name.rawValue }.map {
            $0.hashesPerSecond * Double(s.threads)
        }
        self.log = log
        self.fileLog = fileLog
        self.stateFile = stateFile
        self.power = power
        self.work = work
        self.engine = engine
        self.controller = controller
        self.metrics = metrics
    }
}

extension MinerRun {
    /// The decision log (`--decision-log`, or in memory for the dashboard), closed when the run ends.
    /// - Returns: the log, and its file when there is one.
    func openDecisionLog(owned: RunCleanup) throws(ConfigError) -> (DecisionLog, DecisionLog?) {
        let logger = self.logger
        let recent = decisions
        let mirror: @Sendable (String) -> Void = { recent.record($0) }
        let fileLog: DecisionLog?
        do {
            fileLog = try settings.decisionLog.map { p throws(SignalError) in
                // Told once, from the log's own thread: a full or failing disk is reported, never silent.
                try DecisionLog(path: p, report: { logger.error("\($0)") }, mirror: mirror)
            }
        } catch {
            throw ConfigError(error.message)
        }
        // Without --decision-log the entries are still kept in memory for the dashboard.
        let log = fileLog ?? DecisionLog(inMemory: mirror)
        owned.owns { log.close() }
        return (log, fileLog)
    }

    /// The curtailment state file (`--state-file`), closed when the run ends.
    func openStateFile(owned: RunCleanup) throws(ConfigError) -> CurtailmentStateFile? {
        let logger = self.logger
        do {
            let file = try settings.stateFile.map { p throws(SignalError) in
                try CurtailmentStateFile(path: p, report: { logger.error("\($0)") })
            }
            if let file { owned.owns { file.close() } }
            return file
        } catch {
            throw ConfigError(error.message)
        }
    }

    /// The engine's worker threads, stopped (halted and joined) when the run ends.
    func startEngine(jobSource: any JobSource, owned: RunCleanup) throws(ConfigError) -> MiningEngine {
        let s = settings
        do {
            let engine = try MiningEngine(kernel: s.kernel, threads: s.threads, priority: s.priority, source: jobSource)
            owned.owns { engine.stop() }
            return engine
        } catch { throw ConfigError(error.message) }
    }

    /// The controller over the engine: curtailments kept from the last run hold from the first moment, the
    /// policy is resolved (the hash rate measured when its break-even needs it), and the start is logged.
    /// - Returns: the started controller, and the measured hash rate (for reloads).
    func startController(
        engine: MiningEngine, work: any WorkSource, log: DecisionLog, stateFile: CurtailmentStateFile?,
        metrics: MinerMetrics
    ) async throws(ConfigError) -> (LoadController, Double?) {
        let s = settings
        let note = self.note
        // The workers start halted and the controller's start applies what the curtailments allow.
        let restored = stateFile?.load(now: Date()) ?? [:]
        let restoredLevel = restored.values.map(\.level).max() ?? 0
        if s.policy.config.initialCapacity == 0 || restoredLevel > 0 { engine.halt() }
        if restoredLevel > 0 && s.policy.needsHashRate {
            throw ConfigError(
                "policy: a curtailment restored from the state file forbids the 2 s hash-rate probe; give \"hashrate_hs\" in the policy"
            )
        }
        var config: PolicyConfig
        let measured = s.policy.needsHashRate ? await probe(engine) : nil
        do {
            config = try s.policy.resolved(measuredHashRate: measured)
        } catch {
            throw ConfigError("policy: \(error.message)")
        }
        // Nothing can go stale without a source: the fail-safe stays unarmed.
        if !s.hasSignalSources { config.staleAfterSeconds = .greatestFiniteMagnitude }
        let priceActive = s.policy.hasBreakEven || s.breakevenGiven
        let health = sourceHealth
        let controller = LoadController(
            actuator: engine, config: config, priceActive: priceActive, log: log, message: note,
            observer: { event in
                metrics.record(event)
                if case .message(let source, let ok) = event { health.record(source: source, ok: ok) }
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
        return (controller, measured)
    }

    /// `reloadPolicy()` and SIGHUP, on until the run ends.
    func installReload(measured: Double?, controller: LoadController, owned: RunCleanup) {
        let s = settings
        let logger = self.logger
        reloader.withLock {
            $0 = { () throws(ConfigError) -> String in
                try Self.reload(settings: s, measured: measured, controller: controller)
            }
        }
        let hangup = HangupSource(
            source: Self.onHangup { [self] in
                do throws(ConfigError) {
                    let reason = try reloadPolicy()
                    logger.notice("SIGHUP: policy reloaded: \(reason)")
                } catch {
                    logger.error("SIGHUP: policy not reloaded, the old one stays: \(error.message)")
                }
            })
        owned.owns { [self] in
            hangup.source.cancel()
            reloader.withLock { $0 = nil }
        }
    }
}

/// The SIGHUP handler's dispatch source, cancelled when the run ends (from whichever task ends it).
struct HangupSource: @unchecked Sendable {
    // A dispatch source may be cancelled from any thread; Dispatch only lacks the annotation.
    let source: any DispatchSourceSignal
}
