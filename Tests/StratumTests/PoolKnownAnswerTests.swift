import Chain
import Foundation
import OpenSSLSHA256
import SHA256
import Stratum
import TestSupport
import Testing
import WorkSources

/// The six shares a real pool (ckpool in front of a regtest node) accepted, rebuilt from their notify
/// parameters, extranonces, ntime, nonce and version bits to exactly the header and hash the pool saw.
struct FixtureShare: Sendable, CustomStringConvertible {
    let notify: [String]
    let branch: [String]
    let clean: Bool
    let extranonce1: String
    let extranonce2: String
    let difficulty: Double
    let versionBits: UInt32
    let submit: [String]
    let coinbase: String
    let merkleRoot: String
    let header: String
    let hash: String
    var description: String { "job \(notify[0])" }

    static let mask: UInt32 = 0x1fff_e000

    static let all: [FixtureShare] = {
        // A missing fixture is a broken checkout: fail loudly.
        let o = try! Fixtures.json("stratum/ckpool-regtest.shares.json") as! [String: Any]
        return (o["shares"] as! [[String: Any]]).map { s in
            let n = s["notify"] as! [Any]
            return FixtureShare(
                notify: n.compactMap { $0 as? String }, branch: n[4] as! [String], clean: n[8] as! Bool,
                extranonce1: s["extranonce1"] as! String, extranonce2: s["extranonce2"] as! String,
                difficulty: s["difficulty"] as! Double,
                versionBits: UInt32(s["version_rolled_bits"] as! String, radix: 16)!, submit: s["submit"] as! [String],
                coinbase: s["coinbase"] as! String, merkleRoot: s["merkle_root"] as! String,
                header: s["header"] as! String, hash: s["hash"] as! String)
        }
    }()

    var params: [Any] {
        [notify[0], notify[1], notify[2], notify[3], branch, notify[4], notify[5], notify[6], clean]
    }
}

