import DemandResponse
import Foundation
import Testing

/// Drives the policy with two fake clocks: `after:` moves both, `stepWall` only the wall clock (an NTP
/// correction, a VM resume).
struct TwoClockHarness {
    var config: PolicyConfig
    var state: PolicyState
    var time: PolicyTime

    init(_ config: PolicyConfig) {
        self.config = config
        time = PolicyTime(monotonic: 5_000, wall: now)
        state = PolicyState(config: config, now: time)
    }

    @discardableResult
    mutating func send(_ m: SignalMessage, after seconds: Double = 0, source: String = "test") -> Decision {
        time = time.advanced(by: seconds)
        return Policy.step(&state, .signal(m, source: source), now: time, config: config)
    }

    @discardableResult
    mutating func replay(_ m: SignalMessage, source: String = "file") -> Decision {
        Policy.step(&state, .replayed(m, source: source), now: time, config: config)
    }

    @discardableResult
    mutating func tick(after seconds: Double) -> Decision {
        time = time.advanced(by: seconds)
        return Policy.step(&state, .tick, now: time, config: config)
    }

    mutating func stepWall(_ seconds: Double) { time.wall += seconds }

    mutating func price(_ p: Double, after seconds: Double = 0) -> Double {
        send(.price(PriceSignal(usdPerMWh: p)), after: seconds).capacity
    }
}

func curtail(_ level: Double, id: String? = nil, until: Date? = nil) -> SignalMessage {
    .curtail(CurtailSignal(level: level, id: id, until: until))
}

func price(_ p: Double) -> SignalMessage { .price(PriceSignal(usdPerMWh: p)) }

@Suite("Policy: a curtailment is never overridden")
struct CurtailmentCeilingTests {
    @Test(arguments: [0.0, 0.5, 1.0], [1.0, 0.7, 0.3])
    func failSafeOnlyLowersCapacityBelowACurtailment(safeCapacity: Double, level: Double) {
        var c = PolicyConfig(breakEvenUSDPerMWh: 50)
        c.safeCapacity = safeCapacity
        c.staleAfterSeconds = 60
        var h = TwoClockHarness(c)
        #expect(h.price(10) == 1)
        #expect(abs(h.send(curtail(level, id: "grid"), source: "grid").capacity - (1 - level)) < 1e-9)
        let d = h.tick(after: 61)
        #expect(h.state.stale)
        #expect(abs(d.capacity - min(safeCapacity, 1 - level)) < 1e-9, "safe \(safeCapacity), curtail \(level)")
        #expect(d.capacity <= 1 - level)
        #expect(d.reason.contains("fail-safe"))
    }

    @Test func quietSourceWithSafeCapacityHalfKeepsACurtailOneHalted() {
        // The case from issue 12: it used to lift `curtail 1.0` to 0.5.
        var c = PolicyConfig(breakEvenUSDPerMWh: 50)
        c.safeCapacity = 0.5
        c.staleAfterSeconds = 60
        var h = TwoClockHarness(c)
        #expect(h.send(curtail(1)).capacity == 0)
        for _ in 0..<10 {
            let d = h.tick(after: 30)
            #expect(d.capacity == 0, "\(d.reason)")
        }
        // Without the curtailment the fail-safe's own capacity applies.
        #expect(h.send(.release(id: nil)).capacity == 1)
        #expect(h.tick(after: 61).capacity == 0.5)
    }

    @Test func pauseResumeRampAndDwellStayAtOrBelowACurtailment() {
        var c = PolicyConfig(breakEvenUSDPerMWh: 50)
        c.rampSteps = [0.25, 0.75]
        c.rampStepSeconds = 10
        c.minOnSeconds = 600
        c.minOffSeconds = 600
        c.staleAfterSeconds = 3600
        var h = TwoClockHarness(c)
        #expect(h.price(10) == 1)
        #expect(h.send(curtail(0.5, id: "evt-1"), source: "grid").capacity == 0.5)
        // POST /pause and /resume are a curtail and release of `http-pause` from the HTTP source.
        #expect(h.send(curtail(1, id: "http-pause"), source: "http").capacity == 0)
        var seen: [Double] = []
        seen.append(h.send(.release(id: "http-pause"), after: 1, source: "http").capacity)
        for _ in 0..<5 { seen.append(h.tick(after: 10).capacity) }
        #expect(seen == [0.25, 0.5, 0.5, 0.5, 0.5, 0.5])  // the ramp's 0.75 step is capped at 0.5
        // An id-less release from another source lifts only that source's curtailments.
        #expect(h.send(.release(id: nil), source: "http").capacity == 0.5)
        // Price under dwell (min on 600 s) does not hold capacity above a new curtailment either.
        #expect(h.send(curtail(1, id: "evt-2"), source: "grid").capacity == 0)
        #expect(h.price(5) == 0)
    }

