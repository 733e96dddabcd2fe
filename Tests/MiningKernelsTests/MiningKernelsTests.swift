import BitcoinPrimitives
import CPUFeatures
import MiningKernels
import OpenSSLSHA256
import SHA256
import TestSupport
import Testing

/// Every kernel this CPU can run (all SHA-extension interleaves included).
let kernels = Kernel.available(includeVariants: true)

func openSSLTopWord(_ header: [UInt8]) -> UInt32 {
    let d = OpenSSLSHA256.hashTwice(header)
    return UInt32(d[28]) | UInt32(d[29]) << 8 | UInt32(d[30]) << 16 | UInt32(d[31]) << 24
}

/// The target encoded by compact bits: the chain layer's one decoding (Bitcoin Core's SetCompact).
func target(bits: UInt32) -> UInt256 { try! CompactTarget(bits: bits).target() }

@Suite("Kernels against the reference and OpenSSL")
struct KernelDifferentialTests {
    @Test func thisMachineHasTheExpectedKernels() {
        let names = Set(kernels.map(\.name))
        #expect(names.contains(.scalar))
        let f = CPUFeatures.current
        #if arch(x86_64)
            #expect(names.contains(.simd4))
            #expect(names.contains(.simd8) == f.x86_64_v3)
            #expect(names.contains(.simd16) == (f.x86_64_v3 || f.x86_64_v4))
            #expect(names.contains(.shani2) == f.shaExtensions)
            #expect(names.contains(.hybrid16x2) == (f.x86_64_v4 && f.shaExtensions))
            #expect(names.contains(.hybrid8x2) == (f.x86_64_v3 && f.shaExtensions))
        #endif
    }

    /// 10^5 seeded random nonces per kernel: every lane's top hash word equals the reference's, the
    /// reference equals OpenSSL, and early-reject scans return exactly the reference's winners.
    @Test(arguments: kernels)
    func randomHeadersAndNonces(_ kernel: Kernel) {
        let seed = UInt64.random(in: 0...UInt64.max)
        let report = SelfTest.run([kernel], count: 100_000, seed: seed, oracle: openSSLTopWord)[0]
        #expect(report.noncesChecked == 100_000)
        #expect(report.passed, "seed \(seed): \(report.mismatches.prefix(3))")
    }

    /// Nonces at every lane position just below and across 0xFFFFFFFF, and at 0.
    @Test(arguments: kernels)
    func laneBoundaries(_ kernel: Kernel) throws {
        let job = try HeaderScanJob(headerHex: HeaderFixture.all[1].header)
        for first in [UInt32.max - 63, UInt32.max - 16, UInt32.max - 1, UInt32.max, 0] {
            let words = kernel.mostSignificantWords(job, first: first, count: 64)
            for i in 0..<64 {
                let nonce = first &+ UInt32(i)
                #expect(words[i] == openSSLTopWord(job.header(nonce: nonce)), "\(kernel) nonce \(nonce)")
            }
        }
    }

    @Test(arguments: kernels)
    func findsTheRealNonceOfEveryFixtureBlock(_ kernel: Kernel) throws {
        for fixture in HeaderFixture.all {
            let header = try Hex.decode(fixture.header)
            let job = try HeaderScanJob(header: header)
            let nonce = header[76...].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            let bits = header[72..<76].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            let first = nonce >= 3000 ? nonce - 3000 : 0
            let found = NonceSearch.solutions(
                kernel: kernel, job: job, first: first, count: 6001, target: target(bits: bits))
            #expect(found.map(\.nonce) == [nonce], "\(fixture.name) with \(kernel)")
            #expect(found.first?.hash.reversedHex == fixture.hash)
        }
    }

