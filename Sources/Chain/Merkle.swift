import SHA256

/// Merkle trees of transaction hashes (internal byte order), as Bitcoin builds them: pairwise
/// SHA-256d, the last hash paired with itself on odd levels.
package enum Merkle {
    package static func root(_ hashes: [[UInt8]]) -> [UInt8] {
        guard !hashes.isEmpty else { return [UInt8](repeating: 0, count: 32) }
        var level = hashes
        while level.count > 1 {
            if level.count % 2 == 1 { level.append(level.last!) }
            level = stride(from: 0, to: level.count, by: 2).map { hash256(level[$0] + level[$0 + 1]) }
        }
        return level[0]
    }

    /// The BIP141 witness commitment script for wtxids (coinbase's wtxid is taken as zero) and a zero
    /// witness reserved value: OP_RETURN, push 36: aa21a9ed + SHA-256d(witness root ‖ reserved).
    package static func witnessCommitmentScript(wtxids: [[UInt8]]) -> [UInt8] {
        let root = Merkle.root([[UInt8](repeating: 0, count: 32)] + wtxids)
        return [0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed] + hash256(root + [UInt8](repeating: 0, count: 32))
    }

    /// The merkle branch of the first leaf (the coinbase): the sibling hash at each level, bottom up.
    /// With it, a new coinbase needs log₂(n) hashes for the root instead of the whole tree (what an
    /// extranonce roll and a stratum job use). `hashesAfterFirst` are the other leaves, in order.
    package static func branch(hashesAfterFirst rest: [[UInt8]]) -> [[UInt8]] {
        var branch: [[UInt8]] = []
        // The level's entries except the path's own node (which is always at index 0).
        var level = rest
        while !level.isEmpty {
            branch.append(level[0])
            // Next level: the path node pairs with level[0]; the others pair among themselves.
            var others = Array(level.dropFirst())
            if others.count % 2 == 1 { others.append(others.last!) }
            level = stride(from: 0, to: others.count, by: 2).map { hash256(others[$0] + others[$0 + 1]) }
        }
        return branch
    }

    /// The root from the first leaf's hash and its branch.
    package static func root(first: [UInt8], branch: [[UInt8]]) -> [UInt8] {
        branch.reduce(first) { hash256($0 + $1) }
    }
}
