import Foundation
import Logging
import Mining
import MiningKernels
import NodeRPC
import Operations
import Stratum
import StratumTestPool
import Synchronization
import TestSupport
import Testing
import WorkSources

/// What a rig's tasks record.
final class RigRecord: Sendable {
    let shares = Mutex<[PoolShare]>([])
    let blocks = Mutex<[SolvedBlock]>([])
    let finished = Mutex(false)
    let error = Mutex<WorkError?>(nil)
}

/// A PoolWork mining on a real engine, and every share it reported.
final class PoolRig: Sendable {
    let work: PoolWork
    let engine: MiningEngine
    let task: Task<Void, Never>
    let record = RigRecord()
    /// Warnings and errors the source logged.
    let log: LogSink
    var shares: [PoolShare] { record.shares.withLock { $0 } }

    init(
        pools: [Int], priority: WorkerPriority = .normal, journal: BlockJournal? = nil,
        configure: (inout PoolWork.Options) -> Void = { _ in }
    ) throws {
        var o = PoolWork.Options(pools: pools.map { StratumURL(host: "127.0.0.1", port: $0) }, user: "bcrt1qtest.rig1")
        o.password = "pool-secret-password"
        o.userAgent = "flexminer/test"
        o.noncesPerJob = 1 << 16  // roll version bits and extranonce2 often
        o.backoffStart = .milliseconds(50)
        o.backoffMax = .milliseconds(400)
        configure(&o)
        let sink = LogSink.capturing()
        self.log = sink
        let logger = Logger(label: "pool-test") {
            FlexLogHandler(label: $0, format: .human, level: .warning, output: sink)
        }
        let work = PoolWork(options: o, journal: journal, logger: logger)
        let engine = try MiningEngine(threads: 2, priority: priority, source: work.jobSource)
        self.work = work
        self.engine = engine
        let record = self.record
        task = Task {
            do throws(WorkError) {
                try await work.run(engine: engine) { b in record.blocks.withLock { $0.append(b) } }
            } catch { record.error.withLock { $0 = error } }
            record.finished.withLock { $0 = true }
        }
        work.onShare { s in record.shares.withLock { $0.append(s) } }
    }

    func stop() async {
        task.cancel()
        _ = await task.value
        engine.stop()
    }

    var accepted: Int { shares.filter { $0.outcome == .accepted }.count }
    var rejected: [PoolShare] {
        shares.filter { if case .rejected = $0.outcome { true } else { false } }
    }
}

func testPool(_ configure: (inout TestPool.Config) -> Void = { _ in }) async throws -> TestPool {
    var c = TestPool.Config()
    // Easy enough for ten shares in seconds, hard enough that a fast kernel (AVX-512: ~90 MH/s on two
    // threads) does not flood the test pool past its grace for shares in flight at a clean job.
    c.difficulties = [0.0003, 0.0006]
    c.jobInterval = .milliseconds(400)
    configure(&c)
    return try await TestPool.start(config: c)
}

