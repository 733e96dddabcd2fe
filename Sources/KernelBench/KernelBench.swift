import Chain
import FlexSupport
import Foundation
import Mining
import MiningKernels
import OpenSSLSHA256
import SHA256
import Synchronization

/// What is measured: one of FlexMiner's kernels, or OpenSSL called per nonce as a naive miner would.
package enum BenchSubject: Sendable, Hashable, CustomStringConvertible {
    /// The bare kernel in a loop on each thread.
    case kernel(Kernel)
    /// The kernel driven by `MiningEngine` (batches, control checks, shared nonce cursor).
    case engine(Kernel)
    case openssl(OpenSSLSHA256.HeaderHasher.Mode)

    package var name: String {
        switch self {
        case .kernel(let k): k.name.rawValue
        case .engine(let k): "engine.\(k.name.rawValue)"
        case .openssl(let mode): mode.rawValue
        }
    }

    package var description: String {
        switch self {
        case .kernel(let k): k.description
        case .engine(let k): "engine \(k.description)"
        case .openssl(let mode): "\(mode.rawValue)(libcrypto)"
        }
    }
}

/// One measurement: `hashes` SHA-256d header hashes in `seconds` on `threads` threads.
package struct BenchResult: Sendable {
    package let subject: BenchSubject
    package let threads: Int
    package let hashes: UInt64
    package let seconds: Double
    /// CPU time the measuring threads were charged while hashing (nil for engine subjects): on a shared
    /// machine, hashes per CPU-second compare kernels where wall-clock rates measure the neighbours.
    package var cpuSeconds: Double? = nil
    package var hashesPerSecond: Double { seconds > 0 ? Double(hashes) / seconds : 0 }
    /// Hashes per second of CPU time charged to the threads (per core), when measured.
    package var hashesPerCPUSecond: Double? { cpuSeconds.flatMap { $0 > 0 ? Double(hashes) / $0 : nil } }
}

/// Measures hash rates over a real nonce search: every thread scans its own header's nonces with the
/// kernel exactly as the miner does (midstate per job, early reject against a target), and every
/// candidate is re-checked by the reference, so nothing can be optimized away.
package enum KernelBench {
    /// Nonces per kernel call; between calls a thread checks the clock. About a millisecond of work.
    package static let chunk: UInt64 = 1 << 15

    /// Hashes per second of `subject`. `threads` must be in `ThreadCount.range`: every command checks its
    /// `--threads` with `ThreadCount.problem` before it gets here.
    /// - Throws: `EngineError` for an engine subject whose worker threads the OS would not start (a
    ///   process or memory limit); nothing else throws.
    package static func measure(_ subject: BenchSubject, threads: Int, seconds: Double, seed: UInt64 = 1)
        throws(EngineError) -> BenchResult
    {
        let loop: LoopSubject
        switch subject {
        case .engine(let kernel): return try measureEngine(kernel, threads: threads, seconds: seconds, seed: seed)
        case .kernel(let kernel): loop = .kernel(kernel)
        case .openssl(let mode): loop = .openssl(mode)
        }
        let counts = Mutex([UInt64](repeating: 0, count: threads))
        let cpu = Mutex([Double](repeating: 0, count: threads))
        let start = Mutex(ContinuousClock.now)
        let ready = DispatchSemaphore(value: 0)
        let go = DispatchSemaphore(value: 0)
        let duration = Duration.nanoseconds(Int64(seconds * 1e9))
        var started: [JoinableThread] = []
        var refused: EngineError? = nil
        for t in 0..<threads {
            do {
                started.append(
                    try JoinableThread {
                        var rng = SplitMix64(seed: seed &+ UInt64(t))
                        let job = HeaderScanJob.random(using: &rng)
                        ready.signal()
                        go.wait()
                        let deadline = start.withLock { $0 } + duration
                        let cpu0 = ThreadCPUTime.current()
                        let n = run(loop, job: job, until: deadline)
                        let used = (ThreadCPUTime.current() - cpu0).seconds
                        counts.withLock { $0[t] = n }
                        cpu.withLock { $0[t] = used }
                    })
            } catch {
                refused = EngineError.workerThread(error)
                break
            }
        }
        for _ in started { ready.wait() }
        let began = ContinuousClock.now
        // When the OS refused a thread, the ones started stop at once: their deadline is now.
        start.withLock { $0 = refused == nil ? began : began - duration }
        for _ in started { go.signal() }
        for t in started { t.join() }
        if let refused { throw refused }
        let elapsed = ContinuousClock.now - began
        return BenchResult(
            subject: subject, threads: threads, hashes: counts.withLock { $0.reduce(0, +) }, seconds: elapsed.seconds,
            cpuSeconds: cpu.withLock { $0.reduce(0, +) })
    }

    /// What one bench thread can hash in a loop by itself (an engine subject has threads of its own).
    enum LoopSubject {
        case kernel(Kernel)
        case openssl(OpenSSLSHA256.HeaderHasher.Mode)
    }

    /// Hashes from nonce 0 upward until `deadline`; returns how many were hashed.
    static func run(_ subject: LoopSubject, job: HeaderScanJob, until deadline: ContinuousClock.Instant) -> UInt64 {
        var total: UInt64 = 0
        // A mainnet-like target: candidates are about one in 2^32, as in real mining.
        let target = UInt256(highWord: 0)
        switch subject {
        case .kernel(let kernel):
            let out = UnsafeMutableBufferPointer<UInt32>.allocate(capacity: 1024)
            defer { out.deallocate() }
            var nonce: UInt32 = 0
            while ContinuousClock.now < deadline {
                let r = kernel.scan(job, first: nonce, count: chunk, targetHigh: target.highWord, out: out)
                for c in out[0..<r.candidates] where target.isMet(by: job.referenceHash(nonce: c)) {
                    blackHole(c)
                }
                total += r.scanned
                nonce = nonce &+ UInt32(truncatingIfNeeded: r.scanned)
            }
        case .openssl(let mode):
            guard var hasher = OpenSSLSHA256.HeaderHasher(header: job.header, mode: mode) else { return 0 }
            var nonce: UInt32 = 0
            var low: UInt32 = .max
            while ContinuousClock.now < deadline {
                for _ in 0..<chunk / 16 {
                    hasher.hash(nonce: nonce)
                    low = Swift.min(low, hasher.mostSignificantWord)
                    nonce &+= 1
                }
                total += chunk / 16
            }
            blackHole(low)
        }
        return total
    }
}

