import ArgumentParser
import CPUFeatures
import MiningKernels
import OpenSSLSHA256

struct SelftestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "selftest",
        abstract: "Check every kernel this CPU can run against the reference SHA-256 and OpenSSL.",
        discussion: "Exits non-zero on any mismatch, printing the header, nonce and the words that differ."
    )

    @Option(help: "Nonces to check (random headers; about one range in eight ends at 0xFFFFFFFF).")
    var count: Int = 100_000

    @Option(help: "Random seed (default: random; printed so a failure can be replayed).")
    var seed: UInt64?

    @Option(help: "Kernel to check: all (default), auto, or a kernel name.")
    var kernel: KernelSelection = KernelSelection(argument: "all")!

    @Flag(help: "Measure the kernels again for `auto` and rewrite the cached choice.")
    var recalibrate = false

    func validate() throws {
        guard count >= 1 && count <= 1_000_000_000 else {
            throw ValidationError("--count must be 1...1000000000, got \(count)")
        }
    }

    func run() throws {
        let choice = KernelDispatch.auto(recalibrate: recalibrate)
        let kernels = try kernel.kernels(includeVariants: true)
        let seed = self.seed ?? UInt64.random(in: 0...UInt64.max)
        print("CPU features: \(CPUFeatures.current)")
        print(choice)
        print("oracle: \(OpenSSLSHA256.version); seed \(seed); \(count) nonces per kernel")
        var failed = false
        for k in kernels {
            let ok = SelfTest.quick(k)
            print("known answers  \(k): \(ok ? "ok" : "FAILED (genesis block)")")
            failed = failed || !ok
        }
        let reports = SelfTest.run(kernels, count: count, seed: seed) { header in
            let d = OpenSSLSHA256.hashTwice(header)
            return UInt32(d[28]) | UInt32(d[29]) << 8 | UInt32(d[30]) << 16 | UInt32(d[31]) << 24
        }
        for r in reports {
            print(
                "differential   \(r.kernel): \(r.passed ? "ok" : "FAILED") (\(r.noncesChecked) nonces, \(r.scansChecked) early-reject scans)"
            )
            for m in r.mismatches.prefix(5) { print("    mismatch: \(m)") }
            failed = failed || !r.passed
        }
        let unavailable = KernelName.allCases.filter { (try? Kernel.named($0)) == nil }
        if !unavailable.isEmpty {
            print(
                "not checked (this CPU lacks the instructions): \(unavailable.map(\.rawValue).joined(separator: ", "))")
        }
        if failed {
            print("selftest FAILED (replay with --seed \(seed))")
            throw ExitCode(1)
        }
        print("selftest passed")
    }
}
