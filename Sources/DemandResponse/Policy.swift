import FlexSupport
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
    /// Peak rule (inside `peak_watch` windows): curtail when the system load reaches this fraction of the
    /// month-to-date peak...
    public var peakThreshold: Double = 0.95
    /// ...and release when it falls below this fraction of it (at most `peakThreshold`).
    public var peakRelease: Double = 0.90
    /// ...or curtail at this absolute system load, MW (release below it and below the relative release).
    public var peakMW: Double? = nil
    /// The zone whose calendar months the month-to-date peak follows (a schedule's peak-watch zone).
    public var peakTimeZone: TimeZone = TimeZone(identifier: "UTC")!

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
        try check(
            rampStepSeconds.isFinite && (rampStepSeconds == 0 || rampStepSeconds >= 0.001),
            "ramp step time must be 0 or at least 0.001 s")
        try check(staleAfterSeconds.isFinite && staleAfterSeconds > 0, "stale time must be > 0")
        try check((0...1).contains(safeCapacity), "safe capacity must be within [0, 1]")
        try check((0...1).contains(initialCapacity), "initial capacity must be within [0, 1]")
        try check(peakThreshold > 0 && peakThreshold <= 1, "peak_threshold must be within (0, 1]")
        try check(peakRelease > 0 && peakRelease <= peakThreshold, "peak_release must be within (0, peak_threshold]")
        try check(peakMW.map { $0 > 0 && $0 <= 1e7 } ?? true, "peak_mw must be within (0, 1e7]")
    }
}

/// Everything the policy remembers. A value: the live controller and the simulator each keep one.
public struct PolicyState: Sendable, Hashable {
    /// Whether price alone says "mine" (after hysteresis and dwell).
    public internal(set) var priceAllowsMining: Bool
    /// When price last started or stopped the miner; dwell times count from here (monotonic).
    public internal(set) var lastPriceChange: PolicyTime
    public internal(set) var price: Double?
    /// Active curtailments by source and id (an id-less curtail replaces the source's id-less one; a
    /// curtail with an id replaces that source's curtailment with the same id). A `release` with an id
    /// lifts every curtailment with that id; one without lifts only the curtailments its source set.
    public internal(set) var curtailments: [String: CurtailSignal] = [:]
    /// When the last signal arrived; the fail-safe counts from here (monotonic).
    public internal(set) var lastSignal: PolicyTime?
    public internal(set) var stale = false
    /// When the capacity limit last rose from below full (for the staged ramp; monotonic).
    public internal(set) var rampStart: PolicyTime?
    public internal(set) var capacity: Double
    /// The latest system load reported (`system_load`), MW, and the highest this month (see `PeakRule`).
    public internal(set) var systemLoadMW: Double?
    public internal(set) var monthPeakMW: Double?
    /// The month of `monthPeakMW` (year × 12 + month - 1, in the peak rule's zone).
    public internal(set) var loadMonth: Int?
    /// Open peak-watch windows by source and id.
    public internal(set) var peakWatches: [String: PeakWatchSignal] = [:]

    public init(config: PolicyConfig, now: PolicyTime) {
        priceAllowsMining = config.initialCapacity > 0
        // The miner starts (or starts halted) now: dwell times count from here.
        lastPriceChange = now
        capacity = config.initialCapacity
    }

    /// With one virtual clock for durations and dates (see `PolicyTime.init(_:)`).
    public init(config: PolicyConfig, now: Date) {
        self.init(config: config, now: PolicyTime(now))
    }

    /// Puts back curtailments kept across a restart (the state file), by their keys ("source#id"). Ones
    /// whose `until` has passed at `now` are dropped; ids and reasons are truncated and the set is bounded
    /// as for live ones (the most restrictive are kept). Call it before the first step.
    /// - Returns: how many were restored.
    @discardableResult
    public mutating func restore(_ restored: [String: CurtailSignal], now: Date) -> Int {
        let live = restored.filter { $0.value.until.map { $0 > now } ?? true }
            .sorted { $0.value.level > $1.value.level || ($0.value.level == $1.value.level && $0.key < $1.key) }
            .prefix(Policy.maxCurtailments)
        for (key, c) in live {
            guard case .curtail(let bounded) = Policy.bounded(.curtail(c)) else { continue }
            curtailments[key] = bounded
        }
        return live.count
    }

