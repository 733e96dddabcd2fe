/// Operations a lane kernel needs on a vector of independent 32-bit SHA-256 words.
///
/// The mining kernel below is written once against these primitives and instantiated per instruction
/// set: `UInt32` (scalar), `SIMD4/8/16<UInt32>` (SSE2, AVX2, AVX-512). Each ISA module provides a
/// conforming enum whose operations are inlinable C vector primitives and calls the kernel with it, so
/// the kernel is specialized and compiled inside that module, with that module's code-generation
/// flags. Never call the kernel through an unspecialized generic: that is orders of magnitude slower.
public protocol SHA256LaneOps {
    associatedtype Vector
    /// Nonces hashed per kernel step.
    static var laneCount: Int { get }
    static func splat(_ x: UInt32) -> Vector
    static func add(_ a: Vector, _ b: Vector) -> Vector
    static func xor(_ a: Vector, _ b: Vector) -> Vector
    static func and(_ a: Vector, _ b: Vector) -> Vector
    static func or(_ a: Vector, _ b: Vector) -> Vector
    static func shr(_ x: Vector, _ n: Int32) -> Vector
    static func rotr(_ x: Vector, _ n: Int32) -> Vector
    static func byteSwap(_ x: Vector) -> Vector
    /// Lanes `first`, `first + 1`, … (wrapping).
    static func iota(_ first: UInt32) -> Vector
    static func minLane(_ x: Vector) -> UInt32
    static func lane(_ x: Vector, _ i: Int) -> UInt32
}

/// What one call of a scan did.
@frozen
public struct ScanOutcome: Hashable, Sendable {
    /// Nonces examined, from `first` on. Less than asked only when the candidate buffer filled up or
    /// the nonce space ended at 0xFFFFFFFF.
    public var scanned: UInt64
    /// Candidate nonces written to the output buffer.
    public var candidates: Int

    @inlinable
    public init(scanned: UInt64, candidates: Int) {
        self.scanned = scanned
        self.candidates = candidates
    }
}

extension SHA256LaneOps {
    @inlinable @inline(__always)
    static func add(_ a: Vector, _ b: Vector, _ c: Vector) -> Vector { add(add(a, b), c) }

    @inlinable @inline(__always)
    static func sigma0(_ x: Vector) -> Vector { xor(xor(rotr(x, 7), rotr(x, 18)), shr(x, 3)) }

    @inlinable @inline(__always)
    static func sigma1(_ x: Vector) -> Vector { xor(xor(rotr(x, 17), rotr(x, 19)), shr(x, 10)) }

    @inlinable @inline(__always)
    static func bigSigma0(_ x: Vector) -> Vector { xor(xor(rotr(x, 2), rotr(x, 13)), rotr(x, 22)) }

    @inlinable @inline(__always)
    static func bigSigma1(_ x: Vector) -> Vector { xor(xor(rotr(x, 6), rotr(x, 11)), rotr(x, 25)) }

    @inlinable @inline(__always)
    static func choose(_ e: Vector, _ f: Vector, _ g: Vector) -> Vector { xor(g, and(e, xor(f, g))) }

    @inlinable @inline(__always)
    static func majority(_ a: Vector, _ b: Vector, _ c: Vector) -> Vector { or(and(a, b), and(c, or(a, b))) }

    /// One SHA-256 round. Callers rotate the roles of the eight variables instead of moving values,
    /// so only `d` and `h` are written.
    @inlinable @inline(__always)
    static func round(
        _ a: Vector, _ b: Vector, _ c: Vector, _ d: Vector,
        _ e: Vector, _ f: Vector, _ g: Vector, _ h: Vector, _ kw: Vector
    ) -> (d: Vector, h: Vector) {
        let t1 = add(add(h, bigSigma1(e)), add(choose(e, f, g), kw))
        let t2 = add(bigSigma0(a), majority(a, b, c))
        return (add(d, t1), add(t1, t2))
    }

    /// Message schedule step for word t (stored in the ring slot of t-16).
    @inlinable @inline(__always)
    static func expand(_ w: Vector, _ w2: Vector, _ w7: Vector, _ w15: Vector) -> Vector {
        add(add(w, sigma1(w2)), add(w7, sigma0(w15)))
    }