    /// Early reject never drops a winner: with easy targets (regtest's, and random ones) the winners
    /// in a range are exactly those the reference finds, for every kernel.
    @Test(arguments: kernels)
    func earlyRejectKeepsEveryWinner(_ kernel: Kernel) throws {
        let job = try HeaderScanJob(headerHex: HeaderFixture.all[2].header)
        let regtest = try UInt256(hex: "7fffff0000000000000000000000000000000000000000000000000000000000")
        let easy = try UInt256(hex: "00ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff")
        let firstWordOnly = UInt256(0, 0, 0, 0x0100_0000_0000_0000)
        for target in [regtest, easy, firstWordOnly, .max] {
            let first: UInt32 = 1_000_003
            let count = 5000
            let expected = (0..<UInt32(count)).map { first + $0 }.filter {
                target.isMet(by: job.referenceHash(nonce: $0))
            }
            let found = NonceSearch.solutions(
                kernel: kernel, job: job, first: first, count: UInt64(count), target: target)
            #expect(found.map(\.nonce) == expected, "\(kernel) target \(target)")
            #expect(found.allSatisfy { target.isMet(by: $0.hash) })
        }
    }
}

@Suite("Scan contract")
struct ScanContractTests {
    @Test(arguments: kernels)
    func stopsAtTheEndOfTheNonceSpace(_ kernel: Kernel) throws {
        let job = try HeaderScanJob(headerHex: HeaderFixture.all[0].header)
        var buffer = [UInt32](repeating: 0, count: 64)
        let r = buffer.withUnsafeMutableBufferPointer {
            kernel.scan(job, first: .max - 9, count: 1000, targetHigh: .max, out: $0)
        }
        #expect(r.scanned == 10)
        #expect(r.candidates == 10)
        #expect(Array(buffer[0..<10]) == (0..<10).map { UInt32.max - 9 + UInt32($0) })
    }

    @Test(arguments: kernels)
    func stopsWhenTheCandidateBufferIsFull(_ kernel: Kernel) throws {
        let job = try HeaderScanJob(headerHex: HeaderFixture.all[0].header)
        var buffer = [UInt32](repeating: 0, count: 40)
        let r = buffer.withUnsafeMutableBufferPointer {
            kernel.scan(job, first: 7, count: 10_000, targetHigh: .max, out: $0)
        }
        #expect(r.candidates == Int(r.scanned))
        #expect(r.candidates <= 40 && r.candidates > 40 - 2 * kernel.lanes)
        // A buffer smaller than one step scans nothing rather than overflowing.
        var tiny = [UInt32](repeating: 0, count: max(0, kernel.lanes - 1))
        let none = tiny.withUnsafeMutableBufferPointer {
            kernel.scan(job, first: 0, count: 100, targetHigh: .max, out: $0)
        }
        #expect(none.scanned == 0 || kernel.lanes == 1)
    }
}

/// `f` with the AVX-512 features cleared (a Zen 2/3: AVX2 and the SHA extensions).
func withoutAVX512(_ f: CPUFeatures) -> CPUFeatures {
    var g = f
    (g.avx512f, g.avx512bw, g.avx512cd, g.avx512dq, g.avx512vl) = (false, false, false, false, false)
    return g
}

@Suite("Dispatch")
struct DispatchTests {
    @Test func autoPicksAKernelThatPassesItsSelfTest() {
        #expect(SelfTest.quick(Kernel.best))
        #expect(kernels.contains(Kernel.best) || Kernel.best.name == .shani)
    }

    /// A CPU without AVX2, AVX-512 or SHA (plain x86-64) gets a baseline kernel, and asking for an
    /// accelerated one names what is missing instead of crashing.
    @Test func baselineCPUNeverGetsAcceleratedKernels() {
        var baseline = CPUFeatures()
        baseline.sse2 = true
        let best = Kernel.best(for: baseline)
        #expect([KernelName.simd4, .scalar].contains(best.name))
        for name in [KernelName.simd8, .simd16, .shani, .shani3] {
            #expect(throws: KernelError.self) { try Kernel.named(name, features: baseline) }
        }
        #expect(Kernel.available(features: baseline).allSatisfy { $0.name == .scalar || $0.name == .simd4 })
    }

