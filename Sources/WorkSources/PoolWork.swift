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

/// What became of a share.
public enum ShareOutcome: Sendable, Hashable, CustomStringConvertible {
    case accepted
    /// The pool's reason (e.g. "Duplicate share", "Above target").
    case rejected(reason: String)
    /// Not sent, or sent without a verdict: its job was replaced (`clean_jobs`), the session was not
    /// resumed after a reconnect, or the connection dropped before the pool answered.
    case stale(reason: String)

    /// "accepted", "rejected" or "stale".
    public var result: String {
        switch self {
        case .accepted: "accepted"
        case .rejected: "rejected"
        case .stale: "stale"
        }
    }

    public var reason: String? {
        switch self {
        case .accepted: nil
        case .rejected(let r), .stale(let r): r
        }
    }

    public var description: String { reason.map { "\(result): \($0)" } ?? result }
}

/// A share found on pool work, and what became of it.
public struct PoolShare: Sendable, Hashable {
    public let outcome: ShareOutcome
    public let pool: String
    public let jobID: String
    public let nonce: UInt32
    public let time: UInt32
    /// The full header version hashed (rolled bits included).
    public let version: UInt32
    public let extranonce2: [UInt8]
    /// The difficulty of the share's job (what the pool judges it at).
    public let difficulty: Double
    /// The share also meets the network target: a block.
    public let isBlock: Bool
    /// Display order.
    public let hash: String
    /// From `mining.submit` sent to the pool's reply; nil when nothing was sent or answered.
    public let latencyMilliseconds: Double?
    /// A block the pool accepted on a parent that already has one of ours counted: only one of them can
    /// be on the chain, so this one is not counted toward `--blocks` (see `BlockParents`).
    public let superseded: Bool

    public init(
        outcome: ShareOutcome, pool: String, jobID: String, nonce: UInt32, time: UInt32, version: UInt32,
        extranonce2: [UInt8], difficulty: Double, isBlock: Bool, hash: String, latencyMilliseconds: Double?,
        superseded: Bool = false
    ) {
        self.superseded = superseded
        self.outcome = outcome
        self.pool = pool
        self.jobID = jobID
        self.nonce = nonce
        self.time = time
        self.version = version
        self.extranonce2 = extranonce2
        self.difficulty = difficulty
        self.isBlock = isBlock
        self.hash = hash
        self.latencyMilliseconds = latencyMilliseconds
    }

    /// `mine --pool --json`'s line: job_id, nonce, ntime, version, extranonce2, difficulty, result,
    /// reason, block, latency_ms; and for a block, superseded.
    public var json: [String: Any] {
        var fields: [String: Any] = [
            "job_id": jobID, "nonce": StratumHex.word(nonce), "ntime": StratumHex.word(time),
            "version": StratumHex.word(version), "extranonce2": Hex.encode(extranonce2), "difficulty": difficulty,
            "result": outcome.result, "reason": outcome.reason ?? NSNull(), "block": isBlock,
            "latency_ms": latencyMilliseconds ?? NSNull(),
        ]
        if isBlock { fields["superseded"] = superseded }
        return fields
    }
}

/// A work source that reports shares as well as blocks (pools). Additive to `WorkSource`: existing
/// sources need not conform.
public protocol ShareSource: WorkSource {
    /// Calls `handler` for every share, with its outcome, on a task of the source's.
    func onShare(_ handler: @escaping @Sendable (PoolShare) -> Void)
    /// The pool's state for `/status` and `/metrics`.
    var poolStatus: PoolStatus { get }
}

/// The pool as `/status` and `/metrics` show it.
public struct PoolStatus: Sendable, Hashable {
    public var url: String
    public var connected = false
    /// The difficulty in force for the next job; nil before the pool sent one.
    public var difficulty: Double?
    public var accepted = 0
    public var rejected = 0
    public var stale = 0
    /// Blocks counted: shares that also met the network target, the pool accepted, one per parent (those
    /// that can all be on the chain).
    public var blocks = 0
    /// Blocks the pool accepted on a parent that already had one of ours counted (not in `blocks`).
    public var supersededBlocks = 0
    /// Rejected and stale shares by reason (see `count(reason:)`: bounded).
    public var reasons: [String: Int] = [:]
    public var lastShareTime: Date?
    /// Moves from one pool to another (including back to the primary).
    public var failovers = 0

    public init(url: String) { self.url = url }

