import CPUFeatures
import Foundation
import MiningKernels
import OpenSSLSHA256

/// What `flexminer bench` prints: the table and the JSON object.
package enum BenchReport {
    /// The results as a table, one line per subject, with the ratio to OpenSSL's one-shot baseline and,
    /// per CPU-second, to the first kernel measured (`first`: the median CPU-second rate of each subject,
    /// in `results`' order; see `medianPerCPUSecond`).
    package static func table(_ results: [BenchResult], baseline: BenchResult?, perCPUSecond: [Double?] = []) -> String
    {
        var out = ""
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
        func lpad(_ s: String, _ n: Int) -> String { s.count >= n ? s : String(repeating: " ", count: n - s.count) + s }
        let firstKernel = results.indices.first { if case .kernel = results[$0].subject { true } else { false } }
        let reference = firstKernel.flatMap { perCPUSecond.indices.contains($0) ? perCPUSecond[$0] : nil }
        let referenceName = firstKernel.map { results[$0].subject.name } ?? "-"
        out +=
            pad("kernel", 28) + lpad("threads", 8) + lpad("MH/s", 10) + lpad("MH/s/thread", 13) + lpad("vs openssl", 12)
            + lpad("MH/cpu-s", 10) + lpad("vs \(referenceName)", 14) + "\n"
        for (i, r) in results.enumerated() {
            let mhs = r.hashesPerSecond / 1e6
            let ratio = baseline.map { String(format: "%.2fx", r.hashesPerSecond / $0.hashesPerSecond) } ?? "-"
            let cpu = perCPUSecond.indices.contains(i) ? perCPUSecond[i] : nil
            let cpuText = cpu.map { String(format: "%.2f", $0 / 1e6) } ?? "-"
            let relative = cpu.flatMap { c in reference.map { String(format: "%.3fx", c / $0) } } ?? "-"
            out +=
                pad(r.subject.description, 28) + lpad("\(r.threads)", 8) + lpad(String(format: "%.2f", mhs), 10)
                + lpad(String(format: "%.2f", mhs / Double(r.threads)), 13) + lpad(ratio, 12) + lpad(cpuText, 10)
                + lpad(relative, 14) + "\n"
        }
        return out
    }

    /// The median over runs of hashes per CPU-second (per core), nil where a run was not timed by CPU.
    package static func medianPerCPUSecond(_ runs: [BenchResult]) -> Double? {
        let rates = runs.compactMap(\.hashesPerCPUSecond).sorted()
        guard rates.count == runs.count, !rates.isEmpty else { return nil }
        return rates[rates.count / 2]
    }

    struct Output: Encodable {
        struct CPU: Encodable {
            let brand: String
            let features: [String]
        }
        struct Item: Encodable {
            let kernel: String
            let implementation: String
            let threads: Int
            let hashes: UInt64
            let seconds: Double
            let hashes_per_second: Double
            let ratio_to_openssl: Double?
            let runs_hashes_per_second: [Double]
            /// Median over runs of hashes per second of the threads' CPU time (per core); absent for the engine.
            let hashes_per_cpu_second: Double?
            let runs_hashes_per_cpu_second: [Double]?
        }
        let cpu: CPU
        let auto_kernel: String
        let auto_reason: String
        let auto_cached: Bool
        let auto_figures: [KernelFigure]
        let baseline: String
        let results: [Item]
    }

    /// The results as one JSON object (`flexminer bench --json`).
    package static func json(
        _ results: [BenchResult], samples: [[BenchResult]], baseline: BenchResult?, features: CPUFeatures,
        choice: KernelChoice
    ) throws -> String {
        let items = zip(results, samples).map { r, s in
            Output.Item(
                kernel: r.subject.name, implementation: r.subject.description, threads: r.threads, hashes: r.hashes,
                seconds: r.seconds, hashes_per_second: r.hashesPerSecond,
                ratio_to_openssl: baseline.map { r.hashesPerSecond / $0.hashesPerSecond },
                runs_hashes_per_second: s.map(\.hashesPerSecond), hashes_per_cpu_second: medianPerCPUSecond(s),
                runs_hashes_per_cpu_second: medianPerCPUSecond(s) == nil ? nil : s.compactMap(\.hashesPerCPUSecond))
        }
        let out = Output(
            cpu: .init(brand: features.brand, features: features.names), auto_kernel: choice.kernel.description,
            auto_reason: choice.reason, auto_cached: choice.cached, auto_figures: choice.figures,
            baseline: OpenSSLSHA256.version, results: items)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(out), as: UTF8.self)
    }
}
