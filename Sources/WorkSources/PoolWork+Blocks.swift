import Chain
import FlexSupport
import Logging
import NodeRPC
import SHA256

extension PoolWork {
    /// On disk before the share is sent, as solo blocks are: the journal, else a rescue file, else the
    /// log in full. A block that could not be kept is still sent (the pool is its only way into the
    /// chain), and this source then stops: no further block could be kept (the returned failure).
    func keep(_ share: PoolSession.Share) -> WorkError? {
        let c = share.context
        var header = share.solution.header
        header.nonce = share.solution.nonce
        let hash = share.solution.hash.reversedHex
        let block = BlockJournal.PoolBlock(
            hash: hash, height: c.height, header: header.bytes, coinbase: c.coinbase,
            merkleBranch: c.merkleBranch, pool: state.withLock { $0.session.url.description }, jobID: c.jobID,
            extranonce2: c.extranonce2)
        guard let journal else { return nil }
        var kept: BlockJournal? = journal
        var failure: WorkError?
        do { try journal.recordPoolBlock(block) } catch {
            let stopped =
                "pool mining stopped: no further block could be kept (restart once the journal can be written)"
            do {
                let path = try journal.rescue(block)
                logger.critical("\(error.message); block \(hash) saved to \(path)")
                kept = BlockJournal(path: path, rescueDirectory: journal.rescueDirectory)
                failure = WorkError(.disk, "pool: \(error.message); block \(hash) saved to \(path); \(stopped)")
            } catch let rescueError {
                logger.critical(
                    "\(error.message); \(rescueError.message); block \(hash): header \(Hex.encode(header.bytes)) coinbase \(Hex.encode(c.coinbase)) branch \(c.merkleBranch.map { Hex.encode($0) }) job \(c.jobID)"
                )
                kept = nil
                failure = WorkError(
                    .disk,
                    "pool: \(error.message); \(rescueError.message); block \(hash) is in full in the log; \(stopped)")
            }
        }
        state.withLock { st in
            if let kept, st.blockJournals.count < 1024 { st.blockJournals[hash] = kept }
        }
        return failure
    }

    /// A block's verdict: next to the block in its journal, and to `run`'s caller as a `SolvedBlock`.
    func recordVerdict(_ share: PoolShare, _ found: PoolSession.Share) {
        let (kept, onBlock) = state.withLock { ($0.blockJournals.removeValue(forKey: share.hash), $0.onBlock) }
        let verdict: SubmitResult
        let outcome: BlockOutcome
        switch share.outcome {
        case .accepted: (verdict, outcome) = (.accepted, .accepted)
        case .rejected(let r): (verdict, outcome) = (.rejected(r), .rejected(reason: r))
        case .stale(let r):
            (verdict, outcome) = (.error(code: nil, message: "not judged: \(r)"), .unsubmitted(error: r))
        }
        if let kept {
            do { try kept.recordSubmitted(hash: share.hash, result: verdict) } catch {
                logger.error("\(error.message) (the pool's verdict on block \(share.hash): \(share.outcome))")
            }
        }
        onBlock?(
            SolvedBlock(
                hash: share.hash, height: found.context.height ?? 0, nonce: found.solution.nonce,
                jobID: found.solution.engineJobID, time: share.time, bytes: 0, outcome: outcome,
                superseded: share.superseded))
    }
}
