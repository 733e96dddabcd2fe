import Foundation

/// The break-even electricity price below which mining pays.
public enum BreakEven {
    /// From a hashprice (USD per PH/s per day), the miner's hash rate (H/s) and its power draw (W).
    public static func fromHashprice(usdPerPHDay: Double, hashesPerSecond: Double, watts: Double) -> Double {
        let usdPerHour = hashesPerSecond / 1e15 * usdPerPHDay / 24
        let mwhPerHour = watts / 1e6
        return usdPerHour / mwhPerHour
    }

    /// From network terms: BTC price, difficulty, block reward (subsidy + average fees, BTC).
    public static func fromNetwork(
        btcUSD: Double, difficulty: Double, blockRewardBTC: Double, hashesPerSecond: Double, watts: Double
    ) -> Double {
        // Expected blocks per second = hash rate / (difficulty * 2^32).
        let btcPerHour = hashesPerSecond / (difficulty * 4_294_967_296) * blockRewardBTC * 3600
        return btcPerHour * btcUSD / (watts / 1e6)
    }
}

/// The demand-response policy's settings.
public struct PolicyConfig: Sendable, Hashable, Codable {
    /// Mine while the price is below this (USD/MWh).
    public var breakEvenUSDPerMWh: Double
    /// Half-width of the band around break-even: a running miner stops at `breakEven + hysteresis`, a
    /// stopped one starts below `breakEven - hysteresis`. 0: mine iff price < break-even.
    public var hysteresisUSDPerMWh: Double = 0
    /// Minimum time mining before a price-driven stop, and stopped before a price-driven start.
    public var minOnSeconds: Double = 0
    public var minOffSeconds: Double = 0
    /// At or above this price the miner halts at once, whatever the dwell times.
    public var hardPriceUSDPerMWh: Double? = nil
    /// After a curtailment ends or prices turn favourable: capacity steps, each held `rampStepSeconds`
    /// (e.g. [0.25, 0.5, 0.75]); empty means straight to full capacity.
    public var rampSteps: [Double] = []
    public var rampStepSeconds: Double = 0
    /// With no message or heartbeat for this long (after the first), go to `safeCapacity`.
    public var staleAfterSeconds: Double = 60
    /// Capacity while signals are stale (0 = halt).
    public var safeCapacity: Double = 0
    /// Capacity before any signal arrives: 1, or 0 with `--start-halted`.
    public var initialCapacity: Double = 1

    public init(breakEvenUSDPerMWh: Double) {
        self.breakEvenUSDPerMWh = breakEvenUSDPerMWh
    }

    /// - Throws: `SignalError` naming the setting that is out of range.
    public func validate() throws(SignalError) {
        func check(_ ok: Bool, _ what: String) throws(SignalError) { if !ok { throw SignalError(what) } }
        try check(breakEvenUSDPerMWh.isFinite, "break-even price must be a finite number")
        try check(hysteresisUSDPerMWh.isFinite && hysteresisUSDPerMWh >= 0, "hysteresis must be ≥ 0")
        try check(minOnSeconds.isFinite && minOnSeconds >= 0, "minimum on time must be ≥ 0")
        try check(minOffSeconds.isFinite && minOffSeconds >= 0, "minimum off time must be ≥ 0")
        try check(hardPriceUSDPerMWh.map { $0.isFinite } ?? true, "hard price must be a finite number")
        try check(rampSteps.allSatisfy { $0 > 0 && $0 < 1 }, "ramp steps must be within (0, 1)")
        try check(rampStepSeconds.isFinite && rampStepSeconds >= 0, "ramp step time must be ≥ 0")
        try check(staleAfterSeconds.isFinite && staleAfterSeconds > 0, "stale time must be > 0")
        try check((0...1).contains(safeCapacity), "safe capacity must be within [0, 1]")
        try check((0...1).contains(initialCapacity), "initial capacity must be within [0, 1]")
    }
}

/// Everything the policy remembers. A value: the live controller and the simulator each keep one.
public struct PolicyState: Sendable, Hashable {
    /// Whether price alone says "mine" (after hysteresis and dwell).
    public internal(set) var priceAllowsMining: Bool
    public internal(set) var lastPriceChange: Date
    public internal(set) var price: Double?
    /// Active curtailments by source and id (an id-less curtail replaces the source's id-less one).
    public internal(set) var curtailments: [String: CurtailSignal] = [:]
    public internal(set) var lastSignal: Date?
    public internal(set) var stale = false
    /// When the capacity limit last rose from below full (for the staged ramp).
    public internal(set) var rampStart: Date?
    public internal(set) var capacity: Double

    public init(config: PolicyConfig, now: Date) {
        priceAllowsMining = config.initialCapacity > 0
        // The miner starts (or starts halted) now: dwell times count from here.
        lastPriceChange = now
        capacity = config.initialCapacity
    }
}

/// What the policy wants the miner to do.
public struct Decision: Sendable, Hashable {
    /// Fraction of the machine to hash with, in [0, 1]; 0 means halt every worker.
    public let capacity: Double
    public let previousCapacity: Double
    /// Why, in words an operator can read in the decision log.
    public let reason: String
    public var changed: Bool { capacity != previousCapacity }

    public init(capacity: Double, previousCapacity: Double, reason: String) {
        self.capacity = capacity
        self.previousCapacity = previousCapacity
        self.reason = reason
    }
    public var halt: Bool { capacity == 0 }
}

