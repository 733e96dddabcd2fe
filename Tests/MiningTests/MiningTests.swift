import Chain
import Foundation
import Mining
import MiningKernels
import SHA256
import Synchronization
import TestSupport
import Testing

/// Collects events until `until` says stop or `timeout` passes.
func collect(
    _ engine: MiningEngine, timeout: Duration = .seconds(60), until: @escaping @Sendable ([MiningEvent]) -> Bool
) async -> [MiningEvent] {
    await withTaskGroup(of: [MiningEvent]?.self) { group in
        group.addTask {
            var got: [MiningEvent] = []
            for await e in engine.events {
                got.append(e)
                if until(got) { return got }
            }
            return got
        }
        group.addTask {
            try? await Task.sleep(for: timeout)
            return nil
        }
        let first = await group.next()!
        group.cancelAll()
        return first ?? []
    }
}

let hardTarget = UInt256(1)  // nothing will meet it: keeps workers busy for control tests

@Suite("Nonce-search engine", .serialized)
struct MiningEngineTests {
    @Test(arguments: [1, 2])
    func findsTheGenesisNonce(threads: Int) async throws {
        var header = try BlockHeader(hex: HeaderFixture.all[0].header)
        header.nonce = 0
        let engine = try MiningEngine(threads: threads)
        engine.setJob(
            try MiningJob(
                id: 7, header: header, blockTarget: try header.bits.target(), firstNonce: 2_083_000_000,
                nonceCount: 1_000_000))
        let events = await collect(engine) { $0.contains { if case .solution = $0 { true } else { false } } }
        engine.stop()
        guard case .solution(let s) = events.first else {
            Issue.record("no solution: \(events)")
            return
        }
        #expect(s.nonce == 2_083_236_893)
        #expect(s.jobID == 7)
        #expect(s.isBlock && !s.isStale)
        #expect(s.hash.reversedHex == HeaderFixture.all[0].hash)
        #expect(s.header.hex == HeaderFixture.all[0].header)
    }

    @Test func findsTheNonceOfEveryFixtureBlock() async throws {
        for fixture in HeaderFixture.all {
            var header = try BlockHeader(hex: fixture.header)
            let nonce = header.nonce
            header.nonce = 0
            let first = nonce > 40_000 ? nonce - 40_000 : 0
            let engine = try MiningEngine(threads: 2)
            engine.setJob(
                try MiningJob(
                    id: 1, header: header, blockTarget: try header.bits.target(), firstNonce: first, nonceCount: 80_000)
            )
            let events = await collect(engine) { $0.contains { if case .exhausted = $0 { true } else { false } } }
            engine.stop()
            let nonces = events.compactMap { if case .solution(let s) = $0 { s.nonce } else { nil } }
            #expect(nonces == [nonce], "\(fixture.name)")
        }
    }

    /// With an easy target, every winning nonce in the range is reported exactly once, whatever the
    /// thread count and batch size.
    @Test(arguments: [(1, UInt32(64)), (2, 256), (3, 1000)])
    func everySolutionExactlyOnce(threads: Int, batch: UInt32) async throws {
        let header = try BlockHeader(hex: HeaderFixture.all[3].header)
        let target = UInt256(1) << 252  // about 1 hash in 16
        let first: UInt32 = 5_000
        let count = 20_000
        var expected = Set<UInt32>()
        for n in first..<first + UInt32(count) {
            var h = header
            h.nonce = n
            if h.meets(target) { expected.insert(n) }
        }
        let engine = try MiningEngine(threads: threads, batchSize: batch)
        engine.setJob(
            try MiningJob(id: 3, header: header, blockTarget: target, firstNonce: first, nonceCount: UInt64(count)))
        let events = await collect(engine) { $0.contains { if case .exhausted = $0 { true } else { false } } }
        engine.stop()
        let found = events.compactMap { if case .solution(let s) = $0 { s.nonce } else { nil } }
        #expect(found.count == expected.count)
        #expect(Set(found) == expected)
        #expect(engine.snapshot().totalHashes >= UInt64(count))
    }

