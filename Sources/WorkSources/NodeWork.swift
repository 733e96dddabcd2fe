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
package final class NodeWork: WorkSource {
    package struct Options: Sendable {
        package var payout: String
        package var coinbaseMessage: [UInt8] = []
        package var blocks: Int = 1
        package var pollInterval: Duration = .milliseconds(500)
        /// Refresh the template this often even without a new tip (new transactions).
        package var refreshInterval: Duration = .seconds(30)
        package var submitAttempts: Int = 6
        package var backoffStart: Duration = .milliseconds(250)
        package var backoffMax: Duration = .seconds(10)
        /// Submit the journal's pending blocks (solved before a crash or while the node was down) first.
        package var resubmitJournal = true
        package init(payout: String) { self.payout = payout }
    }

    let client: NodeRPCClient
    let journal: BlockJournal?
    let options: Options
    let logger: Logger
    /// The current template's work: the engine's job source forwards to it, so an exhausted job rolls
    /// the extranonce of the work in force.
    let current = CurrentWork()

    package var kind: String { "node" }
    package var origin: String { client.url }
    package var jobSource: any JobSource { current }

    package init(client: NodeRPCClient, journal: BlockJournal?, options: Options, logger: Logger) {
        self.client = client
        self.journal = journal
        self.options = options
        self.logger = logger
    }

    func log(_ text: String) { logger.info("\(text)") }

    package func shutdown() async { await client.shutdown() }

    enum Event: Sendable {
        case solution(MiningSolution)
        case tip(String)
        case refresh
    }

    /// Runs until `options.blocks` blocks were mined and submitted (or could not be).
    /// - Throws: `WorkError.node` for errors that retrying cannot fix (credentials, a node that does not
    ///   speak JSON-RPC); `WorkError.input` for a payout for another chain; `WorkError.disk` when the
    ///   journal cannot be written: at start, or for a solved block, which is then saved to a rescue
    ///   file (or, failing that, logged in full at error level) and still submitted.
    package func run(engine: MiningEngine, onBlock: @escaping @Sendable (SolvedBlock) -> Void) async throws(WorkError) {
        if let journal {
            // Refuse a journal that cannot even be opened before any work is done for it.
            do { try journal.prepare() } catch {
                throw WorkError(.disk, "node: \(error.message); no block can be kept, so nothing is mined")
            }
        }
        try await mine(engine: engine, onBlock: onBlock)
    }

    /// A node error that retrying did not (or cannot) fix, for the caller.
    static func failure(_ error: NodeRPCError) -> WorkError {
        WorkError(error.kind == .wrongChain ? .input : .node, "node: \(error.message)")
    }

    /// Blocks a previous run journaled but did not get a verdict for, submitted before new work starts.
    func resubmitJournaled(onBlock: @Sendable (SolvedBlock) -> Void) async {
        guard options.resubmitJournal, let journal else { return }
        do {
            let resubmitted = try await Self.resubmit(
                journal: journal, client: client, attempts: options.submitAttempts,
                backoffStart: options.backoffStart, backoffMax: options.backoffMax, log: log)
            for (entry, outcome) in resubmitted {
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

    /// What the mining loop waits on: the engine's block solutions, the node's tip (polled), and the
    /// periodic template refresh. `stop` ends the stream and the tasks feeding it.
    func eventStream(engine: MiningEngine) -> (events: AsyncStream<Event>, stop: @Sendable () -> Void) {
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
                // A failed poll is not fatal: the next refresh fetches a template, with logged retries.
                if let hash = try? await client.bestBlockHash() { continuation.yield(.tip(hash)) }
                if sinceRefresh >= refresh {
                    sinceRefresh = .zero
                    continuation.yield(.refresh)
                }
            }
        }
        return (
            events,
            {
                poller.cancel()
                forward.cancel()
                continuation.finish()
            }
        )
    }

    func mine(engine: MiningEngine, onBlock: @escaping @Sendable (SolvedBlock) -> Void) async throws(WorkError) {
        await resubmitJournaled(onBlock: onBlock)
        let network: Network
        do {
            network = try await retrying("getblockchaininfo") { () async throws(NodeRPCError) in
                try await self.client.network()
            }
        } catch { throw Self.failure(error) }
        let payoutScript = try PayoutScript.resolve(options.payout, network: network)
        let (events, stop) = eventStream(engine: engine)
        defer { stop() }

        var counter: UInt64 = 0
        // Parents of our accepted blocks: a template on one of them would only make a competitor.
        var parents = BlockParents()
        func newWork() async throws(WorkError) -> (TemplateWork, String) {
            let t = try await template(avoiding: parents)
            counter += 1
            let work: TemplateWork
            do {
                work = try TemplateWork(
                    template: t, payoutScript: payoutScript, message: options.coinbaseMessage, idBase: counter << 40)
            } catch { throw WorkError(.node, "node: cannot build a coinbase for this template: \(error.message)") }
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
                let height = work.template.height
                let hex = Hex.encode(block)
                // On disk before anything else: the journal, else a rescue file, else the log.
                var journalFailure: WorkError?
                var kept = journal  // where the block is, to record the node's verdict next to it
                if let journal {
                    do { try journal.recordSolved(hash: hash, height: height, hex: hex) } catch {
                        (journalFailure, kept) = keep(
                            hex: hex, hash: hash, height: height, journal: journal, error: error)
                    }
                }
                let outcome = await submit(hex: hex, hash: hash, recordIn: kept)
                if outcome == .accepted { _ = parents.claim(tip) }
                onBlock(
                    SolvedBlock(
                        hash: hash, height: height, nonce: s.nonce, jobID: s.jobID, time: s.header.time,
                        bytes: block.count, outcome: outcome))
                // The next block could not be kept if this one could not: stop mining for this source.
                if let journalFailure { throw journalFailure }
                mined += 1
                if mined >= options.blocks { return }
                (work, tip) = try await newWork()
            default:
                break
            }
        }
    }

    /// The node's next template, on a parent without a block of ours: after an accepted block, a node
    /// (or a proxy or cache in front of it) can still serve a template on the old tip for a moment; mining
    /// it would count a second block on one parent, where only one can be on the chain. Such a template is
    /// fetched again every `pollInterval` until the node serves one on its new tip.
    func template(avoiding parents: BlockParents) async throws(WorkError) -> BlockTemplate {
        var waited = false
        while true {
            let t: BlockTemplate
            do {
                // The node has answered us (getblockchaininfo): a cookie file missing now is a node
                // restarting (bitcoind deletes it on shutdown and writes a new one on start).
                t = try await retrying("getblocktemplate", cookieMayBeRewritten: true) {
                    () async throws(NodeRPCError) in
                    try await self.client.getBlockTemplate()
                }
            } catch { throw Self.failure(error) }
            let parent = Hex.encode(t.previousBlockHash.reversed())
            guard parents.contains(parent), !Task.isCancelled else { return t }
            if !waited {
                log(
                    "the node still serves a template on \(parent), where our block was accepted: waiting for its new tip"
                )
                waited = true
            }
            try? await Task.sleep(for: options.pollInterval)
        }
    }

    /// Keeps a solved block that the journal refused: in a rescue file, or (when that fails too) in
    /// full in the log at error level, the last place left.
    /// - Returns: the error that stops this source, and the rescue file as a journal (nil when the
    ///   block is only in the log).
    func keep(
        hex: String, hash: String, height: Int, journal: BlockJournal, error: JournalError
    ) -> (WorkError, BlockJournal?) {
        let stopped =
            "mining on this source stopped: no further block could be kept (restart once the journal can be written)"
        do {
            let path = try journal.rescue(hash: hash, height: height, hex: hex)
            logger.error(
                "\(error.message); block \(height) \(hash) saved to \(path) (submit it with flexminer submit --journal \(path))"
            )
            let failure = WorkError(
                .disk, "node: \(error.message); block \(height) \(hash) saved to \(path); \(stopped)")
            return (failure, BlockJournal(path: path, rescueDirectory: journal.rescueDirectory))
        } catch let rescueError {
            logger.error(
                "\(error.message); \(rescueError.message); block \(height) \(hash) in full (submit it with bitcoin-cli submitblock): \(hex)"
            )
            let failure = WorkError(
                .disk,
                "node: \(error.message); \(rescueError.message); block \(height) \(hash) is in full in the log; \(stopped)"
            )
            return (failure, nil)
        }
    }

    /// Submits with retries and records the verdict in `journal` (the one holding the block).
    func submit(hex: String, hash: String, recordIn journal: BlockJournal?) async -> BlockOutcome {
        let submitted = await Self.submitRetrying(
            hex: hex, client: client, attempts: options.submitAttempts, backoffStart: options.backoffStart,
            backoffMax: options.backoffMax, log: log)
        switch submitted {
        case .success(let result):
            if let journal {
                do { try journal.recordSubmitted(hash: hash, result: result) } catch {
                    log("warning: \(error.message); block \(hash) stays pending (a resubmission gets duplicate)")
                }
            }
            return result.outcome
        case .failure(let error):
            log("submitblock failed: \(error.message); the block stays pending in the journal")
            return .unsubmitted(error: error.message)
        }
    }

    /// `submitblock` with retries (backoff) on everything but refused credentials: a dropped
    /// connection, an HTTP 5xx or an answer that is not JSON-RPC may all be gone on the next attempt.
    /// The node's verdict (a JSON-RPC error included) is never retried.
    static func submitRetrying(
        hex: String, client: NodeRPCClient, attempts: Int, backoffStart: Duration, backoffMax: Duration,
        log: (String) -> Void
    ) async -> Result<SubmitResult, NodeRPCError> {
        var backoff = Backoff(start: backoffStart, max: backoffMax)
        let attempts = max(1, attempts)
        var attempt = 1
        while true {
            do {
                let result = try await client.submitBlock(hex: hex)
                // After an attempt whose answer was lost, "duplicate" (the node holds this block as
                // valid) means that attempt got through: this block is ours, so it was accepted.
                if attempt > 1, result == .rejected("duplicate") {
                    log("submitblock: duplicate after a lost answer; the earlier attempt was accepted")
                    return .success(.accepted)
                }
                return .success(result)
            } catch {
                if error.kind == .unauthorized || attempt >= attempts || Task.isCancelled { return .failure(error) }
                let delay = backoff.next()
                log("submitblock attempt \(attempt) of \(attempts) failed: \(error.message); retrying in \(delay)")
                try? await Task.sleep(for: delay)
                attempt += 1
            }
        }
    }

    /// Retries transient failures (`NodeRPCError.isTransient`: connection, timeout, HTTP 5xx, an answer
    /// that is not JSON, a node still starting) with exponential backoff, logging each retry.
    /// - Parameter cookieMayBeRewritten: also retry when the credentials cannot be read (the cookie
    ///   file of a node that is restarting); false at start, where that is a wrong path.
    func retrying<T: Sendable>(
        _ what: String, cookieMayBeRewritten: Bool = false, _ body: () async throws(NodeRPCError) -> T
    ) async throws(NodeRPCError) -> T {
        var backoff = Backoff(start: options.backoffStart, max: options.backoffMax)
        var attempt = 1
        while true {
            do { return try await body() } catch {
                let transient = error.isTransient || (cookieMayBeRewritten && error.kind == .credentials)
                guard transient, !Task.isCancelled else { throw error }
                let delay = backoff.next()
                log("\(error.message); attempt \(attempt) failed, retrying in \(delay)")
                try? await Task.sleep(for: delay)
                attempt += 1
            }
        }
    }

    /// Submits every pending block of `journal` (each with the retries of `mine --rpc`) and records
    /// the verdicts. Once the node gave no verdict for one block (its retries used up), the blocks
    /// after it are not tried: they are returned as unsubmitted, still pending, so that the whole call
    /// takes one retry schedule (about 8 s with the defaults), not one per block.
    /// - Throws: `JournalError` when the journal cannot be read, or a verdict cannot be recorded.
    package static func resubmit(
        journal: BlockJournal, client: NodeRPCClient, attempts: Int = 6, backoffStart: Duration = .milliseconds(250),
        backoffMax: Duration = .seconds(10), log: @Sendable (String) -> Void = { _ in }
    ) async throws(JournalError) -> [(BlockJournal.Entry, BlockOutcome)] {
        let (pending, skipped) = try journal.pending()
        if skipped > 0 { log("skipped \(skipped) unreadable journal line(s)") }
        var results: [(BlockJournal.Entry, BlockOutcome)] = []
        var unreachable: NodeRPCError?
        for entry in pending {
            if let unreachable {
                results.append((entry, .unsubmitted(error: "not tried: \(unreachable.message)")))
                continue
            }
            let submitted = await submitRetrying(
                hex: entry.hex, client: client, attempts: attempts, backoffStart: backoffStart,
                backoffMax: backoffMax, log: log)
            switch submitted {
            case .success(let r):
                try journal.recordSubmitted(hash: entry.hash, result: r)
                results.append((entry, r.outcome))
            case .failure(let e):
                results.append((entry, .unsubmitted(error: e.message)))
                // No verdict after every retry (the node's verdicts are successes): the node is down,
                // refuses us or does not answer as a node; asking for each block would repeat the wait.
                unreachable = e
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
        case .error: .rejected(reason: description)
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
