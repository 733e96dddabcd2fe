import FlexSupport
import Foundation
import OpenADR

/// What one event interval asks of the load, placed in time: a pure function of the events and the
/// settings (no clock, no network), so it is tested on its own.
package struct PlannedInterval: Sendable, Hashable {
    package enum Action: Sendable, Hashable {
        /// Shed this fraction of capacity (SIMPLE through the level map, IMPORT_CAPACITY_LIMIT).
        case curtail(level: Double)
        /// The price for the interval (PRICE, converted to USD/MWh).
        case price(usdPerMWh: Double)
    }

    /// `openadr:<eventID>:<intervalID>`: the curtailment's id in the controller and the decision log.
    package let id: String
    package let programID: String
    package let eventID: String
    package let intervalID: Int
    package let start: Date
    package let end: Date
    package let action: Action
    /// Why, for the decision log (`SIMPLE 3`, `IMPORT_CAPACITY_LIMIT 2 KW`).
    package let reason: String
}

/// Turns OpenADR events into planned intervals.
package struct OpenADRPlanner: Sendable {
    /// SIMPLE level → curtailment level (0: none). Default 0→0, 1→0.5, 2→1, 3→1.
    package var simpleLevels: [Int: Double]
    /// The load's draw, for IMPORT_CAPACITY_LIMIT (a limit in kW becomes 1 − limit / power).
    package var powerWatts: Double?
    /// Seeds each event's draw within its `randomizeStart` (the VEN's name: stable across restarts).
    package var venName: String

    package static let defaultSimpleLevels: [Int: Double] = [0: 0, 1: 0.5, 2: 1, 3: 1]

    package init(simpleLevels: [Int: Double] = defaultSimpleLevels, powerWatts: Double? = nil, venName: String = "") {
        self.simpleLevels = simpleLevels
        self.powerWatts = powerWatts
        self.venName = venName
    }

    /// The planned intervals of `events`, and notes on what was ignored (each a stable text, so the
    /// caller can log each once).
    package func plan(_ events: [Event]) -> (intervals: [PlannedInterval], ignored: [String]) {
        var out: [PlannedInterval] = []
        var ignored: [String] = []
        for event in events {
            let (timed, problems) = event.schedule(offset: offset(for: event))
            ignored += problems
            for t in timed where t.end > t.start {
                var level: Double? = nil
                var reasons: [String] = []
                for p in t.payloads {
                    switch p.type {
                    case "SIMPLE":
                        // A VTN's value: 1e300 is whole too, so the conversion itself is range-checked.
                        guard let v = p.numbers.first.flatMap({ JSONScalar.integer(exactly: $0, in: 0...1_000) }),
                            let l = simpleLevels[v]
                        else {
                            ignored.append(
                                "event \(event.id): SIMPLE value \(p.numbers.first.map { "\($0)" } ?? "missing") is not in the level map"
                            )
                            continue
                        }
                        level = max(level ?? 0, l)
                        reasons.append("SIMPLE \(v)")
                    case "PRICE":
                        guard let v = p.numbers.first else {
                            ignored.append("event \(event.id): PRICE without a value")
                            continue
                        }
                        let d = event.descriptor(for: "PRICE")
                        let units = (d?.units ?? "KWH").uppercased()
                        let perMWh: Double
                        switch units {
                        case "KWH": perMWh = v * 1000
                        case "MWH": perMWh = v
                        default:
                            ignored.append("event \(event.id): PRICE in units \(units) (expected KWH or MWH)")
                            continue
                        }
                        out.append(
                            PlannedInterval(
                                id: "openadr:\(event.id):\(t.id):price", programID: event.programID, eventID: event.id,
                                intervalID: t.id, start: t.start, end: t.end, action: .price(usdPerMWh: perMWh),
                                reason: "PRICE \(v) \(d?.currency ?? "USD")/\(units)"))
                    case "IMPORT_CAPACITY_LIMIT":
                        guard let v = p.numbers.first, v >= 0 else {
                            ignored.append("event \(event.id): IMPORT_CAPACITY_LIMIT without a value ≥ 0")
                            continue
                        }
                        guard let watts = powerWatts, watts > 0 else {
                            ignored.append("IMPORT_CAPACITY_LIMIT needs --power-watts")
                            continue
                        }
                        let units = (event.descriptor(for: "IMPORT_CAPACITY_LIMIT")?.units ?? "KW").uppercased()
                        let scale: Double
                        switch units {
                        case "KW": scale = 1000
                        case "W": scale = 1
                        case "MW": scale = 1_000_000
                        default:
                            ignored.append("event \(event.id): IMPORT_CAPACITY_LIMIT in units \(units) (expected KW)")
                            continue
                        }
                        let l = min(1, max(0, 1 - v * scale / watts))
                        level = max(level ?? 0, l)
                        reasons.append("IMPORT_CAPACITY_LIMIT \(v) \(units)")
                    default:
                        ignored.append("payload type \(p.type.prefix(40)) is not used (ignored)")
                    }
                }
                if let level, level > 0 {
                    out.append(
                        PlannedInterval(
                            id: "openadr:\(event.id):\(t.id)", programID: event.programID, eventID: event.id,
                            intervalID: t.id, start: t.start, end: t.end, action: .curtail(level: level),
                            reason: reasons.joined(separator: ", ")))
                }
            }
        }
        return (out, ignored)
    }

    /// This VEN's start offset for `event`: a fraction of `randomizeStart` drawn from a hash of the VEN's
    /// name and the event id, so a fleet spreads out and a restart keeps the same draw.
    package func offset(for event: Event) -> Double {
        guard let r = event.intervalPeriod?.randomizeStart, r > 0, r.isFinite else { return 0 }
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in (venName + "\u{0}" + event.id).utf8 {
            h ^= UInt64(b)
            h &*= 0x0000_0100_0000_01b3
        }
        return r * Double(h >> 11) / Double(1 << 53)
    }
}