@Suite struct PoolKnownAnswerTests {
    @Test func sixFixtureShares() { #expect(FixtureShare.all.count == 6) }

    @Test(arguments: FixtureShare.all)
    func rebuildsHeaderAndHash(_ f: FixtureShare) throws {
        let job = try StratumJob(params: f.params)
        let e1 = try Hex.decode(f.extranonce1)
        let e2 = try Hex.decode(f.extranonce2)
        let coinbase = PoolWork.coinbase(job: job, extranonce1: e1, extranonce2: e2)
        #expect(Hex.encode(coinbase) == f.coinbase)
        let root = PoolWork.merkleRoot(coinbase: coinbase, branch: job.merkleBranch)
        #expect(Hex.encode(root.reversed()) == f.merkleRoot)
        let nonce = try #require(UInt32(f.submit[4], radix: 16))
        let version = (job.version & ~FixtureShare.mask) | f.versionBits
        let header = try PoolWork.header(job: job, extranonce1: e1, extranonce2: e2, version: version, nonce: nonce)
        #expect(header.hex == f.header)
        #expect(header.hash.reversedHex == f.hash)
        // The same bytes through OpenSSL: the fixture's hash is what any implementation gets.
        #expect(Hex.encode(OpenSSLSHA256.hashTwice(header.bytes).reversed()) == f.hash)
        // The share meets its difficulty; what FlexMiner would send is what the pool accepted.
        #expect(header.meets(try CompactTarget.target(forDifficulty: f.difficulty)))
        #expect(StratumHex.word(nonce) == f.submit[4])
        #expect(StratumHex.word(job.time) == f.submit[3])
        #expect(Hex.encode(StratumHex.extranonce2(UInt64(f.submit[2], radix: 16)!, size: 8)) == f.submit[2])
        if f.versionBits != 0 {
            #expect(f.submit.count == 6 && StratumHex.word(version & FixtureShare.mask) == f.submit[5])
        } else {
            #expect(f.submit.count == 5)
        }
    }

    @Test func firstShareHasABranchOfThree() throws {
        #expect(try StratumJob(params: FixtureShare.all[0].params).merkleBranch.count == 3)
    }

    @Test func prevhashWordOrder() {
        let words = Array(0..<32).map { UInt8($0) }
        let internalOrder = PoolWork.previousBlockHash(words: words)
        #expect(Array(internalOrder[0..<8]) == [3, 2, 1, 0, 7, 6, 5, 4])
    }

    @Test func versionBitsStayWithinTheMask() {
        var rng = SeededRNG()
        for _ in 0..<2000 {
            let mask = UInt32.random(in: 0...UInt32.max, using: &rng)
            let index = UInt64.random(in: 0...UInt64(UInt32.max), using: &rng)
            let bits = PoolWork.versionBits(index: index, mask: mask)
            #expect(bits & ~mask == 0)
        }
        #expect(PoolWork.versionBits(index: 1, mask: 0x1fff_e000) == 0x2000)
        #expect(PoolWork.versionBits(index: 3, mask: 0x1fff_e000) == 0x6000)
        // Distinct indices give distinct bits within the mask's range.
        let all = Set((0..<4096).map { PoolWork.versionBits(index: UInt64($0), mask: 0x1fff_e000) })
        #expect(all.count == 4096)
    }

    @Test func shareTargetsFromDifficulty() throws {
        #expect(try CompactTarget.target(forDifficulty: 1).hex == "00000000ffff" + String(repeating: "0", count: 52))
        let half = try CompactTarget.target(forDifficulty: 0.5)
        #expect(half.hex.hasPrefix("00000001fffe"))
    }

    @Test func realSessionLinesParse() throws {
        let text = try Fixtures.text("stratum/ckpool-regtest.session.jsonl")
        var notifies = 0
        for raw in text.split(separator: "\n") {
            let entry = try #require(try JSONSerialization.jsonObject(with: Data(raw.utf8)) as? [String: Any])
            guard entry["dir"] as? String == "pool->miner", let line = entry["line"] as? String,
                let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                o["method"] as? String == "mining.notify"
            else { continue }
            _ = try StratumJob(params: try #require(o["params"] as? [Any]))
            notifies += 1
        }
        #expect(notifies >= 6)
    }

    /// Bad notify params (the value as JSON): an error that names the field, never a trap.
    @Test(arguments: [
        (4, #"["zz00000000000000000000000000000000000000000000000000000000000000"]"#, "merkle_branch"),
        (1, #""abcd""#, "prevhash"),
        (5, "7", "version"),
        (8, #""yes""#, "clean_jobs"),
        (2, #""0g""#, "coinb1"),
        (4, #""not an array""#, "merkle_branch"),
    ])
    func badNotifyNamesTheField(_ index: Int, _ json: String, _ field: String) throws {
        var params = FixtureShare.all[0].params
        params[index] = try JSONSerialization.jsonObject(with: Data(json.utf8), options: [.fragmentsAllowed])
        #expect(throws: StratumError.self) { try StratumJob(params: params) }
        do { _ = try StratumJob(params: params) } catch { #expect(error.message.contains(field)) }
    }

    @Test func poolURLs() throws {
        #expect(try StratumURL("stratum+tcp://pool.example:3333").port == 3333)
        #expect(try StratumURL("stratum+tcp://[::1]:3333").host == "::1")
        for bad in ["http://x:1", "stratum+tcp://x", "stratum+tcp://user:pw@x:1", "stratum+tcp://x:0"] {
            #expect(throws: StratumError.self) { try StratumURL(bad) }
        }
    }
}

/// A pool's lines as the client reads them (`StratumInbound`, pure): events with their values, and
/// errors that name the parameter.
@Suite struct StratumInboundTests {
    func event(_ line: String) throws(StratumError) -> StratumEvent? {
        guard case .notification(let method, let params, _) = try StratumInbound.parse(Array(line.utf8)) else {
            return nil
        }
        return try StratumInbound.event(method: method, params: params, requestedMask: 0x1fff_e000)
    }

    @Test func reconnectPortsAreChecked() throws {
        #expect(
            try event(#"{"id":null,"method":"client.reconnect","params":["pool.example","3334",5]}"#)
                == .reconnect(host: "pool.example", port: 3334, waitSeconds: 5))
        #expect(
            try event(#"{"id":null,"method":"client.reconnect","params":["",3333,9999]}"#)
                == .reconnect(host: nil, port: 3333, waitSeconds: 600))
        #expect(
            try event(#"{"id":null,"method":"client.reconnect","params":[]}"#)
                == .reconnect(host: nil, port: nil, waitSeconds: 0))
        for port in [#""70000""#, "70000", "-1", "0", #""x""#, "3.5", "[1]"] {
            do {
                _ = try event(#"{"id":null,"method":"client.reconnect","params":["",\#(port),0]}"#)
                Issue.record("port \(port) accepted")
            } catch {
                #expect(error.code == .malformed)
                #expect(
                    error.message.contains("client.reconnect: param 1 (port) must be 1...65535"), "\(error.message)")
            }
        }
    }

    @Test func otherNotificationsAndReplies() throws {
        #expect(try event(#"{"id":null,"method":"mining.set_difficulty","params":[0.5]}"#) == .difficulty(0.5))
        #expect(throws: StratumError.self) { try event(#"{"id":null,"method":"mining.set_difficulty","params":[-1]}"#) }
        #expect(
            try event(#"{"id":null,"method":"mining.set_version_mask","params":["ffffffff"]}"#)
                == .versionMask(0x1fff_e000))
        #expect(try event(#"{"id":7,"method":"mining.ping","params":[]}"#) == nil)
        guard
            case .reply(let id, _, let error) = try StratumInbound.parse(
                Array(#"{"id":"4","result":null,"error":[23,"Low difficulty share",null]}"#.utf8))
        else {
            Issue.record("not a reply")
            return
        }
        #expect(id == 4 && error == "Low difficulty share")
        #expect(throws: StratumError.self) { try StratumInbound.parse(Array(#"{"result":true}"#.utf8)) }
    }
}
