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
package enum ThreadStates {
    /// The state letter of thread `tid` of process `pid` (R running/runnable, S sleeping, D, …), or nil.
    /// Bytes only, no text: the bench's observer calls it every 20 µs.
    package static func state(pid: Int32 = getpid(), tid: Int32) -> UInt8? {
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

    /// What the scheduler has accounted to one thread so far.
    package struct Accounting: Sendable {
        /// Time on a CPU. Under paravirtual steal accounting (KVM guests) time the hypervisor took the
        /// vCPU away is not counted; interrupt time is, unless the kernel has IRQ_TIME_ACCOUNTING.
        package var onCPU: Duration
        /// Time runnable but waiting for a CPU (from schedstat); nil when the kernel does not collect it
        /// (it does with `sysctl kernel.task_delayacct=1` or schedstats).
        package var waiting: Duration?
        /// Involuntary context switches: times another thread of this OS took its CPU.
        package var preempted: Int
        /// Page faults served without I/O (code or data touched for the first time).
        package var minorFaults: Int

        package init(onCPU: Duration, waiting: Duration?, preempted: Int, minorFaults: Int) {
            (self.onCPU, self.waiting, self.preempted, self.minorFaults) = (onCPU, waiting, preempted, minorFaults)
        }
    }

    /// The accounting of thread `tid` of this process, or nil when it is gone.
    package static func accounting(tid: Int32) -> Accounting? {
        guard let cpu = ThreadCPUTime.of(thread: tid) else { return nil }
        let task = "/proc/\(getpid())/task/\(tid)"
        var waiting: Duration? = nil
        if let text = smallFile(task + "/schedstat") {
            let f = text.split(separator: " ").compactMap { Int64($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            // "run_ns wait_ns slices"; all zero when the kernel does not collect them.
            if f.count == 3 && f[0] > 0 { waiting = .nanoseconds(f[1]) }
        }
        var preempted = 0
        if let status = smallFile(task + "/status"),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("nonvoluntary_ctxt_switches:") }),
            let n = Int(line.split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "")
        {
            preempted = n
        }
        let faults = statField(10, tid: tid) ?? 0
        return Accounting(onCPU: cpu, waiting: waiting, preempted: preempted, minorFaults: faults)
    }

    /// A /proc file of at most 4 KiB, as text.
    static func smallFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return nil }
        return String(decoding: buffer[..<n], as: UTF8.self)
    }

    /// Time the hypervisor reported as stolen from this machine's CPUs so far (/proc/stat, all CPUs,
    /// in clock ticks: 10 ms resolution), or nil when not reported.
    package static func stolenTime() -> Duration? {
        guard let text = smallFile("/proc/stat"), let line = text.split(separator: "\n").first,
            line.hasPrefix("cpu ")
        else { return nil }
        let f = line.split(separator: " ").dropFirst().compactMap { Int64($0) }
        guard f.count >= 8, f[7] >= 0, f[7] < Int64.max / 10_000_000 else { return nil }
        let hz = Int64(sysconf(Int32(_SC_CLK_TCK)))
        guard hz > 0 else { return nil }
        return .milliseconds(f[7] * 1000 / hz)
    }

    /// The CPU thread `tid` last ran on (/proc stat field 39), or nil.
    package static func lastCPU(pid: Int32 = getpid(), tid: Int32) -> Int? { statField(39, pid: pid, tid: tid) }

    /// Numeric field `number` (counted from 1, as proc(5) does) of /proc/PID/task/TID/stat, or nil.
    static func statField(_ number: Int, pid: Int32 = getpid(), tid: Int32) -> Int? {
        guard number >= 3, let text = smallFile("/proc/\(pid)/task/\(tid)/stat"), let close = text.lastIndex(of: ")")
        else { return nil }
        // "tid (comm) S ...": comm may itself hold ") ", so the fields from 3 on follow the last ')'.
        let fields = text[text.index(after: close)...].split(separator: " ")
        return number - 3 < fields.count ? Int(fields[number - 3]) : nil
    }

    /// Whether every thread in `tids` is blocked (sleeping, not runnable).
    package static func allBlocked(_ tids: [Int32], pid: Int32 = getpid()) -> Bool {
        tids.allSatisfy { state(pid: pid, tid: $0).map { $0 == UInt8(ascii: "S") || $0 == UInt8(ascii: "D") } ?? true }
    }

    /// Whether every thread in `tids` is running or runnable.
    package static func allRunnable(_ tids: [Int32], pid: Int32 = getpid()) -> Bool {
        tids.allSatisfy { state(pid: pid, tid: $0) == UInt8(ascii: "R") }
    }
}

