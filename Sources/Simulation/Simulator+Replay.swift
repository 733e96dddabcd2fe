import DemandResponse
import FlexSupport
import Foundation

/// The simulation's clock. Each price row starts at its real time, plus one interval per repeated (DST)
/// timestamp so the virtual clock only moves forward; a row lasts until the next one starts, an interval
/// at most.
struct VirtualClock {
    let rows: [PricePoint]
    /// Virtual start and duration of each row.
    private(set) var starts: [Double]
    private(set) var durations: [Double]

    init(_ series: PriceSeries) {
        rows = series.points
        starts = [Double](repeating: 0, count: rows.count)
        durations = [Double](repeating: series.intervalSeconds, count: rows.count)
        starts[0] = rows[0].time
        for i in 1..<max(rows.count, 1) where i < rows.count {
            let delta = rows[i].time - rows[i - 1].time
            starts[i] = starts[i - 1] + (delta > 0 ? delta : series.intervalSeconds)
            if delta > 0 && delta < series.intervalSeconds { durations[i - 1] = delta }
        }
    }

    /// The end of the last row, in real time.
    var seriesEnd: Double { rows[rows.count - 1].time + durations[rows.count - 1] }

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

    /// Virtual minus real time at a real time (`until` times move with the virtual clock too).
    func shift(_ real: Double) -> Double {
        guard real >= rows[0].time else { return 0 }
        let r = row(containing: real)
        return starts[r] - rows[r].time
    }

    /// Events on the virtual clock (offset within the first row that contains their time), in time and
    /// line order, and the lines of those outside the series.
    func place(_ events: [CurtailmentEvent]) -> (queue: [(virtual: Double, event: CurtailmentEvent)], outside: [Int]) {
        var queue: [(virtual: Double, event: CurtailmentEvent)] = []
        var outside: [Int] = []
        let end = seriesEnd
        for e in events {
            guard e.time >= rows[0].time && e.time < end else {
                outside.append(e.line)
                continue
            }
            let r = row(containing: e.time)
            queue.append((starts[r] + (e.time - rows[r].time), e))
        }
        queue.sort { ($0.virtual, $0.event.line) < ($1.virtual, $1.event.line) }
        return (queue, outside)
    }
}

/// One simulation in progress: the policy's state, the totals and outcomes so far, and the steps of
/// `Simulator.run` (an interval, the ticks and events within it, what each span of time counts for).
struct PolicyReplay {
    let clock: VirtualClock
    let events: [CurtailmentEvent]
    let config: PolicyConfig
    let site: SiteModel
    let live: (any LiveLoad)?
    let meter: TariffMeter?
    let queue: [(virtual: Double, event: CurtailmentEvent)]
    let outside: [Int]

    var state: PolicyState
    var totals = SimulationTotals()
    var outcomes: [EventOutcome] = []
    var spans: [CapacitySpan] = []
    var halts: [Duration] = []
    var resumes: [Duration] = []
    var nextEvent = 0
    var now: Double
    var capacity: Double
    var price: Double
    /// Real time = virtual time - shift; spans are kept in real time for the chart.
    var shiftNow = 0.0

    init(
        clock: VirtualClock, events: [CurtailmentEvent], config: PolicyConfig, site: SiteModel,
        live: (any LiveLoad)?, meter: TariffMeter?
    ) {
        self.clock = clock
        self.events = events
        self.config = config
        self.site = site
        self.live = live
        self.meter = meter
        (queue, outside) = clock.place(events)
        state = PolicyState(config: config, now: PolicyTime(Date(timeIntervalSince1970: clock.starts[0])))
        now = clock.starts[0]
        capacity = state.capacity
        price = clock.rows[0].usdPerMWh
    }

    var result: SimulationResult {
        SimulationResult(
            totals: totals, events: outcomes, eventsOutsideSeries: outside, spans: spans, haltLatencies: halts,
            resumeLatencies: resumes)
    }

