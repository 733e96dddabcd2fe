import DemandResponse
import FlexSupport
import Foundation
import Synchronization

/// Records what a controller or simulator commands instead of hashing.
public final class FakeLoad: LoadActuator {
    public struct State: Sendable {
        public var halted = false
        public var capacity = 1.0
        public var halts = 0
        public var resumes = 0
        /// Every command in order: "halt", "resume", "capacity 0.5".
        public var commands: [String] = []
    }
    public let state = Mutex(State())
    public let threadCount: Int
    let haltLatency: Duration
    let resumeLatency: Duration

    public init(
        threads: Int = 4, haltLatency: Duration = .microseconds(10), resumeLatency: Duration = .microseconds(20)
    ) {
        threadCount = threads
        self.haltLatency = haltLatency
        self.resumeLatency = resumeLatency
    }

    public func halt() -> Duration {
        state.withLock {
            $0.halted = true
            $0.halts += 1
            $0.commands.append("halt")
        }
        return haltLatency
    }
    public func resume() -> Duration {
        state.withLock {
            $0.halted = false
            $0.resumes += 1
            $0.commands.append("resume")
        }
        return resumeLatency
    }
    public func setCapacity(_ fraction: Double) {
        state.withLock {
            $0.capacity = fraction
            $0.commands.append("capacity \(fraction)")
        }
    }
    public var isHalted: Bool { state.withLock { $0.halted } }
    public var activeWorkerCount: Int {
        state.withLock { $0.halted ? 0 : Int(($0.capacity * Double(threadCount)).rounded(.up)) }
    }
    public var hashRate: Double { 1e6 }
    /// The share of the machine hashing now.
    public var effective: Double { state.withLock { $0.halted ? 0 : $0.capacity } }
}

/// A virtual clock tests move by hand.
public final class TestClock: Sendable {
    public let now = Mutex(Date(timeIntervalSince1970: 1_717_200_000))
    public init() {}
    public func advance(_ seconds: Double) { now.withLock { $0 += seconds } }
    public var read: @Sendable () -> Date { { self.now.withLock { $0 } } }
}

/// A fresh directory under /tmp (short: Unix socket paths are limited to 107 bytes).
public func scratchDirectory() -> String {
    let path = "/tmp/fmt-\(UUID().uuidString.prefix(8))"
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// A JSON object from one line (empty when it is not one).
public func decode(_ reply: String) -> [String: Any] {
    (try? JSONSerialization.jsonObject(with: Data(reply.utf8)) as? [String: Any]) ?? [:]
}

/// Polls `condition` every millisecond for up to `seconds` (on the monotonic clock), blocking the thread:
/// the tests' one way to wait for something another thread does (`waitUntil` from async code).
public func eventually(within seconds: Double = 5, _ condition: () -> Bool) -> Bool {
    let deadline = ContinuousClock.now + (Duration.checked(seconds: seconds) ?? .seconds(5))
    while ContinuousClock.now < deadline {
        if condition() { return true }
        usleep(1000)
    }
    return condition()
}

/// `eventually` for async code: polls every `interval` without blocking a thread, calling `tick` first
/// each time (a test that drives a controller's timer as the CLI does).
public func waitUntil(
    within seconds: Double = 5, every interval: Duration = .milliseconds(10), tick: (() -> Void)? = nil,
    _ condition: () -> Bool
) async -> Bool {
    let deadline = ContinuousClock.now + (Duration.checked(seconds: seconds) ?? .seconds(5))
    while ContinuousClock.now < deadline {
        tick?()
        if condition() { return true }
        try? await Task.sleep(for: interval)
    }
    return condition()
}

/// The JSON lines of a file.
public func readLines(_ path: String) -> [[String: Any]] {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
    return text.split(separator: "\n").map { decode(String($0)) }
}

/// A reproducible random generator (SplitMix64) for randomized tests: the seed comes from
/// `FLEXMINER_TEST_SEED` or the clock, and is printed, so a failure can be replayed.
public struct SeededRNG: RandomNumberGenerator {
    public let seed: UInt64
    var generator: SplitMix64

    public init(_ test: String = #function) {
        let seed =
            ProcessInfo.processInfo.environment["FLEXMINER_TEST_SEED"].flatMap { UInt64($0) }
            ?? UInt64(truncatingIfNeeded: DispatchTime.now().uptimeNanoseconds)
        print("\(test): random seed \(seed) (replay with FLEXMINER_TEST_SEED=\(seed))")
        self.seed = seed
        generator = SplitMix64(seed: seed)
    }

    public mutating func next() -> UInt64 { generator.next() }
}