    /// The top word (H7, before byte swap) of SHA-256d(header) for one nonce per lane.
    ///
    /// Mining shape: the first 64 header bytes are the job's midstate; rounds 0–2 of the second chunk
    /// do not depend on the nonce and come precomputed (`state3`); the rest of that chunk is fixed
    /// padding, and the second hash's message is half fixed padding, so the constant parts of both
    /// schedules fold at compile time. Only H7 is returned, so the optimizer also drops the second
    /// hash's last three rounds and the other seven output words.
    @inlinable @inline(__always)
    static func topWord(_ job: HeaderScanJob, nonceWords: Vector, k: UnsafePointer<UInt32>) -> Vector {
        // First hash, second chunk: words 0-2 are the header's last merkle-root bytes, time and bits;
        // word 3 is the nonce; the rest is the fixed padding of an 80-byte message. Rounds 0-2 come
        // precomputed in the job (they do not depend on the nonce).
        let zero = splat(0)
        var (w0, w1, w2, w3) = (splat(job.tail0), splat(job.tail1), splat(job.tail2), nonceWords)
        var (w4, w5, w6, w7) = (splat(0x8000_0000), zero, zero, zero)
        var (w8, w9, w10, w11) = (zero, zero, zero, zero)
        var (w12, w13, w14, w15) = (zero, zero, zero, splat(640))
        let s = job.state3
        var (a, b, c, d) = (splat(s.a), splat(s.b), splat(s.c), splat(s.d))
        var (e, f, g, h) = (splat(s.e), splat(s.f), splat(s.g), splat(s.h))
        let (pe4, pa4) = round(a, b, c, d, e, f, g, h, add(splat(0xe9b5_dba5), w3))
        let (pe5, pa5) = round(pa4, a, b, c, pe4, e, f, g, add(splat(0x3956_c25b), w4))
        let (pe6, pa6) = round(pa5, pa4, a, b, pe5, pe4, e, f, add(splat(0x59f1_11f1), w5))
        let (pe7, pa7) = round(pa6, pa5, pa4, a, pe6, pe5, pe4, e, add(splat(0x923f_82a4), w6))
        let (pe8, pa8) = round(pa7, pa6, pa5, pa4, pe7, pe6, pe5, pe4, add(splat(0xab1c_5ed5), w7))
        let (pe9, pa9) = round(pa8, pa7, pa6, pa5, pe8, pe7, pe6, pe5, add(splat(0xd807_aa98), w8))
        let (pe10, pa10) = round(pa9, pa8, pa7, pa6, pe9, pe8, pe7, pe6, add(splat(0x1283_5b01), w9))
        let (pe11, pa11) = round(pa10, pa9, pa8, pa7, pe10, pe9, pe8, pe7, add(splat(0x2431_85be), w10))
        let (pe12, pa12) = round(pa11, pa10, pa9, pa8, pe11, pe10, pe9, pe8, add(splat(0x550c_7dc3), w11))
        let (pe13, pa13) = round(pa12, pa11, pa10, pa9, pe12, pe11, pe10, pe9, add(splat(0x72be_5d74), w12))
        let (pe14, pa14) = round(pa13, pa12, pa11, pa10, pe13, pe12, pe11, pe10, add(splat(0x80de_b1fe), w13))
        let (pe15, pa15) = round(pa14, pa13, pa12, pa11, pe14, pe13, pe12, pe11, add(splat(0x9bdc_06a7), w14))
        let (pe16, pa16) = round(pa15, pa14, pa13, pa12, pe15, pe14, pe13, pe12, add(splat(0xc19b_f174), w15))
        (a, b, c, d, e, f, g, h) = (pa16, pa15, pa14, pa13, pe16, pe15, pe14, pe13)
        // Rounds 16-63 as three passes of a 16-round block: small enough to compile quickly, and the
        // sixteen schedule words stay in registers across passes.
        for base in stride(from: 16, to: 64, by: 16) {
            let rw16 = expand(w0, w14, w9, w1)
            let (re17, ra17) = round(a, b, c, d, e, f, g, h, add(splat(k[base + 0]), rw16))
            let rw17 = expand(w1, w15, w10, w2)
            let (re18, ra18) = round(ra17, a, b, c, re17, e, f, g, add(splat(k[base + 1]), rw17))
            let rw18 = expand(w2, rw16, w11, w3)
            let (re19, ra19) = round(ra18, ra17, a, b, re18, re17, e, f, add(splat(k[base + 2]), rw18))
            let rw19 = expand(w3, rw17, w12, w4)
            let (re20, ra20) = round(ra19, ra18, ra17, a, re19, re18, re17, e, add(splat(k[base + 3]), rw19))
            let rw20 = expand(w4, rw18, w13, w5)
            let (re21, ra21) = round(ra20, ra19, ra18, ra17, re20, re19, re18, re17, add(splat(k[base + 4]), rw20))
            let rw21 = expand(w5, rw19, w14, w6)
            let (re22, ra22) = round(ra21, ra20, ra19, ra18, re21, re20, re19, re18, add(splat(k[base + 5]), rw21))
            let rw22 = expand(w6, rw20, w15, w7)
            let (re23, ra23) = round(ra22, ra21, ra20, ra19, re22, re21, re20, re19, add(splat(k[base + 6]), rw22))
            let rw23 = expand(w7, rw21, rw16, w8)
            let (re24, ra24) = round(ra23, ra22, ra21, ra20, re23, re22, re21, re20, add(splat(k[base + 7]), rw23))
            let rw24 = expand(w8, rw22, rw17, w9)
            let (re25, ra25) = round(ra24, ra23, ra22, ra21, re24, re23, re22, re21, add(splat(k[base + 8]), rw24))
            let rw25 = expand(w9, rw23, rw18, w10)
            let (re26, ra26) = round(ra25, ra24, ra23, ra22, re25, re24, re23, re22, add(splat(k[base + 9]), rw25))
            let rw26 = expand(w10, rw24, rw19, w11)
            let (re27, ra27) = round(ra26, ra25, ra24, ra23, re26, re25, re24, re23, add(splat(k[base + 10]), rw26))
            let rw27 = expand(w11, rw25, rw20, w12)
            let (re28, ra28) = round(ra27, ra26, ra25, ra24, re27, re26, re25, re24, add(splat(k[base + 11]), rw27))
            let rw28 = expand(w12, rw26, rw21, w13)
            let (re29, ra29) = round(ra28, ra27, ra26, ra25, re28, re27, re26, re25, add(splat(k[base + 12]), rw28))
            let rw29 = expand(w13, rw27, rw22, w14)
            let (re30, ra30) = round(ra29, ra28, ra27, ra26, re29, re28, re27, re26, add(splat(k[base + 13]), rw29))
            let rw30 = expand(w14, rw28, rw23, w15)
            let (re31, ra31) = round(ra30, ra29, ra28, ra27, re30, re29, re28, re27, add(splat(k[base + 14]), rw30))
            let rw31 = expand(w15, rw29, rw24, rw16)
            let (re32, ra32) = round(ra31, ra30, ra29, ra28, re31, re30, re29, re28, add(splat(k[base + 15]), rw31))
            (a, b, c, d, e, f, g, h) = (ra32, ra31, ra30, ra29, re32, re31, re30, re29)
            (w0, w1, w2, w3, w4, w5, w6, w7, w8, w9, w10, w11, w12, w13, w14, w15) = (
                rw16, rw17, rw18, rw19, rw20, rw21, rw22, rw23, rw24, rw25, rw26, rw27, rw28, rw29, rw30, rw31
            )
        }
        // Feed-forward; the digest is the second hash's message, padded for 256 bits.
        let m = job.midstate
        (w0, w1, w2, w3) = (add(a, splat(m.a)), add(b, splat(m.b)), add(c, splat(m.c)), add(d, splat(m.d)))
        (w4, w5, w6, w7) = (add(e, splat(m.e)), add(f, splat(m.f)), add(g, splat(m.g)), add(h, splat(m.h)))
        (w8, w9, w10, w11) = (splat(0x8000_0000), zero, zero, zero)
        (w12, w13, w14, w15) = (zero, zero, zero, splat(256))
        let iv = SHA256State.initial
        (a, b, c, d) = (splat(iv.a), splat(iv.b), splat(iv.c), splat(iv.d))
        (e, f, g, h) = (splat(iv.e), splat(iv.f), splat(iv.g), splat(iv.h))
        let (qe1, qa1) = round(a, b, c, d, e, f, g, h, add(splat(0x428a_2f98), w0))
        let (qe2, qa2) = round(qa1, a, b, c, qe1, e, f, g, add(splat(0x7137_4491), w1))
        let (qe3, qa3) = round(qa2, qa1, a, b, qe2, qe1, e, f, add(splat(0xb5c0_fbcf), w2))
        let (qe4, qa4) = round(qa3, qa2, qa1, a, qe3, qe2, qe1, e, add(splat(0xe9b5_dba5), w3))
        let (qe5, qa5) = round(qa4, qa3, qa2, qa1, qe4, qe3, qe2, qe1, add(splat(0x3956_c25b), w4))
        let (qe6, qa6) = round(qa5, qa4, qa3, qa2, qe5, qe4, qe3, qe2, add(splat(0x59f1_11f1), w5))
        let (qe7, qa7) = round(qa6, qa5, qa4, qa3, qe6, qe5, qe4, qe3, add(splat(0x923f_82a4), w6))
        let (qe8, qa8) = round(qa7, qa6, qa5, qa4, qe7, qe6, qe5, qe4, add(splat(0xab1c_5ed5), w7))
        let (qe9, qa9) = round(qa8, qa7, qa6, qa5, qe8, qe7, qe6, qe5, add(splat(0xd807_aa98), w8))
        let (qe10, qa10) = round(qa9, qa8, qa7, qa6, qe9, qe8, qe7, qe6, add(splat(0x1283_5b01), w9))
        let (qe11, qa11) = round(qa10, qa9, qa8, qa7, qe10, qe9, qe8, qe7, add(splat(0x2431_85be), w10))
        let (qe12, qa12) = round(qa11, qa10, qa9, qa8, qe11, qe10, qe9, qe8, add(splat(0x550c_7dc3), w11))
        let (qe13, qa13) = round(qa12, qa11, qa10, qa9, qe12, qe11, qe10, qe9, add(splat(0x72be_5d74), w12))
        let (qe14, qa14) = round(qa13, qa12, qa11, qa10, qe13, qe12, qe11, qe10, add(splat(0x80de_b1fe), w13))
        let (qe15, qa15) = round(qa14, qa13, qa12, qa11, qe14, qe13, qe12, qe11, add(splat(0x9bdc_06a7), w14))
        let (qe16, qa16) = round(qa15, qa14, qa13, qa12, qe15, qe14, qe13, qe12, add(splat(0xc19b_f174), w15))
        (a, b, c, d, e, f, g, h) = (qa16, qa15, qa14, qa13, qe16, qe15, qe14, qe13)
        for base in stride(from: 16, to: 48, by: 16) {
            let rw16 = expand(w0, w14, w9, w1)
            let (re17, ra17) = round(a, b, c, d, e, f, g, h, add(splat(k[base + 0]), rw16))
            let rw17 = expand(w1, w15, w10, w2)
            let (re18, ra18) = round(ra17, a, b, c, re17, e, f, g, add(splat(k[base + 1]), rw17))
            let rw18 = expand(w2, rw16, w11, w3)
            let (re19, ra19) = round(ra18, ra17, a, b, re18, re17, e, f, add(splat(k[base + 2]), rw18))
            let rw19 = expand(w3, rw17, w12, w4)
            let (re20, ra20) = round(ra19, ra18, ra17, a, re19, re18, re17, e, add(splat(k[base + 3]), rw19))
            let rw20 = expand(w4, rw18, w13, w5)
            let (re21, ra21) = round(ra20, ra19, ra18, ra17, re20, re19, re18, re17, add(splat(k[base + 4]), rw20))
            let rw21 = expand(w5, rw19, w14, w6)
            let (re22, ra22) = round(ra21, ra20, ra19, ra18, re21, re20, re19, re18, add(splat(k[base + 5]), rw21))
            let rw22 = expand(w6, rw20, w15, w7)
            let (re23, ra23) = round(ra22, ra21, ra20, ra19, re22, re21, re20, re19, add(splat(k[base + 6]), rw22))
            let rw23 = expand(w7, rw21, rw16, w8)
            let (re24, ra24) = round(ra23, ra22, ra21, ra20, re23, re22, re21, re20, add(splat(k[base + 7]), rw23))
            let rw24 = expand(w8, rw22, rw17, w9)
            let (re25, ra25) = round(ra24, ra23, ra22, ra21, re24, re23, re22, re21, add(splat(k[base + 8]), rw24))
            let rw25 = expand(w9, rw23, rw18, w10)
            let (re26, ra26) = round(ra25, ra24, ra23, ra22, re25, re24, re23, re22, add(splat(k[base + 9]), rw25))
            let rw26 = expand(w10, rw24, rw19, w11)
            let (re27, ra27) = round(ra26, ra25, ra24, ra23, re26, re25, re24, re23, add(splat(k[base + 10]), rw26))
            let rw27 = expand(w11, rw25, rw20, w12)
            let (re28, ra28) = round(ra27, ra26, ra25, ra24, re27, re26, re25, re24, add(splat(k[base + 11]), rw27))
            let rw28 = expand(w12, rw26, rw21, w13)
            let (re29, ra29) = round(ra28, ra27, ra26, ra25, re28, re27, re26, re25, add(splat(k[base + 12]), rw28))
            let rw29 = expand(w13, rw27, rw22, w14)
            let (re30, ra30) = round(ra29, ra28, ra27, ra26, re29, re28, re27, re26, add(splat(k[base + 13]), rw29))
            let rw30 = expand(w14, rw28, rw23, w15)
            let (re31, ra31) = round(ra30, ra29, ra28, ra27, re30, re29, re28, re27, add(splat(k[base + 14]), rw30))
            let rw31 = expand(w15, rw29, rw24, rw16)
            let (re32, ra32) = round(ra31, ra30, ra29, ra28, re31, re30, re29, re28, add(splat(k[base + 15]), rw31))
            (a, b, c, d, e, f, g, h) = (ra32, ra31, ra30, ra29, re32, re31, re30, re29)
            (w0, w1, w2, w3, w4, w5, w6, w7, w8, w9, w10, w11, w12, w13, w14, w15) = (
                rw16, rw17, rw18, rw19, rw20, rw21, rw22, rw23, rw24, rw25, rw26, rw27, rw28, rw29, rw30, rw31
            )
        }
        // Rounds 48-60 only: after round 60 the new e is already the final h, so rounds 61-63
        // cannot change H7 and are skipped.
        let tw48 = expand(w0, w14, w9, w1)
        let (te49, ta49) = round(a, b, c, d, e, f, g, h, add(splat(0x19a4_c116), tw48))
        let tw49 = expand(w1, w15, w10, w2)
        let (te50, ta50) = round(ta49, a, b, c, te49, e, f, g, add(splat(0x1e37_6c08), tw49))
        let tw50 = expand(w2, tw48, w11, w3)
        let (te51, ta51) = round(ta50, ta49, a, b, te50, te49, e, f, add(splat(0x2748_774c), tw50))
        let tw51 = expand(w3, tw49, w12, w4)
        let (te52, ta52) = round(ta51, ta50, ta49, a, te51, te50, te49, e, add(splat(0x34b0_bcb5), tw51))
        let tw52 = expand(w4, tw50, w13, w5)
        let (te53, ta53) = round(ta52, ta51, ta50, ta49, te52, te51, te50, te49, add(splat(0x391c_0cb3), tw52))
        let tw53 = expand(w5, tw51, w14, w6)
        let (te54, ta54) = round(ta53, ta52, ta51, ta50, te53, te52, te51, te50, add(splat(0x4ed8_aa4a), tw53))
        let tw54 = expand(w6, tw52, w15, w7)
        let (te55, ta55) = round(ta54, ta53, ta52, ta51, te54, te53, te52, te51, add(splat(0x5b9c_ca4f), tw54))
        let tw55 = expand(w7, tw53, tw48, w8)
        let (te56, ta56) = round(ta55, ta54, ta53, ta52, te55, te54, te53, te52, add(splat(0x682e_6ff3), tw55))
        let tw56 = expand(w8, tw54, tw49, w9)
        let (te57, ta57) = round(ta56, ta55, ta54, ta53, te56, te55, te54, te53, add(splat(0x748f_82ee), tw56))
        let tw57 = expand(w9, tw55, tw50, w10)
        let (te58, ta58) = round(ta57, ta56, ta55, ta54, te57, te56, te55, te54, add(splat(0x78a5_636f), tw57))
        let tw58 = expand(w10, tw56, tw51, w11)
        let (te59, ta59) = round(ta58, ta57, ta56, ta55, te58, te57, te56, te55, add(splat(0x84c8_7814), tw58))
        let tw59 = expand(w11, tw57, tw52, w12)
        let (te60, ta60) = round(ta59, ta58, ta57, ta56, te59, te58, te57, te56, add(splat(0x8cc7_0208), tw59))
        let tw60 = expand(w12, tw58, tw53, w13)
        let (te61, _) = round(ta60, ta59, ta58, ta57, te60, te59, te58, te57, add(splat(0x90be_fffa), tw60))
        return add(te61, splat(iv.h))
    }

