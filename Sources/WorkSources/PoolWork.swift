import Chain
import FlexSupport
import Foundation
import Logging
import Mining
import NIOCore
import NIOPosix
import NodeRPC
import SHA256
import Stratum
import Synchronization

/// Mines for stratum v1 pools (`--pool`): jobs from `mining.notify`, shares back with `mining.submit`.
///
/// - Jobs: coinbase = coinb1 + extranonce1 + extranonce2 + coinb2; the merkle root from its txid and
///   the branch; the header from version, prevhash (stratum's word-swapped order), nbits and ntime
///   (not rolled). The engine's job source rolls the version bits within the negotiated mask, then a
///   fresh extranonce2, never reusing a pair on one job.
/// - A `clean_jobs` notify replaces the engine's job at once; otherwise the job is queued and taken at
///   the next switch (when the current job's nonces run out). `set_difficulty` applies from the next
///   notify; a share is judged at its own job's difficulty.
/// - Every share is re-hashed with the reference SHA-256d before it is sent. Shares of jobs the pool
///   replaced are stale (not sent); after a reconnect, shares of the old session are sent only if the
///   pool resumed it (same extranonce1), else counted stale. While no pool is connected, shares wait
///   in a bounded queue.
/// - Pools are tried in order, with backoff (0.5 s doubling to 30 s, jittered); after a failover the
///   primary is probed every minute and taken back when it answers. No data for 90 s or a failed write
///   means the connection is dead.
/// - Curtailment does not touch the connection: while the engine is halted, pings are answered and the
///   latest job is kept, so a release resumes on current work.
///
/// Every decision is `PoolSession`'s (a pure state machine); this class is its I/O shell: it feeds the
/// machine events (the client's, the engine's, verdicts, timers) and performs the actions it returns.
package final class PoolWork: WorkSource, ShareSource, JobSource {
    package struct Options: Sendable {
        package var pools: [StratumURL]
        package var user: String
        /// Never logged.
        package var password: String = "x"
        package var userAgent: String = "flexminer"
        package var suggestDifficulty: Double?
        /// Follow `client.reconnect` to another host (default: only to the same host).
        package var allowRedirect = false
        /// Return from `run` after this many shares got a verdict (accepted or rejected).
        package var shares: Int?
        /// Return from `run` after this many blocks were accepted on distinct parents (blocks that can all
        /// be on the chain; superseded ones are not counted).
        package var blocks: Int?
        /// Return from `run` after this long.
        package var duration: Duration?
        package var backoffStart: Duration = .milliseconds(500)
        package var backoffMax: Duration = .seconds(30)
        /// After a failover, probe the primary this often.
        package var primaryRetry: Duration = .seconds(60)
        package var idleTimeout: Duration = .seconds(90)
        package var requestTimeout: Duration = .seconds(30)
        /// Nonces per engine job before the job source rolls version bits or extranonce2.
        package var noncesPerJob: UInt64 = 1 << 32
        /// Version values tried per extranonce2 (nil: every value the mask allows).
        package var versionRollsPerExtranonce: UInt64?
        /// Shares waiting for a connection at most.
        package var maxQueuedShares = 256
        /// Version bits asked for (BIP 310); ANDed with the pool's answer.
        package var requestedVersionMask: UInt32? = 0x1fff_e000

        package init(pools: [StratumURL], user: String) {
            self.pools = pools
            self.user = user
        }
    }

    /// The machine and the I/O objects its actions are performed on, under one lock.
    struct State: Sendable {
        var session: PoolSession
        var engine: MiningEngine?
        var client: StratumClient?
        var handlers: [@Sendable (PoolShare) -> Void] = []
        var onBlock: (@Sendable (SolvedBlock) -> Void)?
        /// Where each block found this run is kept (the journal, or its rescue file), for its verdict.
        var blockJournals: [String: BlockJournal] = [:]
    }

    package let options: Options
    /// Blocks found as shares are journaled here (fsync'd) before the share is sent.
    package let journal: BlockJournal?
    let logger: Logger
    let state: Mutex<State>

    package var kind: String { "pool" }
    package var origin: String { options.pools.map(\.description).joined(separator: ", ") + " as \(options.user)" }
    package var jobSource: any JobSource { self }

    package init(options: Options, journal: BlockJournal? = nil, logger: Logger) {
        precondition(!options.pools.isEmpty, "PoolWork needs at least one pool")
        self.options = options
        self.journal = journal
        self.logger = logger
        state = Mutex(State(session: PoolSession(options: options)))
    }

    package func onShare(_ handler: @escaping @Sendable (PoolShare) -> Void) {
        state.withLock { $0.handlers.append(handler) }
    }

    package var poolStatus: PoolStatus { state.withLock { $0.session.status } }

    // MARK: Job source

    package func nextJob(after exhausted: MiningJob) -> MiningJob? {
        let (job, warning) = state.withLock { $0.session.nextJob() }
        if let warning { perform([warning]) }
        return job
    }

    // MARK: Performing the machine's actions

    /// Feeds `event` to the machine and performs what it returns.
    @discardableResult
    func feed(_ event: PoolSession.Event) -> StratumError? {
        perform(state.withLock { $0.session.event(event) })
    }

    /// Performs `actions` in order; returns the error to drop the connection with, if one says so. The
    /// connect loop's own actions (`.open`, `.reconnect`, `.endLoop`) are the loop's, not performed here.
    @discardableResult
    func perform(_ actions: [PoolSession.Action]) -> StratumError? {
        var drop: StratumError?
        for action in actions {
            switch action {
            case .log(let level, let text): logger.log(level: level, "\(text)")
            case .open, .reconnect, .endLoop, .fail, .probePrimary: break
            case .closeConnection: state.withLock { $0.client }?.close()
            case .dropConnection(let error): drop = error
            case .setEngineJob(let job): state.withLock { $0.engine }?.setJob(job)
            case .clearEngineJob: state.withLock { $0.engine }?.clearJob()
            case .keepBlock(let share): feed(.kept(share, failure: keep(share)))
            case .submit(let share, let submit): send(share, submit)
            case .recordBlock(let poolShare, let share): recordVerdict(poolShare, share)
            case .deliver(let share): for h in state.withLock({ $0.handlers }) { h(share) }
            }
        }
        return drop
    }

    func send(_ share: PoolSession.Share, _ submit: StratumSubmit) {
        guard let client = state.withLock({ $0.client }) else {
            feed(.verdict(share, .stale(reason: "no pool connection"), milliseconds: nil))
            return
        }
        Task {
            let start = ContinuousClock.now
            let verdict = await client.submit(submit)
            let ms = (ContinuousClock.now - start).milliseconds
            switch verdict {
            case .accepted: self.feed(.verdict(share, .accepted, milliseconds: ms))
            case .rejected(let reason): self.feed(.verdict(share, .rejected(reason: reason), milliseconds: ms))
            case .unanswered(let why):
                self.feed(.verdict(share, .stale(reason: "no verdict: \(why)"), milliseconds: nil))
            }
        }
    }

    /// Ends `run`: no more hashing, the connection closed.
    package func finish() { feed(.finish) }

    // MARK: Running

    package func run(engine: MiningEngine, onBlock: @escaping @Sendable (SolvedBlock) -> Void) async throws(WorkError) {
        if let journal {
            // Refuse a journal that cannot even be opened before any work is done for it.
            do { try journal.prepare() } catch { throw WorkError(.disk, "pool: \(error.message)") }
        }
        state.withLock {
            $0.engine = engine
            $0.onBlock = onBlock
        }
        let events = engine.events
        let solutions = Task {
            for await e in events { if case .solution(let s) = e { self.feed(.solution(PoolSession.Solution(s))) } }
        }
        let probe = Task { await self.probePrimary() }
        let timer = Task { [options] in
            guard let d = options.duration else { return }
            try? await Task.sleep(for: d)
            guard !Task.isCancelled else { return }
            self.finish()
        }
        defer {
            solutions.cancel()
            probe.cancel()
            timer.cancel()
        }
        await connectLoop()
        let ended = state.withLock { $0.session.event(.runEnded) }
        perform(ended)
        for case .fail(let failure) in ended { throw failure }
    }

    /// One connection after another, where and when the machine says, until it says stop.
    func connectLoop() async {
        var actions = state.withLock { $0.session.event(.start) }
        while !Task.isCancelled {
            perform(actions)
            var reconnect = false
            var delay: Duration?
            for case .reconnect(let after) in actions { (reconnect, delay) = (true, after) }
            guard reconnect else { return }
            if let delay { try? await Task.sleep(for: delay) }
            guard !Task.isCancelled, let client = connect() else { return }
            var reason: String?
            do {
                try await withTaskCancellationHandler {
                    try await client.run { event throws(StratumError) in try self.handle(event) }
                } onCancel: {
                    client.close()
                }
            } catch let error as StratumError {
                reason = error.message
            } catch {
                reason = "\(error)"
            }
            actions = state.withLock { st in
                st.client = nil
                return st.session.event(.disconnected(reason: reason, cancelled: Task.isCancelled))
            }
        }
    }

    /// Opens the next connection (nil: the run is over), with the client in place before any event can
    /// ask to close it.
    func connect() -> StratumClient? {
        let (actions, client) = state.withLock { st in
            let actions = st.session.event(.connecting)
            guard
                case .open(let url, let resume)? = actions.first(where: { if case .open = $0 { true } else { false } })
            else { return (actions, StratumClient?.none) }
            st.client = makeClient(url, resumeSessionID: resume)
            return (actions, st.client)
        }
        perform(actions)
        return client
    }

    func handle(_ event: StratumEvent) throws(StratumError) {
        var engineJob: UInt64?
        // Read outside our lock: the engine calls `nextJob` (our lock) while holding its own.
        if case .job = event { engineJob = state.withLock { $0.engine }?.currentJob?.id }
        if let error = feed(.pool(event, engineJob: engineJob)) { throw error }
    }

    func makeClient(_ url: StratumURL, resumeSessionID: String?) -> StratumClient {
        var o = StratumOptions(user: options.user, password: options.password, userAgent: options.userAgent)
        o.requestedVersionMask = options.requestedVersionMask
        o.suggestDifficulty = options.suggestDifficulty
        o.resumeSessionID = resumeSessionID
        o.idleTimeout = options.idleTimeout
        o.requestTimeout = options.requestTimeout
        return StratumClient(url: url, options: o, group: MultiThreadedEventLoopGroup.singleton, logger: logger)
    }

    /// While mining on a backup pool, the primary is probed every `primaryRetry` (a TCP connection,
    /// closed at once); when it answers, the current connection is closed and the connect loop goes back
    /// to the primary.
    func probePrimary() async {
        guard options.pools.count > 1 else { return }
        while !Task.isCancelled {
            try? await Task.sleep(for: options.primaryRetry)
            for case .probePrimary(let primary) in state.withLock({ $0.session.event(.probeDue) }) {
                do {
                    let ch = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                        .connectTimeout(.seconds(5)).connect(host: primary.host, port: primary.port).get()
                    try? await ch.close()
                } catch { continue }
                feed(.primaryAnswered)
            }
        }
    }
}
extension PoolWork {
    /// `mine --pool`: runs on `engine` until a limit (or cancellation), calling `emit` with one line per
    /// share the pool gave a verdict on (stale shares are counted in the summary only), and returns the
    /// summary line.
    /// The error is why the source stopped early (a block it could not keep on disk, a journal it
    /// cannot open); the summary is given either way.
    package func mineReporting(engine: MiningEngine, json: Bool, emit: @escaping @Sendable (String) -> Void) async
        -> (summary: String, error: WorkError?)
    {
        onShare { share in
            if case .stale = share.outcome { return }
            emit(json ? JSONLine.encode(share.json) : share.text)
        }
        let started = ContinuousClock.now
        var failure: WorkError?
        do { try await run(engine: engine) { _ in } } catch { failure = error }
        let seconds = (ContinuousClock.now - started).seconds
        let hashes = engine.snapshot().totalHashes
        let status = poolStatus
        let summary =
            json
            ? JSONLine.encode(status.summary(seconds: seconds, hashes: hashes))
            : status.summaryText(seconds: seconds, hashes: hashes)
        return (summary, failure)
    }
}
