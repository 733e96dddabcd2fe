import Foundation
import Stratum
import StratumTestPool
import Synchronization
import TestSupport
import Testing
import WorkSources

/// Issue 23, class 6: on regtest, `mine --pool … --blocks 5` found five block-meeting shares on one job
/// before the pool's next notify and counted five blocks; one landed. Blocks are counted one per
/// previous-block hash: the others are still sent as shares and reported superseded.
@Suite(.serialized) struct PoolBlockParentTests {
    @Test func blocksOnOneParentAreCountedOnce() async throws {
        let pool = try await testPool {
            $0.bits = 0x207f_ffff  // regtest: every share is a block
            $0.difficulties = [0.00001]  // ~43,000 hashes a share: several on one parent even on a slow host
            $0.jobInterval = nil  // only a block moves the chain on
            $0.newTipDelay = .seconds(1)  // the pool's node takes a moment to build on the new tip
        }
        let rig = try PoolRig(pools: [pool.port]) { $0.blocks = 3 }
        #expect(await waitUntil(within: 120) { rig.record.finished.withLock { $0 } }, "run did not end after 3 blocks")
        await rig.stop()
        await pool.stop()
        let stats = pool.stats
        let shares = rig.shares
        #expect(rig.record.error.withLock { $0 } == nil)
        #expect(stats.rejected.isEmpty, "\(stats.rejected)")

        // The pool's own record of each share's parent (from the header it rebuilt), not the miner's.
        let parentOf = Dictionary(stats.accepted.map { ($0.hash, $0.parent) }, uniquingKeysWith: { a, _ in a })
        let counted = shares.filter { $0.isBlock && $0.outcome == .accepted && !$0.superseded }
        let countedParents = counted.compactMap { parentOf[$0.hash] }
        print(
            "pool blocks: \(counted.count) counted, \(shares.filter(\.superseded).count) superseded, chain grew by \(stats.chain.count)"
        )
        // `--blocks 3` means three blocks that can all be on the chain: three parents, each one the pool's
        // chain grew on (by this block or by another of ours on the same parent).
        #expect(counted.count == 3)
        #expect(countedParents.count == 3 && Set(countedParents).count == 3, "parents: \(countedParents)")
        let grewOn = Set(stats.accepted.filter(\.landed).map(\.parent))
        #expect(Set(countedParents).isSubset(of: grewOn))
        #expect(stats.chain.count >= 3)

        // The other blocks on those parents were sent, taken as shares, and reported superseded.
        let superseded = shares.filter(\.superseded)
        #expect(!superseded.isEmpty, "no second block on a parent: the test pool was too slow to show it")
        for s in superseded {
            #expect(s.isBlock && s.outcome == .accepted)
            #expect(countedParents.contains(parentOf[s.hash] ?? "?"), "superseded on a parent with no counted block")
            #expect(s.json["superseded"] as? Bool == true && s.json["block"] as? Bool == true)
        }
        #expect(counted.allSatisfy { $0.json["superseded"] as? Bool == false })
        let status = rig.work.poolStatus
        #expect(status.blocks == 3)
        #expect(status.supersededBlocks == superseded.count)
        #expect(status.summary(seconds: 1, hashes: 1)["blocks_superseded"] as? Int == superseded.count)
        // And to the run's caller: three blocks counted, the rest superseded.
        let blocks = rig.record.blocks.withLock { $0 }
        #expect(blocks.filter { $0.outcome == .accepted && !$0.superseded }.count == 3)
        #expect(Set(blocks.filter(\.superseded).map(\.hash)) == Set(superseded.map(\.hash)))
    }
}