    /// Distinct reasons kept, at most: the pool writes them, and one that puts a share's id, nonce or time
    /// in each rejection would otherwise grow this table (and the `reason` labels of
    /// `flexminer_pool_share_reasons_total`) for as long as the miner runs. Further reasons are counted
    /// under `other`.
    public static let maxReasons = 100
    /// A reason longer than this (UTF-8 bytes) is cut.
    public static let maxReasonBytes = 200

    /// Counts one rejected or stale share under `reason`, within `maxReasons` and `maxReasonBytes`.
    public mutating func count(reason: String) {
        var key = reason
        if key.utf8.count > Self.maxReasonBytes {
            key = String(decoding: Array(key.utf8.prefix(Self.maxReasonBytes)), as: UTF8.self)
        }
        if reasons[key] == nil && reasons.count >= Self.maxReasons { key = "other" }
        reasons[key, default: 0] += 1
    }

    public var json: [String: Any] {
        [
            "url": url, "connected": connected, "difficulty": difficulty ?? NSNull(),
            "shares": ["accepted": accepted, "rejected": rejected, "stale": stale, "reasons": reasons] as [String: Any],
            "blocks": blocks, "blocks_superseded": supersededBlocks,
            "last_share_time": lastShareTime.map { ISO8601.format($0) } ?? NSNull(),
            "failovers": failovers,
        ]
    }
}

extension PoolStatus {
    /// The last line of `mine --pool --json`.
    public func summary(seconds: Double, hashes: UInt64) -> [String: Any] {
        [
            "summary": true, "pool": url, "shares_accepted": accepted, "shares_rejected": rejected,
            "shares_stale": stale, "blocks": blocks, "blocks_superseded": supersededBlocks, "failovers": failovers,
            "seconds": seconds,
            "hashes": Int(clamping: hashes), "hash_rate": Double(hashes) / Swift.max(seconds, 1e-9),
            "reasons": reasons,
        ]
    }

    /// The same, for people.
    public func summaryText(seconds: Double, hashes: UInt64) -> String {
        let superseded = supersededBlocks > 0 ? ", \(supersededBlocks) superseded" : ""
        return String(
            format: "%d accepted, %d rejected, %d stale shares (%d blocks%@) in %.1f s, %.2f MH/s; %d failover(s)",
            accepted, rejected, stale, blocks, superseded, seconds, Double(hashes) / Swift.max(seconds, 1e-9) / 1e6,
            failovers)
    }
}

extension PoolShare {
    /// One line for people: result, job, nonce, difficulty, latency.
    public var text: String {
        let ms = latencyMilliseconds.map { String(format: " in %.1f ms", $0) } ?? ""
        return "share \(outcome) job \(jobID) nonce \(StratumHex.word(nonce)) diff \(difficulty)"
            + "\(isBlock ? " BLOCK" : "")\(superseded ? " (superseded: same parent as a counted block)" : "")\(ms)"
    }
}

extension PoolWork {
    /// `mine --pool`: runs on `engine` until a limit (or cancellation), calling `emit` with one line per
    /// share the pool gave a verdict on (stale shares are counted in the summary only), and returns the
    /// summary line.
    /// The error is why the source stopped early (a block it could not keep on disk, a journal it
    /// cannot open); the summary is given either way.
    public func mineReporting(engine: MiningEngine, json: Bool, emit: @escaping @Sendable (String) -> Void) async
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
public final class PoolWork: WorkSource, ShareSource, JobSource {
    public struct Options: Sendable {
        public var pools: [StratumURL]
        public var user: String
        /// Never logged.
        public var password: String = "x"
        public var userAgent: String = "flexminer"
        public var suggestDifficulty: Double?
        /// Follow `client.reconnect` to another host (default: only to the same host).
        public var allowRedirect = false
        /// Return from `run` after this many shares got a verdict (accepted or rejected).
        public var shares: Int?
        /// Return from `run` after this many blocks were accepted on distinct parents (blocks that can all
        /// be on the chain; superseded ones are not counted).
        public var blocks: Int?
        /// Return from `run` after this long.
        public var duration: Duration?
        public var backoffStart: Duration = .milliseconds(500)
        public var backoffMax: Duration = .seconds(30)
        /// After a failover, probe the primary this often.
        public var primaryRetry: Duration = .seconds(60)
        public var idleTimeout: Duration = .seconds(90)
        public var requestTimeout: Duration = .seconds(30)
        /// Nonces per engine job before the job source rolls version bits or extranonce2.
        public var noncesPerJob: UInt64 = 1 << 32
        /// Version values tried per extranonce2 (nil: every value the mask allows).
        public var versionRollsPerExtranonce: UInt64?
        /// Shares waiting for a connection at most.
        public var maxQueuedShares = 256
        /// Version bits asked for (BIP 310); ANDed with the pool's answer.
        public var requestedVersionMask: UInt32? = 0x1fff_e000

