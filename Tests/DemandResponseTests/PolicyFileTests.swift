import DemandResponse
import Foundation
import Testing

@Suite("Policy file")
struct PolicyFileTests {
    func parse(_ json: String) throws(SignalError) -> PolicyFile { try PolicyFile(json: Data(json.utf8)) }

    @Test func fixedBreakEvenAndSettings() throws {
        let p = try parse(
            """
            {"breakeven_usd_per_mwh": 55, "hysteresis_usd_per_mwh": 5, "min_on_seconds": 300, "min_off_seconds": 600,
             "hard_price_usd_per_mwh": 1000, "ramp_steps": [0.25, 0.5], "ramp_step_seconds": 30,
             "stale_after_seconds": 90, "safe_capacity": 0.1, "start_halted": true}
            """)
        let c = try p.resolved()
        #expect(c.breakEvenUSDPerMWh == 55)
        #expect(c.hysteresisUSDPerMWh == 5)
        #expect(c.minOnSeconds == 300 && c.minOffSeconds == 600)
        #expect(c.hardPriceUSDPerMWh == 1000)
        #expect(c.rampSteps == [0.25, 0.5] && c.rampStepSeconds == 30)
        #expect(c.staleAfterSeconds == 90 && c.safeCapacity == 0.1)
        #expect(c.initialCapacity == 0)
        #expect(p.hasBreakEven && !p.needsHashRate)
    }

    @Test func breakEvenFromHashpriceByHand() throws {
        // 100 TH/s at 3,000 W, hashprice 50 USD/PH/day: 0.1 PH/s earns 5 USD/day = 0.2083 USD/h for 3 kWh
        // per hour, i.e. 69.44 USD/MWh.
        let p = try parse(#"{"power_watts": 3000, "hashprice_usd_per_ph_day": 50, "hashrate_hs": 1e14}"#)
        #expect(abs(try p.resolved().breakEvenUSDPerMWh - 69.444_444) < 1e-4)
        // Without a configured rate, the measured one is used.
        let q = try parse(#"{"power_watts": 3000, "hashprice_usd_per_ph_day": 50}"#)
        #expect(q.needsHashRate)
        #expect(abs(try q.resolved(measuredHashRate: 2e14).breakEvenUSDPerMWh - 138.888_889) < 1e-4)
        #expect(throws: SignalError.self) { try q.resolved() }
    }

    @Test func breakEvenFromNetworkTermsByHand() throws {
        // 1e14 H/s at difficulty 1e14 finds 1e14/(1e14 * 2^32) blocks per second; at 3.2 BTC and 60,000 USD
        // per BTC for 3,000 W.
        let p = try parse(
            #"{"power_watts": 3000, "btc_usd": 60000, "network_difficulty": 1e14, "block_reward_btc": 3.2, "hashrate_hs": 1e14}"#
        )
        let usdPerHour = 1.0 / 4_294_967_296 * 3.2 * 60000 * 3600
        #expect(abs(try p.resolved().breakEvenUSDPerMWh - usdPerHour / 0.003) < 1e-6)
    }

    @Test(arguments: [
        (#"{"breakeven": 50}"#, "unknown key \"breakeven\""),
        (#"{"breakeven_usd_per_mwh": "50"}"#, "\"breakeven_usd_per_mwh\" must be a number"),
        (#"{"hashprice_usd_per_ph_day": 50}"#, "\"power_watts\" is needed"),
        (#"{"power_watts": -1}"#, "\"power_watts\" must be positive"),
        (#"{"breakeven_usd_per_mwh": 50, "hashprice_usd_per_ph_day": 50}"#, "give one of"),
        (#"{"btc_usd": 60000, "power_watts": 10}"#, "go together"),
        (#"{"hysteresis_usd_per_mwh": -5}"#, "\"hysteresis_usd_per_mwh\" must be within [0, 1000000000], got -5"),
        (#"{"safe_capacity": 2}"#, "\"safe_capacity\" must be within [0, 1], got 2"),
        (#"{"ramp_step_seconds": 1e-300}"#, "\"ramp_step_seconds\" must be 0 or at least 0.001"),
        (#"{"min_on_seconds": 1e30}"#, "\"min_on_seconds\" must be within"),
        (#"{"ramp_steps": [0.5, 1.5]}"#, "ramp steps"),
        (#"{"ramp_steps": "fast"}"#, "\"ramp_steps\" must be an array"),
        (#"{"start_halted": 1}"#, "\"start_halted\" must be true or false"),
        (#"{"stale_after_seconds": 0}"#, "\"stale_after_seconds\" must be within [0.001, 31536000], got 0"),
        ("[]", "must be a JSON object"),
        ("{", "malformed JSON"),
    ])
    func badPoliciesNameTheKey(json: String, expected: String) {
        do {
            _ = try parse(json)
            Issue.record("accepted \(json)")
        } catch {
            #expect(error.message.contains(expected), "\(error.message)")
        }
    }
}

/// `run`'s and `simulate`'s flags go through one override path, with the policy file's own bounds: a value
/// a file refuses, a flag refuses too (they had drifted apart: 1e9 for `run`'s break-even, 1e15 for
/// every `simulate` flag).
@Suite("Policy overrides")
struct PolicyOverridesTests {
    @Test(arguments: [
        ("breakeven_usd_per_mwh", "--breakeven", 2e9), ("hashrate_hs", "--hashrate", 1e16),
        ("hysteresis_usd_per_mwh", "--hysteresis", 2e9), ("min_on_seconds", "--min-on", 1e30),
        ("power_watts", "--power-watts", -1), ("hard_price_usd_per_mwh", "--hard-price", -2e9),
    ])
    func aValueTheFileRefusesTheFlagRefuses(key: String, flag: String, value: Double) {
        let json = #"{"\#(key)": \#(value)}"#
        #expect(throws: (any Error).self, "the file accepted \(json)") { _ = try PolicyFile(json: Data(json.utf8)) }
        for v in [value, .nan, .infinity] {
            var o = PolicyOverrides()
            switch flag {
            case "--breakeven": o.breakeven = v
            case "--hashrate": o.hashrate = v
            case "--hysteresis": o.hysteresis = v
            case "--min-on": o.minOnSeconds = v
            case "--power-watts": o.powerWatts = v
            default: o.hardPrice = v
            }
            do {
                _ = try o.apply(to: PolicyFile())
                Issue.record("\(flag) \(v) accepted")
            } catch {
                #expect(error.message.hasPrefix(flag), "\(error.message)")
            }
        }
    }

    @Test func aBreakEvenReplacesAHashpriceAndTheOtherWayRound() throws {
        var file = PolicyFile()
        file.hashpriceUSDPerPHDay = 50
        file.btcUSD = 60_000
        let b = try PolicyOverrides(breakeven: 42).apply(to: file)
        #expect(b.breakEvenUSDPerMWh == 42 && b.hashpriceUSDPerPHDay == nil && b.btcUSD == nil)
        var o = PolicyOverrides()
        o.hashprice = 55
        let h = try o.apply(to: b)
        #expect(h.hashpriceUSDPerPHDay == 55 && h.breakEvenUSDPerMWh == nil)
    }
}
