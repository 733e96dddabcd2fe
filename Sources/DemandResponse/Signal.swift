import FlexSupport
import Foundation

/// One message of FlexMiner's signal protocol v1: newline-delimited JSON objects, one per line.
///
/// ```
/// {"type":"price","usd_per_mwh":42.5,"interval_start":"2024-06-01T14:00:00Z","interval_minutes":15}
/// {"type":"curtail","level":1.0,"id":"evt-7","until":"2024-06-01T15:00:00Z","reason":"ERCOT EEA"}
/// {"type":"release","id":"evt-7"}
/// {"type":"heartbeat"}
/// {"type":"status"}
/// {"type":"system_load","mw":71234.5}
/// {"type":"peak_watch","level":1.0,"id":"ercot-4cp","until":"2024-06-01T23:00:00Z","reason":"ERCOT 4CP peak watch"}
/// ```
/// Extra fields are ignored; `token` is read for sources that require one.
public enum SignalMessage: Sendable, Hashable {
    case price(PriceSignal)
    case curtail(CurtailSignal)
    case release(id: String?)
    case heartbeat
    case status
    /// The latest system (grid) load, MW: the peak rule compares it with the month-to-date peak.
    case systemLoad(mw: Double)
    /// A window inside which the peak rule may curtail (a schedule's `peak_watch` window).
    case peakWatch(PeakWatchSignal)

    public var type: String {
        switch self {
        case .price: "price"
        case .curtail: "curtail"
        case .release: "release"
        case .heartbeat: "heartbeat"
        case .status: "status"
        case .systemLoad: "system_load"
        case .peakWatch: "peak_watch"
        }
    }
}

/// A peak-watch window: until `until`, the peak rule curtails by `level` while the system load is near
/// the month's peak (see `Policy`).
public struct PeakWatchSignal: Sendable, Hashable {
    public let level: Double
    public let id: String?
    public let until: Date
    public let reason: String?

    public init(level: Double = 1, id: String? = nil, until: Date, reason: String? = nil) {
        self.level = level
        self.id = id
        self.until = until
        self.reason = reason
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
        do throws(InputError) {
            return try parse(fields: JSONFields(object), now: now)
        } catch {
            throw SignalError(error.message)
        }
    }

    /// Parses a message already read as JSON (an events file's line, with its own fields removed).
    /// - Throws: `InputError` naming the field.
    public static func parse(fields f: JSONFields, now: Date) throws(InputError) -> SignalEnvelope {
        let typeName = try f.requiredString("type")
        let token = try f.string("token")
        let message: SignalMessage
        switch typeName {
        case "price":
            let price = try f.requiredNumber("usd_per_mwh")
            let start = try f.date("interval_start")
            let minutes = try f.number("interval_minutes")
            if let m = minutes, m <= 0 {
                throw InputError("field \"interval_minutes\" must be positive, got \(m)")
            }
            message = .price(PriceSignal(usdPerMWh: price, intervalStart: start, intervalMinutes: minutes))
        case "curtail":
            let level = try f.requiredNumber("level")
            guard (0...1).contains(level) else {
                throw InputError("field \"level\" must be within [0, 1], got \(level)")
            }
            let until = try f.date("until")
            if let u = until, u <= now {
                throw InputError("field \"until\" is in the past (\(ISO8601.format(u)))")
            }
            message = .curtail(
                CurtailSignal(level: level, id: try f.string("id"), until: until, reason: try f.string("reason")))
        case "release": message = .release(id: try f.string("id"))
        case "system_load":
            // ERCOT's all-time peak is under 90,000 MW; 1e7 bounds any grid while refusing nonsense.
            message = .systemLoad(mw: try f.requiredNumber("mw", in: 0...1e7))
        case "peak_watch":
            let level = try f.number("level", in: 0...1) ?? 1
            guard let until = try f.date("until") else { throw InputError("missing field \"until\"") }
            guard until > now else { throw InputError("field \"until\" is in the past (\(ISO8601.format(until)))") }
            message = .peakWatch(
                PeakWatchSignal(level: level, id: try f.string("id"), until: until, reason: try f.string("reason")))
        case "heartbeat": message = .heartbeat
        case "status": message = .status
        default: throw InputError("unknown type \"\(typeName.prefix(40))\"")
        }
        return SignalEnvelope(message: message, token: token)
    }
}
