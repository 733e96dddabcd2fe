import FlexSupport
import Foundation

/// An OpenADR 3 program, as much of it as a VEN needs.
package struct Program: Sendable, Hashable {
    package let id: String
    package let name: String

    package init(id: String, name: String) {
        self.id = id
        self.name = name
    }

    /// Reads one program object; errors name `path` and the field.
    package init(fields f: JSONFields) throws(InputError) {
        id = try f.requiredString("id")
        name = try f.string("programName") ?? ""
    }
}

/// When something happens: `start` plus an ISO 8601 `duration`, optionally shifted by up to
/// `randomizeStart` so that a fleet does not switch all at once.
package struct IntervalPeriod: Sendable, Hashable {
    package var start: Date?
    /// Seconds; nil when absent. `P9999Y` (OpenADR's "indefinite") is `.infinity`.
    package var duration: Double?
    /// Seconds, ≥ 0.
    package var randomizeStart: Double?

    package init(start: Date?, duration: Double?, randomizeStart: Double? = nil) {
        self.start = start
        self.duration = duration
        self.randomizeStart = randomizeStart
    }

    /// Timestamps that carry no zone, or a space instead of `T`, are read as UTC (servers write both).
    package init(fields f: JSONFields) throws(InputError) {
        start = try f.date("start", noZone: .utc)
        duration = try Self.duration(f, "duration")
        randomizeStart = try Self.duration(f, "randomizeStart")
    }

    static func duration(_ f: JSONFields, _ key: String) throws(InputError) -> Double? {
        guard let text = try f.string(key) else { return nil }
        guard let seconds = ISODuration.seconds(text) else {
            throw InputError("field \"\(f.path)\(key)\" is not an ISO 8601 duration: \"\(text.prefix(40))\"")
        }
        return seconds
    }
}

/// One payload of an interval: a type (`SIMPLE`, `PRICE`, `IMPORT_CAPACITY_LIMIT`, …) and its values.
package struct Payload: Sendable, Hashable {
    package let type: String
    /// The numeric values in order; strings and booleans (allowed by the spec) are left out.
    package let numbers: [Double]

    package init(type: String, numbers: [Double]) {
        self.type = type
        self.numbers = numbers
    }

    /// Reads one payload object (`{"type": …, "values": […]}`); errors name the field.
    package init(fields f: JSONFields) throws(InputError) {
        type = try f.requiredString("type")
        let values = try f.array("values") ?? []
        numbers = values.compactMap { JSONScalar.number($0) }.filter(\.isFinite)
    }
}

/// The units of an event's payloads (`payloadDescriptors`).
package struct PayloadDescriptor: Sendable, Hashable {
    package let payloadType: String
    package let units: String?
    package let currency: String?

    package init(payloadType: String, units: String?, currency: String?) {
        self.payloadType = payloadType
        self.units = units
        self.currency = currency
    }

    /// Reads one `payloadDescriptors` entry; errors name the field.
    package init(fields f: JSONFields) throws(InputError) {
        payloadType = try f.requiredString("payloadType")
        units = try f.string("units")
        currency = try f.string("currency")
    }
}

/// One interval of an event.
package struct EventInterval: Sendable, Hashable {
    package let id: Int
    /// Its own period, when given; otherwise it follows the previous interval (see `Event.schedule`).
    package let intervalPeriod: IntervalPeriod?
    package let payloads: [Payload]

    package init(id: Int, intervalPeriod: IntervalPeriod? = nil, payloads: [Payload]) {
        self.id = id
        self.intervalPeriod = intervalPeriod
        self.payloads = payloads
    }

    /// Reads one interval object; errors name the field (`intervals[2].payloads[0].type`).
    package init(fields f: JSONFields) throws(InputError) {
        id = try f.requiredInteger("id", in: Int(Int32.min)...Int(Int32.max))
        intervalPeriod = try f.fields("intervalPeriod").map { p throws(InputError) in try IntervalPeriod(fields: p) }
        payloads = try Self.objects(f, "payloads").map { p throws(InputError) in try Payload(fields: p) }
    }

    /// The objects of an array field, each read with a path naming its index (`intervals[2].`).
    static func objects(_ f: JSONFields, _ key: String, limit: Int = 10_000) throws(InputError) -> [JSONFields] {
        let items = try f.array(key) ?? []
        guard items.count <= limit else {
            throw InputError("field \"\(f.path)\(key)\" has \(items.count) entries (at most \(limit) are read)")
        }
        var out: [JSONFields] = []
        for (i, item) in items.enumerated() {
            guard let o = item as? [String: Any] else {
                throw InputError("field \"\(f.path)\(key)[\(i)]\" must be an object")
            }
            out.append(JSONFields(o, path: "\(f.path)\(key)[\(i)]."))
        }
        return out
    }
}

