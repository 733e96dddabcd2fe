import ArgumentParser
import Chain
import Foundation
import Mining
import MiningKernels
import NodeRPC
import SHA256

struct MineCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mine",
        abstract: "Mine a block template file, or search one block header's nonces.",
        discussion: """
            With --template: builds the coinbase (BIP34 height, rolled extranonce, optional message) paying \
            --payout, mines --blocks blocks (each with its own extranonce), writes each block's hex to --out \
            (fsync'd) and prints one line per block. With --header: the header's own nonce field is ignored; \
            the search covers --first-nonce ..< --first-nonce + --count and exits 0 with the solution, or 1 \
            when the range (and any --roll-time) is exhausted.
            """
    )

    @Option(help: "The 80-byte block header, 160 hex digits (serialized byte order).")
    var header: String?

    @Option(help: "A getblocktemplate result file (bare result or whole JSON-RPC response).")
    var template: String?

    @OptionGroup var node: NodeOptions

    @Option(help: "Journal of solved blocks (with --rpc): each block is appended and fsync'd before submitblock.")
    var journal: String = "flexminer-journal.jsonl"

    @Option(help: "Payout address (base58 or bech32/bech32m) or raw scriptPubKey as hex (with --template).")
    var payout: String?

    @Option(help: "Network of the payout address when the template does not imply one: main, test, signet, regtest.")
    var network: String?

    @Option(help: "Blocks to mine from the template.")
    var blocks: Int = 1

    @Option(help: "Directory for solved blocks (<height>-<hash>.hex).")
    var out: String = "blocks"

    @Option(help: "Short message for the coinbase scriptSig (total scriptSig must stay within 100 bytes).")
    var coinbaseMessage: String = ""

    @Option(help: "Target as 64 hex digits, most significant first (like getblocktemplate's target).")
    var target: String?

    @Option(help: "Target as compact nBits, 8 hex digits (e.g. 1d00ffff, 207fffff).")
    var bits: String?

    @Option(help: "Worker threads (default: one per CPU).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

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
        guard [header != nil, template != nil, node.rpc != nil].filter({ $0 }).count == 1 else {
            throw ValidationError("give exactly one of --header, --template or --rpc")
        }
        if node.rpc != nil {
            guard payout != nil else { throw ValidationError("--rpc needs --payout ADDRESS") }
            guard (1...1_000_000).contains(blocks) else {
                throw ValidationError("--blocks must be 1...1000000, got \(blocks)")
            }
            _ = try node.credentials()
        } else if template != nil {
            guard payout != nil else { throw ValidationError("--template needs --payout ADDRESS") }
            guard target == nil && bits == nil else { throw ValidationError("--target/--bits come from the template") }
            guard (1...1_000_000).contains(blocks) else {
                throw ValidationError("--blocks must be 1...1000000, got \(blocks)")
            }
            if let n = network, Network(rawValue: n) == nil {
                throw ValidationError("--network must be main, test, signet or regtest, got \(n)")
            }
        } else {
            guard (target == nil) != (bits == nil) else {
                throw ValidationError("give exactly one of --target or --bits")
            }
        }
        guard (1...1024).contains(threads) else { throw ValidationError("--threads must be 1...1024, got \(threads)") }
        if let c = count, c == 0 || c > (1 << 32) { throw ValidationError("--count must be 1...4294967296, got \(c)") }
    }

    func run() async throws {
        if let path = template { return try await mineTemplate(path) }
        if node.rpc != nil { return try await mineNode() }
        let parsedHeader: BlockHeader
        let blockTarget: UInt256
        do {
            parsedHeader = try BlockHeader(hex: header!, name: "--header")
            if let t = target {
                let bytes: [UInt8]
                do { bytes = try Hex.decode(t, name: "--target") } catch { throw ValidationError(error.message) }
                guard bytes.count == 32 else {
                    throw ValidationError("--target: 64 hex digits expected, got \(t.utf8.count)")
                }
                blockTarget = try UInt256(bigEndianBytes: bytes)
            } else {
                blockTarget = try CompactTarget(hex: bits!, name: "--bits").target()
            }
        } catch let error as ChainError {
            throw ValidationError(error.message)
        }
        let chosen = try kernel.kernels(includeVariants: true)[0]
        let job = try MiningJob(
            id: 1, header: parsedHeader, blockTarget: blockTarget, firstNonce: firstNonce,
            nonceCount: count ?? (1 << 32) - UInt64(firstNonce))
        let engine = try MiningEngine(
            kernel: chosen, threads: threads, priority: priority,
            source: TimeRollingSource(baseTime: parsedHeader.time, maxTimeRoll: rollTime))
        let started = ContinuousClock.now
        engine.setJob(job)
        var result: MiningEvent?
        for await event in engine.events {
            if case .solution(let s) = event, !s.isBlock { continue }
            result = event
            break
        }
        engine.stop()
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        let hashes = engine.snapshot().totalHashes
        switch result {
        case .solution(let s):
            if json {
                printJSON([
                    "found": true, "nonce": Int(s.nonce), "hash": s.hash.reversedHex, "header": s.header.hex,
                    "time": Int(s.header.time), "job_id": Int(s.jobID), "hashes": Int(hashes), "seconds": seconds,
                    "kernel": chosen.description, "threads": threads,
                ])
            } else {
                print("found nonce \(s.nonce) (0x\(String(s.nonce, radix: 16)))")
                print("hash   \(s.hash.reversedHex)")
                print("header \(s.header.hex)")
                print(
                    String(
                        format: "%llu hashes in %.3f s with %@ on %d thread(s)", hashes, seconds, chosen.description,
                        threads))
            }
        default:
            if json {
                printJSON([
                    "found": false, "exhausted": true, "hashes": Int(hashes), "seconds": seconds,
                    "kernel": chosen.description, "threads": threads,
                ])
            } else {
                print(
                    "nonce space exhausted: no nonce meets the target (\(hashes) hashes in \(String(format: "%.3f", seconds)) s)"
                )
            }
            throw ExitCode(1)
        }
    }
}

