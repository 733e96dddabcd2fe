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
    // The hybrid kernels run vector lanes and SHA-extension streams in one loop: both ISAs in one module.
    let hybridAVX512Flags: [SwiftSetting] = [.unsafeFlags(["-Xcc", "-march=x86-64-v4", "-Xcc", "-msha"])]
    let hybridAVX2Flags: [SwiftSetting] = [.unsafeFlags(["-Xcc", "-march=x86-64-v3", "-Xcc", "-msha"])]
#else
    // Other architectures build the portable and SIMD4 kernels only; the x86 modules compile to stubs.
    let avx2Flags: [SwiftSetting] = []
    let avx512Flags: [SwiftSetting] = []
    let shaniFlags: [SwiftSetting] = []
    let hybridAVX512Flags: [SwiftSetting] = []
    let hybridAVX2Flags: [SwiftSetting] = []
#endif

let package = Package(
    name: "FlexMiner",
    platforms: [.macOS(.v15)],
    // The library products are the ones the nested Benchmarks package links (by path); the rest of the
    // modules are internal to the application.
    products: [
        .executable(name: "flexminer", targets: ["flexminer"]),
        .library(name: "SHA256", targets: ["SHA256"]),
        .library(name: "MiningKernels", targets: ["MiningKernels"]),
        .library(name: "OpenSSLSHA256", targets: ["OpenSSLSHA256"]),
        .library(name: "DemandResponse", targets: ["DemandResponse"]),
        .library(name: "Simulation", targets: ["Simulation"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.1.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
    ],
    targets: [
        // Foundation of the whole tree: durations, the one time codec, the one JSON field reader, HOST:PORT
        // and loopback, constant-time comparison, thread counts, OS threads. No dependencies (scripts/fuzz
        // compiles it with swiftc alone).
        .target(name: "FlexSupport"),

        // Hashing core: portable reference + mining-shaped lane kernel (scalar instance).
        .target(name: "SHA256", dependencies: ["FlexSupport"]),

        // Vector primitives (clang ext_vector_type helpers) that lower to real vector instructions.
        .target(name: "CFlexVector"),
        .target(name: "CFlexSHANI"),
        .target(name: "CFlexCPUID"),
        // The commit a build came from (`scripts/package` defines it), for `flexminer --version`.
        .target(name: "CFlexBuildInfo"),

        .target(name: "SHA256KernelsSSE2", dependencies: ["SHA256", "CFlexVector"]),
        .target(name: "SHA256KernelsAVX2", dependencies: ["SHA256", "CFlexVector"], swiftSettings: avx2Flags),
        .target(name: "SHA256KernelsAVX512", dependencies: ["SHA256", "CFlexVector"], swiftSettings: avx512Flags),
        .target(name: "SHA256KernelsSHANI", dependencies: ["SHA256", "CFlexSHANI"], swiftSettings: shaniFlags),
        // Vector lanes and SHA-extension streams in one thread: the lane ops and the streams are inlined from
        // the modules above and compiled here with both ISAs.
        .target(
            name: "SHA256KernelsHybridAVX512",
            dependencies: ["SHA256", "CFlexVector", "CFlexSHANI", "SHA256KernelsAVX512", "SHA256KernelsSHANI"],
            swiftSettings: hybridAVX512Flags
        ),
        .target(
            name: "SHA256KernelsHybridAVX2",
            dependencies: ["SHA256", "CFlexVector", "CFlexSHANI", "SHA256KernelsAVX2", "SHA256KernelsSHANI"],
            swiftSettings: hybridAVX2Flags
        ),

        .target(name: "CPUFeatures", dependencies: ["CFlexCPUID"]),

        // Bitcoin's primitives below both the chain model and the kernels: 256-bit numbers, targets and
        // compact bits, share difficulty, "a hash meets a target", the chain layer's errors.
        .target(name: "BitcoinPrimitives", dependencies: ["SHA256", "FlexSupport"]),
        .target(
            name: "MiningKernels",
            dependencies: [
                "SHA256", "CPUFeatures", "BitcoinPrimitives", "FlexSupport", "SHA256KernelsSSE2", "SHA256KernelsAVX2",
                "SHA256KernelsAVX512", "SHA256KernelsSHANI", "SHA256KernelsHybridAVX512",
                "SHA256KernelsHybridAVX2",
            ]
        ),

        // Chain model: 256-bit numbers, compact targets, headers, transactions, merkle, coinbase, addresses,
        // getblocktemplate.
        .target(name: "Chain", dependencies: ["SHA256", "BitcoinPrimitives", "FlexSupport"]),
        .target(name: "CFlexThreads"),
        // The multithreaded nonce-search engine: jobs, control word, solutions.
        // It is a `LoadActuator` (DemandResponse's protocol: the one way a decision reaches a miner), so the
        // conformance lives here with the engine.
        .target(
            name: "Mining",
            dependencies: ["Chain", "SHA256", "MiningKernels", "CFlexThreads", "FlexSupport", "DemandResponse"]
        ),

        // Wire clients only. Bitcoin Core JSON-RPC (getblocktemplate, submitblock) and the solved-block journal.
        .target(
            name: "NodeRPC",
            dependencies: [
                "Chain", "SHA256", "FlexSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]
        ),

        // The one newline framer (a NIO ByteToMessageDecoder with a maximum line length) of the line
        // protocols: the signal sockets and the stratum client. Its own module: a client needs no server parts.
        .target(name: "LineFraming", dependencies: [.product(name: "NIOCore", package: "swift-nio")]),

        // Wire client only: stratum v1 to pools (newline-delimited JSON-RPC over TCP on SwiftNIO).
        .target(
            name: "Stratum",
            dependencies: [
                "SHA256", "FlexSupport", "LineFraming",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),

        // Where jobs come from: the WorkSource protocol and one file per source (benchmark work, a template
        // file, a node over RPC, a pool over stratum, a single header).
        .target(
            name: "WorkSources",
            dependencies: [
                "Mining", "Chain", "SHA256", "NodeRPC", "Stratum", "FlexSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),

        // What the product's servers (signal sockets, the HTTP API, the OpenADR callback) share on SwiftNIO:
        // the lingering close that lets an error reply reach a client that is still sending, and the one
        // HTTP server foundation (limits, idle timeout, back-pressure, bodies, bearer tokens, responses).
        .target(
            name: "ServerSupport",
            dependencies: [
                "FlexSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),

        // Demand response: signal protocol v1, the pure policy (the same code live and simulated), and the
        // LoadActuator that a decision commands.
        .target(name: "DemandResponse", dependencies: ["FlexSupport"]),
        // The live controller and its signal sources (Unix/TCP sockets on SwiftNIO, followed files), the
        // decision log. A new signal source is one `SignalSource` file (here, or in the module that owns its
        // dependencies) and one line in Operations' `SignalSourceRegistry`.
        .target(
            name: "LoadController",
            dependencies: [
                "DemandResponse", "FlexSupport", "ServerSupport", "LineFraming",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Wire client only: an OpenADR 3 VTN (OAuth 2 client credentials, programs, VENs, events, subscriptions,
        // reports) on AsyncHTTPClient, and the small HTTP server for its notification callback.
        .target(
            name: "OpenADR",
            dependencies: [
                "FlexSupport", "ServerSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // The OpenADR 3 signal source with its plan, state file and service: a target of its own, the module
        // that owns its dependencies (AsyncHTTPClient through OpenADR), so that LoadController does not.
        .target(
            name: "OpenADRSignals",
            dependencies: [
                "OpenADR", "LoadController", "DemandResponse", "FlexSupport",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The project's own fake VTN (every request and response validated against the OpenADR 3 OpenAPI
        // documents, with real servers' misbehaviours), for tests and `scripts/fleet-drill`; `flexminer-fakevtn`
        // runs it.
        .target(
            name: "FakeVTN",
            dependencies: [
                "OpenADR", "FlexSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            path: "Tests/FakeVTN",
            // The specification's checks, generated from its OpenAPI documents by scripts/openadr3-spec-tables.
            resources: [.embedInCode("Spec/openadr3-3.0.1.json"), .embedInCode("Spec/openadr3-3.1.0.json")]
        ),
        .executableTarget(name: "flexminer-fakevtn", dependencies: ["FakeVTN"]),
        // libxml2, the XML parser OpenADR 2.0b messages are read with (never string matching).
        .systemLibrary(name: "CLibXML2", pkgConfig: "libxml-2.0", providers: [.apt(["libxml2-dev"])]),
        // xmlsec1 (OpenSSL backend) through a small shim: XML Signature for OpenADR 2.0b messages.
        .systemLibrary(name: "CXMLSec", pkgConfig: "xmlsec1-openssl", providers: [.apt(["libxmlsec1-dev"])]),
        // OpenADR 2.0b (the B profile, simple HTTP pull), pure: XML reading through libxml2 with limits, the
        // messages a VEN sends and reads, and the VEN as a state machine; no I/O.
        .target(name: "OpenADR2b", dependencies: ["CLibXML2", "OpenADR", "FlexSupport"]),
        // The OpenADR 2.0b signal source: the VEN machine run over HTTP (AsyncHTTPClient), its intervals sent to
        // the controller as OpenADR 3's are (and through its SIMPLE level map), a 0600 state file.
        .target(
            name: "OpenADR2bSignals",
            dependencies: [
                "OpenADR2b", "OpenADRSignals", "LoadController", "FlexSupport", "SHA256", "CXMLSec",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // A 2.0b VTN of the project's own for tests: its own XML templates and its own reading of requests
        // (Foundation's parser), never the module under test; misbehaves as real VTNs do.
        .target(
            name: "FakeVTN2b",
            dependencies: [
                "OpenADR", "FlexSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "Tests/FakeVTN2b"),
        // Runs it for `scripts/fleet-drill --openadr2b` and the README's walk-through (an admin port publishes events).
        .executableTarget(name: "flexminer-fakevtn2b", dependencies: ["FakeVTN2b", "OpenADR", "FlexSupport"]),
        // What the host draws: the PowerSource protocol and one file per source (the model, RAPL, a SunSpec
        // meter over Modbus TCP), the sampler that runs them off the control path, and the telemetry log.
        .target(name: "PowerSources", dependencies: ["FlexSupport"]),
        // A SunSpec meter of the project's own (a Modbus TCP server whose register map is built from the
        // SunSpec model definitions, with misbehaviours), for tests and `flexminer-testmeter`.
        .target(name: "SunSpecTestMeter", path: "Tests/SunSpecTestMeter"),
        .executableTarget(
            name: "flexminer-testmeter", dependencies: ["SunSpecTestMeter"], path: "Tests/flexminer-testmeter"),
        // The event report (`flexminer report`): decision logs and telemetry in, per event and per fleet the
        // baseline, shed, response time and compliance out, as text, JSON, CSV and SVG. A pure core plus
        // one file of line-by-line reading.
        .target(name: "Reports", dependencies: ["FlexSupport"]),
        // Replays price series and curtailment events through the same policy, on a virtual clock.
        .target(name: "Simulation", dependencies: ["DemandResponse", "FlexSupport", "Reports"]),

        // The services an operator runs: `run` as a ServiceGroup (engine, work, signal sources, HTTP, ticker,
        // decision log), the status report, HTTP status and metrics, the config file and its precedence,
        // logging.
        .target(
            name: "Operations",
            dependencies: [
                "DemandResponse", "LoadController", "Mining", "MiningKernels", "CPUFeatures", "WorkSources", "NodeRPC",
                "Chain", "Simulation", "FlexSupport", "SHA256", "Stratum",
                "OpenADR", "OpenADRSignals", "OpenADR2b", "OpenADR2bSignals", "ServerSupport", "PowerSources",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            resources: [.embedInCode("Dashboard/dashboard.html")]
        ),

        // OpenSSL's libcrypto: test oracle and benchmark baseline only.
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        .target(name: "OpenSSLSHA256", dependencies: ["COpenSSL"]),
        // Hash-rate and latency measurement for `flexminer bench` and the demo (kernels, engine, OpenSSL
        // baseline, halt latency seen from outside through /proc). Not linked into the services.
        .target(
            name: "KernelBench",
            dependencies: [
                "SHA256", "MiningKernels", "CPUFeatures", "OpenSSLSHA256", "Chain", "Mining", "LoadController",
                "DemandResponse", "FlexSupport",
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // `flexminer demo`: the whole product in a minute, from fixtures embedded in the binary.
        .target(
            name: "Demo",
            dependencies: [
                "CPUFeatures", "MiningKernels", "OpenSSLSHA256", "KernelBench", "WorkSources", "Mining",
                "DemandResponse", "Simulation", "FlexSupport",
            ],
            resources: [
                .embedInCode("Fixtures/segwit-mempool.gbt.json"),
                .embedInCode("Fixtures/ercot-hb-south-2024-07-24.csv"),
            ]
        ),

        .executableTarget(
            name: "flexminer",
            dependencies: [
                "SHA256", "MiningKernels", "CPUFeatures", "OpenSSLSHA256", "KernelBench", "Chain", "Mining", "NodeRPC",
                "WorkSources", "DemandResponse", "LoadController", "Simulation", "Operations", "Demo", "FlexSupport",
                "Stratum", "CFlexBuildInfo", "Reports", "OpenADR2b", "OpenADR2bSignals",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // Helpers shared by the test targets: fixtures, scratch directories, `eventually`, a seeded RNG
        // that prints its seed, a fake load.
        .target(
            name: "TestSupport",
            dependencies: [
                "DemandResponse", "FlexSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            path: "Tests/TestSupport"
        ),
        .testTarget(name: "FlexSupportTests", dependencies: ["FlexSupport", "TestSupport"]),
        // The servers' NIO foundation on EmbeddedChannel: the line framer, the HTTP set-up, bearer tokens.
        .testTarget(
            name: "ServerSupportTests",
            dependencies: [
                "ServerSupport", "LineFraming", "TestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "SHA256Tests", dependencies: ["SHA256", "OpenSSLSHA256", "TestSupport"]),
        .testTarget(name: "ChainTests", dependencies: ["Chain", "SHA256", "FlexSupport", "TestSupport"]),
        .testTarget(name: "DemandResponseTests", dependencies: ["DemandResponse", "FlexSupport", "TestSupport"]),
        .testTarget(
            name: "OperationsTests",
            dependencies: [
                "Operations", "LoadController", "DemandResponse", "WorkSources", "FlexSupport", "Mining",
                "MiningKernels", "PowerSources", "SunSpecTestMeter", "OpenADR2b", "OpenADR2bSignals",
                "TestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "PowerSourcesTests", dependencies: ["PowerSources", "SunSpecTestMeter", "FlexSupport", "TestSupport"]),
        .testTarget(name: "ReportsTests", dependencies: ["Reports", "FlexSupport", "TestSupport"]),
        .testTarget(
            name: "SimulationTests", dependencies: ["Simulation", "DemandResponse", "Reports", "TestSupport"]),
        .testTarget(
            name: "LoadControllerTests",
            dependencies: [
                "LoadController", "DemandResponse", "Mining", "MiningKernels", "Chain", "FlexSupport", "KernelBench",
                "TestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "WorkSourcesTests",
            dependencies: [
                "WorkSources", "NodeRPC", "Chain", "Mining", "SHA256", "OpenSSLSHA256", "FlexSupport", "TestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "OpenADRTests",
            dependencies: [
                "OpenADR", "OpenADRSignals", "FakeVTN", "LoadController", "DemandResponse", "FlexSupport",
                "TestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "OpenADR2bTests",
            dependencies: [
                "OpenADR2b", "OpenADR2bSignals", "FakeVTN2b", "LoadController", "DemandResponse", "Mining",
                "MiningKernels", "FlexSupport", "TestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "MiningTests", dependencies: ["Mining", "Chain", "SHA256", "MiningKernels", "TestSupport"]),
        // A stratum v1 pool of the project's own for tests and scripts/test: SwiftNIO, and share checks with
        // its own coinbase/merkle code and OpenSSL, never with the modules under test.
        .target(
            name: "StratumTestPool",
            dependencies: [
                "OpenSSLSHA256",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Tests/StratumTestPool"
        ),
        .executableTarget(
            name: "flexminer-testpool", dependencies: ["StratumTestPool"], path: "Tests/flexminer-testpool"),
        .testTarget(
            name: "StratumTests",
            dependencies: [
                "Stratum", "WorkSources", "Chain", "Mining", "MiningKernels", "SHA256", "OpenSSLSHA256", "FlexSupport",
                "LoadController", "DemandResponse", "Operations", "StratumTestPool", "TestSupport", "NodeRPC",
                "LineFraming",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "MiningKernelsTests",
            dependencies: [
                "SHA256", "MiningKernels", "BitcoinPrimitives", "CPUFeatures", "OpenSSLSHA256", "TestSupport",
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
