// swift-tools-version: 6.2
import PackageDescription

// Each ISA-specific kernel lives in its own target compiled with its own code-generation flags, and
// is called only after run-time CPU detection says the CPU (and OS) support that ISA. Swift follows
// the flags of the module being compiled, so the rest of the binary stays baseline x86-64.
// Note: per-target unsafe flags mean other packages cannot depend on FlexMiner by version; FlexMiner
// ships an application, so that is acceptable.

#if arch(x86_64)
    let avx2Flags: [SwiftSetting] = [.unsafeFlags(["-Xcc", "-march=x86-64-v3"])]
    let avx512Flags: [SwiftSetting] = [.unsafeFlags(["-Xcc", "-march=x86-64-v4"])]
    let shaniFlags: [SwiftSetting] = [.unsafeFlags(["-Xcc", "-msha", "-Xcc", "-msse4.1", "-Xcc", "-mssse3"])]
#else
    // Other architectures build the portable and SIMD4 kernels only; the x86 modules compile to stubs.
    let avx2Flags: [SwiftSetting] = []
    let avx512Flags: [SwiftSetting] = []
    let shaniFlags: [SwiftSetting] = []
#endif

let package = Package(
    name: "FlexMiner",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "flexminer", targets: ["flexminer"]),
        .library(name: "SHA256", targets: ["SHA256"]),
        .library(name: "MiningKernels", targets: ["MiningKernels"]),
        .library(name: "OpenSSLSHA256", targets: ["OpenSSLSHA256"]),
        .library(name: "Chain", targets: ["Chain"]),
        .library(name: "Mining", targets: ["Mining"]),
        .library(name: "DemandResponse", targets: ["DemandResponse"]),
        .library(name: "Simulation", targets: ["Simulation"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.1.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
    ],
    targets: [
        // Hashing core: portable reference + mining-shaped lane kernel (scalar instance). No dependencies.
        .target(name: "SHA256"),

        // Vector primitives (clang ext_vector_type helpers) that lower to real vector instructions.
        .target(name: "CFlexVector"),
        .target(name: "CFlexSHANI"),
        .target(name: "CFlexCPUID"),

        .target(name: "SHA256KernelsSSE2", dependencies: ["SHA256", "CFlexVector"]),
        .target(name: "SHA256KernelsAVX2", dependencies: ["SHA256", "CFlexVector"], swiftSettings: avx2Flags),
        .target(name: "SHA256KernelsAVX512", dependencies: ["SHA256", "CFlexVector"], swiftSettings: avx512Flags),
        .target(name: "SHA256KernelsSHANI", dependencies: ["SHA256", "CFlexSHANI"], swiftSettings: shaniFlags),

        .target(name: "CPUFeatures", dependencies: ["CFlexCPUID"]),
        .target(
            name: "MiningKernels",
            dependencies: [
                "SHA256", "CPUFeatures", "SHA256KernelsSSE2", "SHA256KernelsAVX2", "SHA256KernelsAVX512",
                "SHA256KernelsSHANI",
            ]
        ),

        // Chain model (headers, compact targets) and the multithreaded nonce-search engine.
        .target(name: "Chain", dependencies: ["SHA256"]),
        .target(name: "CFlexThreads"),
        // Bitcoin Core JSON-RPC (getblocktemplate, submitblock), the solved-block journal, node mining.
        .target(
            name: "NodeRPC",
            dependencies: [
                "Chain", "Mining", "SHA256",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]
        ),
        // Demand response: signal protocol v1 and the pure policy (the same code live and simulated).
        .target(name: "DemandResponse"),
        // The live controller: signal sources (Unix/TCP sockets on SwiftNIO, followed files), the decision
        // log, and the policy applied to the engine.
        .target(
            name: "LoadController",
            dependencies: [
                "DemandResponse", "Mining",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // What an operator runs against: HTTP status and Prometheus metrics, the config file, logging.
        .target(
            name: "Operations",
            dependencies: [
                "DemandResponse", "LoadController", "Mining",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // Replays price series and curtailment events through the same policy, on a virtual clock.
        .target(name: "Simulation", dependencies: ["DemandResponse"]),
        .target(name: "Mining", dependencies: ["Chain", "SHA256", "MiningKernels", "CFlexThreads"]),

        // OpenSSL's libcrypto: test oracle and benchmark baseline only.
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        .target(name: "OpenSSLSHA256", dependencies: ["COpenSSL"]),
        // Hash-rate and latency measurement for `flexminer bench` (kernels, engine, OpenSSL baseline).
        .target(name: "KernelBench", dependencies: ["SHA256", "MiningKernels", "OpenSSLSHA256", "Chain", "Mining"]),

        .executableTarget(
            name: "flexminer",
            dependencies: [
                "SHA256", "MiningKernels", "CPUFeatures", "OpenSSLSHA256", "KernelBench", "Chain", "Mining", "NodeRPC",
                "DemandResponse", "LoadController", "Simulation", "Operations",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // Fixture loading shared by the test targets.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "SHA256Tests", dependencies: ["SHA256", "OpenSSLSHA256", "TestSupport"]),
        .testTarget(name: "ChainTests", dependencies: ["Chain", "SHA256", "TestSupport"]),
        .testTarget(name: "DemandResponseTests", dependencies: ["DemandResponse"]),
        .testTarget(
            name: "OperationsTests",
            dependencies: [
                "Operations", "LoadController", "DemandResponse", "TestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "SimulationTests", dependencies: ["Simulation", "DemandResponse", "TestSupport"]),
        .testTarget(
            name: "LoadControllerTests",
            dependencies: [
                "LoadController", "DemandResponse", "Mining", "MiningKernels", "Chain", "TestSupport",
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "NodeRPCTests",
            dependencies: [
                "NodeRPC", "Chain", "Mining", "SHA256", "TestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "MiningTests", dependencies: ["Mining", "Chain", "SHA256", "MiningKernels", "TestSupport"]),
        .testTarget(
            name: "MiningKernelsTests",
            dependencies: ["SHA256", "MiningKernels", "CPUFeatures", "OpenSSLSHA256", "TestSupport"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
