import FlexSupport
import Foundation

/// One interval of a 2.0b event as the controller will get it: a curtailment with its `until`, or a price.
package struct ScheduledInterval: Sendable, Hashable, Codable {
    package enum Action: Sendable, Hashable, Codable {
        /// Shed this fraction of capacity.
        case curtail(level: Double)
        /// The price for the interval, in USD/MWh.
        case price(usdPerMWh: Double)
    }

    /// `openadr2b:<eventID>:<intervalUID>` (a price: the same with `:price`): the curtailment's id in the
    /// controller and the decision log.
    package var id: String
    package var eventID: String
    package var start: Date
    package var end: Date
    package var action: Action
    /// Why, for the decision log (`SIMPLE 2`, `LOAD_CONTROL x-loadControlCapacity 0.4`).
    package var reason: String
}

/// Turns 2.0b events into scheduled intervals: a pure function of the event, the settings and the time
/// (intervals already over are left out), so it is tested on its own.
package struct EventPlanner: Sendable {
    /// SIMPLE level → curtailment level: the OpenADR 3 source's map (`OpenADRPlanner.defaultSimpleLevels`,
    /// passed in by the source so that both protocols share one).
    package var simpleLevels: [Int: Double]
    /// The load's draw, for LOAD_DISPATCH setpoints and deltas in watts.
    package var powerWatts: Double?
    /// Follow test events (else they are logged and left alone).
    package var actOnTestEvents: Bool
    /// This VEN's place in an event's `startafter` window, in [0, 1) (stable per VEN and event).
    package var startAfterFraction: @Sendable (String) -> Double

    package init(
        simpleLevels: [Int: Double], powerWatts: Double? = nil, actOnTestEvents: Bool = false,
        startAfterFraction: @escaping @Sendable (String) -> Double = { _ in 0 }
    ) {
        self.simpleLevels = simpleLevels
        self.powerWatts = powerWatts
        self.actOnTestEvents = actOnTestEvents
        self.startAfterFraction = startAfterFraction
    }

    /// The intervals of `event` that end after `now`, and notes on what was ignored (stable texts, so
    /// the caller can log each once).
    package func plan(_ event: DistributedEvent, now: Date) -> (intervals: [ScheduledInterval], ignored: [String]) {
        if event.cancelled { return ([], []) }
        if event.testEvent && !actOnTestEvents {
            return ([], ["event \(event.eventID.prefix(60)): a test event (logged, not followed)"])
        }
        let fraction = min(max(startAfterFraction(event.eventID), 0), 0.999_999)
        let start = event.start.addingTimeInterval(event.startAfterSeconds * fraction)
        let eventEnd = event.durationSeconds > 0 ? start.addingTimeInterval(event.durationSeconds) : nil
        var byID: [String: ScheduledInterval] = [:]
        var order: [String] = []
        var ignored: [String] = []
        for (index, signal) in event.signals.enumerated() {
            var t = start
            for interval in signal.intervals {
                var end = t.addingTimeInterval(interval.durationSeconds)
                if let eventEnd, end > eventEnd { end = eventEnd }
                defer { t = t.addingTimeInterval(interval.durationSeconds) }
                guard end > t, end > now else { continue }
                let base = "openadr2b:\(event.eventID):\(interval.uid)"
                switch action(signal, interval.value) {
                case .ignore(let why):
                    ignored.append("event \(event.eventID.prefix(60)): \(why)")
                case .nothing:
                    continue
                case .act(let a, let reason):
                    var id = if case .price = a { base + ":price" } else { base }
                    // Signals of one event usually share their intervals' uids and times: one curtailment, the
                    // deepest. Another window under the same uid gets the signal's index (`…:<uid>@<index>`).
                    if let old = byID[id], old.start != t || old.end != end { id += "@\(index)" }
                    if let old = byID[id], case .curtail(let l0) = old.action, case .curtail(let l1) = a {
                        byID[id]?.action = .curtail(level: max(l0, l1))
                        byID[id]?.reason = old.reason + ", " + reason
                    } else if byID[id] == nil {
                        byID[id] = ScheduledInterval(
                            id: id, eventID: event.eventID, start: t, end: end, action: a, reason: reason)
                        order.append(id)
                    }
                }
            }
        }
        return (order.compactMap { byID[$0] }, Array(Set(ignored)).sorted())
    }

    enum Outcome {
        case act(ScheduledInterval.Action, String)
        /// Nothing to do (a level of 0).
        case nothing
        case ignore(String)
    }

    /// What one signal value asks for.
    func action(_ s: EventSignal, _ v: Double) -> Outcome {
        let name = s.name.uppercased()
        let scale = s.item?.multiplier ?? 1
        switch (name, s.type) {
        case ("SIMPLE", _):
            guard let level = JSONScalar.integer(exactly: v, in: 0...1_000), let l = simpleLevels[level] else {
                return .ignore("SIMPLE value \(v) is not in the level map")
            }
            return l > 0 ? .act(.curtail(level: l), "SIMPLE \(level)") : .nothing
        case ("ELECTRICITY_PRICE", "price"):
            let units = s.item?.units.uppercased() ?? "USD"
            guard units == "USD" else { return .ignore("ELECTRICITY_PRICE in \(units.prefix(10)) (expected USD)") }
            guard s.item == nil || s.item?.kind == "currencyPerKWh" else {
                return .ignore("ELECTRICITY_PRICE as \(s.item?.kind.prefix(30) ?? "") (expected currencyPerKWh)")
            }
            return .act(.price(usdPerMWh: v * scale * 1000), "ELECTRICITY_PRICE \(v) USD/kWh")
        case ("LOAD_CONTROL", "x-loadControlCapacity"):
            let l = 1 - min(max(v, 0), 1)
            return l > 0 ? .act(.curtail(level: l), "LOAD_CONTROL x-loadControlCapacity \(v)") : .nothing
        case ("LOAD_CONTROL", "x-loadControlPourcentOffset"):
            let l = min(max(-v / 100, 0), 1)
            return l > 0 ? .act(.curtail(level: l), "LOAD_CONTROL x-loadControlPourcentOffset \(v)") : .nothing
        case ("LOAD_DISPATCH", "setpoint"), ("LOAD_DISPATCH", "delta"):
            guard let power = powerWatts, power > 0 else { return .ignore("LOAD_DISPATCH needs --power-watts") }
            let units = (s.item?.units ?? "W").uppercased()
            let unit: Double? = ["W": 1, "KW": 1000, "MW": 1_000_000][units]
            guard let unit else { return .ignore("LOAD_DISPATCH in \(units.prefix(10)) (expected W)") }
            let watts = v * scale * unit
            let l = s.type == "setpoint" ? 1 - watts / power : -watts / power
            let level = min(max(l.isFinite ? l : 0, 0), 1)
            return level > 0 ? .act(.curtail(level: level), "LOAD_DISPATCH \(s.type) \(v) \(units)") : .nothing
        default:
            return .ignore("signal \(name.prefix(40)) \(s.type.prefix(40)) is not used (ignored)")
        }
    }
}
