import FlexSupport
import Foundation
import SHA256
import Stratum

/// What became of a share.
package enum ShareOutcome: Sendable, Hashable, CustomStringConvertible {
    case accepted
    /// The pool's reason (e.g. "Duplicate share", "Above target").
    case rejected(reason: String)
    /// Not sent, or sent without a verdict: its job was replaced (`clean_jobs`), the session was not
    /// resumed after a reconnect, or the connection dropped before the pool answered.
    case stale(reason: String)

    /// "accepted", "rejected" or "stale".
    package var result: String {
        switch self {
        case .accepted: "accepted"
        case .rejected: "rejected"
        case .stale: "stale"
        }
    }

    package var reason: String? {
        switch self {
        case .accepted: nil
        case .rejected(let r), .stale(let r): r
        }
    }

    package var description: String { reason.map { "\(result): \($0)" } ?? result }
}

/// A share found on pool work, and what became of it.
package struct PoolShare: Sendable, Hashable {
    package let outcome: ShareOutcome
    package let pool: String
    package let jobID: String
    package let nonce: UInt32
    package let time: UInt32
    /// The full header version hashed (rolled bits included).
    package let version: UInt32
    package let extranonce2: [UInt8]
    /// The difficulty of the share's job (what the pool judges it at).
    package let difficulty: Double
    /// The share also meets the network target: a block.
    package let isBlock: Bool
    /// Display order.
    package let hash: String
    /// From `mining.submit` sent to the pool's reply; nil when nothing was sent or answered.
    package let latencyMilliseconds: Double?
    /// A block the pool accepted on a parent that already has one of ours counted: only one of them can
    /// be on the chain, so this one is not counted toward `--blocks` (see `BlockParents`).
    package let superseded: Bool

    package init(
        outcome: ShareOutcome, pool: String, jobID: String, nonce: UInt32, time: UInt32, version: UInt32,
        extranonce2: [UInt8], difficulty: Double, isBlock: Bool, hash: String, latencyMilliseconds: Double?,
        superseded: Bool = false
    ) {
        self.superseded = superseded
        self.outcome = outcome
        self.pool = pool
        self.jobID = jobID
        self.nonce = nonce
        self.time = time
        self.version = version
        self.extranonce2 = extranonce2
        self.difficulty = difficulty
        self.isBlock = isBlock
        self.hash = hash
        self.latencyMilliseconds = latencyMilliseconds
    }

    /// `mine --pool --json`'s line: job_id, nonce, ntime, version, extranonce2, difficulty, result,
    /// reason, block, latency_ms; and for a block, superseded.
    package var json: [String: Any] {
        var fields: [String: Any] = [
            "job_id": jobID, "nonce": StratumHex.word(nonce), "ntime": StratumHex.word(time),
            "version": StratumHex.word(version), "extranonce2": Hex.encode(extranonce2), "difficulty": difficulty,
            "result": outcome.result, "reason": outcome.reason ?? NSNull(), "block": isBlock,
            "latency_ms": latencyMilliseconds ?? NSNull(),
        ]
        if isBlock { fields["superseded"] = superseded }
        return fields
    }
}

/// A work source that reports shares as well as blocks (pools). Additive to `WorkSource`: existing
/// sources need not conform.
package protocol ShareSource: WorkSource {
    /// Calls `handler` for every share, with its outcome, on a task of the source's.
    func onShare(_ handler: @escaping @Sendable (PoolShare) -> Void)
    /// The pool's state for `/status` and `/metrics`.
    var poolStatus: PoolStatus { get }
}

/// The pool as `/status` and `/metrics` show it.
package struct PoolStatus: Sendable, Hashable {
    package var url: String
    package var connected = false
    /// The difficulty in force for the next job; nil before the pool sent one.
    package var difficulty: Double?
    package var accepted = 0
    package var rejected = 0
    package var stale = 0
    /// Blocks counted: shares that also met the network target, the pool accepted, one per parent (those
    /// that can all be on the chain).
    package var blocks = 0
    /// Blocks the pool accepted on a parent that already had one of ours counted (not in `blocks`).
    package var supersededBlocks = 0
    /// Rejected and stale shares by reason (see `count(reason:)`: bounded).
    package var reasons: [String: Int] = [:]
    package var lastShareTime: Date?
    /// Moves from one pool to another (including back to the primary).
    package var failovers = 0

    package init(url: String) { self.url = url }

    /// Distinct reasons kept, at most: the pool writes them, and one that puts a share's id, nonce or time
    /// in each rejection would otherwise grow this table (and the `reason` labels of
    /// `flexminer_pool_share_reasons_total`) for as long as the miner runs. Further reasons are counted
    /// under `other`.
    package static let maxReasons = 100
    /// A reason longer than this (UTF-8 bytes) is cut.
    package static let maxReasonBytes = 200

    /// Counts one rejected or stale share under `reason`, within `maxReasons` and `maxReasonBytes`.
    package mutating func count(reason: String) {
        var key = reason
        if key.utf8.count > Self.maxReasonBytes {
            key = String(decoding: Array(key.utf8.prefix(Self.maxReasonBytes)), as: UTF8.self)
        }
        if reasons[key] == nil && reasons.count >= Self.maxReasons { key = "other" }
        reasons[key, default: 0] += 1
    }

    package var json: [String: Any] {
        [
            "url": url, "connected": connected, "difficulty": difficulty ?? NSNull(),
            "shares": ["accepted": accepted, "rejected": rejected, "stale": stale, "reasons": reasons] as [String: Any],
            "blocks": blocks, "blocks_superseded": supersededBlocks,
            "last_share_time": lastShareTime.map { ISO8601.format($0) } ?? NSNull(),
            "failovers": failovers,
        ]
    }
}

extension PoolStatus {
    /// The last line of `mine --pool --json`.
    package func summary(seconds: Double, hashes: UInt64) -> [String: Any] {
        [
            "summary": true, "pool": url, "shares_accepted": accepted, "shares_rejected": rejected,
            "shares_stale": stale, "blocks": blocks, "blocks_superseded": supersededBlocks, "failovers": failovers,
            "seconds": seconds,
            "hashes": Int(clamping: hashes), "hash_rate": Double(hashes) / Swift.max(seconds, 1e-9),
            "reasons": reasons,
        ]
    }

    /// The same, for people.
    package func summaryText(seconds: Double, hashes: UInt64) -> String {
        let superseded = supersededBlocks > 0 ? ", \(supersededBlocks) superseded" : ""
        return String(
            format: "%d accepted, %d rejected, %d stale shares (%d blocks%@) in %.1f s, %.2f MH/s; %d failover(s)",
            accepted, rejected, stale, blocks, superseded, seconds, Double(hashes) / Swift.max(seconds, 1e-9) / 1e6,
            failovers)
    }
}

extension PoolShare {
    /// One line for people: result, job, nonce, difficulty, latency.
    package var text: String {
        let ms = latencyMilliseconds.map { String(format: " in %.1f ms", $0) } ?? ""
        return "share \(outcome) job \(jobID) nonce \(StratumHex.word(nonce)) diff \(difficulty)"
            + "\(isBlock ? " BLOCK" : "")\(superseded ? " (superseded: same parent as a counted block)" : "")\(ms)"
    }
}