    /// The capacity curtailments allow (1 with none): no other rule may go above it.
    public var curtailmentCeiling: Double {
        1 - (curtailments.values.map(\.level).max() ?? 0)
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
    /// A line of history (a followed file read from its start: at start, after rotation or replace). It
    /// updates the price and the curtailments like `signal`, but makes no price-driven start or stop of its
    /// own, so old lines do not count as fresh transitions against the dwell times. Send a `.tick` after
    /// the last replayed line: the latest price then decides, held only by the miner's real dwell.
    case replayed(SignalMessage, source: String)
    /// Time passing: dwell times ending, curtailments expiring, signals going stale, ramp steps.
    case tick
}

/// The demand-response policy: a pure function of (state, input, time). The same code runs live (with
/// the machine's clocks) and in the simulator (with a virtual clock).
///
/// Capacity is the minimum of what the rules allow: price (or, while signals are stale, the fail-safe's
/// `safeCapacity`), then the staged ramp, all capped by the most restrictive active curtailment. No rule
/// ever raises capacity above a curtailment.
public enum Policy {
    /// Active curtailments one source may hold at once (a socket counts as one source, whatever its
    /// connections): a client cannot grow the set without bound.
    public static let maxCurtailmentsPerSource = 64
    /// Active curtailments in all, from every source.
    public static let maxCurtailments = 1024
    /// Longest id and reason kept (bytes of UTF-8; longer ones are cut at a character boundary).
    public static let maxTextBytes = 256

    /// Why a curtail from `source` cannot be added, or nil when it can: one that replaces an active
    /// curtailment (same key) is always admitted; a new one must fit under both limits.
    /// - Parameters:
    ///   - source: the sender's name, the key prefix (`SignalOrigin.name`).
    ///   - group: the source as configured, whose curtailments count together (a socket's connections).
    public static func refusal(
        _ message: SignalMessage, source: String, group: String, state: PolicyState
    ) -> String? {
        guard case .curtail(let c) = bounded(message) else { return nil }
        guard state.curtailments["\(source)#\(c.id ?? "")"] == nil else { return nil }
        if state.curtailments.count >= maxCurtailments {
            return "too many active curtailments (the limit is \(maxCurtailments) in all); release some first"
        }
        let prefix = group + "#"
        if state.curtailments.keys.count(where: { $0.hasPrefix(prefix) }) >= maxCurtailmentsPerSource {
            return
                "too many active curtailments from \(group) (the limit is \(maxCurtailmentsPerSource) per source); release some first"
        }
        return nil
    }

    /// `message` with its id and reason cut to `maxTextBytes` (a release's id the same way, so it still
    /// matches the curtailment it names).
    public static func bounded(_ message: SignalMessage) -> SignalMessage {
        switch message {
        case .curtail(let c):
            guard (c.id?.utf8.count ?? 0) > maxTextBytes || (c.reason?.utf8.count ?? 0) > maxTextBytes else {
                return message
            }
            return .curtail(
                CurtailSignal(level: c.level, id: c.id.map(truncated), until: c.until, reason: c.reason.map(truncated)))
        case .release(let id?) where id.utf8.count > maxTextBytes:
            return .release(id: truncated(id))
        default:
            return message
        }
    }

