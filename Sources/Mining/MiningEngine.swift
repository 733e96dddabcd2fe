import CFlexThreads
import Chain
import DemandResponse
import FlexSupport
import Foundation
import MiningKernels
import SHA256
import Synchronization

/// The nonce-search engine: owns the worker threads, hands out nonce ranges of the current job,
/// verifies and reports solutions, counts hashes, and obeys capacity and halt commands between small
/// batches of nonces.
///
/// Control flows to the workers only through atomics read once per batch; a batch is sized to about
/// 50 µs of hashing, so a halt takes effect within that. Workers that must not hash sleep on a futex
/// (no spinning, no lock shared with the controller).
package final class MiningEngine: Sendable {
    package let kernel: Kernel
    package let threadCount: Int
    /// Nonces per batch: between batches a worker checks the control word and the current job.
    package let batchSize: UInt32
    package let priority: WorkerPriority
    /// Whether each worker is pinned to its own CPU (round-robin over the CPUs this process may use).
    package let pinsThreads: Bool
    let cpus: [Int]

    /// Solutions and exhaustion notices, in the order they happened. Finishes when the engine stops.
    package let events: AsyncStream<MiningEvent>
    let continuation: AsyncStream<MiningEvent>.Continuation

    let source: (any JobSource)?
    let control = Control()
    private let workers: [WorkerState]
    let current = Mutex<JobState?>(nil)
    private let threads = Mutex<[JoinableThread]>([])
    private let meter = Mutex(RateMeter())
    private let haltLatencies = Mutex<[Duration]>([])
    private let resumeLatencies = Mutex<[Duration]>([])
    let jobsStarted = Atomic<Int>(0)
    private let boosts = Atomic<Int>(0)
    let liveThreads = Atomic<Int>(0)
    /// Lineage of the last `setJob` (0 after `clearJob`): solutions of other lineages are stale.
    let currentLineage = Atomic<UInt64>(0)
    /// The instant the trace's nanosecond offsets count from (atomics cannot hold an `Instant`).
    private let origin = ContinuousClock.now
    private let haltStartedAt = Atomic<Int64>(-1)
    private let haltFinishedAt = Atomic<Int64>(-1)
    private let haltBoostedAt = Atomic<Int64>(-1)
    private let haltRounds = Atomic<Int>(0)
    private let haltCPU = Atomic<Int64>(-1)

    /// Creates the engine and starts its workers (idle until `setJob`).
    /// - Parameters:
    ///   - threads: worker threads; default: one per CPU.
    ///   - batchSize: nonces per control check; default from the kernel's speed (about 50 µs).
    ///   - priority: scheduling priority of the workers (default `SCHED_IDLE`, as pooler's cpuminer does;
    ///     measured, it lets the signal-handling thread win a CPU fastest: see docs/performance.md).
    ///   - pinThreads: pin worker i to the i-th usable CPU (default off: on the VMs measured, pinning
    ///     made resumes slower, since a pinned worker must wait for its own idle vCPU to wake).
    /// - Throws: `EngineError` for a thread count outside 1...1024 or when threads cannot start.
    package init(
        kernel: Kernel = .best, threads: Int = ProcessInfo.processInfo.activeProcessorCount, batchSize: UInt32? = nil,
        priority: WorkerPriority = .idle, pinThreads: Bool = false, source: (any JobSource)? = nil
    ) throws(EngineError) {
        if let problem = ThreadCount.problem(threads, flag: "threads") { throw EngineError(problem) }
        self.kernel = kernel
        self.threadCount = threads
        self.batchSize = batchSize.map { Swift.max($0, UInt32(kernel.lanes)) } ?? MiningEngine.defaultBatch(kernel)
        self.priority = priority
        self.pinsThreads = pinThreads
        self.cpus = pinThreads ? CPUAffinity.allowedCPUs() : []
        self.source = source
        (events, continuation) = AsyncStream.makeStream(of: MiningEvent.self, bufferingPolicy: .unbounded)
        workers = (0..<threads).map { WorkerState(index: $0) }
        control.setCapacity(percent: 100, workers: threads)
        var started: [JoinableThread] = []
        do throws(ThreadStartError) {
            for w in workers {
                started.append(try JoinableThread(name: "flexminer-w\(w.index)") { [self] in self.workerLoop(w) })
            }
        } catch {
            control.stopping.store(true, ordering: .sequentiallyConsistent)
            control.wakeAll()
            for t in started { t.join() }
            throw EngineError.workerThread(error)
        }
        self.threads.withLock { $0 = started }
        meter.withLock { $0.record(ContinuousClock.now, total: 0) }
    }

    deinit {
        stopNow()
    }

    static func defaultBatch(_ k: Kernel) -> UInt32 {
        switch k.name {
        case .scalar: 64
        case .simd4: 128
        case .simd8, .simd16: 512
        default: 1024
        }
    }

    // MARK: Jobs

    /// Replaces the current job on all workers at once. Solutions still in flight for the old job
    /// are reported with `isStale`.
    package func setJob(_ job: MiningJob) {
        let state = JobState(job)
        current.withLock {
            $0 = state
            currentLineage.store(state.lineage, ordering: .sequentiallyConsistent)
        }
        jobsStarted.add(1, ordering: .relaxed)
        control.jobGeneration.add(1, ordering: .sequentiallyConsistent)
        control.wakeAll()
    }

    /// Stops hashing the current job (workers idle until the next `setJob`).
    package func clearJob() {
        current.withLock {
            $0 = nil
            currentLineage.store(0, ordering: .sequentiallyConsistent)
        }
        control.jobGeneration.add(1, ordering: .sequentiallyConsistent)
    }

    package var currentJob: MiningJob? { current.withLock { $0?.job } }

    /// Kernel thread ids of the workers (0 for one not started yet): what /proc/self/task lists, so that
    /// halts can be checked from outside the engine. Workers are named `flexminer-wN`.
    package var workerThreadIDs: [Int32] { workers.map { $0.threadID.load(ordering: .sequentiallyConsistent) } }

    /// Worker threads that have started and not yet exited (0 after `stop()`).
    package var liveWorkerThreads: Int { liveThreads.load(ordering: .sequentiallyConsistent) }

    // MARK: Control surface

    /// Sets the share of the machine to hash with, in 1 % steps: whole workers, plus a duty cycle on
    /// the last one for the fraction (e.g. 0.5 of 3 workers: one full, one hashing 50 ms of every
    /// 100 ms). Values are clamped to [0, 1]; NaN means 0.
    package func setCapacity(_ fraction: Double) {
        let percent = fraction.isNaN ? 0 : Int((Swift.min(Swift.max(fraction, 0), 1) * 100).rounded())
        control.setCapacity(percent: percent, workers: threadCount)
        control.wakeAll()
    }

    /// The capacity last set, in [0, 1]: the duty fraction the workers hash at when not halted (a halt
    /// leaves it as it was). What the host is doing is `effectiveCapacity`.
    package var capacity: Double { Double(control.capacityPercent.load(ordering: .relaxed)) / 100 }

    /// What the workers are doing, in [0, 1]: 0 while halted (a curtailment, the fail-safe, a pause, a
    /// work source that stopped), else the capacity set.
    package var effectiveCapacity: Double { Self.effectiveCapacity(setting: capacity, halted: isHalted) }

    /// The effective capacity of a setting and a halt: DemandResponse's one definition.
    package static func effectiveCapacity(setting: Double, halted: Bool) -> Double {
        DemandResponse.effectiveCapacity(setting: setting, halted: halted)
    }

    /// Halts every worker and returns once each has acknowledged (is out of the kernel and blocked),
    /// with the measured latency from the call to the last acknowledgement. Idempotent.
    ///
    /// A worker normally acknowledges within one batch (tens of microseconds), but workers run at
    /// `SCHED_IDLE`, so any other busy process keeps a preempted worker waiting for up to hundreds of
    /// milliseconds with its batch unfinished (measured: halt p99 98 ms on a 2-vCPU VM shared with two
    /// compilers). So every worker is given real-time priority (`fm_thread_boost`) at the halt until it
    /// has parked: it finishes its batch at once, parks, sleeps, and drops back to its own priority when
    /// it is resumed, before it hashes again; one still out after `boostAfter` is boosted again every
    /// millisecond. Workers at `SCHED_IDLE` may be boosted only with CAP_SYS_NICE (or RLIMIT_NICE 20);
    /// without it the boost is refused (EPERM), remembered, and halts simply wait.
    ///
    /// For the same reason the calling thread runs at real-time priority while it waits (its previous
    /// policy is restored before returning): otherwise each of its wake-ups — the grace timeout, every
    /// acknowledgement — can wait for another process's time slice (milliseconds) on a busy machine.
    @discardableResult
    package func halt() -> Duration {
        let start = ContinuousClock.now
        haltStartedAt.store(offset(start), ordering: .relaxed)
        var (policy, priority): (Int32, Int32) = (0, 0)
        var callerBoosted = false
        if Self.callerBoostPermitted.load(ordering: .relaxed) {
            let rc = fm_self_boost(&policy, &priority)
            if rc == EPERM { Self.callerBoostPermitted.store(false, ordering: .relaxed) }
            callerBoosted = rc == 0
        }
        defer { if callerBoosted { fm_self_restore(policy, priority) } }
        control.halted.store(true, ordering: .sequentiallyConsistent)
        control.bumpEpoch()
        // After the workers were told (a syscall: this clock has no vDSO path).
        let cpuAtStart = ThreadCPUTime.current()
        // Every worker at once, not only stragglers: a worker's acknowledgement wakes this (real-time)
        // thread, which preempts it on its CPU between counting itself parked and going to sleep; at
        // `SCHED_IDLE` it then stays runnable behind any other busy process for tens of milliseconds
        // (measured: outside p99 21 ms with two CPU hogs). Boosted, it sleeps as soon as this thread
        // yields or blocks. Halts are rare; the cost is one syscall per worker here and one at its resume.
        var workersBoosted = false
        if Self.workerBoostPermitted.load(ordering: .relaxed) {
            boostWorkers()
            workersBoosted = Self.workerBoostPermitted.load(ordering: .relaxed)
        }
        haltBoostedAt.store(workersBoosted ? offset(.now) : -1, ordering: .relaxed)
        let allParked = { self.control.parked.load(ordering: .sequentiallyConsistent) >= self.threadCount }
        if callerBoosted && workersBoosted && (priority <= 1 || !Self.isRealTime(policy)) {
            // The caller (now SCHED_FIFO 1, like the boosted workers) polls through the grace period,
            // yielding its CPU to any worker queued on it, instead of sleeping on the futex: no timer to
            // program, no wake-up to wait for. Measured on a 2-vCPU VM (`bench --signal-latency`, runs
            // interleaved): with the sleep, a worker stayed runnable but off CPU for 1–3 ms in 16–30
            // curtailments per 50–60 runs of 300, with polling in 4–8; polling for 3 ms instead was
            // worse (139). Why the sleep let that happen is not known (the time went to the hypervisor:
            // see docs/performance.md). It costs at most `boostAfter` of one CPU per halt. Otherwise the
            // caller sleeps: a yield only lets real-time threads of its own priority run, so it would
            // hold up workers that could not be boosted, or a caller already at a higher priority would.
            let until = ContinuousClock.now + Self.boostAfter
            while !allParked() && ContinuousClock.now < until { sched_yield() }
        } else {
            control.waitUntil(timeout: Self.boostAfter, allParked)
        }
        var rounds = 0
        // Boost again every millisecond while some worker is still out: a boost can cross a worker's
        // own restore of its priority (a resume just before), and then only a second one takes.
        let deadline = start + .seconds(10)
        while !allParked() && ContinuousClock.now < deadline {
            rounds += 1
            boostWorkers()
            control.waitUntil(timeout: .milliseconds(1), allParked)
        }
        let end = ContinuousClock.now
        haltFinishedAt.store(offset(end), ordering: .relaxed)
        haltRounds.store(rounds, ordering: .relaxed)
        haltCPU.store(Self.nanoseconds(ThreadCPUTime.current() - cpuAtStart), ordering: .relaxed)
        let latency = end - start
        haltLatencies.withLock { Self.keep(latency, in: &$0) }
        return latency
    }

    /// When the last `halt()` began and ended and when each worker last went to park: what a benchmark
    /// needs to tell which step of a slow halt took the time (the controller, or which worker). The
    /// fields are separate atomics: with two `halt()` calls at once they may mix.
    package struct HaltTrace: Sendable {
        package let started: ContinuousClock.Instant?
        package let finished: ContinuousClock.Instant?
        /// When the first boost of every worker (one syscall each) was done; nil when boosting is not
        /// permitted.
        package let boosted: ContinuousClock.Instant?
        /// Rounds of waiting up to 1 ms after the grace period, each after boosting the workers again
        /// (when permitted).
        package let reboosts: Int
        /// CPU time the halting thread was charged during `halt()` (a real-time caller polls through the
        /// grace period, then sleeps between re-boosts).
        package let cpu: Duration?
        /// Per worker, the last time it counted itself parked (halted, beyond capacity, between duty
        /// periods, without a job), if it ever did: before `started` when it was parked already.
        package let parked: [ContinuousClock.Instant?]

        package init(
            started: ContinuousClock.Instant?, finished: ContinuousClock.Instant?, boosted: ContinuousClock.Instant?,
            reboosts: Int, cpu: Duration?, parked: [ContinuousClock.Instant?]
        ) {
            (self.started, self.finished, self.boosted, self.reboosts, self.cpu) = (
                started, finished, boosted, reboosts, cpu
            )
            self.parked = parked
        }
    }

    /// The trace of the latest halt. Read it after `halt()` returned (the offsets are separate atomics).
    package var lastHaltTrace: HaltTrace {
        func instant(_ ns: Int64) -> ContinuousClock.Instant? { ns < 0 ? nil : origin + .nanoseconds(ns) }
        return HaltTrace(
            started: instant(haltStartedAt.load(ordering: .relaxed)),
            finished: instant(haltFinishedAt.load(ordering: .relaxed)),
            boosted: instant(haltBoostedAt.load(ordering: .relaxed)), reboosts: haltRounds.load(ordering: .relaxed),
            cpu: { $0 < 0 ? nil : .nanoseconds($0) }(haltCPU.load(ordering: .relaxed)),
            parked: workers.map { instant($0.parkedAt.load(ordering: .relaxed)) })
    }

    private static func isRealTime(_ policy: Int32) -> Bool {
        let p = policy & ~0x4000_0000  // without SCHED_RESET_ON_FORK
        return p == SCHED_FIFO || p == SCHED_RR
    }

    /// Nanoseconds from `origin` (an engine runs far less than 292 years, so this does not overflow).
    func offset(_ t: ContinuousClock.Instant) -> Int64 { Self.nanoseconds(t - origin) }

    /// A duration in whole nanoseconds, for the trace's atomics (wrapping past 292 years).
    private static func nanoseconds(_ d: Duration) -> Int64 {
        d.components.seconds &* 1_000_000_000 &+ d.components.attoseconds / 1_000_000_000
    }

    /// How long `halt()` waits for workers to finish their batch before boosting the ones still out
    /// again: a few batches (a batch is about 50 µs).
    package static let boostAfter = Duration.microseconds(150)

    /// Workers given real-time priority by `halt()` so far (0 where the boost is not permitted).
    package var haltBoosts: Int { boosts.load(ordering: .relaxed) }

    private func boostWorkers() {
        guard Self.workerBoostPermitted.load(ordering: .relaxed) else { return }
        // Every worker, parked or not: one that counts as parked may still be on its way out of a
        // previous park (woken by a resume but not yet run), and must run again to park.
        for w in workers {
            let tid = w.threadID.load(ordering: .sequentiallyConsistent)
            guard tid != 0 else { continue }
            let rc = fm_thread_boost(tid)
            if rc == EPERM {
                Self.workerBoostPermitted.store(false, ordering: .relaxed)
                return
            }
            guard rc == 0 else { continue }
            // Set after the boost took effect: the worker's `settle` that sees it then always undoes it.
            w.boosted.store(true, ordering: .sequentiallyConsistent)
            boosts.add(1, ordering: .relaxed)
        }
    }

    /// Whether raising a thread to `SCHED_FIFO` was refused (EPERM), remembered per process, and
    /// separately for the halting thread itself (RLIMIT_RTPRIO ≥ 1 is enough) and for the workers: a
    /// worker at `SCHED_IDLE` may leave that policy only with CAP_SYS_NICE or an RLIMIT_NICE of 20
    /// (the kernel treats `SCHED_IDLE` as below nice 19).
    private static let callerBoostPermitted = Atomic<Bool>(true)
    private static let workerBoostPermitted = Atomic<Bool>(true)

    /// Tries the workers' boost once on a running worker (it drops back after its batch, as after a
    /// halt): true when halts can boost workers, false when the boost is refused, nil when no worker
    /// has started yet.
    package func probeWorkerBoost() -> Bool? {
        guard Self.workerBoostPermitted.load(ordering: .relaxed) else { return false }
        guard let w = workers.first(where: { $0.threadID.load(ordering: .sequentiallyConsistent) != 0 }) else {
            return nil
        }
        let rc = fm_thread_boost(w.threadID.load(ordering: .sequentiallyConsistent))
        if rc == EPERM {
            Self.workerBoostPermitted.store(false, ordering: .relaxed)
            return false
        }
        // Set after the boost took effect, so the worker's next `settle` undoes it.
        if rc == 0 { w.boosted.store(true, ordering: .sequentiallyConsistent) }
        return rc == 0
    }

    /// Drops a boost given by `halt()` once the engine is no longer halted: after the park a resume ends,
    /// or after a batch. While halted the boost stays, so a boosted worker reaches its park at real-time
    /// priority; so at most the batch in progress (and one more begun just before the halt) is hashed
    /// boosted, and after a halt that timed out the next batch boundary drops it.
    @inline(__always)
    func settle(_ w: WorkerState) {
        if w.boosted.load(ordering: .relaxed) && !control.halted.load(ordering: .relaxed)
            && w.boosted.exchange(false, ordering: .sequentiallyConsistent)
        {
            // One call straight back to the worker's policy: through SCHED_OTHER first, a worker could be
            // preempted in between and miss a new boost.
            _ = fm_thread_unboost(priority == .idle ? 5 : 0)  // SCHED_IDLE / SCHED_OTHER (nice kept)
        }
    }

    /// Lets halted workers hash again in the same job, from where they were. Returns once every worker
    /// the capacity allows is running, with the measured latency.
    @discardableResult
    package func resume() -> Duration {
        let start = ContinuousClock.now
        control.halted.store(false, ordering: .sequentiallyConsistent)
        control.bumpEpoch()
        control.wakeAll()
        let wanted = control.workersWanted(threadCount)
        control.waitUntil(timeout: .seconds(1)) {
            self.control.parked.load(ordering: .sequentiallyConsistent) <= self.threadCount - wanted
                || self.current.withLock { $0 == nil }
        }
        let latency = ContinuousClock.now - start
        resumeLatencies.withLock { Self.keep(latency, in: &$0) }
        return latency
    }

    package var isHalted: Bool { control.halted.load(ordering: .relaxed) }

    /// Latency samples kept, at most (as many as `bench --halts` takes); the oldest tenth goes when full,
    /// so a miner that halts for years keeps a bounded history.
    package static let latencySampleLimit = 1_000_000

    /// Appends `sample`, dropping the oldest tenth first when `samples` is at the limit.
    package static func keep(_ sample: Duration, in samples: inout [Duration]) {
        if samples.count >= latencySampleLimit { samples.removeFirst(latencySampleLimit / 10) }
        samples.append(sample)
    }

    /// Every halt and resume latency measured so far, up to `latencySampleLimit` (for benchmarks and the
    /// run's summary).
    package var measuredHaltLatencies: [Duration] { haltLatencies.withLock { $0 } }
    package var measuredResumeLatencies: [Duration] { resumeLatencies.withLock { $0 } }

    /// The latest `n` of them: what a status request summarises, copied without the rest.
    package func measuredHaltLatencies(last n: Int) -> [Duration] { haltLatencies.withLock { Array($0.suffix(n)) } }
    package func measuredResumeLatencies(last n: Int) -> [Duration] {
        resumeLatencies.withLock { Array($0.suffix(n)) }
    }

    /// Halts and joins every thread and finishes `events`. Safe to call more than once.
    package func stop() {
        stopNow()
    }

    private func stopNow() {
        control.stopping.store(true, ordering: .sequentiallyConsistent)
        control.bumpEpoch()
        control.wakeAll()
        let toJoin = threads.withLock { t in
            defer { t = [] }
            return t
        }
        for t in toJoin { t.join() }
        continuation.finish()
    }

    // MARK: Statistics

    /// A consistent-enough view of the engine, taken without stopping the workers.
    package struct Snapshot: Sendable {
        package let totalHashes: UInt64
        package let hashesPerWorker: [UInt64]
        /// Hash rate over the last 5 and 60 seconds (or since start, if shorter).
        package let hashRate5s: Double
        package let hashRate60s: Double
        /// The duty fraction set (`capacity` of `setCapacity`), kept while halted.
        package let capacitySetting: Double
        package let halted: Bool
        /// What the workers are doing: 0 while halted, else `capacitySetting`.
        package var effectiveCapacity: Double {
            MiningEngine.effectiveCapacity(setting: capacitySetting, halted: halted)
        }
        package let activeWorkers: Int
        package let parkedWorkers: Int
        package let jobsStarted: Int
        package let lastHaltLatency: Duration?
    }

    package func snapshot() -> Snapshot {
        let per = workers.map { $0.hashes.load(ordering: .relaxed) }
        let total = per.reduce(0, +)
        let now = ContinuousClock.now
        let (r5, r60) = meter.withLock { m in
            m.record(now, total: total)
            return (m.rate(over: .seconds(5), now: now), m.rate(over: .seconds(60), now: now))
        }
        return Snapshot(
            totalHashes: total, hashesPerWorker: per, hashRate5s: r5, hashRate60s: r60, capacitySetting: capacity,
            halted: isHalted, activeWorkers: control.workersWanted(threadCount),
            parkedWorkers: control.parked.load(ordering: .relaxed), jobsStarted: jobsStarted.load(ordering: .relaxed),
            lastHaltLatency: haltLatencies.withLock { $0.last })
    }
}
