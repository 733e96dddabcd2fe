import SHA256

/// A 256-bit proof-of-work target: a hash meets it when the hash, read as a little-endian 256-bit
/// number, is at or below it.
public struct HashTarget: Hashable, Sendable, CustomStringConvertible {
    /// Big-endian 32-bit words, most significant first (the order of the display hex).
    public let words: [UInt32]

    /// - Parameter hex: 64 hex digits, most significant first — the form of `getblocktemplate`'s
    ///   `target` field, e.g. "7fffff0000…" for regtest.
    /// - Throws: `SHA256Error` naming `name` when `hex` is not 64 hex digits.
    public init(hex: String, name: String = "target") throws(SHA256Error) {
        let bytes = try Hex.decode(hex, name: name)
        guard bytes.count == 32 else {
            throw SHA256Error(.badLength, "\(name): a target is 64 hex digits (32 bytes), got \(bytes.count * 2)")
        }
        words = stride(from: 0, to: 32, by: 4).map { i in
            bytes[i..<i + 4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        }
    }

    /// A target from its eight 32-bit words, most significant first.
    /// - Throws: `SHA256Error.badLength` unless there are exactly eight words.
    public init(words: [UInt32]) throws(SHA256Error) {
        guard words.count == 8 else { throw SHA256Error(.badLength, "a target has 8 32-bit words, got \(words.count)") }
        self.words = words
    }

    /// A target whose most significant word is `highWord` and whose other bits are all ones: what a
    /// kernel's early reject compares against, as a full target.
    public init(highWord: UInt32) {
        words = [highWord] + Array(repeating: .max, count: 7)
    }

    /// The largest target: every hash meets it.
    public static let maximum = HashTarget(highWord: .max)

    /// The most significant 32 bits: what kernels compare against for early rejection.
    public var highWord: UInt32 { words[0] }

    public var hex: String {
        Hex.encode(words.flatMap { w in [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: w >> UInt32($0)) } })
    }

    public var description: String { hex }

    /// Whether `digest` (SHA-256 output order) is at or below this target.
    public func isMet(by digest: SHA256Digest) -> Bool {
        let b = digest.bytes
        for i in 0..<8 {
            // Word i (most significant first) of the hash number is digest bytes 31-4i ... 28-4i.
            let j = 31 - 4 * i
            let w = b[(j - 3)...j].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            if w != words[i] { return w < words[i] }
        }
        return true
    }
}