        public init(pools: [StratumURL], user: String) {
            self.pools = pools
            self.user = user
        }
    }

    /// One stratum job as the miner uses it: the notify, its difficulty and targets, and its rolling.
    struct Template: Sendable {
        let job: StratumJob
        let difficulty: Double
        let shareTarget: UInt256
        let blockTarget: UInt256
        let session: Int
        var extranonce2: UInt64 = 0
        var versionIndex: UInt64 = 0
    }

    /// What an engine job was built from: what a share of it is sent and judged with.
    struct Context: Sendable {
        let jobID: String
        let extranonce2: [UInt8]
        let version: UInt32
        let jobVersion: UInt32
        /// The version mask in force when the job was made.
        let mask: UInt32
        let time: UInt32
        let merkleRoot: [UInt8]
        let difficulty: Double
        let shareTarget: UInt256
        let blockTarget: UInt256
        let session: Int
        /// What a block found on this job is journaled with: the coinbase and the branch.
        let coinbase: [UInt8]
        let merkleBranch: [[UInt8]]
        /// The coinbase's BIP34 height; nil when it cannot be read.
        let height: Int?
        /// The previous block's hash (display order): one block per parent can be on the chain.
        let parent: String
    }

    struct State: Sendable {
        var engine: MiningEngine?
        var client: StratumClient?
        var url: StratumURL
        var session = 0
        /// The pool the current session is with: a subscribe elsewhere is never a resume of it.
        var sessionURL: StratumURL?
        var sessionIDs: [StratumURL: (id: String, extranonce1: [UInt8])] = [:]
        var extranonce1: [UInt8]?
        var extranonce2Size = 4
        var mask: UInt32 = 0
        var difficulty: Double?
        var latest: Template?
        /// Jobs the pool has not replaced, in arrival order (bounded).
        var valid: [String] = []
        /// The next unused extranonce2 of each valid job: a job the pool sends again (after a resumed
        /// session, or repeated) goes on from there instead of repeating shares.
        var nextExtranonce2: [String: UInt64] = [:]
        var contexts: [UInt64: Context] = [:]
        var contextOrder: [UInt64] = []
        var nextEngineID: UInt64 = 1
        var queued: [(MiningSolution, Context, Bool)] = []
        var redirect: (url: StratumURL, wait: Double)?
        var backToPrimary = false
        var gotJob = false
        var answered = 0
        var acceptedBlocks = 0
        /// Parents with a block of ours counted: a second block on one is superseded.
        var parents = BlockParents()
        var done = false
        var status: PoolStatus
        var handlers: [@Sendable (PoolShare) -> Void] = []
        var onBlock: (@Sendable (SolvedBlock) -> Void)?
        /// Where each block found this run is kept (the journal, or its rescue file), for its verdict.
        var blockJournals: [String: BlockJournal] = [:]
        /// Why this source stopped for good (a block that could not be kept on disk).
        var failure: WorkError?
    }

    public let options: Options
    /// Blocks found as shares are journaled here (fsync'd) before the share is sent.
    public let journal: BlockJournal?
    let logger: Logger
    let state: Mutex<State>
    static let maxJobs = 64
    static let maxContexts = 4096

    public var kind: String { "pool" }
    public var origin: String { options.pools.map(\.description).joined(separator: ", ") + " as \(options.user)" }
    public var jobSource: any JobSource { self }

    public init(options: Options, journal: BlockJournal? = nil, logger: Logger) {
        precondition(!options.pools.isEmpty, "PoolWork needs at least one pool")
        self.options = options
        self.journal = journal
        self.logger = logger
        state = Mutex(State(url: options.pools[0], status: PoolStatus(url: options.pools[0].description)))
    }

    public func onShare(_ handler: @escaping @Sendable (PoolShare) -> Void) {
        state.withLock { $0.handlers.append(handler) }
    }

    public var poolStatus: PoolStatus { state.withLock { $0.status } }

    // MARK: Building work (pure)

    /// coinb1 + extranonce1 + extranonce2 + coinb2.
    public static func coinbase(job: StratumJob, extranonce1: [UInt8], extranonce2: [UInt8]) -> [UInt8] {
        job.coinbase1 + extranonce1 + extranonce2 + job.coinbase2
    }

