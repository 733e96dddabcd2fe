import Foundation
import Synchronization

/// The engine's control word and the condition variable workers block on.
///
/// Controllers change the atomics, then `wakeAll()` (lock + broadcast); workers read the atomics once
/// per batch and evaluate their wait predicates under the same lock, so no wake-up is lost.
final class Control: Sendable {
    enum Mode: Equatable {
        case run
        /// Hash this percentage of each 100 ms period.
        case duty(Int)
        case park
    }

    let stopping = Atomic<Bool>(false)
    let halted = Atomic<Bool>(false)
    let epoch = Atomic<UInt64>(0)
    let jobGeneration = Atomic<UInt64>(0)
    let capacityPercent = Atomic<Int>(100)
    /// Workers 0..<fullWorkers hash all the time; worker `fullWorkers` hashes `dutyPercent` of the time.
    let fullWorkers = Atomic<Int>(0)
    let dutyPercent = Atomic<Int>(0)
    /// Workers currently blocked (halted, beyond capacity, between duty periods, or without a job).
    let parked = Atomic<Int>(0)
    let condition = NSCondition()

    func setCapacity(percent: Int, workers: Int) {
        let units = percent * workers
        fullWorkers.store(units / 100, ordering: .sequentiallyConsistent)
        dutyPercent.store(units % 100, ordering: .sequentiallyConsistent)
        capacityPercent.store(percent, ordering: .sequentiallyConsistent)
        bumpEpoch()
    }

    @inline(__always)
    func mode(for index: Int, workers: Int) -> Mode {
        if halted.load(ordering: .relaxed) { return .park }
        let full = fullWorkers.load(ordering: .relaxed)
        if index < full { return .run }
        if index == full {
            let duty = dutyPercent.load(ordering: .relaxed)
            if duty > 0 { return .duty(duty) }
        }
        return .park
    }

    /// Workers that should be hashing (at least part of the time) under the current settings.
    func workersWanted(_ workers: Int) -> Int {
        if halted.load(ordering: .relaxed) { return 0 }
        return Swift.min(
            workers, fullWorkers.load(ordering: .relaxed) + (dutyPercent.load(ordering: .relaxed) > 0 ? 1 : 0))
    }

    func bumpEpoch() { epoch.add(1, ordering: .sequentiallyConsistent) }

    func wakeAll() {
        condition.lock()
        condition.broadcast()
        condition.unlock()
    }

    /// Blocks the calling worker until `resume()` returns true; counts it as parked meanwhile.
    func park(until resume: () -> Bool) {
        condition.lock()
        parked.add(1, ordering: .sequentiallyConsistent)
        condition.broadcast()  // a halt() may be waiting for this acknowledgement
        while !resume() { condition.wait() }
        parked.subtract(1, ordering: .sequentiallyConsistent)
        condition.broadcast()
        condition.unlock()
    }

    /// Sleeps until `deadline` or the next control change, counted as parked (used by duty cycles).
    func sleep(until deadline: ContinuousClock.Instant) {
        let remaining = deadline - .now
        guard remaining > .zero else { return }
        let seconds = Double(remaining.components.seconds) + Double(remaining.components.attoseconds) * 1e-18
        let startEpoch = epoch.load(ordering: .relaxed)
        condition.lock()
        parked.add(1, ordering: .sequentiallyConsistent)
        condition.broadcast()
        if epoch.load(ordering: .relaxed) == startEpoch {
            _ = condition.wait(until: Date(timeIntervalSinceNow: seconds))
        }
        parked.subtract(1, ordering: .sequentiallyConsistent)
        condition.unlock()
    }

    /// Blocks the caller (a controller, not a worker) until `done()` or the timeout.
    func waitUntil(timeout: Duration = .seconds(10), _ done: () -> Bool) {
        let deadline = Date(timeIntervalSinceNow: Double(timeout.components.seconds))
        condition.lock()
        while !done() {
            if !condition.wait(until: deadline) { break }
        }
        condition.unlock()
    }
}

/// Samples of (time, total hashes) for sliding-window hash rates.
struct RateMeter {
    private var samples: [(ContinuousClock.Instant, UInt64)] = []

    mutating func record(_ t: ContinuousClock.Instant, total: UInt64) {
        if let last = samples.last, t - last.0 < .milliseconds(200) { return }
        samples.append((t, total))
        // Keep a little over a minute of history.
        while let first = samples.first, t - first.0 > .seconds(61), samples.count > 2 { samples.removeFirst() }
    }

    /// Hashes per second from the newest sample at least `window` old (or the first sample, while the
    /// engine is younger than the window) to the latest.
    func rate(over window: Duration, now: ContinuousClock.Instant) -> Double {
        guard let latest = samples.last else { return 0 }
        guard let base = samples.last(where: { now - $0.0 >= window }) ?? samples.first, base.0 < latest.0 else {
            return 0
        }
        let dt = latest.0 - base.0
        let secs = Double(dt.components.seconds) + Double(dt.components.attoseconds) * 1e-18
        return Double(latest.1 &- base.1) / secs
    }
}
