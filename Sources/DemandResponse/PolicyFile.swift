import FlexSupport
import Foundation

/// The policy file (`--policy FILE`, JSON): the site's economics and the policy's settings. The same
/// file drives `flexminer run` and `flexminer simulate`.
///
/// ```json
/// {
///   "power_watts": 3250,
///   "hashprice_usd_per_ph_day": 48.5,
///   "hashrate_hs": 110e12,
///   "hysteresis_usd_per_mwh": 5,
///   "min_on_seconds": 300,
///   "min_off_seconds": 300,
///   "hard_price_usd_per_mwh": 1000,
///   "ramp_steps": [0.25, 0.5, 0.75],
///   "ramp_step_seconds": 30,
///   "stale_after_seconds": 60,
///   "safe_capacity": 0,
///   "start_halted": false,
///   "peak_threshold": 0.95,
///   "peak_release": 0.9,
///   "peak_mw": 80000,
///   "peak_timezone": "America/Chicago"
/// }
/// ```
/// The break-even price comes from exactly one of: `breakeven_usd_per_mwh`; `hashprice_usd_per_ph_day`
/// (+ `power_watts`, hash rate); or `btc_usd` + `network_difficulty` + `block_reward_btc` (+ power,
/// hash rate). `hashrate_hs` may be left out: the live miner then uses its measured hash rate.
public struct PolicyFile: Sendable, Hashable {
    public var powerWatts: Double?
    public var breakEvenUSDPerMWh: Double?
    public var hashpriceUSDPerPHDay: Double?
    public var hashrateHS: Double?
    public var btcUSD: Double?
    public var networkDifficulty: Double?
    public var blockRewardBTC: Double?
    /// Whether the file names `peak_timezone` (otherwise `run` and `simulate` take the schedule's zone).
    public var peakTimeZoneGiven = false
    /// Everything else (hysteresis, dwell, hard price, ramp, fail-safe, initial capacity).
    public var config: PolicyConfig

    public static let keys: Set<String> = [
        "power_watts", "breakeven_usd_per_mwh", "hashprice_usd_per_ph_day", "hashrate_hs", "btc_usd",
        "network_difficulty", "block_reward_btc", "hysteresis_usd_per_mwh", "min_on_seconds", "min_off_seconds",
        "hard_price_usd_per_mwh", "ramp_steps", "ramp_step_seconds", "stale_after_seconds", "safe_capacity",
        "start_halted", "peak_threshold", "peak_release", "peak_mw", "peak_timezone",
    ]

    public init() {
        config = PolicyConfig(breakEvenUSDPerMWh: .greatestFiniteMagnitude)
    }

    /// The one set of bounds on a policy's numbers, wherever they come from (a policy file, `run`'s config
    /// and flags, `simulate`'s flags): out of them, later arithmetic could overflow or trap.
    public enum Bounds {
        /// Prices and break-evens, USD/MWh (negative prices happen).
        public static let price: ClosedRange<Double> = -1e9...1e9
        /// Watts, hash rates, BTC prices, rewards.
        public static let positive: ClosedRange<Double> = Double.leastNonzeroMagnitude...1e15
        /// The price band around the break-even, USD/MWh.
        public static let hysteresis: ClosedRange<Double> = 0...1e9
        /// Dwell times: at most a year.
        public static let seconds: ClosedRange<Double> = 0...31_536_000
    }

    /// Reads a policy file.
    /// - Throws: `SignalError` naming the file and the key that is unknown, of the wrong type or out of range.
    public init(contentsOf path: String) throws(SignalError) {
        do throws(InputError) {
            try self.init(fields: JSONFields(json: InputFile.data(path), what: "the policy"))
        } catch {
            throw SignalError("policy file \(error.message.hasPrefix(path) ? "" : "\(path): ")\(error.message)")
        }
    }

    public init(json data: Data) throws(SignalError) {
        do throws(InputError) {
            try self.init(fields: JSONFields(json: data, what: "the policy"))
        } catch {
            throw SignalError(error.message)
        }
    }

    /// From an already-parsed JSON object (a config file's `"policy"` section).
    public init(object: [String: Any]) throws(SignalError) {
        do throws(InputError) { try self.init(fields: JSONFields(object)) } catch {
            throw SignalError(error.message)
        }
    }

