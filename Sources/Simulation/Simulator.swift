import DemandResponse
import FlexSupport
import Foundation

/// The site's economics for a simulation.
public struct SiteModel: Sendable {
    /// Power draw at full capacity (W); it scales with capacity.
    public var powerWatts: Double
    /// Hash rate at full capacity (H/s), when revenue is priced per hash.
    public var hashRate: Double?
    /// Revenue per hash (USD), from a hashprice or network terms. Without it, revenue is valued at the
    /// break-even price per MWh used (the definition of break-even).
    public var usdPerHash: Double?
    /// A curtailment is met when the miner is at or below the required capacity within this time.
    public var responseDeadlineSeconds: Double = 1

    public init(powerWatts: Double, hashRate: Double? = nil, usdPerHash: Double? = nil) {
        self.powerWatts = powerWatts
        self.hashRate = hashRate
        self.usdPerHash = usdPerHash
    }
}

/// What `--live` plugs in: a real miner, commanded through the same `LoadActuator.apply` as the live
/// controller, with time compressed.
public protocol LiveLoad: AnyObject {
    /// The miner the simulated decisions command.
    var load: any LoadActuator { get }
    /// Called at the start of every interval: sleeps until that interval's turn on the compressed clock.
    func pace(interval index: Int)
}

/// How one curtailment event went.
public struct EventOutcome: Sendable {
    public let id: String?
    public let time: Double
    public let level: Double
    public let requiredCapacity: Double
    public let capacityAfter: Double
    /// Time for real workers to reach the state (live mode); 0 in model mode, where decisions act at once.
    public let responseSeconds: Double
    public let met: Bool
    /// How far past the deadline the response was (0 when met in time).
    public let lateBySeconds: Double
    public let line: Int
    /// When the curtailment ended (its `until`, a matching `release`, or the end of the series), in
    /// price-file time.
    public var end: Double
}

/// Totals of a simulation, checkable by hand: energy = Σ power × capacity × time, cost = Σ energy × price,
/// revenue = Σ hash rate × capacity × time × USD per hash (or energy × break-even).
public struct SimulationTotals: Sendable {
    public var intervals = 0
    public var simulatedSeconds = 0.0
    public var secondsMined = 0.0
    public var fullCapacitySeconds = 0.0
    public var secondsCurtailedByPrice = 0.0
    public var secondsCurtailedByEvents = 0.0
    public var secondsCurtailedByFailSafe = 0.0
    public var energyKWh = 0.0
    public var energyCostUSD = 0.0
    public var revenueUSD = 0.0
    public var transitions = 0
    public var capacityChanges = 0
    public var gapSeconds = 0.0
}

/// A stretch of constant capacity (for the chart).
public struct CapacitySpan: Sendable {
    public let start: Double
    public let end: Double
    public let capacity: Double
}

public struct SimulationResult: Sendable {
    public let totals: SimulationTotals
    public let events: [EventOutcome]
    /// Events before the first or after the last price interval (not simulated), by line.
    public let eventsOutsideSeries: [Int]
    /// Where the miner ran, in real (price-file) time.
    public let spans: [CapacitySpan]
    public let haltLatencies: [Duration]
    public let resumeLatencies: [Duration]
}

