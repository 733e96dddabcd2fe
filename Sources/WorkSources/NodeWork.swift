import Chain
import FlexSupport
import Foundation
import Logging
import Mining
import NodeRPC
import SHA256
import Synchronization

/// Mines against a live node: fetches `getblocktemplate`, keeps the engine on the current tip (polling
/// `getbestblockhash` every `pollInterval`, so a new tip replaces stale work within a second),
/// journals each solved block (fsync'd) before `submitblock`, retries transient failures with
/// backoff, and never busy-loops on errors.
public final class NodeWork: WorkSource {
    public struct Options: Sendable {
        public var payout: String
        public var coinbaseMessage: [UInt8] = []
        public var blocks: Int = 1
        public var pollInterval: Duration = .milliseconds(500)
        /// Refresh the template this often even without a new tip (new transactions).
        public var refreshInterval: Duration = .seconds(30)
        public var submitAttempts: Int = 6
        public var backoffStart: Duration = .milliseconds(250)
        public var backoffMax: Duration = .seconds(10)
        /// Submit the journal's pending blocks (solved before a crash or while the node was down) first.
        public var resubmitJournal = true
        public init(payout: String) { self.payout = payout }
    }

    let client: NodeRPCClient
    let journal: BlockJournal?
    let options: Options
    let logger: Logger
    /// The current template's work: the engine's job source forwards to it, so an exhausted job rolls
    /// the extranonce of the work in force.
    let current = CurrentWork()

    public var kind: String { "node" }
    public var origin: String { client.url }
    public var jobSource: any JobSource { current }

    public init(client: NodeRPCClient, journal: BlockJournal?, options: Options, logger: Logger) {
        self.client = client
        self.journal = journal
        self.options = options
        self.logger = logger
    }

    func log(_ text: String) { logger.info("\(text)") }

    public func shutdown() async { await client.shutdown() }

    enum Event: Sendable {
        case solution(MiningSolution)
        case tip(String)
        case refresh
    }

    /// Runs until `options.blocks` blocks were mined and submitted (or could not be).
    /// - Throws: `WorkError.node` for errors that retrying cannot fix (credentials, wrong chain, bad
    ///   payout, a node that does not speak JSON-RPC).
    public func run(engine: MiningEngine, onBlock: @escaping @Sendable (SolvedBlock) -> Void) async throws(WorkError) {
        do { try await mine(engine: engine, onBlock: onBlock) } catch {
            throw WorkError(error.kind == .wrongChain ? .input : .node, "node: \(error.message)")
        }
    }

    func mine(engine: MiningEngine, onBlock: @escaping @Sendable (SolvedBlock) -> Void) async throws(NodeRPCError) {
        if options.resubmitJournal, let journal {
            do {
                for (entry, outcome) in try await Self.resubmit(journal: journal, client: client, log: log) {
                    onBlock(
                        SolvedBlock(
                            hash: entry.hash, height: entry.height, nonce: 0, jobID: 0, time: 0,
                            bytes: entry.hex.utf8.count / 2,
                            outcome: outcome, resubmitted: true))
                }
            } catch {
                log("warning: \(error.message)")
            }
        }
        let network = try await retrying("getblockchaininfo") { () async throws(NodeRPCError) in
            try await self.client.network()
        }
        let payoutScript: [UInt8]
        do {
            payoutScript = try PayoutScript.resolve(options.payout, network: network)
        } catch {
            throw NodeRPCError(.wrongChain, error.message)
        }
        let (events, continuation) = AsyncStream.makeStream(of: Event.self)
        let engineEvents = engine.events
        let forward = Task {
            for await e in engineEvents {
                if case .solution(let s) = e, s.isBlock, !s.isStale { continuation.yield(.solution(s)) }
            }
        }
        let pollInterval = options.pollInterval
        let refresh = options.refreshInterval
        let poller = Task { [client] in
            var sinceRefresh = Duration.zero
            while !Task.isCancelled {
                try? await Task.sleep(for: pollInterval)
                sinceRefresh += pollInterval
                if let hash = try? await client.bestBlockHash() { continuation.yield(.tip(hash)) }
                if sinceRefresh >= refresh {
                    sinceRefresh = .zero
                    continuation.yield(.refresh)
                }
            }
        }
        defer {
            poller.cancel()
            forward.cancel()
            continuation.finish()
        }

        var counter: UInt64 = 0
        func newWork() async throws(NodeRPCError) -> (TemplateWork, String) {
            let t = try await retrying("getblocktemplate") { () async throws(NodeRPCError) in
                try await self.client.getBlockTemplate()
            }
            counter += 1
            let work: TemplateWork
            do {
                work = try TemplateWork(
                    template: t, payoutScript: payoutScript, message: options.coinbaseMessage, idBase: counter << 40)
            } catch { throw NodeRPCError(.malformed, "cannot build a coinbase for this template: \(error.message)") }
            current.set(work)
            engine.setJob(work.freshJob())
            let tip = Hex.encode(t.previousBlockHash.reversed())
            log("mining height \(t.height) on \(tip) (\(t.transactions.count) transactions)")
            return (work, tip)
        }

        var (work, tip) = try await newWork()
        var mined = 0
        for await event in events {
            switch event {
            case .tip(let hash) where hash != tip:
                log("new tip \(hash): dropping stale work")
                (work, tip) = try await newWork()
            case .refresh:
                (work, tip) = try await newWork()
            case .solution(let s):
                guard let block = work.block(for: s) else { continue }  // from replaced work
                engine.clearJob()
                let hash = s.hash.reversedHex
                let hex = Hex.encode(block)
                if let journal {
                    do { try journal.recordSolved(hash: hash, height: work.template.height, hex: hex) } catch {
                        log("warning: \(error.message)")
                    }
                }
                let outcome = await submit(hex: hex, hash: hash)
                onBlock(
                    SolvedBlock(
                        hash: hash, height: work.template.height, nonce: s.nonce, jobID: s.jobID, time: s.header.time,
                        bytes: block.count, outcome: outcome))
                mined += 1
                if mined >= options.blocks { return }
                (work, tip) = try await newWork()
            default:
                break
            }
        }
    }

