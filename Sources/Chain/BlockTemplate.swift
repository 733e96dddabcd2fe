import FlexSupport
import Foundation
import SHA256

/// A `getblocktemplate` result (BIP22/23, with BIP9 and BIP145 fields), validated.
package struct BlockTemplate: Sendable, Hashable {
    package struct Transaction: Sendable, Hashable {
        package let data: [UInt8]
        /// Internal byte order.
        package let txid: [UInt8]
        /// wtxid, internal byte order (equals txid for non-witness transactions).
        package let hash: [UInt8]
        package let depends: [Int]
        package let fee: Int64?
        package let sigops: Int?
        package let weight: Int?
    }

    package let version: Int32
    package let rules: [String]
    package let vbavailable: [String: Int]
    package let previousBlockHash: [UInt8]
    package let transactions: [Transaction]
    package let coinbaseValue: Int64
    package let coinbaseAux: [String: String]
    package let longPollID: String?
    package let target: UInt256
    package let minTime: UInt32
    package let mutable: [String]
    package let nonceRange: String?
    package let sigopLimit: Int?
    package let sizeLimit: Int?
    package let weightLimit: Int?
    package let curTime: UInt32
    package let bits: CompactTarget
    package let height: Int
    /// The commitment output's scriptPubKey, when the block must commit to witnesses.
    package let defaultWitnessCommitment: [UInt8]?
    /// The coinbase's merkle branch over the template's txids, computed once: a new coinbase (an
    /// extranonce roll) then costs log₂(n) hashes for its merkle root, not the whole tree.
    package let coinbaseBranch: [[UInt8]]

    /// Parses a `getblocktemplate` result: the bare result object, or a whole JSON-RPC response
    /// (`{"result": …, "error": …, "id": …}`).
    /// - Throws: `ChainError` naming the missing or malformed field, or the node's error.
    package init(json: Data) throws(ChainError) {
        do {
            try self.init(fields: JSONFields(json: json, what: "template"))
        } catch let error as InputError {
            throw ChainError(.badField, "template: \(error.message)")
        } catch let error as ChainError {
            throw error.message.hasPrefix("template:") ? error : ChainError(error.code, "template: \(error.message)")
        } catch {
            throw ChainError(.badField, "template: \(error)")
        }
    }

    init(fields top: JSONFields) throws {
        var f = top
        if !top.has("previousblockhash"), top.keys.contains("result") {
            if let err = try? top.fields("error") {
                throw InputError(
                    "the node answered an error: \((try? err.string("message")) ?? nil ?? "code \(String(describing: err.object["code"]))")"
                )
            }
            guard let r = try top.fields("result") else { throw InputError("field \"result\" is null") }
            f = JSONFields(r.object)
        }
        // Integers are range-checked before conversion: a template is input from outside.
        version = Int32(truncatingIfNeeded: try f.requiredInteger("version", in: Int(Int32.min)...Int(UInt32.max)))
        rules = try f.strings("rules") ?? []
        let vb = try f.fields("vbavailable")
        vbavailable = (vb?.object ?? [:]).compactMapValues {
            JSONScalar.number($0).map { Int(clamping: Int64(exactly: $0.rounded()) ?? 0) }
        }
        previousBlockHash = try internalBytes(
            displayHex: f.requiredString("previousblockhash"), field: "previousblockhash")
        guard let txs = try f.array("transactions") else { throw InputError("missing field \"transactions\"") }
        transactions = try txs.enumerated().map { (i, t) throws in
            guard let o = t as? [String: Any] else {
                throw InputError("field \"transactions[\(i)]\" must be an object")
            }
            let tf = JSONFields(o, path: "transactions[\(i)].")
            let data = try decodeHex(tf.requiredString("data"), field: "transactions[\(i)].data")
            let txid = try internalBytes(displayHex: tf.requiredString("txid"), field: "transactions[\(i)].txid")
            let hash =
                try tf.string("hash").map { h throws in
                    try internalBytes(displayHex: h, field: "transactions[\(i)].hash")
                } ?? txid
            let depends = try (tf.array("depends") ?? []).enumerated().map { (k, d) throws in
                guard let n = JSONScalar.integer(d, in: 0...1_000_000) else {
                    throw InputError("field \"transactions[\(i)].depends[\(k)]\" must be a transaction index")
                }
                return n
            }
            return Transaction(
                data: data, txid: txid, hash: hash, depends: depends,
                fee: try tf.integer("fee", in: -Int(Int32.max)...Int(Int64(21e14))).map(Int64.init),
                sigops: try tf.integer("sigops", in: 0...Int(Int32.max)),
                weight: try tf.integer("weight", in: 0...Int(Int32.max)))
        }
        coinbaseValue = Int64(try f.requiredInteger("coinbasevalue", in: 0...Int(Int64(21e14))))
        coinbaseAux = (try f.fields("coinbaseaux")?.object ?? [:]).compactMapValues { $0 as? String }
        longPollID = try f.string("longpollid")
        let targetHex = try f.requiredString("target")
        let targetBytes = try decodeHex(targetHex, field: "target")
        guard let t = try? UInt256(bigEndianBytes: targetBytes) else {
            throw InputError("field \"target\" must be 64 hex digits")
        }
        target = t
        minTime = UInt32(try f.requiredInteger("mintime", in: 0...Int(UInt32.max)))
        mutable = try f.strings("mutable") ?? []
        nonceRange = try f.string("noncerange")
        sigopLimit = try f.integer("sigoplimit", in: 0...Int(Int32.max))
        sizeLimit = try f.integer("sizelimit", in: 0...Int(Int32.max))
        weightLimit = try f.integer("weightlimit", in: 0...Int(Int32.max))
        curTime = UInt32(try f.requiredInteger("curtime", in: 0...Int(UInt32.max)))
        bits = try CompactTarget(hex: f.requiredString("bits"), name: "bits")
        height = try f.requiredInteger("height", in: 0...Int(Int32.max))
        if let c = try f.string("default_witness_commitment") {
            defaultWitnessCommitment = try decodeHex(c, field: "default_witness_commitment")
        } else {
            defaultWitnessCommitment = nil
        }
        coinbaseBranch = Merkle.branch(hashesAfterFirst: transactions.map(\.txid))
        guard (try? bits.target()) == target else {
            throw ChainError(.badField, "template: target \(targetHex) does not match bits \(bits.hex)")
        }
    }

    /// The network the template's target implies when it is unambiguous (regtest's easy target).
    package var impliedNetwork: Network? { bits.bits == 0x207f_ffff ? .regtest : nil }

    /// The coinbase for this template.
    package func coinbase(payoutScript: [UInt8], extranonce: UInt64, message: [UInt8] = []) throws(ChainError)
        -> Coinbase
    {
        try Coinbase(
            height: height, extranonce: extranonce, message: message, payoutScript: payoutScript, value: coinbaseValue,
            witnessCommitment: defaultWitnessCommitment)
    }

    /// The header for `coinbase` (merkle root over the coinbase txid and the template's txids), at
    /// `time` (raised to `mintime` if below) and `nonce`.
    package func header(coinbase: Coinbase, time: UInt32? = nil, nonce: UInt32 = 0) -> BlockHeader {
        let root = Merkle.root(first: coinbase.txid, branch: coinbaseBranch)
        return try! BlockHeader(  // both hashes are 32 bytes by construction
            version: version, previousBlockHash: previousBlockHash, merkleRoot: root,
            time: Swift.max(time ?? curTime, minTime), bits: bits, nonce: nonce)
    }

    /// The serialized block: header, transaction count, coinbase, then the template's transactions.
    package func block(header: BlockHeader, coinbase: Coinbase) -> [UInt8] {
        var w = ByteWriter()
        w.append(header.bytes)
        w.appendCompactSize(UInt64(transactions.count + 1))
        w.append(coinbase.bytes)
        for t in transactions { w.append(t.data) }
        return w.bytes
    }
}
