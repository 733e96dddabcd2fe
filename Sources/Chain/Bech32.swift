/// Bech32 (BIP173) and Bech32m (BIP350) for segwit addresses.
package enum Bech32 {
    package enum Variant: Sendable { case bech32, bech32m }

    static let charset = Array("qpzry9x8gf2tvdw0s3jn54khce6mua7l".utf8)

    static func polymod(_ values: [UInt8]) -> UInt32 {
        let gen: [UInt32] = [0x3b6a_57b2, 0x2650_8e6d, 0x1ea1_19fa, 0x3d42_33dd, 0x2a14_62b3]
        var chk: UInt32 = 1
        for v in values {
            let top = chk >> 25
            chk = (chk & 0x1ff_ffff) << 5 ^ UInt32(v)
            for i in 0..<5 where (top >> UInt32(i)) & 1 == 1 { chk ^= gen[i] }
        }
        return chk
    }

    static func expand(_ hrp: [UInt8]) -> [UInt8] { hrp.map { $0 >> 5 } + [0] + hrp.map { $0 & 31 } }

    static func constant(_ v: Variant) -> UInt32 { v == .bech32 ? 1 : 0x2bc8_30a3 }

    /// (hrp, 5-bit data without checksum, variant), or nil when the string is not valid bech32/bech32m.
    package static func decode(_ text: String) -> (hrp: String, data: [UInt8], variant: Variant)? {
        let bytes = Array(text.utf8)
        guard bytes.count <= 90, bytes.allSatisfy({ $0 >= 33 && $0 <= 126 }) else { return nil }
        let hasLower = bytes.contains { $0 >= 97 && $0 <= 122 }
        let hasUpper = bytes.contains { $0 >= 65 && $0 <= 90 }
        guard !(hasLower && hasUpper) else { return nil }
        let lower = bytes.map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }
        guard let sep = lower.lastIndex(of: UInt8(ascii: "1")), sep >= 1, sep + 7 <= lower.count else { return nil }
        let hrp = Array(lower[..<sep])
        var data: [UInt8] = []
        for c in lower[(sep + 1)...] {
            guard let v = charset.firstIndex(of: c) else { return nil }
            data.append(UInt8(v))
        }
        let check = polymod(expand(hrp) + data)
        let variant: Variant
        if check == constant(.bech32) {
            variant = .bech32
        } else if check == constant(.bech32m) {
            variant = .bech32m
        } else {
            return nil
        }
        return (String(decoding: hrp, as: UTF8.self), Array(data.dropLast(6)), variant)
    }

    package static func encode(hrp: String, data: [UInt8], variant: Variant) -> String {
        let h = Array(hrp.utf8)
        let mod = polymod(expand(h) + data + [0, 0, 0, 0, 0, 0]) ^ constant(variant)
        let checksum = (0..<6).map { UInt8((mod >> UInt32(5 * (5 - $0))) & 31) }
        return hrp + "1" + String(decoding: (data + checksum).map { charset[Int($0)] }, as: UTF8.self)
    }

    /// Regroups bits (8 → 5 or 5 → 8); nil on invalid padding.
    static func convertBits(_ data: [UInt8], from: Int, to: Int, pad: Bool) -> [UInt8]? {
        var acc = 0
        var bits = 0
        var out: [UInt8] = []
        let maxv = (1 << to) - 1
        for v in data {
            guard Int(v) >> from == 0 else { return nil }
            acc = (acc << from) | Int(v)
            bits += from
            while bits >= to {
                bits -= to
                out.append(UInt8((acc >> bits) & maxv))
            }
        }
        if pad {
            if bits > 0 { out.append(UInt8((acc << (to - bits)) & maxv)) }
        } else if bits >= from || ((acc << (to - bits)) & maxv) != 0 {
            return nil
        }
        return out
    }
}
