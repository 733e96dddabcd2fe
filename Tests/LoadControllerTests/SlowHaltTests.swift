import FlexSupport
import Foundation
import KernelBench
import Mining
import Testing

/// `bench --signal-latency` takes each slow curtailment apart: which step took the time (the
/// controller, a worker, falling asleep) and what the scheduler says that step's thread was doing.
@Suite("Slow curtailments taken apart")
struct SlowHaltTests {
    let t0 = ContinuousClock.now

    func ms(_ x: Double) -> Duration { .nanoseconds(Int64(x * 1e6)) }

    /// Accounting before and after an event: control thread first, then each worker.
    func accounting(_ deltas: [(cpu: Double, wait: Double?, preempted: Int)]) -> (
        [ThreadStates.Accounting?], [ThreadStates.Accounting?]
    ) {
        let before = deltas.map { _ in
            ThreadStates.Accounting(onCPU: .seconds(10), waiting: .seconds(1), preempted: 5, minorFaults: 100)
        }
        let after = deltas.map { d in
            ThreadStates.Accounting(
                onCPU: .seconds(10) + ms(d.cpu), waiting: d.wait.map { .seconds(1) + ms($0) },
                preempted: 5 + d.preempted, minorFaults: 100)
        }
        return (before, after)
    }

    func trace(started: Double, parked: [Double?]) -> MiningEngine.HaltTrace {
        let last = parked.compactMap { $0 }.max() ?? started
        return MiningEngine.HaltTrace(
            started: t0 + ms(started), finished: t0 + ms(last + 0.01), boosted: t0 + ms(started + 0.01), reboosts: 0,
            cpu: ms(0.02), parked: parked.map { $0.map { t0 + ms($0) } })
    }

    @Test func aWorkerRunnableButOffItsCPUIsNamedWaiting() {
        // Line written at 0, halt() at 0.1 ms; worker 1 parks at 3.1 ms, having been runnable 2.9 ms of it.
        let (b, a) = accounting([(0.05, 0, 0), (0.1, 0, 0), (0.01, 2.9, 0)])
        let e = SignalLatencyBench.takeApart(
            total: ms(3.2), written: t0, trace: trace(started: 0.1, parked: [0.15, 3.1]), decide: ms(0.03),
            before: b, after: a)
        #expect(e.step == .worker(1))
        #expect(e.cause == .waiting)
        #expect(e.workers.count == 2)
        #expect(e.kind == "worker: waiting for a CPU")
        #expect(abs((e.controller! - ms(0.1)) / .microseconds(1)) < 1)
    }

    @Test func aControllerChargedForTheWholeStepIsNamedOnCPU() {
        // halt() began 2 ms after the write, with parsing and policy 1.8 ms of it, all charged as CPU time.
        let (b, a) = accounting([(1.95, 0.01, 0), (0.1, 0, 0), (0.1, 0, 0)])
        let e = SignalLatencyBench.takeApart(
            total: ms(2.1), written: t0, trace: trace(started: 2.0, parked: [2.05, 2.06]), decide: ms(1.8),
            before: b, after: a)
        #expect(e.step == .controller)
        #expect(e.cause == .onCPU)
        #expect(e.kind == "controller (parse and policy): on CPU")
    }

    @Test func aStallTheGuestDidNotSeeIsNamedOffCPU() {
        // Worker 0 parks 2.5 ms after halt(); it neither ran, nor waited, nor was preempted meanwhile.
        let (b, a) = accounting([(0.05, 0, 0), (0.05, 0, 0), (0.1, 0, 0)])
        let e = SignalLatencyBench.takeApart(
            total: ms(2.7), written: t0, trace: trace(started: 0.1, parked: [2.6, 0.2]), decide: ms(0.02),
            before: b, after: a)
        #expect(e.step == .worker(0))
        #expect(e.cause == .offCPU)
    }

    @Test func withoutSchedstatAPreemptionIsNamed() {
        let (b, a) = accounting([(0.05, nil, 0), (0.1, nil, 3), (0.1, nil, 0)])
        let e = SignalLatencyBench.takeApart(
            total: ms(2.0), written: t0, trace: trace(started: 0.1, parked: [1.9, 0.2]), decide: nil, before: b,
            after: a)
        #expect(e.step == .worker(0))
        #expect(e.cause == .preempted)
        #expect(e.waiting == nil)
        #expect(e.kind == "worker: preempted in this OS")
    }

