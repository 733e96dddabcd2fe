import FlexSupport
import Foundation

/// The decision-log entries a report needs (docs/demand-response.md, "Decision log"): accepted
/// `curtail` and `release` signals, actions (halt, resume, capacity, start) and the `stop` of a run.
/// Other entries (prices, heartbeats, refused lines, blocks) are read past.
public struct DecisionEntry: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        /// An accepted `curtail`; `capacityBefore` is the capacity when it arrived.
        case curtail(source: String, id: String?, level: Double, until: Double?, capacityBefore: Double?)
        /// An accepted `release` (without an id it lifts what `source` set).
        case release(source: String, id: String?)
        /// A change the controller made (`action` = halt / resume / capacity / start).
        case action(Action)
        /// The run ended (every curtailment and halt of that run ends here).
        case stop
    }

    public struct Action: Sendable, Hashable {
        public var action: String
        public var capacityAfter: Double
        public var reason: String
        public var haltLatencyMS: Double?
        public var receiptToHaltedMS: Double?

        public init(
            action: String, capacityAfter: Double, reason: String, haltLatencyMS: Double? = nil,
            receiptToHaltedMS: Double? = nil
        ) {
            self.action = action
            self.capacityAfter = capacityAfter
            self.reason = reason
            self.haltLatencyMS = haltLatencyMS
            self.receiptToHaltedMS = receiptToHaltedMS
        }

        /// Whether the policy's final word was the price (`price above break-even`, or a hard price).
        var isPriceHalt: Bool {
            guard capacityAfter == 0 else { return false }
            // The limit that decided is the last part of the reason (Policy.step appends it last).
            let last = reason.split(separator: ";").last.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            return last.hasPrefix("price above break-even")
                || (reason.contains("hard price") && !last.hasPrefix("curtailment"))
        }
    }

    /// Seconds since 1970.
    public var time: Double
    /// Which input (index into the report's decision logs) and line it came from.
    public var file: Int
    public var line: Int
    public var kind: Kind

    public init(time: Double, file: Int = 0, line: Int = 0, kind: Kind) {
        self.time = time
        self.file = file
        self.line = line
        self.kind = kind
    }

    /// Reads one decision-log line.
    /// - Returns: nil for an entry the report does not use.
    /// - Throws: `InputError` naming the field when an entry it uses is malformed.
    public static func parse(_ line: some DataProtocol, file: Int = 0, lineNumber: Int = 0) throws(InputError)
        -> DecisionEntry?
    {
        let f = try JSONFields(json: line, what: "a decision-log entry")
        guard let event = try f.string("event") else { throw InputError("missing field \"event\"") }
        let kind: Kind
        switch event {
        case "signal":
            guard try f.bool("ok") == true else { return nil }
            let type = try f.string("type")
            let source = try f.string("source") ?? ""
            switch type {
            case "curtail":
                let level = try f.requiredNumber("level", in: 0...1)
                let until = try f.date("until", noZone: .utc)?.timeIntervalSince1970
                kind = .curtail(
                    source: source, id: try f.string("id"), level: level, until: until,
                    capacityBefore: try f.number("capacity_before", in: 0...1))
            case "release":
                kind = .release(source: source, id: try f.string("id"))
            default:
                return nil
            }
        case "action":
            let action = try f.requiredString("action")
            kind = .action(
                Action(
                    action: action, capacityAfter: try f.requiredNumber("capacity_after", in: 0...1),
                    reason: try f.string("reason") ?? "",
                    haltLatencyMS: try f.number("halt_latency_ms", in: 0...86_400_000),
                    receiptToHaltedMS: try f.number("receipt_to_halted_ms", in: 0...86_400_000)))
        case "stop":
            kind = .stop
        default:
            return nil
        }
        guard let time = try f.date("time", noZone: .utc) else { throw InputError("missing field \"time\"") }
        return DecisionEntry(time: time.timeIntervalSince1970, file: file, line: lineNumber, kind: kind)
    }
}

/// What the decision log says happened: one curtailment (by source and id) or one price-driven halt.
public struct LoggedEvent: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        case curtailment
        /// The price went above break-even and the workers halted.
        case price
    }

    public var kind: Kind
    /// The signal source (`unix:/run/f.sock`, `openadr`, …); "price" for a price halt.
    public var source: String
    /// The curtailment's id; a price halt's is `price@` and its start time.
    public var id: String
    /// The level asked for (1 = everything off); 1 for a price halt.
    public var level: Double
    /// When the signal was received (seconds since 1970).
    public var start: Double
    /// When the workers were at or below the level, and the controller's measured latency (ms): nil when
    /// no action followed (the miner was already at or below it).
    public var haltedAt: Double?
    public var haltLatencyMS: Double?
    /// When it ended; nil when the log ends with it still active.
    public var end: Double?
    /// `release`, `until`, `stop`, `resumed` (a price halt), or `open`.
    public var endReason: String
    /// Where it is in the input (decision log index, line).
    public var file: Int
    public var line: Int
    /// Things a reader of the report should know (a level raised mid-event, already curtailed, …).
    public var notes: [String] = []

    public init(
        kind: Kind, source: String, id: String, level: Double, start: Double, haltedAt: Double? = nil,
        haltLatencyMS: Double? = nil, end: Double?, endReason: String, file: Int = 0, line: Int = 0,
        notes: [String] = []
    ) {
        self.kind = kind
        self.source = source
        self.id = id
        self.level = level
        self.start = start
        self.haltedAt = haltedAt
        self.haltLatencyMS = haltLatencyMS
        self.end = end
        self.endReason = endReason
        self.file = file
        self.line = line
        self.notes = notes
    }

    /// The events in the order they started, from one host's entries (of all its decision logs). Pure.
    public static func extract(from entries: [DecisionEntry]) -> [LoggedEvent] {
        let sorted = entries.enumerated().sorted { a, b in
            a.element.time != b.element.time ? a.element.time < b.element.time : a.offset < b.offset
        }.map(\.element)
        var tracker = EventTracker()
        for entry in sorted { tracker.read(entry) }
        return tracker.finish().sorted { $0.start != $1.start ? $0.start < $1.start : $0.id < $1.id }
    }
}

