import BitcoinPrimitives
import FlexSupport
import SHA256

/// Checks kernels against the portable reference (and optionally another oracle such as OpenSSL).
public enum SelfTest {
    /// Bitcoin's genesis block header (nonce 2083236893), hash
    /// 000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f.
    public static let genesisHeaderHex =
        "01000000" + "0000000000000000000000000000000000000000000000000000000000000000"
        + "3ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a" + "29ab5f49" + "ffff001d"
        + "1dac2b7c"
    public static let genesisNonce: UInt32 = 2_083_236_893

    /// Whether `kernel` finds the genesis nonce and agrees with the reference on a few hundred nonces,
    /// including the lanes around 0xFFFFFFFF. Takes well under a millisecond; run before a kernel is
    /// chosen automatically.
    public static func quick(_ kernel: Kernel) -> Bool {
        guard let job = try? HeaderScanJob(headerHex: genesisHeaderHex),
            let target = try? UInt256(hex: "00000000ffff0000000000000000000000000000000000000000000000000000")
        else { return false }
        let found = NonceSearch.solutions(
            kernel: kernel, job: job, first: genesisNonce - 37, count: 100, target: target)
        guard found.map(\.nonce) == [genesisNonce],
            found[0].hash.reversedHex == "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
        else { return false }
        var rng = SplitMix64(seed: 0x5E1F_7E57)
        for first in [UInt32.max - 21, 0, UInt32.random(in: 0...UInt32.max, using: &rng)] {
            if !mismatches(kernel, job: job, first: first, count: 48, oracle: nil).isEmpty { return false }
        }
        return true
    }

    /// A disagreement between a kernel and the reference or the oracle.
    public struct Mismatch: Hashable, Sendable, CustomStringConvertible {
        public let header: [UInt8]
        public let nonce: UInt32
        public let kernelWord: UInt32
        public let referenceWord: UInt32
        public let oracleWord: UInt32?
        public var description: String {
            let o = oracleWord.map { ", oracle \(hex32($0))" } ?? ""
            return
                "nonce \(nonce) header \(Hex.encode(header)): kernel \(hex32(kernelWord)), reference \(hex32(referenceWord))\(o)"
        }
    }

    /// Nonces in `first ..< first + count` (wrapping) where the kernel's top hash word differs from the
    /// reference's, or the reference's differs from `oracle`'s (which gets the full 80-byte header).
    public static func mismatches(
        _ kernel: Kernel, job: HeaderScanJob, first: UInt32, count: Int, oracle: ((_ header: [UInt8]) -> UInt32)?
    ) -> [Mismatch] {
        let words = kernel.mostSignificantWords(job, first: first, count: count)
        var bad: [Mismatch] = []
        for i in 0..<count {
            let nonce = first &+ UInt32(truncatingIfNeeded: i)
            let reference = job.referenceHash(nonce: nonce).mostSignificantWord
            let o = oracle?(job.header(nonce: nonce))
            if words[i] != reference || (o != nil && o != reference) {
                bad.append(
                    Mismatch(
                        header: job.header(nonce: nonce), nonce: nonce, kernelWord: words[i], referenceWord: reference,
                        oracleWord: o))
            }
        }
        return bad
    }

    /// What `run` checked for one kernel.
    public struct Report: Sendable {
        public let kernel: Kernel
        public let seed: UInt64
        /// Nonces whose top hash word was compared with the reference (and the oracle).
        public let noncesChecked: Int
        /// Early-reject scans whose candidate set was compared with the reference's winners.
        public let scansChecked: Int
        public let mismatches: [Mismatch]
        public var passed: Bool { mismatches.isEmpty }
    }

    /// Checks every kernel in `kernels` on `count` nonces of random headers (seeded): each kernel's top
    /// hash word against the reference, the reference against `oracle` (computed once per nonce), and
    /// early-reject scans with random easy targets, whose candidates must equal the reference's
    /// winners exactly. About one range in eight starts just below 0xFFFFFFFF so lanes straddle the
    /// end of the nonce space.
    public static func run(
        _ kernels: [Kernel], count: Int, seed: UInt64, oracle: ((_ header: [UInt8]) -> UInt32)? = nil
    ) -> [Report] {
        var rng = SplitMix64(seed: seed)
        var checked = 0
        var ranges = 0
        var bad = Array(repeating: [Mismatch](), count: kernels.count)
        while checked < count {
            let job = HeaderScanJob.random(using: &rng)
            let first: UInt32 =
                ranges % 8 == 0
                ? UInt32.max - UInt32.random(in: 0...40, using: &rng) : UInt32.random(in: 0...UInt32.max, using: &rng)
            let n = Swift.min(257, count - checked)
            let nonces = (0..<n).map { first &+ UInt32($0) }
            let reference = nonces.map { job.referenceHash(nonce: $0).mostSignificantWord }
            let oracleWords = oracle.map { o in nonces.map { o(job.header(nonce: $0)) } }
            let high = UInt32.max >> UInt32.random(in: 1...6, using: &rng)
            let target = UInt256(highWord: high)
            let end = Swift.min(UInt64(first) + UInt64(n), 1 << 32)
            let winners = (0..<Int(end - UInt64(first))).filter { reference[$0] <= high }.map { nonces[$0] }
            for (k, kernel) in kernels.enumerated() where bad[k].count < 10 {
                let words = kernel.mostSignificantWords(job, first: first, count: n)
                for i in 0..<n where words[i] != reference[i] || (oracleWords != nil && oracleWords![i] != reference[i])
                {
                    bad[k].append(
                        Mismatch(
                            header: job.header(nonce: nonces[i]), nonce: nonces[i], kernelWord: words[i],
                            referenceWord: reference[i], oracleWord: oracleWords?[i]))
                }
                let got = NonceSearch.solutions(
                    kernel: kernel, job: job, first: first, count: UInt64(n), target: target)
                if got.map(\.nonce) != winners {
                    let nonce = Set(winners).symmetricDifference(got.map(\.nonce)).sorted().first ?? first
                    bad[k].append(
                        Mismatch(
                            header: job.header(nonce: nonce), nonce: nonce, kernelWord: 0,
                            referenceWord: job.referenceHash(nonce: nonce).mostSignificantWord, oracleWord: nil))
                }
            }
            checked += n
            ranges += 1
        }
        return kernels.enumerated().map { k, kernel in
            Report(kernel: kernel, seed: seed, noncesChecked: checked, scansChecked: ranges, mismatches: bad[k])
        }
    }
}

func hex32(_ x: UInt32) -> String {
    let s = String(x, radix: 16)
    return String(repeating: "0", count: 8 - s.count) + s
}