/// Curtailment latency as an operator would see it: from a `curtail` line written to the Unix socket
/// until every worker thread is blocked according to /proc, and from `release` until every worker is
/// runnable again, with all CPUs hashing between events.
package enum SignalLatencyBench {
    package struct Samples: Sendable {
        /// Socket write to all workers blocked (/proc).
        package var halts: [Duration] = []
        /// Socket write to all workers runnable (/proc).
        package var resumes: [Duration] = []
        /// The controller's own receipt-to-halted figure from each reply.
        package var receiptToHalted: [Duration] = []
        /// The engine's own resume latency (call to every wanted worker unparked) from each reply.
        package var resumeInside: [Duration] = []
        /// Events whose state was not observed within the timeout.
        package var timeouts = 0
        /// The signal thread's scheduling policy ("fifo" when it could be raised, else "other").
        package var controlThread = "other"
        /// The observer's (the thread writing the lines and polling /proc).
        package var observer = "other"
        /// Curtailments slower than `slowThreshold` from outside, each taken apart (at most
        /// `slowLimit` kept; `slowCount` counts them all).
        package var slow: [SlowHalt] = []
        package var slowCount = 0
        /// Steal time the hypervisor reported over the run (/proc/stat, 10 ms resolution).
        package var stolen: Duration?
        /// How long the run took.
        package var wall: Duration = .zero
    }

    /// Outside halts slower than this are taken apart step by step.
    package static let slowThreshold = Duration.milliseconds(1)
    package static let slowLimit = 100

    /// One slow curtailment, step by step: where its time went and what the scheduler says the thread
    /// responsible for that step was doing.
    package struct SlowHalt: Sendable {
        package enum Step: Sendable, Equatable {
            /// Line written → `halt()` began: the socket, the control thread's wake-up, decoding, policy.
            case controller
            /// `halt()` began → this worker counted itself parked: its batch, its wake-up if boosted.
            case worker(Int)
            /// Last worker parked → every worker blocked in /proc: falling asleep, the observer's polling.
            case asleep
        }
        package enum Cause: String, Sendable {
            /// The thread was on a CPU as this OS counts it: work, interrupts, or a hypervisor stall not
            /// reported as steal.
            case onCPU = "on CPU"
            /// Runnable, waiting for a CPU of this OS (schedstat).
            case waiting = "waiting for a CPU"
            /// Another thread of this OS took its CPU (no schedstat to say for how long).
            case preempted = "preempted in this OS"
            /// Neither on a CPU nor waiting nor preempted as this OS sees it: its vCPU was not running
            /// (the hypervisor's), or, for the controller, its wake-up was late.
            case offCPU = "off CPU, not preempted"
        }
        /// Line written → every worker blocked (/proc).
        package var total: Duration
        /// Line written → `halt()` began.
        package var controller: Duration?
        /// Of that, the controller's receipt (its read of the line) → `halt()` began: parsing and policy.
        /// The rest is the socket and the control thread's wake-up.
        package var decide: Duration?
        /// `halt()` began → worker i parked.
        package var workers: [Duration?]
        /// Last worker parked → all blocked seen.
        package var asleep: Duration?
        /// The CPU each worker was on (last ran on) just before the line was written.
        package var workerCPUs: [Int?] = []
        /// The longest step, and what its thread was doing.
        package var step: Step
        package var cause: Cause
        /// That thread's accounting over the event (line written → all blocked). The cause is named
        /// from it; for the controller step, without its CPU time inside `halt()` (`haltCPU`).
        package var onCPU: Duration?
        package var waiting: Duration?
        package var preempted: Int?
        package var minorFaults: Int?
        /// `halt()` began → its first boost of every worker done (syscalls), and how many re-boosts followed.
        package var boosting: Duration?
        package var reboosts = 0
        /// CPU time the controller was charged inside `halt()`.
        package var haltCPU: Duration?
        /// Which event of the run it was (0: the first, whose code paths run for the first time).
        package var index = 0
        /// Every traced thread's accounting over the event: the control thread, then each worker.
        package var threads: [ThreadStates.Accounting?] = []
    }

    /// Runs `events` curtail/release cycles against `engine` (which must be hashing) through a real
    /// controller and Unix socket at `socketPath`. Blocking: call it from a thread that may block.
    package static func run(engine: MiningEngine, events: Int, socketPath: String) throws(SignalError) -> Samples {
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
        let controlTID = (try? group.next().submit { ControlThread.currentThreadID }.wait()) ?? 0
        var samples = Samples()
        samples.controlThread = controlPolicy
        // The observer (this thread: it writes the lines and polls /proc) is an instrument: at normal
        // priority on a busy machine its own wake-ups would be measured. Real-time when permitted, and
        // put back as it was afterwards.
        let saved = ControlThread.raiseCurrentSaved()
        defer { saved?.restore() }
        samples.observer = ControlThread.currentPolicy
        var rng = SystemRandomNumberGenerator()
        let probe = Probe(client: client, engine: engine, tids: tids, traced: [controlTID] + tids)
        Thread.sleep(forTimeInterval: 0.1)
        let stolenBefore = ThreadStates.stolenTime()
        let runStart = ContinuousClock.now
        for index in 0..<events {
            Thread.sleep(forTimeInterval: Double.random(in: 0.001...0.005, using: &rng))
            try probe.curtail(index: index, into: &samples)
            Thread.sleep(forTimeInterval: 0.001)
            try probe.release(into: &samples)
        }
        samples.wall = .now - runStart
        if let a = stolenBefore, let b = ThreadStates.stolenTime() { samples.stolen = b - a }
        return samples
    }

    /// Splits a slow curtailment into its steps and names what the thread of the longest one was doing.
    /// `before`/`after`: accounting of the control thread, then of each worker.
    package static func takeApart(
        total: Duration, written: ContinuousClock.Instant, trace: MiningEngine.HaltTrace, decide: Duration?,
        before: [ThreadStates.Accounting?], after: [ThreadStates.Accounting?]
    ) -> SlowHalt {
        let seen = written + total
        let controller = trace.started.map { $0 - written }
        // A worker that had not left its previous park when this halt began did not park again.
        let workers: [Duration?] = trace.parked.map { p in
            guard let p, let s = trace.started else { return nil }
            return p >= s ? p - s : .zero
        }
        let lastPark = trace.parked.compactMap { $0 }.max()
        let asleep = lastPark.map { seen - $0 }
        var step = SlowHalt.Step.controller
        var longest = controller ?? .zero
        for (i, w) in workers.enumerated() where (w ?? .zero) > longest {
            (step, longest) = (.worker(i), w ?? .zero)
        }
        if let a = asleep, a > longest { (step, longest) = (.asleep, a) }
        // The thread of that step and the span in which it should have been on a CPU.
        let index: Int
        let span: Duration
        switch step {
        case .controller: (index, span) = (0, longest)
        case .worker(let i):
            // A worker hashes from the line's write until it parks.
            index = i + 1
            span = (trace.parked[i]).map { $0 - written } ?? longest
        case .asleep:
            let i = trace.parked.firstIndex { $0 == lastPark } ?? 0
            (index, span) = (i + 1, longest)
        }
        var onCPU: Duration? = nil
        var waiting: Duration? = nil
        var preempted: Int? = nil
        var faults: Int? = nil
        if index < before.count, index < after.count, let b = before[index], let a = after[index] {
            onCPU = a.onCPU - b.onCPU
            if let w0 = b.waiting, let w1 = a.waiting { waiting = w1 - w0 }
            preempted = a.preempted - b.preempted
            faults = a.minorFaults - b.minorFaults
        }
        // The control thread's accounting runs to the end of the event, through `halt()` (which polls
        // while real-time): only what came before `halt()` belongs to the controller step.
        let stepCPU = onCPU.map { c in step == .controller ? c - (trace.cpu ?? .zero) : c }
        let cause: SlowHalt.Cause
        if let c = stepCPU, c * 2 >= span {
            cause = .onCPU
        } else if let w = waiting, w * 2 >= span {
            cause = .waiting
        } else if let p = preempted, p > 0, waiting == nil {
            cause = .preempted
        } else {
            cause = .offCPU
        }
        var e = SlowHalt(
            total: total, controller: controller, decide: decide, workers: workers, asleep: asleep, step: step,
            cause: cause,
            onCPU: onCPU, waiting: waiting, preempted: preempted, minorFaults: faults)
        if let a = trace.started, let b = trace.boosted { e.boosting = b - a }
        e.reboosts = trace.reboosts
        e.haltCPU = trace.cpu
        e.threads = zip(before, after).map { b, a in
            guard let b, let a else { return nil }
            return ThreadStates.Accounting(
                onCPU: a.onCPU - b.onCPU, waiting: a.waiting.flatMap { w in b.waiting.map { w - $0 } },
                preempted: a.preempted - b.preempted, minorFaults: a.minorFaults - b.minorFaults)
        }
        return e
    }

    static func waitFor(_ done: () -> Bool, since start: ContinuousClock.Instant) -> Duration? {
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
    package func closeBlocking() throws {
        let done = DispatchSemaphore(value: 0)
        Task {
            await self.close()
            done.signal()
        }
        done.wait()
    }
}

extension SignalLatencyBench.SlowHalt.Step: CustomStringConvertible {
    package var description: String {
        switch self {
        case .controller: "controller"
        case .worker(let i): "worker \(i)"
        case .asleep: "asleep"
        }
    }
}

extension SignalLatencyBench.SlowHalt {
    private static func ms(_ d: Duration?) -> Double? { d?.milliseconds }

    /// The step and cause in a few words, for tallies: "worker: waiting for a CPU".
    package var kind: String {
        switch step {
        case .controller:
            // Split where the reply says how long parsing and policy took.
            let deciding = decide.map { d in controller.map { d * 2 > $0 } ?? false } ?? false
            return "controller (\(deciding ? "parse and policy" : "socket and wake-up")): \(cause.rawValue)"
        case .worker: return "worker: \(cause.rawValue)"
        case .asleep: return "asleep: \(cause.rawValue)"
        }
    }

    /// One line: the total, each step, and the cause named for the longest.
    package var summary: String {
        func f(_ d: Duration?) -> String { Self.ms(d).map { String(format: "%.3f", $0) } ?? "?" }
        let w = workers.enumerated().map { "w\($0.offset) \(f($0.element))" }.joined(separator: ", ")
        var s =
            "\(f(total)) ms: controller \(f(controller)) (decide \(f(decide))), \(w), asleep \(f(asleep)) -> \(step): \(cause.rawValue)"
        s += " (on CPU \(f(onCPU)) ms"
        if let waiting { s += ", waiting \(f(waiting)) ms" }
        if let preempted { s += ", preempted \(preempted)x" }
        if let minorFaults { s += ", \(minorFaults) page faults" }
        s += "; workers were on CPUs " + workerCPUs.map { $0.map(String.init) ?? "?" }.joined(separator: ",")
        return s + ")"
    }

    /// The same as JSON-ready fields (milliseconds).
    package var json: [String: Any] {
        var o: [String: Any] = [
            "total_ms": Self.ms(total) ?? 0, "step": step.description, "cause": cause.rawValue, "kind": kind,
            "workers_ms": workers.map { Self.ms($0) ?? -1 },
        ]
        if let c = Self.ms(controller) { o["controller_ms"] = c }
        if let a = Self.ms(asleep) { o["asleep_ms"] = a }
        if let d = Self.ms(decide) { o["decide_ms"] = d }
        if let c = Self.ms(onCPU) { o["on_cpu_ms"] = c }
        if let w = Self.ms(waiting) { o["waiting_ms"] = w }
        if let preempted { o["preempted"] = preempted }
        if let minorFaults { o["minor_faults"] = minorFaults }
        o["worker_cpus"] = workerCPUs.map { $0 ?? -1 }
        o["index"] = index
        if let b = Self.ms(boosting) { o["boosting_ms"] = b }
        o["reboosts"] = reboosts
        if let c = Self.ms(haltCPU) { o["halt_cpu_ms"] = c }
        o["threads"] = threads.enumerated().map { i, t -> [String: Any] in
            var o: [String: Any] = ["thread": i == 0 ? "control" : "worker \(i - 1)"]
            guard let t else { return o }
            o["on_cpu_ms"] = Self.ms(t.onCPU) ?? 0
            if let w = Self.ms(t.waiting) { o["waiting_ms"] = w }
            o["preempted"] = t.preempted
            o["minor_faults"] = t.minorFaults
            return o
        }
        return o
    }
}
