import ArgumentParser
import Chain
import FlexSupport
import Foundation
import Logging
import Mining
import MiningKernels
import NodeRPC
import SHA256
import Synchronization
import WorkSources

struct MineCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mine",
        abstract: "Mine a block template file, a node, a stratum pool, or search one block header's nonces.",
        discussion: """
            With --template: builds the coinbase (BIP34 height, rolled extranonce, optional message) paying \
            --payout, mines --blocks blocks (each with its own extranonce), writes each block's hex to --out \
            (fsync'd) and prints one line per block. With --header: the header's own nonce field is ignored; \
            the search covers --first-nonce ..< --first-nonce + --count and exits 0 with the solution, or 1 \
            when the range (and any --roll-time) is exhausted. With --pool: shares to the pools (tried in order) \
            until --blocks, --shares or --seconds; one line per share with the pool's verdict, then a summary.
            """
    )

    @Option(help: "The 80-byte block header, 160 hex digits (serialized byte order).")
    var header: String?

    @Option(help: "A getblocktemplate result file (bare result or whole JSON-RPC response).")
    var template: String?

    @OptionGroup var node: NodeOptions

    @Option(
        help:
            "Journal of solved blocks (with --rpc or --pool): each block is appended and fsync'd before it is submitted."
    )
    var journal: String = "flexminer-journal.jsonl"

    @Option(help: "Payout address (base58 or bech32/bech32m) or raw scriptPubKey as hex (with --template).")
    var payout: String?

    @Option(help: "Network of the payout address when the template does not imply one: main, test, signet, regtest.")
    var network: String?

    @Option(
        help:
            "Blocks to mine from the template or node (default 1), or with --pool: stop after N blocks the pool accepted on N different parents (others on one parent are reported superseded)."
    )
    var blocks: Int?

    @OptionGroup var pool: PoolOptions

    @Option(help: "With --pool: stop after N shares got the pool's verdict.")
    var shares: Int?

    @Option(help: "With --pool: stop after S seconds.")
    var seconds: Double?

    @Option(help: "Directory for solved blocks (<height>-<hash>.hex).")
    var out: String = "blocks"

    @Option(help: "Short message for the coinbase scriptSig (total scriptSig must stay within 100 bytes).")
    var coinbaseMessage: String = ""

    @Option(help: "Target as 64 hex digits, most significant first (like getblocktemplate's target).")
    var target: String?

    @Option(help: "Target as compact nBits, 8 hex digits (e.g. 1d00ffff, 207fffff).")
    var bits: String?

    @Option(help: "Worker threads (default: one per CPU).")
    var threads: Int = ThreadCount.default

    @Option(help: "Kernel: auto or a kernel name.")
    var kernel: KernelSelection = KernelSelection(argument: "auto")!

    @Option(help: "Worker scheduling priority: idle (SCHED_IDLE, default), low (nice 19) or normal.")
    var priority: WorkerPriority = .idle

    @Option(help: "First nonce to try.")
    var firstNonce: UInt32 = 0

    @Option(help: "Nonces to try (default: all from --first-nonce to 0xffffffff).")
    var count: UInt64?

    @Option(
        help: "When the range is exhausted, add one second to the header time and search again, up to this many times.")
    var rollTime: UInt32 = 0

    @Flag(help: "Print one JSON object.")
    var json = false

    func validate() throws {
        guard [header != nil, template != nil, node.rpc != nil, !pool.pools.isEmpty].filter({ $0 }).count == 1 else {
            throw ValidationError("give exactly one of --header, --template, --rpc or --pool")
        }
        if !pool.pools.isEmpty {
            _ = try pool.workOptions(version: "")
            try PoolLimits.check(blocks: blocks, shares: shares, seconds: seconds)
        } else if shares != nil || seconds != nil {
            throw ValidationError("--shares and --seconds go with --pool")
        } else if node.rpc != nil || template != nil {
            guard payout != nil else {
                throw ValidationError("\(template == nil ? "--rpc" : "--template") needs --payout ADDRESS")
            }
            guard (1...1_000_000).contains(blockLimit) else {
                throw ValidationError("--blocks must be 1...1000000, got \(blockLimit)")
            }
            if node.rpc != nil { _ = try node.credentials() }
            guard template == nil || (target == nil && bits == nil) else {
                throw ValidationError("--target/--bits come from the template")
            }
            if let n = network, Network(rawValue: n) == nil {
                throw ValidationError("--network must be main, test, signet or regtest, got \(n)")
            }
        } else {
            guard (target == nil) != (bits == nil) else {
                throw ValidationError("give exactly one of --target or --bits")
            }
        }
        if let problem = ThreadCount.problem(threads) { throw ValidationError(problem) }
        if let c = count, c == 0 || c > (1 << 32) { throw ValidationError("--count must be 1...4294967296, got \(c)") }
    }

    func run() async throws {
        let logger = CommandLog.bootstrap()
        let kernel = try self.kernel.single()
        let started = ContinuousClock.now
        if let h = header { return try await searchHeader(h, kernel: kernel) }
        if !pool.pools.isEmpty { return try await minePool(kernel: kernel, logger: logger) }
        let source: any WorkSource
        if let path = template {
            do {
                let work = try TemplateFileWork.load(
                    path: path, payout: payout!, network: network, message: coinbaseMessage)
                source = TemplateFileWork(
                    work: work, origin: path, blocks: blockLimit, out: out, afterLimit: .stop, logger: logger)
            } catch { throw ValidationError(error.message) }
        } else {
            var options = NodeWork.Options(payout: payout!)
            options.blocks = blockLimit
            options.coinbaseMessage = Array(coinbaseMessage.utf8)
            source = NodeWork(
                client: try node.client(), journal: BlockJournal(path: journal), options: options, logger: logger)
        }
        let engine = try MiningEngine(kernel: kernel, threads: threads, priority: priority, source: source.jobSource)
        let json = self.json
        let mined = MinedCount()  // blocks of this run (not resubmitted ones), to tell a source that ended early
        defer { engine.stop() }
        do {
            try await source.run(engine: engine) { b in
                if !b.resubmitted { mined.count.withLock { $0 += 1 } }
                let seconds = Int((ContinuousClock.now - started).seconds)
                if json {
                    printJSON(b.json(hashes: engine.snapshot().totalHashes, seconds: seconds))
                } else {
                    print(b.line)
                }
            }
        } catch {
            await source.shutdown()
            throw ValidationError(error.message)
        }
        await source.shutdown()
        // A source that ends for good without an error must not pass for a finished run.
        let done = mined.count.withLock { $0 }
        if done < blockLimit {
            throw ValidationError("the \(source.kind) work source ended after \(done) of \(blockLimit) block(s)")
        }
    }

    var blockLimit: Int { blocks ?? 1 }

    /// `--pool`: shares to the pools until a limit; one line per share with a verdict, then a summary.
    func minePool(kernel: Kernel, logger: Logger) async throws {
        var options = try pool.workOptions(version: FlexMiner.version)
        PoolLimits.apply(blocks: blocks, shares: shares, seconds: seconds, to: &options)
        let work = PoolWork(options: options, journal: BlockJournal(path: journal), logger: logger)
        let engine = try MiningEngine(kernel: kernel, threads: threads, priority: priority, source: work.jobSource)
        defer { engine.stop() }
        let (summary, error) = await work.mineReporting(engine: engine, json: json) { print($0) }
        print(summary)
        if let error { throw ValidationError(error.message) }
    }

    /// `--header`: the first nonce of one header (with optional time rolls) whose hash meets the target.
    func searchHeader(_ text: String, kernel: Kernel) async throws {
        let job: MiningJob
        do {
            job = try HeaderSearch.job(
                header: text, target: target, bits: bits, firstNonce: firstNonce, count: count)
        } catch { throw ValidationError(error.message) }
        let engine = try MiningEngine(
            kernel: kernel, threads: threads, priority: priority,
            source: TimeRollingSource(baseTime: job.header.time, maxTimeRoll: rollTime))
        let started = ContinuousClock.now
        let solution = await HeaderSearch.first(engine: engine, job: job)
        engine.stop()
        let report = HeaderSearch.Report(
            solution: solution, hashes: engine.snapshot().totalHashes, seconds: (ContinuousClock.now - started).seconds,
            kernel: kernel.description, threads: threads)
        if json { printJSON(report.json) } else { print(report.text) }
        if solution == nil { throw ExitCode(1) }
    }
}

/// Blocks reported by a work source, counted from its `onBlock` callback.
private final class MinedCount: Sendable {
    let count = Mutex(0)
}
