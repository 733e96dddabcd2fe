import BitcoinPrimitives
import SHA256

/// A nonce whose header hash meets a target, confirmed by the portable reference.
public struct Solution: Hashable, Sendable {
    public let nonce: UInt32
    public let hash: SHA256Digest
}

/// Single-threaded search of a nonce range with a kernel, every candidate re-checked by the scalar
/// reference against the full 256-bit target, so a kernel bug can never report a false block.
public enum NonceSearch {
    /// All winning nonces in `first ..< first + count` (clamped at 0xFFFFFFFF), in nonce order.
    public static func solutions(
        kernel: Kernel, job: HeaderScanJob, first: UInt32, count: UInt64, target: UInt256
    ) -> [Solution] {
        var result: [Solution] = []
        let end = Swift.min(UInt64(first) + count, 1 << 32)
        var next = UInt64(first)
        let capacity = 4096
        let buffer = UnsafeMutableBufferPointer<UInt32>.allocate(capacity: capacity)
        defer { buffer.deallocate() }
        while next < end {
            let outcome = kernel.scan(
                job, first: UInt32(next), count: end - next, targetHigh: target.highWord, out: buffer)
            for nonce in buffer[0..<outcome.candidates] {
                let digest = job.referenceHash(nonce: nonce)
                if target.isMet(by: digest) { result.append(Solution(nonce: nonce, hash: digest)) }
            }
            if outcome.scanned == 0 { break }  // cannot happen with capacity >= lanes; never spin
            next += outcome.scanned
        }
        return result
    }
}
