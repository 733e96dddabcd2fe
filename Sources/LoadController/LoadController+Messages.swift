import DemandResponse
import FlexSupport
import Foundation

// How the controller reads and writes messages: a message's fields for the decision log, JSON replies,
// parsing with the origin's token, and a curtailment scoped to its connection. Pure functions, apart
// from the controller's lock and state, so they live beside it.
extension LoadController {
    /// On a socket, an id-less curtailment gets its connection's name as id: a `release` without an id
    /// still lifts it only from that connection, and once the connection is gone (a `flexminer signal`
    /// call) the operator can lift it with `{"type":"release","id":"unix:/run/f.sock#3"}` — it would
    /// otherwise stay until its `until`, or for ever with a state file.
    /// Ids and reasons are cut to `Policy.maxTextBytes` here already, so the reply and the log show what
    /// is kept.
    static func scoped(_ message: SignalMessage, to origin: SignalOrigin) -> SignalMessage {
        let m = Policy.bounded(message)
        guard origin.connection != nil, case .curtail(let c) = m, c.id == nil else { return m }
        return .curtail(CurtailSignal(level: c.level, id: origin.name, until: c.until, reason: c.reason))
    }

    static func fields(of m: SignalMessage) -> [String: Any] {
        switch m {
        case .price(let p):
            var f: [String: Any] = ["usd_per_mwh": p.usdPerMWh]
            if let s = p.intervalStart { f["interval_start"] = ISO8601.format(s) }
            if let m = p.intervalMinutes { f["interval_minutes"] = m }
            return f
        case .curtail(let c):
            var f: [String: Any] = ["level": c.level]
            if let id = c.id { f["id"] = id }
            if let u = c.until { f["until"] = ISO8601.format(u) }
            if let r = c.reason { f["curtail_reason"] = r }
            return f
        case .release(let id): return id.map { ["id": $0] } ?? [:]
        case .systemLoad(let mw): return ["mw": mw]
        case .peakWatch(let w):
            var f: [String: Any] = ["level": w.level, "until": ISO8601.format(w.until)]
            if let id = w.id { f["id"] = id }
            if let r = w.reason { f["curtail_reason"] = r }
            return f
        case .heartbeat, .status: return [:]
        }
    }

    static func json(_ object: [String: Any]) -> String {
        JSONLine.encoded(object) ?? #"{"ok":false,"error":"internal: reply not encodable"}"#
    }

    static func parse(_ line: some Collection<UInt8>, origin: SignalOrigin, now: Date) throws(SignalError)
        -> SignalEnvelope
    {
        let envelope = try SignalMessage.parse(line, now: now)
        if let required = origin.requiredToken, !ConstantTime.equal(envelope.token, required) {
            throw SignalError("missing or wrong \"token\"")
        }
        return envelope
    }
}
extension SignalMessage {
    /// A message whose acknowledgement speaks of the curtailments (kept in the state file).
    var changesCurtailments: Bool {
        switch self {
        case .curtail, .release: return true
        default: return false
        }
    }
}
