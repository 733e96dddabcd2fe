import FlexSupport
import SHA256

/// Proof of work on the 256-bit numbers: the one home of "a hash meets a target", used by the
/// kernels' full checks, the engine, the chain model and share validation alike.
extension UInt256 {
    /// A target from 64 hex digits, most significant first — `getblocktemplate`'s `target`.
    /// - Throws: `ChainError` naming `name` when `hex` is not 64 hex digits.
    public init(hex: String, name: String = "target") throws(ChainError) {
        let bytes: [UInt8]
        do { bytes = try Hex.decode(hex, name: name) } catch { throw ChainError(.badHex, error.message) }
        guard bytes.count == 32 else {
            throw ChainError(.badLength, "\(name): a target is 64 hex digits (32 bytes), got \(hex.utf8.count)")
        }
        try self.init(bigEndianBytes: bytes)
    }

    /// The target whose most significant 32 bits are `highWord` and all other bits ones: what a kernel's
    /// early reject accepts, as a full target.
    public init(highWord: UInt32) {
        self.init(.max, .max, .max, UInt64(highWord) << 32 | 0xFFFF_FFFF)
    }

    /// The most significant 32 bits: what the kernels compare a hash's top word against for early
    /// rejection (every candidate is then checked in full with `isMet(by:)`).
    public var highWord: UInt32 { UInt32(truncatingIfNeeded: limbs.3 >> 32) }

    /// Whether `digest`, read as Bitcoin reads a hash (a little-endian 256-bit number), is at or below
    /// this target.
    public func isMet(by digest: SHA256Digest) -> Bool { UInt256(digest: digest) <= self }
}
