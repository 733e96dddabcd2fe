/// A 32-byte SHA-256 digest.
///
/// `bytes` and `hex` are in SHA-256's output order. Bitcoin displays block and transaction hashes
/// byte-reversed (the digest read as a little-endian 256-bit number, most significant byte first):
/// that is `reversedHex`.
public struct SHA256Digest: Hashable, Sendable, CustomStringConvertible {
    public let state: SHA256State

    public init(state: SHA256State) {
        self.state = state
    }

    /// Builds a digest from 32 bytes in SHA-256 output order.
    public init(bytes: some Collection<UInt8>) throws(SHA256Error) {
        guard bytes.count == 32 else {
            throw SHA256Error(.badLength, "a digest is 32 bytes, got \(bytes.count)")
        }
        let b = Array(bytes)
        func word(_ i: Int) -> UInt32 {
            UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3])
        }
        state = SHA256State(word(0), word(4), word(8), word(12), word(16), word(20), word(24), word(28))
    }

    public var bytes: [UInt8] { state.bytes }
    public var hex: String { Hex.encode(bytes) }
    /// Bitcoin's display order (block explorers, RPC `hash` fields).
    public var reversedHex: String { Hex.encode(bytes.reversed()) }
    public var description: String { hex }

    /// The digest's last four bytes read as a little-endian number: the most significant 32 bits of
    /// the hash viewed as Bitcoin's 256-bit little-endian number. Kernels reject on this word first.
    public var mostSignificantWord: UInt32 { state.h.byteSwapped }
}
