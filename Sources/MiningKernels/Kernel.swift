import CPUFeatures
import SHA256
import SHA256KernelsAVX2
import SHA256KernelsAVX512
import SHA256KernelsHybridAVX2
import SHA256KernelsHybridAVX512
import SHA256KernelsSHANI
import SHA256KernelsSSE2

/// The kernels a user can ask for by name (`--kernel NAME`).
public enum KernelName: String, CaseIterable, Sendable, Hashable {
    /// Portable Swift, one nonce per step.
    case scalar
    /// 4 lanes (SSE2: any x86-64).
    case simd4
    /// 8 lanes (AVX2).
    case simd8
    /// 16 lanes (AVX-512 where present, else two AVX2 registers).
    case simd16
    /// SHA extensions with the default interleave (see `Kernel.defaultSHAWays`).
    case shani
    /// SHA extensions with an explicit number of interleaved nonces.
    case shani1, shani2, shani3, shani4
    /// One thread driving both engines: 16 AVX-512 lanes and 1-2 SHA-extension nonce streams per step
    /// (needs AVX-512 and the SHA extensions).
    case hybrid16x1 = "hybrid16+1"
    case hybrid16x2 = "hybrid16+2"
    /// 8 AVX2 lanes and 1-2 SHA-extension streams per step (needs AVX2 and the SHA extensions).
    case hybrid8x1 = "hybrid8+1"
    case hybrid8x2 = "hybrid8+2"

    /// The hybrid kernels: (vector lanes, SHA streams) per step, nil for the others.
    public var hybridShape: (lanes: Int, ways: Int)? {
        switch self {
        case .hybrid16x1: (16, 1)
        case .hybrid16x2: (16, 2)
        case .hybrid8x1: (8, 1)
        case .hybrid8x2: (8, 2)
        default: nil
        }
    }
}

/// Why a kernel cannot be used.
public struct KernelError: Error, Hashable, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// One concrete kernel build: a name, the instruction set it was compiled for, and the code.
///
/// Calling `scan` costs one switch per call (per batch of nonces), never per hash.
public struct Kernel: Sendable, Hashable, CustomStringConvertible {
    enum Implementation: Hashable, Sendable {
        case scalar, sse2x4, avx2x8, avx2x16, avx512x16
        case shani(ways: Int)
        case hybridAVX512(ways: Int)
        case hybridAVX2(ways: Int)
    }

    public let name: KernelName
    /// The instruction set the code was compiled for: "portable", "sse2", "avx2", "avx512", "sha",
    /// "avx512+sha", "avx2+sha".
    public let isa: String
    /// Nonces computed per step (lanes, or interleaved streams).
    public let lanes: Int
    let implementation: Implementation

    /// Printable identity, e.g. "simd16(avx512)", "shani(sha, 2-way)" or "hybrid16+2(avx512+sha)".
    public var description: String {
        switch implementation {
        case .shani(let ways): "\(name.rawValue)(\(isa), \(ways)-way)"
        default: "\(name.rawValue)(\(isa))"
        }
    }

    /// The interleave used by plain `shani`: the fastest measured on the machines we have (see docs/performance.md).
    public static let defaultSHAWays = 2

    /// Every kernel this build contains, whether or not this CPU can run it.
    static func build(_ name: KernelName, features: CPUFeatures) -> Kernel? {
        #if arch(x86_64)
            switch name {
            case .scalar: return Kernel(name: name, isa: "portable", lanes: 1, implementation: .scalar)
            case .simd4: return Kernel(name: name, isa: "sse2", lanes: 4, implementation: .sse2x4)
            case .simd8:
                return features.x86_64_v3 ? Kernel(name: name, isa: "avx2", lanes: 8, implementation: .avx2x8) : nil
            case .simd16:
                if features.x86_64_v4 {
                    return Kernel(name: name, isa: "avx512", lanes: 16, implementation: .avx512x16)
                }
                if features.x86_64_v3 { return Kernel(name: name, isa: "avx2", lanes: 16, implementation: .avx2x16) }
                return nil
            case .shani, .shani1, .shani2, .shani3, .shani4:
                guard features.shaExtensions, SHA256dSHANI.isCompiled else { return nil }
                let ways =
                    switch name {
                    case .shani1: 1
                    case .shani2: 2
                    case .shani3: 3
                    case .shani4: 4
                    default: defaultSHAWays
                    }
                return Kernel(name: name, isa: "sha", lanes: ways, implementation: .shani(ways: ways))
            case .hybrid16x1, .hybrid16x2, .hybrid8x1, .hybrid8x2:
                guard let shape = name.hybridShape, features.shaExtensions else { return nil }
                let (width, ways) = shape
                if width == 16 {
                    guard features.x86_64_v4, SHA256dHybridAVX512.isCompiled else { return nil }
                    return Kernel(
                        name: name, isa: "avx512+sha", lanes: width + ways, implementation: .hybridAVX512(ways: ways))
                }
                guard features.x86_64_v3, SHA256dHybridAVX2.isCompiled else { return nil }
                return Kernel(name: name, isa: "avx2+sha", lanes: width + ways, implementation: .hybridAVX2(ways: ways))
            }
        #else
            switch name {
            case .scalar: return Kernel(name: name, isa: "portable", lanes: 1, implementation: .scalar)
            case .simd4: return Kernel(name: name, isa: "simd4", lanes: 4, implementation: .sse2x4)
            default: return nil
            }
        #endif
    }

