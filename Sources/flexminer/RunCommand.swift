import ArgumentParser
import CPUFeatures
import Chain
import DemandResponse
import Foundation
import KernelBench
import LoadController
import Logging
import Mining
import MiningKernels
import NIOPosix
import NodeRPC
import Operations
import SHA256
import ServiceLifecycle
import Synchronization

extension FlexLogHandler.Format: ExpressibleByArgument {}
extension Logger.Level: @retroactive ExpressibleByArgument {}

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Mine under the demand-response controller: prices and curtailments from sockets and files.",
        discussion: """
            Work comes from --rpc (a node), --template (a getblocktemplate file) or --benchmark-work (a synthetic \
            job hashed at full speed, for drills without a node). Signals (protocol v1, newline-delimited JSON) \
            come from every --signals source: unix:PATH (a Unix socket, mode 0600), tcp:HOST:PORT (loopback \
            unless --allow-remote, which also requires a token), file:PATH (followed like tail -F). Every \
            signal and every action goes to --decision-log as JSON lines. --config FILE (JSON) can hold every \
            option (key = flag name with _ for -); flags override it. SIGINT/SIGTERM shut down gracefully (a \
            second one forces exit); --seconds stops after that long.
            """
    )

    @Option(help: "Configuration file (JSON) with any of these options; flags given here override it.")
    var config: String?

    @Flag(inversion: .prefixedNo, help: "Hash a synthetic job at full speed (no node, no blocks).")
    var benchmarkWork: Bool?

    @Option(help: "A getblocktemplate result file to mine (blocks are written to --out).")
    var template: String?

    @OptionGroup var node: NodeOptions

    @Option(help: "Journal of solved blocks (with --rpc; default flexminer-journal.jsonl).")
    var journal: String?

    @Option(help: "Payout address or scriptPubKey hex (with --template or --rpc).")
    var payout: String?

    @Option(help: "Network of the payout address when the template does not imply one.")
    var network: String?

    @Option(
        help:
            "Blocks to write before the miner stops writing blocks (default: unlimited with --rpc, 1 with --template).")
    var blocks: Int?

    @Option(help: "Directory for solved blocks (with --template; default blocks).")
    var out: String?

    @Option(help: "Short message for the coinbase scriptSig.")
    var coinbaseMessage: String?

    @Option(
        name: .customLong("signals"), parsing: .upToNextOption,
        help: "Signal sources: unix:PATH, tcp:HOST:PORT, file:PATH (one or more).")
    var signals: [String] = []

    @Option(help: "Policy file (JSON): power, break-even or hashprice, hysteresis, dwell, hard price, ramp, fail-safe.")
    var policy: String?

    @Option(help: "Break-even price in USD/MWh (overrides the policy's).")
    var breakeven: Double?

    @Option(help: "Decision log: JSON lines, appended.")
    var decisionLog: String?

    @Flag(inversion: .prefixedNo, help: "Start with every worker halted until a signal allows mining.")
    var startHalted: Bool?

    @Flag(
        inversion: .prefixedNo, help: "Allow binding TCP signal sources and --http beyond loopback (requires a token).")
    var allowRemote: Bool?

    @Option(help: "File holding the shared token for remote sources (\"token\" in each message, Bearer on HTTP).")
    var tokenFile: String?

    @Option(help: "Worker threads (default: one per CPU).")
    var threads: Int?

    @Option(help: "Kernel: auto or a kernel name.")
    var kernel: KernelSelection?

    @Option(help: "Worker scheduling priority: idle (SCHED_IDLE, default), low (nice 19) or normal.")
    var priority: WorkerPriority?

    @Option(help: "Stop after this many seconds (drills, tests).")
    var seconds: Double?

    @Option(help: "Serve GET /status, GET /metrics, POST /pause, POST /resume on HOST:PORT (e.g. 127.0.0.1:9105).")
    var http: String?

    @Option(help: "Log format on stderr: human or json.")
    var logFormat: FlexLogHandler.Format?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level?

    @Flag(inversion: .prefixedNo, help: "Show a status line on a terminal (default: on when stdout is a terminal).")
    var statusLine: Bool?

    @Flag(help: "Print the summary as one JSON object.")
    var json = false

    func run() async throws {
        let settings = try RunSettings(self)
        let format = settings.logFormat
        let level = settings.logLevel
        let sink = LogSink.standardError
        LoggingSystem.bootstrap { FlexLogHandler(label: $0, format: format, level: level, output: sink) }
        let logger = Logger(label: "flexminer")
        let service = MinerService(settings: settings, logger: logger, sink: sink)
        // The first SIGINT/SIGTERM starts the graceful shutdown (swift-service-lifecycle); a second one
        // ends the process at once. These sources live for the whole run: swift-service-lifecycle drops
        // its own after the first signal, which would leave the second to the default action.
        let received = Mutex(0)
        let force = ([SIGINT, SIGTERM] as [Int32]).map { sig in
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                if received.withLock({ n in
                    n += 1
                    return n
                }) >= 2 {
                    logger.warning("second signal during shutdown: exiting now")
                    Foundation.exit(130)
                }
            }
            source.resume()
            return source
        }
        defer { force.forEach { $0.cancel() } }
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup)],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        if let summary = service.summary.withLock({ $0 }) {
            if json { printJSON(summary.json) } else { print(summary.text) }
        }
    }
}

