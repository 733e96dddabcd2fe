import Chain
import Foundation
import Mining
import SHA256
import Synchronization

/// Mines against a live node: fetches `getblocktemplate`, keeps the engine on the current tip (polling
/// `getbestblockhash` every `pollInterval`, so a new tip replaces stale work within a second),
/// journals each solved block (fsync'd) before `submitblock`, retries transient failures with
/// backoff, and never busy-loops on errors.
public final class NodeMiner: Sendable {
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
        public init(payout: String) { self.payout = payout }
    }

    /// One mined block.
    public struct Report: Sendable, Hashable {
        public let hash: String
        public let height: Int
        public let nonce: UInt32
        /// "accepted", the node's reason, "error CODE: message", or "unsubmitted: …" when the node could
        /// not be reached (the block stays pending in the journal).
        public let result: String
    }

    let client: NodeRPCClient
    let engine: MiningEngine
    let journal: BlockJournal?
    let options: Options
    let log: @Sendable (String) -> Void

    public init(
        client: NodeRPCClient, engine: MiningEngine, journal: BlockJournal?, options: Options,
        log: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.client = client
        self.engine = engine
        self.journal = journal
        self.options = options
        self.log = log
    }

    enum Event: Sendable {
        case solution(MiningSolution)
        case tip(String)
        case refresh
    }

    /// Runs until `options.blocks` blocks were mined and submitted (or could not be).
    /// - Throws: `NodeRPCError` for errors that retrying cannot fix (credentials, wrong chain, bad
    ///   payout, a node that does not speak JSON-RPC).
    public func run(onBlock: @Sendable (Report) -> Void) async throws(NodeRPCError) {
        let network = try await retrying("getblockchaininfo") { () async throws(NodeRPCError) in
            try await self.client.network()
        }
        let payoutScript: [UInt8]
        do {
            payoutScript = try PayoutAddress(options.payout, network: network).scriptPubKey
        } catch {
            if let raw = try? Hex.decode(options.payout), !raw.isEmpty, (try? PayoutAddress(options.payout)) == nil {
                payoutScript = raw
            } else {
                throw NodeRPCError(.wrongChain, "--payout: \(error.message)")
            }
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
                let result = await submit(hex: hex, hash: hash)
                onBlock(Report(hash: hash, height: work.template.height, nonce: s.nonce, result: result))
                mined += 1
                if mined >= options.blocks { return }
                (work, tip) = try await newWork()
            default:
                break
            }
        }
    }

    /// Submits with retries on transport errors; records the verdict in the journal.
    func submit(hex: String, hash: String) async -> String {
        var delay = options.backoffStart
        for attempt in 1...max(1, options.submitAttempts) {
            do {
                let result = try await client.submitBlock(hex: hex)
                if let journal {
                    do { try journal.recordSubmitted(hash: hash, result: result) } catch {
                        log("warning: \(error.message)")
                    }
                }
                return result.description
            } catch {
                if error.kind == .unauthorized || attempt == options.submitAttempts {
                    log("submitblock failed: \(error.message); the block stays pending in the journal")
                    return "unsubmitted: \(error.message)"
                }
                log("submitblock attempt \(attempt) failed: \(error.message); retrying in \(delay)")
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, options.backoffMax)
            }
        }
        return "unsubmitted"
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
    ) async throws(JournalError) -> [(BlockJournal.Entry, String)] {
        let (pending, skipped) = try journal.pending()
        if skipped > 0 { log("skipped \(skipped) unreadable journal line(s)") }
        var results: [(BlockJournal.Entry, String)] = []
        for entry in pending {
            do {
                let r = try await client.submitBlock(hex: entry.hex)
                try journal.recordSubmitted(hash: entry.hash, result: r)
                results.append((entry, r.description))
            } catch let e as NodeRPCError {
                results.append((entry, "unsubmitted: \(e.message)"))
            } catch let e as JournalError {
                throw e
            } catch {
                results.append((entry, "unsubmitted: \(error)"))
            }
        }
        return results
    }
}
