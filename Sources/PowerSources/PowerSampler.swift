import FlexSupport
import Foundation
import Synchronization

/// Samples one `PowerSource` every `interval` seconds on a thread of its own, entirely off the control path:
/// the control path never calls it and never waits for it; a slow or dead meter only delays the next
/// sample. Readers (`/status`, metrics) take `current()`, a copy made under a short lock.
///
/// The last good value is kept with its monotonic time, and is never reported as current once it is older
/// than `stale` seconds: `current()` then says stale, with no watts.
package final class PowerSampler: Sendable {
    /// `--power-interval` and `--power-stale` by default, in seconds (their bounds are the config's).
    package static let defaultInterval = 1.0
    package static let defaultStale = 5.0

    /// One sample as taken: for the telemetry and the metrics.
    package struct Sample: Sendable {
        package let source: String
        package let modelled: Bool
        /// Wall-clock time of the sample.
        package let time: Date
        /// Monotonic seconds (see `Monotonic`).
        package let monotonic: Double
        package let result: Result<PowerReading, PowerError>

        package init(
            source: String, modelled: Bool, time: Date, monotonic: Double, result: Result<PowerReading, PowerError>
        ) {
            self.source = source
            self.modelled = modelled
            self.time = time
            self.monotonic = monotonic
            self.result = result
        }
    }

    /// What the source is known to draw now.
    package struct Reading: Sendable {
        package let source: String
        package let modelled: Bool
        /// The last good value while it is fresh; nil when stale or never measured.
        package let watts: Double?
        /// The energy counted since the start (the last good value's, kept when stale).
        package let energyJoules: Double?
        /// True when the last good value is older than `stale` seconds, or there has never been one.
        package let stale: Bool
        /// Seconds since the last good value (nil: none yet).
        package let age: Double?
        /// The last sample's failure, when the last sample failed.
        package let error: PowerError?
        /// Failed samples by reason, since the start.
        package let errors: [String: Int]
        package let samples: Int

        /// `/status`'s object for this source.
        package var json: [String: Any] {
            [
                "source": source, "modelled": modelled, "watts": watts ?? NSNull(),
                "energy_j": energyJoules ?? NSNull(), "stale": stale, "age_s": age ?? NSNull(),
                "error": error?.reason ?? NSNull(), "error_message": error?.message ?? NSNull(),
                "errors": errors, "samples": samples,
            ]
        }
    }

    private struct State {
        var last: (watts: Double, energy: Double?, at: Double)? = nil
        var error: PowerError? = nil
        var errors: [String: Int] = [:]
        var samples = 0
        var stopping = false
        var started = false
    }

    package let source: any PowerSource
    package let interval: Double
    package let stale: Double
    private let state = Mutex(State())
    private let wake = DispatchSemaphore(value: 0)
    /// Signalled once when the thread has ended (the source closed).
    private let finished = DispatchSemaphore(value: 0)
    private let onSample: @Sendable (Sample) -> Void
    /// Error reasons counted separately at most; others go under "other" (a metric label set stays small).
    static let maxReasons = 32

    /// The interval the sampler holds itself to, whatever it is given (0, a negative or NaN would make it
    /// spin): `run` holds `--power-interval` to the narrower `RunConfig.powerIntervalRange`.
    package static let intervalLimits = 0.01...3600.0

    /// - Parameters:
    ///   - interval: seconds between samples, held to `intervalLimits` (NaN: `defaultInterval`).
    ///   - stale: seconds after which the last good value is no longer current.
    ///   - onSample: told every sample, on the sampler's thread (the telemetry queues it; keep it cheap).
    package init(
        source: any PowerSource, interval: Double, stale: Double,
        onSample: @escaping @Sendable (Sample) -> Void = { _ in }
    ) {
        self.source = source
        self.interval =
            interval.isNaN
            ? Self.defaultInterval : min(max(interval, Self.intervalLimits.lowerBound), Self.intervalLimits.upperBound)
        self.stale = stale
        self.onSample = onSample
    }

    /// Starts the sampling thread.
    /// - Throws: `ThreadStartError` when the OS refuses a thread.
    package func start() throws(ThreadStartError) {
        try JoinableThread.detach(name: "flexminer-power") { [self] in run() }
        state.withLock { $0.started = true }
    }

    /// Waits at most `timeout` for the thread to end after `stop()` (a join with a bound: the thread is
    /// detached, so a source stuck where `interrupt()` cannot reach, a DNS lookup, never holds up the
    /// shutdown). True when it has ended, or never started.
    @discardableResult
    package func join(timeout: Duration) -> Bool {
        guard state.withLock({ $0.started }) else { return true }
        guard finished.wait(timeout: .now() + timeout.seconds) == .success else { return false }
        finished.signal()  // a later join returns at once too
        return true
    }

    /// Asks the thread to end and returns at once: a sample in progress (a meter that does not answer) is
    /// woken (`PowerSource.interrupt()`), and the thread then closes the source.
    package func stop() {
        state.withLock { $0.stopping = true }
        source.interrupt()
        wake.signal()
    }

    /// The reading as of `now` (monotonic seconds); never waits for the source.
    package func current(now: Double = Monotonic.seconds()) -> Reading {
        state.withLock { s in
            let age = s.last.map { max(0, now - $0.at) }
            let fresh = age.map { $0 <= stale } ?? false
            return Reading(
                source: source.kind, modelled: source.modelled, watts: fresh ? s.last?.watts : nil,
                energyJoules: s.last?.energy, stale: !fresh, age: age, error: s.error, errors: s.errors,
                samples: s.samples)
        }
    }

    /// Takes one sample now and records it (the thread's body; tests call it directly).
    @discardableResult
    package func sampleOnce() -> Sample {
        let now = Monotonic.seconds()
        let result = source.sample(at: now)
        let taken = Monotonic.seconds()
        state.withLock { s in
            s.samples += 1
            switch result {
            case .success(let r):
                s.last = (r.watts, r.energyJoules, taken)
                s.error = nil
            case .failure(let e):
                s.error = e
                let reason = PowerError.label(e.reason)
                let key = s.errors[reason] != nil || s.errors.count < Self.maxReasons ? reason : "other"
                s.errors[key, default: 0] += 1
            }
        }
        let sample = Sample(
            source: source.kind, modelled: source.modelled, time: Date(), monotonic: taken, result: result)
        onSample(sample)
        return sample
    }

    private func run() {
        // The source's starting point is taken here, on this thread, and the first sample one interval on:
        // it covers that interval, not the time between the source's making and the start.
        let start = Monotonic.seconds()
        source.begin(at: start)
        var next = start + interval
        _ = wake.wait(timeout: .now() + interval)
        while !state.withLock({ $0.stopping }) {
            sampleOnce()
            next += interval
            let now = Monotonic.seconds()
            // Behind (a slow meter): the missed ticks are skipped, not taken in a burst.
            if next < now { next = now + interval - (now - next).truncatingRemainder(dividingBy: interval) }
            _ = wake.wait(timeout: .now() + max(0, next - now))
        }
        source.close()
        finished.signal()
    }
}
