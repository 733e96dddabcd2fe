import FlexSupport
import Foundation

/// One line of a telemetry log (`run --telemetry`), as the report uses it: one power source's sample on
/// one host. The shared format (docs/report.md) is
/// `{"time":"…Z","mono_s":…,"host":"…","source":"rapl|sunspec|model","modelled":false,"watts":412.5,…}`;
/// fields the report does not use (`energy_j`, `state`, `curtailments`, and any added later) are skipped.
public struct TelemetrySample: Sendable, Hashable {
    /// Wall clock, seconds since 1970 (UTC).
    public var time: Double
    /// Monotonic seconds of the writing process (differences are durations within one run).
    public var mono: Double?
    public var host: String
    public var source: String
    public var modelled: Bool
    /// The sample's mean power, W; nil when the sample failed (its `error` says why).
    public var watts: Double?
    /// Effective capacity at the sample (0 when halted).
    public var capacity: Double?

    public init(
        time: Double, mono: Double? = nil, host: String, source: String, modelled: Bool? = nil, watts: Double?,
        capacity: Double? = nil
    ) {
        self.time = time
        self.mono = mono
        self.host = host
        self.source = source
        self.modelled = modelled ?? (source == "model")
        self.watts = watts
        self.capacity = capacity
    }
}

/// Reads one telemetry line without Foundation's JSON parser: a day of 1 s samples for ten hosts is
/// 864,000 lines, and a general parser building a dictionary per line would take most of the report's
/// time budget. The scanner walks the object once, keeps the fields it knows, and skips the rest
/// (nested values included). Anything that is not a JSON object of the expected shape is an error that
/// names the field.
public enum TelemetryLine {
    /// Longest line read (a line of the shared format is about 200 bytes).
    public static let maxLineBytes = 64 << 10
    /// Largest power accepted, W (1 GW: beyond any host or fleet meter; a larger value is a unit error).
    public static let maxWatts = 1e9

    /// Parses one line (without its newline).
    /// - Throws: `InputError` naming the field that is missing, of the wrong type or out of range.
    public static func parse(_ line: UnsafeBufferPointer<UInt8>) throws(InputError) -> TelemetrySample {
        var s = Scanner(u: line)
        var time: Double?
        var mono: Double?
        var host: String?
        var source: String?
        var modelled: Bool?
        var watts: Double?
        var wattsSeen = false
        var capacity: Double?
        s.skipSpace()
        guard s.take(UInt8(ascii: "{")) else { throw InputError("not a JSON object") }
        s.skipSpace()
        if !s.take(UInt8(ascii: "}")) {
            while true {
                s.skipSpace()
                guard let key = s.keyName() else { throw InputError("malformed JSON (expected a key)") }
                s.skipSpace()
                guard s.take(UInt8(ascii: ":")) else { throw InputError("malformed JSON (expected ':')") }
                s.skipSpace()
                switch key {
                case .time:
                    guard let r = s.plainString() else { throw InputError("field \"time\" must be a string") }
                    guard let t = ISO8601.parseSeconds(bytes: UnsafeBufferPointer(rebasing: line[r]), noZone: .refuse)
                    else { throw InputError("field \"time\" is not an ISO 8601 date-time with a zone") }
                    time = t
                case .mono:
                    if s.null() { break }
                    guard let v = s.number() else { throw InputError("field \"mono_s\" must be a number") }
                    mono = v
                case .host:
                    guard let v = s.string() else { throw InputError("field \"host\" must be a string") }
                    host = v
                case .source:
                    guard let v = s.string() else { throw InputError("field \"source\" must be a string") }
                    source = v
                case .modelled:
                    guard let b = s.boolean() else { throw InputError("field \"modelled\" must be true or false") }
                    modelled = b
                case .watts:
                    wattsSeen = true
                    if s.null() { break }
                    guard let v = s.number() else { throw InputError("field \"watts\" must be a number or null") }
                    guard v >= 0 && v <= maxWatts else {
                        throw InputError("field \"watts\" must be within [0, 1e9], got \(v)")
                    }
                    watts = v
                case .capacity:
                    if s.null() { break }
                    guard let v = s.number() else { throw InputError("field \"capacity\" must be a number") }
                    guard v >= 0 && v <= 1 else { throw InputError("field \"capacity\" must be within [0, 1]") }
                    capacity = v
                case .other:
                    guard s.skipValue(depth: 0) else { throw InputError("malformed JSON") }
                }
                s.skipSpace()
                if s.take(UInt8(ascii: ",")) { continue }
                if s.take(UInt8(ascii: "}")) { break }
                throw InputError("malformed JSON (expected ',' or '}')")
            }
        }
        s.skipSpace()
        guard s.atEnd else { throw InputError("malformed JSON (text after the object)") }
        guard let time else { throw InputError("missing field \"time\"") }
        guard let host, !host.isEmpty else { throw InputError("missing field \"host\"") }
        guard let source, !source.isEmpty else { throw InputError("missing field \"source\"") }
        guard wattsSeen else { throw InputError("missing field \"watts\"") }
        if let mono, !(mono >= 0 && mono < 1e12) { throw InputError("field \"mono_s\" must be within [0, 1e12]") }
        return TelemetrySample(
            time: time, mono: mono, host: host, source: source, modelled: modelled, watts: watts, capacity: capacity)
    }

