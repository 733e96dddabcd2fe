import Foundation
import MiningKernels
import OpenSSLSHA256
import SHA256
import Synchronization

/// What is measured: one of FlexMiner's kernels, or OpenSSL called per nonce as a naive miner would.
public enum BenchSubject: Sendable, Hashable, CustomStringConvertible {
    case kernel(Kernel)
    case openssl(OpenSSLSHA256.HeaderHasher.Mode)

    public var name: String {
        switch self {
        case .kernel(let k): k.name.rawValue
        case .openssl(let mode): mode.rawValue
        }
    }

    public var description: String {
        switch self {
        case .kernel(let k): k.description
        case .openssl(let mode): "\(mode.rawValue)(libcrypto)"
        }
    }
}

/// One measurement: `hashes` SHA-256d header hashes in `seconds` on `threads` threads.
public struct BenchResult: Sendable {
    public let subject: BenchSubject
    public let threads: Int
    public let hashes: UInt64
    public let seconds: Double
    public var hashesPerSecond: Double { seconds > 0 ? Double(hashes) / seconds : 0 }
}

/// Measures hash rates over a real nonce search: every thread scans its own header's nonces with the
/// kernel exactly as the miner does (midstate per job, early reject against a target), and every
/// candidate is re-checked by the reference, so nothing can be optimized away.
public enum KernelBench {
    /// Nonces per kernel call; between calls a thread checks the clock. About a millisecond of work.
    public static let chunk: UInt64 = 1 << 15

    public static func measure(_ subject: BenchSubject, threads: Int, seconds: Double, seed: UInt64 = 1) -> BenchResult
    {
        let counts = Mutex([UInt64](repeating: 0, count: threads))
        let start = Mutex(ContinuousClock.now)
        let ready = DispatchSemaphore(value: 0)
        let go = DispatchSemaphore(value: 0)
        let done = DispatchGroup()
        let duration = Duration.nanoseconds(Int64(seconds * 1e9))
        for t in 0..<threads {
            done.enter()
            let thread = Thread {
                var rng = SplitMix64(seed: seed &+ UInt64(t))
                let header = (0..<80).map { _ in UInt8.random(in: 0...255, using: &rng) }
                ready.signal()
                go.wait()
                let deadline = start.withLock { $0 } + duration
                let n = run(subject, header: header, until: deadline)
                counts.withLock { $0[t] = n }
                done.leave()
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        for _ in 0..<threads { ready.wait() }
        let began = ContinuousClock.now
        start.withLock { $0 = began }
        for _ in 0..<threads { go.signal() }
        done.wait()
        let elapsed = ContinuousClock.now - began
        let secs = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        return BenchResult(
            subject: subject, threads: threads, hashes: counts.withLock { $0.reduce(0, +) }, seconds: secs)
    }

    /// Hashes from nonce 0 upward until `deadline`; returns how many were hashed.
    static func run(_ subject: BenchSubject, header: [UInt8], until deadline: ContinuousClock.Instant) -> UInt64 {
        var total: UInt64 = 0
        // A mainnet-like target: candidates are about one in 2^32, as in real mining.
        let target = HashTarget(words: [0] + Array(repeating: .max, count: 7))
        switch subject {
        case .kernel(let kernel):
            let job = try! HeaderScanJob(header: header)  // 80 bytes by construction
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
            var hasher = OpenSSLSHA256.HeaderHasher(header: header, mode: mode)
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

/// Keeps a value alive so the optimizer cannot delete the work that produced it.
@inline(never)
public func blackHole<T>(_ value: T) {
    withExtendedLifetime(value) {}
}
