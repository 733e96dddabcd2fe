/// Portable streaming SHA-256 (FIPS 180-4): the reference every fast kernel is tested against.
///
/// Deliberately plain — a loop over a 64-word message schedule — so that it shares no code with the
/// unrolled mining kernels it checks.
public struct SHA256: Sendable {
    public private(set) var state: SHA256State = .initial
    private var buffer: [UInt8] = []
    private var byteCount: UInt64 = 0

    public init() {
        buffer.reserveCapacity(64)
    }

    /// Absorbs `bytes`; may be called any number of times with any lengths.
    public mutating func update(_ bytes: some Sequence<UInt8>) {
        for byte in bytes {
            buffer.append(byte)
            if buffer.count == 64 {
                buffer.withUnsafeBytes { SHA256.compressBlock(&state, $0) }
                buffer.removeAll(keepingCapacity: true)
            }
            byteCount &+= 1
        }
    }

    /// Absorbs raw memory; whole blocks are compressed straight from `bytes` without copying.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        var offset = 0
        if !buffer.isEmpty {
            while offset < bytes.count && buffer.count < 64 {
                buffer.append(bytes[offset])
                offset += 1
            }
            if buffer.count == 64 {
                buffer.withUnsafeBytes { SHA256.compressBlock(&state, $0) }
                buffer.removeAll(keepingCapacity: true)
            }
        }
        while bytes.count - offset >= 64 {
            SHA256.compressBlock(&state, UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + 64]))
            offset += 64
        }
        buffer.append(contentsOf: bytes[offset...])
        byteCount &+= UInt64(bytes.count)
    }

    /// Pads, finishes and returns the digest. The hasher itself is left unchanged.
    public func finalize() -> SHA256Digest {
        var copy = self
        let bitLength = byteCount &* 8
        var padding: [UInt8] = [0x80]
        let used = (buffer.count + 1) % 64
        let zeros = used <= 56 ? 56 - used : 120 - used
        padding.append(contentsOf: repeatElement(0, count: zeros))
        for shift in stride(from: 56, through: 0, by: -8) {
            padding.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift)))
        }
        let savedCount = copy.byteCount
        copy.update(padding)
        copy.byteCount = savedCount
        precondition(copy.buffer.isEmpty, "SHA-256 padding must end on a block boundary")
        return SHA256Digest(state: copy.state)
    }

    /// One-shot SHA-256.
    public static func hash(_ bytes: some Sequence<UInt8>) -> SHA256Digest {
        var hasher = SHA256()
        hasher.update(bytes)
        return hasher.finalize()
    }

    /// Bitcoin's double SHA-256: SHA-256 of the SHA-256 digest.
    public static func hashTwice(_ bytes: some Sequence<UInt8>) -> SHA256Digest {
        hash(hash(bytes).bytes)
    }

    /// The SHA-256 compression function on one 64-byte block (FIPS 180-4 §6.2.2).
    /// - Throws: `SHA256Error.badLength` unless `block` holds exactly 64 bytes.
    public static func compress(_ state: inout SHA256State, block: UnsafeRawBufferPointer) throws(SHA256Error) {
        guard block.count == 64 else {
            throw SHA256Error(.badLength, "a SHA-256 block is 64 bytes, got \(block.count)")
        }
        compressBlock(&state, block)
    }

    /// Compresses a block known to be 64 bytes.
    static func compressBlock(_ state: inout SHA256State, _ block: UnsafeRawBufferPointer) {
        var w = (0..<16).map { UInt32(bigEndian: block.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)) }
        compress(&state, words: &w)
    }

    /// The compression function on sixteen big-endian message words.
    /// - Throws: `SHA256Error.badLength` unless there are exactly 16 words.
    public static func compress(_ state: inout SHA256State, words: [UInt32]) throws(SHA256Error) {
        guard words.count == 16 else {
            throw SHA256Error(.badLength, "SHA-256 compresses 16 message words, got \(words.count)")
        }
        var w = words
        compress(&state, words: &w)
    }

    private static func compress(_ state: inout SHA256State, words w: inout [UInt32]) {
        @inline(__always) func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 - n)) }
        w.reserveCapacity(64)
        for t in 16..<64 {
            let s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3)
            let s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10)
            w.append(w[t - 16] &+ s0 &+ w[t - 7] &+ s1)
        }
        var s = state
        for t in 0..<64 {
            let bigS1 = rotr(s.e, 6) ^ rotr(s.e, 11) ^ rotr(s.e, 25)
            let ch = (s.e & s.f) ^ (~s.e & s.g)
            let t1 = s.h &+ bigS1 &+ ch &+ sha256RoundConstants[t] &+ w[t]
            let bigS0 = rotr(s.a, 2) ^ rotr(s.a, 13) ^ rotr(s.a, 22)
            let maj = (s.a & s.b) ^ (s.a & s.c) ^ (s.b & s.c)
            let t2 = bigS0 &+ maj
            s = SHA256State(t1 &+ t2, s.a, s.b, s.c, s.d &+ t1, s.e, s.f, s.g)
        }
        state = state &+ s
    }

    /// Runs only the first `rounds` rounds of the compression on `words` (no feed-forward).
    /// Mining kernels start from a state precomputed this way for the rounds that do not depend on
    /// the nonce.
    static func partialRounds(_ state: SHA256State, words: [UInt32], rounds: Int) -> SHA256State {
        @inline(__always) func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 - n)) }
        var s = state
        for t in 0..<rounds {
            let bigS1 = rotr(s.e, 6) ^ rotr(s.e, 11) ^ rotr(s.e, 25)
            let ch = (s.e & s.f) ^ (~s.e & s.g)
            let t1 = s.h &+ bigS1 &+ ch &+ sha256RoundConstants[t] &+ words[t]
            let bigS0 = rotr(s.a, 2) ^ rotr(s.a, 13) ^ rotr(s.a, 22)
            let maj = (s.a & s.b) ^ (s.a & s.c) ^ (s.b & s.c)
            s = SHA256State(t1 &+ bigS0 &+ maj, s.a, s.b, s.c, s.d &+ t1, s.e, s.f, s.g)
        }
        return s
    }
}
