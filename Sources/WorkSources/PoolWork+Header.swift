import Chain
import SHA256
import Stratum

/// Building work from a stratum job: pure functions of the notify and the extranonces.
extension PoolWork {
    /// coinb1 + extranonce1 + extranonce2 + coinb2.
    package static func coinbase(job: StratumJob, extranonce1: [UInt8], extranonce2: [UInt8]) -> [UInt8] {
        job.coinbase1 + extranonce1 + extranonce2 + job.coinbase2
    }

    /// The merkle root (internal order) from the coinbase's txid and the job's branch.
    package static func merkleRoot(coinbase: [UInt8], branch: [[UInt8]]) -> [UInt8] {
        Merkle.root(first: SHA256.hashTwice(coinbase).bytes, branch: branch)
    }

    /// Stratum sends the previous block hash as eight 4-byte words, each byte-swapped from the header's
    /// (internal) order.
    package static func previousBlockHash(words: [UInt8]) -> [UInt8] {
        stride(from: 0, to: words.count, by: 4).flatMap { words[$0..<Swift.min($0 + 4, words.count)].reversed() }
    }

    /// The header a share of `job` hashed.
    /// - Throws: `ChainError` when the job's prevhash is not 32 bytes.
    package static func header(
        job: StratumJob, extranonce1: [UInt8], extranonce2: [UInt8], version: UInt32, nonce: UInt32
    ) throws(ChainError) -> BlockHeader {
        try header(
            job: job, coinbase: coinbase(job: job, extranonce1: extranonce1, extranonce2: extranonce2),
            version: version, nonce: nonce)
    }

    /// The same, from the coinbase already assembled (the job source keeps it for the journal).
    static func header(job: StratumJob, coinbase: [UInt8], version: UInt32, nonce: UInt32) throws(ChainError)
        -> BlockHeader
    {
        try BlockHeader(
            version: Int32(bitPattern: version), previousBlockHash: previousBlockHash(words: job.previousHashWords),
            merkleRoot: merkleRoot(coinbase: coinbase, branch: job.merkleBranch), time: job.time,
            bits: CompactTarget(bits: job.bits), nonce: nonce)
    }

    /// Spreads the low bits of `index` over the set bits of `mask` (a software PDEP): the index-th
    /// version roll within the mask.
    package static func versionBits(index: UInt64, mask: UInt32) -> UInt32 {
        var out: UInt32 = 0
        var i = index
        var m = mask
        while m != 0 && i != 0 {
            let bit = m & (~m &+ 1)
            if i & 1 == 1 { out |= bit }
            i >>= 1
            m &= m &- 1
        }
        return out
    }
}
