import Benchmark
import MiningKernels
import OpenSSLSHA256
import SHA256

/// One benchmark per kernel this CPU can run ("scan.<kernel>") and per OpenSSL baseline
/// ("openssl", "openssl-midstate"). Each iteration hashes `noncesPerIteration` nonces of a real header
/// with a mainnet-like target, as the miner does; throughput is therefore iterations × 4096 hashes/s.
/// The hot loop must not allocate: the malloc thresholds are zero.
let noncesPerIteration: UInt64 = 4096

let benchmarks: @Sendable () -> Void = {
    let header = (0..<80).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
    let config = Benchmark.Configuration(
        metrics: [.throughput, .wallClock, .mallocCountTotal],
        timeUnits: .microseconds,
        warmupIterations: 10,
        maxDuration: .seconds(2),
        maxIterations: 1_000_000,
        thresholds: [.mallocCountTotal: .init(absolute: [.p100: 0])]
    )
    for kernel in Kernel.available(includeVariants: true) {
        Benchmark("scan.\(kernel.name.rawValue)", configuration: config) { benchmark in
            let job = try HeaderScanJob(header: header)
            let out = UnsafeMutableBufferPointer<UInt32>.allocate(capacity: 1024)
            defer { out.deallocate() }
            var nonce: UInt32 = 0
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                let r = kernel.scan(job, first: nonce, count: noncesPerIteration, targetHigh: 0, out: out)
                nonce &+= UInt32(truncatingIfNeeded: r.scanned)
                blackHole(r)
            }
            benchmark.stopMeasurement()
        }
    }
    for mode in OpenSSLSHA256.HeaderHasher.Mode.allCases {
        Benchmark(mode.rawValue, configuration: config) { benchmark in
            guard var hasher = OpenSSLSHA256.HeaderHasher(header: header, mode: mode) else { return }
            var nonce: UInt32 = 0
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                var low = UInt32.max
                for _ in 0..<noncesPerIteration {
                    hasher.hash(nonce: nonce)
                    low = min(low, hasher.mostSignificantWord)
                    nonce &+= 1
                }
                blackHole(low)
            }
            benchmark.stopMeasurement()
        }
    }
}