    @Test func aWorkerStillParkedFromBeforeCountsZero() {
        // Worker 1's last park predates this halt (it never left it): its step is zero, not negative.
        let (b, a) = accounting([(0.05, 0, 0), (0.1, 0, 0), (0, 0, 0)])
        let e = SignalLatencyBench.takeApart(
            total: ms(1.5), written: t0, trace: trace(started: 0.2, parked: [1.4, 0.0]), decide: nil, before: b,
            after: a)
        #expect(e.workers[1] == .zero)
        #expect(e.step == .worker(0))
        #expect(e.asleep! > .zero)
    }

    /// `accounting(tid:)` reads a thread's CPU time from outside it (its CPU-time clock by thread id): it
    /// must agree with the thread's own clock.
    @Test func accountingReadsTheThreadsOwnCPUClock() throws {
        func ownCPU() -> Duration { ThreadCPUTime.current() }
        let me = ControlThread.currentThreadID
        let a = try #require(ThreadStates.accounting(tid: me))
        let own0 = ownCPU()
        while ownCPU() - own0 < .milliseconds(20) {}  // each look is a syscall: the loop stays
        let own1 = ownCPU()
        let b = try #require(ThreadStates.accounting(tid: me))
        #expect(b.onCPU - a.onCPU >= own1 - own0)
        #expect(b.onCPU - a.onCPU < own1 - own0 + .milliseconds(50))
        #expect(b.preempted >= a.preempted)
        #expect(ThreadStates.accounting(tid: -1) == nil)
        #expect(ThreadStates.accounting(tid: 0) == nil)
    }

    @Test func aControllerWhoseCPUWentIntoHaltIsNotNamedOnCPU() {
        // 1.0 ms of the control thread's CPU over the event, 0.9 ms of it inside halt() (polling): the
        // 1.2 ms before halt() began were not its work.
        let (b, a) = accounting([(1.0, 0.0, 0), (0.1, 0, 0), (0.1, 0, 0)])
        let t = MiningEngine.HaltTrace(
            started: t0 + ms(1.2), finished: t0 + ms(1.35), boosted: t0 + ms(1.21), reboosts: 0, cpu: ms(0.9),
            parked: [t0 + ms(1.3), t0 + ms(1.32)])
        let e = SignalLatencyBench.takeApart(
            total: ms(1.4), written: t0, trace: t, decide: ms(0.05), before: b, after: a)
        #expect(e.step == .controller)
        #expect(e.cause == .offCPU)
        #expect(e.kind == "controller (socket and wake-up): off CPU, not preempted")
        #expect(e.haltCPU == ms(0.9))
    }

    /// The probe names a stall from the thread's own clocks over it.
    @Test func hostStallKinds() {
        #expect(HostStallProbe.kind(gap: ms(3), cpu: ms(0.01), switches: 1) == .preempted)
        #expect(HostStallProbe.kind(gap: ms(3), cpu: ms(3), switches: 2) == .preempted)
        #expect(HostStallProbe.kind(gap: ms(3), cpu: ms(0.5), switches: 0) == .stolen)
        #expect(HostStallProbe.kind(gap: ms(3), cpu: ms(2.9), switches: 0) == .hidden)
        #expect(HostStallProbe.kind(gap: ms(4), cpu: ms(1), switches: 0) == .hidden)  // a quarter: its own
    }

    /// One CPU at normal priority (so that parallel tests keep their CPUs), 200 ms.
    @Test func hostStallProbeMeasuresTheCPUItWasGiven() throws {
        let reports = HostStallProbe.run(for: .milliseconds(200), cpus: [0], realTime: false)
        let r = try #require(reports.first)
        #expect(reports.count == 1)
        #expect(r.cpu == 0)
        #expect(!r.realTime)
        #expect(r.measured > .milliseconds(150) && r.measured < .seconds(2), "\(r.measured)")
        #expect(r.stalled <= r.measured)
        #expect(r.longest <= r.stalled)
        #expect(r.over2ms <= r.over1ms && r.over1ms <= r.stalls)
        #expect(r.perSecond >= 0 && r.perSecond < 2000)
    }
}
