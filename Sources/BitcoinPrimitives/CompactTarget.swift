/// The 32-bit "compact" encoding of a 256-bit target used by a block header's nBits, decoded and
/// encoded exactly as Bitcoin Core's `arith_uint256::SetCompact` / `GetCompact`, including the
/// sign bit and overflow cases (which a valid header never has).
public struct CompactTarget: Hashable, Sendable, CustomStringConvertible {
    public let bits: UInt32

    public init(bits: UInt32) { self.bits = bits }

    /// - Throws: `ChainError` unless `hex` is eight hex digits, as in `getblocktemplate`'s `bits`.
    public init(hex: String, name: String = "bits") throws(ChainError) {
        guard hex.utf8.count == 8, let v = UInt32(hex, radix: 16) else {
            throw ChainError(.badField, "\(name): expected 8 hex digits, got \"\(hex.prefix(20))\"")
        }
        bits = v
    }

    /// SetCompact: the target, and whether the encoding is negative or overflows 256 bits.
    public var decoded: (target: UInt256, negative: Bool, overflow: Bool) {
        let size = Int(bits >> 24)
        var word = bits & 0x007f_ffff
        let target: UInt256
        if size <= 3 {
            word >>= UInt32(8 * (3 - size))
            target = UInt256(UInt64(word))
        } else {
            target = UInt256(UInt64(word)) << (8 * (size - 3))
        }
        let negative = word != 0 && (bits & 0x0080_0000) != 0
        let overflow = word != 0 && (size > 34 || (word > 0xff && size > 33) || (word > 0xffff && size > 32))
        return (target, negative, overflow)
    }

    /// The target, when the encoding is a valid proof-of-work target (positive, non-zero, no overflow).
    /// - Throws: `ChainError` saying which rule the bits break.
    public func target() throws(ChainError) -> UInt256 {
        let d = decoded
        if d.negative { throw ChainError(.badTarget, "bits \(hex): negative target") }
        if d.overflow { throw ChainError(.badTarget, "bits \(hex): target overflows 256 bits") }
        if d.target.isZero { throw ChainError(.badTarget, "bits \(hex): zero target") }
        return d.target
    }

    /// GetCompact: the compact encoding of `target` (Core rounds the value down to 3 significant bytes).
    public init(target: UInt256, negative: Bool = false) {
        var size = (target.bitWidth + 7) / 8
        var compact: UInt32
        if size <= 3 {
            compact = UInt32(truncatingIfNeeded: target.low64 << UInt64(8 * (3 - size)))
        } else {
            compact = UInt32(truncatingIfNeeded: (target >> (8 * (size - 3))).low64)
        }
        if compact & 0x0080_0000 != 0 {
            compact >>= 8
            size += 1
        }
        compact |= UInt32(size) << 24
        if negative && compact & 0x007f_ffff != 0 { compact |= 0x0080_0000 }
        bits = compact
    }

    public var hex: String {
        let s = String(bits, radix: 16)
        return String(repeating: "0", count: 8 - s.count) + s
    }

    public var description: String { hex }

    /// Difficulty as Bitcoin Core's `GetDifficulty` computes it (relative to the difficulty-1 target
    /// 0x1d00ffff).
    public var difficulty: Double {
        var shift = Int((bits >> 24) & 0xff)
        let mantissa = Double(bits & 0x00ff_ffff)
        guard mantissa > 0 else { return .infinity }
        var diff = Double(0x0000_ffff) / mantissa
        while shift < 29 {
            diff *= 256
            shift += 1
        }
        while shift > 29 {
            diff /= 256
            shift -= 1
        }
        return diff
    }

    /// The difficulty-1 target (bdiff): 0x00000000ffff0000…
    public static let difficultyOneTarget = UInt256(0xffff) << 208

    /// The target for a share of difficulty `difficulty` (bdiff), i.e. difficulty-1 target / difficulty.
    /// - Throws: `ChainError` unless `difficulty` is finite and positive.
    public static func target(forDifficulty difficulty: Double) throws(ChainError) -> UInt256 {
        guard difficulty.isFinite && difficulty > 0 else {
            throw ChainError(.badTarget, "difficulty must be a positive finite number, got \(difficulty)")
        }
        // target = diff1 * 2^32 / (difficulty * 2^32), so fractional difficulties keep 32 bits of precision.
        let scaled = difficulty * 4_294_967_296
        if scaled >= 0x1p64 {
            // Difficulty at or above 2^32: divide by its integer part.
            return try difficultyOneTarget.quotientAndRemainder(dividingBy: UInt64(Swift.min(difficulty, 1.8e19)))
                .quotient
        }
        let divisor = Swift.max(UInt64(scaled), 1)
        let numerator = difficultyOneTarget << 32
        let q = try numerator.quotientAndRemainder(dividingBy: divisor).quotient
        return q
    }
}