/// An OpenADR 3 event.
package struct Event: Sendable, Hashable {
    package let id: String
    package let programID: String
    package let name: String?
    package let priority: Int?
    /// When the VTN last changed it (a modified event gets a new one), as the VTN wrote it.
    package let modificationDateTime: String?
    package let intervalPeriod: IntervalPeriod?
    package let payloadDescriptors: [PayloadDescriptor]
    package let intervals: [EventInterval]

    package init(
        id: String, programID: String, name: String? = nil, priority: Int? = nil, modificationDateTime: String? = nil,
        intervalPeriod: IntervalPeriod?, payloadDescriptors: [PayloadDescriptor] = [], intervals: [EventInterval]
    ) {
        self.id = id
        self.programID = programID
        self.name = name
        self.priority = priority
        self.modificationDateTime = modificationDateTime
        self.intervalPeriod = intervalPeriod
        self.payloadDescriptors = payloadDescriptors
        self.intervals = intervals
    }

    /// Reads one event object as VTNs write it; errors name the field.
    package init(fields f: JSONFields) throws(InputError) {
        id = try f.requiredString("id")
        programID = try f.requiredString("programID")
        name = try f.string("eventName")
        priority = try f.integer("priority", in: Int(Int32.min)...Int(Int32.max))
        modificationDateTime = try f.string("modificationDateTime")
        intervalPeriod = try f.fields("intervalPeriod").map { p throws(InputError) in try IntervalPeriod(fields: p) }
        payloadDescriptors = try EventInterval.objects(f, "payloadDescriptors").map { p throws(InputError) in
            try PayloadDescriptor(fields: p)
        }
        intervals = try EventInterval.objects(f, "intervals").map { i throws(InputError) in
            try EventInterval(fields: i)
        }
    }

    /// One interval placed in time.
    package struct TimedInterval: Sendable, Hashable {
        package let id: Int
        package let start: Date
        /// `.distantFuture` for an indefinite interval.
        package let end: Date
        package let payloads: [Payload]
    }

    /// The intervals placed in time. An interval without its own period inherits the event's duration
    /// and starts where the previous one ended (the first at the event's start); one with its own
    /// period uses its start (or follows on) and duration (or the event's). `offset` (the VEN's draw
    /// within `randomizeStart`) shifts every interval. Intervals that cannot be placed (no start
    /// anywhere, no duration) are left out and named in `problems`.
    package func schedule(offset: Double = 0) -> (intervals: [TimedInterval], problems: [String]) {
        var out: [TimedInterval] = []
        var problems: [String] = []
        var next = intervalPeriod?.start
        for interval in intervals {
            let own = interval.intervalPeriod
            guard let start = own?.start ?? next else {
                problems.append("event \(id) interval \(interval.id): no start (neither its own nor the event's)")
                continue
            }
            guard let duration = own?.duration ?? intervalPeriod?.duration, duration >= 0 else {
                problems.append("event \(id) interval \(interval.id): no duration (neither its own nor the event's)")
                continue
            }
            let end = duration.isFinite ? start.addingTimeInterval(duration) : Date.distantFuture
            out.append(
                TimedInterval(
                    id: interval.id, start: start.addingTimeInterval(offset),
                    end: duration.isFinite ? end.addingTimeInterval(offset) : end, payloads: interval.payloads))
            next = end
        }
        return (out, problems)
    }

    /// The descriptor for a payload type, if the event has one.
    package func descriptor(for type: String) -> PayloadDescriptor? {
        payloadDescriptors.first { $0.payloadType == type }
    }
}

