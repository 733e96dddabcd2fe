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
    /// SHA-256's Ch: for each bit, `f` where `e` is set, else `g`.
    static func choose(_ e: Vector, _ f: Vector, _ g: Vector) -> Vector
    /// SHA-256's Maj: for each bit, the value at least two of `a`, `b`, `c` have.
    static func majority(_ a: Vector, _ b: Vector, _ c: Vector) -> Vector
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

    /// Default Ch: three logic operations.
    @inlinable @inline(__always)
    public static func choose(_ e: Vector, _ f: Vector, _ g: Vector) -> Vector { xor(g, and(e, xor(f, g))) }

    /// Default Maj: four logic operations, none shared between rounds. Chosen by measurement per ISA:
    /// the scalar kernel ran slower with the three-operation form that `AVX2Lanes8.majority` uses.
    @inlinable @inline(__always)
    public static func majority(_ a: Vector, _ b: Vector, _ c: Vector) -> Vector { or(and(a, b), and(c, or(a, b))) }

    /// The state between rounds, software-pipelined: the a-chain runs one round behind the e-chain.
    /// Before round t+1 it holds a, b, c and T1 of round t (its a-chain still to do), then e, f, g and
    /// h + K + W of round t+1. Round t+1's d is round t's c.
    @usableFromInline
    typealias RoundState = (Vector, Vector, Vector, Vector, Vector, Vector, Vector, Vector)

    /// Sixteen consecutive message-schedule words, oldest first.
    @usableFromInline
    typealias ScheduleWindow = (
        Vector, Vector, Vector, Vector, Vector, Vector, Vector, Vector,
        Vector, Vector, Vector, Vector, Vector, Vector, Vector, Vector
    )

    /// T1 of a round: h + K + W (`hkw`) + Σ1(e) + Ch(e, f, g).
    @inlinable @inline(__always)
    static func temp1(_ e: Vector, _ f: Vector, _ g: Vector, _ hkw: Vector) -> Vector {
        add(hkw, add(bigSigma1(e), choose(e, f, g)))
    }

    /// Starts the pipeline from the plain state before a round (a, b, c, d, e, f, g and h + K + W):
    /// that round's e-chain. `nextKW` is K + W of the round after.
    @inlinable @inline(__always)
    static func begin(
        _ a: Vector, _ b: Vector, _ c: Vector, _ d: Vector,
        _ e: Vector, _ f: Vector, _ g: Vector, _ hkw: Vector, _ nextKW: Vector
    ) -> RoundState {
        let next = add(g, nextKW)
        let t1 = temp1(e, f, g, hkw)
        return (a, b, c, t1, add(d, t1), e, f, next)
    }

    /// The e-chain of round t+1, then the a-chain of round t; `nextKW` is K + W of round t+2.
    ///
    /// Why this pairing: within one call, g (the next round's h) is also consumed by the next h + K + W,
    /// and c (round t+1's d) by the new e, so every use of g and of c sits in the same call as `choose`
    /// and `majority`, which read them last. The register allocator can then let AVX-512's
    /// destructive vpternlogd overwrite them instead of copying them first: the 16-round block has no
    /// register moves (measured; see docs/performance.md, third pass).
    @inlinable @inline(__always)
    static func advance(_ s: inout RoundState, _ nextKW: Vector) {
        let next = add(s.6, nextKW)
        let t1 = temp1(s.4, s.5, s.6, s.7)
        let e = add(s.2, t1)
        let a = add(s.3, add(bigSigma0(s.0), majority(s.0, s.1, s.2)))
        s = (a, s.0, s.1, t1, e, s.4, s.5, next)
    }

    /// Message schedule step for word t from words t-16, t-2, t-7 and t-15.
    @inlinable @inline(__always)
    static func expand(_ w: Vector, _ w2: Vector, _ w7: Vector, _ w15: Vector) -> Vector {
        add(add(w, sigma1(w2)), add(w7, sigma0(w15)))
    }

    /// Schedule words t…t+15 and the sixteen `advance` calls that take them, where `st` holds h + K + W
    /// of round t-1 (its e-chain not yet run) and `w` holds words t-16…t-1; `w` becomes words t…t+15.
    /// `k` points at K[t].
    @inlinable @inline(__always)
    static func sixteenRounds(_ st: inout RoundState, _ w: inout ScheduleWindow, _ k: UnsafePointer<UInt32>) {
        let r1 = expand(w.0, w.14, w.9, w.1)
        advance(&st, add(splat(k[0]), r1))
        let r2 = expand(w.1, w.15, w.10, w.2)
        advance(&st, add(splat(k[1]), r2))
        let r3 = expand(w.2, r1, w.11, w.3)
        advance(&st, add(splat(k[2]), r3))
        let r4 = expand(w.3, r2, w.12, w.4)
        advance(&st, add(splat(k[3]), r4))
        let r5 = expand(w.4, r3, w.13, w.5)
        advance(&st, add(splat(k[4]), r5))
        let r6 = expand(w.5, r4, w.14, w.6)
        advance(&st, add(splat(k[5]), r6))
        let r7 = expand(w.6, r5, w.15, w.7)
        advance(&st, add(splat(k[6]), r7))
        let r8 = expand(w.7, r6, r1, w.8)
        advance(&st, add(splat(k[7]), r8))
        let r9 = expand(w.8, r7, r2, w.9)
        advance(&st, add(splat(k[8]), r9))
        let r10 = expand(w.9, r8, r3, w.10)
        advance(&st, add(splat(k[9]), r10))
        let r11 = expand(w.10, r9, r4, w.11)
        advance(&st, add(splat(k[10]), r11))
        let r12 = expand(w.11, r10, r5, w.12)
        advance(&st, add(splat(k[11]), r12))
        let r13 = expand(w.12, r11, r6, w.13)
        advance(&st, add(splat(k[12]), r13))
        let r14 = expand(w.13, r12, r7, w.14)
        advance(&st, add(splat(k[13]), r14))
        let r15 = expand(w.14, r13, r8, w.15)
        advance(&st, add(splat(k[14]), r15))
        let r16 = expand(w.15, r14, r9, r1)
        advance(&st, add(splat(k[15]), r16))
        w = (r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, r12, r13, r14, r15, r16)
    }

    /// The top word (H7, before byte swap) of SHA-256d(header) for one nonce per lane.
    ///
    /// Mining shape: the first 64 header bytes are the job's midstate; rounds 0–2 of the second chunk
    /// do not depend on the nonce and round 3 only adds the nonce word to two job constants (see
    /// `HeaderScanJob`). The rest of that chunk is fixed padding, and the second hash's message is half
    /// fixed padding: the schedule rounds that read padding words (16–31 of each hash) are unrolled so
    /// their zero and constant terms fold at compile time, and the nonce-independent terms come from the
    /// job. Only H7 is returned, and after round 60 the new e is already the final h, so the optimizer
    /// drops everything the last block computes after round 60's e-chain (rounds 61-63 and the words
    /// they read) and the a-chains of rounds 57-60, which no longer reach H7.
    ///
    /// Package-visible so that the hybrid kernels (`SHA256KernelsHybrid`) can run one lane step beside
    /// their SHA-extension streams inside their own loop; `k` points at `sha256RoundConstants`.
    @inlinable @inline(__always)
    package static func topWord(_ job: HeaderScanJob, nonceWords n: Vector, k: UnsafePointer<UInt32>) -> Vector {
        // First hash, second chunk: words 0-2 are the header's last merkle-root bytes, time and bits;
        // word 3 is the nonce; words 4-15 are the fixed padding of an 80-byte message (0x80000000, ten
        // zeros, the length 640). Round 3 is linear in the nonce word: the job holds its outcome for 0.
        //
        // `begin` runs round 4's e-chain and is given K + W of round 5; each `advance` runs the next
        // round's e-chain and the previous round's a-chain and is given K + W of the round after. The
        // comments below name rounds by the K + W the calls pass.
        // Rounds 5-15 read constant words: K + W is one constant per round.
        let s = job.state3
        var st = begin(
            add(splat(job.round3A), n), splat(s.a), splat(s.b), splat(s.c),
            add(splat(job.round3E), n), splat(s.e), splat(s.f), splat(s.g &+ k[4] &+ 0x8000_0000), splat(k[5])
        )
        advance(&st, splat(k[6]))
        advance(&st, splat(k[7]))
        advance(&st, splat(k[8]))
        advance(&st, splat(k[9]))
        advance(&st, splat(k[10]))
        advance(&st, splat(k[11]))
        advance(&st, splat(k[12]))
        advance(&st, splat(k[13]))
        advance(&st, splat(k[14]))
        advance(&st, splat(k[15] &+ 640))
        // Rounds 16-31: W16, W17 are the job's; W18…W31 keep only the terms that are not zero padding.
        advance(&st, splat(k[16] &+ job.w16))
        let w16 = splat(job.w16)
        let w17 = splat(job.w17)
        advance(&st, splat(k[17] &+ job.w17))
        let w18 = add(splat(job.w18Base), sigma0(n))
        advance(&st, add(splat(k[18]), w18))
        let w19 = add(splat(job.w19Base), n)
        advance(&st, add(splat(k[19]), w19))
        let w20 = add(sigma1(w18), splat(0x8000_0000))
        advance(&st, add(splat(k[20]), w20))
        let w21 = sigma1(w19)
        advance(&st, add(splat(k[21]), w21))
        let w22 = add(sigma1(w20), splat(640))
        advance(&st, add(splat(k[22]), w22))
        let w23 = add(sigma1(w21), w16)
        advance(&st, add(splat(k[23]), w23))
        let w24 = add(sigma1(w22), w17)
        advance(&st, add(splat(k[24]), w24))
        let w25 = add(sigma1(w23), w18)
        advance(&st, add(splat(k[25]), w25))
        let w26 = add(sigma1(w24), w19)
        advance(&st, add(splat(k[26]), w26))
        let w27 = add(sigma1(w25), w20)
        advance(&st, add(splat(k[27]), w27))
        let w28 = add(sigma1(w26), w21)
        advance(&st, add(splat(k[28]), w28))
        let w29 = add(sigma1(w27), w22)
        advance(&st, add(splat(k[29]), w29))
        let w30 = add(sigma1(w28), w23, sigma0(splat(640)))
        advance(&st, add(splat(k[30]), w30))
        let w31 = add(sigma1(w29), w24, splat(job.w31Base))
        advance(&st, add(splat(k[31]), w31))
        var w = (w16, w17, w18, w19, w20, w21, w22, w23, w24, w25, w26, w27, w28, w29, w30, w31)
        // Rounds 32-63 as two passes of a 16-round block: small enough to compile quickly, and the
        // schedule words stay in registers across passes.
        for base in stride(from: 32, to: 64, by: 16) {
            sixteenRounds(&st, &w, k + base)
        }
        // Round 62's a-chain and round 63, then the feed-forward: the digest is the second hash's
        // message, padded for 256 bits.
        let a63 = add(st.3, add(bigSigma0(st.0), majority(st.0, st.1, st.2)))
        let t63 = add(st.7, add(bigSigma1(st.4), choose(st.4, st.5, st.6)))
        let e64 = add(st.2, t63)
        let a64 = add(t63, add(bigSigma0(a63), majority(a63, st.0, st.1)))
        let m = job.midstate
        let (w0, w1, w2, w3) = (
            add(a64, splat(m.a)), add(a63, splat(m.b)), add(st.0, splat(m.c)), add(st.1, splat(m.d))
        )
        let (w4, w5, w6, w7) = (
            add(e64, splat(m.e)), add(st.4, splat(m.f)), add(st.5, splat(m.g)), add(st.6, splat(m.h))
        )
        // The initial hash value as literals, not `SHA256State.initial`: a global from another module is
        // reached through an accessor call, which in this loop cost a call, a vzeroupper and eight
        // vector spills per step, and hid the constants that fold rounds 0-2 at compile time.
        st = begin(
            splat(0x6a09_e667), splat(0xbb67_ae85), splat(0x3c6e_f372), splat(0xa54f_f53a),
            splat(0x510e_527f), splat(0x9b05_688c), splat(0x1f83_d9ab), add(splat(0x5be0_cd19 &+ 0x428a_2f98), w0),
            add(splat(0x7137_4491), w1)
        )
        advance(&st, add(splat(0xb5c0_fbcf), w2))
        advance(&st, add(splat(0xe9b5_dba5), w3))
        advance(&st, add(splat(0x3956_c25b), w4))
        advance(&st, add(splat(0x59f1_11f1), w5))
        advance(&st, add(splat(0x923f_82a4), w6))
        advance(&st, add(splat(0xab1c_5ed5), w7))
        // Words 8-15 are the padding of a 32-byte message (0x80000000, six zeros, the length 256).
        advance(&st, splat(0xd807_aa98 &+ 0x8000_0000))
        advance(&st, splat(0x1283_5b01))
        advance(&st, splat(0x2431_85be))
        advance(&st, splat(0x550c_7dc3))
        advance(&st, splat(0x72be_5d74))
        advance(&st, splat(0x80de_b1fe))
        advance(&st, splat(0x9bdc_06a7))
        advance(&st, splat(0xc19b_f174 &+ 256))
        // Rounds 16-31, unrolled so that the padding words' terms fold at compile time.
        let v16 = add(w0, sigma0(w1))
        advance(&st, add(splat(k[16]), v16))
        let v17 = add(w1, sigma0(w2), sigma1(splat(256)))
        advance(&st, add(splat(k[17]), v17))
        let v18 = add(w2, sigma0(w3), sigma1(v16))
        advance(&st, add(splat(k[18]), v18))
        let v19 = add(w3, sigma0(w4), sigma1(v17))
        advance(&st, add(splat(k[19]), v19))
        let v20 = add(w4, sigma0(w5), sigma1(v18))
        advance(&st, add(splat(k[20]), v20))
        let v21 = add(w5, sigma0(w6), sigma1(v19))
        advance(&st, add(splat(k[21]), v21))
        let v22 = add(add(w6, sigma0(w7)), add(sigma1(v20), splat(256)))
        advance(&st, add(splat(k[22]), v22))
        let v23 = add(add(w7, sigma0(splat(0x8000_0000))), add(sigma1(v21), v16))
        advance(&st, add(splat(k[23]), v23))
        let v24 = add(sigma1(v22), v17, splat(0x8000_0000))
        advance(&st, add(splat(k[24]), v24))
        let v25 = add(sigma1(v23), v18)
        advance(&st, add(splat(k[25]), v25))
        let v26 = add(sigma1(v24), v19)
        advance(&st, add(splat(k[26]), v26))
        let v27 = add(sigma1(v25), v20)
        advance(&st, add(splat(k[27]), v27))
        let v28 = add(sigma1(v26), v21)
        advance(&st, add(splat(k[28]), v28))
        let v29 = add(sigma1(v27), v22)
        advance(&st, add(splat(k[29]), v29))
        let v30 = add(sigma1(v28), v23, sigma0(splat(256)))
        advance(&st, add(splat(k[30]), v30))
        let v31 = add(add(sigma1(v29), v24), add(sigma0(v16), splat(256)))
        advance(&st, add(splat(k[31]), v31))
        w = (v16, v17, v18, v19, v20, v21, v22, v23, v24, v25, v26, v27, v28, v29, v30, v31)
        sixteenRounds(&st, &w, k + 32)
        // Rounds 48-63. Slot 6 is then f of round 62, i.e. the e that round 60 made: the final h. What
        // feeds only rounds 61-63 is dead code, which the optimizer removes (see above).
        sixteenRounds(&st, &w, k + 48)
        return add(st.6, splat(0x5be0_cd19))
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