    /// The hybrid kernels need both engines: AVX-512 without the SHA extensions (Skylake-SP) gets no
    /// hybrid, the SHA extensions with AVX2 only (Zen 2/3) get the 8-lane ones, and asking for one the CPU
    /// cannot run names what is missing.
    @Test func hybridsNeedTheirLanesAndSHA() {
        var f = CPUFeatures()
        (f.sse2, f.ssse3, f.sse41, f.avx, f.avx2, f.bmi1, f.bmi2, f.fma, f.movbe, f.lzcnt, f.f16c) =
            (true, true, true, true, true, true, true, true, true, true, true)
        let wide: [KernelName] = [.hybrid16x1, .hybrid16x2]
        let narrow: [KernelName] = [.hybrid8x1, .hybrid8x2]
        func offered(_ f: CPUFeatures) -> Set<KernelName> {
            Set(Kernel.available(features: f, includeVariants: true).map(\.name)).intersection(wide + narrow)
        }
        #expect(offered(f).isEmpty)
        #expect(throws: KernelError.self) { try Kernel.named(.hybrid8x2, features: f) }
        f.sha = true
        for name in wide {
            #expect(throws: KernelError.self) { try Kernel.named(name, features: f) }
        }
        (f.avx512f, f.avx512bw, f.avx512cd, f.avx512dq, f.avx512vl, f.sha) = (true, true, true, true, true, false)
        #expect(offered(f).isEmpty)
        f.sha = true
        #if arch(x86_64)
            #expect(offered(withoutAVX512(f)) == Set(narrow))
            #expect(offered(f) == Set(wide + narrow))
            let k = try? Kernel.named(.hybrid16x2, features: f)
            #expect(k?.lanes == 18 && k?.isa == "avx512+sha" && k?.description == "hybrid16+2(avx512+sha)")
            #expect((try? Kernel.named(.hybrid8x1, features: f))?.lanes == 9)
        #else
            #expect(offered(f).isEmpty)
        #endif
    }

    @Test func avx512IsUsedOnlyWithOSSupport() {
        var f = CPUFeatures()
        (f.sse2, f.ssse3, f.sse41, f.avx, f.avx2, f.bmi1, f.bmi2, f.fma, f.movbe, f.lzcnt, f.f16c) =
            (true, true, true, true, true, true, true, true, true, true, true)
        #expect((try? Kernel.named(.simd16, features: f))?.isa == "avx2")
        (f.avx512f, f.avx512bw, f.avx512cd, f.avx512dq, f.avx512vl) = (true, true, true, true, true)
        #expect((try? Kernel.named(.simd16, features: f))?.isa == "avx512")
    }

    @Test func detectionAgreesWithProcCpuinfo() throws {
        #if os(Linux) && arch(x86_64)
            let text = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
            guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return }
            let flags = Set(line.split(separator: " ").map(String.init))
            let f = CPUFeatures.current
            #expect(f.avx2 == flags.contains("avx2"))
            #expect(f.sha == flags.contains("sha_ni"))
            #expect(f.avx512f == flags.contains("avx512f"))
            #expect(f.sse41 == flags.contains("sse4_1"))
        #endif
    }
}

@Suite("Targets")
struct HashTargetTests {
    @Test func parsesAndComparesLikeBitcoin() throws {
        let t = try UInt256(hex: "00000000ffff0000000000000000000000000000000000000000000000000000")
        #expect(t.highWord == 0)
        #expect(t.hex == "00000000ffff0000000000000000000000000000000000000000000000000000")
        let genesis = try HeaderScanJob(headerHex: SelfTest.genesisHeaderHex).referenceHash(
            nonce: SelfTest.genesisNonce)
        #expect(t.isMet(by: genesis))
        #expect(!UInt256.zero.isMet(by: genesis))
        #expect(UInt256(highWord: 0x0001_0000).highWord == 0x0001_0000)
        #expect(target(bits: 0x1d00_ffff) == t)
    }

    @Test func rejectsMalformedTargets() {
        #expect(throws: ChainError.self) { try UInt256(hex: "7fffff") }
        #expect(throws: ChainError.self) { try UInt256(hex: String(repeating: "x", count: 64)) }
    }
}
