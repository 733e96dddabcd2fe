import FlexSupport
import SHA256

/// An unsigned 256-bit integer: just enough arithmetic for proof-of-work targets (shifts, comparison,
/// division by a 64-bit number). Limbs are little-endian (`limbs.0` least significant).
public struct UInt256: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var limbs: (UInt64, UInt64, UInt64, UInt64)

    public init(_ l0: UInt64, _ l1: UInt64 = 0, _ l2: UInt64 = 0, _ l3: UInt64 = 0) {
        limbs = (l0, l1, l2, l3)
    }

    public static let zero = UInt256(0)
    public static let max = UInt256(.max, .max, .max, .max)

    var array: [UInt64] { [limbs.0, limbs.1, limbs.2, limbs.3] }
    init(array a: [UInt64]) { limbs = (a[0], a[1], a[2], a[3]) }

    /// From 32 bytes, most significant first (display order of targets).
    /// - Throws: `ChainError.badLength` unless there are exactly 32 bytes.
    public init(bigEndianBytes b: [UInt8]) throws(ChainError) {
        guard b.count == 32 else { throw ChainError(.badLength, "a 256-bit number is 32 bytes, got \(b.count)") }
        self.init(exactly32: b)
    }

    private init(exactly32 b: [UInt8]) {
        var a = [UInt64](repeating: 0, count: 4)
        for i in 0..<32 { a[3 - i / 8] |= UInt64(b[i]) << UInt64(56 - 8 * (i % 8)) }
        self.init(array: a)
    }

    /// A hash digest read as Bitcoin reads it: its 32 bytes as a little-endian number.
    public init(digest: SHA256Digest) { self.init(exactly32: digest.bytes.reversed()) }

    public var bigEndianBytes: [UInt8] {
        (0..<32).map { i in UInt8(truncatingIfNeeded: array[3 - i / 8] >> UInt64(56 - 8 * (i % 8))) }
    }

    public var hex: String {
        let digits = Array("0123456789abcdef")
        return String(bigEndianBytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] })
    }

    public var description: String { hex }

    public var low64: UInt64 { limbs.0 }

    public var isZero: Bool { self == .zero }

    /// Number of significant bits (0 for zero).
    public var bitWidth: Int {
        let a = array
        for i in stride(from: 3, through: 0, by: -1) where a[i] != 0 {
            return i * 64 + 64 - a[i].leadingZeroBitCount
        }
        return 0
    }

    public static func << (x: UInt256, n: Int) -> UInt256 {
        if n <= 0 { return n == 0 ? x : x >> -n }
        if n >= 256 { return .zero }
        let a = x.array
        var r = [UInt64](repeating: 0, count: 4)
        let limbShift = n / 64
        let bitShift = UInt64(n % 64)
        for i in stride(from: 3, through: limbShift, by: -1) {
            r[i] = a[i - limbShift] << bitShift
            if bitShift > 0 && i - limbShift - 1 >= 0 { r[i] |= a[i - limbShift - 1] >> (64 - bitShift) }
        }
        return UInt256(array: r)
    }

    public static func >> (x: UInt256, n: Int) -> UInt256 {
        if n <= 0 { return n == 0 ? x : x << -n }
        if n >= 256 { return .zero }
        let a = x.array
        var r = [UInt64](repeating: 0, count: 4)
        let limbShift = n / 64
        let bitShift = UInt64(n % 64)
        for i in 0..<(4 - limbShift) {
            r[i] = a[i + limbShift] >> bitShift
            if bitShift > 0 && i + limbShift + 1 < 4 { r[i] |= a[i + limbShift + 1] << (64 - bitShift) }
        }
        return UInt256(array: r)
    }

    public static func < (l: UInt256, r: UInt256) -> Bool {
        let a = l.array
        let b = r.array
        for i in stride(from: 3, through: 0, by: -1) where a[i] != b[i] { return a[i] < b[i] }
        return false
    }

    public static func == (l: UInt256, r: UInt256) -> Bool { l.array == r.array }

    public func hash(into h: inout Hasher) { h.combine(array) }

    /// Quotient and remainder by a 64-bit divisor.
    /// - Throws: `ChainError.badField` when `d` is zero.
    public func quotientAndRemainder(dividingBy d: UInt64) throws(ChainError) -> (quotient: UInt256, remainder: UInt64)
    {
        guard d != 0 else { throw ChainError(.badField, "division of a 256-bit number by zero") }
        var q = [UInt64](repeating: 0, count: 4)
        var rem: UInt64 = 0
        let a = array
        for i in stride(from: 3, through: 0, by: -1) {
            let (qi, ri) = d.dividingFullWidth((high: rem, low: a[i]))
            q[i] = qi
            rem = ri
        }
        return (UInt256(array: q), rem)
    }

    /// The value as a Double (rounded).
    public var doubleValue: Double {
        array.enumerated().reduce(0.0) { $0 + Double($1.element) * pow2(64 * $1.offset) }
    }
}

@inline(__always)
func pow2(_ n: Int) -> Double { Double(sign: .plus, exponent: n, significand: 1) }
