import Chain
import Foundation
import SHA256
import TestSupport
import Testing

@Suite("Addresses (Bitcoin Core key_io vectors)")
struct AddressTests {
    @Test func validAddressesDecodeToTheirScripts() throws {
        let vectors = try #require(Fixtures.json("bitcoin-core/key_io_valid.json") as? [[Any]])
        var checked = 0
        for v in vectors {
            guard let text = v[0] as? String, let script = v[1] as? String, let meta = v[2] as? [String: Any],
                meta["isPrivkey"] as? Bool == false, let chain = meta["chain"] as? String,
                let network = Network(rawValue: chain)
            else { continue }
            let address = try PayoutAddress(text, network: network)
            #expect(Hex.encode(address.scriptPubKey) == script, "\(text)")
            if meta["tryCaseFlip"] as? Bool == true {
                #expect(try PayoutAddress(text.uppercased()).scriptPubKey == address.scriptPubKey)
            }
            checked += 1
        }
        #expect(checked >= 30)
    }

    @Test func invalidAddressesAreRejected() throws {
        let vectors = try #require(Fixtures.json("bitcoin-core/key_io_invalid.json") as? [[Any]])
        for v in vectors {
            let text = v[0] as! String
            #expect(throws: ChainError.self, "\(text)") { try PayoutAddress(text) }
        }
    }

    @Test func networkMismatchIsRefused() throws {
        let regtest = "bcrt1qft5p2uhsdcdc3l2ua4ap5qqfg4pjaqlp250x7us7a8qqhrxrxfsqseac85"
        #expect(try PayoutAddress(regtest, network: .regtest).scriptPubKey.count == 34)
        do {
            _ = try PayoutAddress(regtest, network: .main)
            Issue.record("a regtest address was accepted for mainnet")
        } catch {
            #expect(error.message.contains("is for regtest, but the work is for main"))
        }
    }
}

@Suite("Templates to blocks (real regtest node fixtures)")
struct TemplateTests {
    func template(_ name: String) throws -> BlockTemplate {
        try BlockTemplate(json: Fixtures.data("regtest/\(name).gbt.json"))
    }

    /// Rebuilding the coinbase as the fixture README describes reproduces the accepted block byte
    /// for byte.
    @Test(arguments: ["empty-mempool", "segwit-mempool"])
    func rebuildsTheAcceptedBlock(_ name: String) throws {
        let t = try template(name)
        let accepted = try Hex.decode(Fixtures.text("regtest/\(name).accepted-block.hex"))
        let meta = try #require(Fixtures.json("regtest/\(name).accepted-block.json") as? [String: Any])
        let payout = try PayoutAddress(meta["payout_address"] as! String, network: .regtest)
        #expect(Hex.encode(payout.scriptPubKey) == meta["payout_scriptPubKey"] as? String)
        let coinbase = try t.coinbase(payoutScript: payout.scriptPubKey, extranonce: 7)
        let acceptedHeader = try BlockHeader(bytes: accepted[0..<80])
        let header = t.header(coinbase: coinbase, time: acceptedHeader.time, nonce: acceptedHeader.nonce)
        #expect(Hex.encode(header.merkleRoot.reversed()) == meta["merkleroot"] as? String)
        #expect(header.hash.reversedHex == meta["hash"] as? String)
        #expect(t.block(header: header, coinbase: coinbase) == accepted)
        #expect(header.meets(t.target))
        let parsed = try RawTransaction.parseBlock(accepted)
        #expect(parsed.txids.count == meta["nTx"] as? Int)
        #expect(parsed.txids[0] == coinbase.txid)
    }

    @Test func witnessCommitmentMatchesTheNodes() throws {
        let t = try template("segwit-mempool")
        #expect(t.transactions.contains { $0.txid != $0.hash })
        #expect(Merkle.witnessCommitmentScript(wtxids: t.transactions.map(\.hash)) == t.defaultWitnessCommitment)
    }

    @Test func parsesEveryField() throws {
        let t = try template("segwit-mempool")
        #expect(t.version == 0x2000_0000)
        #expect(t.rules == ["csv", "!segwit", "taproot"])
        #expect(t.height == 106)
        #expect(t.coinbaseValue == 5_000_060_000)
        #expect(t.bits.bits == 0x207f_ffff)
        #expect(t.impliedNetwork == .regtest)
        #expect(t.curTime >= t.minTime)
        #expect(t.transactions.count == 6)
        #expect(t.mutable.contains("time"))
        #expect(t.longPollID != nil)
        #expect(t.weightLimit == 4_000_000)
        let chained = try template("chained-mempool")  // the bare result object
        #expect(chained.height == 104)
        #expect(chained.transactions.map(\.depends) == [[], [], [], [], [1]])
        #expect(chained.defaultWitnessCommitment != nil)
    }

