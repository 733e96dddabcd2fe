// SHA-256d mining kernel on the x86 SHA extensions (sha256rnds2 / sha256msg1 / sha256msg2).
//
// One sha256rnds2 does two rounds; its latency is several cycles but the unit accepts a new one
// every cycle or two, so a single hash leaves it mostly idle. The kernel therefore interleaves
// `n` independent nonces instruction by instruction (a struct of n registers per value, every step
// applied to all n before the next step), which is what fills the pipeline.
//
// This module is compiled with -msha -msse4.1 (see Package.swift): call it only after CPU detection
// reports the SHA extensions.
import CFlexSHANI
import SHA256

#if arch(x86_64)
    @usableFromInline package typealias V4 = SIMD4<UInt32>

    /// `ways` SIMD4 registers, one per interleaved nonce. Every operation is applied to all ways before
    /// the next one, so independent sha256rnds2 instructions sit next to each other in program order.
    /// Package-visible and inlinable (as is `finalH`) so that the hybrid kernels run the same code beside
    /// their vector lanes.
    @usableFromInline package protocol SHAWays {
        static var ways: Int { get }
        init(repeating v: V4)
        /// Message words 0-3 of the header's second chunk, lane 3 = nonce `first + way` (byte-swapped).
        static func firstMessage(_ base: V4, first: UInt32) -> Self
        static func rnds2(_ cdgh: Self, _ abef: Self, _ wk: Self) -> Self
        static func rnds2(_ cdgh: Self, _ abef: Self, constant wk: V4) -> Self
        static func highPair(_ x: Self) -> Self
        static func add(_ a: Self, _ b: Self) -> Self
        static func add(_ a: Self, constant k: V4) -> Self
        static func schedule(_ m0: Self, _ m1: Self, _ m2: Self, _ m3: Self) -> Self
        static func reverse(_ x: Self) -> Self
        static func unpacklo64(_ a: Self, _ b: Self) -> Self
        static func unpackhi64(_ a: Self, _ b: Self) -> Self
        /// Lane 0 of way `i`.
        func lane0(_ i: Int) -> UInt32
    }

    @usableFromInline package struct Ways1: SHAWays {
        @usableFromInline var v0: V4
        @inlinable package static var ways: Int { 1 }
        @inlinable @inline(__always) package init(_ v0: V4) {
            self.v0 = v0
        }
        @inlinable @inline(__always) package init(repeating v: V4) { self.init(v) }
        @inlinable @inline(__always) package static func firstMessage(_ base: V4, first: UInt32) -> Self {
            Self(withNonce(base, first &+ 0))
        }
        @inlinable @inline(__always) package static func rnds2(_ c: Self, _ a: Self, _ wk: Self) -> Self {
            Self(fm_sha_rnds2(c.v0, a.v0, wk.v0))
        }
        @inlinable @inline(__always) package static func rnds2(_ c: Self, _ a: Self, constant wk: V4) -> Self {
            Self(fm_sha_rnds2(c.v0, a.v0, wk))
        }
        @inlinable @inline(__always) package static func highPair(_ x: Self) -> Self { Self(fm_sha_high_pair(x.v0)) }
        @inlinable @inline(__always) package static func add(_ a: Self, _ b: Self) -> Self {
            Self(fm_sha_add(a.v0, b.v0))
        }
        @inlinable @inline(__always) package static func add(_ a: Self, constant k: V4) -> Self {
            Self(fm_sha_add(a.v0, k))
        }
        @inlinable @inline(__always) package static func schedule(_ m0: Self, _ m1: Self, _ m2: Self, _ m3: Self)
            -> Self
        {
            Self(nextWords(m0.v0, m1.v0, m2.v0, m3.v0))
        }
        @inlinable @inline(__always) package static func reverse(_ x: Self) -> Self { Self(fm_sha_reverse(x.v0)) }
        @inlinable @inline(__always) package static func unpacklo64(_ a: Self, _ b: Self) -> Self {
            Self(fm_sha_unpacklo64(a.v0, b.v0))
        }
        @inlinable @inline(__always) package static func unpackhi64(_ a: Self, _ b: Self) -> Self {
            Self(fm_sha_unpackhi64(a.v0, b.v0))
        }
        @inlinable @inline(__always) package func lane0(_ i: Int) -> UInt32 {
            switch i {

            default: v0[0]
            }
        }
    }

    @usableFromInline package struct Ways2: SHAWays {
        @usableFromInline var v0: V4
        @usableFromInline var v1: V4
        @inlinable package static var ways: Int { 2 }
        @inlinable @inline(__always) package init(_ v0: V4, _ v1: V4) {
            self.v0 = v0
            self.v1 = v1
        }
        @inlinable @inline(__always) package init(repeating v: V4) { self.init(v, v) }
        @inlinable @inline(__always) package static func firstMessage(_ base: V4, first: UInt32) -> Self {
            Self(withNonce(base, first &+ 0), withNonce(base, first &+ 1))
        }
        @inlinable @inline(__always) package static func rnds2(_ c: Self, _ a: Self, _ wk: Self) -> Self {
            Self(fm_sha_rnds2(c.v0, a.v0, wk.v0), fm_sha_rnds2(c.v1, a.v1, wk.v1))
        }
        @inlinable @inline(__always) package static func rnds2(_ c: Self, _ a: Self, constant wk: V4) -> Self {
            Self(fm_sha_rnds2(c.v0, a.v0, wk), fm_sha_rnds2(c.v1, a.v1, wk))
        }
        @inlinable @inline(__always) package static func highPair(_ x: Self) -> Self {
            Self(fm_sha_high_pair(x.v0), fm_sha_high_pair(x.v1))
        }
        @inlinable @inline(__always) package static func add(_ a: Self, _ b: Self) -> Self {
            Self(fm_sha_add(a.v0, b.v0), fm_sha_add(a.v1, b.v1))
        }
        @inlinable @inline(__always) package static func add(_ a: Self, constant k: V4) -> Self {
            Self(fm_sha_add(a.v0, k), fm_sha_add(a.v1, k))
        }
        @inlinable @inline(__always) package static func schedule(_ m0: Self, _ m1: Self, _ m2: Self, _ m3: Self)
            -> Self
        {
            Self(nextWords(m0.v0, m1.v0, m2.v0, m3.v0), nextWords(m0.v1, m1.v1, m2.v1, m3.v1))
        }
        @inlinable @inline(__always) package static func reverse(_ x: Self) -> Self {
            Self(fm_sha_reverse(x.v0), fm_sha_reverse(x.v1))
        }
        @inlinable @inline(__always) package static func unpacklo64(_ a: Self, _ b: Self) -> Self {
            Self(fm_sha_unpacklo64(a.v0, b.v0), fm_sha_unpacklo64(a.v1, b.v1))
        }
        @inlinable @inline(__always) package static func unpackhi64(_ a: Self, _ b: Self) -> Self {
            Self(fm_sha_unpackhi64(a.v0, b.v0), fm_sha_unpackhi64(a.v1, b.v1))
        }
        @inlinable @inline(__always) package func lane0(_ i: Int) -> UInt32 {
            switch i {
            case 0: v0[0]
            default: v1[0]
            }
        }
    }

    @usableFromInline package struct Ways3: SHAWays {
        @usableFromInline var v0: V4
        @usableFromInline var v1: V4
        @usableFromInline var v2: V4
        @inlinable package static var ways: Int { 3 }
        @inlinable @inline(__always) package init(_ v0: V4, _ v1: V4, _ v2: V4) {
            self.v0 = v0
            self.v1 = v1
            self.v2 = v2
        }
        @inlinable @inline(__always) package init(repeating v: V4) { self.init(v, v, v) }
        @inlinable @inline(__always) package static func firstMessage(_ base: V4, first: UInt32) -> Self {
            Self(withNonce(base, first &+ 0), withNonce(base, first &+ 1), withNonce(base, first &+ 2))
        }
        @inlinable @inline(__always) package static func rnds2(_ c: Self, _ a: Self, _ wk: Self) -> Self {
            Self(fm_sha_rnds2(c.v0, a.v0, wk.v0), fm_sha_rnds2(c.v1, a.v1, wk.v1), fm_sha_rnds2(c.v2, a.v2, wk.v2))
        }
        @inlinable @inline(__always) package static func rnds2(_ c: Self, _ a: Self, constant wk: V4) -> Self {
            Self(fm_sha_rnds2(c.v0, a.v0, wk), fm_sha_rnds2(c.v1, a.v1, wk), fm_sha_rnds2(c.v2, a.v2, wk))
        }
        @inlinable @inline(__always) package static func highPair(_ x: Self) -> Self {
            Self(fm_sha_high_pair(x.v0), fm_sha_high_pair(x.v1), fm_sha_high_pair(x.v2))
        }
        @inlinable @inline(__always) package static func add(_ a: Self, _ b: Self) -> Self {
            Self(fm_sha_add(a.v0, b.v0), fm_sha_add(a.v1, b.v1), fm_sha_add(a.v2, b.v2))
        }
        @inlinable @inline(__always) package static func add(_ a: Self, constant k: V4) -> Self {
            Self(fm_sha_add(a.v0, k), fm_sha_add(a.v1, k), fm_sha_add(a.v2, k))
        }
        @inlinable @inline(__always) package static func schedule(_ m0: Self, _ m1: Self, _ m2: Self, _ m3: Self)
            -> Self
        {
            Self(
                nextWords(m0.v0, m1.v0, m2.v0, m3.v0), nextWords(m0.v1, m1.v1, m2.v1, m3.v1),
                nextWords(m0.v2, m1.v2, m2.v2, m3.v2))
        }
        @inlinable @inline(__always) package static func reverse(_ x: Self) -> Self {
            Self(fm_sha_reverse(x.v0), fm_sha_reverse(x.v1), fm_sha_reverse(x.v2))
        }
        @inlinable @inline(__always) package static func unpacklo64(_ a: Self, _ b: Self) -> Self {
            Self(fm_sha_unpacklo64(a.v0, b.v0), fm_sha_unpacklo64(a.v1, b.v1), fm_sha_unpacklo64(a.v2, b.v2))
        }
        @inlinable @inline(__always) package static func unpackhi64(_ a: Self, _ b: Self) -> Self {
            Self(fm_sha_unpackhi64(a.v0, b.v0), fm_sha_unpackhi64(a.v1, b.v1), fm_sha_unpackhi64(a.v2, b.v2))
        }
        @inlinable @inline(__always) package func lane0(_ i: Int) -> UInt32 {
            switch i {
            case 0: v0[0]
            case 1: v1[0]
            default: v2[0]
            }
        }
    }

    @usableFromInline package struct Ways4: SHAWays {
        @usableFromInline var v0: V4
        @usableFromInline var v1: V4
        @usableFromInline var v2: V4
        @usableFromInline var v3: V4
        @inlinable package static var ways: Int { 4 }
        @inlinable @inline(__always) package init(_ v0: V4, _ v1: V4, _ v2: V4, _ v3: V4) {
            self.v0 = v0
            self.v1 = v1
            self.v2 = v2
            self.v3 = v3
        }
        @inlinable @inline(__always) package init(repeating v: V4) { self.init(v, v, v, v) }
        @inlinable @inline(__always) package static func firstMessage(_ base: V4, first: UInt32) -> Self {
            Self(
                withNonce(base, first &+ 0), withNonce(base, first &+ 1), withNonce(base, first &+ 2),
                withNonce(base, first &+ 3))
        }
        @inlinable @inline(__always) package static func rnds2(_ c: Self, _ a: Self, _ wk: Self) -> Self {
            Self(
                fm_sha_rnds2(c.v0, a.v0, wk.v0), fm_sha_rnds2(c.v1, a.v1, wk.v1), fm_sha_rnds2(c.v2, a.v2, wk.v2),
                fm_sha_rnds2(c.v3, a.v3, wk.v3))
        }
        @inlinable @inline(__always) package static func rnds2(_ c: Self, _ a: Self, constant wk: V4) -> Self {
            Self(
                fm_sha_rnds2(c.v0, a.v0, wk), fm_sha_rnds2(c.v1, a.v1, wk), fm_sha_rnds2(c.v2, a.v2, wk),
                fm_sha_rnds2(c.v3, a.v3, wk))
        }
        @inlinable @inline(__always) package static func highPair(_ x: Self) -> Self {
            Self(fm_sha_high_pair(x.v0), fm_sha_high_pair(x.v1), fm_sha_high_pair(x.v2), fm_sha_high_pair(x.v3))
        }
        @inlinable @inline(__always) package static func add(_ a: Self, _ b: Self) -> Self {
            Self(fm_sha_add(a.v0, b.v0), fm_sha_add(a.v1, b.v1), fm_sha_add(a.v2, b.v2), fm_sha_add(a.v3, b.v3))
        }
        @inlinable @inline(__always) package static func add(_ a: Self, constant k: V4) -> Self {
            Self(fm_sha_add(a.v0, k), fm_sha_add(a.v1, k), fm_sha_add(a.v2, k), fm_sha_add(a.v3, k))
        }
        @inlinable @inline(__always) package static func schedule(_ m0: Self, _ m1: Self, _ m2: Self, _ m3: Self)
            -> Self
        {
            Self(
                nextWords(m0.v0, m1.v0, m2.v0, m3.v0), nextWords(m0.v1, m1.v1, m2.v1, m3.v1),
                nextWords(m0.v2, m1.v2, m2.v2, m3.v2), nextWords(m0.v3, m1.v3, m2.v3, m3.v3))
        }
        @inlinable @inline(__always) package static func reverse(_ x: Self) -> Self {
            Self(fm_sha_reverse(x.v0), fm_sha_reverse(x.v1), fm_sha_reverse(x.v2), fm_sha_reverse(x.v3))
        }
        @inlinable @inline(__always) package static func unpacklo64(_ a: Self, _ b: Self) -> Self {
            Self(
                fm_sha_unpacklo64(a.v0, b.v0), fm_sha_unpacklo64(a.v1, b.v1), fm_sha_unpacklo64(a.v2, b.v2),
                fm_sha_unpacklo64(a.v3, b.v3))
        }
        @inlinable @inline(__always) package static func unpackhi64(_ a: Self, _ b: Self) -> Self {
            Self(
                fm_sha_unpackhi64(a.v0, b.v0), fm_sha_unpackhi64(a.v1, b.v1), fm_sha_unpackhi64(a.v2, b.v2),
                fm_sha_unpackhi64(a.v3, b.v3))
        }
        @inlinable @inline(__always) package func lane0(_ i: Int) -> UInt32 {
            switch i {
            case 0: v0[0]
            case 1: v1[0]
            case 2: v2[0]
            default: v3[0]
            }
        }
    }

    @inlinable @inline(__always)
    package func withNonce(_ base: V4, _ nonce: UInt32) -> V4 {
        var w = base
        w[3] = nonce.byteSwapped
        return w
    }

    /// Next four message words from the previous sixteen (m0 oldest).
    @inlinable @inline(__always)
    package func nextWords(_ m0: V4, _ m1: V4, _ m2: V4, _ m3: V4) -> V4 {
        fm_sha_msg2(fm_sha_add(fm_sha_msg1(m0, m1), fm_sha_alignr4(m3, m2)), m3)
    }

    @inline(__always)
    func k4(_ i: Int) -> V4 {
        V4(
            sha256RoundConstants[i], sha256RoundConstants[i + 1], sha256RoundConstants[i + 2],
            sha256RoundConstants[i + 3])
    }

    @inlinable @inline(__always)
    package func abef(_ s: SHA256State) -> V4 { V4(s.f, s.e, s.b, s.a) }

    @inlinable @inline(__always)
    package func cdgh(_ s: SHA256State) -> V4 { V4(s.h, s.g, s.d, s.c) }

    /// Values that depend only on the job, computed once per scan call (outside the nonce loop).
    @usableFromInline package struct SHANIJobConstants {
        @usableFromInline let abef2: V4
        @usableFromInline let cdgh2: V4
        @usableFromInline let midAbef: V4
        @usableFromInline let midCdgh: V4
        @usableFromInline let message0: V4  // tail0, tail1, tail2, (nonce)
        /// The second hash's initial value, read here once: `SHA256State.initial` is a global of another
        /// module, reached through an accessor call, which must not sit inside a hybrid kernel's step
        /// (a call clobbers every vector register the lanes hold).
        @usableFromInline let ivAbef: V4
        @usableFromInline let ivCdgh: V4

        @inlinable @inline(__always)
        package init(_ job: HeaderScanJob) {
            abef2 = abef(job.state2)
            cdgh2 = cdgh(job.state2)
            midAbef = abef(job.midstate)
            midCdgh = cdgh(job.midstate)
            message0 = V4(job.tail0, job.tail1, job.tail2, 0)
            ivAbef = abef(SHA256State.initial)
            ivCdgh = cdgh(SHA256State.initial)
        }
    }

    /// The round constants in groups of four, built once.
    @usableFromInline package let roundConstantGroups: [V4] = (0..<16).map { k4($0 * 4) }

    /// Four rounds. `s0` holds ABEF and `s1` CDGH before and after.
    @inlinable @inline(__always)
    package func quad<S: SHAWays>(_ s0: inout S, _ s1: inout S, _ wk: S) {
        s1 = S.rnds2(s1, s0, wk)
        s0 = S.rnds2(s0, s1, S.highPair(wk))
    }

    /// Four rounds whose W+K is the same for every way (message words that are constant in mining).
    @inlinable @inline(__always)
    package func quad<S: SHAWays>(_ s0: inout S, _ s1: inout S, constant wk: V4) {
        s1 = S.rnds2(s1, s0, constant: wk)
        s0 = S.rnds2(s0, s1, constant: fm_sha_high_pair(wk))
    }

    /// Lane 0 (F) of the state after round 61 of the second hash, per way: the final h before the
    /// feed-forward. `S.ways` nonces from `first` on.
    @inlinable @inline(__always)
    package func finalH<S: SHAWays>(_ c: SHANIJobConstants, _ k: UnsafePointer<V4>, first: UInt32, _: S.Type) -> S {
        // First hash, second chunk. Rounds 0-1 are precomputed (state2); rounds 2-3 need the nonce.
        var m0 = S.firstMessage(c.message0, first: first)
        var m1 = S(repeating: V4(0x8000_0000, 0, 0, 0))
        var m2 = S(repeating: V4(0, 0, 0, 0))
        var m3 = S(repeating: V4(0, 0, 0, 640))
        var s0 = S.rnds2(S(repeating: c.cdgh2), S(repeating: c.abef2), S.highPair(S.add(m0, constant: k[0])))
        var s1 = S(repeating: c.abef2)
        quad(&s0, &s1, constant: fm_sha_add(V4(0x8000_0000, 0, 0, 0), k[1]))
        quad(&s0, &s1, constant: k[2])
        quad(&s0, &s1, constant: fm_sha_add(V4(0, 0, 0, 640), k[3]))
        for g in stride(from: 4, to: 16, by: 4) {
            m0 = S.schedule(m0, m1, m2, m3)
            quad(&s0, &s1, S.add(m0, constant: k[g]))
            m1 = S.schedule(m1, m2, m3, m0)
            quad(&s0, &s1, S.add(m1, constant: k[g + 1]))
            m2 = S.schedule(m2, m3, m0, m1)
            quad(&s0, &s1, S.add(m2, constant: k[g + 2]))
            m3 = S.schedule(m3, m0, m1, m2)
            quad(&s0, &s1, S.add(m3, constant: k[g + 3]))
        }
        // Feed-forward, then turn ABEF/CDGH into the second hash's message words (a,b,c,d), (e,f,g,h).
        let t0 = S.reverse(S.add(s0, constant: c.midAbef))
        let t1 = S.reverse(S.add(s1, constant: c.midCdgh))
        m0 = S.unpacklo64(t0, t1)
        m1 = S.unpackhi64(t0, t1)
        m2 = S(repeating: V4(0x8000_0000, 0, 0, 0))
        m3 = S(repeating: V4(0, 0, 0, 256))
        s0 = S(repeating: c.ivAbef)
        s1 = S(repeating: c.ivCdgh)
        quad(&s0, &s1, S.add(m0, constant: k[0]))
        quad(&s0, &s1, S.add(m1, constant: k[1]))
        quad(&s0, &s1, constant: fm_sha_add(V4(0x8000_0000, 0, 0, 0), k[2]))
        quad(&s0, &s1, constant: fm_sha_add(V4(0, 0, 0, 256), k[3]))
        for g in stride(from: 4, to: 12, by: 4) {
            m0 = S.schedule(m0, m1, m2, m3)
            quad(&s0, &s1, S.add(m0, constant: k[g]))
            m1 = S.schedule(m1, m2, m3, m0)
            quad(&s0, &s1, S.add(m1, constant: k[g + 1]))
            m2 = S.schedule(m2, m3, m0, m1)
            quad(&s0, &s1, S.add(m2, constant: k[g + 2]))
            m3 = S.schedule(m3, m0, m1, m2)
            quad(&s0, &s1, S.add(m3, constant: k[g + 3]))
        }
        m0 = S.schedule(m0, m1, m2, m3)
        quad(&s0, &s1, S.add(m0, constant: k[12]))
        m1 = S.schedule(m1, m2, m3, m0)
        quad(&s0, &s1, S.add(m1, constant: k[13]))
        m2 = S.schedule(m2, m3, m0, m1)
        quad(&s0, &s1, S.add(m2, constant: k[14]))
        m3 = S.schedule(m3, m0, m1, m2)
        // Rounds 60-61 only: afterwards lane 0 (F) of the new ABEF is already the final h. Rounds 62-63
        // cannot change H7, so they are skipped.
        return S.rnds2(s1, s0, S.add(m3, constant: k[15]))
    }

    @inline(__always)
    func scanWays<S: SHAWays>(
        _ job: HeaderScanJob, first: UInt32, count: UInt64, targetHigh: UInt32, out: UnsafeMutableBufferPointer<UInt32>,
        ways: S.Type
    ) -> ScanOutcome {
        let c = SHANIJobConstants(job)
        let ivH = SHA256State.initial.h
        return roundConstantGroups.withUnsafeBufferPointer { kBuffer in
            let k = kBuffer.baseAddress!
            let total = Swift.min(count, (1 << 32) - UInt64(first))
            var done: UInt64 = 0
            var found = 0
            while done < total && out.count - found >= S.ways {
                let base = first &+ UInt32(truncatingIfNeeded: done)
                let f = finalH(c, k, first: base, S.self)
                let valid = Int(Swift.min(UInt64(S.ways), total - done))
                for i in 0..<valid where _slowPath((f.lane0(i) &+ ivH).byteSwapped <= targetHigh) {
                    out[found] = base &+ UInt32(truncatingIfNeeded: i)
                    found += 1
                }
                done += UInt64(valid)
            }
            return ScanOutcome(scanned: done, candidates: found)
        }
    }

    @inline(__always)
    func mostSignificantWordsWays<S: SHAWays>(
        _ job: HeaderScanJob, first: UInt32, out: UnsafeMutableBufferPointer<UInt32>, ways: S.Type
    ) {
        let c = SHANIJobConstants(job)
        roundConstantGroups.withUnsafeBufferPointer { kBuffer in
            var i = 0
            while i < out.count {
                let f = finalH(c, kBuffer.baseAddress!, first: first &+ UInt32(truncatingIfNeeded: i), S.self)
                for j in 0..<Swift.min(S.ways, out.count - i) {
                    out[i + j] = (f.lane0(j) &+ SHA256State.initial.h).byteSwapped
                }
                i += S.ways
            }
        }
    }
