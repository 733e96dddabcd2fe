// SHA-256d mining kernels for one thread on both hashing engines of a core: 8 AVX2 lanes and 1-2
// SHA-extension streams per step (`scanHybrid`, written once in SHA256KernelsSHANI/HybridScan.swift).
//
// This module is compiled for x86-64-v3 plus -msha (see Package.swift), so the lane block and the
// streams are one function of one ISA level; call it only after CPU detection reports AVX2 (x86-64-v3) and the
// SHA extensions.
import CFlexSHANI
import CFlexVector
import SHA256
import SHA256KernelsAVX2
import SHA256KernelsSHANI

/// SHA-256d nonce scan, 8 AVX2 lanes and `ways` SHA-extension streams per step.
public enum SHA256dHybridAVX2 {
    /// Nonces per step in the lanes; the streams take the `ways` nonces after them.
    public static let laneCount = 8
    /// The stream counts this module provides.
    public static let supportedWays = [1, 2]

    /// True when this build contains the hybrid code (x86-64 only).
    public static var isCompiled: Bool { fm_sha_compiled() != 0 }

    /// See `SHA256LaneOps.scan`; `8 + ways` nonces per step. `ways` outside 1...2 is clamped.
    public static func scan(
        ways: Int, _ job: HeaderScanJob, first: UInt32, count: UInt64, targetHigh: UInt32,
        out: UnsafeMutableBufferPointer<UInt32>
    ) -> ScanOutcome {
        #if arch(x86_64)
            let l = AVX2Lanes8.self
            if ways <= 1 {
                return scanHybrid(
                    job, first: first, count: count, targetHigh: targetHigh, out: out, lanes: l, ways: Ways1.self)
            }
            return scanHybrid(
                job, first: first, count: count, targetHigh: targetHigh, out: out, lanes: l, ways: Ways2.self)
        #else
            return ScanOutcome(scanned: 0, candidates: 0)
        #endif
    }

    /// See `SHA256LaneOps.mostSignificantWords`. `ways` outside 1...2 is clamped.
    public static func mostSignificantWords(
        ways: Int, _ job: HeaderScanJob, first: UInt32, out: UnsafeMutableBufferPointer<UInt32>
    ) {
        #if arch(x86_64)
            let l = AVX2Lanes8.self
            if ways <= 1 {
                mostSignificantWordsHybrid(job, first: first, out: out, lanes: l, ways: Ways1.self)
            } else {
                mostSignificantWordsHybrid(job, first: first, out: out, lanes: l, ways: Ways2.self)
            }
        #endif
    }
}
