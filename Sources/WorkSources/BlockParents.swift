/// The parents (previous-block hashes, display order) that already have one of our blocks counted.
///
/// Only one block per parent can be on the chain: two blocks on the same previous block compete, and the
/// chain grows by one whichever wins. A pool keeps sending shares of a job until it notifies a new one,
/// so a fast miner finds several block-meeting shares on one parent (issue 23: five within 40 ms, five
/// counted, one on the chain). A block is counted toward `--blocks` only when its parent is claimed
/// here first; the others are superseded (still sent, as the shares they are). Bounded: the oldest
/// parents are forgotten first, long after their blocks were buried.
package struct BlockParents: Sendable {
    private var order: [String] = []
    private var claimed: Set<String> = []
    package let limit: Int

    package init(limit: Int = 1024) { self.limit = max(1, limit) }

    /// Claims `parent` for one block. False when a block on it was counted already: this one is superseded.
    package mutating func claim(_ parent: String) -> Bool {
        guard claimed.insert(parent).inserted else { return false }
        order.append(parent)
        if order.count > limit { claimed.remove(order.removeFirst()) }
        return true
    }

    /// Whether a block on `parent` was counted.
    package func contains(_ parent: String) -> Bool { claimed.contains(parent) }
}