#endif

/// SHA-256d nonce scan on the SHA extensions, `ways` nonces interleaved (1 to 4).
public enum SHA256dSHANI {
    /// The interleaving widths this module provides.
    public static let supportedWays = [1, 2, 3, 4]

    /// True when this build contains the SHA-extension code (x86-64 only).
    public static var isCompiled: Bool { fm_sha_compiled() != 0 }

    /// See `SHA256LaneOps.scan`. `ways` outside 1...4 is clamped.
    public static func scan(
        ways: Int, _ job: HeaderScanJob, first: UInt32, count: UInt64, targetHigh: UInt32,
        out: UnsafeMutableBufferPointer<UInt32>
    ) -> ScanOutcome {
        #if arch(x86_64)
            switch ways {
            case ...1: scanWays(job, first: first, count: count, targetHigh: targetHigh, out: out, ways: Ways1.self)
            case 2: scanWays(job, first: first, count: count, targetHigh: targetHigh, out: out, ways: Ways2.self)
            case 3: scanWays(job, first: first, count: count, targetHigh: targetHigh, out: out, ways: Ways3.self)
            default: scanWays(job, first: first, count: count, targetHigh: targetHigh, out: out, ways: Ways4.self)
            }
        #else
            ScanOutcome(scanned: 0, candidates: 0)
        #endif
    }

    /// See `SHA256LaneOps.mostSignificantWords`. `ways` outside 1...4 is clamped.
    public static func mostSignificantWords(
        ways: Int, _ job: HeaderScanJob, first: UInt32, out: UnsafeMutableBufferPointer<UInt32>
    ) {
        #if arch(x86_64)
            switch ways {
            case ...1: mostSignificantWordsWays(job, first: first, out: out, ways: Ways1.self)
            case 2: mostSignificantWordsWays(job, first: first, out: out, ways: Ways2.self)
            case 3: mostSignificantWordsWays(job, first: first, out: out, ways: Ways3.self)
            default: mostSignificantWordsWays(job, first: first, out: out, ways: Ways4.self)
            }
        #endif
    }
}
