/// The per-job precomputation for scanning the nonces of one 80-byte block header.
///
/// Everything that does not depend on the nonce is computed once here: the midstate of the first
/// 64 bytes, the three big-endian message words that precede the nonce in the second chunk, and
/// the state after the second chunk's first rounds (rounds 0–2 use only those words), round 3 less its
/// nonce word, and the nonce-independent terms of that chunk's message schedule.
public struct HeaderScanJob: Sendable, Hashable {
    /// The header as given (its nonce field is ignored by scans).
    public let header: [UInt8]
    public let midstate: SHA256State
    /// Second-chunk message words 0, 1, 2: merkle root bytes 28–31, time, bits.
    public let tail0: UInt32
    public let tail1: UInt32
    public let tail2: UInt32
    /// State after second-chunk rounds 0 and 1 (for kernels that do two rounds per step).
    public let state2: SHA256State
    /// State after second-chunk rounds 0, 1 and 2.
    public let state3: SHA256State
    /// Words a and e after second-chunk round 3 for nonce word 0: round 3 adds its message word to
    /// both, so for any nonce they are these plus the (byte-swapped) nonce.
    public let round3A: UInt32
    public let round3E: UInt32
    /// Second-chunk schedule words 16 and 17 (they read only words 0–2 and padding).
    public let w16: UInt32
    public let w17: UInt32
    /// W18 − σ0(nonce word), W19 − nonce word, and W31 − σ1(W29) − W24: the nonce-independent terms.
    public let w18Base: UInt32
    public let w19Base: UInt32
    public let w31Base: UInt32

    /// - Throws: `SHA256Error.badLength` unless `header` is exactly 80 bytes.
    public init(header: some Collection<UInt8>) throws(SHA256Error) {
        guard header.count == 80 else {
            throw SHA256Error(.badLength, "a block header is 80 bytes, got \(header.count)")
        }
        self.init(exactly80: Array(header))
    }

    /// A job over 80 random header bytes drawn from `rng` (self-tests, benchmarks, drills: work that
    /// needs a header, not a particular one). Cannot fail, unlike `init(header:)` on bytes from outside.
    public static func random(using rng: inout some RandomNumberGenerator) -> HeaderScanJob {
        HeaderScanJob(exactly80: (0..<80).map { _ in UInt8.random(in: 0...255, using: &rng) })
    }

    /// For `BlockHeader.scanJob` and `random`, whose bytes are 80 by construction; anything else goes
    /// through the checking `init(header:)`.
    package init(exactly80 bytes: [UInt8]) {
        self.header = bytes
        var mid = SHA256State.initial
        bytes.withUnsafeBytes { SHA256.compressBlock(&mid, UnsafeRawBufferPointer(rebasing: $0[0..<64])) }
        midstate = mid
        func word(_ i: Int) -> UInt32 {
            UInt32(bytes[i]) << 24 | UInt32(bytes[i + 1]) << 16 | UInt32(bytes[i + 2]) << 8 | UInt32(bytes[i + 3])
        }
        tail0 = word(64)
        tail1 = word(68)
        tail2 = word(72)
        state2 = SHA256.partialRounds(mid, words: [tail0, tail1], rounds: 2)
        state3 = SHA256.partialRounds(mid, words: [tail0, tail1, tail2], rounds: 3)
        let round3 = SHA256.partialRounds(mid, words: [tail0, tail1, tail2, 0], rounds: 4)
        round3A = round3.a
        round3E = round3.e
        // The chunk's words 4-15 are the padding of an 80-byte message: 0x80000000, ten zeros, 640.
        func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 - n)) }
        func sigma0(_ x: UInt32) -> UInt32 { rotr(x, 7) ^ rotr(x, 18) ^ (x >> 3) }
        func sigma1(_ x: UInt32) -> UInt32 { rotr(x, 17) ^ rotr(x, 19) ^ (x >> 10) }
        w16 = tail0 &+ sigma0(tail1)
        w17 = tail1 &+ sigma0(tail2) &+ sigma1(640)
        w18Base = tail2 &+ sigma1(w16)
        w19Base = sigma1(w17) &+ sigma0(0x8000_0000)
        w31Base = sigma0(w16) &+ 640
    }

    /// - Throws: `SHA256Error` if `hex` is not 160 hex digits.
    public init(headerHex hex: String) throws(SHA256Error) {
        try self.init(header: Hex.decode(hex, name: "header"))
    }

    /// The header with `nonce` stored little-endian in bytes 76–79.
    public func header(nonce: UInt32) -> [UInt8] {
        var h = header
        h[76] = UInt8(truncatingIfNeeded: nonce)
        h[77] = UInt8(truncatingIfNeeded: nonce >> 8)
        h[78] = UInt8(truncatingIfNeeded: nonce >> 16)
        h[79] = UInt8(truncatingIfNeeded: nonce >> 24)
        return h
    }

    /// SHA-256d of the header with `nonce`, computed by the portable reference (no kernel involved).
    public func referenceHash(nonce: UInt32) -> SHA256Digest {
        SHA256.hashTwice(header(nonce: nonce))
    }
}