/// The run options after merging flags over the config file, checked.
struct RunSettings: Sendable {
    enum Work: Sendable {
        case benchmark
        case template(path: String)
        case node(url: String, credentials: NodeCredentials)
    }
    var work: Work
    var payout: String?
    var network: String?
    var blocks: Int?
    var out: String
    var coinbaseMessage: String
    var journal: String
    var specs: [SignalSourceSpec]
    var signalTexts: [String]
    var policy: PolicyFile
    var breakevenGiven: Bool
    var decisionLog: String?
    var token: String?
    var allowRemote: Bool
    var threads: Int
    var kernel: Kernel
    var priority: WorkerPriority
    var seconds: Double?
    var http: (host: String, port: Int)?
    var logFormat: FlexLogHandler.Format
    var logLevel: Logger.Level
    var statusLine: Bool

    init(_ c: RunCommand) throws {
        var file = RunConfig()
        if let path = c.config {
            do { file = try RunConfig(contentsOf: path) } catch { throw ValidationError(error.message) }
        }
        // Work: a flag for one source replaces the file's choice entirely.
        let flagWork = c.benchmarkWork == true || c.template != nil || c.node.rpc != nil
        let benchmark = flagWork ? c.benchmarkWork == true : file.benchmarkWork == true
        let template = flagWork ? c.template : file.template
        let rpc = flagWork ? c.node.rpc : file.rpc
        guard [benchmark, template != nil, rpc != nil].filter({ $0 }).count == 1 else {
            throw ValidationError(
                "give exactly one work source: --benchmark-work, --template or --rpc (or benchmark_work/template/rpc in --config)"
            )
        }
        payout = c.payout ?? file.payout
        network = c.network ?? file.network
        if let n = network, Network(rawValue: n) == nil {
            throw ValidationError("--network must be main, test, signet or regtest, got \(n)")
        }
        if let t = template {
            guard payout != nil else { throw ValidationError("--template needs --payout ADDRESS") }
            work = .template(path: t)
        } else if let url = rpc {
            guard payout != nil else { throw ValidationError("--rpc needs --payout ADDRESS") }
            let cookie = c.node.rpcCookie ?? (c.node.rpcUser == nil ? file.rpcCookie : nil)
            let user = c.node.rpcUser ?? (c.node.rpcCookie == nil ? file.rpcUser : nil)
            let password = c.node.rpcPassword ?? (c.node.rpcCookie == nil ? file.rpcPassword : nil)
            let credentials: NodeCredentials
            switch (cookie, user, password) {
            case (let cookie?, nil, nil): credentials = .cookie(path: cookie)
            case (nil, let user?, let password?): credentials = .userPassword(user: user, password: password)
            default: throw ValidationError("give --rpc-cookie PATH, or --rpc-user and --rpc-password")
            }
            work = .node(url: url, credentials: credentials)
        } else {
            work = .benchmark
        }
        blocks = c.blocks ?? file.blocks
        if let b = blocks, b < 1 { throw ValidationError("--blocks must be at least 1, got \(b)") }
        out = c.out ?? file.out ?? "blocks"
        coinbaseMessage = c.coinbaseMessage ?? file.coinbaseMessage ?? ""
        journal = c.journal ?? file.journal ?? "flexminer-journal.jsonl"
        signalTexts = c.signals.isEmpty ? (file.signals ?? []) : c.signals
        guard !signalTexts.isEmpty else { throw ValidationError("give at least one --signals SOURCE") }
        specs = try signalTexts.map { s in
            do { return try SignalSourceSpec(s) } catch { throw ValidationError("--signals: \(error)") }
        }
        allowRemote = c.allowRemote ?? file.allowRemote ?? false
        let tokenFile = c.tokenFile ?? file.tokenFile
        token = try Self.loadToken(tokenFile)
        for spec in specs where !spec.isLocal {
            guard allowRemote else {
                throw ValidationError(
                    "--signals \(spec): binding beyond loopback needs --allow-remote (and --token-file)")
            }
            guard token != nil else {
                throw ValidationError(
                    "--signals \(spec): a remote source needs a shared token (--token-file or FLEXMINER_SIGNAL_TOKEN)")
            }
        }
        if let text = c.http ?? file.http {
            let address: (host: String, port: Int)
            do { address = try StatusServer.parseAddress(text) } catch { throw ValidationError(error.message) }
            if !SignalSourceSpec.isLoopback(host: address.host) {
                guard allowRemote, token != nil else {
                    throw ValidationError(
                        "--http \(text): beyond loopback needs --allow-remote and a token (--token-file)")
                }
            }
            http = address
        }
        // Policy: a --policy file replaces the config's; --breakeven and --start-halted override both.
        if let path = c.policy ?? (c.policy == nil && file.policy == nil ? file.policyFile : nil) {
            do { policy = try PolicyFile(contentsOf: path) } catch { throw ValidationError(error.message) }
        } else {
            policy = file.policy ?? PolicyFile()
        }
        let breakeven = c.breakeven ?? file.breakeven
        if let b = breakeven {
            guard b.isFinite else { throw ValidationError("--breakeven must be a finite number") }
            policy.breakEvenUSDPerMWh = b
            policy.hashpriceUSDPerPHDay = nil
            policy.btcUSD = nil
        }
        breakevenGiven = breakeven != nil
        if let halted = c.startHalted ?? file.startHalted { policy.config.initialCapacity = halted ? 0 : 1 }
        if policy.needsHashRate && policy.config.initialCapacity == 0 {
            throw ValidationError(
                "--start-halted with a hashprice-based policy needs \"hashrate_hs\" in the policy (nothing may hash to measure it)"
            )
        }
        decisionLog = c.decisionLog ?? file.decisionLog
        threads = c.threads ?? file.threads ?? ProcessInfo.processInfo.activeProcessorCount
        guard (1...1024).contains(threads) else { throw ValidationError("--threads must be 1...1024, got \(threads)") }
        let selection: KernelSelection
        if let k = c.kernel {
            selection = k
        } else if let name = file.kernel {
            guard let k = KernelSelection(argument: name) else {
                throw ValidationError("config: unknown \"kernel\" \"\(name)\"")
            }
            selection = k
        } else {
            selection = KernelSelection(argument: "auto")!
        }
        kernel = try selection.kernels(includeVariants: true)[0]
        priority = c.priority ?? file.priority.flatMap(WorkerPriority.init(rawValue:)) ?? .idle
        seconds = c.seconds ?? file.seconds
        if let s = seconds, !(s > 0) { throw ValidationError("--seconds must be positive") }
        logFormat = c.logFormat ?? file.logFormat.flatMap(FlexLogHandler.Format.init(rawValue:)) ?? .human
        logLevel = c.logLevel ?? file.logLevel.flatMap(Logger.Level.init(rawValue:)) ?? .info
        statusLine = c.statusLine ?? file.statusLine ?? (isatty(STDOUT_FILENO) == 1 && !c.json)
    }

