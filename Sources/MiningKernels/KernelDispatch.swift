import CPUFeatures
import FlexSupport
import Foundation
import SHA256
import Synchronization

/// One kernel's hash rate in a calibration.
public struct KernelFigure: Sendable, Hashable, Codable {
    /// The kernel's name (`KernelName.rawValue`, e.g. "simd16", "shani2").
    public let kernel: String
    /// The printable implementation, e.g. "simd16(avx512)".
    public let implementation: String
    /// Hashes per second of one thread.
    public let hashesPerSecond: Double

    public init(kernel: String, implementation: String, hashesPerSecond: Double) {
        self.kernel = kernel
        self.implementation = implementation
        self.hashesPerSecond = hashesPerSecond
    }

    enum CodingKeys: String, CodingKey {
        case kernel, implementation
        case hashesPerSecond = "hashes_per_second"
    }
}

/// What `auto` resolved to, and why.
public struct KernelChoice: Sendable, CustomStringConvertible {
    /// The kernel to mine with.
    public let kernel: Kernel
    /// Why, e.g. "fastest in calibration 2026-12-01 14:20 UTC: simd16 22.1 MH/s, shani2 20.3 MH/s; cached".
    public let reason: String
    /// Every kernel measured, fastest first (empty when nothing could be measured).
    public let figures: [KernelFigure]
    /// True when the figures come from the cache file rather than from a calibration in this process.
    public let cached: Bool
    /// When the figures were measured.
    public let measuredAt: Date
    /// The cache file read or written, if any.
    public let cacheFile: String?

    /// "auto: simd16(avx512) — fastest in calibration …".
    public var description: String { "auto: \(kernel) — \(reason)" }
}

/// The measured kernel choice behind `auto` (`Kernel.best`).
///
/// A fixed preference order cannot be right on every CPU: on some Intel CPUs the SHA unit is half the
/// speed of 16 AVX-512 lanes, on AMD Zen it is the other way round. So, as the Linux kernel picks its
/// RAID-6 and XOR routines at boot, every kernel this CPU can execute that passes its self-test is run
/// for a short calibration and the fastest wins. The result is cached per CPU model, feature set and
/// binary (a new build may have faster kernels) in `$XDG_CACHE_HOME/flexminer/kernel-choice.json`
/// (default `~/.cache`), written atomically with mode 0600 and reused on the next start. A cache file
/// that is unreadable, corrupt or for another CPU or binary is ignored and rewritten.
public struct KernelDispatch: Sendable {
    /// What a cached choice is valid for.
    public struct Key: Sendable, Hashable, Codable {
        public var cpu: String
        public var features: [String]
        public var binary: String

        public init(cpu: String, features: [String], binary: String) {
            self.cpu = cpu
            self.features = features
            self.binary = binary
        }
    }

    /// Where the choice is cached (`nil`: not cached).
    public var cacheFile: String?
    /// The CPU and binary the choice is for.
    public var key: Key
    /// Kernels that may be chosen (they must pass `selfTest` too).
    public var candidates: [Kernel]
    /// Hashes per second of one thread running `kernel` (injected by tests).
    public var measure: @Sendable (Kernel) -> Double
    /// The start-up self-test (injected by tests).
    public var selfTest: @Sendable (Kernel) -> Bool
    /// Calibration rounds, interleaved over the candidates; a kernel's best round counts (noise on a
    /// shared machine only ever slows a run down).
    public var rounds: Int
    public var now: @Sendable () -> Date

    public init(
        cacheFile: String?, key: Key, candidates: [Kernel], rounds: Int = 3,
        measure: @escaping @Sendable (Kernel) -> Double,
        selfTest: @escaping @Sendable (Kernel) -> Bool = { SelfTest.quick($0) },
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.cacheFile = cacheFile
        self.key = key
        self.candidates = candidates
        self.rounds = Swift.max(1, rounds)
        self.measure = measure
        self.selfTest = selfTest
        self.now = now
    }

