// SHA-256d mining kernels for AVX-512 F/BW/DQ/VL (x86-64-v4).
//
// This module is compiled with that ISA's code-generation flags (see Package.swift); call it only
// after CPU detection says the CPU and OS support the ISA.
import CFlexVector
import SHA256

/// 16 lanes of SHA-256 words in one zmm register. Package-visible and inlinable so that the hybrid
/// kernels (`SHA256KernelsHybrid`, also compiled for x86-64-v4) run the same primitives.
@usableFromInline package enum AVX512Lanes16: SHA256LaneOps {
    @usableFromInline package typealias Vector = SIMD16<UInt32>
    @inlinable package static var laneCount: Int { 16 }
    @inlinable @inline(__always) package static func splat(_ x: UInt32) -> Vector { fm_splat_x16(x) }
    @inlinable @inline(__always) package static func add(_ a: Vector, _ b: Vector) -> Vector { fm_add_x16(a, b) }
    @inlinable @inline(__always) package static func xor(_ a: Vector, _ b: Vector) -> Vector { fm_xor_x16(a, b) }
    @inlinable @inline(__always) package static func and(_ a: Vector, _ b: Vector) -> Vector { fm_and_x16(a, b) }
    @inlinable @inline(__always) package static func or(_ a: Vector, _ b: Vector) -> Vector { fm_or_x16(a, b) }
    @inlinable @inline(__always) package static func shr(_ x: Vector, _ n: Int32) -> Vector { fm_shr_x16(x, n) }
    @inlinable @inline(__always) package static func rotr(_ x: Vector, _ n: Int32) -> Vector { fm_rotr_x16(x, n) }
    @inlinable @inline(__always) package static func byteSwap(_ x: Vector) -> Vector { fm_bswap_x16(x) }
    @inlinable @inline(__always) package static func iota(_ first: UInt32) -> Vector { fm_iota_x16(first) }
    @inlinable @inline(__always) package static func minLane(_ x: Vector) -> UInt32 { fm_min_x16(x) }
    @inlinable @inline(__always) package static func anyLaneAtMost(_ x: Vector, _ limit: UInt32) -> Bool {
        fm_any_le_x16(x, limit) != 0
    }
    @inlinable @inline(__always) package static func lane(_ x: Vector, _ i: Int) -> UInt32 { fm_lane_x16(x, Int32(i)) }
    @inlinable @inline(__always) package static func choose(_ e: Vector, _ f: Vector, _ g: Vector) -> Vector {
        fm_choose_x16(e, f, g)
    }
    @inlinable @inline(__always) package static func majority(_ a: Vector, _ b: Vector, _ c: Vector) -> Vector {
        fm_majority_x16(a, b, c)
    }
}

/// SHA-256d nonce scan, 16 nonces per step, built for AVX512.
public enum SHA256dAVX512x16 {
    public static let laneCount = 16

    /// See `SHA256LaneOps.scan`.
    public static func scan(
        _ job: HeaderScanJob, first: UInt32, count: UInt64, targetHigh: UInt32,
        out: UnsafeMutableBufferPointer<UInt32>
    ) -> ScanOutcome {
        AVX512Lanes16.scan(job, first: first, count: count, targetHigh: targetHigh, out: out)
    }

    /// See `SHA256LaneOps.mostSignificantWords`.
    public static func mostSignificantWords(
        _ job: HeaderScanJob, first: UInt32, out: UnsafeMutableBufferPointer<UInt32>
    ) {
        AVX512Lanes16.mostSignificantWords(job, first: first, out: out)
    }
}
