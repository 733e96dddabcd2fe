import Chain
import FlexSupport
import Foundation
import Mining
import StratumTestPool
import Synchronization
import TestSupport
import Testing
import WorkSources

/// Pool-mining measurements (`FLEXMINER_POOL_BENCH=1 swift test -c release --filter PoolBenchmark`):
/// shares per second at a low difficulty, and job-switch latency in two legs — a clean `mining.notify`
/// sent by the pool until the engine holds the new job (loopback, parsing, coinbase and merkle root,
/// `setJob`), and `setJob` until every worker has hashed a batch of the new job.
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["FLEXMINER_POOL_BENCH"] == "1"))
struct PoolBenchmarkTests {
    @Test func sharesPerSecondAtLowDifficulty() async throws {
        let pool = try await testPool {
            $0.difficulties = [0.0001]
            $0.jobInterval = .seconds(5)
        }
        let rig = try PoolRig(pools: [pool.port]) { $0.noncesPerJob = 1 << 32 }
        #expect(await waitUntil(within: 30) { pool.stats.accepted.count >= 1 })
        let start = pool.stats.accepted.count
        let hashes0 = rig.engine.snapshot().totalHashes
        let t0 = ContinuousClock.now
        try await Task.sleep(for: .seconds(10))
        let n = pool.stats.accepted.count - start
        let seconds = (ContinuousClock.now - t0).seconds
        let rate = Double(rig.engine.snapshot().totalHashes - hashes0) / seconds
        await rig.stop()
        await pool.stop()
        let expected = rate / (0.0001 * 4_294_967_296)
        print(
            String(
                format:
                    "pool bench: %.1f shares/s accepted at difficulty 0.0001 (%.2f MH/s; expected %.1f/s), rejected %d",
                Double(n) / seconds, rate / 1e6, expected, pool.stats.rejected.count))
        #expect(pool.stats.rejected.isEmpty)
    }

    @Test func jobSwitchLatency() async throws {
        // Leg 1: notify sent -> the engine's job replaced.
        let pool = try await testPool {
            $0.difficulties = [1000]  // no shares: nothing but switching
            $0.jobInterval = nil
        }
        // Workers at SCHED_IDLE, as `mine` and `run` start them: the network thread wins a CPU at once.
        let rig = try PoolRig(pools: [pool.port], priority: .idle) { $0.noncesPerJob = 1 << 32 }
        #expect(await waitUntil(within: 30) { rig.engine.currentJob != nil })
        var leg1: [Duration] = []
        for _ in 0..<200 {
            let before = rig.engine.currentJob?.header.previousBlockHash
            let t0 = ContinuousClock.now
            pool.newJob(clean: true)
            while rig.engine.currentJob?.header.previousBlockHash == before {}
            leg1.append(ContinuousClock.now - t0)
            try await Task.sleep(for: .milliseconds(5))
        }
        await rig.stop()
        await pool.stop()
        // Leg 2: setJob -> every worker has hashed a batch of the new job (every nonce is a share).
        let engine = try MiningEngine(threads: 2, priority: .idle)
        let firsts = Mutex<[UInt64: [Int: ContinuousClock.Instant]]>([:])
        let consumer = Task {
            for await e in engine.events {
                guard case .solution(let s) = e else { continue }
                let now = ContinuousClock.now
                firsts.withLock { f in
                    if f[s.jobID]?[s.worker] == nil { f[s.jobID, default: [:]][s.worker] = now }
                }
            }
        }
        var leg2: [Duration] = []
        for i in 0..<200 {
            engine.setJob(MiningJob.unsolvable(seed: UInt64(i)))
            try await Task.sleep(for: .milliseconds(5))
            let easy = try MiningJob(
                id: 1_000_000 + UInt64(i), header: MiningJob.unsolvable(seed: UInt64(i) + 7).header,
                blockTarget: UInt256(1), shareTarget: .max)
            let t0 = ContinuousClock.now
            engine.setJob(easy)
            #expect(await waitUntil(within: 5) { firsts.withLock { $0[easy.id]?.count == 2 } })
            let last = firsts.withLock { $0[easy.id]!.values.max()! }
            leg2.append(last - t0)
        }
        engine.stop()
        consumer.cancel()
        print("pool bench: notify sent -> engine on the new job: \(LatencySummary(leg1))")
        print("pool bench: setJob -> every worker hashed a batch of it: \(LatencySummary(leg2))")
    }
}