    init(fields f: JSONFields) throws(InputError) {
        self.init()
        try f.onlyKeys(Self.keys)
        // Every number is bounded before it is used: 1e300 seconds or watts would overflow later arithmetic.
        let price = Bounds.price
        func positive(_ key: String) throws(InputError) -> Double? {
            guard let v = try f.number(key) else { return nil }
            guard Bounds.positive.contains(v) else {
                throw InputError("field \"\(key)\" must be positive (at most 1e15), got \(v)")
            }
            return v
        }
        let seconds = Bounds.seconds
        powerWatts = try positive("power_watts")
        breakEvenUSDPerMWh = try f.number("breakeven_usd_per_mwh", in: price)
        hashpriceUSDPerPHDay = try f.number("hashprice_usd_per_ph_day", in: price)
        hashrateHS = try positive("hashrate_hs")
        btcUSD = try positive("btc_usd")
        networkDifficulty = try f.number("network_difficulty", in: Double.leastNonzeroMagnitude...1e30)
        blockRewardBTC = try positive("block_reward_btc")
        if let v = try f.number("hysteresis_usd_per_mwh", in: Bounds.hysteresis) { config.hysteresisUSDPerMWh = v }
        if let v = try f.number("min_on_seconds", in: seconds) { config.minOnSeconds = v }
        if let v = try f.number("min_off_seconds", in: seconds) { config.minOffSeconds = v }
        config.hardPriceUSDPerMWh = try f.number("hard_price_usd_per_mwh", in: price)
        if let steps = try f.array("ramp_steps") {
            config.rampSteps = []
            for (i, s) in steps.enumerated() {
                guard let n = JSONScalar.number(s) else {
                    throw InputError("field \"ramp_steps[\(i)]\" must be a number")
                }
                config.rampSteps.append(n)
            }
        }
        // A ramp step shorter than a millisecond is refused: 1e-300 s steps would never end a ramp.
        if let v = try f.number("ramp_step_seconds", in: 0...86_400) {
            guard v == 0 || v >= 0.001 else {
                throw InputError("field \"ramp_step_seconds\" must be 0 or at least 0.001, got \(v)")
            }
            config.rampStepSeconds = v
        }
        if let v = try f.number("stale_after_seconds", in: 0.001...31_536_000) { config.staleAfterSeconds = v }
        if let v = try f.number("safe_capacity", in: 0...1) { config.safeCapacity = v }
        if let halted = try f.bool("start_halted") { config.initialCapacity = halted ? 0 : 1 }
        if let v = try f.number("peak_threshold", in: 0.01...1) { config.peakThreshold = v }
        if let v = try f.number("peak_release", in: 0.01...1) {
            config.peakRelease = v
        } else {
            config.peakRelease = min(config.peakRelease, config.peakThreshold)
        }
        guard config.peakRelease <= config.peakThreshold else {
            throw InputError("field \"peak_release\" must not be above \"peak_threshold\" (\(config.peakThreshold))")
        }
        config.peakMW = try f.number("peak_mw", in: 1...1e7)
        if let zone = try f.string("peak_timezone") {
            config.peakTimeZone = try LocalClock(identifier: zone, field: "peak_timezone").zone
            peakTimeZoneGiven = true
        }
        let sources = [
            breakEvenUSDPerMWh != nil, hashpriceUSDPerPHDay != nil,
            btcUSD != nil || networkDifficulty != nil || blockRewardBTC != nil,
        ].filter { $0 }.count
        if sources > 1 {
            throw InputError(
                "give one of \"breakeven_usd_per_mwh\", \"hashprice_usd_per_ph_day\" or \"btc_usd\"+\"network_difficulty\"+\"block_reward_btc\""
            )
        }
        if btcUSD != nil || networkDifficulty != nil || blockRewardBTC != nil {
            guard btcUSD != nil, networkDifficulty != nil, blockRewardBTC != nil else {
                throw InputError("\"btc_usd\", \"network_difficulty\" and \"block_reward_btc\" go together")
            }
        }
        if (hashpriceUSDPerPHDay != nil || btcUSD != nil) && powerWatts == nil {
            throw InputError("\"power_watts\" is needed to turn revenue per hash into a break-even price")
        }
        do { try config.validate() } catch { throw InputError(error.message) }
    }

    /// Whether the break-even price depends on the hash rate (and none is configured).
    public var needsHashRate: Bool { breakEvenUSDPerMWh == nil && hashrateHS == nil && revenueConfigured }

    var revenueConfigured: Bool { hashpriceUSDPerPHDay != nil || btcUSD != nil }

    /// Revenue in USD per hash, from the hashprice or the network terms (nil with a fixed break-even).
    public var usdPerHash: Double? {
        if let hp = hashpriceUSDPerPHDay { return hp / 1e15 / 86_400 }
        if let btc = btcUSD, let d = networkDifficulty, let r = blockRewardBTC { return r * btc / (d * 4_294_967_296) }
        return nil
    }

    /// The policy settings with the break-even price filled in.
    /// - Parameter measuredHashRate: used when the file gives no `hashrate_hs`.
    /// - Returns: the config; with no break-even source at all, a break-even so high that price never
    ///   curtails (only curtailment messages do).
    public func resolved(measuredHashRate: Double? = nil) throws(SignalError) -> PolicyConfig {
        var c = config
        if let b = breakEvenUSDPerMWh {
            c.breakEvenUSDPerMWh = b
        } else if let perHash = usdPerHash, let watts = powerWatts {
            guard let rate = hashrateHS ?? measuredHashRate, rate > 0 else {
                throw SignalError("\"hashrate_hs\" is needed (or a measured hash rate) to compute the break-even price")
            }
            c.breakEvenUSDPerMWh = rate * perHash * 3600 / (watts / 1e6)
        }
        try c.validate()
        return c
    }

    /// Whether any break-even source is configured (otherwise price messages are logged but never curtail).
    public var hasBreakEven: Bool { breakEvenUSDPerMWh != nil || revenueConfigured }
}
