// swift-tools-version: 6.1
// Benchmarks for FlexMiner, kept in a nested package so the main build (and CI) does not compile the
// benchmark harness. Run from this directory: `swift package benchmark`.
import PackageDescription

// A path dependency is identified by its directory's name, which depends on where FlexMiner was
// cloned; read it rather than assume it.
let flexMiner = String(Context.packageDirectory.split(separator: "/").dropLast().last ?? "FlexMiner")

let package = Package(
    name: "FlexMinerBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.0", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "KernelBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "MiningKernels", package: flexMiner),
                .product(name: "SHA256", package: flexMiner),
                .product(name: "OpenSSLSHA256", package: flexMiner),
            ],
            path: "Benchmarks/KernelBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "SimulationBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Simulation", package: flexMiner),
                .product(name: "DemandResponse", package: flexMiner),
            ],
            path: "Benchmarks/SimulationBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