    @Test func shareTargetReportsSharesAndBlocks() async throws {
        let header = try BlockHeader(hex: HeaderFixture.all[3].header)
        let block = UInt256(1) << 250
        let share = UInt256(1) << 253
        let engine = try MiningEngine(threads: 2)
        engine.setJob(try MiningJob(id: 1, header: header, blockTarget: block, shareTarget: share, nonceCount: 4000))
        let events = await collect(engine) { $0.contains { if case .exhausted = $0 { true } else { false } } }
        engine.stop()
        let sols = events.compactMap { if case .solution(let s) = $0 { s } else { nil } }
        #expect(!sols.isEmpty)
        for s in sols {
            let v = UInt256(digest: s.hash)
            #expect(v <= share)
            #expect(s.isBlock == (v <= block))
        }
        #expect(throws: EngineError.self) {
            try MiningJob(id: 1, header: header, blockTarget: share, shareTarget: block)
        }
    }

    @Test func haltStopsEveryWorkerAndResumeContinues() throws {
        let header = try BlockHeader(hex: HeaderFixture.all[1].header)
        let engine = try MiningEngine(threads: 2)
        defer { engine.stop() }
        engine.setJob(try MiningJob(id: 1, header: header, blockTarget: hardTarget))
        #expect(eventually(within: 10) { engine.snapshot().hashesPerWorker.allSatisfy { $0 > 0 } })
        let latency = engine.halt()
        #expect(latency < .seconds(1))
        #expect(engine.isHalted)
        let a = engine.snapshot()
        #expect(a.parkedWorkers == 2)
        // The halt's trace: every worker went to park between the start and the end of this halt().
        let trace = engine.lastHaltTrace
        let started = try #require(trace.started)
        let finished = try #require(trace.finished)
        #expect(abs((finished - started - latency) / .microseconds(1)) < 1)
        #expect(trace.boosted.map { $0 >= started && $0 <= finished } ?? false)
        #expect(trace.parked.count == 2)
        for p in trace.parked {
            let p = try #require(p)
            #expect(p >= started && p <= finished)
        }
        Thread.sleep(forTimeInterval: 0.05)
        let b = engine.snapshot()
        #expect(a.hashesPerWorker == b.hashesPerWorker, "a halted worker hashed")
        engine.resume()
        #expect(
            eventually(within: 10) {
                engine.snapshot().hashesPerWorker.enumerated().allSatisfy { $0.element > b.hashesPerWorker[$0.offset] }
            })
        #expect(engine.measuredHaltLatencies.count == 1)
    }

    /// Workers run at SCHED_IDLE, so busy threads of another process keep a preempted worker off the CPU
    /// mid-batch. Halts must still end with every worker parked, and whatever `halt()` does to get the
    /// stragglers there, no worker may keep hashing at real-time priority after the resume.
    @Test func haltsUnderForeignLoadLeaveNoWorkerAtRealTimePriority() throws {
        let header = try BlockHeader(hex: HeaderFixture.all[1].header)
        let engine = try MiningEngine(threads: 2, priority: .idle)
        defer { engine.stop() }
        engine.setJob(try MiningJob(id: 1, header: header, blockTarget: hardTarget))
        #expect(eventually(within: 10) { engine.snapshot().hashesPerWorker.allSatisfy { $0 > 0 } })
        // Two normal-priority spinners per CPU: the stand-in for a compiler on the same machine.
        final class Flag: Sendable { let on = Atomic<Bool>(true) }
        let spinning = Flag()
        let hogs = (0..<2 * ProcessInfo.processInfo.activeProcessorCount).map { _ in
            Thread {
                var x: UInt64 = 0
                while spinning.on.load(ordering: .relaxed) { x &+= 1 }
                _ = x
            }
        }
        for h in hogs { h.start() }
        for _ in 0..<20 {
            Thread.sleep(forTimeInterval: 0.002)
            engine.halt()
            #expect(engine.snapshot().parkedWorkers == 2)
            engine.resume()
        }
        spinning.on.store(false, ordering: .relaxed)
        let idle: Int32 = 5  // SCHED_IDLE
        #expect(
            eventually(within: 10) { engine.workerThreadIDs.allSatisfy { sched_getscheduler($0) == idle } },
            "workers left at policies \(engine.workerThreadIDs.map { sched_getscheduler($0) }) after \(engine.haltBoosts) boosts"
        )
        let a = engine.snapshot().hashesPerWorker
        #expect(
            eventually(within: 10) {
                engine.snapshot().hashesPerWorker.enumerated().allSatisfy { $0.element > a[$0.offset] }
            })
    }

    @Test func halfCapacityWithTwoWorkersRunsOne() throws {
        let header = try BlockHeader(hex: HeaderFixture.all[1].header)
        let engine = try MiningEngine(threads: 2)
        defer { engine.stop() }
        engine.setCapacity(0.5)
        engine.setJob(try MiningJob(id: 1, header: header, blockTarget: hardTarget))
        #expect(engine.capacity == 0.5)
        // Worker 0 has hashed, so it has left the park it started in: the one parked is worker 1. (A
        // worker that read the mode before setCapacity may hash one batch on the job first.)
        #expect(
            eventually(within: 10) {
                let s = engine.snapshot()
                return s.parkedWorkers == 1 && s.hashesPerWorker[0] > 0
            })
        let a = engine.snapshot()
        #expect(eventually(within: 10) { engine.snapshot().hashesPerWorker[0] > a.hashesPerWorker[0] })
        let b = engine.snapshot()
        #expect(b.hashesPerWorker[1] == a.hashesPerWorker[1])
        #expect(b.activeWorkers == 1)
    }

    /// Latency samples are bounded: at the limit the oldest tenth goes, the newest stays.
    @Test func latencySamplesAreBounded() {
        let limit = MiningEngine.latencySampleLimit
        var samples = (0..<limit).map { Duration.nanoseconds($0) }
        MiningEngine.keep(.nanoseconds(limit), in: &samples)
        #expect(samples.count == limit - limit / 10 + 1)
        #expect(samples.first == .nanoseconds(limit / 10))
        #expect(samples.last == .nanoseconds(limit))
    }

    /// 0.25 of one worker is a duty cycle: roughly a quarter of full speed.
    @Test func dutyCycleDrawsAFractionOfAWorker() throws {
        let header = try BlockHeader(hex: HeaderFixture.all[1].header)
        // Normal priority: an idle-priority worker can be starved outright by the other suites running
        // in parallel, which would measure the machine, not the duty cycle.
        let engine = try MiningEngine(threads: 1, priority: .normal)
        defer { engine.stop() }
        engine.setJob(try MiningJob(id: 1, header: header, blockTarget: hardTarget))
        #expect(eventually(within: 10) { engine.snapshot().totalHashes > 0 })
        func rate(_ seconds: Double) -> Double {
            let a = engine.snapshot().totalHashes
            Thread.sleep(forTimeInterval: seconds)
            return Double(engine.snapshot().totalHashes - a) / seconds
        }
        let full = rate(0.3)
        engine.setCapacity(0.25)
        let quarter = rate(1.0)
        // Generous bounds: the machine is shared; the point is "clearly throttled, not stopped".
        #expect(quarter > 0 && quarter < full * 0.6, "full \(full) H/s, at 25 %: \(quarter) H/s")
    }

    @Test func survivesRapidRandomControlChanges() throws {
        let header = try BlockHeader(hex: HeaderFixture.all[1].header)
        let engine = try MiningEngine(threads: 2, batchSize: 256)
        engine.setJob(try MiningJob(id: 1, header: header, blockTarget: hardTarget))
        var rng = SeededRNG()
        for i in 0..<10_000 {
            switch Int.random(in: 0..<5, using: &rng) {
            case 0: engine.halt()
            case 1: engine.resume()
            case 2: engine.setCapacity(Double.random(in: -0.2...1.2, using: &rng))
            case 3:
                if i % 100 == 0 { engine.setJob(try MiningJob(id: UInt64(i), header: header, blockTarget: hardTarget)) }
            default: _ = engine.snapshot()
            }
        }
        engine.setCapacity(1)
        engine.resume()
        let before = engine.snapshot().totalHashes
        #expect(eventually(within: 10) { engine.snapshot().totalHashes > before })
        engine.stop()
        #expect(engine.liveWorkerThreads == 0)
    }

    @Test func stopJoinsEveryThread() throws {
        for _ in 0..<20 {
            let engine = try MiningEngine(threads: 3)
            #expect(eventually(within: 10) { engine.liveWorkerThreads == 3 })
            engine.stop()
            #expect(engine.liveWorkerThreads == 0)
            engine.stop()  // idempotent
        }
    }

    /// Workers are named for `top -H` and /proc (read here from /proc, by the ids the engine gives).
    @Test func workersAreNamedByIndex() throws {
        let engine = try MiningEngine(threads: 3)
        defer { engine.stop() }
        #expect(eventually(within: 10) { engine.workerThreadIDs.allSatisfy { $0 != 0 } })
        let names = engine.workerThreadIDs.map {
            ((try? String(contentsOfFile: "/proc/self/task/\($0)/comm", encoding: .utf8)) ?? "")
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        #expect(names == ["flexminer-w0", "flexminer-w1", "flexminer-w2"])
    }

    @Test func newJobReplacesTheOldOneOnAllWorkers() async throws {
        let a = try BlockHeader(hex: HeaderFixture.all[2].header)
        let b = try BlockHeader(hex: HeaderFixture.all[4].header)
        let easy = UInt256(1) << 252
        let engine = try MiningEngine(threads: 2)
        engine.setJob(try MiningJob(id: 1, header: a, blockTarget: hardTarget))
        #expect(eventually(within: 10) { engine.snapshot().totalHashes > 10_000 })
        engine.setJob(try MiningJob(id: 2, header: b, blockTarget: easy, nonceCount: 3000))
        let events = await collect(engine) { $0.contains { if case .exhausted(2) = $0 { true } else { false } } }
        engine.stop()
        let sols = events.compactMap { if case .solution(let s) = $0 { s } else { nil } }
        #expect(!sols.isEmpty)
        for s in sols {
            #expect(s.jobID == 2 && !s.isStale && s.header.previousBlockHash == b.previousBlockHash, "\(s)")
        }
        #expect(engine.snapshot().jobsStarted == 2)
    }

    @Test func exhaustedRangeRollsTimeWhenTheSourceAllows() async throws {
        var header = try BlockHeader(hex: HeaderFixture.all[5].header)
        header.nonce = 0
        let source = TimeRollingSource(baseTime: header.time, maxTimeRoll: 2)
        let engine = try MiningEngine(threads: 2, source: source)
        // Start near the end of the nonce space so the roll happens quickly.
        engine.setJob(try MiningJob(id: 10, header: header, blockTarget: hardTarget, firstNonce: .max - 5000))
        #expect(eventually(within: 30) { engine.currentJob?.id == 11 })
        #expect(engine.currentJob?.header.time == header.time + 1)
        #expect(engine.currentJob?.firstNonce == 0)
        engine.stop()
    }

    @Test func rejectsBadConfiguration() throws {
        #expect(throws: EngineError.self) { try MiningEngine(threads: 0) }
        #expect(throws: EngineError.self) { try MiningEngine(threads: 5000) }
        let header = try BlockHeader(hex: HeaderFixture.all[0].header)
        #expect(throws: EngineError.self) {
            try MiningJob(id: 1, header: header, blockTarget: hardTarget, nonceCount: 0)
        }
    }

    @Test func hashRateWindows() throws {
        let header = try BlockHeader(hex: HeaderFixture.all[1].header)
        let engine = try MiningEngine(threads: 1)
        defer { engine.stop() }
        engine.setJob(try MiningJob(id: 1, header: header, blockTarget: hardTarget))
        // Hashes count when a batch ends: wait for one (a slow debug build under TSan takes a while).
        #expect(
            eventually(within: 10) {
                let s = engine.snapshot()
                return s.hashRate5s > 0 && s.hashRate60s > 0
            })
        let s = engine.snapshot()
        #expect(s.totalHashes == s.hashesPerWorker.reduce(0, +))
    }
}