/// What the policy reacts to.
public enum PolicyInput: Sendable, Hashable {
    /// A signal from `source` (its name, e.g. "unix:/run/flexminer.sock").
    case signal(SignalMessage, source: String)
    /// Time passing: dwell times ending, curtailments expiring, signals going stale, ramp steps.
    case tick
}

/// The demand-response policy: a pure function of (state, input, time). The same code runs live (with
/// the wall clock) and in the simulator (with a virtual clock).
public enum Policy {
    public static func step(_ state: inout PolicyState, _ input: PolicyInput, now: Date, config: PolicyConfig)
        -> Decision
    {
        let before = state.capacity
        var reasons: [String] = []
        switch input {
        case .signal(let message, let source):
            state.lastSignal = now
            if state.stale {
                state.stale = false
                reasons.append("signals resumed")
            }
            switch message {
            case .price(let p):
                state.price = p.usdPerMWh
                reasons.append("price \(format(p.usdPerMWh)) USD/MWh")
            case .curtail(let c):
                state.curtailments["\(source)#\(c.id ?? "")"] = c
                reasons.append(
                    "curtail \(format(c.level))\(c.id.map { " (\($0))" } ?? "")\(c.reason.map { ": \($0)" } ?? "")")
            case .release(let id):
                let key = "\(source)#\(id ?? "")"
                if id == nil {
                    state.curtailments = state.curtailments.filter { !$0.key.hasPrefix("\(source)#") }
                } else {
                    state.curtailments[key] = nil
                }
                reasons.append("release\(id.map { " (\($0))" } ?? "")")
            case .heartbeat, .status:
                break
            }
        case .tick:
            break
        }
        // Curtailments that lifted themselves.
        for (key, c) in state.curtailments where c.until.map({ $0 <= now }) ?? false {
            state.curtailments[key] = nil
            reasons.append("curtailment \(c.id ?? key) expired")
        }
        // Fail-safe: armed once any signal has arrived.
        if let last = state.lastSignal, !state.stale, now.timeIntervalSince(last) >= config.staleAfterSeconds {
            state.stale = true
            reasons.append("no signal for \(format(config.staleAfterSeconds)) s: fail-safe")
        }
        updatePriceState(&state, now: now, config: config, reasons: &reasons)

        var limit = state.priceAllowsMining ? 1.0 : 0.0
        var limitReason =
            state.price == nil
            ? "no price yet" : (state.priceAllowsMining ? "price below break-even" : "price above break-even")
        if let c = state.curtailments.values.max(by: { $0.level < $1.level }), 1 - c.level < limit {
            limit = 1 - c.level
            limitReason = "curtailment \(format(c.level))"
        }
        if state.stale {
            limit = config.safeCapacity
            limitReason = "fail-safe (signals stale)"
        }
        // Staged ramp-up whenever the limit rises above the current capacity.
        var capacity = limit
        if limit > 0 && !config.rampSteps.isEmpty && config.rampStepSeconds > 0 {
            if limit > before && state.rampStart == nil { state.rampStart = now }
            if let start = state.rampStart {
                let step = Int(now.timeIntervalSince(start) / config.rampStepSeconds)
                if step < config.rampSteps.count {
                    capacity = Swift.min(limit, Swift.max(config.rampSteps[step], before))
                    limitReason += ", ramp step \(step + 1)/\(config.rampSteps.count)"
                } else {
                    state.rampStart = nil
                }
            }
        } else {
            state.rampStart = nil
        }
        if limit == 0 { state.rampStart = nil }
        capacity = (capacity * 100).rounded() / 100
        state.capacity = capacity
        reasons.append(limitReason)
        return Decision(capacity: capacity, previousCapacity: before, reason: reasons.joined(separator: "; "))
    }

    private static func updatePriceState(
        _ state: inout PolicyState, now: Date, config: PolicyConfig, reasons: inout [String]
    ) {
        guard let price = state.price else { return }
        let dwell = now.timeIntervalSince(state.lastPriceChange)
        if state.priceAllowsMining {
            if let hard = config.hardPriceUSDPerMWh, price >= hard {
                state.priceAllowsMining = false
                state.lastPriceChange = now
                reasons.append("hard price \(format(hard)) reached")
            } else if price >= config.breakEvenUSDPerMWh + config.hysteresisUSDPerMWh && dwell >= config.minOnSeconds {
                state.priceAllowsMining = false
                state.lastPriceChange = now
            }
        } else if price < config.breakEvenUSDPerMWh - config.hysteresisUSDPerMWh && dwell >= config.minOffSeconds
            && !(config.hardPriceUSDPerMWh.map { price >= $0 } ?? false)
        {
            state.priceAllowsMining = true
            state.lastPriceChange = now
        }
    }

    /// Two decimals, by hand: it runs on every step (the simulator makes hundreds of thousands) and
    /// `String(format:)` would dominate them.
    static func format(_ x: Double) -> String {
        if x == x.rounded() && abs(x) < 1e15 { return String(Int(x)) }
        let cents = (abs(x) * 100).rounded()
        guard cents < 1e15 else { return String(x) }
        let c = Int(cents)
        return "\(x < 0 ? "-" : "")\(c / 100).\(c % 100 < 10 ? "0" : "")\(c % 100)"
    }
}