    /// The dispatch of this process: this CPU's kernels, the user's cache file, real calibration runs.
    public static func standard(features: CPUFeatures = .current) -> KernelDispatch {
        KernelDispatch(
            cacheFile: defaultCacheFile(environment: ProcessInfo.processInfo.environment),
            key: Key(cpu: features.brand, features: features.names, binary: binaryIdentity()),
            candidates: Kernel.available(features: features, includeVariants: true),
            measure: { calibrate($0, seconds: 0.012) })
    }

    /// `$XDG_CACHE_HOME/flexminer/kernel-choice.json`, else `$HOME/.cache/flexminer/kernel-choice.json`;
    /// `nil` when neither is set to an absolute path (the XDG spec says to ignore relative ones).
    public static func defaultCacheFile(environment: [String: String]) -> String? {
        if let xdg = environment["XDG_CACHE_HOME"], xdg.hasPrefix("/") {
            return xdg + "/flexminer/kernel-choice.json"
        }
        if let home = environment["HOME"], home.hasPrefix("/") {
            return home + "/.cache/flexminer/kernel-choice.json"
        }
        return nil
    }

    /// Identifies this executable: its size and modification time, so every rebuild recalibrates.
    public static func binaryIdentity() -> String {
        var st = stat()
        guard stat("/proc/self/exe", &st) == 0 else { return "unknown" }
        return "\(st.st_size)-\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)"
    }

    /// The cached choice if it is valid for this key and its kernel still passes the self-test;
    /// otherwise (or with `recalibrate`) measures every candidate, picks the fastest and caches that.
    public func choose(recalibrate: Bool = false) -> KernelChoice {
        if !recalibrate, let cached = loadCached() { return cached }
        return calibrateAndStore()
    }

    private func calibrateAndStore() -> KernelChoice {
        let usable = candidates.filter { selfTest($0) }
        var best = [Double](repeating: 0, count: usable.count)
        for _ in 0..<rounds {
            for (i, k) in usable.enumerated() {
                let rate = measure(k)
                if rate.isFinite && rate > best[i] { best[i] = rate }
            }
        }
        let figures = zip(usable, best)
            .map { KernelFigure(kernel: $0.name.rawValue, implementation: $0.description, hashesPerSecond: $1) }
            .sorted { $0.hashesPerSecond > $1.hashesPerSecond }
        let measuredAt = now()
        guard let top = figures.first, let kernel = usable.first(where: { $0.name.rawValue == top.kernel }) else {
            // Nothing passed: the portable kernel needs no special instructions.
            return KernelChoice(
                kernel: Kernel.build(.scalar, features: CPUFeatures())!,
                reason: "no kernel passed its self-test; portable fallback", figures: [], cached: false,
                measuredAt: measuredAt, cacheFile: nil)
        }
        let record = CacheRecord(
            format: CacheRecord.currentFormat, key: key, kernel: kernel.name.rawValue, measuredAt: measuredAt,
            figures: figures)
        let written = cacheFile.map { Self.writeAtomically(record, to: $0) } ?? false
        return KernelChoice(
            kernel: kernel, reason: Self.reason(figures, at: measuredAt, cached: false), figures: figures,
            cached: false, measuredAt: measuredAt, cacheFile: written ? cacheFile : nil)
    }

    private func loadCached() -> KernelChoice? {
        guard let path = cacheFile, let data = FileManager.default.contents(atPath: path),
            let record = try? Self.decoder.decode(CacheRecord.self, from: data),
            record.format == CacheRecord.currentFormat, record.key == key,
            let kernel = candidates.first(where: { $0.name.rawValue == record.kernel }), selfTest(kernel)
        else { return nil }
        return KernelChoice(
            kernel: kernel, reason: Self.reason(record.figures, at: record.measuredAt, cached: true),
            figures: record.figures, cached: true, measuredAt: record.measuredAt, cacheFile: path)
    }