extension MineCommand {
    func mineNode() async throws {
        let client = try node.client()
        let chosen = try kernel.kernels(includeVariants: true)[0]
        let engine = try MiningEngine(kernel: chosen, threads: threads, priority: priority)
        var options = NodeMiner.Options(payout: payout!)
        options.blocks = blocks
        options.coinbaseMessage = Array(coinbaseMessage.utf8)
        let miner = NodeMiner(client: client, engine: engine, journal: BlockJournal(path: journal), options: options) {
            FileHandle.standardError.write(Data("flexminer: \($0)\n".utf8))
        }
        let json = self.json
        // Blocks solved before a crash or while the node was down go first.
        if let earlier = try? await NodeMiner.resubmit(journal: BlockJournal(path: journal), client: client) {
            for (entry, result) in earlier {
                if json {
                    printJSON(["hash": entry.hash, "height": entry.height, "result": result, "resubmitted": true])
                } else {
                    print("journaled block \(entry.height) \(entry.hash): \(result)")
                }
            }
        }
        do {
            try await miner.run { r in
                if json {
                    printJSON(["hash": r.hash, "height": r.height, "nonce": Int(r.nonce), "result": r.result])
                } else {
                    print("block \(r.height) \(r.hash) nonce \(r.nonce): \(r.result)")
                }
            }
        } catch {
            engine.stop()
            await client.shutdown()
            throw ValidationError(error.message)
        }
        engine.stop()
        await client.shutdown()
    }

    func mineTemplate(_ path: String) async throws {
        let work = try loadTemplateWork(path, payout: payout!, network: network, message: coinbaseMessage)
        let chosen = try kernel.kernels(includeVariants: true)[0]
        let engine = try MiningEngine(kernel: chosen, threads: threads, priority: priority, source: work)
        defer { engine.stop() }
        let started = ContinuousClock.now
        engine.setJob(work.freshJob())
        var mined = 0
        var usedJobs = Set<UInt64>()  // one block per coinbase: later solutions of a used job compete with it
        for await event in engine.events {
            guard case .solution(let s) = event, s.isBlock, !s.isStale, !usedJobs.contains(s.jobID),
                let block = work.block(for: s)
            else { continue }
            usedJobs.insert(s.jobID)
            let hash = s.hash.reversedHex
            let file = try BlockFiles.write(hex: Hex.encode(block), height: work.template.height, hash: hash, to: out)
            mined += 1
            let seconds = (ContinuousClock.now - started).components.seconds
            if json {
                printJSON([
                    "hash": hash, "height": work.template.height, "nonce": Int(s.nonce), "path": file,
                    "job_id": Int(s.jobID), "time": Int(s.header.time), "bytes": block.count,
                    "hashes": Int(engine.snapshot().totalHashes), "seconds": Int(seconds),
                ])
            } else {
                print("block \(work.template.height) \(hash) nonce \(s.nonce) -> \(file)")
            }
            if mined == blocks { break }
            engine.setJob(work.freshJob())  // the next block gets its own coinbase
        }
    }
}

/// Reads a getblocktemplate file and prepares its work (coinbase paying `payout`, extranonce rolling).
/// - Throws: `ValidationError` naming the file and what is wrong with it.
func loadTemplateWork(_ path: String, payout: String, network: String?, message coinbaseMessage: String) throws
    -> TemplateWork
{
    let data: Data
    do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
        throw ValidationError("--template \(path): cannot read the file (\(error.localizedDescription))")
    }
    let work: TemplateWork
    do {
        let t = try BlockTemplate(json: data)
        let given = network.flatMap(Network.init(rawValue:))
        if let implied = t.impliedNetwork, let given, implied != given {
            throw ValidationError(
                "--network \(given.rawValue) does not match the template, which is for \(implied.rawValue)")
        }
        let script: [UInt8]
        if let raw = try? Hex.decode(payout), !raw.isEmpty, raw.count <= 10_000,
            (try? PayoutAddress(payout)) == nil
        {
            script = raw
        } else if let net = t.impliedNetwork ?? given {
            script = try PayoutAddress(payout, network: net).scriptPubKey
        } else {
            throw ValidationError(
                "--network is needed: this template's target does not say which network it is for")
        }
        work = try TemplateWork(template: t, payoutScript: script, message: Array(coinbaseMessage.utf8))
    } catch let error as ChainError {
        throw ValidationError("--template \(path): \(error.message)")
    }
    return work
}

/// Prints a flat JSON object with sorted keys on one line.
func printJSON(_ object: [String: Any]) {
    if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) {
        print(String(decoding: data, as: UTF8.self))
    }
}