    @Test(arguments: [0.333, 0.29, 0.001, 0.999, 0.5])
    func roundingNeverLiftsCapacityAboveOneMinusTheLevel(level: Double) {
        var c = PolicyConfig(breakEvenUSDPerMWh: 50)
        c.rampSteps = [0.25, 0.5]
        c.rampStepSeconds = 10
        c.staleAfterSeconds = 3600
        var h = TwoClockHarness(c)
        let d = h.send(curtail(level))
        #expect(d.capacity <= 1 - level, "level \(level) gave \(d.capacity)")
        #expect(d.capacity > 1 - level - 0.01)
        // Settled: later steps neither move capacity nor restart the ramp under the cap.
        for _ in 0..<5 {
            let later = h.tick(after: 10)
            #expect(later.capacity == d.capacity && !later.reason.contains("ramp"), "\(later.reason)")
        }
    }
}

@Suite("Policy: durations on the monotonic clock")
struct PolicyClockStepTests {
    @Test(arguments: [-3600.0, 3600.0])
    func failSafeFiresOnTimeWhateverTheWallClockDoes(step: Double) {
        var c = PolicyConfig(breakEvenUSDPerMWh: 50)
        c.staleAfterSeconds = 60
        var h = TwoClockHarness(c)
        #expect(h.price(10) == 1)
        h.stepWall(step)
        #expect(h.tick(after: 1).capacity == 1)  // no spurious fail-safe after a jump forward
        #expect(h.tick(after: 58).capacity == 1)
        let d = h.tick(after: 1)  // 60 s by the monotonic clock: not delayed by a jump back
        #expect(d.capacity == 0 && d.reason.contains("fail-safe"), "wall step \(step): \(d.reason)")
    }

    @Test(arguments: [-3600.0, 3600.0])
    func rampStepsRunOnTheMonotonicClock(step: Double) {
        var c = PolicyConfig(breakEvenUSDPerMWh: 50)
        c.rampSteps = [0.25, 0.5, 0.75]
        c.rampStepSeconds = 10
        var h = TwoClockHarness(c)
        #expect(h.send(curtail(1)).capacity == 0)
        #expect(h.send(.release(id: nil), after: 1).capacity == 0.25)
        h.stepWall(step)  // a step back used to index the ramp with -1 and trap
        #expect(h.tick(after: 5).capacity == 0.25)
        #expect(h.tick(after: 5).capacity == 0.5)
        h.stepWall(-step)
        #expect(h.tick(after: 10).capacity == 0.75)
        #expect(h.tick(after: 10).capacity == 1)
    }

    @Test(arguments: [-3600.0, 3600.0])
    func dwellRunsOnTheMonotonicClock(step: Double) {
        var c = PolicyConfig(breakEvenUSDPerMWh: 50)
        c.minOnSeconds = 600
        c.staleAfterSeconds = 86_400
        var h = TwoClockHarness(c)
        #expect(h.price(10) == 1)
        #expect(h.price(80, after: 60) == 1)  // held by min on
        h.stepWall(step)
        #expect(h.tick(after: 1).capacity == 1)  // a jump forward does not end the dwell
        #expect(h.tick(after: 538).capacity == 1)
        #expect(h.tick(after: 1).capacity == 0)  // nor does a jump back stretch it
    }

    @Test func untilIsAWallClockDate() {
        var c = PolicyConfig(breakEvenUSDPerMWh: 50)
        c.staleAfterSeconds = 3600
        var h = TwoClockHarness(c)
        #expect(h.send(curtail(1, id: "e", until: h.time.wall + 600)).capacity == 0)
        h.stepWall(-3600)
        #expect(h.tick(after: 600).capacity == 0)  // the wall clock reads 50 min before `until`
        h.stepWall(3600)
        #expect(h.tick(after: 1).capacity == 1)
    }

    @Test func tinyRampStepTimesAreRefusedAndCannotTrap() {
        var c = PolicyConfig(breakEvenUSDPerMWh: 50)
        c.rampSteps = [0.5]
        c.rampStepSeconds = 1e-300
        c.staleAfterSeconds = 1e9
        #expect(throws: SignalError.self) { try c.validate() }
        // Even unvalidated, the step index is computed without overflowing an `Int`.
        var h = TwoClockHarness(c)
        #expect(h.send(curtail(1)).capacity == 0)
        #expect(h.send(.release(id: nil), after: 1e6).capacity == 0.5)
        #expect(h.tick(after: 1e6).capacity == 1)
    }
}

