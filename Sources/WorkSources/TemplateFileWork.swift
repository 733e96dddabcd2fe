import Chain
import FlexSupport
import Foundation
import Logging
import Mining
import SHA256

/// Mines a `getblocktemplate` result read from a file (or embedded in the binary, for the demo): each
/// solved block is written to `out/<height>-<hash>.hex` and fsync'd, one block per coinbase.
package final class TemplateFileWork: WorkSource {
    /// What to do once `blocks` blocks are written.
    package enum AfterLimit: Sendable {
        /// Return from `run` (`mine`): no more solutions are taken.
        case stop
        /// Keep hashing as load without writing more blocks (`run`, where the miner is a flexible load).
        case keepHashing
    }

    package let work: TemplateWork
    package let blocks: Int
    package let out: String
    package let afterLimit: AfterLimit
    package let origin: String
    let logger: Logger

    package var kind: String { "template" }
    package var jobSource: any JobSource { work }

    package init(work: TemplateWork, origin: String, blocks: Int, out: String, afterLimit: AfterLimit, logger: Logger) {
        self.work = work
        self.origin = origin
        self.blocks = blocks
        self.out = out
        self.afterLimit = afterLimit
        self.logger = logger
    }

    /// Reads a template file and prepares its work.
    /// - Throws: `WorkError.input` naming the file and what is wrong with it.
    package static func load(path: String, payout: String, network: String?, message: String) throws(WorkError)
        -> TemplateWork
    {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw WorkError(.input, "--template \(path): cannot read the file (\(error.localizedDescription))")
        }
        return try prepare(json: data, name: "--template \(path)", payout: payout, network: network, message: message)
    }

    /// Prepares the work of a template given as JSON (the bare result or a whole JSON-RPC response).
    package static func prepare(json: Data, name: String, payout: String, network: String?, message: String)
        throws(WorkError) -> TemplateWork
    {
        let given: Network?
        if let n = network {
            guard let parsed = Network(rawValue: n) else {
                throw WorkError(.input, "--network must be main, test, signet or regtest, got \(n)")
            }
            given = parsed
        } else {
            given = nil
        }
        let template: BlockTemplate
        do { template = try BlockTemplate(json: json) } catch { throw WorkError(.input, "\(name): \(error.message)") }
        if let implied = template.impliedNetwork, let given, implied != given {
            throw WorkError(
                .input, "--network \(given.rawValue) does not match the template, which is for \(implied.rawValue)")
        }
        let script = try PayoutScript.resolve(payout, network: template.impliedNetwork ?? given)
        do {
            return try TemplateWork(template: template, payoutScript: script, message: Array(message.utf8))
        } catch {
            throw WorkError(.input, "\(name): \(error.message)")
        }
    }

    package func run(engine: MiningEngine, onBlock: @escaping @Sendable (SolvedBlock) -> Void) async throws(WorkError) {
        if blocks > 1 {
            // One template, one parent: these blocks are alternatives to each other, not a chain.
            logger.notice(
                "\(blocks) blocks from one template share its parent: at most one of them can be on the chain")
        }
        engine.setJob(work.freshJob())
        var mined = 0
        var used = Set<UInt64>()  // one block per coinbase: later solutions of a used job compete with it
        for await event in engine.events {
            guard mined < blocks, case .solution(let s) = event, s.isBlock, !s.isStale, !used.contains(s.jobID),
                let block = work.block(for: s)
            else { continue }
            used.insert(s.jobID)
            let hash = s.hash.reversedHex
            let height = work.template.height
            let hex = Hex.encode(block)
            let path: String
            do { path = try BlockFiles.write(hex: hex, height: height, hash: hash, to: out) } catch {
                // The log (stderr) is the last place the block can be kept: print it in full.
                logger.error(
                    "\(error.message); block \(height) \(hash) in full (submit it with bitcoin-cli submitblock): \(hex)"
                )
                engine.clearJob()  // no block can be kept until the disk is fixed: stop hashing for it
                throw error
            }
            mined += 1
            logger.info("block \(height) \(hash) -> \(path)")
            onBlock(
                SolvedBlock(
                    hash: hash, height: height, nonce: s.nonce, jobID: s.jobID, time: s.header.time, bytes: block.count,
                    outcome: .written(path: path)))
            if mined < blocks {
                engine.setJob(work.freshJob())  // the next block gets its own coinbase
            } else if afterLimit == .stop {
                engine.clearJob()  // nothing more is solved or queued once the limit is reached
                return
            } else {
                logger.info("block limit reached; hashing continues as load without writing blocks")
            }
        }
    }
}

