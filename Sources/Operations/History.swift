import FlexSupport
import Foundation
import Synchronization

/// The last hour of the miner, one sample a second, for the dashboard's charts (`GET /history`). A
/// fixed ring: filled by the status ticker (never by the hashing threads), read by HTTP requests.
package final class HistoryRing: Sendable {
    package struct Sample: Sendable {
        package var time: Double
        package var hashRate: Double
        package var capacity: Double
        package var activeWorkers: Int
        package var price: Double?
        package var breakEven: Double?
        package var state: String

        package init(
            time: Double, hashRate: Double, capacity: Double, activeWorkers: Int, price: Double?, breakEven: Double?,
            state: String
        ) {
            self.time = time
            self.hashRate = hashRate
            self.capacity = capacity
            self.activeWorkers = activeWorkers
            self.price = price
            self.breakEven = breakEven
            self.state = state
        }
    }

    package let capacity: Int
    private let ring: Mutex<(samples: [Sample], next: Int)>

    /// - Parameter capacity: samples kept (3600: an hour of 1-second samples).
    package init(capacity: Int = 3600) {
        self.capacity = max(1, capacity)
        ring = Mutex(([], 0))
    }

    package func record(_ s: Sample) {
        ring.withLock { r in
            if r.samples.count < capacity {
                r.samples.append(s)
            } else {
                r.samples[r.next] = s
            }
            r.next = (r.next + 1) % capacity
        }
    }

    /// Oldest first.
    package var samples: [Sample] {
        ring.withLock { r in
            r.samples.count < capacity ? r.samples : Array(r.samples[r.next...] + r.samples[..<r.next])
        }
    }

    /// `{"interval_seconds":1,"samples":[{"t","hash_rate","capacity","active_workers","price","breakeven","state"}]}`
    package var json: String {
        let list: [[String: Any]] = samples.map { s in
            [
                "t": s.time, "hash_rate": s.hashRate, "capacity": s.capacity, "active_workers": s.activeWorkers,
                "price": s.price ?? NSNull(), "breakeven": s.breakEven ?? NSNull(), "state": s.state,
            ]
        }
        return JSONLine.encode(["interval_seconds": 1, "capacity": capacity, "samples": list])
    }
}

/// The last decisions (the decision log's entries), kept in memory for the dashboard
/// (`GET /decisions`), whether or not a decision log file is configured.
package final class RecentDecisions: Sendable {
    package let capacity: Int
    private let ring: Mutex<(entries: [String], total: Int)>

    package init(capacity: Int = 50) {
        self.capacity = max(1, capacity)
        ring = Mutex(([], 0))
    }

    /// Records one entry (already encoded as a JSON object).
    package func record(_ json: String) {
        ring.withLock { r in
            r.entries.append(json)
            if r.entries.count > capacity { r.entries.removeFirst(r.entries.count - capacity) }
            r.total += 1
        }
    }

    /// Entries recorded since start (the dashboard reloads the list when it changes).
    package var total: Int { ring.withLock { $0.total } }

    /// `{"total":N,"decisions":[…]}`, oldest first.
    package var json: String {
        let (entries, total) = ring.withLock { ($0.entries, $0.total) }
        return "{\"decisions\":[" + entries.joined(separator: ",") + "],\"total\":\(total)}"
    }
}
