import Chain
import FlexSupport
import Foundation
import Logging
import Mining
import SHA256
import Stratum

/// The stratum pool session as a pure state machine (the shape of AsyncHTTPClient's
/// `HTTPConnectionPool.StateMachine`): `PoolWork` feeds it what happened (the pool's messages, the
/// engine's solutions, share verdicts, the connection ending, timers) and performs the actions it
/// returns, in order. The machine does no I/O and logs nothing itself, so its decisions (sessions
/// resumed or not, jobs and their rolling, shares sent, queued or stale, blocks counted or superseded,
/// failover and its backoff) are tested with tables of events and actions, without a pool.
package struct PoolSession: Sendable {
    /// What `PoolWork` tells the machine.
    package enum Event: Sendable, Hashable {
        /// `run` starts: connect to the first pool.
        case start
        /// The shell is about to open the next connection (after the wait the last `.reconnect` asked for).
        case connecting
        /// A message from the pool. With `.job`, `engineJob` is the engine's current job id, read outside
        /// the shell's lock (the engine calls `nextJob` while holding its own).
        case pool(StratumEvent, engineJob: UInt64? = nil)
        /// The connection ended: `reason` is the client's error (nil when it was closed on purpose);
        /// `cancelled` when `run`'s task was cancelled.
        case disconnected(reason: String?, cancelled: Bool)
        /// The engine found a share.
        case solution(Solution)
        /// A block's journaling finished (asked for with `.keepBlock`); `failure` when it could not be kept.
        case kept(Share, failure: WorkError?)
        /// The pool's verdict on a share sent with `.submit` (or why it has none).
        case verdict(Share, ShareOutcome, milliseconds: Double?)
        /// Time to see whether the primary is back (every `primaryRetry`).
        case probeDue
        /// The primary accepted a TCP connection (asked for with `.probePrimary`).
        case primaryAnswered
        /// `finish()`: a limit, the timer or the caller.
        case finish
        /// `run`'s connect loop ended.
        case runEnded
    }

    /// What `PoolWork` does, in order.
    package enum Action: Sendable, Hashable {
        case log(Logger.Level, String)
        /// Open a connection to `url`, offering the session id to resume.
        case open(StratumURL, resumeSessionID: String?)
        /// Wait this long (nil: not at all), then connect again (`.connecting`) unless finished.
        case reconnect(after: Duration?)
        /// Leave the connect loop.
        case endLoop
        case closeConnection
        /// Drop the connection with this error (bad input from the pool).
        case dropConnection(StratumError)
        case setEngineJob(MiningJob)
        case clearEngineJob
        /// Put the block on disk before it is sent, then feed `.kept`.
        case keepBlock(Share)
        /// `mining.submit`, then feed `.verdict` (a stale one when there is no connection).
        case submit(Share, StratumSubmit)
        /// A block's verdict: next to the block in its journal, and to `run`'s caller.
        case recordBlock(PoolShare, Share)
        /// To the `onShare` handlers.
        case deliver(PoolShare)
        /// Try a TCP connection to the primary; feed `.primaryAnswered` when it answers.
        case probePrimary(StratumURL)
        /// `run` throws this.
        case fail(WorkError)
    }

    /// What the engine found, as the session needs it.
    package struct Solution: Sendable, Hashable {
        package let engineJobID: UInt64
        package let nonce: UInt32
        /// The header with the nonce.
        package let header: BlockHeader
        package let hash: SHA256Digest

        package init(engineJobID: UInt64, nonce: UInt32, header: BlockHeader, hash: SHA256Digest) {
            self.engineJobID = engineJobID
            self.nonce = nonce
            self.header = header
            self.hash = hash
        }

        package init(_ s: MiningSolution) {
            self.init(engineJobID: s.jobID, nonce: s.nonce, header: s.header, hash: s.hash)
        }
    }

    /// A share checked against the reference hash, with the job it was found on.
    package struct Share: Sendable, Hashable {
        package let solution: Solution
        package let context: Context
        package let isBlock: Bool
    }

    /// One stratum job as the miner uses it: the notify, its difficulty and targets, and its rolling.
    struct Template: Sendable, Hashable {
        let job: StratumJob
        let difficulty: Double
        let shareTarget: UInt256
        let blockTarget: UInt256
        let session: Int
        var extranonce2: UInt64 = 0
        var versionIndex: UInt64 = 0
    }

    /// What an engine job was built from: what a share of it is sent and judged with.
    package struct Context: Sendable, Hashable {
        package let jobID: String
        package let extranonce2: [UInt8]
        package let version: UInt32
        let jobVersion: UInt32
        /// The version mask in force when the job was made.
        let mask: UInt32
        package let time: UInt32
        let merkleRoot: [UInt8]
        package let difficulty: Double
        let shareTarget: UInt256
        let blockTarget: UInt256
        let session: Int
        /// What a block found on this job is journaled with: the coinbase and the branch.
        package let coinbase: [UInt8]
        package let merkleBranch: [[UInt8]]
        /// The coinbase's BIP34 height; nil when it cannot be read.
        package let height: Int?
        /// The previous block's hash (display order): one block per parent can be on the chain.
        let parent: String
    }

    static let maxJobs = 64
    static let maxContexts = 4096

    let options: PoolWork.Options
    /// The relative jitter of reconnect delays (tests set 0 for exact delays).
    package var jitter = 0.25
    var random: SplitMix64
    /// The time of the event being taken (a share's verdict is stamped with it).
    var now = Date(timeIntervalSince1970: 0)

    /// The pool connected to, or being connected to; what shares and blocks found are credited to.
    package internal(set) var url: StratumURL
    /// The pool the next connection goes to (`url` from `.connecting` on).
    var nextURL: StratumURL
    /// A connection is open (from `.connecting` to `.disconnected`).
    var hasConnection = false
    var session = 0
    /// The pool the current session is with: a subscribe elsewhere is never a resume of it.
    var sessionURL: StratumURL?
    var sessionIDs: [StratumURL: SessionID] = [:]
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
    /// Shares waiting for a connection (bounded).
    package internal(set) var queued: [Share] = []
    var redirect: (url: StratumURL, wait: Double)?
    var backToPrimary = false
    var gotJob = false
    /// The pool's index in `options.pools` and the failures in a row, for failover and backoff.
    var index = 0
    var failures = 0
    var answered = 0
    var acceptedBlocks = 0
    /// Parents with a block of ours counted: a second block on one is superseded.
    var parents = BlockParents()
    /// `run` is over (a limit, `finish()`, a failure).
    package internal(set) var done = false
    package internal(set) var status: PoolStatus
    /// Why this source stopped for good (a block that could not be kept on disk).
    package internal(set) var failure: WorkError?

    struct SessionID: Sendable, Hashable {
        let id: String
        let extranonce1: [UInt8]
    }

    /// - Parameter seed: the reconnect jitter's (tests give one to replay a run).
    package init(options: PoolWork.Options, seed: UInt64 = .random(in: .min ... .max)) {
        precondition(!options.pools.isEmpty, "PoolWork needs at least one pool")
        self.options = options
        random = SplitMix64(seed: seed)
        url = options.pools[0]
        nextURL = options.pools[0]
        status = PoolStatus(url: options.pools[0].description)
    }

    /// Takes one event and returns what to do about it, in order.
    package mutating func event(_ e: Event, at now: Date = Date()) -> [Action] {
        self.now = now
        switch e {
        case .start: return [.reconnect(after: nil)]
        case .connecting: return connecting()
        case .pool(let p, let engineJob): return pool(p, engineJob: engineJob)
        case .disconnected(let reason, let cancelled): return disconnected(reason: reason, cancelled: cancelled)
        case .solution(let s): return solution(s)
        case .kept(let share, let failure): return kept(share, failure: failure)
        case .verdict(let share, let outcome, let ms): return verdict(share, outcome, ms)
        case .probeDue: return onBackup ? [.probePrimary(options.pools[0])] : []
        case .primaryAnswered:
            guard onBackup else { return [] }
            backToPrimary = true
            return [.closeConnection]
        case .finish:
            done = true
            return [.clearEngineJob, .closeConnection]
        case .runEnded: return runEnded()
        }
    }

    /// Mining on a backup pool with a connection open: the primary is worth probing.
    var onBackup: Bool { options.pools.count > 1 && url != options.pools[0] && hasConnection }

    // MARK: The pool's messages

    mutating func pool(_ event: StratumEvent, engineJob: UInt64?) -> [Action] {
        switch event {
        case .subscribed(let sub): return subscribed(sub)
        case .versionMask(let mask):
            self.mask = mask
            latest?.versionIndex = .max  // a new mask: go on with a fresh extranonce2
            return [.log(.info, "pool \(url): version rolling mask \(StratumHex.word(mask))")]
        case .authorized:
            return [.log(.info, "pool \(url): worker \(options.user) authorized")]
        case .difficulty(let d):
            difficulty = d
            status.difficulty = d
            return [.log(.info, "pool \(url): difficulty \(d) from the next job")]
        case .job(let job): return newJob(job, engineJob: engineJob)
        case .extranonce(let e1, let size):
            extranonce1 = e1
            extranonce2Size = size
            latest?.extranonce2 = 0
            latest?.versionIndex = 0
            return [.log(.info, "pool \(url): new extranonce1 \(Hex.encode(e1)), extranonce2 \(size) bytes")]
        case .reconnect(let host, let port, let wait):
            let target = StratumURL(host: host ?? url.host, port: port ?? url.port)
            let log: Action
            if target.host != url.host && !options.allowRedirect {
                log = .log(.warning, "pool \(url): asked to reconnect to \(target); not following (--allow-redirect)")
                redirect = (url, wait)
            } else {
                log = .log(.info, "pool \(url): asked to reconnect to \(target) in \(wait) s")
                redirect = (target, wait)
            }
            return [log, .closeConnection]
        case .message(let text):
            return [.log(.info, "pool \(url) says: \(text)")]
        }
    }

    /// A resumed session (the same pool, the same extranonce1) keeps its jobs and sends the shares that
    /// waited; any other starts afresh and counts them stale.
    mutating func subscribed(_ sub: StratumSubscription) -> [Action] {
        let previous = sessionIDs[url]
        let resumed =
            sessionURL == url && previous != nil && previous?.extranonce1 == sub.extranonce1 && extranonce1 != nil
        if !resumed {
            session += 1
            valid = []
            nextExtranonce2 = [:]
            latest = nil
        }
        sessionURL = url
        if let id = sub.sessionID { sessionIDs[url] = SessionID(id: id, extranonce1: sub.extranonce1) }
        extranonce1 = sub.extranonce1
        extranonce2Size = sub.extranonce2Size
        status.connected = true
        let waiting = queued
        queued = []
        var actions: [Action] = [
            .log(
                .info,
                "pool \(url): subscribed\(resumed ? " (session resumed)" : ""), extranonce1 \(Hex.encode(sub.extranonce1)), extranonce2 \(sub.extranonce2Size) bytes"
            )
        ]
        if resumed {
            for share in waiting { actions.append(submit(share)) }
        } else {
            for share in waiting {
                actions += verdict(share, .stale(reason: "the pool is gone: session not resumed"), nil)
            }
        }
        return actions
    }
}