/// ISO 8601 durations as OpenADR writes them: `PT15M`, `PT1H30M`, `P1D`, `PT0.5S`, `P1W`.
package enum ISODuration {
    /// Seconds, or nil when `text` is not a duration. Years and months count as 365 and 30 days;
    /// `P9999Y` (OpenADR's "indefinite") is `.infinity`.
    package static func seconds(_ text: String) -> Double? {
        var s = Substring(text.uppercased())
        var sign = 1.0
        if s.first == "-" {
            sign = -1
            s = s.dropFirst()
        } else if s.first == "+" {
            s = s.dropFirst()
        }
        guard s.first == "P", s.count > 1 else { return nil }
        s = s.dropFirst()
        if s == "9999Y" { return .infinity }
        var total = 0.0
        var inTime = false
        var number = ""
        var any = false
        for c in s {
            if c == "T" {
                guard !inTime, number.isEmpty else { return nil }
                inTime = true
            } else if c.isNumber || c == "." || c == "," {
                number.append(c == "," ? "." : c)
            } else {
                guard let n = Double(number), n.isFinite else { return nil }
                let unit: Double
                switch (c, inTime) {
                case ("Y", false): unit = 365 * 86_400
                case ("M", false): unit = 30 * 86_400
                case ("W", false): unit = 7 * 86_400
                case ("D", false): unit = 86_400
                case ("H", true): unit = 3600
                case ("M", true): unit = 60
                case ("S", true): unit = 1
                default: return nil
                }
                total += n * unit
                number = ""
                any = true
            }
        }
        guard any, number.isEmpty else { return nil }
        return sign * total
    }

    /// Whole seconds as `PT…S` (what FlexMiner writes in reports).
    /// Any Double is written (a VTN may send durations of any size): whole seconds below 1e15 as integers
    /// (an `Int` conversion beyond that would trap), larger or fractional ones with `%.3f`, which reads back
    /// to the same value; not finite as the spec's "infinite" `P9999Y` (NaN as zero).
    package static func format(seconds: Double) -> String {
        guard seconds.isFinite else { return seconds > 0 ? "P9999Y" : "PT0S" }
        let s = max(0, seconds)
        return s == s.rounded() && s < 1e15 ? "PT\(Int(s))S" : String(format: "PT%.3fS", s)
    }
}

extension Event {
    /// The event as an OpenADR 3 JSON object again (for the VEN's state file and the fake VTN): every
    /// field this model reads, written back in the spec's shape.
    package var object: [String: Any] {
        var o: [String: Any] = ["objectType": "EVENT", "id": id, "programID": programID]
        if let name { o["eventName"] = name }
        if let priority { o["priority"] = priority }
        if let modificationDateTime { o["modificationDateTime"] = modificationDateTime }
        if let p = intervalPeriod { o["intervalPeriod"] = p.object }
        if !payloadDescriptors.isEmpty {
            o["payloadDescriptors"] = payloadDescriptors.map { d -> [String: Any] in
                var x: [String: Any] = ["objectType": "EVENT_PAYLOAD_DESCRIPTOR", "payloadType": d.payloadType]
                if let u = d.units { x["units"] = u }
                if let c = d.currency { x["currency"] = c }
                return x
            }
        }
        o["intervals"] = intervals.map { i -> [String: Any] in
            var x: [String: Any] = [
                "id": i.id, "payloads": i.payloads.map { ["type": $0.type, "values": $0.numbers] as [String: Any] },
            ]
            if let p = i.intervalPeriod { x["intervalPeriod"] = p.object }
            return x
        }
        return o
    }
}

extension IntervalPeriod {
    /// The period as OpenADR writes it (`start` in UTC, durations as `PT…S`).
    package var object: [String: Any] {
        var o: [String: Any] = [:]
        if let start { o["start"] = ISO8601.format(start) }
        if let d = duration { o["duration"] = d.isFinite ? ISODuration.format(seconds: d) : "P9999Y" }
        if let r = randomizeStart { o["randomizeStart"] = ISODuration.format(seconds: r) }
        return o
    }
}
