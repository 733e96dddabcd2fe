import Chain
import Foundation
import Mining
import SHA256
import TestSupport
import Testing

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
        let events = await collect(engine) { $0.count >= 3 }
        engine.stop()
        let solutions = events.compactMap { if case .solution(let s) = $0 { s } else { nil } }
        #expect(solutions.count >= 3)
        for s in solutions {
            let bytes = try #require(work.block(for: s))
            let block = try RawTransaction.parseBlock(bytes)
            #expect(block.header == s.header)
            #expect(block.header.meets(t.target))
            #expect(Merkle.root(block.txids) == block.header.merkleRoot)
            #expect(Array(block.txids.dropFirst()) == t.transactions.map(\.txid))
            #expect(block.header.time >= t.minTime)
            let coinbase = try t.coinbase(
                payoutScript: payout.scriptPubKey, extranonce: s.jobID - 1, message: Array("FlexMiner".utf8))
            #expect(coinbase.txid == block.txids[0])
            #expect(coinbase.scriptSig.starts(with: [0x01, 0x6a]))  // BIP34: height 106
            #expect(coinbase.bytes.count > coinbase.strippedBytes.count)  // carries the witness reserved value
            #expect(Hex.encode(coinbase.bytes).contains(Hex.encode(t.defaultWitnessCommitment!)))
        }
    }

    @Test func blocksAreWrittenBeforeAnythingElse() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("flexminer-test-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try BlockFiles.write(hex: "00ff", height: 7, hash: "abc", to: dir)
        #expect(path.hasSuffix("/7-abc.hex"))
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "00ff\n")
        #expect(throws: EngineError.self) {
            try BlockFiles.write(hex: "00", height: 1, hash: "x", to: "/proc/forbidden/dir")
        }
    }
}