/// Full-speed hashing of work no nonce can solve: for benchmarks, drills and a miner that is only a
/// flexible load, with no node.
package final class BenchmarkWork: WorkSource {
    package let job: MiningJob
    package var kind: String { "benchmark" }
    package var origin: String { "benchmark (unsolvable synthetic job)" }
    package var jobSource: any JobSource { TimeRollingSource(baseTime: job.header.time, maxTimeRoll: .max) }

    package init(seed: UInt64) { job = MiningJob.unsolvable(seed: seed) }

    package func run(engine: MiningEngine, onBlock: @escaping @Sendable (SolvedBlock) -> Void) async throws(WorkError) {
        engine.setJob(job)
        for await _ in engine.events {}  // nothing is ever solved; ends with the engine or the task
    }
}

/// The search of one header's nonces (`mine --header`).
package enum HeaderSearch {
    /// The job for a header given as 160 hex digits and a target as 64 hex digits or compact bits.
    /// - Throws: `WorkError.input` naming the flag (`--header`, `--target`, `--bits`, `--count`).
    package static func job(header: String, target: String?, bits: String?, firstNonce: UInt32, count: UInt64?)
        throws(WorkError) -> MiningJob
    {
        do {
            let parsed = try BlockHeader(hex: header, name: "--header")
            let blockTarget: UInt256
            if let t = target {
                let bytes: [UInt8]
                do { bytes = try Hex.decode(t, name: "--target") } catch { throw WorkError(.input, error.message) }
                guard bytes.count == 32 else {
                    throw WorkError(.input, "--target: 64 hex digits expected, got \(t.utf8.count)")
                }
                blockTarget = try UInt256(bigEndianBytes: bytes)
            } else if let b = bits {
                blockTarget = try CompactTarget(hex: b, name: "--bits").target()
            } else {
                throw WorkError(.input, "give --target or --bits")
            }
            if let c = count, c == 0 || c > (1 << 32) {
                throw WorkError(.input, "--count must be 1...4294967296, got \(c)")
            }
            do {
                return try MiningJob(
                    id: 1, header: parsed, blockTarget: blockTarget, firstNonce: firstNonce,
                    nonceCount: count ?? (1 << 32) - UInt64(firstNonce))
            } catch { throw WorkError(.input, error.message) }
        } catch let error as ChainError {
            throw WorkError(.input, error.message)
        } catch let error as WorkError {
            throw error
        } catch {
            throw WorkError(.input, "\(error)")
        }
    }

    /// What `mine --header` prints: the solution, or that the range was exhausted, with the work done.
    package struct Report: Sendable {
        package let solution: MiningSolution?
        package let hashes: UInt64
        package let seconds: Double
        package let kernel: String
        package let threads: Int

        package init(solution: MiningSolution?, hashes: UInt64, seconds: Double, kernel: String, threads: Int) {
            self.solution = solution
            self.hashes = hashes
            self.seconds = seconds
            self.kernel = kernel
            self.threads = threads
        }

        /// `found`, `hashes`, `seconds`, `kernel`, `threads`; with a solution `nonce`, `hash`, `header`,
        /// `time`, `job_id`; without one `exhausted`.
        package var json: [String: Any] {
            var o: [String: Any] = [
                "found": solution != nil, "hashes": Int(clamping: hashes), "seconds": seconds, "kernel": kernel,
                "threads": threads,
            ]
            guard let s = solution else {
                o["exhausted"] = true
                return o
            }
            o["nonce"] = Int(s.nonce)
            o["hash"] = s.hash.reversedHex
            o["header"] = s.header.hex
            o["time"] = Int(s.header.time)
            o["job_id"] = Int(clamping: s.jobID)
            return o
        }

        package var text: String {
            guard let s = solution else {
                return "nonce space exhausted: no nonce meets the target (\(hashes) hashes in "
                    + String(format: "%.3f s)", seconds)
            }
            return [
                "found nonce \(s.nonce) (0x\(String(s.nonce, radix: 16)))",
                "hash   \(s.hash.reversedHex)",
                "header \(s.header.hex)",
                String(format: "%llu hashes in %.3f s with %@ on %d thread(s)", hashes, seconds, kernel, threads),
            ].joined(separator: "\n")
        }
    }

    /// Searches `job` on `engine` (whose job source may roll the time) and returns the first block
    /// solution, or nil when the nonce space (and every roll) is exhausted.
    package static func first(engine: MiningEngine, job: MiningJob) async -> MiningSolution? {
        engine.setJob(job)
        for await event in engine.events {
            switch event {
            case .solution(let s) where s.isBlock: return s
            case .exhausted: return nil
            default: continue
            }
        }
        return nil
    }
}