    static func reason(_ figures: [KernelFigure], at date: Date, cached: Bool) -> String {
        var t = time_t(date.timeIntervalSince1970.rounded(.down))
        var tm = tm()
        gmtime_r(&t, &tm)
        let when = String(
            format: "%04d-%02d-%02d %02d:%02d UTC", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min)
        let list = figures.map { String(format: "%@ %.1f MH/s", $0.kernel, $0.hashesPerSecond / 1e6) }
        return "fastest in calibration \(when): \(list.joined(separator: ", ")); \(cached ? "cached" : "measured now")"
    }

    /// The cache file's contents.
    struct CacheRecord: Codable {
        static let currentFormat = 1
        var format: Int
        var key: Key
        var kernel: String
        var measuredAt: Date
        var figures: [KernelFigure]

        enum CodingKeys: String, CodingKey {
            case format, key, kernel, figures
            case measuredAt = "measured_at"
        }
    }

    private static var decoder: JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return d
    }

    /// Writes to a temporary file beside `path` (mode 0600), fsyncs, then renames over `path`, so a
    /// reader never sees half a file. Failure only means the next start calibrates again.
    static func writeAtomically(_ record: CacheRecord, to path: String) -> Bool {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(record) else { return false }
        let directory = (path as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let temporary = "\(path).\(getpid()).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return false }
        // An old temporary file may have had another mode: 0600 whatever the umask or history.
        var ok = fchmod(fd, 0o600) == 0
        ok =
            ok
            && data.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                    if n <= 0 { return false }
                    offset += n
                }
                return true
            }
        ok = ok && fsync(fd) == 0
        close(fd)
        guard ok, rename(temporary, path) == 0 else {
            unlink(temporary)
            return false
        }
        return true
    }

    /// Hashes per second of `kernel` on the calling thread over about `seconds` of its CPU time: a real
    /// scan (early reject against a mainnet-like target) of an unsolvable header. Thread CPU time, not
    /// wall time, so other processes taking the CPU away do not count against the kernel measured.
    public static func calibrate(_ kernel: Kernel, seconds: Double) -> Double {
        var header = [UInt8](repeating: 0, count: 80)
        for i in header.indices { header[i] = UInt8(truncatingIfNeeded: i &* 37 &+ 11) }
        guard let job = try? HeaderScanJob(header: header) else { return 0 }
        var out = [UInt32](repeating: 0, count: 256)
        let batch: UInt64 = kernel.name == .scalar ? 1024 : 8192
        return out.withUnsafeMutableBufferPointer { buffer in
            var first: UInt32 = 0
            _ = kernel.scan(job, first: first, count: batch, targetHigh: 0, out: buffer)  // warm-up
            let start = threadCPUTime()
            var hashes: UInt64 = 0
            var elapsed = 0.0
            repeat {
                first &+= UInt32(truncatingIfNeeded: batch)
                if first > UInt32.max - UInt32(batch) { first = 0 }
                hashes += kernel.scan(job, first: first, count: batch, targetHigh: 0, out: buffer).scanned
                elapsed = threadCPUTime() - start
            } while elapsed < seconds
            return Double(hashes) / elapsed
        }
    }

    private static func threadCPUTime() -> Double { ThreadCPUTime.current().seconds }

    // MARK: The process's choice

    private static let processChoice = Mutex<KernelChoice?>(nil)

    /// This process's `auto` kernel: chosen (from the cache, or measured) on first use and then kept.
    /// `recalibrate` measures again now and rewrites the cache (`--recalibrate`).
    public static func auto(recalibrate: Bool = false) -> KernelChoice {
        processChoice.withLock { choice in
            if !recalibrate, let c = choice { return c }
            let c = standard().choose(recalibrate: recalibrate)
            choice = c
            return c
        }
    }
}
