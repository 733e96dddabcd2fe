import FlexSupport
import Foundation

/// Keeps the shared token out of logs: a refused line is logged as a preview with the value of its
/// `token` field replaced. A line may be refused for another reason (a bad level) while carrying the
/// right token, and the decision log is read by more people than the token's holders.
enum Redaction {
    static let placeholder = "[redacted]"

    /// The first `limit` bytes of `line` (as text, invalid UTF-8 repaired), with every `token` value
    /// redacted before it is cut, so a cut can never leave part of a token behind.
    static func preview(_ line: some Collection<UInt8>, limit: Int) -> String {
        let bytes = Array(line)
        let redacted = redact(bytes)
        return String(decoding: redacted.prefix(limit), as: UTF8.self)
    }

    /// `bytes` with the value after every `"token"` key (any case; the key may also be written with
    /// escapes, which is caught by parsing) replaced by the placeholder. Works on malformed lines too:
    /// a string value is replaced up to its closing quote (or the end of the line), any other value up
    /// to the next `,` or `}`.
    static func redact(_ bytes: [UInt8]) -> [UInt8] {
        // A key spelled with escapes ("tok\u0065n") is still "token" to the JSON parser: re-encode such a
        // line whole, with the field replaced.
        if bytes.contains(UInt8(ascii: "\\")),
            let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
            object.keys.contains(where: { $0.lowercased() == "token" })
        {
            var copy = object
            for key in object.keys where key.lowercased() == "token" { copy[key] = placeholder }
            if let line = JSONLine.encoded(copy) { return Array(line.utf8) }
        }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        let key = Array("token".utf8)
        while i < bytes.count {
            out.append(bytes[i])
            // A quoted key `"token"`, case-insensitively, followed by optional spaces and a colon.
            guard bytes[i] == UInt8(ascii: "\""), i + key.count + 1 < bytes.count,
                zip(bytes[(i + 1)...].prefix(key.count), key).allSatisfy({ $0 | 0x20 == $1 }),
                bytes[i + 1 + key.count] == UInt8(ascii: "\"")
            else {
                i += 1
                continue
            }
            var j = i + 2 + key.count
            while j < bytes.count, bytes[j] == 0x20 || bytes[j] == 0x09 { j += 1 }
            guard j < bytes.count, bytes[j] == UInt8(ascii: ":") else {
                i += 1
                continue
            }
            j += 1
            while j < bytes.count, bytes[j] == 0x20 || bytes[j] == 0x09 { j += 1 }
            out.append(contentsOf: bytes[(i + 1)..<j])
            var end = j
            if j < bytes.count, bytes[j] == UInt8(ascii: "\"") {
                end = j + 1
                while end < bytes.count, bytes[end] != UInt8(ascii: "\"") {
                    end += bytes[end] == UInt8(ascii: "\\") ? 2 : 1
                }
                end = min(end + 1, bytes.count)
                out.append(contentsOf: Array("\"\(placeholder)\"".utf8))
            } else {
                while end < bytes.count, bytes[end] != UInt8(ascii: ","), bytes[end] != UInt8(ascii: "}") { end += 1 }
                if end > j { out.append(contentsOf: Array("\"\(placeholder)\"".utf8)) }
            }
            i = end
        }
        return out
    }
}
