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
    /// Whether any lane is at most `limit` (the early reject, once per step).
    static func anyLaneAtMost(_ x: Vector, _ limit: UInt32) -> Bool
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
    public static func anyLaneAtMost(_ x: Vector, _ limit: UInt32) -> Bool { minLane(x) <= limit }

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

    /// One round on a state tuple (a, b, c, d, e, f, g, h), rotating the roles.
    @inlinable @inline(__always)
    static func step(_ s: inout (Vector, Vector, Vector, Vector, Vector, Vector, Vector, Vector), _ kw: Vector) {
        let (e1, a1) = round(s.0, s.1, s.2, s.3, s.4, s.5, s.6, s.7, kw)
        s = (a1, s.0, s.1, s.2, e1, s.4, s.5, s.6)
    }

    /// The top word (H7, before byte swap) of SHA-256d(header) for one nonce per lane.
    ///
    /// Mining shape: the first 64 header bytes are the job's midstate; rounds 0–2 of the second chunk
    /// do not depend on the nonce and round 3 only adds the nonce word to two job constants (see
    /// `HeaderScanJob`). The rest of that chunk is fixed padding, and the second hash's message is half
    /// fixed padding: the schedule rounds that read padding words (16–31 of each hash) are unrolled so
    /// their zero and constant terms fold at compile time, and the nonce-independent terms come from the
    /// job. Only H7 is returned, so the optimizer also drops the second hash's last three rounds and the
    /// other seven output words.
    @inlinable @inline(__always)
    static func topWord(_ job: HeaderScanJob, nonceWords n: Vector, k: UnsafePointer<UInt32>) -> Vector {
        // First hash, second chunk: words 0-2 are the header's last merkle-root bytes, time and bits;
        // word 3 is the nonce; words 4-15 are the fixed padding of an 80-byte message (0x80000000, ten
        // zeros, the length 640). Round 3 is linear in the nonce word: the job holds its outcome for 0.
        let s = job.state3
        var st = (
            add(splat(job.round3A), n), splat(s.a), splat(s.b), splat(s.c),
            add(splat(job.round3E), n), splat(s.e), splat(s.f), splat(s.g)
        )
        // Rounds 4-15 read constant words: K + W is one constant per round.
        step(&st, splat(k[4] &+ 0x8000_0000))
        step(&st, splat(k[5]))
        step(&st, splat(k[6]))
        step(&st, splat(k[7]))
        step(&st, splat(k[8]))
        step(&st, splat(k[9]))
        step(&st, splat(k[10]))
        step(&st, splat(k[11]))
        step(&st, splat(k[12]))
        step(&st, splat(k[13]))
        step(&st, splat(k[14]))
        step(&st, splat(k[15] &+ 640))
        // Rounds 16-31: W16, W17 are the job's; W18…W31 keep only the terms that are not zero padding.
        let w16 = splat(job.w16)
        let w17 = splat(job.w17)
        let w18 = add(splat(job.w18Base), sigma0(n))
        let w19 = add(splat(job.w19Base), n)
        step(&st, splat(k[16] &+ job.w16))
        step(&st, splat(k[17] &+ job.w17))
        step(&st, add(splat(k[18]), w18))
        step(&st, add(splat(k[19]), w19))
        let w20 = add(sigma1(w18), splat(0x8000_0000))
        step(&st, add(splat(k[20]), w20))
        let w21 = sigma1(w19)
        step(&st, add(splat(k[21]), w21))
        let w22 = add(sigma1(w20), splat(640))
        step(&st, add(splat(k[22]), w22))
        let w23 = add(sigma1(w21), w16)
        step(&st, add(splat(k[23]), w23))
        let w24 = add(sigma1(w22), w17)
        step(&st, add(splat(k[24]), w24))
        let w25 = add(sigma1(w23), w18)
        step(&st, add(splat(k[25]), w25))
        let w26 = add(sigma1(w24), w19)
        step(&st, add(splat(k[26]), w26))
        let w27 = add(sigma1(w25), w20)
        step(&st, add(splat(k[27]), w27))
        let w28 = add(sigma1(w26), w21)
        step(&st, add(splat(k[28]), w28))
        let w29 = add(sigma1(w27), w22)
        step(&st, add(splat(k[29]), w29))
        let w30 = add(sigma1(w28), w23, sigma0(splat(640)))
        step(&st, add(splat(k[30]), w30))
        let w31 = add(sigma1(w29), w24, splat(job.w31Base))
        step(&st, add(splat(k[31]), w31))
        let zero = splat(0)
        var (a, b, c, d, e, f, g, h) = st
        var (w0, w1, w2, w3, w4, w5, w6, w7) = (w16, w17, w18, w19, w20, w21, w22, w23)
        var (w8, w9, w10, w11, w12, w13, w14, w15) = (w24, w25, w26, w27, w28, w29, w30, w31)
        // Rounds 32-63 as two passes of a 16-round block: small enough to compile quickly, and the
        // sixteen schedule words stay in registers across passes.
        for base in stride(from: 32, to: 64, by: 16) {
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
        // The initial hash value as literals, not `SHA256State.initial`: a global from another module is
        // reached through an accessor call, which in this loop cost a call, a vzeroupper and eight
        // vector spills per step, and hid the constants that fold rounds 0-2 at compile time.
        (a, b, c, d) = (splat(0x6a09_e667), splat(0xbb67_ae85), splat(0x3c6e_f372), splat(0xa54f_f53a))
        (e, f, g, h) = (splat(0x510e_527f), splat(0x9b05_688c), splat(0x1f83_d9ab), splat(0x5be0_cd19))
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
        // Rounds 16-31, unrolled: W8…W15 are the padding of a 32-byte message (0x80000000, six zeros,
        // the length 256), so their terms fold at compile time.
        st = (a, b, c, d, e, f, g, h)
        let v16 = add(w0, sigma0(w1))
        step(&st, add(splat(k[16]), v16))
        let v17 = add(w1, sigma0(w2), sigma1(splat(256)))
        step(&st, add(splat(k[17]), v17))
        let v18 = add(w2, sigma0(w3), sigma1(v16))
        step(&st, add(splat(k[18]), v18))
        let v19 = add(w3, sigma0(w4), sigma1(v17))
        step(&st, add(splat(k[19]), v19))
        let v20 = add(w4, sigma0(w5), sigma1(v18))
        step(&st, add(splat(k[20]), v20))
        let v21 = add(w5, sigma0(w6), sigma1(v19))
        step(&st, add(splat(k[21]), v21))
        let v22 = add(add(w6, sigma0(w7)), add(sigma1(v20), splat(256)))
        step(&st, add(splat(k[22]), v22))
        let v23 = add(add(w7, sigma0(splat(0x8000_0000))), add(sigma1(v21), v16))
        step(&st, add(splat(k[23]), v23))
        let v24 = add(sigma1(v22), v17, splat(0x8000_0000))
        step(&st, add(splat(k[24]), v24))
        let v25 = add(sigma1(v23), v18)
        step(&st, add(splat(k[25]), v25))
        let v26 = add(sigma1(v24), v19)
        step(&st, add(splat(k[26]), v26))
        let v27 = add(sigma1(v25), v20)
        step(&st, add(splat(k[27]), v27))
        let v28 = add(sigma1(v26), v21)
        step(&st, add(splat(k[28]), v28))
        let v29 = add(sigma1(v27), v22)
        step(&st, add(splat(k[29]), v29))
        let v30 = add(sigma1(v28), v23, sigma0(splat(256)))
        step(&st, add(splat(k[30]), v30))
        let v31 = add(add(sigma1(v29), v24), add(sigma0(v16), splat(256)))
        step(&st, add(splat(k[31]), v31))
        (a, b, c, d, e, f, g, h) = st
        (w0, w1, w2, w3, w4, w5, w6, w7) = (v16, v17, v18, v19, v20, v21, v22, v23)
        (w8, w9, w10, w11, w12, w13, w14, w15) = (v24, v25, v26, v27, v28, v29, v30, v31)
        for base in stride(from: 32, to: 48, by: 16) {
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
        return add(te61, splat(0x5be0_cd19))
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
                if _slowPath(anyLaneAtMost(top, targetHigh)) {
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