    @Test func timeNeverBelowMintime() throws {
        let t = try template("empty-mempool")
        let coinbase = try t.coinbase(payoutScript: [0x51], extranonce: 0)
        #expect(t.header(coinbase: coinbase, time: 0).time == t.minTime)
    }

    @Test(arguments: [
        ("{", "malformed JSON"),
        ("[]", "must be a JSON object"),
        (
            #"{"result": null, "error": {"code": -8, "message": "getblocktemplate must be called with the segwit rule set"}}"#,
            "the node answered an error"
        ),
        (#"{"version": 1}"#, "missing field \"previousblockhash\""),
        (#"{"version": 1e300}"#, "field \"version\" must be -2147483648...4294967295"),
        (#"{"version": 1, "previousblockhash": "00", "transactions": "x"}"#, "a hash is 64 hex digits"),
    ])
    func malformedTemplatesNameTheProblem(json: String, expected: String) {
        do {
            _ = try BlockTemplate(json: Data(json.utf8))
            Issue.record("accepted \(json)")
        } catch {
            #expect(error.message.contains(expected), "\(error.message)")
        }
    }

    @Test func fieldErrorsNameTheField() throws {
        var object = try #require(Fixtures.json("regtest/empty-mempool.gbt.json") as? [String: Any])
        var result = object["result"] as! [String: Any]
        for (key, bad) in [
            ("height", "x" as Any), ("bits", 12 as Any), ("coinbasevalue", NSNull() as Any), ("curtime", true as Any),
            ("height", 1.5 as Any), ("previousblockhash", "00" as Any),
        ] {
            var r = result
            r[key] = bad
            object["result"] = r
            let data = try JSONSerialization.data(withJSONObject: object)
            #expect(throws: ChainError.self) { try BlockTemplate(json: data) }
        }
        result["target"] = "00000000ffff0000000000000000000000000000000000000000000000000000"
        object["result"] = result
        let data = try JSONSerialization.data(withJSONObject: object)
        do {
            _ = try BlockTemplate(json: data)
            Issue.record("target/bits mismatch accepted")
        } catch {
            #expect(error.message.contains("does not match bits"))
        }
    }

    @Test func coinbaseScriptSigLimits() throws {
        #expect(Coinbase.heightPush(1) == [0x51])
        #expect(Coinbase.heightPush(16) == [0x60])
        #expect(Coinbase.heightPush(17) == [0x01, 0x11])
        #expect(Coinbase.heightPush(105) == [0x01, 0x69])
        #expect(Coinbase.heightPush(128) == [0x02, 0x80, 0x00])
        #expect(Coinbase.heightPush(413_567) == [0x03, 0x7f, 0x4f, 0x06])
        #expect(throws: ChainError.self) {
            try Coinbase(
                height: 1, extranonce: 0, message: [UInt8](repeating: 0x41, count: 95), payoutScript: [0x51], value: 1,
                witnessCommitment: nil)
        }
        #expect(throws: ChainError.self) {
            try Coinbase(height: 1, extranonce: 0, payoutScript: [0x51], value: -1, witnessCommitment: nil)
        }
    }
}

@Suite("Merkle roots of real blocks")
struct MerkleTests {
    /// Mainnet block 413567 (1,500+ transactions): recompute its merkle root from its transactions.
    /// ../shared is not part of a user's checkout: without it the test is reported as skipped.
    @Test(.enabled(if: SharedData.available, "needs ../shared/fixtures/bitcoin-core/block413567.raw"))
    func block413567() throws {
        let raw = try Data(contentsOf: URL(fileURLWithPath: SharedData.path("fixtures/bitcoin-core/block413567.raw")))
        let block = try RawTransaction.parseBlock(Array(raw))
        #expect(block.txids.count > 1500)
        #expect(Merkle.root(block.txids) == block.header.merkleRoot)
        #expect(block.header.hash.reversedHex == "0000000000000000025aff8be8a55df8f89c77296db6198f272d6577325d4069")
    }
}
