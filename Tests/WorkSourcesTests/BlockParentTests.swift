import Foundation
import Testing
import WorkSources

/// Issue 23, class 6 (solo): only one block per parent can be on the chain. After an accepted block,
/// mining moves to a template on the new tip before a second block is counted, even when the node
/// still serves the old template for a moment.
@Suite("Solo mining: one block per parent", .serialized)
struct BlockParentTests {
    @Test func aSecondBlockWaitsForATemplateOnTheNewTip() async throws {
        try await withNode("empty-mempool") { node in
            node.state.withLock { $0.staleTemplatesAfterBlock = 3 }
            let log = CapturedLog()
            let (reports, error) = try await mineBlocks(node, journal: nil, blocks: 2, log: log)
            #expect(error == nil, "\(String(describing: error))")
            // Both on the node's chain: accepted, on two parents (the node's own decoding of the blocks).
            #expect(reports.map(\.outcome) == [.accepted, .accepted], "\(reports.map(\.outcome))")
            let accepted = node.state.withLock { Array($0.accepted.values) }
            let parents = try accepted.map { try IndependentBlock($0).previousHashHex }
            #expect(parents.count == 2 && Set(parents).count == 2)
            #expect(node.state.withLock { $0.submissions.count } == 2)  // no competitor was mined
            // The old templates were fetched, and waited out rather than mined.
            #expect(node.calls("getblocktemplate") >= 5)
            #expect(log.all.contains { $0.contains("waiting for its new tip") })
        }
    }
}