    /// The merkle root (internal order) from the coinbase's txid and the job's branch.
    public static func merkleRoot(coinbase: [UInt8], branch: [[UInt8]]) -> [UInt8] {
        Merkle.root(first: SHA256.hashTwice(coinbase).bytes, branch: branch)
    }

    /// Stratum sends the previous block hash as eight 4-byte words, each byte-swapped from the header's
    /// (internal) order.
    public static func previousBlockHash(words: [UInt8]) -> [UInt8] {
        stride(from: 0, to: words.count, by: 4).flatMap { words[$0..<Swift.min($0 + 4, words.count)].reversed() }
    }

    /// The header a share of `job` hashed.
    /// - Throws: `ChainError` when the job's prevhash is not 32 bytes.
    public static func header(
        job: StratumJob, extranonce1: [UInt8], extranonce2: [UInt8], version: UInt32, nonce: UInt32
    ) throws(ChainError) -> BlockHeader {
        try header(
            job: job, coinbase: coinbase(job: job, extranonce1: extranonce1, extranonce2: extranonce2),
            version: version, nonce: nonce)
    }

    /// The same, from the coinbase already assembled (the job source keeps it for the journal).
    static func header(job: StratumJob, coinbase: [UInt8], version: UInt32, nonce: UInt32) throws(ChainError)
        -> BlockHeader
    {
        try BlockHeader(
            version: Int32(bitPattern: version), previousBlockHash: previousBlockHash(words: job.previousHashWords),
            merkleRoot: merkleRoot(coinbase: coinbase, branch: job.merkleBranch), time: job.time,
            bits: CompactTarget(bits: job.bits), nonce: nonce)
    }

    /// Spreads the low bits of `index` over the set bits of `mask` (a software PDEP): the index-th
    /// version roll within the mask.
    public static func versionBits(index: UInt64, mask: UInt32) -> UInt32 {
        var out: UInt32 = 0
        var i = index
        var m = mask
        while m != 0 && i != 0 {
            let bit = m & (~m &+ 1)
            if i & 1 == 1 { out |= bit }
            i >>= 1
            m &= m &- 1
        }
        return out
    }

    // MARK: Job source

    public func nextJob(after exhausted: MiningJob) -> MiningJob? {
        state.withLock { s in makeJob(&s) }
    }

    /// The next engine job from the latest stratum job: next version roll, else the next extranonce2.
    /// Nil when there is no job yet or its extranonce2 space is used up (never reused on one job).
    func makeJob(_ s: inout State) -> MiningJob? {
        guard var t = s.latest, let e1 = s.extranonce1 else { return nil }
        let maskBits = UInt64(s.mask.nonzeroBitCount)
        let versions = Swift.min(
            maskBits >= 63 ? .max : UInt64(1) << maskBits, options.versionRollsPerExtranonce ?? .max)
        if t.versionIndex >= versions {
            t.extranonce2 += 1
            t.versionIndex = 0
        }
        let size = s.extranonce2Size
        guard size >= 8 || t.extranonce2 < UInt64(1) << UInt64(8 * size) else {
            logger.warning("pool job \(t.job.jobID): every extranonce2 used; waiting for the next job")
            return nil
        }
        let rolled = Self.versionBits(index: t.versionIndex, mask: s.mask)
        t.versionIndex += 1
        s.latest = t
        s.nextExtranonce2[t.job.jobID] = t.extranonce2 + 1
        let version = (t.job.version & ~s.mask) | rolled
        let en2 = StratumHex.extranonce2(t.extranonce2, size: size)
        let coinbase = Self.coinbase(job: t.job, extranonce1: e1, extranonce2: en2)
        guard let header = try? Self.header(job: t.job, coinbase: coinbase, version: version, nonce: 0) else {
            return nil
        }
        let id = s.nextEngineID
        s.nextEngineID += 1
        // The engine wants the share target at or above the block target; a share harder than a block
        // (regtest) is a block whenever it is a share.
        let blockTarget = Swift.min(t.blockTarget, t.shareTarget)
        guard
            let job = try? MiningJob(
                id: id, header: header, blockTarget: blockTarget,
                shareTarget: t.shareTarget > blockTarget ? t.shareTarget : nil, nonceCount: options.noncesPerJob)
        else { return nil }
        s.contexts[id] = Context(
            jobID: t.job.jobID, extranonce2: en2, version: version, jobVersion: t.job.version, mask: s.mask,
            time: t.job.time,
            merkleRoot: header.merkleRoot, difficulty: t.difficulty, shareTarget: t.shareTarget,
            blockTarget: t.blockTarget, session: t.session, coinbase: coinbase, merkleBranch: t.job.merkleBranch,
            height: Coinbase.height(inSerialized: coinbase), parent: Hex.encode(header.previousBlockHash.reversed()))
        s.contextOrder.append(id)
        if s.contextOrder.count > Self.maxContexts { s.contexts[s.contextOrder.removeFirst()] = nil }
        return job
    }

