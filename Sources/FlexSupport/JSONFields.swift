import Foundation

/// Input from outside that cannot be used: a JSON field that is missing, of the wrong type or out of
/// range, an address that is not HOST:PORT. The message names the field (the caller adds the input's
/// name: the file, the flag). The foundation layer's one error type.
public struct InputError: Error, Hashable, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The one reader of JSON fields in FlexMiner (signals, policy files, the run configuration, block
/// templates, node replies): typed access by key, with errors that name the key, numbers range-checked
/// before any conversion, and JSON booleans never taken for numbers (or the other way round).
public struct JSONFields: @unchecked Sendable {
    // @unchecked: holds only values produced by JSONSerialization, never mutated.
    public let object: [String: Any]
    /// Prefix for field names in messages, e.g. "policy." for nested objects.
    public let path: String

    public init(_ object: [String: Any], path: String = "") {
        self.object = object
        self.path = path
    }

    /// Parses a JSON object.
    /// - Throws: `InputError` when `data` is not JSON or not an object.
    public init(json data: some DataProtocol, what: String = "input") throws(InputError) {
        let any: Any
        do { any = try JSONSerialization.jsonObject(with: Data(data), options: [.fragmentsAllowed]) } catch {
            throw InputError("malformed JSON")
        }
        guard let o = any as? [String: Any] else { throw InputError("\(what) must be a JSON object") }
        self.init(o)
    }

    /// The keys present.
    public var keys: Dictionary<String, Any>.Keys { object.keys }

    /// Whether the key is present with a value other than null.
    public func has(_ key: String) -> Bool { object[key].map { !($0 is NSNull) } ?? false }

    func name(_ key: String) -> String { "\"\(path)\(key)\"" }

    func value(_ key: String) -> Any? {
        guard let v = object[key], !(v is NSNull) else { return nil }
        return v
    }

    /// Refuses keys outside `allowed`, naming the first unknown one (sorted, for a stable message).
    public func onlyKeys(_ allowed: some Sequence<String>) throws(InputError) {
        let allowed = Set(allowed)
        if let unknown = object.keys.filter({ !allowed.contains($0) }).sorted().first {
            throw InputError("unknown key \(name(unknown))")
        }
    }

    public func string(_ key: String) throws(InputError) -> String? {
        guard let v = value(key) else { return nil }
        guard let s = v as? String else { throw InputError("field \(name(key)) must be a string") }
        return s
    }

    public func requiredString(_ key: String) throws(InputError) -> String {
        guard let s = try string(key) else { throw InputError("missing field \(name(key))") }
        return s
    }

    public func bool(_ key: String) throws(InputError) -> Bool? {
        guard let v = value(key) else { return nil }
        guard let b = JSONScalar.bool(v) else { throw InputError("field \(name(key)) must be true or false") }
        return b
    }

    /// A finite number, optionally within `range`.
    public func number(_ key: String, in range: ClosedRange<Double>? = nil) throws(InputError) -> Double? {
        guard let v = value(key) else { return nil }
        guard let d = JSONScalar.number(v) else { throw InputError("field \(name(key)) must be a number") }
        guard d.isFinite else { throw InputError("field \(name(key)) must be a finite number") }
        if let range, !range.contains(d) {
            throw InputError(
                "field \(name(key)) must be within [\(fmt(range.lowerBound)), \(fmt(range.upperBound))], got \(fmt(d))")
        }
        return d
    }

    public func requiredNumber(_ key: String, in range: ClosedRange<Double>? = nil) throws(InputError) -> Double {
        guard let d = try number(key, in: range) else { throw InputError("missing field \(name(key))") }
        return d
    }

    /// A whole number within `range`, checked before conversion (a 1e300 never reaches `Int(...)`).
    public func integer(_ key: String, in range: ClosedRange<Int>) throws(InputError) -> Int? {
        guard let v = value(key) else { return nil }
        guard let d = JSONScalar.number(v), d.isFinite, d == d.rounded() else {
            throw InputError("field \(name(key)) must be a whole number")
        }
        guard let i = JSONScalar.integer(exactly: d, in: range) else {
            throw InputError("field \(name(key)) must be \(range.lowerBound)...\(range.upperBound), got \(fmt(d))")
        }
        return i
    }

    public func requiredInteger(_ key: String, in range: ClosedRange<Int>) throws(InputError) -> Int {
        guard let i = try integer(key, in: range) else { throw InputError("missing field \(name(key))") }
        return i
    }

    /// One of `allowed` strings.
    public func oneOf(_ key: String, _ allowed: [String]) throws(InputError) -> String? {
        guard let s = try string(key) else { return nil }
        guard allowed.contains(s) else {
            throw InputError(
                "field \(name(key)) must be one of \(allowed.joined(separator: ", ")), got \"\(s.prefix(40))\"")
        }
        return s
    }

    /// An ISO 8601 date-time (see `ISO8601.parse`).
    public func date(_ key: String, noZone: ISO8601.NoZone = .refuse) throws(InputError) -> Date? {
        guard let s = try string(key) else { return nil }
        guard let d = ISO8601.parse(s, noZone: noZone) else {
            throw InputError("field \(name(key)) is not an ISO 8601 date-time: \"\(s.prefix(40))\"")
        }
        return d
    }

    public func strings(_ key: String) throws(InputError) -> [String]? {
        guard let v = value(key) else { return nil }
        guard let a = v as? [Any], let s = a as? [String] else {
            throw InputError("field \(name(key)) must be an array of strings")
        }
        return s
    }

    public func array(_ key: String) throws(InputError) -> [Any]? {
        guard let v = value(key) else { return nil }
        guard let a = v as? [Any] else { throw InputError("field \(name(key)) must be an array") }
        return a
    }

    /// A nested object, whose errors name `key.field`.
    public func fields(_ key: String) throws(InputError) -> JSONFields? {
        guard let v = value(key) else { return nil }
        guard let o = v as? [String: Any] else { throw InputError("field \(name(key)) must be an object") }
        return JSONFields(o, path: path + key + ".")
    }

    private func fmt(_ d: Double) -> String {
        d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
    }
}

/// Telling JSON numbers from JSON booleans after `JSONSerialization`: both arrive as `NSNumber`, and
/// only the Objective-C type ("c", char, for true/false) tells them apart.
public enum JSONScalar {
    /// The value as a number, or nil when it is not a JSON number (a boolean is not one).
    public static func number(_ value: Any) -> Double? {
        guard let n = value as? NSNumber, !isBool(n) else { return nil }
        return n.doubleValue
    }

    /// The value as a boolean, or nil when it is not JSON true/false (1 and 0 are not).
    public static func bool(_ value: Any) -> Bool? {
        guard let n = value as? NSNumber, isBool(n) else { return nil }
        return n.boolValue
    }

    /// The value as a whole number within `range`, or nil when it is not a JSON number, not whole, or
    /// outside: the one conversion of outside numbers to `Int` (never traps, whatever the value).
    public static func integer(_ value: Any, in range: ClosedRange<Int>) -> Int? {
        number(value).flatMap { integer(exactly: $0, in: range) }
    }

    /// `d` as a whole number within `range`, or nil. `Int(exactly:)` rather than comparing Doubles:
    /// Double(Int.max) is 2^63, one past it, so a bounds check in Double would let 2^63 reach `Int(_:)`.
    public static func integer(exactly d: Double, in range: ClosedRange<Int>) -> Int? {
        guard let i = Int(exactly: d), range.contains(i) else { return nil }
        return i
    }

    static func isBool(_ n: NSNumber) -> Bool { String(cString: n.objCType) == "c" }
}

/// Writing JSON the way every FlexMiner output does: one line, sorted keys.
public enum JSONLine {
    /// `object` as one line of JSON with sorted keys (`{}` if it cannot be encoded).
    public static func encode(_ object: [String: Any]) -> String {
        encoded(object) ?? "{}"
    }

    /// `object` as one line of JSON with sorted keys, or nil if it cannot be encoded (the caller says
    /// what then: keep the line it had, skip the entry, throw).
    public static func encoded(_ object: [String: Any]) -> String? {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else {
            return nil
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// `object` as one line of a JSON-lines file: sorted keys and the newline, ready to append; nil if it
    /// cannot be encoded.
    public static func fileLine(_ object: [String: Any]) -> [UInt8]? {
        encoded(object).map { Array($0.utf8) + [UInt8(ascii: "\n")] }
    }
}
