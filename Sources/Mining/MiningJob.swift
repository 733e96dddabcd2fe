import Chain
import FlexSupport
import MiningKernels
import SHA256

/// Work for the engine: a header template, the block target, an optional easier share target, and
/// the nonce range to search.
package struct MiningJob: Sendable, Hashable {
    /// Caller-chosen identity, echoed in every solution.
    package let id: UInt64
    package let header: BlockHeader
    package let blockTarget: UInt256
    /// Solutions that meet only this (easier) target are reported as shares.
    package let shareTarget: UInt256?
    package let firstNonce: UInt32
    /// Nonces to search from `firstNonce` (at most 2^32 - firstNonce).
    package let nonceCount: UInt64

    /// - Throws: `EngineError` if the share target is harder than the block target or the range is empty.
    package init(
        id: UInt64, header: BlockHeader, blockTarget: UInt256, shareTarget: UInt256? = nil, firstNonce: UInt32 = 0,
        nonceCount: UInt64 = 1 << 32
    ) throws(EngineError) {
        if let s = shareTarget, s < blockTarget {
            throw EngineError("share target \(s) is harder than the block target \(blockTarget)")
        }
        guard nonceCount > 0 else { throw EngineError("empty nonce range") }
        self.init(
            id: id, header: header, blockTarget: blockTarget, shareTarget: shareTarget, firstNonce: firstNonce,
            count: Swift.min(nonceCount, (1 << 32) - UInt64(firstNonce)))
    }

    /// All 2^32 nonces of `header` against `blockTarget` alone. Cannot fail: what `init` refuses (a
    /// share target harder than the block's, an empty range) cannot be asked for here.
    package static func fullRange(id: UInt64, header: BlockHeader, blockTarget: UInt256) -> MiningJob {
        MiningJob(id: id, header: header, blockTarget: blockTarget, shareTarget: nil, firstNonce: 0, count: 1 << 32)
    }

    private init(
        id: UInt64, header: BlockHeader, blockTarget: UInt256, shareTarget: UInt256?, firstNonce: UInt32,
        count: UInt64
    ) {
        self.id = id
        self.header = header
        self.blockTarget = blockTarget
        self.shareTarget = shareTarget
        self.firstNonce = firstNonce
        self.nonceCount = count
    }

    /// The easiest target anything is reported for.
    var reportTarget: UInt256 { shareTarget ?? blockTarget }
}

/// Supplies fresh work when a job's nonces run out (a new extranonce or time). Called on a worker
/// thread; must be quick and must not block.
package protocol JobSource: Sendable {
    /// The job to continue with after `exhausted`, or nil when there is none (the engine then idles
    /// until `setJob`).
    func nextJob(after exhausted: MiningJob) -> MiningJob?
}

/// A job source that rolls the header's time forward one second per exhausted nonce space, at most
/// `maxTimeRoll` seconds past `baseTime`: enough for `flexminer mine --header` and for tests.
package struct TimeRollingSource: JobSource {
    package let baseTime: UInt32
    package let maxTimeRoll: UInt32

    package init(baseTime: UInt32, maxTimeRoll: UInt32) {
        self.baseTime = baseTime
        self.maxTimeRoll = maxTimeRoll
    }

    package func nextJob(after job: MiningJob) -> MiningJob? {
        guard job.header.time &- baseTime < maxTimeRoll else { return nil }
        var h = job.header
        h.time &+= 1
        return try? MiningJob(id: job.id &+ 1, header: h, blockTarget: job.blockTarget, shareTarget: job.shareTarget)
    }
}

/// A found nonce, verified with the scalar reference against the full 256-bit target.
package struct MiningSolution: Sendable, Hashable {
    package let jobID: UInt64
    package let nonce: UInt32
    /// The header with the nonce, ready to serialize into a block.
    package let header: BlockHeader
    package let hash: SHA256Digest
    /// True when the hash meets the block target; false when it meets only the share target.
    package let isBlock: Bool
    /// True when the engine had already moved to another job when this was found.
    package let isStale: Bool
    package let worker: Int
}

/// What the engine reports on its event stream, in the order it happened.
package enum MiningEvent: Sendable, Hashable {
    case solution(MiningSolution)
    /// Every nonce of this job was searched and the job source had nothing further.
    case exhausted(jobID: UInt64)
}

/// Why the engine could not do what was asked.
package struct EngineError: Error, Hashable, Sendable, CustomStringConvertible {
    package let message: String
    package init(_ message: String) { self.message = message }
    package var description: String { message }

    /// A hashing thread the OS refused (the wording scripts and operators look for).
    package static func workerThread(_ refusal: ThreadStartError) -> EngineError {
        EngineError("could not start a worker thread: \(refusal.reason)")
    }
}

extension MiningJob {
    /// Work no nonce can solve (target 1) over a random header: full-speed hashing for benchmarks and
    /// curtailment drills without a node. Pair it with `TimeRollingSource(baseTime: job.header.time,
    /// maxTimeRoll: .max)` to hash for as long as wanted.
    package static func unsolvable(seed: UInt64) -> MiningJob {
        var rng = SplitMix64(seed: seed)
        return .fullRange(id: 1, header: BlockHeader(HeaderScanJob.random(using: &rng)), blockTarget: UInt256(1))
    }
}