    /// Searches nonces `first ..< first + count` of `job` and writes to `out` every nonce whose hash's
    /// most significant 32 bits (see `SHA256Digest.mostSignificantWord`) are at most `targetHigh`.
    ///
    /// This is the early reject: a hash at or below a 256-bit target always passes it, so no winner
    /// is dropped; the caller must check each candidate against the full target with the reference.
    /// Stops early, reporting fewer nonces scanned, when `out` has room for fewer than `laneCount`
    /// more candidates. No allocation, no locks: call it in a loop from a worker thread.
    @inlinable @inline(__always)
    public static func scan(
        _ job: HeaderScanJob, first: UInt32, count: UInt64, targetHigh: UInt32,
        out: UnsafeMutableBufferPointer<UInt32>
    ) -> ScanOutcome {
        sha256RoundConstants.withUnsafeBufferPointer { kBuffer in
            let k = kBuffer.baseAddress!
            let total = Swift.min(count, (1 << 32) - UInt64(first))
            let lanes = UInt64(laneCount)
            var done: UInt64 = 0
            var found = 0
            while done < total && out.count - found >= laneCount {
                let base = first &+ UInt32(truncatingIfNeeded: done)
                let top = byteSwap(topWord(job, nonceWords: byteSwap(iota(base)), k: k))
                let valid = Int(Swift.min(lanes, total - done))
                if _slowPath(minLane(top) <= targetHigh) {
                    for i in 0..<valid where lane(top, i) <= targetHigh {
                        out[found] = base &+ UInt32(truncatingIfNeeded: i)
                        found += 1
                    }
                }
                done += UInt64(valid)
            }
            return ScanOutcome(scanned: done, candidates: found)
        }
    }

