/// Base58 and Base58Check as Bitcoin uses them (addresses of P2PKH/P2SH).
package enum Base58 {
    static let alphabet = Array("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz".utf8)
    static let index: [Int8] = {
        var t = [Int8](repeating: -1, count: 128)
        for (i, c) in alphabet.enumerated() { t[Int(c)] = Int8(i) }
        return t
    }()

    package static func encode(_ bytes: [UInt8]) -> String {
        let zeros = bytes.prefix { $0 == 0 }.count
        var digits: [UInt8] = []  // base-58 digits, least significant first
        for byte in bytes {
            var carry = Int(byte)
            for i in 0..<digits.count {
                carry += Int(digits[i]) << 8
                digits[i] = UInt8(carry % 58)
                carry /= 58
            }
            while carry > 0 {
                digits.append(UInt8(carry % 58))
                carry /= 58
            }
        }
        let chars = [UInt8](repeating: alphabet[0], count: zeros) + digits.reversed().map { alphabet[Int($0)] }
        return String(decoding: chars, as: UTF8.self)
    }

    /// Nil for characters outside the alphabet (including whitespace).
    package static func decode(_ text: String) -> [UInt8]? {
        let chars = Array(text.utf8)
        let zeros = chars.prefix { $0 == alphabet[0] }.count
        var bytes: [UInt8] = []  // least significant first
        for c in chars {
            guard c < 128, index[Int(c)] >= 0 else { return nil }
            var carry = Int(index[Int(c)])
            for i in 0..<bytes.count {
                carry += Int(bytes[i]) * 58
                bytes[i] = UInt8(carry & 0xff)
                carry >>= 8
            }
            while carry > 0 {
                bytes.append(UInt8(carry & 0xff))
                carry >>= 8
            }
        }
        return [UInt8](repeating: 0, count: zeros) + bytes.reversed()
    }

    /// Payload of a Base58Check string, or nil when the checksum or encoding is wrong.
    package static func decodeCheck(_ text: String) -> [UInt8]? {
        guard let raw = decode(text), raw.count >= 4 else { return nil }
        let payload = Array(raw.dropLast(4))
        guard Array(hash256(payload).prefix(4)) == Array(raw.suffix(4)) else { return nil }
        return payload
    }

    package static func encodeCheck(_ payload: [UInt8]) -> String { encode(payload + hash256(payload).prefix(4)) }
}
