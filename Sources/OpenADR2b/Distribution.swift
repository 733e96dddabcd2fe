import FlexSupport
import Foundation

/// `oadrDistributeEvent`: every event the VTN has for this VEN (an event missing from a later
/// distribution has been cancelled).
package struct Distribution: Sendable, Hashable {
    /// Echoed in `oadrCreatedEvent` as sent (some VTNs send a literal "None").
    package var requestID: String
    package var vtnID: String
    package var events: [DistributedEvent]

    package init(requestID: String, vtnID: String, events: [DistributedEvent]) {
        self.requestID = requestID
        self.vtnID = vtnID
        self.events = events
    }
}

/// One `oadrEvent`. `eventStatus` is kept for the log only: some VTNs leave it `far` for the whole event, so
/// whether it is active or over comes from the times (`cancelled` is the one status obeyed).
package struct DistributedEvent: Sendable, Hashable, Codable {
    package var eventID: String
    package var modificationNumber: Int
    package var marketContext: String
    package var status: String
    /// `testEvent` other than absent or `false` (2.0b lets it carry a description).
    package var testEvent: Bool
    /// `eiActivePeriod`'s `dtstart`.
    package var start: Date
    /// `eiActivePeriod`'s duration; 0 means "until cancelled" (the intervals then say how long).
    package var durationSeconds: Double
    /// `tolerance/tolerate/startafter`: each VEN starts within this window after `start`.
    package var startAfterSeconds: Double
    /// `x-eiRampUp` and `x-eiRecovery` (informational: a miner stops and starts within milliseconds).
    package var rampUpSeconds: Double?
    package var recoverySeconds: Double?
    package var signals: [EventSignal]
    /// `oadrResponseRequired` is `always` (else `never`).
    package var responseRequired: Bool

    package var cancelled: Bool { status.lowercased() == "cancelled" }
}

/// One `eiEventSignal`.
package struct EventSignal: Sendable, Hashable, Codable {
    package var name: String
    package var type: String
    package var id: String
    /// The signal's item base (`oadr:currencyPerKWh`, `power:realPower`, …), when it has one.
    package var item: ItemBase?
    package var intervals: [SignalInterval]
}

/// What a signal's values are in: the item element's local name, its units and its SI scale code.
package struct ItemBase: Sendable, Hashable, Codable {
    package var kind: String
    package var units: String
    package var scale: String

    /// The factor of `siScaleCode` (`k` 1e3, `M` 1e6, `none` 1, …); nil for a code 2.0b does not define.
    package var multiplier: Double? {
        let codes: [String: Double] = [
            "p": 1e-12, "n": 1e-9, "micro": 1e-6, "m": 1e-3, "c": 1e-2, "d": 1e-1, "none": 1, "k": 1e3, "M": 1e6,
            "G": 1e9, "T": 1e12,
        ]
        return codes[scale.isEmpty ? "none" : scale]
    }
}

/// One interval of a signal: its own duration, in order after the previous one.
package struct SignalInterval: Sendable, Hashable, Codable {
    /// `xcal:uid` (the interval's position when the VTN sends none).
    package var uid: String
    package var durationSeconds: Double
    package var value: Double
}

extension Distribution {
    static func parse(_ f: FieldReader) throws(OpenADR2bError) -> Distribution {
        let all = f.element.children(oadrNS, "oadrEvent")
        guard all.count <= VTNMessage.maximumItems else {
            throw f.error("oadrEvent", "\(all.count) events (at most \(VTNMessage.maximumItems))")
        }
        var events: [DistributedEvent] = []
        for (i, e) in all.enumerated() {
            events.append(try DistributedEvent.parse(FieldReader(e, path: "\(f.path).oadrEvent[\(i)]")))
        }
        return Distribution(
            requestID: try f.optionalText([(pyldNS, "requestID")], field: "requestID") ?? "",
            vtnID: try f.optionalText([(eiNS, "vtnID")], field: "vtnID") ?? "", events: events)
    }
}

