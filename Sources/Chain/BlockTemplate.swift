import Foundation
import SHA256

/// A `getblocktemplate` result (BIP22/23, with BIP9 and BIP145 fields), validated.
public struct BlockTemplate: Sendable, Hashable {
    public struct Transaction: Sendable, Hashable {
        public let data: [UInt8]
        /// Internal byte order.
        public let txid: [UInt8]
        /// wtxid, internal byte order (equals txid for non-witness transactions).
        public let hash: [UInt8]
        public let depends: [Int]
        public let fee: Int64?
        public let sigops: Int?
        public let weight: Int?
    }

    public let version: Int32
    public let rules: [String]
    public let vbavailable: [String: Int]
    public let previousBlockHash: [UInt8]
    public let transactions: [Transaction]
    public let coinbaseValue: Int64
    public let coinbaseAux: [String: String]
    public let longPollID: String?
    public let target: UInt256
    public let minTime: UInt32
    public let mutable: [String]
    public let nonceRange: String?
    public let sigopLimit: Int?
    public let sizeLimit: Int?
    public let weightLimit: Int?
    public let curTime: UInt32
    public let bits: CompactTarget
    public let height: Int
    /// The commitment output's scriptPubKey, when the block must commit to witnesses.
    public let defaultWitnessCommitment: [UInt8]?

    /// Parses a `getblocktemplate` result: the bare result object, or a whole JSON-RPC response
    /// (`{"result": …, "error": …, "id": …}`).
    /// - Throws: `ChainError` naming the missing or malformed field, or the node's error.
    public init(json: Data) throws(ChainError) {
        let top: Any
        do { top = try JSONSerialization.jsonObject(with: json) } catch {
            throw ChainError(.badField, "template: not valid JSON")
        }
        guard var object = top as? [String: Any] else { throw ChainError(.badField, "template: not a JSON object") }
        if object["previousblockhash"] == nil, object.keys.contains("result") {
            if let err = object["error"] as? [String: Any] {
                throw ChainError(.badField, "template: the node answered an error: \(err["message"] ?? err)")
            }
            guard let r = object["result"] as? [String: Any] else {
                throw ChainError(.badField, "template: \"result\" is not an object")
            }
            object = r
        }
        let f = Fields(object)
        version = Int32(truncatingIfNeeded: try f.int("version"))
        rules = try f.optional("rules", as: [String].self) ?? []
        vbavailable = (try f.optional("vbavailable", as: [String: Any].self) ?? [:]).compactMapValues {
            ($0 as? NSNumber)?.intValue
        }
        previousBlockHash = try internalBytes(displayHex: f.string("previousblockhash"), field: "previousblockhash")
        guard let txs = object["transactions"] as? [[String: Any]] else {
            throw ChainError(.badField, "template: field \"transactions\" is missing or not an array of objects")
        }
        transactions = try txs.enumerated().map { (i, t) throws(ChainError) in
            let tf = Fields(t, prefix: "transactions[\(i)].")
            let data = try decodeHex(tf.string("data"), field: "transactions[\(i)].data")
            let txid = try internalBytes(displayHex: tf.string("txid"), field: "transactions[\(i)].txid")
            let hash =
                try tf.optional("hash", as: String.self).map { h throws(ChainError) in
                    try internalBytes(displayHex: h, field: "transactions[\(i)].hash")
                } ?? txid
            return Transaction(
                data: data, txid: txid, hash: hash, depends: try tf.optional("depends", as: [Int].self) ?? [],
                fee: try tf.optional("fee", as: NSNumber.self)?.int64Value,
                sigops: try tf.optional("sigops", as: NSNumber.self)?.intValue,
                weight: try tf.optional("weight", as: NSNumber.self)?.intValue)
        }
        coinbaseValue = Int64(try f.int("coinbasevalue"))
        coinbaseAux = (try f.optional("coinbaseaux", as: [String: Any].self) ?? [:]).compactMapValues { $0 as? String }
        longPollID = try f.optional("longpollid", as: String.self)
        let targetHex = try f.string("target")
        target = try UInt256(bigEndianBytes: decodeHex(targetHex, field: "target"))
        minTime = UInt32(truncatingIfNeeded: try f.int("mintime"))
        mutable = try f.optional("mutable", as: [String].self) ?? []
        nonceRange = try f.optional("noncerange", as: String.self)
        sigopLimit = try f.optional("sigoplimit", as: NSNumber.self)?.intValue
        sizeLimit = try f.optional("sizelimit", as: NSNumber.self)?.intValue
        weightLimit = try f.optional("weightlimit", as: NSNumber.self)?.intValue
        curTime = UInt32(truncatingIfNeeded: try f.int("curtime"))
        bits = try CompactTarget(hex: f.string("bits"), name: "bits")
        height = try f.int("height")
        if let c = try f.optional("default_witness_commitment", as: String.self) {
            defaultWitnessCommitment = try decodeHex(c, field: "default_witness_commitment")
        } else {
            defaultWitnessCommitment = nil
        }
        guard (try? bits.target()) == target else {
            throw ChainError(.badField, "template: target \(targetHex) does not match bits \(bits.hex)")
        }
    }