    /// Parses one line given as a string (tests, small inputs).
    public static func parse(_ line: String) throws(InputError) -> TelemetrySample {
        var copy = line
        var result: Result<TelemetrySample, InputError> = .failure(InputError("empty"))
        copy.withUTF8 { u in result = Result { () throws(InputError) in try parse(u) } }
        return try result.get()
    }

    enum Key { case time, mono, host, source, modelled, watts, capacity, other }

    struct Scanner {
        let u: UnsafeBufferPointer<UInt8>
        var i = 0

        var atEnd: Bool { i >= u.count }

        mutating func skipSpace() {
            while i < u.count, u[i] == 0x20 || u[i] == 0x09 || u[i] == 0x0D || u[i] == 0x0A { i += 1 }
        }

        mutating func take(_ c: UInt8) -> Bool {
            guard i < u.count, u[i] == c else { return false }
            i += 1
            return true
        }

        /// A key, recognised without building a string (a key with escapes is "other").
        mutating func keyName() -> Key? {
            guard let r = plainString() else {
                return string() != nil ? .other : nil
            }
            func equals(_ s: StaticString) -> Bool {
                guard r.count == s.utf8CodeUnitCount else { return false }
                let p = s.utf8Start
                for k in 0..<r.count where u[r.lowerBound + k] != p[k] { return false }
                return true
            }
            if equals("time") { return .time }
            if equals("mono_s") { return .mono }
            if equals("host") { return .host }
            if equals("source") { return .source }
            if equals("modelled") { return .modelled }
            if equals("watts") { return .watts }
            if equals("capacity") { return .capacity }
            return .other
        }

        /// A string without escapes: the range of its bytes. Leaves the position unchanged when the
        /// string has escapes (then `string()` reads it) or is not a string.
        mutating func plainString() -> Range<Int>? {
            guard i < u.count, u[i] == 0x22 else { return nil }
            var j = i + 1
            while j < u.count {
                let c = u[j]
                if c == 0x22 {
                    let r = (i + 1)..<j
                    i = j + 1
                    return r
                }
                if c == 0x5C || c < 0x20 { return nil }
                j += 1
            }
            return nil
        }

