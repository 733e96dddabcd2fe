import FlexSupport
import Foundation
import OpenADR

/// Typed reading of OpenADR 2.0b fields: every value range-checked before any conversion, errors that
/// name the message and the field (`oadrDistributeEvent: eiEvent[2].eiActivePeriod.duration: ...`).
struct FieldReader {
    /// The element read.
    let element: ReadElement
    /// Where it is, for messages (`oadrDistributeEvent.oadrEvent[0]`).
    let path: String

    init(_ element: ReadElement, path: String) {
        self.element = element
        self.path = path
    }

    /// The longest duration accepted anywhere in 2.0b (a year: event and poll durations are hours).
    static let maximumSeconds: Double = 366 * 86_400
    /// Text longer than this is refused (ids and names are short; a VTN sending megabytes is hostile).
    static let maximumTextLength = 1024

    func error(_ field: String, _ problem: String) -> OpenADR2bError {
        OpenADR2bError(.malformed, "\(path).\(field): \(problem)")
    }

    /// The child reader at `path`, or nil.
    func child(_ steps: [(String, String)], name: String) -> FieldReader? {
        element.descendant(steps).map { FieldReader($0, path: path + "." + name) }
    }

    /// The trimmed text at `steps`, or nil when absent.
    func optionalText(_ steps: [(String, String)], field: String) throws(OpenADR2bError) -> String? {
        guard let e = element.descendant(steps) else { return nil }
        let t = e.trimmedText
        guard t.count <= Self.maximumTextLength else {
            throw error(field, "\(t.count) characters (at most \(Self.maximumTextLength))")
        }
        return t
    }

    /// The trimmed, non-empty text at `steps`.
    func text(_ steps: [(String, String)], field: String) throws(OpenADR2bError) -> String {
        guard let t = try optionalText(steps, field: field) else { throw error(field, "missing") }
        guard !t.isEmpty else { throw error(field, "empty") }
        return t
    }

    /// A duration at `steps` in seconds: 0...`maximumSeconds` (a negative, overflowing or not-a-duration
    /// value is an error naming the field); nil when absent.
    func duration(_ steps: [(String, String)], field: String) throws(OpenADR2bError) -> Double? {
        guard let t = try optionalText(steps, field: field) else { return nil }
        return try Self.seconds(t, error: { error(field, $0) })
    }

    /// `text` as seconds in 0...`maximumSeconds`, through the project's one ISO 8601 duration reader.
    static func seconds(_ text: String, error: (String) -> OpenADR2bError) throws(OpenADR2bError) -> Double {
        guard let s = ISODuration.seconds(text) else { throw error("\(quoted(text)) is not an ISO 8601 duration") }
        guard s >= 0 else { throw error("\(quoted(text)) is negative") }
        guard s.isFinite, s <= maximumSeconds else {
            throw error("\(quoted(text)) is longer than \(Int(maximumSeconds)) s")
        }
        return s
    }

    /// A date-time at `steps` (UTC when it names no zone, as some VTNs write it); nil when absent.
    func date(_ steps: [(String, String)], field: String) throws(OpenADR2bError) -> Date? {
        guard let t = try optionalText(steps, field: field) else { return nil }
        guard let d = ISO8601.parse(t, noZone: .utc) else {
            throw error(field, "\(Self.quoted(t)) is not an ISO 8601 date-time")
        }
        return d
    }

    /// A whole number at `steps` within `range`; nil when absent.
    func integer(_ steps: [(String, String)], field: String, in range: ClosedRange<Int>) throws(OpenADR2bError)
        -> Int?
    {
        guard let t = try optionalText(steps, field: field) else { return nil }
        guard let d = Double(t), d.isFinite, let i = JSONScalar.integer(exactly: d, in: range) else {
            throw error(field, "\(Self.quoted(t)) is not a whole number in \(range.lowerBound)...\(range.upperBound)")
        }
        return i
    }

    /// A finite number at `steps`; nil when absent.
    func number(_ steps: [(String, String)], field: String) throws(OpenADR2bError) -> Double? {
        guard let t = try optionalText(steps, field: field) else { return nil }
        guard let d = Double(t), d.isFinite else { throw error(field, "\(Self.quoted(t)) is not a finite number") }
        return d
    }

    /// An `xs:boolean` at `steps` (`true`/`false`/`1`/`0`); nil when absent.
    func bool(_ steps: [(String, String)], field: String) throws(OpenADR2bError) -> Bool? {
        guard let t = try optionalText(steps, field: field) else { return nil }
        switch t.lowercased() {
        case "true", "1": return true
        case "false", "0": return false
        default: throw error(field, "\(Self.quoted(t)) is not a boolean")
        }
    }

    /// At most 60 characters of a value, quoted, for messages.
    static func quoted(_ s: String) -> String { "\"\(s.prefix(60))\"" }
}

/// Short names for the namespaces in element paths.
let oadrNS = OADRNamespace.oadr
let eiNS = OADRNamespace.ei
let pyldNS = OADRNamespace.pyld
let xcalNS = OADRNamespace.xcal
let strmNS = OADRNamespace.strm
let emixNS = OADRNamespace.emix