extension KernelBench {
    /// A header job nobody can solve, so workers hash without interruption.
    static func unsolvableJob(seed: UInt64) -> MiningJob { MiningJob.unsolvable(seed: seed) }

    /// Hash rate through the engine: the hashes its workers report over `seconds` after a short warm-up.
    static func measureEngine(_ kernel: Kernel, threads: Int, seconds: Double, seed: UInt64) throws(EngineError)
        -> BenchResult
    {
        let engine = try MiningEngine(kernel: kernel, threads: threads, priority: .normal)
        defer { engine.stop() }
        engine.setJob(unsolvableJob(seed: seed))
        Thread.sleep(forTimeInterval: 0.05)
        let a = engine.snapshot().totalHashes
        let start = ContinuousClock.now
        Thread.sleep(forTimeInterval: seconds)
        let b = engine.snapshot().totalHashes
        let elapsed = ContinuousClock.now - start
        return BenchResult(subject: .engine(kernel), threads: threads, hashes: b - a, seconds: elapsed.seconds)
    }

    /// Latency distribution of `halt()` (until every worker has acknowledged) and `resume()` (until
    /// every worker hashes again) under full load, over `cycles` cycles with a random 1-5 ms of hashing
    /// before each halt.
    /// `threads` must be in `ThreadCount.range` (checked by the caller, as for `measure`).
    /// - Throws: `EngineError` when the OS would not start the worker threads.
    package static func controlLatencies(
        kernel: Kernel, threads: Int, cycles: Int, priority: WorkerPriority = .idle
    ) throws(EngineError) -> (halt: LatencySummary, resume: LatencySummary, boosts: Int) {
        let engine = try MiningEngine(kernel: kernel, threads: threads, priority: priority)
        defer { engine.stop() }
        engine.setJob(unsolvableJob(seed: 99))
        var rng = SplitMix64(seed: 7)
        var halts: [Duration] = []
        var resumes: [Duration] = []
        Thread.sleep(forTimeInterval: 0.05)
        for _ in 0..<cycles {
            Thread.sleep(forTimeInterval: Double.random(in: 0.001...0.005, using: &rng))
            halts.append(engine.halt())
            Thread.sleep(forTimeInterval: 0.0005)
            resumes.append(engine.resume())
        }
        return (LatencySummary(halts), LatencySummary(resumes), engine.haltBoosts)
    }
}

/// Keeps a value alive so the optimizer cannot delete the work that produced it.
@inline(never)
package func blackHole<T>(_ value: T) {
    withExtendedLifetime(value) {}
}