    static func loadToken(_ path: String?) throws -> String? {
        if let path {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ValidationError("--token-file \(path): cannot read it")
            }
            let t = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard t.utf8.count >= 16 else {
                throw ValidationError("--token-file \(path): the token must be at least 16 characters")
            }
            return t
        }
        return ProcessInfo.processInfo.environment["FLEXMINER_SIGNAL_TOKEN"]
    }
}

/// What `run` prints at the end.
struct RunSummary: Sendable {
    let text: String
    let jsonText: String
    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(jsonText.utf8)) as? [String: Any]) ?? [:]
    }
}

/// The miner as a service of swift-service-lifecycle: runs until graceful shutdown (SIGINT/SIGTERM) or
/// `--seconds`, then stops taking signals, halts the workers, flushes the logs, closes the sockets.
final class MinerService: Service, Sendable {
    let settings: RunSettings
    let logger: Logger
    let sink: LogSink
    let summary = Mutex<RunSummary?>(nil)

    init(settings: RunSettings, logger: Logger, sink: LogSink) {
        self.settings = settings
        self.logger = logger
        self.sink = sink
    }

    func run() async throws {
        let s = settings
        let logger = self.logger
        let note: @Sendable (String) -> Void = { logger.info("\($0)") }
        let log: DecisionLog?
        do { log = try s.decisionLog.map { p throws(SignalError) in try DecisionLog(path: p) } } catch {
            throw ValidationError(error.message)
        }
        let metrics = MinerMetrics()
        let started = Date()

        // Work and engine.
        var templateWork: TemplateWork? = nil
        if case .template(let path) = s.work {
            templateWork = try loadTemplateWork(path, payout: s.payout!, network: s.network, message: s.coinbaseMessage)
        }
        let benchJob = MiningJob.unsolvable(seed: UInt64(Date().timeIntervalSince1970))
        let isBenchmark: Bool
        if case .benchmark = s.work { isBenchmark = true } else { isBenchmark = false }
        let source: (any JobSource)? =
            templateWork ?? (isBenchmark ? TimeRollingSource(baseTime: benchJob.header.time, maxTimeRoll: .max) : nil)
        let engine = try MiningEngine(kernel: s.kernel, threads: s.threads, priority: s.priority, source: source)
        if s.policy.config.initialCapacity == 0 { engine.halt() }

        var measured: Double? = nil
        if s.policy.needsHashRate {
            note("measuring the hash rate for the break-even price (2 s)")
            engine.setJob(MiningJob.unsolvable(seed: 1))
            try await Task.sleep(for: .milliseconds(250))
            let a = engine.snapshot().totalHashes
            let t0 = ContinuousClock.now
            try await Task.sleep(for: .seconds(2))
            measured = Double(engine.snapshot().totalHashes - a) / (ContinuousClock.now - t0).seconds
            engine.clearJob()
        }
        let config: PolicyConfig
        do { config = try s.policy.resolved(measuredHashRate: measured) } catch {
            engine.stop()
            throw ValidationError("policy: \(error.message)")
        }
        let priceActive = s.policy.hasBreakEven || s.breakevenGiven
        let controller = LoadController(
            actuator: engine, config: config, priceActive: priceActive, log: log, message: note,
            observer: { metrics.record($0) })
        if priceActive {
            note(String(format: "break-even %.2f USD/MWh", config.breakEvenUSDPerMWh))
        } else {
            note("no break-even configured: prices are recorded, only curtailments change capacity")
        }
        log?.write([
            "event": "start", "threads": s.threads, "kernel": s.kernel.description, "signals": s.signalTexts,
            "breakeven_usd_per_mwh": priceActive ? config.breakEvenUSDPerMWh as Any : NSNull(),
            "initial_capacity": config.initialCapacity,
        ])
        controller.start()

        // Blocks found, by result.
        let blockCounts = Mutex<[String: Int]>([:])
        let countBlock: @Sendable (String) -> Void = { result in
            metrics.block(result: result)
            let key = result == "found" || result == "accepted" ? result : "rejected"
            blockCounts.withLock { $0[key, default: 0] += 1 }
        }

        // Sources and the HTTP API.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var servers: [SignalSocketServer] = []
        var followers: [SignalFileFollower] = []
        var httpServer: StatusServer? = nil
        let statusJSON: @Sendable () -> String = {
            let snap = engine.snapshot()
            let st = controller.status
            metrics.update(engine: snap, status: st)
            let state =
                st.stale
                ? "fail-safe"
                : snap.halted
                    ? (st.curtailment >= 1 ? "curtailed" : "halted")
                    : st.capacity < 1 ? "partial" : "mining"
            var object: [String: Any] = [
                "version": FlexMiner.configuration.version, "kernel": s.kernel.description,
                "cpu_features": CPUFeatures.current.names, "threads": s.threads, "capacity": snap.capacity,
                "halted": snap.halted, "active_workers": snap.activeWorkers,
                "controller": [
                    "state": state, "reason": st.reason, "stale": st.stale, "curtailment": st.curtailment,
                    "active_curtailments": st.activeCurtailments,
                ] as [String: Any],
                "hash_rate_5s": snap.hashRate5s, "hash_rate_60s": snap.hashRate60s,
                "hashes_total": Int(clamping: snap.totalHashes), "jobs": snap.jobsStarted,
                "blocks": blockCounts.withLock { c in
                    ["found": c["found"] ?? 0, "accepted": c["accepted"] ?? 0, "rejected": c["rejected"] ?? 0]
                },
                "uptime_seconds": Date().timeIntervalSince(started), "signals": st.messages,
            ]
            object["price_usd_per_mwh"] = st.price ?? NSNull()
            object["breakeven_usd_per_mwh"] = st.breakEven ?? NSNull()
            object["last_halt_latency_ms"] = st.lastHaltLatency.map { $0.seconds * 1e3 } ?? NSNull()
            object["last_resume_latency_ms"] = st.lastResumeLatency.map { $0.seconds * 1e3 } ?? NSNull()
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
            return String(decoding: data, as: UTF8.self)
        }
        do {
            for spec in s.specs {
                switch spec {
                case .unix, .tcp:
                    let server = try await SignalSocketServer.start(
                        spec, controller: controller, token: spec.isLocal ? nil : s.token, group: group)
                    servers.append(server)
                    note("listening for signals on \(spec)\(server.port.map { " (port \($0))" } ?? "")")
                case .file(let path):
                    followers.append(try SignalFileFollower(path: path, controller: controller, note: note))
                    note("following signals in \(spec)")
                }
            }
            if let (host, port) = s.http {
                let origin = SignalOrigin(name: "http")
                httpServer = try await StatusServer.start(
                    host: host, port: port, token: s.token,
                    routes: .init(
                        status: statusJSON,
                        metrics: {
                            metrics.update(engine: engine.snapshot(), status: controller.status)
                            return metrics.render()
                        },
                        signal: { line in
                            let r = controller.handle(line: Array(line.utf8), origin: origin)
                            return (r.ok, r.line)
                        }), group: group)
                note("HTTP API on http://\(host.contains(":") ? "[\(host)]" : host):\(httpServer!.port)/status")
            }
        } catch {
            for sv in servers { await sv.close() }
            for f in followers { f.stop() }
            await httpServer?.close()
            engine.stop()
            try? await group.shutdownGracefully()
            throw ValidationError("\(error)")
        }

        // Mining.
        let miningTask: Task<Void, Never>
        switch s.work {
        case .template:
            let work = templateWork!
            let limit = s.blocks ?? 1
            let out = s.out
            engine.setJob(work.freshJob())
            miningTask = Task {
                var used = Set<UInt64>()
                var mined = 0
                for await event in engine.events {
                    guard mined < limit, case .solution(let sol) = event, sol.isBlock, !sol.isStale,
                        !used.contains(sol.jobID), let block = work.block(for: sol)
                    else { continue }
                    used.insert(sol.jobID)
                    let hash = sol.hash.reversedHex
                    do {
                        let file = try BlockFiles.write(
                            hex: Hex.encode(block), height: work.template.height, hash: hash, to: out)
                        note("block \(work.template.height) \(hash) -> \(file)")
                        log?.write(["event": "block", "hash": hash, "height": work.template.height, "path": file])
                        countBlock("found")
                    } catch {
                        logger.error("block \(hash): \(error)")
                    }
                    mined += 1
                    if mined < limit {
                        engine.setJob(work.freshJob())
                    } else {
                        note("block limit reached; hashing continues as load without writing blocks")
                    }
                }
            }
        case .node(let url, let credentials):
            let client: NodeRPCClient
            do { client = try NodeRPCClient(url: url, credentials: credentials) } catch {
                throw ValidationError(error.message)
            }
            var options = NodeMiner.Options(payout: s.payout!)
            options.blocks = s.blocks ?? Int.max
            options.coinbaseMessage = Array(s.coinbaseMessage.utf8)
            let miner = NodeMiner(
                client: client, engine: engine, journal: BlockJournal(path: s.journal), options: options, log: note)
            miningTask = Task {
                do {
                    try await miner.run { r in
                        countBlock("found")
                        countBlock(r.result)
                        note("block \(r.height) \(r.hash): \(r.result)")
                        log?.write(["event": "block", "hash": r.hash, "height": r.height, "result": r.result])
                    }
                } catch {
                    logger.error("node: \((error as? NodeRPCError)?.message ?? "\(error)")")
                }
                await client.shutdown()
            }
        case .benchmark:
            engine.setJob(benchJob)
            miningTask = Task {}
        }

        // Time: expiring curtailments, dwell, ramps, stale signals; metrics; the status line.
        let ticker = Task {
            var n = 0
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(100))
                controller.tick()
                n += 1
                if n % 10 == 0 { metrics.update(engine: engine.snapshot(), status: controller.status) }
            }
        }
        let statusTask: Task<Void, Never>? =
            s.statusLine
            ? Task {
                sink.setBeforeWrite { FileHandle.standardOutput.write(Data("\r\u{1B}[K".utf8)) }
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(1))
                    if Task.isCancelled { break }
                    let snap = engine.snapshot()
                    let st = controller.status
                    let price = st.price.map { String(format: "%.2f USD/MWh", $0) } ?? "no price"
                    let state = st.stale ? "fail-safe" : snap.halted ? "halted" : "mining"
                    let line = String(
                        format: "\r\u{1B}[K%.2f MH/s · capacity %d%% · %@ · %@ · %@", snap.hashRate5s / 1e6,
                        Int((snap.capacity * 100).rounded()), price, state, st.reason)
                    FileHandle.standardOutput.write(Data(line.utf8))
                }
            } : nil

        // Until SIGINT/SIGTERM (graceful shutdown) or --seconds.
        if let limit = s.seconds {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(limit)) }
        } else {
            try? await gracefulShutdown()
        }

        note("shutting down: closing signal sources, halting workers")
        ticker.cancel()
        statusTask?.cancel()
        _ = await statusTask?.value
        if s.statusLine {
            sink.setBeforeWrite(nil)
            FileHandle.standardOutput.write(Data("\r\u{1B}[K".utf8))
        }
        for sv in servers { await sv.close() }
        for f in followers { f.stop() }
        await httpServer?.close()
        let snapshot = engine.snapshot()
        engine.halt()
        engine.stop()
        miningTask.cancel()
        _ = await miningTask.value
        try? await group.shutdownGracefully()
        let elapsed = Date().timeIntervalSince(started)
        let halts = LatencySummary(engine.measuredHaltLatencies.dropLast())
        let resumes = LatencySummary(engine.measuredResumeLatencies)
        let st = controller.status
        log?.write(["event": "stop", "hashes": Int(clamping: snapshot.totalHashes), "seconds": elapsed])
        log?.close()
        let signalsOK = st.messages.values.reduce(0) { $0 + ($1["ok"] ?? 0) }
        let signalsError = st.messages.values.reduce(0) { $0 + ($1["error"] ?? 0) }
        let blocks = blockCounts.withLock { $0["found"] ?? 0 }
        let object: [String: Any] = [
            "seconds": elapsed, "hashes": Int(clamping: snapshot.totalHashes),
            "hash_rate": Double(snapshot.totalHashes) / elapsed, "threads": s.threads, "kernel": s.kernel.description,
            "halts": halts.count, "resumes": resumes.count,
            "halt_latency_ms_p50": halts.p50.seconds * 1e3, "halt_latency_ms_p99": halts.p99.seconds * 1e3,
            "halt_latency_ms_max": halts.max.seconds * 1e3,
            "resume_latency_ms_p50": resumes.p50.seconds * 1e3, "resume_latency_ms_p99": resumes.p99.seconds * 1e3,
            "capacity": st.capacity, "signals_ok": signalsOK, "signals_error": signalsError, "blocks": blocks,
        ]
        let text = String(
            format: "ran %.1f s: %llu hashes (%.2f MH/s), %d halts (p50 %.3f ms, p99 %.3f ms), %d signals (%d refused)",
            elapsed, snapshot.totalHashes, Double(snapshot.totalHashes) / elapsed / 1e6, halts.count,
            halts.p50.seconds * 1e3, halts.p99.seconds * 1e3, signalsOK, signalsError)
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        summary.withLock { $0 = RunSummary(text: text, jsonText: String(decoding: data, as: UTF8.self)) }
        note("stopped cleanly")
    }
}
