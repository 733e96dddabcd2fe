import FlexSupport

/// What went wrong with an input to the hashing core. Carries a code and a human-readable message that
/// names the input, so new cases never break callers that switch on `code`.
public typealias SHA256Error = CodedError<SHA256ErrorCode>

/// What kind of input the hashing core refused.
public enum SHA256ErrorCode: String, Hashable, Sendable {
    case badLength
    case badHex
}

/// Hexadecimal encoding and strict decoding.
public enum Hex {
    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var out = [UInt8]()
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes `text` (upper or lower case, no prefix, no spaces). `name` says in errors which input
    /// was wrong, e.g. "--header".
    public static func decode(_ text: String, name: String = "hex string") throws(SHA256Error) -> [UInt8] {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else {
            throw SHA256Error(.badHex, "\(name): odd number of hex digits (\(utf8.count))")
        }
        var out = [UInt8]()
        out.reserveCapacity(utf8.count / 2)
        var i = 0
        while i < utf8.count {
            guard let hi = nibble(utf8[i]), let lo = nibble(utf8[i + 1]) else {
                let bad = nibble(utf8[i]) == nil ? i : i + 1
                throw SHA256Error(.badHex, "\(name): character \(bad + 1) is not a hex digit")
            }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
