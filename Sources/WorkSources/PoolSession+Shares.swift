import Chain
import FlexSupport
import Logging
import SHA256
import Stratum

extension PoolSession {
    /// A share from the engine: checked against the reference hash (independent of the kernel that
    /// found it) before anything is sent; a block is kept on disk first (`.keepBlock`, then `.kept`).
    mutating func solution(_ s: Solution) -> [Action] {
        guard let context = contexts[s.engineJobID] else { return [] }
        var header = s.header
        header.nonce = s.nonce
        let value = UInt256(digest: SHA256.hashTwice(header.bytes))
        guard header.merkleRoot == context.merkleRoot, UInt32(bitPattern: header.version) == context.version,
            value <= context.shareTarget
        else {
            return [
                .log(.error, "share of job \(context.jobID) nonce \(s.nonce) does not check against the reference hash")
            ]
        }
        let share = Share(solution: s, context: context, isBlock: value <= context.blockTarget)
        guard share.isBlock else { return route(share) }
        return [
            .log(.notice, "block found: \(s.hash.reversedHex) (job \(context.jobID))"), .keepBlock(share),
        ]
    }

    /// A block is on disk (or could not be kept: the source stops after its verdict); now it is routed
    /// like any share.
    mutating func kept(_ share: Share, failure: WorkError?) -> [Action] {
        var actions: [Action] = []
        if let failure {
            // No further block could be kept: stop hashing now; the run ends after this share's verdict.
            actions.append(.clearEngineJob)
            if self.failure == nil { self.failure = failure }
        }
        return actions + route(share)
    }

    /// Sent when connected; stale when its job or session is gone; else queued (bounded) for the next
    /// connection.
    mutating func route(_ share: Share) -> [Action] {
        let c = share.context
        if c.session != session { return verdict(share, .stale(reason: "from a session the pool did not resume"), nil) }
        if !valid.contains(c.jobID) { return verdict(share, .stale(reason: "job replaced by the pool"), nil) }
        if hasConnection && status.connected { return [submit(share)] }
        // A block waits beyond the limit (blocks are rare; a few more entries bound it still).
        guard queued.count < options.maxQueuedShares + (share.isBlock ? 64 : 0) else {
            return verdict(share, .stale(reason: "share queue full"), nil)
        }
        queued.append(share)
        return [.log(.info, "share of job \(c.jobID) waits for a pool connection")]
    }

    /// `mining.submit`'s parameters: the 6th (version bits) only when bits were rolled.
    func submit(_ share: Share) -> Action {
        let c = share.context
        return .submit(
            share,
            StratumSubmit(
                jobID: c.jobID, extranonce2: c.extranonce2, time: c.time, nonce: share.solution.nonce,
                versionBits: c.version != c.jobVersion ? c.version & c.mask : nil))
    }

    /// What became of a share: counted (a block once per parent), logged, handed to the handlers; the
    /// run finishes when a limit is reached or the source failed.
    mutating func verdict(_ share: Share, _ outcome: ShareOutcome, _ ms: Double?) -> [Action] {
        let c = share.context
        status.lastShareTime = now
        var superseded = false
        switch outcome {
        case .accepted:
            status.accepted += 1
            answered += 1
            // The first block the pool accepts on a parent is counted; the others on it compete with it
            // for one place on the chain.
            if share.isBlock && parents.claim(c.parent) {
                status.blocks += 1
                acceptedBlocks += 1
            } else if share.isBlock {
                status.supersededBlocks += 1
                superseded = true
            }
        case .rejected(let r):
            status.rejected += 1
            answered += 1
            status.count(reason: r)
        case .stale(let r):
            status.stale += 1
            status.count(reason: "stale: " + r)
        }
        let reached =
            (options.shares.map { answered >= $0 } ?? false) || (options.blocks.map { acceptedBlocks >= $0 } ?? false)
            || failure != nil
        let finished = reached && !done
        if finished { done = true }
        let s = share.solution
        let poolShare = PoolShare(
            outcome: outcome, pool: url.description, jobID: c.jobID, nonce: s.nonce, time: c.time, version: c.version,
            extranonce2: c.extranonce2, difficulty: c.difficulty, isBlock: share.isBlock, hash: s.hash.reversedHex,
            latencyMilliseconds: ms, superseded: superseded)
        var actions: [Action] = share.isBlock ? [.recordBlock(poolShare, share)] : []
        let text = "share \(c.jobID) nonce \(StratumHex.word(s.nonce)) diff \(c.difficulty): \(outcome)"
        if case .accepted = outcome { actions.append(.log(.info, text)) } else { actions.append(.log(.warning, text)) }
        actions.append(.deliver(poolShare))
        if finished { actions += [.clearEngineJob, .closeConnection] }
        return actions
    }

    /// The connect loop ended: shares still waiting for a connection are not sent now but counted and
    /// logged, never dropped silently; then `run` returns, or throws why the source failed.
    mutating func runEnded() -> [Action] {
        var actions: [Action] = [.clearEngineJob]
        let unsent = queued
        queued = []
        for share in unsent {
            actions += verdict(share, .stale(reason: "the run ended before a pool took it"), nil)
        }
        if let failure { actions.append(.fail(failure)) }
        return actions
    }
}