    // MARK: Pool events

    func handle(_ event: StratumEvent, url: StratumURL) throws(StratumError) {
        switch event {
        case .subscribed(let sub):
            let (resumed, flush, stale) = state.withLock { s in
                let previous = s.sessionIDs[url]
                let resumed =
                    s.sessionURL == url && previous != nil && previous?.extranonce1 == sub.extranonce1
                    && s.extranonce1 != nil
                if !resumed {
                    s.session += 1
                    s.valid = []
                    s.nextExtranonce2 = [:]
                    s.latest = nil
                }
                s.sessionURL = url
                if let id = sub.sessionID { s.sessionIDs[url] = (id, sub.extranonce1) }
                s.extranonce1 = sub.extranonce1
                s.extranonce2Size = sub.extranonce2Size
                s.status.connected = true
                let queued = s.queued
                s.queued = []
                return (resumed, resumed ? queued : [], resumed ? [] : queued)
            }
            logger.info(
                "pool \(url): subscribed\(resumed ? " (session resumed)" : ""), extranonce1 \(Hex.encode(sub.extranonce1)), extranonce2 \(sub.extranonce2Size) bytes"
            )
            for (solution, context, block) in stale {
                report(solution, context, block, .stale(reason: "the pool is gone: session not resumed"), nil)
            }
            for (solution, context, block) in flush { send(solution, context, block) }
        case .versionMask(let mask):
            state.withLock { s in
                s.mask = mask
                s.latest?.versionIndex = .max  // a new mask: go on with a fresh extranonce2
            }
            logger.info("pool \(url): version rolling mask \(StratumHex.word(mask))")
        case .authorized:
            logger.info("pool \(url): worker \(options.user) authorized")
        case .difficulty(let d):
            state.withLock {
                $0.difficulty = d
                $0.status.difficulty = d
            }
            logger.info("pool \(url): difficulty \(d) from the next job")
        case .job(let job):
            try newJob(job, url: url)
        case .extranonce(let e1, let size):
            state.withLock { s in
                s.extranonce1 = e1
                s.extranonce2Size = size
                s.latest?.extranonce2 = 0
                s.latest?.versionIndex = 0
            }
            logger.info("pool \(url): new extranonce1 \(Hex.encode(e1)), extranonce2 \(size) bytes")
        case .reconnect(let host, let port, let wait):
            let target = StratumURL(host: host ?? url.host, port: port ?? url.port)
            if target.host != url.host && !options.allowRedirect {
                logger.warning("pool \(url): asked to reconnect to \(target); not following (--allow-redirect)")
                state.withLock { $0.redirect = (url, wait) }
            } else {
                logger.info("pool \(url): asked to reconnect to \(target) in \(wait) s")
                state.withLock { $0.redirect = (target, wait) }
            }
            state.withLock { $0.client }?.close()
        case .message(let text):
            logger.info("pool \(url) says: \(text)")
        }
    }

    func newJob(_ job: StratumJob, url: StratumURL) throws(StratumError) {
        let blockTarget: UInt256
        do { blockTarget = try CompactTarget(bits: job.bits).target() } catch {
            throw StratumError(.malformed, "mining.notify: param 6 (nbits): \(error.message)")
        }
        // Read outside our lock: the engine calls `nextJob` (our lock) while holding its own.
        let currentEngineJob = state.withLock { $0.engine }?.currentJob?.id
        let engineJob: MiningJob? = try state.withLock { s throws(StratumError) in
            let difficulty = s.difficulty ?? 1
            let shareTarget: UInt256
            do throws(ChainError) { shareTarget = try CompactTarget.target(forDifficulty: difficulty) } catch {
                throw StratumError(.malformed, "mining.set_difficulty: \(error.message)")
            }
            s.latest = Template(
                job: job, difficulty: difficulty, shareTarget: shareTarget, blockTarget: blockTarget,
                session: s.session, extranonce2: s.nextExtranonce2[job.jobID] ?? 0)
            if job.cleanJobs {
                s.valid = []
                s.nextExtranonce2 = s.nextExtranonce2.filter { $0.key == job.jobID }
            }
            if !s.valid.contains(job.jobID) { s.valid.append(job.jobID) }
            if s.valid.count > Self.maxJobs { s.nextExtranonce2[s.valid.removeFirst()] = nil }
            s.gotJob = true
            // Switch now on clean_jobs, when idle, or when the engine's job is from a session the pool
            // no longer knows; otherwise the job waits for the next switch.
            let current = currentEngineJob.flatMap { s.contexts[$0] }
            guard job.cleanJobs || current == nil || current?.session != s.session else { return nil }
            return makeJob(&s)
        }
        if let engineJob { state.withLock { $0.engine }?.setJob(engineJob) }
        logger.debug("pool \(url): job \(job.jobID)\(job.cleanJobs ? " (clean)" : "")")
    }