@Suite(.serialized) struct PoolMiningTests {
    @Test func sharesAcceptedWithRolledVersionsAndDifficultyChanges() async throws {
        let pool = try await testPool()
        let rig = try PoolRig(pools: [pool.port])
        // Enough shares, over jobs of both difficulties (a fast machine finds ten on the first job).
        let enough = await waitUntil(within: 60) {
            let accepted = pool.stats.accepted
            return accepted.count >= 10 && Set(accepted.map(\.difficulty)).count == 2
        }
        // Stop hashing, and let the verdicts in flight arrive before comparing records.
        rig.engine.halt()
        _ = await waitUntil(within: 5) { rig.accepted == pool.stats.accepted.count }
        await rig.stop()
        await pool.stop()
        let stats = pool.stats
        #expect(enough, "accepted \(stats.accepted.count)")
        #expect(stats.rejected.isEmpty, "\(stats.rejected)")
        #expect(rig.rejected.isEmpty)
        // The pool answered its own mask to our request (the quirk) and we rolled only within it.
        #expect(stats.configureRequests.first == "1fffe000")
        let rolled = stats.accepted.compactMap(\.versionBits)
        #expect(!rolled.isEmpty, "no share with rolled version bits")
        for bits in rolled { #expect(UInt32(bits, radix: 16)! & ~0x1fff_e000 == 0) }
        // Shares from jobs of both difficulties, each judged at its own job's difficulty.
        #expect(Set(stats.accepted.map(\.difficulty)).count == 2)
        for s in stats.accepted { #expect(s.shareDifficulty >= s.difficulty) }
        // Our record of each share agrees with the pool's.
        let ours = rig.shares.filter { $0.outcome == .accepted }
        for s in ours {
            #expect(stats.accepted.contains { $0.nonce == StratumHex.word(s.nonce) && $0.jobID == s.jobID })
        }
        // A share still in flight when the halt came can reach the pool just as the stop closes the
        // connection: then we record it as sent without a verdict, never as lost or accepted.
        let cutOff = rig.shares.filter {
            if case .stale(let reason) = $0.outcome { reason.hasPrefix("no verdict") } else { false }
        }
        for p in stats.accepted {
            let ours = ours.contains { StratumHex.word($0.nonce) == p.nonce && $0.jobID == p.jobID }
            let cut = cutOff.contains { StratumHex.word($0.nonce) == p.nonce && $0.jobID == p.jobID }
            #expect(ours || cut, "the pool accepted \(p.jobID)/\(p.nonce), which we did not record")
        }
        #expect(ours.count + cutOff.count >= stats.accepted.count)
        #expect(stats.subscribes.first?.first == "flexminer/test")
        #expect(stats.authorizes.first == "bcrt1qtest.rig1")
        let status = rig.work.poolStatus
        #expect(status.accepted == ours.count && status.rejected == 0)
    }

    @Test func failoverAndReturnToThePrimary() async throws {
        let primary = try await testPool()
        let backup = try await testPool()
        let rig = try PoolRig(pools: [primary.port, backup.port]) { $0.primaryRetry = .milliseconds(500) }
        #expect(await waitUntil(within: 60) { primary.stats.accepted.count >= 2 })
        await primary.stop()  // the primary dies mid-session
        #expect(await waitUntil(within: 60) { backup.stats.accepted.count >= 2 }, "no shares on the backup")
        let before = primary.stats.accepted.count
        try await primary.restart()
        #expect(await waitUntil(within: 60) { primary.stats.accepted.count >= before + 2 }, "never back on the primary")
        await rig.stop()
        await primary.stop()
        await backup.stop()
        #expect(primary.stats.rejected.isEmpty && backup.stats.rejected.isEmpty)
        #expect(rig.work.poolStatus.failovers >= 2)
    }

    /// A pool that accepts the connection and then says nothing is dead after the idle timeout (90 s in
    /// production, shortened here); the miner moves on to the next pool.
    @Test func silentPoolTimesOutAndFailsOver() async throws {
        let silent = try await testPool { $0.silent = true }
        let backup = try await testPool()
        let rig = try PoolRig(pools: [silent.port, backup.port]) {
            $0.idleTimeout = .milliseconds(500)
            $0.primaryRetry = .seconds(600)
        }
        #expect(await waitUntil(within: 30) { backup.stats.accepted.count >= 2 })
        await rig.stop()
        await silent.stop()
        await backup.stop()
        #expect(silent.stats.connections >= 1)
        #expect(rig.work.poolStatus.failovers >= 1)
        #expect(backup.stats.rejected.isEmpty)
    }

    @Test func reconnectRequestResumesTheSession() async throws {
        let pool = try await testPool()
        let rig = try PoolRig(pools: [pool.port])
        #expect(await waitUntil(within: 60) { pool.stats.accepted.count >= 2 })
        pool.requestReconnect()
        #expect(await waitUntil(within: 30) { pool.stats.subscribes.count >= 2 })
        let before = pool.stats.accepted.count
        #expect(await waitUntil(within: 60) { pool.stats.accepted.count >= before + 2 })
        await rig.stop()
        await pool.stop()
        let subs = pool.stats.subscribes
        // The second subscribe carries the first session's id, and the pool resumed it.
        #expect(subs.count >= 2 && subs[1].count == 2)
        #expect(pool.stats.connections >= 2)
        #expect(pool.stats.rejected.isEmpty)
    }

    @Test(arguments: [
        TestPool.Misbehaviour.hugeLine, .nonHexBranch, .negativeDifficulty, .malformedJSON,
        .reconnectToPortOutOfRange, .reconnectToNegativePort,
    ])
    func badPoolInputDropsAndRetries(_ bad: TestPool.Misbehaviour) async throws {
        let pool = try await testPool()
        pool.misbehave(bad)
        let rig = try PoolRig(pools: [pool.port])
        // The bad line ends the first connection; the retry mines normally (the errors' wording is checked
        // in StratumInboundTests).
        #expect(await waitUntil(within: 60) { pool.stats.connections >= 2 && pool.stats.accepted.count >= 2 })
        await rig.stop()
        await pool.stop()
        #expect(pool.stats.rejected.isEmpty)
        switch bad {
        case .reconnectToPortOutOfRange, .reconnectToNegativePort:
            // Never another port instead (70000 would wrap to 4464).
            #expect(!rig.log.lines.contains { $0.contains(":70000") || $0.contains(":4464") || $0.contains(":-1") })
        default: break
        }
    }

    @Test func curtailKeepsTheConnectionAndResumesOnCurrentWork() async throws {
        let pool = try await testPool { $0.jobInterval = nil }
        let rig = try PoolRig(pools: [pool.port])
        #expect(await waitUntil(within: 60) { pool.stats.accepted.count >= 1 })
        rig.engine.halt()
        let hashes = rig.engine.snapshot().totalHashes
        // While halted: pings answered, a new (clean) job taken without hashing.
        pool.ping()
        #expect(await waitUntil(within: 10) { pool.stats.pongs >= 1 })
        let oldJob = rig.engine.currentJob?.id
        pool.newJob(clean: true)
        let latestJob = String(2, radix: 16)
        // Halted, nothing else changes the job (no rolling, no job interval): a new id is the clean job.
        #expect(await waitUntil(within: 10) { rig.engine.currentJob.map { $0.id != oldJob } ?? false })
        try await Task.sleep(for: .milliseconds(300))
        #expect(rig.engine.snapshot().totalHashes == hashes)
        #expect(pool.connectedClients == 1)
        let before = pool.stats.accepted.count
        rig.engine.resume()
        #expect(await waitUntil(within: 60) { pool.stats.accepted.count >= before + 2 })
        await rig.stop()
        await pool.stop()
        // Every share after the release is on the job current at the release.
        #expect(pool.stats.accepted[before...].allSatisfy { $0.jobID == latestJob })
        #expect(pool.stats.rejected.isEmpty)
    }

    @Test func shareLimitEndsTheRun() async throws {
        let pool = try await testPool()
        let rig = try PoolRig(pools: [pool.port]) { $0.shares = 3 }
        #expect(await waitUntil(within: 60) { rig.record.finished.withLock { $0 } }, "run did not end after 3 shares")
        let status = rig.work.poolStatus
        await rig.stop()
        await pool.stop()
        #expect(status.accepted + status.rejected >= 3)
    }

    /// A share that meets the network target is a block: journaled (fsync'd, 0600) before it is sent —
    /// the test pool refuses a block share whose record is not in the journal yet — with the pool's
    /// verdict after it, reported as a block, and counted.
    @Test func blocksFoundAsSharesAreJournaledBeforeTheyAreSent() async throws {
        let dir = scratchDirectory()
        let journalPath = dir + "/journal.jsonl"
        let pool = try await testPool {
            $0.bits = 0x207f_ffff  // regtest: every share is a block
            $0.height = 4242
            $0.journalToCheck = journalPath
        }
        let rig = try PoolRig(pools: [pool.port], journal: BlockJournal(path: journalPath)) { $0.blocks = 3 }
        #expect(await waitUntil(within: 60) { rig.record.finished.withLock { $0 } }, "run did not end after 3 blocks")
        await rig.stop()
        await pool.stop()
        let stats = pool.stats
        #expect(stats.rejected.isEmpty, "\(stats.rejected)")
        #expect(stats.accepted.count >= 3 && stats.accepted.allSatisfy(\.isBlock))
        #expect(rig.record.error.withLock { $0 } == nil)
        // The journal, read with Foundation: a pool-block record for each block the pool took, then its verdict.
        let lines = try String(contentsOfFile: journalPath, encoding: .utf8).split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        // The pool's chain moves on with each block on its tip, one height up from 4242.
        func height(onParent parent: String) -> Int { stats.chain.firstIndex(of: parent).map { 4243 + $0 } ?? 4242 }
        for share in stats.accepted {
            let at = try #require(
                lines.firstIndex { $0["event"] as? String == "pool-block" && $0["hash"] as? String == share.hash })
            let record = lines[at]
            #expect(record["header"] as? String == share.header)
            #expect(record["height"] as? Int == height(onParent: share.parent))
            #expect(record["job_id"] as? String == share.jobID && record["extranonce2"] as? String == share.extranonce2)
            #expect((record["merkle_branch"] as? [String])?.count == 2)
            // The verdict follows once we read it. The run ends at the third block without waiting for
            // verdicts still in flight: a block the pool took whose reply the end cut off has its record
            // (checked above) and, at most, a "not judged" verdict.
            guard rig.shares.contains(where: { $0.hash == share.hash && $0.outcome == .accepted }) else { continue }
            #expect(
                lines[at...].contains {
                    $0["event"] as? String == "submitted" && $0["hash"] as? String == share.hash
                        && $0["result"] as? String == "accepted"
                })
        }
        var info = stat()
        #expect(stat(journalPath, &info) == 0 && info.st_mode & 0o777 == 0o600)
        // Not the node's to resubmit, and not mistaken for torn lines.
        let pending = try BlockJournal(path: journalPath).pending()
        #expect(pending.blocks.isEmpty && pending.skippedLines == 0)
        // Reported as blocks with the pool's verdict, and counted.
        let blocks = rig.record.blocks.withLock { $0 }
        #expect(blocks.filter { $0.outcome == .accepted }.count >= 3)
        let parents = Dictionary(stats.accepted.map { ($0.hash, $0.parent) }, uniquingKeysWith: { a, _ in a })
        #expect(blocks.allSatisfy { b in parents[b.hash].map { b.height == height(onParent: $0) } ?? true })
        // Every block we call accepted, the pool took; one found as the run ended is reported unjudged.
        #expect(
            Set(blocks.filter { $0.outcome == .accepted }.map(\.hash)).isSubset(of: Set(stats.accepted.map(\.hash))))
        #expect(blocks.allSatisfy { if case .rejected = $0.outcome { false } else { true } })
        #expect(rig.work.poolStatus.blocks >= 3)
    }

    /// A journal that cannot take the block: it goes to a rescue file, the share is still sent (the pool
    /// is its only way into the chain), hashing stops and the source ends with a disk error. Blocks the
    /// workers had already found by then are rescued too, and each is accounted for: taken by the pool
    /// or reported with the reason it was not.
    @Test func aBlockTheJournalCannotTakeIsRescuedSentAndStopsTheSource() async throws {
        let rescue = scratchDirectory()
        let pool = try await testPool { $0.bits = 0x207f_ffff }
        let rig = try PoolRig(pools: [pool.port], journal: BlockJournal(path: "/dev/full", rescueDirectory: rescue))
        #expect(await waitUntil(within: 60) { rig.record.finished.withLock { $0 } }, "the source did not stop")
        await rig.stop()
        await pool.stop()
        let error = rig.record.error.withLock { $0 }
        #expect(error?.code == .disk, "\(String(describing: error))")
        let firstRescued = try #require(
            error?.message.firstMatch(of: #/saved to (\S+/flexminer-rescued-pool-([0-9a-f]{64})\.jsonl)/#))
        #expect(firstRescued.1.hasPrefix(rescue))
        // The first block that could not be journaled was sent and taken.
        #expect(pool.stats.accepted.contains { $0.hash == String(firstRescued.2) })
        let files = try FileManager.default.contentsOfDirectory(atPath: rescue)
        let reported = rig.record.blocks.withLock { $0 }
        for f in files {
            let text = try String(contentsOfFile: rescue + "/" + f, encoding: .utf8)
            let record = try #require(
                try JSONSerialization.jsonObject(with: Data(text.split(separator: "\n")[0].utf8)) as? [String: Any])
            let hash = try #require(record["hash"] as? String)
            #expect(record["event"] as? String == "pool-block")
            #expect(f == "flexminer-rescued-pool-\(hash).jsonl")
            var info = stat()
            #expect(stat(rescue + "/" + f, &info) == 0 && info.st_mode & 0o777 == 0o600)
            let taken = pool.stats.accepted.contains { $0.hash == hash }
            let accountedFor = reported.contains { $0.hash == hash } || rig.shares.contains { $0.hash == hash }
            #expect(taken || accountedFor, "rescued block \(hash) was neither sent nor reported")
        }
    }

    @Test func shareJSONLineHasTheContractKeys() {
        let share = PoolShare(
            outcome: .rejected(reason: "Duplicate share"), pool: "stratum+tcp://127.0.0.1:1", jobID: "a",
            nonce: 0x0002_9825, time: 0x6b0e_d63d, version: 0x2000_4000, extranonce2: [0, 1], difficulty: 0.5,
            isBlock: false, hash: "00", latencyMilliseconds: 1.5)
        let keys = Set(share.json.keys)
        #expect(
            keys == [
                "job_id", "nonce", "ntime", "version", "extranonce2", "difficulty", "result", "reason", "block",
                "latency_ms",
            ])
        #expect(share.json["nonce"] as? String == "00029825")
        #expect(share.json["result"] as? String == "rejected")
    }
}
