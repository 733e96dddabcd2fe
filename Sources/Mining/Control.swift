import CFlexThreads
import Foundation
import Synchronization

/// The engine's control word and the futex words workers and controllers sleep on.
///
/// Controllers change the atomics, then `wakeAll()`; a worker reads the wake word, re-checks the atomics,
/// and sleeps only while the word is unchanged, so no wake-up is lost. Acknowledgements (a worker parked
/// or unparked) go the other way through `ack`. No lock is shared with the workers: they run at low
/// priority, and a preempted worker holding a shared mutex would delay every halt and resume behind it.
///
/// A worker that another process keeps off the CPU cannot reach its next control check at all; for
/// that case `MiningEngine.halt()` boosts the stragglers' scheduling priority after a short grace period
/// (the worker clears the boost itself before it hashes again). That is a scheduling matter only: the
/// protocol above is unchanged, and no lock is involved.
final class Control: @unchecked Sendable {
    // @unchecked: besides the atomics, the two futex words are touched only through atomic C operations.
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
    /// Bumped by controllers after every change workers must see.
    private let wake: UnsafeMutablePointer<UInt32>
    /// Bumped by workers whenever they park or unpark.
    private let ack: UnsafeMutablePointer<UInt32>

    init() {
        wake = .allocate(capacity: 1)
        wake.initialize(to: 0)
        ack = .allocate(capacity: 1)
        ack.initialize(to: 0)
    }

    deinit {
        wake.deallocate()
        ack.deallocate()
    }

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

    /// Wakes every sleeping worker to re-read the control atomics.
    func wakeAll() { fm_word_signal(wake) }

    private func acknowledge(parking: Bool) {
        parked.add(parking ? 1 : -1, ordering: .sequentiallyConsistent)
        fm_word_signal(ack)
    }

    /// Blocks the calling worker until `resume()` returns true; counts it as parked meanwhile.
    func park(until resume: () -> Bool) {
        acknowledge(parking: true)  // a halt() may be waiting for this
        while true {
            let seen = fm_word_load(wake)
            if resume() { break }
            fm_word_wait(wake, seen, -1)
        }
        acknowledge(parking: false)
    }

    /// Sleeps until `deadline` or the next control change, counted as parked (used by duty cycles).
    func sleep(until deadline: ContinuousClock.Instant) {
        let startEpoch = epoch.load(ordering: .relaxed)
        acknowledge(parking: true)
        while true {
            let seen = fm_word_load(wake)
            let remaining = deadline - .now
            if remaining <= .zero || epoch.load(ordering: .relaxed) != startEpoch { break }
            let ns = remaining.components.seconds * 1_000_000_000 + remaining.components.attoseconds / 1_000_000_000
            fm_word_wait(wake, seen, ns)
        }
        acknowledge(parking: false)
    }

    /// Blocks the caller (a controller, not a worker) until `done()` or the timeout.
    func waitUntil(timeout: Duration = .seconds(10), _ done: () -> Bool) {
        let deadline = ContinuousClock.now + timeout
        while true {
            let seen = fm_word_load(ack)
            if done() { return }
            let remaining = deadline - .now
            if remaining <= .zero { return }
            fm_word_wait(
                ack, seen,
                remaining.components.seconds * 1_000_000_000 + remaining.components.attoseconds / 1_000_000_000)
        }
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
