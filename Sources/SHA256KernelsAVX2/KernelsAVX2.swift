// SHA-256d mining kernels for AVX2 (x86-64-v3).
//
// This module is compiled with that ISA's code-generation flags (see Package.swift); call it only
// after CPU detection says the CPU and OS support the ISA.
import CFlexVector
import SHA256

/// 8 lanes of SHA-256 words in one ymm register. Package-visible and inlinable so that the hybrid
/// kernels (`SHA256KernelsHybridAVX2`, also compiled for x86-64-v3) run the same primitives.
@usableFromInline package enum AVX2Lanes8: SHA256LaneOps {
    @usableFromInline package typealias Vector = SIMD8<UInt32>
    @inlinable package static var laneCount: Int { 8 }
    @inlinable @inline(__always) package static func splat(_ x: UInt32) -> Vector { fm_splat_x8(x) }
    @inlinable @inline(__always) package static func add(_ a: Vector, _ b: Vector) -> Vector { fm_add_x8(a, b) }
    @inlinable @inline(__always) package static func xor(_ a: Vector, _ b: Vector) -> Vector { fm_xor_x8(a, b) }
    @inlinable @inline(__always) package static func and(_ a: Vector, _ b: Vector) -> Vector { fm_and_x8(a, b) }
    @inlinable @inline(__always) package static func or(_ a: Vector, _ b: Vector) -> Vector { fm_or_x8(a, b) }
    @inlinable @inline(__always) package static func shr(_ x: Vector, _ n: Int32) -> Vector { fm_shr_x8(x, n) }
    @inlinable @inline(__always) package static func rotr(_ x: Vector, _ n: Int32) -> Vector { fm_rotr_x8(x, n) }
    @inlinable @inline(__always) package static func byteSwap(_ x: Vector) -> Vector { fm_bswap_x8(x) }
    @inlinable @inline(__always) package static func iota(_ first: UInt32) -> Vector { fm_iota_x8(first) }
    @inlinable @inline(__always) package static func minLane(_ x: Vector) -> UInt32 { fm_min_x8(x) }
    @inlinable @inline(__always) package static func anyLaneAtMost(_ x: Vector, _ limit: UInt32) -> Bool {
        fm_any_le_x8(x, limit) != 0
    }
    @inlinable @inline(__always) package static func lane(_ x: Vector, _ i: Int) -> UInt32 { fm_lane_x8(x, Int32(i)) }
    /// Maj as b ^ ((a ^ b) & (b ^ c)): b ^ c is the previous round's a ^ b, so the optimizer reuses it
    /// and a round pays three logic operations for Maj instead of four.
    @inlinable @inline(__always) package static func majority(_ a: Vector, _ b: Vector, _ c: Vector) -> Vector {
        xor(b, and(xor(a, b), xor(b, c)))
    }
}

/// SHA-256d nonce scan, 8 nonces per step, built for AVX2.
public enum SHA256dAVX2x8 {
    public static let laneCount = 8

    /// See `SHA256LaneOps.scan`.
    public static func scan(
        _ job: HeaderScanJob, first: UInt32, count: UInt64, targetHigh: UInt32,
        out: UnsafeMutableBufferPointer<UInt32>
    ) -> ScanOutcome {
        AVX2Lanes8.scan(job, first: first, count: count, targetHigh: targetHigh, out: out)
    }

    /// See `SHA256LaneOps.mostSignificantWords`.
    public static func mostSignificantWords(
        _ job: HeaderScanJob, first: UInt32, out: UnsafeMutableBufferPointer<UInt32>
    ) {
        AVX2Lanes8.mostSignificantWords(job, first: first, out: out)
    }
}

/// 16 lanes of SHA-256 words in one pair of ymm registers.
enum AVX2Lanes16: SHA256LaneOps {
    typealias Vector = SIMD16<UInt32>
    static var laneCount: Int { 16 }
    @inline(__always) static func splat(_ x: UInt32) -> Vector { fm_splat_x16(x) }
    @inline(__always) static func add(_ a: Vector, _ b: Vector) -> Vector { fm_add_x16(a, b) }
    @inline(__always) static func xor(_ a: Vector, _ b: Vector) -> Vector { fm_xor_x16(a, b) }
    @inline(__always) static func and(_ a: Vector, _ b: Vector) -> Vector { fm_and_x16(a, b) }
    @inline(__always) static func or(_ a: Vector, _ b: Vector) -> Vector { fm_or_x16(a, b) }
    @inline(__always) static func shr(_ x: Vector, _ n: Int32) -> Vector { fm_shr_x16(x, n) }
    @inline(__always) static func rotr(_ x: Vector, _ n: Int32) -> Vector { fm_rotr_x16(x, n) }
    @inline(__always) static func byteSwap(_ x: Vector) -> Vector { fm_bswap_x16(x) }
    @inline(__always) static func iota(_ first: UInt32) -> Vector { fm_iota_x16(first) }
    @inline(__always) static func minLane(_ x: Vector) -> UInt32 { fm_min_x16(x) }
    @inline(__always) static func anyLaneAtMost(_ x: Vector, _ limit: UInt32) -> Bool {
        fm_any_le_x16(x, limit) != 0
    }
    @inline(__always) static func lane(_ x: Vector, _ i: Int) -> UInt32 { fm_lane_x16(x, Int32(i)) }
    /// See `AVX2Lanes8.majority`. Chosen by count here too: 849.3 instructions per nonce against 862.7
    /// with the default (both above the 833.1 of the unpipelined kernel: two ymm per value spill).
    @inline(__always) static func majority(_ a: Vector, _ b: Vector, _ c: Vector) -> Vector {
        xor(b, and(xor(a, b), xor(b, c)))
    }
}

/// SHA-256d nonce scan, 16 nonces per step, built for AVX2.
public enum SHA256dAVX2x16 {
    public static let laneCount = 16

    /// See `SHA256LaneOps.scan`.
    public static func scan(
        _ job: HeaderScanJob, first: UInt32, count: UInt64, targetHigh: UInt32,
        out: UnsafeMutableBufferPointer<UInt32>
    ) -> ScanOutcome {
        AVX2Lanes16.scan(job, first: first, count: count, targetHigh: targetHigh, out: out)
    }

    /// See `SHA256LaneOps.mostSignificantWords`.
    public static func mostSignificantWords(
        _ job: HeaderScanJob, first: UInt32, out: UnsafeMutableBufferPointer<UInt32>
    ) {
        AVX2Lanes16.mostSignificantWords(job, first: first, out: out)
    }
}