/// The signal thread's guard against floods: over its CPU budget it leaves real-time priority, and it
/// takes it back once quiet. Run on a thread of its own (the policy is per thread).
@Suite struct ControlThreadBudgetTests {
    @Test func lowersOverBudgetAndRaisesWhenQuiet() throws {
        final class Result: @unchecked Sendable {
            // @unchecked: written by the thread below before the semaphore is signalled, read after.
            var steps: [String] = []
        }
        let result = Result()
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            defer { done.signal() }
            guard ControlThread.raiseCurrent() == 0 else {
                result.steps = ["not permitted"]
                return
            }
            let budget = ControlThread.Budget(maxShare: 0.5, resumeShare: 0.1)
            result.steps.append(ControlThread.currentPolicy)
            result.steps.append("\(String(describing: budget.decide(share: 0.3)))")  // within budget: nothing
            result.steps.append("\(String(describing: budget.decide(share: 0.9)))")
            result.steps.append(ControlThread.currentPolicy)
            result.steps.append("\(String(describing: budget.decide(share: 0.3)))")  // not yet quiet
            result.steps.append("\(String(describing: budget.decide(share: 0.05)))")
            result.steps.append(ControlThread.currentPolicy)
        }
        thread.start()
        done.wait()
        try #require(result.steps != ["not permitted"], "needs CAP_SYS_NICE (CI runs as root)")
        #expect(
            result.steps == [
                "fifo", "nil", "Optional(Mining.ControlThread.Budget.Change.lowered(share: 0.9))", "other", "nil",
                "Optional(Mining.ControlThread.Budget.Change.raised)", "fifo",
            ])
    }
}
