import CPUFeatures
import Foundation
import MiningKernels
import OpenSSLSHA256

/// What `flexminer bench` prints: the table and the JSON object.
public enum BenchReport {
    /// The results as a table, one line per subject, with the ratio to OpenSSL's one-shot baseline.
    public static func table(_ results: [BenchResult], baseline: BenchResult?) -> String {
        var out = ""
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
        func lpad(_ s: String, _ n: Int) -> String { s.count >= n ? s : String(repeating: " ", count: n - s.count) + s }
        out +=
            pad("kernel", 28) + lpad("threads", 8) + lpad("MH/s", 10) + lpad("MH/s/thread", 13) + lpad("vs openssl", 12)
            + "\n"
        for r in results {
            let mhs = r.hashesPerSecond / 1e6
            let ratio = baseline.map { String(format: "%.2fx", r.hashesPerSecond / $0.hashesPerSecond) } ?? "-"
            out +=
                pad(r.subject.description, 28) + lpad("\(r.threads)", 8) + lpad(String(format: "%.2f", mhs), 10)
                + lpad(String(format: "%.2f", mhs / Double(r.threads)), 13) + lpad(ratio, 12) + "\n"
        }
        return out
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
    public static func json(
        _ results: [BenchResult], samples: [[BenchResult]], baseline: BenchResult?, features: CPUFeatures,
        choice: KernelChoice
    ) throws -> String {
        let items = zip(results, samples).map { r, s in
            Output.Item(
                kernel: r.subject.name, implementation: r.subject.description, threads: r.threads, hashes: r.hashes,
                seconds: r.seconds, hashes_per_second: r.hashesPerSecond,
                ratio_to_openssl: baseline.map { r.hashesPerSecond / $0.hashesPerSecond },
                runs_hashes_per_second: s.map(\.hashesPerSecond))
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