/// The events of one host's log read entry by entry, in time order: the curtailments open (by source and
/// id, in the order they started), the price halt open, and those that have ended.
private struct EventTracker {
    var done: [LoggedEvent] = []
    var open: [String: LoggedEvent] = [:]
    var openOrder: [String] = []
    var price: LoggedEvent?
    var untilOf: [String: Double] = [:]

    mutating func read(_ entry: DecisionEntry) {
        expire(before: entry.time)
        switch entry.kind {
        case .curtail(let source, let id, let level, let until, let before):
            curtail(entry, source: source, id: id, level: level, before: before)
            untilOf["\(source)#\(id ?? "")"] = until
        case .release(let source, let id):
            for key in openOrder {
                guard let e = open[key] else { continue }
                let matches = id.map { e.id == $0 } ?? (e.source == source)
                if matches { close(key, at: entry.time, reason: "release") }
            }
        case .action(let a):
            action(entry, a)
        case .stop:
            for key in openOrder { close(key, at: entry.time, reason: "stop") }
            endPriceHalt(at: entry.time, reason: "stop")
        }
    }

    /// Still open when the log ends: an `until` ends it; otherwise the report decides (the data's end).
    mutating func finish() -> [LoggedEvent] {
        for key in openOrder {
            guard var e = open[key] else { continue }
            if let u = untilOf[key] {
                e.end = u
                e.endReason = "until"
            }
            done.append(e)
        }
        if let price { done.append(price) }
        return done
    }

    private mutating func close(_ key: String, at t: Double, reason: String) {
        guard var e = open.removeValue(forKey: key) else { return }
        openOrder.removeAll { $0 == key }
        e.end = t
        e.endReason = reason
        done.append(e)
    }

    private mutating func expire(before t: Double) {
        for key in openOrder {
            if let u = untilOf[key], u <= t { close(key, at: u, reason: "until") }
        }
    }

    /// A new curtailment, or a repeat of an open one (noted when it raises the level).
    private mutating func curtail(_ entry: DecisionEntry, source: String, id: String?, level: Double, before: Double?) {
        let key = "\(source)#\(id ?? "")"
        if var e = open[key] {
            if level > e.level {
                e.notes.append(
                    "level raised to \(Int((level * 100).rounded())) % at \(ISO8601.format(Date(timeIntervalSince1970: entry.time)))"
                )
                e.level = level
                e.haltedAt = nil
                e.haltLatencyMS = nil
            }
            open[key] = e
            return
        }
        var e = LoggedEvent(
            kind: .curtailment, source: source, id: id ?? "(no id)", level: level, start: entry.time,
            end: nil, endReason: "open", file: entry.file, line: entry.line)
        if let before, before <= 1 - level + 0.005 {
            e.notes.append("the miner was already at \(Int((before * 100).rounded())) % capacity when it arrived")
            e.haltedAt = entry.time
            e.haltLatencyMS = 0
        }
        open[key] = e
        openOrder.append(key)
    }

    /// An action: the curtailments it satisfies are halted; it ends a price halt or starts one.
    private mutating func action(_ entry: DecisionEntry, _ a: DecisionEntry.Action) {
        for key in openOrder {
            guard var e = open[key], e.haltedAt == nil, a.capacityAfter <= 1 - e.level + 0.005 else { continue }
            e.haltedAt = entry.time
            e.haltLatencyMS = a.receiptToHaltedMS ?? max(0, (entry.time - e.start) * 1000)
            open[key] = e
        }
        if price != nil, a.capacityAfter > 0 {
            endPriceHalt(at: entry.time, reason: "resumed")
        } else if price == nil, a.isPriceHalt {
            let latency = a.receiptToHaltedMS ?? a.haltLatencyMS ?? 0
            let start = entry.time - latency / 1000
            price = LoggedEvent(
                kind: .price, source: "price",
                id: "price@\(ISO8601.format(Date(timeIntervalSince1970: start)))",
                level: 1, start: start, haltedAt: entry.time, haltLatencyMS: latency, end: nil,
                endReason: "open", file: entry.file, line: entry.line)
        }
    }

    private mutating func endPriceHalt(at t: Double, reason: String) {
        guard var p = price else { return }
        p.end = t
        p.endReason = reason
        done.append(p)
        price = nil
    }
}
