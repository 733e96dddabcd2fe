import ArgumentParser
import Chain
import DemandResponse
import Foundation
import KernelBench
import LoadController
import Mining
import MiningKernels
import NIOPosix
import NodeRPC
import SHA256
import Synchronization

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Mine under the demand-response controller: prices and curtailments from sockets and files.",
        discussion: """
            Work comes from --rpc (a node), --template (a getblocktemplate file) or --benchmark-work (a synthetic \
            job hashed at full speed, for drills without a node). Signals (protocol v1, newline-delimited JSON) \
            come from every --signals source: unix:PATH (a Unix socket, mode 0600), tcp:HOST:PORT (loopback \
            unless --allow-remote, which also requires a token), file:PATH (followed like tail -F). Every \
            signal and every action goes to --decision-log as JSON lines. Stops on SIGINT/SIGTERM or after \
            --seconds, printing a summary.
            """
    )

    @Flag(help: "Hash a synthetic job at full speed (no node, no blocks).")
    var benchmarkWork = false

    @Option(help: "A getblocktemplate result file to mine (blocks are written to --out).")
    var template: String?

    @OptionGroup var node: NodeOptions

    @Option(help: "Journal of solved blocks (with --rpc).")
    var journal: String = "flexminer-journal.jsonl"

    @Option(help: "Payout address or scriptPubKey hex (with --template or --rpc).")
    var payout: String?

    @Option(help: "Network of the payout address when the template does not imply one.")
    var network: String?

    @Option(
        help: "Blocks to mine before the miner stops writing blocks (default: unlimited with --rpc, 1 with --template)."
    )
    var blocks: Int?

    @Option(help: "Directory for solved blocks (with --template).")
    var out: String = "blocks"

    @Option(help: "Short message for the coinbase scriptSig.")
    var coinbaseMessage: String = ""

    @Option(
        name: .customLong("signals"), parsing: .upToNextOption,
        help: "Signal sources: unix:PATH, tcp:HOST:PORT, file:PATH (one or more).")
    var signals: [String] = []

    @Option(help: "Policy file (JSON): power, break-even or hashprice, hysteresis, dwell, hard price, ramp, fail-safe.")
    var policy: String?

    @Option(help: "Break-even price in USD/MWh (overrides the policy file's).")
    var breakeven: Double?

    @Option(help: "Decision log: JSON lines, appended.")
    var decisionLog: String?

    @Flag(help: "Start with every worker halted until a signal allows mining.")
    var startHalted = false

    @Flag(help: "Allow binding a TCP source to a non-loopback address (requires a token).")
    var allowRemote = false

    @Option(help: "File holding the shared token that every message on a remote TCP source must carry as \"token\".")
    var tokenFile: String?

    @Option(help: "Worker threads (default: one per CPU).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Kernel: auto or a kernel name.")
    var kernel: KernelSelection = KernelSelection(argument: "auto")!

    @Option(help: "Worker scheduling priority: idle (SCHED_IDLE, default), low (nice 19) or normal.")
    var priority: WorkerPriority = .idle

    @Option(help: "Stop after this many seconds (drills, tests).")
    var seconds: Double?

    @Flag(help: "Print the summary as one JSON object.")
    var json = false

    func validate() throws {
        let sources = [benchmarkWork, template != nil, node.rpc != nil].filter { $0 }.count
        guard sources == 1 else { throw ValidationError("give exactly one of --benchmark-work, --template or --rpc") }
        if template != nil || node.rpc != nil {
            guard payout != nil else { throw ValidationError("--template and --rpc need --payout ADDRESS") }
        }
        if node.rpc != nil { _ = try node.credentials() }
        if let b = blocks, b < 1 { throw ValidationError("--blocks must be at least 1, got \(b)") }
        guard !signals.isEmpty else { throw ValidationError("give at least one --signals SOURCE") }
        for s in signals {
            let spec: SignalSourceSpec
            do { spec = try SignalSourceSpec(s) } catch { throw ValidationError(error.message) }
            if !spec.isLocal {
                guard allowRemote else {
                    throw ValidationError(
                        "--signals \(s): binding beyond loopback needs --allow-remote (and --token-file)")
                }
                guard tokenFile != nil || ProcessInfo.processInfo.environment["FLEXMINER_SIGNAL_TOKEN"] != nil else {
                    throw ValidationError(
                        "--signals \(s): a remote source needs a shared token (--token-file or FLEXMINER_SIGNAL_TOKEN)")
                }
            }
        }
        guard (1...1024).contains(threads) else { throw ValidationError("--threads must be 1...1024, got \(threads)") }
        if let s = seconds, !(s > 0) { throw ValidationError("--seconds must be positive") }
        if let b = breakeven, !b.isFinite { throw ValidationError("--breakeven must be a finite number") }
    }

    func run() async throws {
        let note: @Sendable (String) -> Void = { FileHandle.standardError.write(Data("flexminer: \($0)\n".utf8)) }
        let specs = try signals.map { s in
            do { return try SignalSourceSpec(s) } catch { throw ValidationError("\(error)") }
        }
        var policyFile = PolicyFile()
        if let p = policy {
            do { policyFile = try PolicyFile(contentsOf: p) } catch { throw ValidationError(error.message) }
        }
        if let b = breakeven {
            policyFile.breakEvenUSDPerMWh = b
            policyFile.hashpriceUSDPerPHDay = nil
            policyFile.btcUSD = nil
        }
        if startHalted { policyFile.config.initialCapacity = 0 }
        if policyFile.needsHashRate && policyFile.config.initialCapacity == 0 {
            throw ValidationError(
                "--start-halted with a hashprice-based policy needs \"hashrate_hs\" in the policy (nothing may hash to measure it)"
            )
        }
        let token = try loadToken()
        let log: DecisionLog?
        do { log = try decisionLog.map { p throws(SignalError) in try DecisionLog(path: p) } } catch {
            throw ValidationError(error.message)
        }

        // Work.
        let chosen = try kernel.kernels(includeVariants: true)[0]
        let templateWork = try template.map {
            try loadTemplateWork($0, payout: payout!, network: network, message: coinbaseMessage)
        }
        let benchJob = MiningJob.unsolvable(seed: UInt64(Date().timeIntervalSince1970))
        let source: (any JobSource)? =
            templateWork ?? (benchmarkWork ? TimeRollingSource(baseTime: benchJob.header.time, maxTimeRoll: .max) : nil)
        let engine = try MiningEngine(kernel: chosen, threads: threads, priority: priority, source: source)
        if policyFile.config.initialCapacity == 0 { engine.halt() }

        // Break-even: measured hash rate when the policy prices hashes but gives no rate.
        var measured: Double? = nil
        if policyFile.needsHashRate {
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
        do { config = try policyFile.resolved(measuredHashRate: measured) } catch {
            throw ValidationError("--policy: \(error.message)")
        }
        let controller = LoadController(
            actuator: engine, config: config, priceActive: policyFile.hasBreakEven || breakeven != nil, log: log,
            message: note)
        if policyFile.hasBreakEven {
            note(String(format: "break-even %.2f USD/MWh", config.breakEvenUSDPerMWh))
        } else {
            note("no break-even configured: prices are recorded, only curtailments change capacity")
        }
        log?.write([
            "event": "start", "threads": threads, "kernel": chosen.description, "signals": signals,
            "breakeven_usd_per_mwh": policyFile.hasBreakEven ? config.breakEvenUSDPerMWh as Any : NSNull(),
            "initial_capacity": config.initialCapacity,
        ])
        controller.start()

        // Sources.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var servers: [SignalSocketServer] = []
        var followers: [SignalFileFollower] = []
        do {
            for spec in specs {
                switch spec {
                case .unix, .tcp:
                    let server = try await SignalSocketServer.start(
                        spec, controller: controller, token: spec.isLocal ? nil : token, group: group)
                    servers.append(server)
                    note("listening for signals on \(spec)\(server.port.map { " (port \($0))" } ?? "")")
                case .file(let path):
                    followers.append(try SignalFileFollower(path: path, controller: controller, note: note))
                    note("following signals in \(spec)")
                }
            }
        } catch {
            for s in servers { await s.close() }
            for f in followers { f.stop() }
            engine.stop()
            try? await group.shutdownGracefully()
            throw ValidationError("\(error)")
        }

        // Mining.
        let started = ContinuousClock.now
        let blocksMined = Atomic<Int>(0)
        let miningTask: Task<Void, Never>
        if let work = templateWork {
            let limit = blocks ?? 1
            let out = self.out
            engine.setJob(work.freshJob())
            miningTask = Task {
                var used = Set<UInt64>()
                for await event in engine.events {
                    guard blocksMined.load(ordering: .relaxed) < limit, case .solution(let s) = event, s.isBlock,
                        !s.isStale, !used.contains(s.jobID), let block = work.block(for: s)
                    else { continue }
                    used.insert(s.jobID)
                    let hash = s.hash.reversedHex
                    do {
                        let file = try BlockFiles.write(
                            hex: Hex.encode(block), height: work.template.height, hash: hash, to: out)
                        note("block \(work.template.height) \(hash) -> \(file)")
                        log?.write(["event": "block", "hash": hash, "height": work.template.height, "path": file])
                    } catch {
                        note("block \(hash): \(error)")
                    }
                    if blocksMined.add(1, ordering: .relaxed).newValue < limit {
                        engine.setJob(work.freshJob())
                    } else {
                        note("block limit reached; hashing continues as load without writing blocks")
                    }
                }
            }
        } else if node.rpc != nil {
            let client = try node.client()
            var options = NodeMiner.Options(payout: payout!)
            options.blocks = blocks ?? Int.max
            options.coinbaseMessage = Array(coinbaseMessage.utf8)
            let miner = NodeMiner(
                client: client, engine: engine, journal: BlockJournal(path: journal), options: options, log: note)
            miningTask = Task {
                do {
                    try await miner.run { r in
                        blocksMined.add(1, ordering: .relaxed)
                        note("block \(r.height) \(r.hash): \(r.result)")
                        log?.write(["event": "block", "hash": r.hash, "height": r.height, "result": r.result])
                    }
                } catch {
                    note("node: \((error as? NodeRPCError)?.message ?? "\(error)")")
                }
                await client.shutdown()
            }
        } else {
            engine.setJob(benchJob)
            miningTask = Task {}
        }

        // Time: expiring curtailments, dwell, ramps, stale signals.
        let ticker = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(100))
                controller.tick()
            }
        }
        await waitForStop(seconds: seconds)

        // Shutdown: no more signals, then no more hashing; the logs are flushed last.
        ticker.cancel()
        for s in servers { await s.close() }
        for f in followers { f.stop() }
        let snapshot = engine.snapshot()
        engine.halt()
        engine.stop()
        miningTask.cancel()
        _ = await miningTask.value
        try? await group.shutdownGracefully()
        let elapsed = (ContinuousClock.now - started).seconds
        let halts = LatencySummary(engine.measuredHaltLatencies.dropLast())
        let resumes = LatencySummary(engine.measuredResumeLatencies)
        let status = controller.status
        log?.write(["event": "stop", "hashes": Int(snapshot.totalHashes), "seconds": elapsed])
        log?.close()
        let summary: [String: Any] = [
            "seconds": elapsed, "hashes": Int(snapshot.totalHashes),
            "hash_rate": Double(snapshot.totalHashes) / elapsed, "threads": threads, "kernel": chosen.description,
            "halts": halts.count, "resumes": resumes.count,
            "halt_latency_ms_p50": halts.p50.seconds * 1e3, "halt_latency_ms_p99": halts.p99.seconds * 1e3,
            "halt_latency_ms_max": halts.max.seconds * 1e3,
            "resume_latency_ms_p50": resumes.p50.seconds * 1e3, "resume_latency_ms_p99": resumes.p99.seconds * 1e3,
            "capacity": status.capacity, "signals_ok": status.messages.values.reduce(0) { $0 + ($1["ok"] ?? 0) },
            "signals_error": status.messages.values.reduce(0) { $0 + ($1["error"] ?? 0) },
            "blocks": blocksMined.load(ordering: .relaxed),
        ]
        if json {
            printJSON(summary)
        } else {
            print(
                String(
                    format: "ran %.1f s: %llu hashes (%.2f MH/s), %d halts (p50 %.3f ms, p99 %.3f ms), %d signals",
                    elapsed, snapshot.totalHashes, Double(snapshot.totalHashes) / elapsed / 1e6, halts.count,
                    halts.p50.seconds * 1e3, halts.p99.seconds * 1e3, summary["signals_ok"] as! Int))
        }
    }

    private func loadToken() throws -> String? {
        if let path = tokenFile {
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

/// Returns after `seconds`, or on SIGINT/SIGTERM.
func waitForStop(seconds: Double?) async {
    signal(SIGINT, SIG_IGN)
    signal(SIGTERM, SIG_IGN)
    let (stream, continuation) = AsyncStream.makeStream(of: Void.self)
    let sources = [SIGINT, SIGTERM].map { sig in
        let s = DispatchSource.makeSignalSource(signal: sig)
        s.setEventHandler { continuation.yield() }
        s.resume()
        return s
    }
    let timer = Task {
        if let seconds {
            try? await Task.sleep(for: .seconds(seconds))
            continuation.yield()
        }
    }
    for await _ in stream { break }
    timer.cancel()
    for s in sources { s.cancel() }
}
