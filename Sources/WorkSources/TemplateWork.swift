import Chain
import Foundation
import Mining
import SHA256
import Synchronization

/// Turns a block template into engine jobs: one job per coinbase extranonce, rolled when a job's
/// nonces run out, and assembles the full block for a solution.
package final class TemplateWork: JobSource {
    package let template: BlockTemplate
    package let payoutScript: [UInt8]
    package let message: [UInt8]
    /// Checked once; each job rolls its extranonce (`Coinbase.with(extranonce:)` cannot fail).
    private let baseCoinbase: Coinbase
    private let coinbases = Mutex<[UInt64: Coinbase]>([:])
    private let nextExtranonce = Atomic<UInt64>(0)
    /// Added to job ids, so that jobs of different templates never share an id.
    package let idBase: UInt64

    /// - Throws: `ChainError` when the coinbase cannot be built (scriptSig size, value).
    package init(template: BlockTemplate, payoutScript: [UInt8], message: [UInt8] = [], idBase: UInt64 = 0)
        throws(ChainError)
    {
        self.idBase = idBase
        self.template = template
        self.payoutScript = payoutScript
        self.message = message
        baseCoinbase = try template.coinbase(payoutScript: payoutScript, extranonce: 0, message: message)
    }

    /// A job for the next unused extranonce (job id = idBase + extranonce + 1).
    package func freshJob() -> MiningJob {
        let extranonce = nextExtranonce.add(1, ordering: .relaxed).oldValue
        let coinbase = baseCoinbase.with(extranonce: extranonce)
        // Job ids are identities, not counts: wrapping (after 2^64 jobs) is harmless, a trap is not.
        let id = idBase &+ extranonce &+ 1
        coinbases.withLock { $0[id] = coinbase }
        let header = template.header(
            coinbase: coinbase,
            time: Swift.max(UInt32(clamping: Int64(Date().timeIntervalSince1970.rounded(.down))), template.curTime))
        return MiningJob.fullRange(id: id, header: header, blockTarget: template.target)
    }

    package func nextJob(after exhausted: MiningJob) -> MiningJob? { freshJob() }

    /// The serialized block for `solution`, or nil if the solution is not from this work.
    package func block(for solution: MiningSolution) -> [UInt8]? {
        guard let coinbase = coinbases.withLock({ $0[solution.jobID] }) else { return nil }
        return template.block(header: solution.header, coinbase: coinbase)
    }
}