@Suite("Policy: replayed history")
struct PolicyReplayTests {
    func config() -> PolicyConfig {
        var c = PolicyConfig(breakEvenUSDPerMWh: 50)
        c.minOnSeconds = 1800
        c.minOffSeconds = 900
        c.staleAfterSeconds = 86_400
        return c
    }

    @Test func historyEndingCheapKeepsMining() {
        var h = TwoClockHarness(config())
        #expect(h.tick(after: 7200).capacity == 1)  // running for two hours: any dwell is over
        for p in [80.0, 10, 90, 10] {
            #expect(h.replay(price(p)).capacity == 1, "replayed \(p)")
        }
        #expect(h.tick(after: 0).capacity == 1)
        #expect(h.state.price == 10)
        // The same lines as fresh signals: the 80 stops the miner and min off holds it off.
        var live = TwoClockHarness(config())
        live.tick(after: 7200)
        for p in [80.0, 10, 90, 10] { _ = live.price(p) }
        #expect(live.state.capacity == 0)
    }

    @Test func historyEndingExpensiveStopsOnlyWhenTheRealDwellAllows() {
        var h = TwoClockHarness(config())
        h.tick(after: 300)  // mining for 5 min; min on is 30 min
        for p in [10.0, 80] { h.replay(price(p)) }
        #expect(h.tick(after: 0).capacity == 1)
        #expect(h.tick(after: 1499).capacity == 1)
        #expect(h.tick(after: 1).capacity == 0)
    }

    @Test func historyLeavesTheLastCurtailmentsInForce() {
        var h = TwoClockHarness(config())
        for m in [curtail(1, id: "a"), .release(id: "a"), curtail(0.4, id: "b"), price(10)] { h.replay(m) }
        #expect(h.tick(after: 0).capacity == 0.6)
        #expect(h.state.curtailments.count == 1)
    }
}

@Suite("Policy: who may lift what")
struct ReleaseScopeTests {
    @Test func aReleaseWithAnIdLiftsThatIdWhoeverSendsIt() {
        var h = TwoClockHarness(PolicyConfig(breakEvenUSDPerMWh: 50))
        #expect(h.send(curtail(1, id: "evt-7"), source: "unix:/run/fm.sock").capacity == 0)
        #expect(h.send(.release(id: "evt-8"), source: "tcp:127.0.0.1:9100").capacity == 0)  // another id
        #expect(h.send(.release(id: "evt-7"), source: "tcp:127.0.0.1:9100").capacity == 1)
    }

    @Test func aReleaseWithoutAnIdLiftsOnlyWhatItsOwnSourceSet() {
        var h = TwoClockHarness(PolicyConfig(breakEvenUSDPerMWh: 50))
        h.send(curtail(0.5), source: "grid")
        h.send(curtail(0.2, id: "g-1"), source: "grid")
        h.send(curtail(0.3), source: "file:/run/prices#2.jsonl")
        #expect(h.state.capacity == 0.5)
        #expect(h.send(.release(id: nil), source: "market").capacity == 0.5)
        // A name that extends another source's with "#" is still another source.
        #expect(h.send(.release(id: nil), source: "grid#g-1").capacity == 0.5)
        #expect(h.send(.release(id: nil), source: "file:/run/prices").capacity == 0.5)
        #expect(h.state.curtailments.count == 3)
        // Its own: with and without ids.
        #expect(h.send(.release(id: nil), source: "grid").capacity == 0.7)
        #expect(h.state.curtailments.count == 1)
        #expect(h.send(.release(id: nil), source: "file:/run/prices#2.jsonl").capacity == 1)
    }
}

/// The reasons format numbers by hand (`Int(x)` after a range check): any finite price a signal may
/// carry, however large, and values that are not finite, give text, never a trap.
@Suite("Policy: reasons format any number")
struct ReasonNumberTests {
    @Test(arguments: [
        (42.0, "42"), (-3.5, "-3.50"), (0.07, "0.07"), (123.456, "123.46"), (1e14, "100000000000000"),
        (1e15, "1000000000000000.0"), (-1e300, "-1e+300"), (Double.greatestFiniteMagnitude, "1.7976931348623157e+308"),
        (Double.infinity, "inf"), (-Double.infinity, "-inf"), (Double.nan, "nan"),
    ])
    func priceReason(value: Double, text: String) {
        var h = TwoClockHarness(PolicyConfig(breakEvenUSDPerMWh: 50))
        let d = h.send(price(value))
        #expect(d.reason.contains("price \(text) USD/MWh"), "\(d.reason)")
    }
}