/// Replays a price series (and curtailment events) through `Policy.step` — the same code `flexminer run`
/// uses — on a virtual clock.
///
/// Each price row is a `price` signal at the start of its interval; between rows the policy is ticked at
/// exactly the times something can change (a dwell ends, a curtailment's `until`, a ramp step, a
/// fail-safe deadline), so results do not depend on a tick rate. Prices hold on half-open intervals
/// [start, next start): anything due exactly at a row's start is decided with that row's price, not the
/// one that has just ended. A row's price stays fresh for its interval: the fail-safe can fire only
/// across gaps in the data. Time in gaps is not counted (there is no price for it) and is reported.
public enum Simulator {
    public static func run(
        series: PriceSeries, events: [CurtailmentEvent] = [], config baseConfig: PolicyConfig, site: SiteModel,
        live: (any LiveLoad)? = nil, meter: TariffMeter? = nil, progress: ((Double) -> Void)? = nil
    ) -> SimulationResult {
        var config = baseConfig
        config.staleAfterSeconds = baseConfig.staleAfterSeconds + series.intervalSeconds
        let rows = series.points
        // Virtual start of each row: real time, plus one interval per repeated (DST) timestamp so the clock
        // only moves forward.
        var starts = [Double](repeating: 0, count: rows.count)
        var durations = [Double](repeating: series.intervalSeconds, count: rows.count)
        starts[0] = rows[0].time
        for i in 1..<max(rows.count, 1) where i < rows.count {
            let delta = rows[i].time - rows[i - 1].time
            starts[i] = starts[i - 1] + (delta > 0 ? delta : series.intervalSeconds)
            if delta > 0 && delta < series.intervalSeconds { durations[i - 1] = delta }
        }
        // Events on the virtual clock: offset within the first row that contains their time.
        var queue: [(virtual: Double, event: CurtailmentEvent)] = []
        var outside: [Int] = []
        let seriesEnd = rows[rows.count - 1].time + durations[rows.count - 1]
        /// The row a real time falls in: the last row starting at or before it (the first of repeated ones).
        func row(containing real: Double) -> Int {
            var lo = 0
            var hi = rows.count - 1
            while lo < hi {
                let mid = (lo + hi + 1) / 2
                if rows[mid].time <= real { lo = mid } else { hi = mid - 1 }
            }
            while lo > 0 && rows[lo - 1].time == rows[lo].time { lo -= 1 }
            return lo
        }
        for e in events {
            guard e.time >= rows[0].time && e.time < seriesEnd else {
                outside.append(e.line)
                continue
            }
            let r = row(containing: e.time)
            queue.append((starts[r] + (e.time - rows[r].time), e))
        }
        queue.sort { ($0.virtual, $0.event.line) < ($1.virtual, $1.event.line) }
        // `until` times move with the virtual clock too.
        func shift(_ real: Double) -> Double {
            guard real >= rows[0].time else { return 0 }
            let r = row(containing: real)
            return starts[r] - rows[r].time
        }

        var state = PolicyState(config: config, now: PolicyTime(Date(timeIntervalSince1970: starts[0])))
        var totals = SimulationTotals()
        var outcomes: [EventOutcome] = []
        var spans: [CapacitySpan] = []
        var halts: [Duration] = []
        var resumes: [Duration] = []
        var nextEvent = 0
        var now = starts[0]
        var capacity = state.capacity
        var price = rows[0].usdPerMWh
        let usdPerMWhRevenue = config.breakEvenUSDPerMWh
        // Real time = virtual time - shift; spans are kept in real time for the chart.
        var shiftNow = 0.0
        /// The policy's time: durations on the virtual clock (it only moves forward), `until` compared with
        /// the price file's own time (which repeats an hour at a DST change, like a wall clock stepping back).
        func policyTime(_ virtual: Double) -> PolicyTime {
            PolicyTime(monotonic: virtual, wall: Date(timeIntervalSince1970: virtual - shiftNow))
        }

        func apply(_ d: Decision) -> Duration? {
            guard d.changed else { return nil }
            totals.capacityChanges += 1
            if (d.previousCapacity == 0) != (d.capacity == 0) { totals.transitions += 1 }
            capacity = d.capacity
            guard let live else { return nil }
            let change = live.load.apply(capacity: d.capacity)
            let latency = change.haltLatency ?? change.resumeLatency
            if let l = latency { if d.capacity == 0 { halts.append(l) } else { resumes.append(l) } }
            return latency
        }

        func accumulate(_ from: Double, _ to: Double, counted: Bool) {
            let dt = to - from
            guard dt > 0 else { return }
            if let last = spans.last, last.capacity == capacity, abs(last.end - (from - shiftNow)) < 1e-6 {
                spans[spans.count - 1] = CapacitySpan(start: last.start, end: to - shiftNow, capacity: capacity)
            } else {
                spans.append(CapacitySpan(start: from - shiftNow, end: to - shiftNow, capacity: capacity))
            }
            guard counted else {
                totals.gapSeconds += dt
                return
            }
            totals.simulatedSeconds += dt
            if capacity > 0 { totals.secondsMined += dt }
            totals.fullCapacitySeconds += capacity * dt
            if capacity < 1 {
                let curtail = state.curtailments.values.map(\.level).max() ?? 0
                if state.stale {
                    totals.secondsCurtailedByFailSafe += dt
                } else if curtail > 0 && 1 - curtail <= capacity + 1e-9 {
                    totals.secondsCurtailedByEvents += dt
                } else {
                    totals.secondsCurtailedByPrice += dt
                }
            }
            let mwh = site.powerWatts * capacity * dt / 3600 / 1e6
            totals.energyKWh += mwh * 1000
            if let meter {
                let byEvent = capacity < 1 && !state.stale && (state.curtailments.values.map(\.level).max() ?? 0) > 0
                totals.energyCostUSD += meter.record(
                    from: from - shiftNow, to: to - shiftNow, kWh: mwh * 1000, curtailedByEvent: byEvent,
                    fallbackUSDPerMWh: price)
            } else {
                totals.energyCostUSD += mwh * price
            }
            if let perHash = site.usdPerHash, let rate = site.hashRate {
                totals.revenueUSD += rate * capacity * dt * perHash
            } else {
                totals.revenueUSD += mwh * usdPerMWhRevenue
            }
        }

        /// The next time the policy could change its mind without a new signal.
        func nextWake() -> Double? {
            var t = Double.infinity
            for c in state.curtailments.values {
                if let u = c.until?.timeIntervalSince1970 {
                    let v = u + shift(u)
                    if v > now { t = min(t, v) }
                }
            }
            if state.price != nil {
                let dwell = state.priceAllowsMining ? config.minOnSeconds : config.minOffSeconds
                let end = state.lastPriceChange.monotonic + dwell
                if dwell > 0 && end > now { t = min(t, end) }
            }
            if let r = state.rampStart?.monotonic, config.rampStepSeconds > 0 {
                // Compared as Doubles: a tiny step time must not overflow an `Int`.
                let k = (max(0, now - r) / config.rampStepSeconds).rounded(.down) + 1
                if k <= Double(config.rampSteps.count) { t = min(t, r + k * config.rampStepSeconds) }
            }
            if let last = state.lastSignal?.monotonic, !state.stale, last + config.staleAfterSeconds > now {
                t = min(t, last + config.staleAfterSeconds)
            }
            return t.isFinite && t > now ? t : nil
        }

        func advance(to target: Double, counted: Bool) {
            while now < target {
                let eventTime = nextEvent < queue.count ? queue[nextEvent].virtual : .infinity
                let wake = nextWake() ?? .infinity
                let next = min(target, eventTime, wake)
                accumulate(now, next, counted: counted)
                now = next
                // Prices hold on [start, next start): whatever is due exactly at `target` (a dwell's end, an
                // `until`, a ramp step, an event) waits for the next row's price, which then decides.
                guard now < target else { break }
                if eventTime <= now {
                    handleEvent(queue[nextEvent].event)
                    nextEvent += 1
                } else if wake <= now {
                    _ = apply(Policy.step(&state, .tick, now: policyTime(now), config: config))
                }
            }
        }

        func handleEvent(_ e: CurtailmentEvent) {
            let d = Policy.step(&state, .signal(e.message, source: "events"), now: policyTime(now), config: config)
            let latency = apply(d)
            if case .curtail(let c) = e.message {
                let required = 1 - c.level
                let response =
                    latency.map { Double($0.components.attoseconds) * 1e-18 + Double($0.components.seconds) } ?? 0
                let inState = capacity <= required + 1e-9
                let late = max(0, response - site.responseDeadlineSeconds)
                outcomes.append(
                    EventOutcome(
                        id: c.id, time: e.time, level: c.level, requiredCapacity: required, capacityAfter: capacity,
                        responseSeconds: response, met: inState && late == 0, lateBySeconds: late, line: e.line,
                        end: curtailmentEnd(e, c)))
            }
        }

        /// The first `until` or matching release after the event (release without id ends them all).
        func curtailmentEnd(_ e: CurtailmentEvent, _ c: CurtailSignal) -> Double {
            var end = seriesEnd
            if let u = c.until?.timeIntervalSince1970 { end = min(end, u) }
            for later in events where later.time > e.time || (later.time == e.time && later.line > e.line) {
                if case .release(let id) = later.message, id == nil || id == c.id {
                    end = min(end, later.time)
                    break
                }
            }
            return end
        }

        let step = max(1, rows.count / 100)
        for i in rows.indices {
            live?.pace(interval: i)
            // Events that fell into a gap (or before this row) happen first.
            advance(to: starts[i], counted: false)
            shiftNow = starts[i] - rows[i].time
            // Under a tariff, the price of the interval's local hour (and tier, and schedule price window).
            price = meter?.price(at: rows[i].time) ?? rows[i].usdPerMWh
            totals.intervals += 1
            let d = Policy.step(
                &state, .signal(.price(PriceSignal(usdPerMWh: price)), source: "prices"),
                now: policyTime(now), config: config)
            _ = apply(d)
            // Events at exactly this time act after the price (curtailments override it anyway); the price
            // step itself has handled every dwell end, `until` and ramp step due now, with this row's price.
            while nextEvent < queue.count && queue[nextEvent].virtual <= now {
                handleEvent(queue[nextEvent].event)
                nextEvent += 1
            }
            advance(to: starts[i] + durations[i], counted: true)
            if let progress, i % step == 0 { progress(Double(i) / Double(rows.count)) }
        }
        progress?(1)
        return SimulationResult(
            totals: totals, events: outcomes, eventsOutsideSeries: outside, spans: spans, haltLatencies: halts,
            resumeLatencies: resumes)
    }
}