    static func truncated(_ s: String) -> String {
        guard s.utf8.count > maxTextBytes else { return s }
        var bytes = Array(s.utf8.prefix(maxTextBytes))
        // Drop a character the cut went through: find its lead byte and check its length.
        var lead = bytes.count - 1
        while lead > 0 && bytes[lead] & 0xC0 == 0x80 { lead -= 1 }
        let b = bytes[lead]
        let length = b < 0x80 ? 1 : b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2
        if lead + length > bytes.count { bytes.removeSubrange(lead...) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// One step with one virtual clock for durations and dates (the simulator, tests).
    public static func step(_ state: inout PolicyState, _ input: PolicyInput, now: Date, config: PolicyConfig)
        -> Decision
    {
        step(&state, input, now: PolicyTime(now), config: config)
    }

    /// One step. Durations are measured on `now.monotonic`; `until` is compared with `now.wall`.
    public static func step(_ state: inout PolicyState, _ input: PolicyInput, now: PolicyTime, config: PolicyConfig)
        -> Decision
    {
        let before = state.capacity
        var reasons: [String] = []
        var replay = false
        switch input {
        case .signal(let message, let source):
            receive(message, source: source, state: &state, now: now, config: config, reasons: &reasons)
        case .replayed(let message, let source):
            replay = true
            receive(message, source: source, state: &state, now: now, config: config, reasons: &reasons)
        case .tick:
            break
        }
        // Curtailments that lifted themselves: `until` is a wall-clock date.
        for (key, c) in state.curtailments where c.until.map({ $0 <= now.wall }) ?? false {
            state.curtailments[key] = nil
            reasons.append("curtailment \(c.id ?? key) expired")
        }
        applyPeakRule(&state, now: now, config: config, reasons: &reasons)
        // Fail-safe: armed once any signal has arrived; staleness is a duration, on the monotonic clock.
        if let last = state.lastSignal, !state.stale, now.seconds(since: last) >= config.staleAfterSeconds {
            state.stale = true
            reasons.append("no signal for \(format(config.staleAfterSeconds)) s: fail-safe")
        }
        if !replay { updatePriceState(&state, now: now, config: config, reasons: &reasons) }

        var limit: Double
        var limitReason: String
        if state.stale {
            // Stale signals mean a stale price too: the operator's safe capacity replaces it.
            limit = config.safeCapacity
            limitReason = "fail-safe (signals stale)"
        } else {
            limit = state.priceAllowsMining ? 1.0 : 0.0
            limitReason =
                state.price == nil
                ? "no price yet" : (state.priceAllowsMining ? "price below break-even" : "price above break-even")
        }
        // A curtailment is never overridden: the fail-safe, price and ramp only ever go below it.
        let ceiling = state.curtailmentCeiling
        if ceiling < limit {
            limit = ceiling
            limitReason = "curtailment \(format(1 - ceiling))\(state.stale ? " (fail-safe also active)" : "")"
        }
        // Capacity has two decimals; rounded down so that it never exceeds 1 - level. Done on the limit
        // too, so a capacity just below an unrounded limit (0.66 under 0.667) does not look like room to
        // ramp into on every step.
        limit = roundedDown(limit)
        // Staged ramp-up whenever the limit rises above the current capacity.
        var capacity = limit
        if limit > 0 && !config.rampSteps.isEmpty && config.rampStepSeconds > 0 {
            if limit > before && state.rampStart == nil { state.rampStart = now }
            if let start = state.rampStart {
                // Compared as a Double before any conversion: never negative (monotonic, clamped), and a
                // huge quotient ends the ramp instead of overflowing `Int`.
                let elapsedSteps = now.seconds(since: start) / config.rampStepSeconds
                if elapsedSteps < Double(config.rampSteps.count) {
                    let step = Swift.min(Swift.max(0, Int(elapsedSteps)), config.rampSteps.count - 1)
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
        capacity = roundedDown(capacity)
        state.capacity = capacity
        reasons.append(limitReason)
        return Decision(capacity: capacity, previousCapacity: before, reason: reasons.joined(separator: "; "))
    }

    /// Two decimals, rounded down (with a hair of tolerance, for 0.29 × 100 = 28.999…), never above `x`.
    static func roundedDown(_ x: Double) -> Double {
        Swift.min(x, ((x * 100) + 1e-6).rounded(.down) / 100)
    }

    /// What a message changes, live or replayed.
    private static func receive(
        _ message: SignalMessage, source: String, state: inout PolicyState, now: PolicyTime, config: PolicyConfig,
        reasons: inout [String]
    ) {
        state.lastSignal = now
        if state.stale {
            state.stale = false
            reasons.append("signals resumed")
        }
        switch bounded(message) {
        case .price(let p):
            state.price = p.usdPerMWh
            reasons.append("price \(format(p.usdPerMWh)) USD/MWh")
        case .curtail(let c):
            let key = "\(source)#\(c.id ?? "")"
            // The live controller refuses these first (`refusal`); a caller that did not is still bounded.
            guard state.curtailments[key] != nil || state.curtailments.count < maxCurtailments else {
                reasons.append("curtail refused: \(maxCurtailments) curtailments already active")
                return
            }
            state.curtailments[key] = c
            reasons.append(
                "curtail \(format(c.level))\(c.id.map { " (\($0))" } ?? "")\(c.reason.map { ": \($0)" } ?? "")")
        case .release(let id):
            if let id {
                // A curtailment with an id is lifted by that id, whichever source sends the release (a
                // `flexminer signal` call that set it has long closed its connection).
                state.curtailments = state.curtailments.filter { $0.value.id != id }
            } else {
                // Without an id: only what this source set. Compared whole (the key is exactly
                // "source#id"), so a source whose name contains "#" cannot match another one.
                state.curtailments = state.curtailments.filter { $0.key != "\(source)#\($0.value.id ?? "")" }
            }
            releaseWatches(id: id, source: source, state: &state)
            reasons.append("release\(id.map { " (\($0))" } ?? "")")
        case .systemLoad(let mw):
            recordSystemLoad(mw, state: &state, now: now, config: config)
            reasons.append("system load \(format(mw)) MW")
        case .peakWatch(let w):
            let key = "\(source)#\(w.id ?? "")"
            guard state.peakWatches[key] != nil || state.peakWatches.count < maxCurtailments else {
                reasons.append("peak watch refused: \(maxCurtailments) already open")
                return
            }
            state.peakWatches[key] = w
            reasons.append("peak watch\(w.id.map { " (\($0))" } ?? "") until \(ISO8601.format(w.until))")
        case .heartbeat, .status:
            break
        }
    }

    private static func updatePriceState(
        _ state: inout PolicyState, now: PolicyTime, config: PolicyConfig, reasons: inout [String]
    ) {
        guard let price = state.price else { return }
        let dwell = now.seconds(since: state.lastPriceChange)
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
