import FlexSupport
import Foundation
import OpenADR

/// The VEN's schedule: the plan the events make, and what the controller is told at each interval's start
/// and end (a `curtail` with `until` = the interval's end, a `release` when an interval in effect is deleted
/// or changed, the price at a PRICE interval's start), and the reports of the intervals taken part in.
extension VENStateMachine {
    mutating func restored(_ s: OpenADRState) -> [Action] {
        stored = s
        guard !s.events.isEmpty else { return [] }
        return [.note("openadr3: restored \(s.events.count) event(s) from \(configuration.statePath ?? "")")]
            + updatePlan(s.events, save: false)
    }

    /// Replaces the plan with what `events` say, and has what changed applied at once (`.reconcile`).
    mutating func updatePlan(_ events: [OpenADR.Event], save doSave: Bool) -> [Action] {
        let planner = OpenADRPlanner(
            simpleLevels: configuration.simpleLevels, powerWatts: configuration.powerWatts,
            venName: configuration.clientName)
        let (all, ignored) = planner.plan(events)
        var actions = ignored.map { Action.noteOnce("openadr3: \($0)") }
        // Bounded: what has ended is history (an interval in effect is retired by `tick`), and at most
        // `maxPlanned` intervals ahead are kept, the soonest first.
        var intervals = all.filter { $0.end > now }
        if intervals.count > Self.maxPlanned {
            intervals = Array(intervals.sorted { $0.start < $1.start }.prefix(Self.maxPlanned))
            actions.append(
                .noteOnce("openadr3: more than \(Self.maxPlanned) intervals ahead; the latest are left for later reads")
            )
        }
        let changed = stored.events != events
        stored.events = events
        plan = Dictionary(intervals.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        pricesSent = pricesSent.filter { plan[$0] != nil }
        if changed && doSave { actions.append(.save) }
        actions.append(.reconcile)
        return actions
    }

    /// Brings the controller in line with the plan at `now`: integrates the active time of every interval
    /// in effect (for USAGE), retires ended ones (and queues their reports), releases deleted or changed
    /// ones, and starts those whose time has come.
    mutating func tick(drawing: Double, energy: Double?) -> [Action] {
        var actions: [Action] = []
        var finished: [Applied] = []
        for (id, var a) in applied.sorted(by: { $0.key < $1.key }) {
            a.activeSeconds += (mono - a.lastSample).seconds * drawing
            a.lastSample = mono
            applied[id] = a
            if a.planned.end <= now {
                applied[id] = nil
                finished.append(a)
            } else if plan[id] != a.planned {
                // Deleted, or changed under us: lift it now (a changed one is sent again below).
                applied[id] = nil
                actions.append(.send(line: JSONLine.encode(["type": "release", "id": id]), intervalID: nil))
                counters.releasesSent += 1
            }
        }
        let due = plan.values.filter { $0.start <= now && now < $0.end }.sorted {
            ($0.start, $0.id) < ($1.start, $1.id)
        }
        for p in due {
            switch p.action {
            case .curtail(let level):
                guard applied[p.id] == nil else { continue }
                var fields: [String: Any] = [
                    "type": "curtail", "level": level, "id": p.id, "reason": "OpenADR \(p.reason)",
                ]
                if p.end < Date.distantFuture { fields["until"] = ISO8601.format(p.end) }
                actions.append(.send(line: JSONLine.encode(fields), intervalID: p.id))
                applied[p.id] = Applied(planned: p, lastSample: mono, activeSeconds: 0, energyAtStart: energy)
                counters.curtailsSent += 1
            case .price(let usd):
                guard !pricesSent.contains(p.id) else { continue }
                pricesSent.insert(p.id)
                let line = JSONLine.encode([
                    "type": "price", "usd_per_mwh": usd, "interval_start": ISO8601.format(p.start),
                    "interval_minutes": p.end.timeIntervalSince(p.start) / 60,
                ])
                actions.append(.send(line: line, intervalID: nil))
                counters.pricesSent += 1
            }
        }
        if !finished.isEmpty { actions += queueReports(finished, energyAtEnd: energy) }
        return actions
    }

    /// How long the schedule task sleeps: to the next start or end, at most 250 ms (so a wall-clock step
    /// is noticed soon), at least 1 ms.
    package func scheduleWait(now: Date) -> Duration {
        let next = (plan.values.map(\.start) + applied.values.map(\.planned.end)).filter { $0 > now }.min()
        let wait = min(0.25, max(0.001, (next?.timeIntervalSince(now) ?? 1)))
        return .milliseconds(Int64(wait * 1000) + 1)
    }

    /// The interval's `USAGE` in kWh: measured (the energy counter's difference) when the counter was read
    /// at both ends, else the model's watts over the active time, else none.
    func usageKWh(_ a: Applied, energyAtEnd: Double?) -> Double? {
        if let e0 = a.energyAtStart, let e1 = energyAtEnd, e1 >= e0 { return (e1 - e0) / 3_600_000 }
        return configuration.powerWatts.map { $0 * a.activeSeconds / 3_600_000 }
    }

    mutating func queueReports(_ finished: [Applied], energyAtEnd: Double?) -> [Action] {
        for a in finished where !stored.reported.contains(a.planned.id) {
            let p = a.planned
            pendingReports.append(
                IntervalReport(
                    programID: stored.programID ?? p.programID, eventID: p.eventID,
                    clientName: configuration.clientName, reportName: "flexminer-\(p.id)",
                    resourceName: configuration.resourceName ?? configuration.clientName,
                    intervalID: p.intervalID, start: p.start, durationSeconds: p.end.timeIntervalSince(p.start),
                    usageKWh: usageKWh(a, energyAtEnd: energyAtEnd), responseLatencyMS: a.latencyMS))
            stored.reported.append(p.id)
            if stored.reported.count > 1000 { stored.reported.removeFirst(stored.reported.count - 1000) }
            if pendingReports.count > Self.maxPendingReports { pendingReports.removeFirst() }
        }
        return [.save, .wakeReports]
    }
}