    /// The kernel called `name` if this CPU can run it.
    /// - Throws: `KernelError` naming the missing CPU features otherwise.
    public static func named(_ name: KernelName, features: CPUFeatures = .current) throws(KernelError) -> Kernel {
        guard let k = build(name, features: features) else {
            let need =
                switch name {
                case .simd8: "AVX2 (x86-64-v3)"
                case .simd16: "AVX2 (x86-64-v3) or AVX-512 (x86-64-v4)"
                case .hybrid16x1, .hybrid16x2: "AVX-512 (x86-64-v4) and the SHA extensions"
                case .hybrid8x1, .hybrid8x2: "AVX2 (x86-64-v3) and the SHA extensions"
                default: "the SHA extensions with SSE4.1"
                }
            throw KernelError("kernel '\(name.rawValue)' needs \(need); this CPU has: \(features)")
        }
        return k
    }

    /// Kernels this CPU can run, slowest first (`shani1…4` variants excluded unless `includeVariants`).
    public static func available(features: CPUFeatures = .current, includeVariants: Bool = false) -> [Kernel] {
        let names: [KernelName] =
            includeVariants
            ? KernelName.allCases.filter { $0 != .shani }
            : [.scalar, .simd4, .simd8, .simd16, .shani]
        return names.compactMap { build($0, features: features) }
    }

    /// The fastest kernel for this CPU that passes its self-test, as measured by `KernelDispatch` (from its
    /// cache when this CPU and binary were calibrated before); chosen once per process.
    public static var best: Kernel { KernelDispatch.auto().kernel }

    /// Without measuring: a fixed preference order (fastest first on the machines measured, README
    /// "Performance"); the first that passes the start-up self-test wins. The scalar kernel is the last
    /// resort and is always usable. `best` measures instead; this is for CPUs that are only described.
    public static func best(for features: CPUFeatures) -> Kernel {
        let preference: [KernelName] = [.shani, .simd16, .simd8, .simd4]
        for name in preference {
            if let k = build(name, features: features), SelfTest.quick(k) { return k }
        }
        return build(.scalar, features: features)!
    }

    /// See `SHA256LaneOps.scan`: candidates whose top hash word is at most `targetHigh`.
    @inline(__always)
    public func scan(
        _ job: HeaderScanJob, first: UInt32, count: UInt64, targetHigh: UInt32,
        out: UnsafeMutableBufferPointer<UInt32>
    ) -> ScanOutcome {
        switch implementation {
        case .scalar: ScalarKernel.scan(job, first: first, count: count, targetHigh: targetHigh, out: out)
        case .sse2x4: SHA256dSSE2x4.scan(job, first: first, count: count, targetHigh: targetHigh, out: out)
        case .avx2x8: SHA256dAVX2x8.scan(job, first: first, count: count, targetHigh: targetHigh, out: out)
        case .avx2x16: SHA256dAVX2x16.scan(job, first: first, count: count, targetHigh: targetHigh, out: out)
        case .avx512x16: SHA256dAVX512x16.scan(job, first: first, count: count, targetHigh: targetHigh, out: out)
        case .shani(let ways):
            SHA256dSHANI.scan(ways: ways, job, first: first, count: count, targetHigh: targetHigh, out: out)
        case .hybridAVX512(let ways):
            SHA256dHybridAVX512.scan(ways: ways, job, first: first, count: count, targetHigh: targetHigh, out: out)
        case .hybridAVX2(let ways):
            SHA256dHybridAVX2.scan(ways: ways, job, first: first, count: count, targetHigh: targetHigh, out: out)
        }
    }

    /// The kernel's own top hash word for nonces `first ..< first + out.count` (for checks).
    public func mostSignificantWords(_ job: HeaderScanJob, first: UInt32, out: UnsafeMutableBufferPointer<UInt32>) {
        switch implementation {
        case .scalar: ScalarKernel.mostSignificantWords(job, first: first, out: out)
        case .sse2x4: SHA256dSSE2x4.mostSignificantWords(job, first: first, out: out)
        case .avx2x8: SHA256dAVX2x8.mostSignificantWords(job, first: first, out: out)
        case .avx2x16: SHA256dAVX2x16.mostSignificantWords(job, first: first, out: out)
        case .avx512x16: SHA256dAVX512x16.mostSignificantWords(job, first: first, out: out)
        case .shani(let ways): SHA256dSHANI.mostSignificantWords(ways: ways, job, first: first, out: out)
        case .hybridAVX512(let ways): SHA256dHybridAVX512.mostSignificantWords(ways: ways, job, first: first, out: out)
        case .hybridAVX2(let ways): SHA256dHybridAVX2.mostSignificantWords(ways: ways, job, first: first, out: out)
        }
    }

    /// Convenience for tests and tools: the top words as an array.
    public func mostSignificantWords(_ job: HeaderScanJob, first: UInt32, count: Int) -> [UInt32] {
        [UInt32](unsafeUninitializedCapacity: count) { buffer, initialized in
            buffer.initialize(repeating: 0)
            mostSignificantWords(job, first: first, out: buffer)
            initialized = count
        }
    }
}
