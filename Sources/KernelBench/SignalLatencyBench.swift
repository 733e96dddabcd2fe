import DemandResponse
import FlexSupport
import Foundation
import LoadController
import Mining
import NIOPosix

#if canImport(Glibc)
    import Glibc
#endif

/// Scheduler states of threads as /proc shows them: how a halt is checked from outside the engine.
public enum ThreadStates {
    /// The state letter of thread `tid` of process `pid` (R running/runnable, S sleeping, D, …), or nil.
    public static func state(pid: Int32 = getpid(), tid: Int32) -> UInt8? {
        var path = "/proc/\(pid)/task/\(tid)/stat"
        let fd = path.withUTF8 { p in
            p.withMemoryRebound(to: CChar.self) { open($0.baseAddress!, O_RDONLY | O_CLOEXEC) }
        }
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = (0..<512).map { _ in UInt8(0) }
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return nil }
        // "tid (comm) S ..." where comm may itself contain ") ": the state follows the last ')'.
        guard let close = buffer[..<n].lastIndex(of: UInt8(ascii: ")")), close + 2 < n else { return nil }
        return buffer[close + 2]
    }

    /// Whether every thread in `tids` is blocked (sleeping, not runnable).
    public static func allBlocked(_ tids: [Int32], pid: Int32 = getpid()) -> Bool {
        tids.allSatisfy { state(pid: pid, tid: $0).map { $0 == UInt8(ascii: "S") || $0 == UInt8(ascii: "D") } ?? true }
    }

    /// Whether every thread in `tids` is running or runnable.
    public static func allRunnable(_ tids: [Int32], pid: Int32 = getpid()) -> Bool {
        tids.allSatisfy { state(pid: pid, tid: $0) == UInt8(ascii: "R") }
    }
}

/// Curtailment latency as an operator would see it: from a `curtail` line written to the Unix socket
/// until every worker thread is blocked according to /proc, and from `release` until every worker is
/// runnable again, with all CPUs hashing between events.
public enum SignalLatencyBench {
    public struct Samples: Sendable {
        /// Socket write to all workers blocked (/proc).
        public var halts: [Duration] = []
        /// Socket write to all workers runnable (/proc).
        public var resumes: [Duration] = []
        /// The controller's own receipt-to-halted figure from each reply.
        public var receiptToHalted: [Duration] = []
        /// The engine's own resume latency (call to every wanted worker unparked) from each reply.
        public var resumeInside: [Duration] = []
        /// Events whose state was not observed within the timeout.
        public var timeouts = 0
        /// The signal thread's scheduling policy ("fifo" when it could be raised, else "other").
        public var controlThread = "other"
        /// The observer's (the thread writing the lines and polling /proc).
        public var observer = "other"
    }

    /// Runs `events` curtail/release cycles against `engine` (which must be hashing) through a real
    /// controller and Unix socket at `socketPath`. Blocking: call it from a thread that may block.
    public static func run(engine: MiningEngine, events: Int, socketPath: String) throws(SignalError) -> Samples {
        let controller = LoadController(
            actuator: engine, config: PolicyConfig(breakEvenUSDPerMWh: .greatestFiniteMagnitude), priceActive: false)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        // As `run` does: the signal thread is real-time when permitted.
        let controlPolicy =
            (try? group.next().submit { () -> String in
                _ = ControlThread.raiseCurrent()
                return ControlThread.currentPolicy
            }.wait()) ?? "other"
        let spec = SignalSourceSpec.unix(path: socketPath)
        let server = try blockingStart(spec, controller: controller, group: group)
        defer { try? server.closeBlocking() }
        let client = try SignalClient(spec)
        let tids = engine.workerThreadIDs
        var samples = Samples()
        samples.controlThread = controlPolicy
        // The observer (this thread: it writes the lines and polls /proc) is an instrument: at normal
        // priority on a busy machine its own wake-ups would be measured. Real-time when permitted, and
        // put back as it was afterwards.
        let saved = ControlThread.raiseCurrentSaved()
        defer { saved?.restore() }
        samples.observer = ControlThread.currentPolicy
        var rng = SystemRandomNumberGenerator()
        let curtail = Array(#"{"type":"curtail","level":1.0,"id":"bench"}"#.utf8) + [10]
        let release = Array(#"{"type":"release","id":"bench"}"#.utf8) + [10]
        Thread.sleep(forTimeInterval: 0.1)
        for _ in 0..<events {
            Thread.sleep(forTimeInterval: Double.random(in: 0.001...0.005, using: &rng))
            var start = ContinuousClock.now
            try client.sendRaw(curtail)
            if let t = waitFor({ ThreadStates.allBlocked(tids) }, since: start) {
                samples.halts.append(t)
            } else {
                samples.timeouts += 1
            }
            let reply = try client.readLine()
            if let obj = try? JSONSerialization.jsonObject(with: Data(reply.utf8)) as? [String: Any],
                let ms = obj["receipt_to_halted_ms"] as? Double
            {
                samples.receiptToHalted.append(.nanoseconds(Int64(ms * 1e6)))
            }
            Thread.sleep(forTimeInterval: 0.001)
            start = ContinuousClock.now
            try client.sendRaw(release)
            if let t = waitFor({ ThreadStates.allRunnable(tids) }, since: start) {
                samples.resumes.append(t)
            } else {
                samples.timeouts += 1
            }
            let r = try client.readLine()
            if let obj = try? JSONSerialization.jsonObject(with: Data(r.utf8)) as? [String: Any],
                let ms = obj["resume_latency_ms"] as? Double
            {
                samples.resumeInside.append(.nanoseconds(Int64(ms * 1e6)))
            }
        }
        return samples
    }

    private static func waitFor(_ done: () -> Bool, since start: ContinuousClock.Instant) -> Duration? {
        // Sleep between looks: a busy-polling observer would itself take a CPU from the controller.
        while !done() {
            if ContinuousClock.now - start > .seconds(1) { return nil }
            usleep(20)
        }
        return ContinuousClock.now - start
    }

    private static func blockingStart(
        _ spec: SignalSourceSpec, controller: LoadController, group: MultiThreadedEventLoopGroup
    ) throws(SignalError) -> SignalSocketServer {
        let box = ResultBox()
        let done = DispatchSemaphore(value: 0)
        Task {
            do {
                box.set(
                    .success(try await SignalSocketServer.start(spec, controller: controller, token: nil, group: group))
                )
            } catch {
                box.set(.failure(error as? SignalError ?? SignalError("\(error)")))
            }
            done.signal()
        }
        done.wait()
        return try box.get().get()
    }

    private final class ResultBox: @unchecked Sendable {
        // @unchecked: written once before the semaphore is signalled, read after it is awaited.
        private var value: Result<SignalSocketServer, SignalError>?
        func set(_ v: Result<SignalSocketServer, SignalError>) { value = v }
        func get() -> Result<SignalSocketServer, SignalError> { value! }
    }
}

extension SignalSocketServer {
    /// `close()` for synchronous callers.
    public func closeBlocking() throws {
        let done = DispatchSemaphore(value: 0)
        Task {
            await self.close()
            done.signal()
        }
        done.wait()
    }
}