    /// Row `i`: events in the gap before it, its price signal, the events at its start, then its time.
    mutating func interval(_ i: Int) {
        let row = clock.rows[i]
        live?.pace(interval: i)
        // Events that fell into a gap (or before this row) happen first.
        advance(to: clock.starts[i], counted: false)
        shiftNow = clock.starts[i] - row.time
        // Under a tariff, the price of the interval's local hour (and tier, and schedule price window).
        price = meter?.price(at: row.time) ?? row.usdPerMWh
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
        advance(to: clock.starts[i] + clock.durations[i], counted: true)
    }

    /// The policy's time: durations on the virtual clock (it only moves forward), `until` compared with
    /// the price file's own time (which repeats an hour at a DST change, like a wall clock stepping back).
    func policyTime(_ virtual: Double) -> PolicyTime {
        PolicyTime(monotonic: virtual, wall: Date(timeIntervalSince1970: virtual - shiftNow))
    }

    /// Acts on a decision: counts changes, commands the live miner; returns its response time (live).
    mutating func apply(_ d: Decision) -> Duration? {
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

    /// Runs the clock to `target`, ticking the policy where it could change its mind and acting on events.
    mutating func advance(to target: Double, counted: Bool) {
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

    /// The next time the policy could change its mind without a new signal.
    func nextWake() -> Double? {
        var t = Double.infinity
        for c in state.curtailments.values {
            if let u = c.until?.timeIntervalSince1970 {
                let v = u + clock.shift(u)
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
}

extension PolicyReplay {
    /// Counts the time from `from` to `to` (virtual) at the current capacity: a span for the chart, and
    /// either the totals (energy, cost, revenue, why curtailed) or, in a gap in the prices, gap time.
    mutating func accumulate(_ from: Double, _ to: Double, counted: Bool) {
        let dt = to - from
        guard dt > 0 else { return }
        recordSpan(from - shiftNow, to - shiftNow)
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
            totals.revenueUSD += mwh * config.breakEvenUSDPerMWh
        }
    }

    /// Extends the last span when it has this capacity and ends where this one starts (real time).
    private mutating func recordSpan(_ start: Double, _ end: Double) {
        if let last = spans.last, last.capacity == capacity, abs(last.end - start) < 1e-6 {
            spans[spans.count - 1] = CapacitySpan(start: last.start, end: end, capacity: capacity)
        } else {
            spans.append(CapacitySpan(start: start, end: end, capacity: capacity))
        }
    }

    /// An event as a signal to the policy; a curtailment's outcome is recorded (met, late, until when).
    mutating func handleEvent(_ e: CurtailmentEvent) {
        let d = Policy.step(&state, .signal(e.message, source: "events"), now: policyTime(now), config: config)
        let latency = apply(d)
        guard case .curtail(let c) = e.message else { return }
        let required = 1 - c.level
        let response = latency.map { Double($0.components.attoseconds) * 1e-18 + Double($0.components.seconds) } ?? 0
        let inState = capacity <= required + 1e-9
        let late = max(0, response - site.responseDeadlineSeconds)
        outcomes.append(
            EventOutcome(
                id: c.id, time: e.time, level: c.level, requiredCapacity: required, capacityAfter: capacity,
                responseSeconds: response, met: inState && late == 0, lateBySeconds: late, line: e.line,
                end: curtailmentEnd(e, c)))
    }

    /// The first `until` or matching release after the event (release without id ends them all).
    func curtailmentEnd(_ e: CurtailmentEvent, _ c: CurtailSignal) -> Double {
        var end = clock.seriesEnd
        if let u = c.until?.timeIntervalSince1970 { end = min(end, u) }
        for later in events where later.time > e.time || (later.time == e.time && later.line > e.line) {
            if case .release(let id) = later.message, id == nil || id == c.id {
                end = min(end, later.time)
                break
            }
        }
        return end
    }
}
