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
///   "start_halted": false
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
    /// Everything else (hysteresis, dwell, hard price, ramp, fail-safe, initial capacity).
    public var config: PolicyConfig

    public static let keys: Set<String> = [
        "power_watts", "breakeven_usd_per_mwh", "hashprice_usd_per_ph_day", "hashrate_hs", "btc_usd",
        "network_difficulty", "block_reward_btc", "hysteresis_usd_per_mwh", "min_on_seconds", "min_off_seconds",
        "hard_price_usd_per_mwh", "ramp_steps", "ramp_step_seconds", "stale_after_seconds", "safe_capacity",
        "start_halted",
    ]

    public init() {
        config = PolicyConfig(breakEvenUSDPerMWh: .greatestFiniteMagnitude)
    }

    /// Reads a policy file.
    /// - Throws: `SignalError` naming the file and the key that is unknown, of the wrong type or out of range.
    public init(contentsOf path: String) throws(SignalError) {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw SignalError("policy file \(path): cannot read it (\(error.localizedDescription))")
        }
        do { try self.init(json: data) } catch { throw SignalError("policy file \(path): \(error.message)") }
    }

    public init(json data: Data) throws(SignalError) {
        let any: Any
        do { any = try JSONSerialization.jsonObject(with: data) } catch { throw SignalError("malformed JSON") }
        guard let object = any as? [String: Any] else { throw SignalError("the policy must be a JSON object") }
        try self.init(object: object)
    }

    /// From an already-parsed JSON object (a config file's `"policy"` section).
    public init(object: [String: Any]) throws(SignalError) {
        self.init()
        if let unknown = object.keys.sorted().first(where: { !Self.keys.contains($0) }) {
            throw SignalError("unknown key \"\(unknown)\"")
        }
        func num(_ key: String) throws(SignalError) -> Double? {
            try SignalMessage.number(object, key, required: false)
        }
        func positive(_ key: String) throws(SignalError) -> Double? {
            guard let v = try num(key) else { return nil }
            guard v > 0 else { throw SignalError("\"\(key)\" must be positive, got \(v)") }
            return v
        }
        powerWatts = try positive("power_watts")
        breakEvenUSDPerMWh = try num("breakeven_usd_per_mwh")
        hashpriceUSDPerPHDay = try num("hashprice_usd_per_ph_day")
        hashrateHS = try positive("hashrate_hs")
        btcUSD = try positive("btc_usd")
        networkDifficulty = try positive("network_difficulty")
        blockRewardBTC = try positive("block_reward_btc")
        if let v = try num("hysteresis_usd_per_mwh") { config.hysteresisUSDPerMWh = v }
        if let v = try num("min_on_seconds") { config.minOnSeconds = v }
        if let v = try num("min_off_seconds") { config.minOffSeconds = v }
        config.hardPriceUSDPerMWh = try num("hard_price_usd_per_mwh")
        if let steps = object["ramp_steps"], !(steps is NSNull) {
            guard let array = steps as? [Any] else { throw SignalError("\"ramp_steps\" must be an array of numbers") }
            config.rampSteps = []
            for (i, s) in array.enumerated() {
                guard let n = JSONScalar.number(s) else { throw SignalError("\"ramp_steps\"[\(i)] must be a number") }
                config.rampSteps.append(n)
            }
        }
        if let v = try num("ramp_step_seconds") { config.rampStepSeconds = v }
        if let v = try num("stale_after_seconds") { config.staleAfterSeconds = v }
        if let v = try num("safe_capacity") { config.safeCapacity = v }
        if let v = object["start_halted"], !(v is NSNull) {
            guard let halted = JSONScalar.bool(v) else { throw SignalError("\"start_halted\" must be true or false") }
            config.initialCapacity = halted ? 0 : 1
        }
        let sources = [
            breakEvenUSDPerMWh != nil, hashpriceUSDPerPHDay != nil,
            btcUSD != nil || networkDifficulty != nil || blockRewardBTC != nil,
        ].filter { $0 }.count
        if sources > 1 {
            throw SignalError(
                "give one of \"breakeven_usd_per_mwh\", \"hashprice_usd_per_ph_day\" or \"btc_usd\"+\"network_difficulty\"+\"block_reward_btc\""
            )
        }
        if btcUSD != nil || networkDifficulty != nil || blockRewardBTC != nil {
            guard btcUSD != nil, networkDifficulty != nil, blockRewardBTC != nil else {
                throw SignalError("\"btc_usd\", \"network_difficulty\" and \"block_reward_btc\" go together")
            }
        }
        if (hashpriceUSDPerPHDay != nil || btcUSD != nil) && powerWatts == nil {
            throw SignalError("\"power_watts\" is needed to turn revenue per hash into a break-even price")
        }
        try config.validate()
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
