import DemandResponse
import Foundation
import Testing

/// Drives the policy with a virtual clock.
struct Harness {
    var config: PolicyConfig
    var state: PolicyState
    var t: Date

    init(_ config: PolicyConfig) {
        self.config = config
        t = now
        state = PolicyState(config: config, now: now)
    }

    @discardableResult
    mutating func send(_ m: SignalMessage, after seconds: Double = 0, source: String = "test") -> Decision {
        t += seconds
        return Policy.step(&state, .signal(m, source: source), now: t, config: config)
    }

    @discardableResult
    mutating func tick(after seconds: Double) -> Decision {
        t += seconds
        return Policy.step(&state, .tick, now: t, config: config)
    }

    mutating func price(_ p: Double, after seconds: Double = 0) -> Double {
        send(.price(PriceSignal(usdPerMWh: p)), after: seconds).capacity
    }
}

@Suite("Demand-response policy")
struct PolicyTests {
    @Test func withoutHysteresisOrDwellItMinesIffPriceBelowBreakEven() {
        var h = Harness(PolicyConfig(breakEvenUSDPerMWh: 50))
        #expect(h.state.capacity == 1)  // no signal yet: full capacity
        for p in [10.0, 49.99, 50, 51, -70, 519.26, 49, 50.01, 0] {
            #expect(h.price(p, after: 900) == (p < 50 ? 1 : 0), "price \(p)")
        }
    }

    @Test func hysteresisStopsFlapping() {
        var c = PolicyConfig(breakEvenUSDPerMWh: 50)
        c.hysteresisUSDPerMWh = 5
        var h = Harness(c)
        #expect(h.price(40, after: 60) == 1)
        #expect(h.price(54, after: 60) == 1)  // inside the band: keep mining
        #expect(h.price(55, after: 60) == 0)  // top of the band
        #expect(h.price(46, after: 60) == 0)  // inside the band: stay off
        #expect(h.price(44.9, after: 60) == 1)
    }

    @Test func dwellTimesAndTheHardPrice() {
        var c = PolicyConfig(breakEvenUSDPerMWh: 50)
        c.minOnSeconds = 600
        c.minOffSeconds = 300
        c.hardPriceUSDPerMWh = 1000
        c.staleAfterSeconds = 3600
        var h = Harness(c)
        #expect(h.price(10) == 1)
        #expect(h.price(80, after: 60) == 1)  // only 60 s on: dwell holds
        #expect(h.tick(after: 600).capacity == 0)  // dwell over, price still high
        #expect(h.price(10, after: 60) == 0)  // only 60 s off
        #expect(h.tick(after: 300).capacity == 1)
        let d = h.send(.price(PriceSignal(usdPerMWh: 2000)), after: 1)  // hard price beats dwell
        #expect(d.capacity == 0 && d.halt && d.reason.contains("hard price"))
    }

    @Test func curtailmentsOverridePriceAndTheMostRestrictiveWins() {
        var c = PolicyConfig(breakEvenUSDPerMWh: 50)
        c.staleAfterSeconds = 3600
        var h = Harness(c)
        #expect(h.price(-5) == 1)
        #expect(h.send(.curtail(CurtailSignal(level: 0.3, id: "a"))).capacity == 0.7)
        #expect(h.send(.curtail(CurtailSignal(level: 1, id: "b")), source: "other").capacity == 0)
        #expect(h.send(.release(id: "b"), source: "other").capacity == 0.7)
        #expect(h.send(.release(id: "a")).capacity == 1)
        // A curtailment with `until` lifts itself.
        #expect(h.send(.curtail(CurtailSignal(level: 1, id: "c", until: h.t + 120))).capacity == 0)
        #expect(h.tick(after: 60).capacity == 0)
        let d = h.tick(after: 61)
        #expect(d.capacity == 1 && d.reason.contains("expired"))
    }

    @Test func failSafeWhenSignalsGoStale() {
        var h = Harness(PolicyConfig(breakEvenUSDPerMWh: 50))
        #expect(h.tick(after: 3600).capacity == 1)  // not armed before the first signal
        #expect(h.price(10) == 1)
        #expect(h.tick(after: 59).capacity == 1)
        let d = h.tick(after: 2)
        #expect(d.capacity == 0 && d.reason.contains("fail-safe"))
        let back = h.send(.heartbeat, after: 5)
        #expect(back.capacity == 1 && back.reason.contains("signals resumed"))
    }

    @Test func startHaltedWaitsForAFavourablePrice() {
        var c = PolicyConfig(breakEvenUSDPerMWh: 50)
        c.initialCapacity = 0
        var h = Harness(c)
        #expect(h.state.capacity == 0)
        #expect(h.send(.heartbeat).capacity == 0)
        #expect(h.price(20) == 1)
    }

    @Test func stagedRampAfterACurtailment() {
        var c = PolicyConfig(breakEvenUSDPerMWh: 50)
        c.rampSteps = [0.25, 0.5]
        c.rampStepSeconds = 10
        var h = Harness(c)
        #expect(h.price(10) == 1)
        #expect(h.send(.curtail(CurtailSignal(level: 1))).capacity == 0)
        #expect(h.send(.release(id: nil), after: 5).capacity == 0.25)
        #expect(h.tick(after: 10).capacity == 0.5)
        #expect(h.tick(after: 10).capacity == 1)
    }

    @Test func breakEvenFromHashpriceAndFromNetworkTerms() {
        // 100 TH/s at 3,250 W with a hashprice of 50 USD/PH/day: 0.2083 USD/h over 0.00325 MWh/h.
        let be = BreakEven.fromHashprice(usdPerPHDay: 50, hashesPerSecond: 100e12, watts: 3250)
        #expect(abs(be - 64.1026) < 0.001)
        // The two forms agree when the hashprice is derived from the same network terms.
        let terms = (btc: 60_000.0, difficulty: 80e12, reward: 3.2)
        let usdPerPHDay = 1e15 / (terms.difficulty * 4_294_967_296) * terms.reward * 86_400 * terms.btc
        let a = BreakEven.fromHashprice(usdPerPHDay: usdPerPHDay, hashesPerSecond: 20e6, watts: 65)
        let b = BreakEven.fromNetwork(
            btcUSD: terms.btc, difficulty: terms.difficulty, blockRewardBTC: terms.reward, hashesPerSecond: 20e6,
            watts: 65)
        #expect(abs(a - b) / b < 1e-9)
    }

    @Test func badConfigurationIsRejected() {
        var c = PolicyConfig(breakEvenUSDPerMWh: .nan)
        #expect(throws: SignalError.self) { try c.validate() }
        c = PolicyConfig(breakEvenUSDPerMWh: 50)
        c.hysteresisUSDPerMWh = -1
        #expect(throws: SignalError.self) { try c.validate() }
        c = PolicyConfig(breakEvenUSDPerMWh: 50)
        c.rampSteps = [1.5]
        #expect(throws: SignalError.self) { try c.validate() }
    }
}
