import CPUFeatures
import Foundation
import MiningKernels
import Synchronization
import Testing

/// A CPU with every feature the kernels use, so every kernel is a candidate; the fake measurements
/// below never execute a kernel, so the host CPU does not matter.
private let everything: CPUFeatures = {
    var f = CPUFeatures()
    (f.sse2, f.ssse3, f.sse41, f.avx, f.avx2, f.bmi1, f.bmi2, f.fma, f.movbe, f.lzcnt, f.f16c) =
        (true, true, true, true, true, true, true, true, true, true, true)
    (f.avx512f, f.avx512bw, f.avx512cd, f.avx512dq, f.avx512vl, f.sha) = (true, true, true, true, true, true)
    f.brand = "Test CPU"
    return f
}()

/// The Intel figures (MH/s): AVX-512 twice as fast as the SHA unit.
private let intel: [String: Double] = [
    "scalar": 1.5, "simd4": 3.4, "simd8": 9.1, "simd16": 22.5, "shani1": 9.8, "shani2": 10.7, "shani3": 11.1,
    "shani4": 11.1,
]
/// Figures with the SHA unit ahead (AMD Zen).
private let zen: [String: Double] = [
    "scalar": 1.5, "simd4": 3.4, "simd8": 8.7, "simd16": 7.0, "shani1": 13.8, "shani2": 18.9, "shani3": 15.7,
    "shani4": 15.1,
]

/// A fake calibration: returns the table's figure and counts the calls.
private final class FakeBench: Sendable {
    let table: [String: Double]
    let calls = Atomic<Int>(0)
    init(_ table: [String: Double]) { self.table = table }
    func measure(_ k: Kernel) -> Double {
        calls.add(1, ordering: .relaxed)
        return (table[k.name.rawValue] ?? 0) * 1e6
    }
}

private func scratchCacheFile() -> String {
    let dir = NSTemporaryDirectory() + "flexminer-dispatch-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
    return dir + "/flexminer/kernel-choice.json"
}

private func dispatch(
    _ bench: FakeBench, cacheFile: String, cpu: String = "Test CPU", binary: String = "build-1",
    selfTest: @escaping @Sendable (Kernel) -> Bool = { _ in true }
) -> KernelDispatch {
    KernelDispatch(
        cacheFile: cacheFile, key: .init(cpu: cpu, features: everything.names, binary: binary),
        candidates: Kernel.available(features: everything, includeVariants: true), rounds: 2,
        measure: { bench.measure($0) }, selfTest: selfTest)
}

/// The cached record as a user (or another tool) would read it.
private func cacheContents(_ path: String) throws -> [String: Any] {
    let data = try #require(FileManager.default.contents(atPath: path))
    return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
}

@Suite("Measured dispatch")
struct KernelDispatchTests {
    @Test func picksTheFastestMeasuredKernelAndCachesIt() throws {
        let path = scratchCacheFile()
        let bench = FakeBench(intel)
        let choice = dispatch(bench, cacheFile: path).choose()
        #expect(choice.kernel.name == .simd16)
        #expect(!choice.cached)
        #expect(choice.reason.hasPrefix("fastest in calibration "))
        #expect(choice.reason.contains("simd16 22.5 MH/s"))
        #expect(choice.reason.hasSuffix("measured now"))
        #expect(choice.figures.map(\.kernel).first == "simd16")
        // Every kernel (`shani` counted once as `shani2`), the hybrids included: measured 0 here, never chosen.
        let all = Kernel.available(features: everything, includeVariants: true).count
        #expect(all == 12)
        #expect(choice.figures.count == all)
        #expect(bench.calls.load(ordering: .relaxed) == all * 2)  // two interleaved rounds

        let record = try cacheContents(path)
        #expect(record["kernel"] as? String == "simd16")
        let key = try #require(record["key"] as? [String: Any])
        #expect(key["cpu"] as? String == "Test CPU")
        var st = stat()
        #expect(stat(path, &st) == 0)
        #expect(st.st_mode & 0o777 == 0o600)
        // Nothing left behind by the atomic write.
        let dir = (path as NSString).deletingLastPathComponent
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["kernel-choice.json"])