    // MARK: Shares

    func solution(_ s: MiningSolution) {
        guard let context = state.withLock({ $0.contexts[s.jobID] }) else { return }
        // The reference hash, independent of the kernel that found the nonce, before anything is sent.
        var header = s.header
        header.nonce = s.nonce
        let value = UInt256(digest: SHA256.hashTwice(header.bytes))
        guard header.merkleRoot == context.merkleRoot, UInt32(bitPattern: header.version) == context.version,
            value <= context.shareTarget
        else {
            logger.error("share of job \(context.jobID) nonce \(s.nonce) does not check against the reference hash")
            return
        }
        let isBlock = value <= context.blockTarget
        if isBlock {
            logger.notice("block found: \(s.hash.reversedHex) (job \(context.jobID))")
            keep(header: header, hash: s.hash.reversedHex, context)
        }
        enum Next { case send, queue, stale(String) }
        let next: Next = state.withLock { st in
            if context.session != st.session { return .stale("from a session the pool did not resume") }
            if !st.valid.contains(context.jobID) { return .stale("job replaced by the pool") }
            if st.client != nil && st.status.connected { return .send }
            // A block waits beyond the limit (blocks are rare; a few more entries bound it still).
            guard st.queued.count < options.maxQueuedShares + (isBlock ? 64 : 0) else {
                return .stale("share queue full")
            }
            st.queued.append((s, context, isBlock))
            return .queue
        }
        switch next {
        case .send: send(s, context, isBlock)
        case .queue: logger.info("share of job \(context.jobID) waits for a pool connection")
        case .stale(let why): report(s, context, isBlock, .stale(reason: why), nil)
        }
    }

    /// On disk before the share is sent, as solo blocks are: the journal, else a rescue file, else the
    /// log in full. A block that could not be kept is still sent (the pool is its only way into the
    /// chain), and this source then stops: no further block could be kept.
    func keep(header: BlockHeader, hash: String, _ c: Context) {
        let block = BlockJournal.PoolBlock(
            hash: hash, height: c.height, header: header.bytes, coinbase: c.coinbase,
            merkleBranch: c.merkleBranch, pool: state.withLock { $0.url.description }, jobID: c.jobID,
            extranonce2: c.extranonce2)
        guard let journal else { return }
        var kept: BlockJournal? = journal
        defer {
            // No further block could be kept: stop hashing now; the run ends after this share's verdict.
            if kept !== journal { state.withLock { $0.engine }?.clearJob() }
        }
        var failure: WorkError?
        do { try journal.recordPoolBlock(block) } catch {
            let stopped =
                "pool mining stopped: no further block could be kept (restart once the journal can be written)"
            do {
                let path = try journal.rescue(block)
                logger.critical("\(error.message); block \(hash) saved to \(path)")
                kept = BlockJournal(path: path, rescueDirectory: journal.rescueDirectory)
                failure = WorkError(.disk, "pool: \(error.message); block \(hash) saved to \(path); \(stopped)")
            } catch let rescueError {
                logger.critical(
                    "\(error.message); \(rescueError.message); block \(hash): header \(Hex.encode(header.bytes)) coinbase \(Hex.encode(c.coinbase)) branch \(c.merkleBranch.map { Hex.encode($0) }) job \(c.jobID)"
                )
                kept = nil
                failure = WorkError(
                    .disk,
                    "pool: \(error.message); \(rescueError.message); block \(hash) is in full in the log; \(stopped)")
            }
        }
        state.withLock { st in
            if let kept, st.blockJournals.count < 1024 { st.blockJournals[hash] = kept }
            if let failure, st.failure == nil { st.failure = failure }
        }
    }

