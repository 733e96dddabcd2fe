import Foundation

/// One message of FlexMiner's signal protocol v1: newline-delimited JSON objects, one per line.
///
/// ```
/// {"type":"price","usd_per_mwh":42.5,"interval_start":"2024-06-01T14:00:00Z","interval_minutes":15}
/// {"type":"curtail","level":1.0,"id":"evt-7","until":"2024-06-01T15:00:00Z","reason":"ERCOT EEA"}
/// {"type":"release","id":"evt-7"}
/// {"type":"heartbeat"}
/// {"type":"status"}
/// ```
/// Extra fields are ignored; `token` is read for sources that require one.
public enum SignalMessage: Sendable, Hashable {
    case price(PriceSignal)
    case curtail(CurtailSignal)
    case release(id: String?)
    case heartbeat
    case status

    public var type: String {
        switch self {
        case .price: "price"
        case .curtail: "curtail"
        case .release: "release"
        case .heartbeat: "heartbeat"
        case .status: "status"
        }
    }
}

public struct PriceSignal: Sendable, Hashable {
    /// May be negative: markets clear below zero.
    public let usdPerMWh: Double
    public let intervalStart: Date?
    public let intervalMinutes: Double?

    public init(usdPerMWh: Double, intervalStart: Date? = nil, intervalMinutes: Double? = nil) {
        self.usdPerMWh = usdPerMWh
        self.intervalStart = intervalStart
        self.intervalMinutes = intervalMinutes
    }
}

public struct CurtailSignal: Sendable, Hashable {
    /// Fraction of capacity to shed: 1.0 halts every worker, 0.3 keeps 70 %.
    public let level: Double
    public let id: String?
    /// The curtailment lifts itself at this time.
    public let until: Date?
    public let reason: String?

    public init(level: Double, id: String? = nil, until: Date? = nil, reason: String? = nil) {
        self.level = level
        self.id = id
        self.until = until
        self.reason = reason
    }
}

/// Why a signal line was refused. `message` is what goes into the `{"ok":false,"error":…}` reply.
public struct SignalError: Error, Hashable, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A parsed line: the message and the token it carried, if any.
public struct SignalEnvelope: Sendable, Hashable {
    public let message: SignalMessage
    public let token: String?
}

extension SignalMessage {
    /// Longest accepted line (bytes, without the newline).
    public static let maximumLineLength = 64 * 1024

    /// Parses one protocol line.
    /// - Parameter now: for rejecting an `until` that is already past.
    /// - Throws: `SignalError` naming the field and what is wrong with it.
    public static func parse(_ line: some Collection<UInt8>, now: Date) throws(SignalError) -> SignalEnvelope {
        guard line.count <= maximumLineLength else {
            throw SignalError("line too long (\(line.count) bytes; the limit is \(maximumLineLength))")
        }
        guard let text = String(validating: line, as: UTF8.self) else { throw SignalError("line is not valid UTF-8") }
        let any: Any
        do { any = try JSONSerialization.jsonObject(with: Data(text.utf8)) } catch {
            // NaN, Infinity and out-of-range numbers are not JSON, but say what is wrong with them.
            if text.range(of: #"(?i)\bnan\b|infinity|[0-9.][eE][+]?[0-9]{3,}"#, options: .regularExpression) != nil {
                throw SignalError("numbers must be finite (NaN, Infinity and overflowing values are not allowed)")
            }
            throw SignalError("malformed JSON")
        }
        guard let object = any as? [String: Any] else { throw SignalError("a message must be a JSON object") }
        guard let type = object["type"] else { throw SignalError("missing field \"type\"") }
        guard let typeName = type as? String else { throw SignalError("field \"type\" must be a string") }
        let token = try optionalString(object, "token")
        let message: SignalMessage
        switch typeName {
        case "price":
            let price = try number(object, "usd_per_mwh", required: true)!
            let start = try date(object, "interval_start")
            let minutes = try number(object, "interval_minutes", required: false)
            if let m = minutes, m <= 0 { throw SignalError("field \"interval_minutes\" must be positive, got \(m)") }
            message = .price(PriceSignal(usdPerMWh: price, intervalStart: start, intervalMinutes: minutes))
        case "curtail":
            let level = try number(object, "level", required: true)!
            guard (0...1).contains(level) else {
                throw SignalError("field \"level\" must be within [0, 1], got \(level)")
            }
            let until = try date(object, "until")
            if let u = until, u <= now {
                throw SignalError("field \"until\" is in the past (\(ISO8601DateFormatter().string(from: u)))")
            }
            message = .curtail(
                CurtailSignal(
                    level: level, id: try optionalString(object, "id"), until: until,
                    reason: try optionalString(object, "reason")))
        case "release": message = .release(id: try optionalString(object, "id"))
        case "heartbeat": message = .heartbeat
        case "status": message = .status
        default: throw SignalError("unknown type \"\(typeName.prefix(40))\"")
        }
        return SignalEnvelope(message: message, token: token)
    }

    static func number(_ o: [String: Any], _ key: String, required: Bool) throws(SignalError) -> Double? {
        guard let v = o[key], !(v is NSNull) else {
            if required { throw SignalError("missing field \"\(key)\"") }
            return nil
        }
        guard let d = JSONScalar.number(v) else { throw SignalError("field \"\(key)\" must be a number") }
        guard d.isFinite else { throw SignalError("field \"\(key)\" must be a finite number") }
        return d
    }

    static func optionalString(_ o: [String: Any], _ key: String) throws(SignalError) -> String? {
        guard let v = o[key], !(v is NSNull) else { return nil }
        guard let s = v as? String else { throw SignalError("field \"\(key)\" must be a string") }
        return s
    }

    static func date(_ o: [String: Any], _ key: String) throws(SignalError) -> Date? {
        guard let s = try optionalString(o, key) else { return nil }
        guard let d = ISO8601.parse(s) else {
            throw SignalError("field \"\(key)\" is not an ISO 8601 date-time: \"\(s.prefix(40))\"")
        }
        return d
    }
}

/// ISO 8601 date-times as signal sources write them: with a zone (Z or ±hh:mm), optional fractional
/// seconds.
public enum ISO8601 {
    public static func parse(_ text: String) -> Date? {
        let plain = ISO8601DateFormatter()
        plain.formatOptions = [.withInternetDateTime]
        if let d = plain.date(from: text) { return d }
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return fractional.date(from: text)
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC). Written by hand: it runs for every decision-log entry, on the
    /// signal path, where building a date formatter per call would cost a large part of a millisecond.
    public static func format(_ date: Date) -> String {
        let t = date.timeIntervalSince1970
        var seconds = time_t(t.rounded(.down))
        var millis = Int(((t - Double(seconds)) * 1000).rounded(.down))
        if millis >= 1000 {
            seconds += 1
            millis -= 1000
        }
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ v: Int32, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: Swift.max(0, width - s.count)) + s
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(millis), 3))Z"
    }
}
