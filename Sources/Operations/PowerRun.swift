import FlexSupport
import Foundation
import PowerSources
import Synchronization

/// `run`'s power sources: the measured one (`--power rapl|sunspec:…`) and the model (whenever the draw at
/// full capacity is known), each sampled by a `PowerSampler` on its own thread, and the telemetry file.
/// Nothing here is on the control path: the controller never calls it; `/status` and the metrics read the
/// samplers' last readings; the telemetry is queued for its own writer.
final class PowerRun: Sendable {
    let settings: RunSettings.PowerSettings
    let measured: (any PowerSource)?
    let telemetry: TelemetryLog?
    private let samplers = Mutex<[PowerSampler]>([])

    /// Opens the measured source (RAPL's counters are checked here, so a host without them is refused at
    /// start with the reason) and the telemetry file.
    /// - Throws: `ConfigError` naming `--power` or `--telemetry`.
    init(
        settings p: RunSettings.PowerSettings, environment: [String: String] = ProcessInfo.processInfo.environment,
        report: @escaping @Sendable (String) -> Void
    ) throws(ConfigError) {
        settings = p
        switch p.measured {
        case .rapl?:
            do { measured = try RAPLPower(environment: environment) } catch {
                throw ConfigError("--power rapl: \(error.message)")
            }
        case .sunspec(let host, let port, let unit)?:
            // Each request may take most of an interval, never more than 2 s: a sample stays about on time.
            measured = SunSpecPower(host: host, port: port, unit: unit, timeout: min(2, max(0.2, p.interval * 0.8)))
        case .model?, nil:
            measured = nil
        }
        do {
            telemetry = try p.telemetry.map { path throws(PowerError) in
                try TelemetryLog(path: path, maxBytes: p.telemetryMaxBytes, report: report)
            }
        } catch {
            throw ConfigError(error.message)
        }
    }

    /// What a sample needs of the miner: cheap to take (atomics and one short controller lock, never the
    /// whole status report).
    struct MinerState: Sendable {
        /// Effective capacity, 0 when halted or stopped (as `StatusReport.capacity`).
        var capacity: Double
        /// As `StatusReport.state`.
        var state: String
        /// The active curtailments' ids.
        var curtailments: [String]
    }

    /// Starts the samplers: the measured source's, then the model's.
    /// - Parameters:
    ///   - threads: the workers, for the model's per-worker watts.
    ///   - minerState: the miner's state now: the model's effective capacity, and each telemetry line's
    ///     capacity, state and active curtailments. Called on the samplers' threads, once per sample.
    /// - Throws: `ConfigError` when the OS refuses a thread.
    func start(threads: Int, minerState: @escaping @Sendable () -> MinerState, metrics: MinerMetrics)
        throws(ConfigError)
    {
        var sources: [any PowerSource] = measured.map { [$0] } ?? []
        // The state the model's sample read, for its telemetry line: one read per sample.
        let modelState = Mutex<MinerState?>(nil)
        if let full = settings.modelWatts {
            do {
                sources.append(
                    try ModelPower(fullWatts: full, idleWatts: settings.idleWatts, threads: threads) {
                        let m = minerState()
                        modelState.withLock { $0 = m }
                        return m.capacity * Double(threads)
                    })
            } catch { throw ConfigError(error.message) }
        }
        let telemetry = self.telemetry
        let host = settings.hostName
        // The settings are checked against this range already; held to it here too, never a spin.
        let range = RunConfig.powerIntervalRange
        let interval =
            settings.interval.isNaN
            ? PowerSampler.defaultInterval : min(max(settings.interval, range.lowerBound), range.upperBound)
        let made = sources.map { source in
            PowerSampler(source: source, interval: interval, stale: settings.stale) { sample in
                if case .failure(let e) = sample.result { metrics.powerError(source: sample.source, reason: e.reason) }
                guard let telemetry else { return }
                let taken = source is ModelPower ? modelState.withLock { s in s.take() } : nil
                let m = taken ?? minerState()
                telemetry.write(
                    TelemetryLog.line(
                        sample, host: host, capacity: m.capacity, state: m.state, curtailments: m.curtailments))
            }
        }
        samplers.withLock { $0 = made }
        do {
            for s in made { try s.start() }
        } catch {
            stop()
            throw ConfigError("power sampler: \(error)")
        }
    }

    /// "power: sunspec:10.0.0.20:502/1 and model, every 1 s, telemetry to PATH", for the log at start.
    var summary: String {
        let sources = [settings.measured?.description, settings.modelWatts.map { _ in "model" }].compactMap { $0 }
        return "power: \(sources.joined(separator: " and ")), every \(settings.interval) s"
            + (settings.telemetry.map { ", telemetry to \($0)" } ?? "")
    }

    /// The samplers' readings now, measured first.
    var readings: [PowerSampler.Reading] { samplers.withLock { $0 }.map { $0.current() } }

    /// The measured source's energy counter (joules since the start) while its reading is fresh; nil
    /// without a measured source, before its first sample, or when it is stale (a meter gone quiet must not
    /// make an interval's usage look small). Reads the sampler's last value: never waits on the source.
    var measuredEnergyJoules: Double? {
        guard let r = readings.first(where: { !$0.modelled }), !r.stale else { return nil }
        return r.energyJoules
    }

    /// Stops the samplers (a sample in progress is woken), waits for their threads (2 s at most in all: a
    /// shutdown never hangs on a source), and closes the telemetry, which writes what they queued.
    func stop() {
        let all = samplers.withLock { $0 }
        for s in all { s.stop() }
        let deadline = ContinuousClock.now + .seconds(2)
        for s in all { s.join(timeout: max(.zero, deadline - ContinuousClock.now)) }
        telemetry?.close()
    }
}