    func send(_ s: MiningSolution, _ context: Context, _ isBlock: Bool) {
        guard let client = state.withLock({ $0.client }) else {
            report(s, context, isBlock, .stale(reason: "no pool connection"), nil)
            return
        }
        let submit = StratumSubmit(
            jobID: context.jobID, extranonce2: context.extranonce2, time: context.time, nonce: s.nonce,
            versionBits: context.version != context.jobVersion ? context.version & context.mask : nil)
        Task {
            let start = ContinuousClock.now
            let verdict = await client.submit(submit)
            let ms = (ContinuousClock.now - start).milliseconds
            switch verdict {
            case .accepted: self.report(s, context, isBlock, .accepted, ms)
            case .rejected(let reason): self.report(s, context, isBlock, .rejected(reason: reason), ms)
            case .unanswered(let why): self.report(s, context, isBlock, .stale(reason: "no verdict: \(why)"), nil)
            }
        }
    }

    func report(_ s: MiningSolution, _ c: Context, _ isBlock: Bool, _ outcome: ShareOutcome, _ ms: Double?) {
        let hash = s.hash.reversedHex
        let (handlers, finished, client, onBlock, kept, superseded, pool) = state.withLock { st in
            st.status.lastShareTime = Date()
            var superseded = false
            switch outcome {
            case .accepted:
                st.status.accepted += 1
                st.answered += 1
                // The first block the pool accepts on a parent is counted; the others on it compete with
                // it for one place on the chain.
                if isBlock && st.parents.claim(c.parent) {
                    st.status.blocks += 1
                    st.acceptedBlocks += 1
                } else if isBlock {
                    st.status.supersededBlocks += 1
                    superseded = true
                }
            case .rejected(let r):
                st.status.rejected += 1
                st.answered += 1
                st.status.count(reason: r)
            case .stale(let r):
                st.status.stale += 1
                st.status.count(reason: "stale: " + r)
            }
            let reached =
                (options.shares.map { st.answered >= $0 } ?? false)
                || (options.blocks.map { st.acceptedBlocks >= $0 } ?? false) || st.failure != nil
            let finished = reached && !st.done
            if finished { st.done = true }
            let kept = isBlock ? st.blockJournals.removeValue(forKey: hash) : nil
            return (st.handlers, finished, st.client, isBlock ? st.onBlock : nil, kept, superseded, st.url.description)
        }
        let share = PoolShare(
            outcome: outcome, pool: pool, jobID: c.jobID, nonce: s.nonce, time: c.time, version: c.version,
            extranonce2: c.extranonce2, difficulty: c.difficulty, isBlock: isBlock, hash: hash,
            latencyMilliseconds: ms, superseded: superseded)
        if isBlock { recordVerdict(share, solution: s, height: c.height, in: kept, onBlock: onBlock) }
        let text = "share \(c.jobID) nonce \(StratumHex.word(s.nonce)) diff \(c.difficulty): \(outcome)"
        if case .accepted = outcome { logger.info("\(text)") } else { logger.warning("\(text)") }
        for h in handlers { h(share) }
        if finished {
            state.withLock { $0.engine }?.clearJob()
            client?.close()
        }
    }

    /// A block's verdict: next to the block in its journal, and to `run`'s caller as a `SolvedBlock`.
    func recordVerdict(
        _ share: PoolShare, solution s: MiningSolution, height: Int?, in kept: BlockJournal?,
        onBlock: (@Sendable (SolvedBlock) -> Void)?
    ) {
        let verdict: SubmitResult
        let outcome: BlockOutcome
        switch share.outcome {
        case .accepted: (verdict, outcome) = (.accepted, .accepted)
        case .rejected(let r): (verdict, outcome) = (.rejected(r), .rejected(reason: r))
        case .stale(let r):
            (verdict, outcome) = (.error(code: nil, message: "not judged: \(r)"), .unsubmitted(error: r))
        }
        if let kept {
            do { try kept.recordSubmitted(hash: share.hash, result: verdict) } catch {
                logger.error("\(error.message) (the pool's verdict on block \(share.hash): \(share.outcome))")
            }
        }
        onBlock?(
            SolvedBlock(
                hash: share.hash, height: height ?? 0, nonce: s.nonce, jobID: s.jobID, time: share.time, bytes: 0,
                outcome: outcome, superseded: share.superseded))
    }

