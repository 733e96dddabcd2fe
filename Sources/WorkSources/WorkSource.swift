import Chain
import FlexSupport
import Foundation
import Mining
import SHA256

/// Where the engine's jobs come from and where its solutions go: benchmark work, a template file, a
/// node over JSON-RPC (and next, a pool). `mine`, `run` and `demo` drive every source the same way:
///
/// 1. create the engine with `jobSource` (it supplies the next job when one's nonces run out);
/// 2. call `run(engine:onBlock:)`, which sets the first job, consumes the engine's events, turns
///    solutions into blocks (on disk before anything else), submits them where there is somewhere to
///    submit, and replaces work when it goes stale.
///
/// A new source is one type conforming to this protocol, in one file of this module.
package protocol WorkSource: Sendable {
    /// "benchmark", "template", "node" or "pool".
    var kind: String { get }
    /// Where the work comes from, for logs and `/status` (never credentials).
    var origin: String { get }
    /// What the engine asks for a new job when one is exhausted (an extranonce or a time roll).
    var jobSource: any JobSource { get }
    /// Feeds `engine` and handles its solutions until the source has done what it was asked (a block
    /// limit) or the task is cancelled. Each block is reported once, with its outcome.
    /// - Throws: `WorkError` when the source cannot go on (bad input, a node that refuses us for good).
    func run(engine: MiningEngine, onBlock: @escaping @Sendable (SolvedBlock) -> Void) async throws(WorkError)
    /// Releases connections; called once, after `run` has returned.
    func shutdown() async
}

extension WorkSource {
    package func shutdown() async {}
}

/// What became of a solved block.
package enum BlockOutcome: Sendable, Hashable, CustomStringConvertible {
    /// Written (and fsync'd) to this file; there is nowhere to submit it.
    case written(path: String)
    /// The node accepted it.
    case accepted
    /// The node refused it; the node's reason (e.g. "high-hash", "duplicate", "error -22: …").
    case rejected(reason: String)
    /// It could not be submitted (the node was unreachable after retries); it stays in the journal.
    case unsubmitted(error: String)

    /// What `mine --rpc --json` prints as `"result"`: "accepted", the node's reason, or
    /// "unsubmitted: …".
    package var description: String {
        switch self {
        case .written(let path): "written: \(path)"
        case .accepted: "accepted"
        case .rejected(let reason): reason
        case .unsubmitted(let error): "unsubmitted: \(error)"
        }
    }
}

/// A block the engine solved, and what became of it.
package struct SolvedBlock: Sendable, Hashable {
    /// Display order (as explorers and the node print it).
    package let hash: String
    package let height: Int
    package let nonce: UInt32
    package let jobID: UInt64
    package let time: UInt32
    /// Size of the serialized block; 0 for a block found as a pool share (the pool holds the
    /// transactions).
    package let bytes: Int
    package let outcome: BlockOutcome
    /// True for a block from the journal, solved before this run and submitted now.
    package let resubmitted: Bool
    /// True for a block on a parent that already has one of our blocks counted (found as a pool share
    /// before the pool's next job): only one of them can be on the chain, so this one is not counted
    /// toward `--blocks` (see `BlockParents`).
    package let superseded: Bool

    package init(
        hash: String, height: Int, nonce: UInt32, jobID: UInt64, time: UInt32, bytes: Int, outcome: BlockOutcome,
        resubmitted: Bool = false, superseded: Bool = false
    ) {
        self.superseded = superseded
        self.hash = hash
        self.height = height
        self.nonce = nonce
        self.jobID = jobID
        self.time = time
        self.bytes = bytes
        self.outcome = outcome
        self.resubmitted = resubmitted
    }
}

extension SolvedBlock {
    /// What `mine --json` prints for the block: for a written block `hash`, `height`, `nonce`, `path`,
    /// `job_id`, `time`, `bytes`, `hashes`, `seconds`; for a submitted one `hash`, `height`, `nonce` (or
    /// `resubmitted`), `result`.
    package func json(hashes: UInt64, seconds: Int) -> [String: Any] {
        if case .written(let path) = outcome {
            return [
                "hash": hash, "height": height, "nonce": Int(nonce), "path": path, "job_id": Int(clamping: jobID),
                "time": Int(time), "bytes": bytes, "hashes": Int(clamping: hashes), "seconds": seconds,
            ]
        }
        var fields: [String: Any] = ["hash": hash, "height": height, "result": outcome.description]
        if resubmitted { fields["resubmitted"] = true } else { fields["nonce"] = Int(nonce) }
        if superseded { fields["superseded"] = true }
        return fields
    }

    /// What `mine` prints for the block without `--json`.
    package var line: String {
        if case .written(let path) = outcome { return "block \(height) \(hash) nonce \(nonce) -> \(path)" }
        let note = superseded ? " (superseded: another block of ours on the same parent was counted)" : ""
        return resubmitted
            ? "journaled block \(height) \(hash): \(outcome)\(note)"
            : "block \(height) \(hash) nonce \(nonce): \(outcome)\(note)"
    }
}

/// Why a work source cannot go on. `code` lets callers branch (a command's exit status, `/status`).
package typealias WorkError = CodedError<WorkErrorCode>

/// What kind of failure stopped a work source.
package enum WorkErrorCode: String, Sendable, Hashable {
    /// A file, flag or address given by the operator is wrong.
    case input
    /// The node refused us for a reason retrying cannot fix (credentials, wrong chain, not JSON-RPC).
    case node
    /// A solved block could not be written.
    case disk
}

/// Turns a payout given by the operator into the output script: an address for `network`, or a raw
/// scriptPubKey in hex.
package enum PayoutScript {
    /// - Parameter network: the network the work is for; nil when it cannot be told (then only a raw
    ///   script is accepted).
    /// - Throws: `WorkError.input` naming `flag`.
    package static func resolve(_ payout: String, network: Network?, flag: String = "--payout") throws(WorkError)
        -> [UInt8]
    {
        let isAddress = (try? PayoutAddress(payout)) != nil
        if !isAddress, let raw = try? Hex.decode(payout), !raw.isEmpty, raw.count <= 10_000 { return raw }
        guard let network else {
            throw WorkError(.input, "--network is needed: this template's target does not say which network it is for")
        }
        do { return try PayoutAddress(payout, network: network).scriptPubKey } catch {
            throw WorkError(.input, "\(flag): \(error.message)")
        }
    }
}