    /// Submits with retries on transport errors; records the verdict in the journal.
    func submit(hex: String, hash: String) async -> BlockOutcome {
        var delay = options.backoffStart
        for attempt in 1...max(1, options.submitAttempts) {
            do {
                let result = try await client.submitBlock(hex: hex)
                if let journal {
                    do { try journal.recordSubmitted(hash: hash, result: result) } catch {
                        log("warning: \(error.message)")
                    }
                }
                return result.outcome
            } catch {
                if error.kind == .unauthorized || attempt == options.submitAttempts {
                    log("submitblock failed: \(error.message); the block stays pending in the journal")
                    return .unsubmitted(error: error.message)
                }
                log("submitblock attempt \(attempt) failed: \(error.message); retrying in \(delay)")
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, options.backoffMax)
            }
        }
        return .unsubmitted(error: "no attempt made")
    }

    /// Retries transient failures (connection, timeout, node still starting) with exponential backoff.
    func retrying<T: Sendable>(
        _ what: String, _ body: () async throws(NodeRPCError) -> T
    ) async throws(NodeRPCError) -> T {
        var delay = options.backoffStart
        while true {
            do { return try await body() } catch {
                let transient =
                    error.kind == .connection || error.kind == .timeout
                    || (error.kind == .rpc && [-9, -10, -28].contains(error.code ?? 0))
                guard transient, !Task.isCancelled else { throw error }
                log("\(error.message); retrying in \(delay)")
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, options.backoffMax)
            }
        }
    }

    /// Submits every pending block of `journal` once and records the verdicts.
    public static func resubmit(
        journal: BlockJournal, client: NodeRPCClient, log: @Sendable (String) -> Void = { _ in }
    ) async throws(JournalError) -> [(BlockJournal.Entry, BlockOutcome)] {
        let (pending, skipped) = try journal.pending()
        if skipped > 0 { log("skipped \(skipped) unreadable journal line(s)") }
        var results: [(BlockJournal.Entry, BlockOutcome)] = []
        for entry in pending {
            do {
                let r = try await client.submitBlock(hex: entry.hex)
                try journal.recordSubmitted(hash: entry.hash, result: r)
                results.append((entry, r.outcome))
            } catch let e as NodeRPCError {
                results.append((entry, .unsubmitted(error: e.message)))
            } catch let e as JournalError {
                throw e
            } catch {
                results.append((entry, .unsubmitted(error: "\(error)")))
            }
        }
        return results
    }
}

extension SubmitResult {
    /// The node's verdict as a block outcome.
    var outcome: BlockOutcome {
        switch self {
        case .accepted: .accepted
        case .rejected(let reason): .rejected(reason: reason)
        case .error(let code, let message): .rejected(reason: "error \(code): \(message)")
        }
    }
}

/// The engine's job source for work that is replaced while mining (a new tip, a refreshed template):
/// an exhausted job continues with a fresh extranonce of the work in force.
final class CurrentWork: JobSource {
    private let work = Mutex<TemplateWork?>(nil)

    func set(_ w: TemplateWork) { work.withLock { $0 = w } }

    func nextJob(after exhausted: MiningJob) -> MiningJob? { work.withLock { $0 }?.freshJob() }
}
