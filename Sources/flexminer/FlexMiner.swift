import ArgumentParser
import CFlexBuildInfo
import CPUFeatures
import MiningKernels

@main
struct FlexMiner: AsyncParsableCommand {
    /// The release number: the package's version, the pool's user agent and `/status` carry it.
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "flexminer",
        abstract: "A Bitcoin SHA-256d miner that behaves as a flexible grid load.",
        version: versionText,
        subcommands: [
            BenchCommand.self, SelftestCommand.self, MineCommand.self, SubmitCommand.self, RunCommand.self,
            SignalCommand.self, SimulateCommand.self, ReportCommand.self, DemoCommand.self, OpenADR2bLeaveCommand.self,
        ]
    )

    /// `flexminer --version`: the release, the commit it was built from, the kernels compiled into this
    /// binary (whatever the CPU) and those this CPU can run. An operator with a fleet compares these lines
    /// across hosts.
    static var versionText: String {
        let commit = String(cString: fm_build_commit())
        return """
            flexminer \(version)
            commit: \(commit)
            kernels compiled in: \(compiledKernels.joined(separator: ", "))
            kernels this CPU runs: \(Kernel.available().map(\.description).joined(separator: ", "))
            """
    }

    /// Every kernel this build contains, each with the instruction sets it was compiled for: what
    /// `Kernel.available` offers on a CPU with every feature, and on one with AVX2 but not AVX-512 (where
    /// simd16 has a second build).
    static var compiledKernels: [String] {
        var every = CPUFeatures()
        every.sse2 = true
        every.ssse3 = true
        every.sse41 = true
        every.avx = true
        every.avx2 = true
        every.bmi1 = true
        every.bmi2 = true
        every.fma = true
        every.movbe = true
        every.lzcnt = true
        every.f16c = true
        every.sha = true
        var avx2Only = every
        every.avx512f = true
        every.avx512bw = true
        every.avx512cd = true
        every.avx512dq = true
        every.avx512vl = true
        avx2Only.avx512f = false
        var isas: [(KernelName, [String])] = []
        for kernel in Kernel.available(features: every) + Kernel.available(features: avx2Only) {
            if let i = isas.firstIndex(where: { $0.0 == kernel.name }) {
                if !isas[i].1.contains(kernel.isa) { isas[i].1.append(kernel.isa) }
            } else {
                isas.append((kernel.name, [kernel.isa]))
            }
        }
        return isas.map { "\($0.0.rawValue)(\($0.1.sorted().joined(separator: ", ")))" }
    }
}