    /// The network the template's target implies when it is unambiguous (regtest's easy target).
    public var impliedNetwork: Network? { bits.bits == 0x207f_ffff ? .regtest : nil }

    /// The coinbase for this template.
    public func coinbase(payoutScript: [UInt8], extranonce: UInt64, message: [UInt8] = []) throws(ChainError)
        -> Coinbase
    {
        try Coinbase(
            height: height, extranonce: extranonce, message: message, payoutScript: payoutScript, value: coinbaseValue,
            witnessCommitment: defaultWitnessCommitment)
    }

    /// The header for `coinbase` (merkle root over the coinbase txid and the template's txids), at
    /// `time` (raised to `mintime` if below) and `nonce`.
    public func header(coinbase: Coinbase, time: UInt32? = nil, nonce: UInt32 = 0) -> BlockHeader {
        let root = Merkle.root([coinbase.txid] + transactions.map(\.txid))
        return try! BlockHeader(  // both hashes are 32 bytes by construction
            version: version, previousBlockHash: previousBlockHash, merkleRoot: root,
            time: Swift.max(time ?? curTime, minTime), bits: bits, nonce: nonce)
    }

    /// The serialized block: header, transaction count, coinbase, then the template's transactions.
    public func block(header: BlockHeader, coinbase: Coinbase) -> [UInt8] {
        var w = ByteWriter()
        w.append(header.bytes)
        w.appendCompactSize(UInt64(transactions.count + 1))
        w.append(coinbase.bytes)
        for t in transactions { w.append(t.data) }
        return w.bytes
    }
}

/// Typed access to a JSON object's fields with errors that name the field.
private struct Fields {
    let object: [String: Any]
    let prefix: String
    init(_ object: [String: Any], prefix: String = "") {
        self.object = object
        self.prefix = prefix
    }

    func int(_ key: String) throws(ChainError) -> Int {
        guard let v = object[key] else { throw ChainError(.badField, "template: field \"\(prefix)\(key)\" is missing") }
        // JSON true/false also arrive as NSNumber; their Objective-C type is "c" (char).
        guard let n = v as? NSNumber, String(cString: n.objCType) != "c", n.doubleValue == n.doubleValue.rounded()
        else {
            throw ChainError(.badField, "template: field \"\(prefix)\(key)\" must be an integer")
        }
        return n.intValue
    }

    func string(_ key: String) throws(ChainError) -> String {
        guard let v = object[key] else { throw ChainError(.badField, "template: field \"\(prefix)\(key)\" is missing") }
        guard let s = v as? String else {
            throw ChainError(.badField, "template: field \"\(prefix)\(key)\" must be a string")
        }
        return s
    }

    func optional<T>(_ key: String, as: T.Type) throws(ChainError) -> T? {
        guard let v = object[key], !(v is NSNull) else { return nil }
        guard let t = v as? T else {
            throw ChainError(.badField, "template: field \"\(prefix)\(key)\" has the wrong type")
        }
        return t
    }
}
