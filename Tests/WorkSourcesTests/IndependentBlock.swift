import Foundation
import OpenSSLSHA256

/// A block decoded and checked with the test's own small code and OpenSSL, never with the modules
/// under test (`RawTransaction`, `Merkle`, `Coinbase`, `BlockHeader.meets`): the oracle of the fake
/// node and of the template tests.
struct IndependentBlock {
    struct Tx {
        /// Serialization without witness data (what the txid hashes).
        var stripped: [UInt8]
        var scriptSigOfFirstInput: [UInt8]
        var outputs: [(value: Int64, script: [UInt8])]
        var txid: [UInt8] { OpenSSLSHA256.hashTwice(stripped) }
        /// The whole serialization, as the block carries it.
        var raw: [UInt8]
    }

    let header: [UInt8]
    let txs: [Tx]

    struct Malformed: Error {}

    init(_ b: [UInt8]) throws {
        var i = 0
        func need(_ n: Int) throws { if n < 0 || i + n > b.count { throw Malformed() } }
        func take(_ n: Int) throws -> [UInt8] {
            try need(n)
            defer { i += n }
            return Array(b[i..<i + n])
        }
        func le(_ n: Int) throws -> UInt64 { try take(n).reversed().reduce(0) { $0 << 8 | UInt64($1) } }
        func varint() throws -> Int {
            let first = try le(1)
            switch first {
            case 0xfd: return Int(try le(2))
            case 0xfe: return Int(try le(4))
            case 0xff: throw Malformed()
            default: return Int(first)
            }
        }
        header = try take(80)
        let count = try varint()
        guard count >= 1, count < 100_000 else { throw Malformed() }
        var txs: [Tx] = []
        for _ in 0..<count {
            let start = i
            var stripped = try take(4)
            let segwit = i + 1 < b.count && b[i] == 0 && b[i + 1] == 1
            if segwit { i += 2 }
            let bodyStart = i
            let inputs = try varint()
            var firstSig: [UInt8] = []
            for k in 0..<inputs {
                _ = try take(36)
                let sig = try take(try varint())
                if k == 0 { firstSig = sig }
                _ = try take(4)
            }
            var outputs: [(Int64, [UInt8])] = []
            for _ in 0..<(try varint()) {
                let value = Int64(bitPattern: try le(8))
                outputs.append((value, try take(try varint())))
            }
            stripped += b[bodyStart..<i]
            if segwit {
                for _ in 0..<inputs {
                    for _ in 0..<(try varint()) { _ = try take(try varint()) }
                }
            }
            stripped += try take(4)
            txs.append(
                Tx(stripped: stripped, scriptSigOfFirstInput: firstSig, outputs: outputs, raw: Array(b[start..<i])))
        }
        guard i == b.count else { throw Malformed() }
        self.txs = txs
    }

    /// Display-order hex of the header hash.
    var hashHex: String { hex(OpenSSLSHA256.hashTwice(header).reversed()) }
    var previousHashHex: String { hex(header[4..<36].reversed()) }
    var merkleRootField: [UInt8] { Array(header[36..<68]) }
    var time: UInt32 { header[68..<72].reversed().reduce(0) { $0 << 8 | UInt32($1) } }
    var bitsHex: String { hex(header[72..<76].reversed()) }

    /// Merkle root over the txids: pairwise SHA-256d, odd levels duplicate their last hash.
    var merkleRoot: [UInt8] {
        var level = txs.map(\.txid)
        while level.count > 1 {
            if level.count % 2 == 1 { level.append(level[level.count - 1]) }
            level = stride(from: 0, to: level.count, by: 2).map { OpenSSLSHA256.hashTwice(level[$0] + level[$0 + 1]) }
        }
        return level[0]
    }

    /// Whether the header hash, read as a 256-bit little-endian number, is at or below `targetHex`
    /// (64 hex digits, most significant first, as getblocktemplate writes it).
    func meets(targetHex: String) -> Bool {
        let hash = Array(OpenSSLSHA256.hashTwice(header).reversed())  // most significant first
        let target = bytes(targetHex)
        guard target.count == 32 else { return false }
        for (h, t) in zip(hash, target) where h != t { return h < t }
        return true
    }
}

func hex(_ b: some Sequence<UInt8>) -> String { b.map { String(format: "%02x", $0) }.joined() }

func bytes(_ hex: String) -> [UInt8] {
    let u = Array(hex.utf8)
    guard u.count % 2 == 0 else { return [] }
    return stride(from: 0, to: u.count, by: 2).compactMap {
        UInt8(String(decoding: u[$0..<$0 + 2], as: UTF8.self), radix: 16)
    }
}

/// The BIP34 height push a coinbase scriptSig must start with (minimal little-endian number).
func bip34Push(_ height: Int) -> [UInt8] {
    var n = height
    var out: [UInt8] = []
    while n > 0 {
        out.append(UInt8(n & 0xff))
        n >>= 8
    }
    if let last = out.last, last & 0x80 != 0 { out.append(0) }
    return [UInt8(out.count)] + out
}