    /// Ends `run`: no more hashing, the connection closed.
    public func finish() {
        let (engine, client) = state.withLock { s in
            s.done = true
            return (s.engine, s.client)
        }
        engine?.clearJob()
        client?.close()
    }

    // MARK: Running

    public func run(engine: MiningEngine, onBlock: @escaping @Sendable (SolvedBlock) -> Void) async throws(WorkError) {
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
            for await e in events { if case .solution(let s) = e { self.solution(s) } }
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
        var index = 0
        var failures = 0
        var url = options.pools[0]
        while !Task.isCancelled && !state.withLock({ $0.done }) {
            let client = makeClient(url)
            state.withLock { s in
                s.client = client
                s.url = url
                s.gotJob = false
                s.status.url = url.description
            }
            logger.info("pool \(url): connecting as \(options.user)")
            do {
                try await withTaskCancellationHandler {
                    try await client.run { [url] event throws(StratumError) in try self.handle(event, url: url) }
                } onCancel: {
                    client.close()
                }
            } catch let error as StratumError {
                logger.warning("pool \(url): \(error.message)")
            } catch {
                logger.warning("pool \(url): \(error)")
            }
            let (redirect, back, productive, done) = state.withLock { s in
                s.client = nil
                s.status.connected = false
                defer {
                    s.redirect = nil
                    s.backToPrimary = false
                }
                return (s.redirect, s.backToPrimary, s.gotJob, s.done)
            }
            if done || Task.isCancelled { break }
            if let redirect {
                url = redirect.url
                if let d = Duration.checked(seconds: redirect.wait) { try? await Task.sleep(for: d) }
                continue
            }
            if back {
                logger.info("pool \(options.pools[0]): the primary is back; switching to it")
                index = 0
                failures = 0
                url = options.pools[0]
                state.withLock { $0.status.failovers += 1 }
                continue
            }
            failures = productive ? 1 : failures + 1
            let next = (index + 1) % options.pools.count
            if next != index {
                state.withLock { $0.status.failovers += 1 }
                logger.warning("pool \(options.pools[index]) failed; trying \(options.pools[next])")
            }
            index = next
            url = options.pools[index]
            try? await Task.sleep(for: backoff(failures))
        }
        engine.clearJob()
        // Shares still waiting for a connection are not sent now: counted and logged, never dropped silently.
        let unsent = state.withLock { st in
            defer { st.queued = [] }
            return st.queued
        }
        for (solution, context, block) in unsent {
            report(solution, context, block, .stale(reason: "the run ended before a pool took it"), nil)
        }
        if let failure = state.withLock({ $0.failure }) { throw failure }
    }

    /// 0.5 s doubling to 30 s, with ±25 % jitter so that many miners do not reconnect in step.
    func backoff(_ failures: Int) -> Duration {
        let base = options.backoffStart.seconds * pow(2, Double(Swift.min(Swift.max(failures - 1, 0), 20)))
        let capped = Swift.min(base, options.backoffMax.seconds)
        return Duration.checked(seconds: capped * Double.random(in: 0.75...1.25)) ?? options.backoffMax
    }

    func makeClient(_ url: StratumURL) -> StratumClient {
        var o = StratumOptions(user: options.user, password: options.password, userAgent: options.userAgent)
        o.requestedVersionMask = options.requestedVersionMask
        o.suggestDifficulty = options.suggestDifficulty
        o.resumeSessionID = state.withLock { $0.sessionIDs[url]?.id }
        o.idleTimeout = options.idleTimeout
        o.requestTimeout = options.requestTimeout
        return StratumClient(url: url, options: o, group: MultiThreadedEventLoopGroup.singleton, logger: logger)
    }

    /// While mining on a backup pool, tries a TCP connection to the primary every `primaryRetry`; when it
    /// answers, the current connection is closed and the run loop goes back to the primary.
    func probePrimary() async {
        guard options.pools.count > 1 else { return }
        let primary = options.pools[0]
        while !Task.isCancelled {
            try? await Task.sleep(for: options.primaryRetry)
            let (onBackup, client) = state.withLock { ($0.url != primary && $0.client != nil, $0.client) }
            guard onBackup else { continue }
            let reachable: Bool
            do {
                let ch = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .connectTimeout(.seconds(5)).connect(host: primary.host, port: primary.port).get()
                try? await ch.close()
                reachable = true
            } catch { reachable = false }
            guard reachable else { continue }
            state.withLock { $0.backToPrimary = true }
            client?.close()
        }
    }
}
