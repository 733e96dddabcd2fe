/// The coinbase transaction of a block built from a template.
///
/// scriptSig = BIP34 height push, an 8-byte extranonce push (rolled by the miner), and an optional
/// message push; one output paying the block reward to the payout script, then the witness
/// commitment output when the block commits to witnesses (with the 32-byte zero witness reserved
/// value as the coinbase input's witness).
package struct Coinbase: Hashable, Sendable {
    package let height: Int
    /// Changed only by `with(extranonce:)`, which keeps what `init` checked.
    package private(set) var extranonce: UInt64
    package let message: [UInt8]
    package let payoutScript: [UInt8]
    package let value: Int64
    /// The full scriptPubKey of the commitment output (`default_witness_commitment`), if any.
    package let witnessCommitment: [UInt8]?

    /// - Throws: `ChainError` when the scriptSig would leave the 2–100 bytes consensus allows, or the
    ///   height or value is out of range.
    package init(
        height: Int, extranonce: UInt64, message: [UInt8] = [], payoutScript: [UInt8], value: Int64,
        witnessCommitment: [UInt8]?
    ) throws(ChainError) {
        guard height >= 0 && height <= Int(Int32.max) else {
            throw ChainError(.badField, "height \(height) out of range")
        }
        guard value >= 0 && value <= 21_000_000 * 100_000_000 else {
            throw ChainError(.badField, "coinbase value \(value) out of range")
        }
        self.height = height
        self.extranonce = extranonce
        self.message = message
        self.payoutScript = payoutScript
        self.value = value
        self.witnessCommitment = witnessCommitment
        let n = scriptSig.count
        guard (2...100).contains(n) else {
            throw ChainError(.badField, "coinbase scriptSig is \(n) bytes; it must be 2-100 (shorten the message)")
        }
    }

    /// The same coinbase with another extranonce. Cannot fail: the extranonce is always one 8-byte push,
    /// so the scriptSig keeps the size `init` checked, and nothing else changes.
    package func with(extranonce: UInt64) -> Coinbase {
        var rolled = self
        rolled.extranonce = extranonce
        return rolled
    }

    /// The height as BIP34 requires: `CScript() << height` (OP_0, OP_1…OP_16, or a minimal number push).
    package static func heightPush(_ height: Int) -> [UInt8] {
        if height == 0 { return [0x00] }
        if height <= 16 { return [0x50 + UInt8(height)] }
        var num: [UInt8] = []
        var v = height
        while v > 0 {
            num.append(UInt8(v & 0xff))
            v >>= 8
        }
        if num.last! & 0x80 != 0 { num.append(0) }  // keep the number positive
        return [UInt8(num.count)] + num
    }

    package var scriptSig: [UInt8] {
        var w = ByteWriter()
        w.append(Coinbase.heightPush(height))
        var nonce = ByteWriter()
        nonce.appendLE(extranonce)
        w.appendPush(nonce.bytes)
        if !message.isEmpty { w.appendPush(message) }
        return w.bytes
    }

    /// Serialization without witness: what the txid hashes.
    package var strippedBytes: [UInt8] { serialize(witness: false) }

    /// Serialization as it goes into the block (with witness when committing to witnesses).
    package var bytes: [UInt8] { serialize(witness: witnessCommitment != nil) }

    /// The txid in internal byte order.
    package var txid: [UInt8] { hash256(strippedBytes) }

    private func serialize(witness: Bool) -> [UInt8] {
        var w = ByteWriter()
        w.appendLE(Int32(2))
        if witness { w.append([0x00, 0x01]) }
        w.appendCompactSize(1)
        w.append([UInt8](repeating: 0, count: 32))
        w.appendLE(UInt32.max)
        let sig = scriptSig
        w.appendCompactSize(UInt64(sig.count))
        w.append(sig)
        w.appendLE(UInt32.max)
        w.appendCompactSize(witnessCommitment == nil ? 1 : 2)
        w.appendLE(value)
        w.appendCompactSize(UInt64(payoutScript.count))
        w.append(payoutScript)
        if let c = witnessCommitment {
            w.appendLE(Int64(0))
            w.appendCompactSize(UInt64(c.count))
            w.append(c)
        }
        if witness {
            w.appendCompactSize(1)
            w.appendCompactSize(32)
            w.append([UInt8](repeating: 0, count: 32))
        }
        w.appendLE(UInt32(0))
        return w.bytes
    }
}

extension Coinbase {
    /// The BIP34 height at the start of a serialized coinbase's scriptSig (a pool's coinbase, say), or
    /// nil when the bytes are not a one-input transaction starting with a height push. A prefix is
    /// enough (stratum's coinbase1 holds the scriptSig's start).
    package static func height(inSerialized b: [UInt8]) -> Int? {
        var i = 4  // version
        guard b.count > 5 else { return nil }
        if b[4] == 0x00 && b[5] == 0x01 { i += 2 }  // segwit marker and flag
        guard (try? RawTransaction.compactSize(b, &i)) == 1 else { return nil }  // one input
        i += 36  // the null outpoint
        // The scriptSig's length: one byte (at most 100); read here, not checked against `b`, which may
        // end inside the scriptSig.
        guard i + 1 < b.count, (1...100).contains(b[i]) else { return nil }
        i += 1
        let op = b[i]
        if op == 0x00 { return 0 }
        if (0x51...0x60).contains(op) { return Int(op - 0x50) }
        // A minimal push of 1-4 bytes, little-endian; the top bit of the last byte would make it negative.
        guard (1...4).contains(op), i + Int(op) < b.count, b[i + Int(op)] & 0x80 == 0 else { return nil }
        var height = 0
        for k in 0..<Int(op) { height |= Int(b[i + 1 + k]) << (8 * k) }
        return height
    }
}