    /// Writes `SHA256Digest.mostSignificantWord` of SHA-256d(header with nonce `first + i`) to `out[i]`
    /// for every `i` in `out`'s range: the kernel's own output, for differential tests and self-tests.
    @inlinable
    public static func mostSignificantWords(
        _ job: HeaderScanJob, first: UInt32, out: UnsafeMutableBufferPointer<UInt32>
    ) {
        sha256RoundConstants.withUnsafeBufferPointer { kBuffer in
            var i = 0
            while i < out.count {
                let nonces = byteSwap(iota(first &+ UInt32(truncatingIfNeeded: i)))
                let top = byteSwap(topWord(job, nonceWords: nonces, k: kBuffer.baseAddress!))
                for lane in 0..<Swift.min(laneCount, out.count - i) {
                    out[i + lane] = Self.lane(top, lane)
                }
                i += laneCount
            }
        }
    }
}

/// The lane kernel on plain `UInt32`: one nonce per step, portable to any CPU.
public enum ScalarLanes: SHA256LaneOps {
    public typealias Vector = UInt32
    @inlinable public static var laneCount: Int { 1 }
    @inlinable @inline(__always) public static func splat(_ x: UInt32) -> UInt32 { x }
    @inlinable @inline(__always) public static func add(_ a: UInt32, _ b: UInt32) -> UInt32 { a &+ b }
    @inlinable @inline(__always) public static func xor(_ a: UInt32, _ b: UInt32) -> UInt32 { a ^ b }
    @inlinable @inline(__always) public static func and(_ a: UInt32, _ b: UInt32) -> UInt32 { a & b }
    @inlinable @inline(__always) public static func or(_ a: UInt32, _ b: UInt32) -> UInt32 { a | b }
    @inlinable @inline(__always) public static func shr(_ x: UInt32, _ n: Int32) -> UInt32 { x &>> UInt32(n) }
    @inlinable @inline(__always) public static func rotr(_ x: UInt32, _ n: Int32) -> UInt32 {
        (x &>> UInt32(n)) | (x &<< UInt32(32 - n))
    }
    @inlinable @inline(__always) public static func byteSwap(_ x: UInt32) -> UInt32 { x.byteSwapped }
    @inlinable @inline(__always) public static func iota(_ first: UInt32) -> UInt32 { first }
    @inlinable @inline(__always) public static func minLane(_ x: UInt32) -> UInt32 { x }
    @inlinable @inline(__always) public static func lane(_ x: UInt32, _ i: Int) -> UInt32 { x }
}

/// The portable scalar mining kernel (specialized here, in the hashing core).
public enum ScalarKernel {
    public static let laneCount = 1

    public static func scan(
        _ job: HeaderScanJob, first: UInt32, count: UInt64, targetHigh: UInt32,
        out: UnsafeMutableBufferPointer<UInt32>
    ) -> ScanOutcome {
        ScalarLanes.scan(job, first: first, count: count, targetHigh: targetHigh, out: out)
    }

    public static func mostSignificantWords(
        _ job: HeaderScanJob, first: UInt32, out: UnsafeMutableBufferPointer<UInt32>
    ) {
        ScalarLanes.mostSignificantWords(job, first: first, out: out)
    }
}
