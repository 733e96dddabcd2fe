import CFlexCPUID

/// The instruction-set features FlexMiner's kernels care about, as usable on this machine: the CPU
/// reports them (CPUID) *and* the OS saves the register state they need (XGETBV/XCR0).
public struct CPUFeatures: Hashable, Sendable, CustomStringConvertible {
    public var sse2 = false
    public var ssse3 = false
    public var sse41 = false
    public var avx = false
    public var avx2 = false
    public var bmi1 = false
    public var bmi2 = false
    public var fma = false
    public var movbe = false
    public var lzcnt = false
    public var f16c = false
    public var avx512f = false
    public var avx512bw = false
    public var avx512cd = false
    public var avx512dq = false
    public var avx512vl = false
    public var sha = false
    /// The CPU's brand string, when CPUID provides it.
    public var brand = ""

    public init() {}

    /// Everything a module built for `-target-cpu x86-64-v3` may use.
    public var x86_64_v3: Bool { avx2 && avx && bmi1 && bmi2 && fma && movbe && lzcnt && f16c && sse41 && ssse3 }
    /// Everything a module built for `-target-cpu x86-64-v4` may use.
    public var x86_64_v4: Bool { x86_64_v3 && avx512f && avx512bw && avx512cd && avx512dq && avx512vl }
    /// What the SHA-extensions kernel module is built for (`-msha -msse4.1 -mssse3`).
    public var shaExtensions: Bool { sha && sse41 && ssse3 }

    /// Feature names that are present, in a fixed order (for logs and JSON).
    public var names: [String] {
        let all: [(String, Bool)] = [
            ("sse2", sse2), ("ssse3", ssse3), ("sse4.1", sse41), ("avx", avx), ("avx2", avx2), ("bmi1", bmi1),
            ("bmi2", bmi2), ("fma", fma), ("movbe", movbe), ("lzcnt", lzcnt), ("f16c", f16c),
            ("avx512f", avx512f), ("avx512bw", avx512bw), ("avx512cd", avx512cd), ("avx512dq", avx512dq),
            ("avx512vl", avx512vl), ("sha", sha),
        ]
        return all.filter(\.1).map(\.0)
    }

    public var description: String { names.joined(separator: " ") }

    /// This machine's features, detected once per process.
    public static let current: CPUFeatures = detect()

    /// Reads CPUID and XCR0. On non-x86 machines every flag is false.
    public static func detect() -> CPUFeatures {
        var f = CPUFeatures()
        var r = fm_cpuid_regs()
        guard fm_is_x86() != 0, fm_cpuid(1, 0, &r) != 0 else { return f }
        let ecx1 = r.ecx
        let edx1 = r.edx
        func bit(_ word: UInt32, _ n: UInt32) -> Bool { word & (1 << n) != 0 }
        let xcr0 = fm_xgetbv0()
        // XMM (bit 1) and YMM (bit 2) state; AVX-512 also needs opmask, ZMM_Hi256, Hi16_ZMM (5, 6, 7).
        let osAVX = bit(ecx1, 27) && (xcr0 & 0b110) == 0b110
        let osAVX512 = osAVX && (xcr0 & 0b1110_0000) == 0b1110_0000

        f.sse2 = bit(edx1, 26)
        f.ssse3 = bit(ecx1, 9)
        f.sse41 = bit(ecx1, 19)
        f.fma = bit(ecx1, 12) && osAVX
        f.movbe = bit(ecx1, 22)
        f.avx = bit(ecx1, 28) && osAVX
        f.f16c = bit(ecx1, 29) && osAVX
        if fm_cpuid(7, 0, &r) != 0 {
            f.bmi1 = bit(r.ebx, 3)
            f.avx2 = bit(r.ebx, 5) && osAVX
            f.bmi2 = bit(r.ebx, 8)
            f.avx512f = bit(r.ebx, 16) && osAVX512
            f.avx512dq = bit(r.ebx, 17) && osAVX512
            f.avx512cd = bit(r.ebx, 28) && osAVX512
            f.sha = bit(r.ebx, 29)
            f.avx512bw = bit(r.ebx, 30) && osAVX512
            f.avx512vl = bit(r.ebx, 31) && osAVX512
        }
        if fm_cpuid(0x8000_0001, 0, &r) != 0 {
            f.lzcnt = bit(r.ecx, 5)
        }
        if fm_cpuid(0x8000_0004, 0, &r) != 0 {
            var bytes = [UInt8]()
            for leaf: UInt32 in 0x8000_0002...0x8000_0004 {
                _ = fm_cpuid(leaf, 0, &r)
                for word in [r.eax, r.ebx, r.ecx, r.edx] {
                    for shift in stride(from: 0, to: 32, by: 8) {
                        bytes.append(UInt8(truncatingIfNeeded: word >> UInt32(shift)))
                    }
                }
            }
            f.brand = String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self).trimmingSpaces()
        }
        return f
    }
}

extension String {
    fileprivate func trimmingSpaces() -> String {
        var s = Substring(self)
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
