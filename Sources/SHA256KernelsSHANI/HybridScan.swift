// The hybrid scan loop, written once: one step runs a lane block of the lane kernel (`L`, AVX-512 or
// AVX2) and `S.ways` SHA-extension streams over the next nonces of the same job.
//
// It lives here, inlinable, because the streams are this module's; it is instantiated only in the hybrid
// modules (SHA256KernelsHybridAVX512, SHA256KernelsHybridAVX2), which are compiled with both their lane
// ISA and -msha, so that the lane block and the streams are one basic block for the compiler and the
// out-of-order core to interleave. Nothing in this module calls it.
import CFlexSHANI
import SHA256

#if arch(x86_64)
    /// One step: the lane kernel's top words (byte-swapped back, as `mostSignificantWord` reads them) for
    /// nonces `base ..< base + L.laneCount`, and each stream's final h before the feed-forward for the
    /// `S.ways` nonces after them. The streams come first in source order, so their long `sha256rnds2`
    /// chains can start while the lane block's independent work fills the pipes.
    ///
    /// Not inlined: the scan and the self-test's word dump call the same step, so a hybrid module compiles
    /// the lane kernel once per stream count instead of twice (each copy costs minutes of optimizer time);
    /// one call per 17-18 nonces costs nothing measurable.
    @inlinable @inline(never)
    package func hybridStep<L: SHA256LaneOps, S: SHAWays>(
        _ job: HeaderScanJob, _ c: SHANIJobConstants, k4: UnsafePointer<V4>, k: UnsafePointer<UInt32>, base: UInt32,
        _: L.Type, _: S.Type
    ) -> (top: L.Vector, sha: S) {
        let sha = finalH(c, k4, first: base &+ UInt32(truncatingIfNeeded: L.laneCount), S.self)
        let top = L.byteSwap(L.topWord(job, nonceWords: L.byteSwap(L.iota(base)), k: k))
        return (top, sha)
    }

    /// See `SHA256LaneOps.scan`, with `L.laneCount + S.ways` nonces per step. Early reject on both paths:
    /// one any-lane test for the lanes, one compare per stream; candidates are written in nonce order.
    @inlinable @inline(__always)
    package func scanHybrid<L: SHA256LaneOps, S: SHAWays>(
        _ job: HeaderScanJob, first: UInt32, count: UInt64, targetHigh: UInt32, out: UnsafeMutableBufferPointer<UInt32>,
        lanes: L.Type, ways: S.Type
    ) -> ScanOutcome {
        let c = SHANIJobConstants(job)
        let ivH = SHA256State.initial.h
        let width = L.laneCount
        let perStep = width + S.ways
        return roundConstantGroups.withUnsafeBufferPointer { k4Buffer in
            sha256RoundConstants.withUnsafeBufferPointer { kBuffer in
                let (k4, k) = (k4Buffer.baseAddress!, kBuffer.baseAddress!)
                let total = Swift.min(count, (1 << 32) - UInt64(first))
                var done: UInt64 = 0
                var found = 0
                while done < total && out.count - found >= perStep {
                    let base = first &+ UInt32(truncatingIfNeeded: done)
                    let (top, sha) = hybridStep(job, c, k4: k4, k: k, base: base, L.self, S.self)
                    let valid = Int(Swift.min(UInt64(perStep), total - done))
                    if _slowPath(L.anyLaneAtMost(top, targetHigh)) {
                        for i in 0..<Swift.min(width, valid) where L.lane(top, i) <= targetHigh {
                            out[found] = base &+ UInt32(truncatingIfNeeded: i)
                            found += 1
                        }
                    }
                    for i in 0..<Swift.max(0, valid - width)
                    where _slowPath((sha.lane0(i) &+ ivH).byteSwapped <= targetHigh) {
                        out[found] = base &+ UInt32(truncatingIfNeeded: width + i)
                        found += 1
                    }
                    done += UInt64(valid)
                }
                return ScanOutcome(scanned: done, candidates: found)
            }
        }
    }

    /// See `SHA256LaneOps.mostSignificantWords`: the hybrid step's own output, lanes then streams.
    @inlinable @inline(__always)
    package func mostSignificantWordsHybrid<L: SHA256LaneOps, S: SHAWays>(
        _ job: HeaderScanJob, first: UInt32, out: UnsafeMutableBufferPointer<UInt32>, lanes: L.Type, ways: S.Type
    ) {
        let c = SHANIJobConstants(job)
        let ivH = SHA256State.initial.h
        let width = L.laneCount
        roundConstantGroups.withUnsafeBufferPointer { k4Buffer in
            sha256RoundConstants.withUnsafeBufferPointer { kBuffer in
                var i = 0
                while i < out.count {
                    let base = first &+ UInt32(truncatingIfNeeded: i)
                    let (top, sha) = hybridStep(
                        job, c, k4: k4Buffer.baseAddress!, k: kBuffer.baseAddress!, base: base, L.self, S.self)
                    for j in 0..<Swift.min(width, out.count - i) {
                        out[i + j] = L.lane(top, j)
                    }
                    for j in 0..<Swift.min(S.ways, Swift.max(0, out.count - i - width)) {
                        out[i + width + j] = (sha.lane0(j) &+ ivH).byteSwapped
                    }
                    i += width + S.ways
                }
            }
        }
    }
#endif