        // Another CPU's figures, same key: the cache answers, nothing is measured.
        let other = FakeBench(zen)
        let again = dispatch(other, cacheFile: path).choose()
        #expect(again.kernel.name == .simd16)
        #expect(again.cached)
        #expect(again.reason.hasSuffix("cached"))
        #expect(again.figures == choice.figures)
        #expect(other.calls.load(ordering: .relaxed) == 0)
    }

    @Test func theSHAUnitWinsWhereItIsFastest() {
        let choice = dispatch(FakeBench(zen), cacheFile: scratchCacheFile()).choose()
        #expect(choice.kernel.name == .shani2)
        #expect(choice.kernel.lanes == 2)
    }

    /// Where one thread gains by driving both engines, the measured dispatch picks the hybrid; where it
    /// does not (the tables above, without hybrid figures), the better single kernel stays.
    @Test func theHybridWinsOnlyWhereItIsFastest() {
        var table = zen
        table["simd16"] = 33.4
        table["hybrid16+2"] = 38.0
        table["hybrid16+1"] = 35.0
        #expect(dispatch(FakeBench(table), cacheFile: scratchCacheFile()).choose().kernel.name == .hybrid16x2)
        table["hybrid16+2"] = 33.0
        table["hybrid16+1"] = 32.0
        #expect(dispatch(FakeBench(table), cacheFile: scratchCacheFile()).choose().kernel.name == .simd16)
    }

    @Test func anotherCPUOrBinaryInvalidatesTheCache() throws {
        let path = scratchCacheFile()
        _ = dispatch(FakeBench(intel), cacheFile: path).choose()
        for (cpu, binary) in [("Other CPU", "build-1"), ("Test CPU", "build-2")] {
            let bench = FakeBench(zen)
            let choice = dispatch(bench, cacheFile: path, cpu: cpu, binary: binary).choose()
            #expect(!choice.cached)
            #expect(choice.kernel.name == .shani2)
            #expect(bench.calls.load(ordering: .relaxed) > 0)
            let key = try #require(try cacheContents(path)["key"] as? [String: Any])
            #expect(key["cpu"] as? String == cpu && key["binary"] as? String == binary)
            // Back to the first key: the cache now holds the other one, so this measures again.
            let back = FakeBench(intel)
            #expect(dispatch(back, cacheFile: path).choose().kernel.name == .simd16)
            #expect(back.calls.load(ordering: .relaxed) > 0)
        }
    }

    @Test func recalibrateMeasuresAgainAndRewrites() throws {
        let path = scratchCacheFile()
        _ = dispatch(FakeBench(intel), cacheFile: path).choose()
        let bench = FakeBench(zen)
        let choice = dispatch(bench, cacheFile: path).choose(recalibrate: true)
        #expect(!choice.cached)
        #expect(choice.kernel.name == .shani2)
        #expect(
            bench.calls.load(ordering: .relaxed) == Kernel.available(features: everything, includeVariants: true).count
                * 2)
        #expect(try cacheContents(path)["kernel"] as? String == "shani2")
        // And the rewritten cache is what the next start reuses.
        let next = dispatch(FakeBench(intel), cacheFile: path).choose()
        #expect(next.cached && next.kernel.name == .shani2)
    }

    @Test(arguments: ["", "{", "not json at all", "{\"format\":1}", "[1,2,3]", "{\"format\":99,\"kernel\":\"simd16\"}"])
    func aCorruptCacheIsIgnoredAndRewritten(contents: String) throws {
        let path = scratchCacheFile()
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(contents.utf8).write(to: URL(fileURLWithPath: path))
        let bench = FakeBench(intel)
        let choice = dispatch(bench, cacheFile: path).choose()
        #expect(!choice.cached && choice.kernel.name == .simd16)
        #expect(try cacheContents(path)["kernel"] as? String == "simd16")
    }

    @Test func aCachedKernelThatNoLongerNamesOrPassesIsMeasuredAgain() throws {
        let path = scratchCacheFile()
        _ = dispatch(FakeBench(intel), cacheFile: path).choose()
        // The cached kernel now fails its self-test: never used, the next fastest wins.
        let bench = FakeBench(intel)
        let choice = dispatch(bench, cacheFile: path, selfTest: { $0.name != .simd16 }).choose()
        #expect(!choice.cached)
        #expect(choice.kernel.name == .shani3)
        #expect(!choice.figures.contains { $0.kernel == "simd16" })
    }

    @Test func anUnwritableCacheStillChooses() {
        let choice = dispatch(FakeBench(intel), cacheFile: "/proc/flexminer-no/kernel-choice.json").choose()
        #expect(choice.kernel.name == .simd16 && !choice.cached && choice.cacheFile == nil)
    }

    @Test func cacheFileFollowsXDG() {
        #expect(
            KernelDispatch.defaultCacheFile(environment: ["XDG_CACHE_HOME": "/x/cache", "HOME": "/home/u"])
                == "/x/cache/flexminer/kernel-choice.json")
        #expect(
            KernelDispatch.defaultCacheFile(environment: ["XDG_CACHE_HOME": "relative", "HOME": "/home/u"])
                == "/home/u/.cache/flexminer/kernel-choice.json")
        #expect(KernelDispatch.defaultCacheFile(environment: [:]) == nil)
    }

    /// The real calibration on this CPU: every kernel it measures is one this CPU can run, and the pick is
    /// the fastest of its own figures.
    @Test func realCalibrationPicksItsOwnFastest() {
        let d = KernelDispatch(
            cacheFile: nil, key: .init(cpu: "x", features: [], binary: "x"), candidates: kernels, rounds: 1,
            measure: { KernelDispatch.calibrate($0, seconds: 0.005) })
        let choice = d.choose()
        #expect(choice.figures.count == kernels.count)
        #expect(choice.figures.allSatisfy { $0.hashesPerSecond > 0 })
        #expect(choice.figures.first?.kernel == choice.kernel.name.rawValue)
    }
}
