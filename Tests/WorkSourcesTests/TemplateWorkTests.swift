import Chain
import Foundation
import Mining
import OpenSSLSHA256
import SHA256
import TestSupport
import Testing
import WorkSources

@Suite("Mining a real regtest template", .serialized)
struct TemplateWorkTests {
    /// Blocks mined from the node's template are valid by independent checks: header hash at or below
    /// the target, merkle root over the parsed transactions, BIP34 height and value in the coinbase,
    /// the node's witness commitment, and the template's transactions unchanged.
    @Test func minedBlocksAreValid() async throws {
        let t = try BlockTemplate(json: Fixtures.data("regtest/segwit-mempool.gbt.json"))
        let payout = try PayoutAddress(
            "bcrt1qft5p2uhsdcdc3l2ua4ap5qqfg4pjaqlp250x7us7a8qqhrxrxfsqseac85", network: .regtest)
        let work = try TemplateWork(template: t, payoutScript: payout.scriptPubKey, message: Array("FlexMiner".utf8))
        let engine = try MiningEngine(threads: 2, source: work)
        engine.setJob(work.freshJob())
        var solutions: [MiningSolution] = []
        for await event in engine.events {
            if case .solution(let s) = event { solutions.append(s) }
            if solutions.count >= 3 { break }
        }
        engine.stop()
        #expect(solutions.count >= 3)
        let json = try #require(Fixtures.json("regtest/segwit-mempool.gbt.json") as? [String: Any])
        let fields = (json["result"] as? [String: Any]) ?? json
        for s in solutions {
            // Checked with the test's own decoder and OpenSSL against the template's own fields.
            let block = try IndependentBlock(try #require(work.block(for: s)))
            #expect(block.header == s.header.bytes)
            #expect(block.meets(targetHex: fields["target"] as! String))
            #expect(block.merkleRoot == block.merkleRootField)
            let txs = (fields["transactions"] as! [[String: Any]]).map { $0["data"] as! String }
            #expect(block.txs.dropFirst().map { hex($0.raw) } == txs)
            #expect(block.time >= UInt32((fields["mintime"] as! NSNumber).intValue))
            let cb = block.txs[0]
            #expect(cb.scriptSigOfFirstInput.starts(with: bip34Push((fields["height"] as! NSNumber).intValue)))
            #expect(cb.raw.count > cb.stripped.count)  // carries the witness reserved value
            #expect(cb.outputs.contains { hex($0.script) == fields["default_witness_commitment"] as? String })
            #expect(cb.outputs.reduce(0) { $0 + $1.value } == (fields["coinbasevalue"] as! NSNumber).int64Value)
        }
    }

    @Test func blocksAreWrittenBeforeAnythingElse() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("flexminer-test-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try BlockFiles.write(hex: "00ff", height: 7, hash: "abc", to: dir)
        #expect(path.hasSuffix("/7-abc.hex"))
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "00ff\n")
        #expect(throws: WorkError.self) {
            try BlockFiles.write(hex: "00", height: 1, hash: "x", to: "/proc/forbidden/dir")
        }
    }
}