extension DistributedEvent {
    static func parse(_ f: FieldReader) throws(OpenADR2bError) -> DistributedEvent {
        guard let ei = f.child([(eiNS, "eiEvent")], name: "eiEvent") else { throw f.error("eiEvent", "missing") }
        let d = [(eiNS, "eventDescriptor")]
        let p = [(eiNS, "eiActivePeriod"), (xcalNS, "properties")]
        guard
            let start = try ei.date(p + [(xcalNS, "dtstart"), (xcalNS, "date-time")], field: "eiActivePeriod.dtstart")
        else { throw ei.error("eiActivePeriod.dtstart", "missing") }
        let test = try ei.optionalText(d + [(eiNS, "testEvent")], field: "testEvent") ?? ""
        let required = try f.optionalText([(oadrNS, "oadrResponseRequired")], field: "oadrResponseRequired")
        let signalElements = ei.element.child(eiNS, "eiEventSignals")?.children(eiNS, "eiEventSignal") ?? []
        guard signalElements.count <= 100 else {
            throw ei.error("eiEventSignals", "\(signalElements.count) signals (at most 100)")
        }
        var signals: [EventSignal] = []
        for (i, s) in signalElements.enumerated() {
            signals.append(try EventSignal.parse(FieldReader(s, path: "\(ei.path).eiEventSignal[\(i)]")))
        }
        return DistributedEvent(
            eventID: try ei.text(d + [(eiNS, "eventID")], field: "eventID"),
            modificationNumber: try ei.integer(
                d + [(eiNS, "modificationNumber")], field: "modificationNumber", in: 0...Int(Int32.max)) ?? 0,
            marketContext: try ei.optionalText(
                d + [(eiNS, "eiMarketContext"), (emixNS, "marketContext")], field: "marketContext") ?? "",
            status: try ei.optionalText(d + [(eiNS, "eventStatus")], field: "eventStatus") ?? "",
            testEvent: !(test.isEmpty || test.lowercased() == "false"),
            start: start,
            durationSeconds: try ei.duration(p + [(xcalNS, "duration"), (xcalNS, "duration")], field: "duration") ?? 0,
            startAfterSeconds: try ei.duration(
                p + [(xcalNS, "tolerance"), (xcalNS, "tolerate"), (xcalNS, "startafter")], field: "startafter") ?? 0,
            rampUpSeconds: try ei.duration(p + [(eiNS, "x-eiRampUp"), (xcalNS, "duration")], field: "x-eiRampUp"),
            recoverySeconds: try ei.duration(
                p + [(eiNS, "x-eiRecovery"), (xcalNS, "duration")], field: "x-eiRecovery"),
            signals: signals, responseRequired: (required ?? "always").lowercased() != "never")
    }
}

extension EventSignal {
    static func parse(_ f: FieldReader) throws(OpenADR2bError) -> EventSignal {
        let elements = f.element.child(strmNS, "intervals")?.children(eiNS, "interval") ?? []
        guard elements.count <= VTNMessage.maximumItems else {
            throw f.error("intervals", "\(elements.count) intervals (at most \(VTNMessage.maximumItems))")
        }
        var intervals: [SignalInterval] = []
        for (i, e) in elements.enumerated() {
            let r = FieldReader(e, path: "\(f.path).interval[\(i)]")
            guard let seconds = try r.duration([(xcalNS, "duration"), (xcalNS, "duration")], field: "duration") else {
                throw r.error("duration", "missing")
            }
            guard
                let value = try r.number(
                    [(eiNS, "signalPayload"), (eiNS, "payloadFloat"), (eiNS, "value")], field: "signalPayload")
            else { throw r.error("signalPayload", "missing (a payloadFloat value)") }
            let uid = try r.optionalText([(xcalNS, "uid"), (xcalNS, "text")], field: "uid")
            intervals.append(
                SignalInterval(
                    uid: uid.flatMap { $0.isEmpty ? nil : $0 } ?? String(i), durationSeconds: seconds, value: value))
        }
        // The item base: the one child that has an `itemUnits` (its namespace varies by kind).
        let item = f.element.children.first { c in c.children.contains { $0.name == "itemUnits" } }.map { e in
            ItemBase(
                kind: e.name,
                units: String((e.children.first { $0.name == "itemUnits" }?.trimmedText ?? "").prefix(40)),
                scale: String((e.children.first { $0.name == "siScaleCode" }?.trimmedText ?? "").prefix(10)))
        }
        return EventSignal(
            name: try f.text([(eiNS, "signalName")], field: "signalName"),
            type: try f.optionalText([(eiNS, "signalType")], field: "signalType") ?? "",
            id: try f.optionalText([(eiNS, "signalID")], field: "signalID") ?? "", item: item, intervals: intervals)
    }
}