        /// A string, escapes decoded.
        mutating func string() -> String? {
            if let r = plainString() { return String(decoding: UnsafeBufferPointer(rebasing: u[r]), as: UTF8.self) }
            guard i < u.count, u[i] == 0x22 else { return nil }
            var j = i + 1
            var bytes: [UInt8] = []
            while j < u.count {
                let c = u[j]
                if c == 0x22 {
                    i = j + 1
                    return String(decoding: bytes, as: UTF8.self)
                }
                if c < 0x20 { return nil }
                if c != 0x5C {
                    bytes.append(c)
                    j += 1
                    continue
                }
                guard j + 1 < u.count else { return nil }
                let e = u[j + 1]
                j += 2
                switch e {
                case 0x22, 0x5C, 0x2F: bytes.append(e)
                case UInt8(ascii: "b"): bytes.append(0x08)
                case UInt8(ascii: "f"): bytes.append(0x0C)
                case UInt8(ascii: "n"): bytes.append(0x0A)
                case UInt8(ascii: "r"): bytes.append(0x0D)
                case UInt8(ascii: "t"): bytes.append(0x09)
                case UInt8(ascii: "u"):
                    guard j + 4 <= u.count,
                        let v = UInt32(
                            String(decoding: UnsafeBufferPointer(rebasing: u[j..<(j + 4)]), as: UTF8.self), radix: 16)
                    else { return nil }
                    j += 4
                    // A lone surrogate becomes U+FFFD (ids are shown, not compared byte for byte).
                    let scalar = Unicode.Scalar(v) ?? "\u{FFFD}"
                    bytes.append(contentsOf: Array(String(Character(scalar)).utf8))
                default: return nil
                }
            }
            return nil
        }

        mutating func null() -> Bool { literal("null") }

        mutating func boolean() -> Bool? {
            if literal("true") { return true }
            if literal("false") { return false }
            return nil
        }

        mutating func literal(_ s: StaticString) -> Bool {
            let n = s.utf8CodeUnitCount
            guard i + n <= u.count else { return false }
            let p = s.utf8Start
            for k in 0..<n where u[i + k] != p[k] { return false }
            i += n
            return true
        }

        /// A JSON number (grammar checked here; converted by `strtod` from a bounded stack copy, no
        /// allocation).
        mutating func number() -> Double? {
            let start = i
            var j = i
            if j < u.count, u[j] == 0x2D { j += 1 }
            let intStart = j
            while j < u.count, u[j] >= 0x30 && u[j] <= 0x39 { j += 1 }
            guard j > intStart else { return nil }
            if j < u.count, u[j] == 0x2E {
                j += 1
                let f = j
                while j < u.count, u[j] >= 0x30 && u[j] <= 0x39 { j += 1 }
                guard j > f else { return nil }
            }
            if j < u.count, u[j] == 0x65 || u[j] == 0x45 {
                j += 1
                if j < u.count, u[j] == 0x2B || u[j] == 0x2D { j += 1 }
                let e = j
                while j < u.count, u[j] >= 0x30 && u[j] <= 0x39 { j += 1 }
                guard j > e else { return nil }
            }
            let n = j - start
            guard n < 64 else { return nil }
            let value = withUnsafeTemporaryAllocation(of: CChar.self, capacity: 64) { buffer -> Double in
                for k in 0..<n { buffer[k] = CChar(bitPattern: u[start + k]) }
                buffer[n] = 0
                return strtod(buffer.baseAddress!, nil)
            }
            guard value.isFinite else { return nil }
            i = j
            return value
        }

        /// Skips any JSON value (nesting bounded).
        mutating func skipValue(depth: Int) -> Bool {
            guard depth < 64, i < u.count else { return false }
            switch u[i] {
            case 0x22: return string() != nil
            case 0x7B, 0x5B:
                let close: UInt8 = u[i] == 0x7B ? 0x7D : 0x5D
                let isObject = u[i] == 0x7B
                i += 1
                skipSpace()
                if take(close) { return true }
                while true {
                    skipSpace()
                    if isObject {
                        guard string() != nil else { return false }
                        skipSpace()
                        guard take(0x3A) else { return false }
                        skipSpace()
                    }
                    guard skipValue(depth: depth + 1) else { return false }
                    skipSpace()
                    if take(0x2C) { continue }
                    return take(close)
                }
            case 0x74, 0x66: return boolean() != nil
            case 0x6E: return null()
            default: return number() != nil
            }
        }
    }
}
