// SHA-256d mining kernels for SSE2 (baseline x86-64; NEON on arm64).
//
// This module is compiled with that ISA's code-generation flags (see Package.swift); call it only
// after CPU detection says the CPU and OS support the ISA.
import CFlexVector
import SHA256

/// 4 lanes of SHA-256 words in one xmm register.
enum SSE2Lanes4: SHA256LaneOps {
    typealias Vector = SIMD4<UInt32>
    static var laneCount: Int { 4 }
    @inline(__always) static func splat(_ x: UInt32) -> Vector { fm_splat_x4(x) }
    @inline(__always) static func add(_ a: Vector, _ b: Vector) -> Vector { fm_add_x4(a, b) }
    @inline(__always) static func xor(_ a: Vector, _ b: Vector) -> Vector { fm_xor_x4(a, b) }
    @inline(__always) static func and(_ a: Vector, _ b: Vector) -> Vector { fm_and_x4(a, b) }
    @inline(__always) static func or(_ a: Vector, _ b: Vector) -> Vector { fm_or_x4(a, b) }
    @inline(__always) static func shr(_ x: Vector, _ n: Int32) -> Vector { fm_shr_x4(x, n) }
    @inline(__always) static func rotr(_ x: Vector, _ n: Int32) -> Vector { fm_rotr_x4(x, n) }
    @inline(__always) static func byteSwap(_ x: Vector) -> Vector { fm_bswap_x4(x) }
    @inline(__always) static func iota(_ first: UInt32) -> Vector { fm_iota_x4(first) }
    @inline(__always) static func minLane(_ x: Vector) -> UInt32 { fm_min_x4(x) }
    @inline(__always) static func anyLaneAtMost(_ x: Vector, _ limit: UInt32) -> Bool {
        fm_any_le_x4(x, limit) != 0
    }
    @inline(__always) static func lane(_ x: Vector, _ i: Int) -> UInt32 { fm_lane_x4(x, Int32(i)) }
    /// Maj as b ^ ((a ^ b) & (b ^ c)): b ^ c is the previous round's a ^ b, so the optimizer reuses it
    /// and a round pays three logic operations for Maj instead of four.
    @inline(__always) static func majority(_ a: Vector, _ b: Vector, _ c: Vector) -> Vector {
        xor(b, and(xor(a, b), xor(b, c)))
    }
}

/// SHA-256d nonce scan, 4 nonces per step, built for SSE2.
public enum SHA256dSSE2x4 {
    public static let laneCount = 4

    /// See `SHA256LaneOps.scan`.
    public static func scan(
        _ job: HeaderScanJob, first: UInt32, count: UInt64, targetHigh: UInt32,
        out: UnsafeMutableBufferPointer<UInt32>
    ) -> ScanOutcome {
        SSE2Lanes4.scan(job, first: first, count: count, targetHigh: targetHigh, out: out)
    }

    /// See `SHA256LaneOps.mostSignificantWords`.
    public static func mostSignificantWords(
        _ job: HeaderScanJob, first: UInt32, out: UnsafeMutableBufferPointer<UInt32>
    ) {
        SSE2Lanes4.mostSignificantWords(job, first: first, out: out)
    }
}
