/// Splitting serialized blocks into transactions and computing txids, for checking blocks.
package enum RawTransaction {
    /// Reads a CompactSize at `i`, advancing it.
    static func compactSize(_ b: [UInt8], _ i: inout Int) throws(ChainError) -> Int {
        guard i < b.count else { throw ChainError(.badLength, "truncated transaction data") }
        let first = b[i]
        i += 1
        let width = first == 0xfd ? 2 : first == 0xfe ? 4 : first == 0xff ? 8 : 0
        if width == 0 { return Int(first) }
        guard i + width <= b.count else { throw ChainError(.badLength, "truncated transaction data") }
        var v = 0
        for k in 0..<width { v |= Int(b[i + k]) << (8 * k) }
        i += width
        guard v <= b.count else { throw ChainError(.badLength, "transaction length \(v) exceeds the data") }
        return v
    }

    static func skip(_ n: Int, _ b: [UInt8], _ i: inout Int) throws(ChainError) {
        guard n >= 0, i + n <= b.count else { throw ChainError(.badLength, "truncated transaction data") }
        i += n
    }

    /// Parses the transaction starting at `i` and returns its txid (internal order), advancing `i`.
    package static func parse(_ b: [UInt8], at i: inout Int) throws(ChainError) -> (txid: [UInt8], bytes: [UInt8]) {
        let start = i
        var stripped: [UInt8] = []
        try skip(4, b, &i)
        stripped += b[start..<i]
        var segwit = false
        if i + 1 < b.count && b[i] == 0 && b[i + 1] == 1 {
            segwit = true
            i += 2
        }
        let bodyStart = i
        let inputs = try compactSize(b, &i)
        for _ in 0..<inputs {
            try skip(36, b, &i)
            try skip(try compactSize(b, &i), b, &i)
            try skip(4, b, &i)
        }
        let outputs = try compactSize(b, &i)
        for _ in 0..<outputs {
            try skip(8, b, &i)
            try skip(try compactSize(b, &i), b, &i)
        }
        stripped += b[bodyStart..<i]
        if segwit {
            for _ in 0..<inputs {
                let items = try compactSize(b, &i)
                for _ in 0..<items { try skip(try compactSize(b, &i), b, &i) }
            }
        }
        let lockStart = i
        try skip(4, b, &i)
        stripped += b[lockStart..<i]
        return (hash256(stripped), Array(b[start..<i]))
    }

    /// The header and the txids of a serialized block.
    package static func parseBlock(_ b: [UInt8]) throws(ChainError) -> (header: BlockHeader, txids: [[UInt8]]) {
        guard b.count >= 81 else { throw ChainError(.badLength, "a block is at least 81 bytes, got \(b.count)") }
        let header = try BlockHeader(bytes: b[0..<80])
        var i = 80
        let n = try compactSize(b, &i)
        var txids: [[UInt8]] = []
        for _ in 0..<n { txids.append(try parse(b, at: &i).txid) }
        guard i == b.count else { throw ChainError(.badLength, "\(b.count - i) bytes after the last transaction") }
        return (header, txids)
    }
}
