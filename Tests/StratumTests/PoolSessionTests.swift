import Chain
import Foundation
import Logging
import Mining
import OpenSSLSHA256
import SHA256
import Stratum
import Testing
import WorkSources

/// The pool session's state machine, fed tables of events; no pool, no sockets, no sleeps. Shares are
/// found here by hashing with OpenSSL (not the module's SHA-256) and kept only when the hash's top ten
/// bits are zero, which meets every share target these tables use (difficulty 1e-7 and 2e-7).
@Suite struct PoolSessionTests {
    typealias Event = PoolSession.Event
    typealias Action = PoolSession.Action

    static let primary = StratumURL(host: "127.0.0.1", port: 3333)
    static let backup = StratumURL(host: "127.0.0.1", port: 3334)
    static let subscription = StratumSubscription(sessionID: "s1", extranonce1: [1, 2, 3, 4], extranonce2Size: 4)
    static let start = Date(timeIntervalSince1970: 1_800_000_000)

    func session(pools: Int = 1, _ configure: (inout PoolWork.Options) -> Void = { _ in }) -> PoolSession {
        var o = PoolWork.Options(pools: Array([Self.primary, Self.backup].prefix(pools)), user: "bcrt1qtest.rig1")
        configure(&o)
        var s = PoolSession(options: o, seed: 7)
        s.jitter = 0
        return s
    }

    /// A notify: bits 1d00ffff makes no share a block, 207fffff every share (at these difficulties).
    func job(_ id: String, clean: Bool = true, bits: UInt32 = 0x1d00_ffff, parent: UInt8 = 1) -> StratumJob {
        StratumJob(
            jobID: id, previousHashWords: [UInt8](repeating: parent, count: 32), coinbase1: [1, 0, 0, 0, 1],
            coinbase2: [0xff, 0xff, 0xff, 0xff, 0], merkleBranch: [[UInt8](repeating: 7, count: 32)],
            version: 0x2000_0000, bits: bits, time: 0x6935_b6e1, cleanJobs: clean)
    }

    /// Takes the events in order; every action but logs, described.
    func take(_ s: inout PoolSession, _ events: [Event]) -> [String] {
        events.flatMap { s.event($0, at: Self.start) }.compactMap(describe)
    }

    /// The log lines the events give, as "level: text".
    func logs(_ s: inout PoolSession, _ events: [Event]) -> [String] {
        events.flatMap { s.event($0, at: Self.start) }.compactMap { a in
            if case .log(let level, let text) = a { "\(level): \(text)" } else { nil }
        }
    }

    func describe(_ a: Action) -> String? {
        switch a {
        case .log: nil
        case .open(let url, let resume): "open \(url) resume \(resume ?? "-")"
        case .reconnect(let after): "reconnect after \(after.map { "\(milliseconds($0)) ms" } ?? "none")"
        case .endLoop: "end loop"
        case .closeConnection: "close"
        case .dropConnection(let e): "drop: \(e.message)"
        case .setEngineJob(let job): "engine job \(job.id)"
        case .clearEngineJob: "clear engine job"
        case .keepBlock(let share): "keep block of job \(share.context.jobID)"
        case .submit(_, let m):
            "submit \(m.jobID) \(hex(m.extranonce2)) \(word(m.nonce))\(m.versionBits.map { " " + word($0) } ?? "")"
        case .recordBlock(let share, _): "record block \(share.outcome)\(share.superseded ? " superseded" : "")"
        case .deliver(let share):
            "deliver \(share.outcome)\(share.isBlock ? " block" : "")\(share.superseded ? " superseded" : "")"
        case .probePrimary(let url): "probe \(url)"
        case .fail(let e): "fail: \(e.message)"
        }
    }

    func milliseconds(_ d: Duration) -> Int64 {
        d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000
    }
    func hex(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }
    func word(_ v: UInt32) -> String { String(format: "%08x", v) }

    /// Connected, subscribed (mask 1fffe000) and authorized on the current pool, at `difficulty`.
    func handshake(_ s: inout PoolSession, difficulty: Double = 1e-7) -> [String] {
        take(
            &s,
            [
                .connecting, .pool(.versionMask(0x1fff_e000)), .pool(.subscribed(Self.subscription)),
                .pool(.authorized), .pool(.difficulty(difficulty)),
            ])
    }

    /// The engine job a notify made.
    func engineJob(_ s: inout PoolSession, _ notify: StratumJob, current: UInt64? = nil) throws -> MiningJob {
        let actions = s.event(.pool(.job(notify), engineJob: current), at: Self.start)
        for case .setEngineJob(let job) in actions { return job }
        throw Failure("no engine job for \(notify.jobID)")
    }

    /// A nonce of `job` whose hash (OpenSSL) has ten leading zero bits, searching from `from`.
    func share(of job: MiningJob, from: UInt32 = 0, good: Bool = true) throws -> PoolSession.Solution {
        var header = job.header
        for nonce in from...UInt32.max {
            header.nonce = nonce
            let d = OpenSSLSHA256.hashTwice(header.bytes)
            let meets = d[31] == 0 && d[30] < 0x40
            guard meets == good, good || d[31] == 0xff else { continue }
            return PoolSession.Solution(
                engineJobID: job.id, nonce: nonce, header: header, hash: try SHA256Digest(bytes: d))
        }
        throw Failure("no share")
    }

    func shareOf(_ s: inout PoolSession, _ solution: PoolSession.Solution) throws -> PoolSession.Share {
        for a in s.event(.solution(solution), at: Self.start) {
            if case .submit(let share, _) = a { return share }
            if case .keepBlock(let share) = a { return share }
        }
        throw Failure("the solution was neither sent nor kept")
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }

    // MARK: Tables

    @Test func handshakeThenAJob() throws {
        var s = session()
        #expect(take(&s, [.start]) == ["reconnect after none"])
        #expect(take(&s, [.connecting]) == ["open stratum+tcp://127.0.0.1:3333 resume -"])
        let log = logs(
            &s, [.pool(.versionMask(0x1fff_e000)), .pool(.subscribed(Self.subscription)), .pool(.authorized)])
        #expect(
            log == [
                "info: pool stratum+tcp://127.0.0.1:3333: version rolling mask 1fffe000",
                "info: pool stratum+tcp://127.0.0.1:3333: subscribed, extranonce1 01020304, extranonce2 4 bytes",
                "info: pool stratum+tcp://127.0.0.1:3333: worker bcrt1qtest.rig1 authorized",
            ])
        #expect(take(&s, [.pool(.difficulty(0.5))]).isEmpty)
        #expect(s.status.connected && s.status.difficulty == 0.5)
        #expect(take(&s, [.pool(.job(job("1")))]) == ["engine job 1"])
    }

    @Test func jobsRollVersionThenExtranonceAndDifficultyAppliesFromTheNextJob() throws {
        var s = session { $0.versionRollsPerExtranonce = 2 }
        _ = handshake(&s)
        let first = try engineJob(&s, job("1"))
        // Not clean, engine busy on this session's job: taken at the next switch.
        #expect(take(&s, [.pool(.difficulty(2e-7)), .pool(.job(job("2", clean: false)), engineJob: first.id)]) == [])
        let versions = (0..<3).compactMap { _ in s.nextJob().job }.map { UInt32(bitPattern: $0.header.version) }
        #expect(versions == [0x2000_0000, 0x2000_2000, 0x2000_0000])
        let a = try shareOf(&s, try share(of: first))
        let b = try shareOf(&s, try share(of: try #require(s.nextJob().job)))
        #expect(a.context.difficulty == 1e-7 && a.context.jobID == "1")
        #expect(b.context.difficulty == 2e-7 && b.context.jobID == "2")
        // Two versions per extranonce2: the fourth job is extranonce2 1 with version bits 2000, which go
        // as `mining.submit`'s 6th parameter.
        #expect(b.context.extranonce2 == [0, 0, 0, 1] && b.context.version == 0x2000_2000)
        #expect(take(&s, [.solution(b.solution)]) == ["submit 2 00000001 \(word(b.solution.nonce)) 00002000"])
    }

    @Test func aNewVersionMaskOrExtranonceRollsFreshWork() throws {
        var s = session()
        _ = handshake(&s)
        _ = try engineJob(&s, job("1"))
        // A new mask: the next extranonce2, then every version the mask allows (bits 13 and 14).
        _ = take(&s, [.pool(.versionMask(0x6000))])
        let versions = (0..<5).compactMap { _ in s.nextJob().job }.map { UInt32(bitPattern: $0.header.version) }
        #expect(versions == [0x2000_0000, 0x2000_2000, 0x2000_4000, 0x2000_6000, 0x2000_0000])
        // A new extranonce1 of one byte of extranonce2, no rolling: 256 jobs, then none (never a reuse).
        _ = take(&s, [.pool(.versionMask(0)), .pool(.extranonce(extranonce1: [5, 6, 7, 8], extranonce2Size: 1))])
        let first = try #require(s.nextJob().job)
        let found = try shareOf(&s, try share(of: first))
        #expect(
            found.context.extranonce2 == [0]
                && found.context.coinbase == [1, 0, 0, 0, 1, 5, 6, 7, 8, 0, 0xff, 0xff, 0xff, 0xff, 0])
        var jobs = 1
        while s.nextJob().job != nil && jobs < 1000 { jobs += 1 }
        #expect(jobs == 256)
        let (none, warning) = s.nextJob()
        #expect(none == nil)
        #expect(warning == .log(.warning, "pool job 1: every extranonce2 used; waiting for the next job"))
    }

    @Test func shareVerdictsAreCountedAndTheShareLimitFinishes() throws {
        var s = session { $0.shares = 2 }
        _ = handshake(&s)
        let job1 = try engineJob(&s, job("1"))
        let found = try share(of: job1)
        #expect(take(&s, [.solution(found)]) == ["submit 1 00000000 \(word(found.nonce))"])
        let share = try shareOf(&s, found)
        let rows: [(Event, [String])] = [
            (.verdict(share, .accepted, milliseconds: 1.5), ["deliver accepted"]),
            (
                .verdict(share, .rejected(reason: "Duplicate share"), milliseconds: 2),
                ["deliver rejected: Duplicate share", "clear engine job", "close"]
            ),
            (
                .verdict(share, .stale(reason: "no verdict: timeout"), milliseconds: nil),
                ["deliver stale: no verdict: timeout"]
            ),
        ]
        for (event, expected) in rows { #expect(take(&s, [event]) == expected, "\(event)") }
        #expect(s.status.accepted == 1 && s.status.rejected == 1 && s.status.stale == 1)
        #expect(s.status.reasons == ["Duplicate share": 1, "stale: no verdict: timeout": 1])
        #expect(s.status.lastShareTime == Self.start && s.done)
    }

    @Test func staleAndUncheckedShares() throws {
        var s = session()
        _ = handshake(&s)
        let job1 = try engineJob(&s, job("1"))
        let bad = try share(of: job1, good: false)
        #expect(take(&s, [.solution(bad)]) == [])
        #expect(logs(&s, [.solution(bad)]).first?.hasPrefix("error: share of job 1 nonce") == true)
        #expect(
            take(&s, [.solution(PoolSession.Solution(engineJobID: 99, nonce: 0, header: job1.header, hash: bad.hash))])
                == [])
        let old = try share(of: job1)
        _ = try engineJob(&s, job("2"), current: job1.id)  // clean: job 1 replaced
        #expect(take(&s, [.solution(old)]) == ["deliver stale: job replaced by the pool"])
        #expect(s.status.reasons == ["stale: job replaced by the pool": 1])
    }

    @Test func twoBlocksOnOneParentCountOnce() throws {
        var s = session { $0.blocks = 2 }
        _ = handshake(&s)
        let job1 = try engineJob(&s, job("1", bits: 0x207f_ffff))
        let first = try share(of: job1)
        let second = try share(of: job1, from: first.nonce + 1)
        #expect(take(&s, [.solution(first)]) == ["keep block of job 1"])
        let a = try shareOf(&s, first)
        #expect(take(&s, [.kept(a, failure: nil)]) == ["submit 1 00000000 \(word(first.nonce))"])
        #expect(
            take(&s, [.verdict(a, .accepted, milliseconds: 1)]) == ["record block accepted", "deliver accepted block"])
        let b = try shareOf(&s, second)
        #expect(
            take(&s, [.verdict(b, .accepted, milliseconds: 1)]) == [
                "record block accepted superseded", "deliver accepted block superseded",
            ])
        #expect(s.status.blocks == 1 && s.status.supersededBlocks == 1 && !s.done)
        // A block on another parent counts: the limit of two is reached.
        let job2 = try engineJob(&s, job("2", bits: 0x207f_ffff, parent: 2), current: job1.id)
        let c = try shareOf(&s, try share(of: job2))
        #expect(
            take(&s, [.verdict(c, .accepted, milliseconds: 1)]) == [
                "record block accepted", "deliver accepted block", "clear engine job", "close",
            ])
        #expect(s.status.blocks == 2 && s.done)
    }

    @Test func aBlockThatCouldNotBeKeptIsSentAndStopsTheSource() throws {
        var s = session()
        _ = handshake(&s)
        let job1 = try engineJob(&s, job("1", bits: 0x207f_ffff))
        let found = try share(of: job1)
        let share = try shareOf(&s, found)
        let disk = WorkError(.disk, "pool: journal full")
        let rows: [(Event, [String])] = [
            (.kept(share, failure: disk), ["clear engine job", "submit 1 00000000 \(word(found.nonce))"]),
            (
                .verdict(share, .accepted, milliseconds: 1),
                ["record block accepted", "deliver accepted block", "clear engine job", "close"]
            ),
            (.disconnected(reason: nil, cancelled: false), ["end loop"]),
            (.runEnded, ["clear engine job", "fail: pool: journal full"]),
        ]
        for (event, expected) in rows { #expect(take(&s, [event]) == expected, "\(event)") }
    }

    @Test func failoverBacksOffAndReturnsToThePrimary() throws {
        var s = session(pools: 2)
        let rows: [(Event, [String])] = [
            (.start, ["reconnect after none"]),
            (.connecting, ["open stratum+tcp://127.0.0.1:3333 resume -"]),
            (.disconnected(reason: "cannot connect", cancelled: false), ["reconnect after 500 ms"]),
            (.connecting, ["open stratum+tcp://127.0.0.1:3334 resume -"]),
            (.disconnected(reason: "cannot connect", cancelled: false), ["reconnect after 1000 ms"]),
            (.connecting, ["open stratum+tcp://127.0.0.1:3333 resume -"]),
            (.disconnected(reason: "cannot connect", cancelled: false), ["reconnect after 2000 ms"]),
            (.connecting, ["open stratum+tcp://127.0.0.1:3334 resume -"]),
        ]
        for (event, expected) in rows { #expect(take(&s, [event]) == expected, "\(event)") }
        #expect(s.status.failovers == 3)
        // Mining on the backup: the primary is probed, and taken back when it answers.
        _ = take(&s, [.pool(.subscribed(Self.subscription)), .pool(.job(job("1")))])
        let back: [(Event, [String])] = [
            (.probeDue, ["probe stratum+tcp://127.0.0.1:3333"]),
            (.primaryAnswered, ["close"]),
            (.disconnected(reason: nil, cancelled: false), ["reconnect after none"]),
            (.connecting, ["open stratum+tcp://127.0.0.1:3333 resume -"]),
            (.probeDue, []),
            // A productive connection counts as the first failure again.
            (.pool(.job(job("2"))), []),
            (.disconnected(reason: "connection lost", cancelled: false), ["reconnect after 500 ms"]),
        ]
        for (event, expected) in back {
            #expect(take(&s, [event]).filter { !$0.hasPrefix("engine job") } == expected, "\(event)")
        }
        #expect(s.status.failovers == 5 && s.url == Self.primary)
    }

    @Test func failoverLogsAndJitter() {
        var s = session(pools: 2)
        _ = take(&s, [.start, .connecting])
        #expect(
            logs(&s, [.disconnected(reason: "worker bcrt1qtest.rig1 not authorized: refused", cancelled: false)]) == [
                "warning: pool stratum+tcp://127.0.0.1:3333: worker bcrt1qtest.rig1 not authorized: refused",
                "warning: pool stratum+tcp://127.0.0.1:3333 failed; trying stratum+tcp://127.0.0.1:3334",
            ])
        // One pool: no failover counted; the default jitter keeps the first delay within ±25 % of 0.5 s.
        var one = session()
        one.jitter = 0.25
        _ = take(&one, [.start])
        for _ in 0..<20 {
            // A connection that got a job: the next delay starts from 0.5 s again.
            let actions = take(
                &one,
                [
                    .connecting, .pool(.subscribed(Self.subscription)), .pool(.job(job("1"))),
                    .disconnected(reason: "x", cancelled: false),
                ])
            let delay = actions.first { $0.hasPrefix("reconnect") }
            let ms = delay.flatMap { Int($0.split(separator: " ")[2]) } ?? -1
            #expect((375...625).contains(ms), "\(actions)")
        }
        #expect(one.status.failovers == 0)
    }

    @Test func queuedSharesAreSentOnResumeElseCountedStale() throws {
        for (resume, expected) in [
            (true, ["submit 1 00000000"]), (false, ["deliver stale: the pool is gone: session not resumed"]),
        ] {
            var s = session()
            _ = take(&s, [.start])
            _ = handshake(&s)
            let job1 = try engineJob(&s, job("1"))
            #expect(
                take(&s, [.disconnected(reason: "connection lost", cancelled: false)]) == ["reconnect after 500 ms"])
            let found = try share(of: job1)
            #expect(take(&s, [.solution(found)]) == [] && s.queued.count == 1)
            #expect(take(&s, [.connecting]) == ["open stratum+tcp://127.0.0.1:3333 resume s1"])
            let sub = StratumSubscription(
                sessionID: "s2", extranonce1: resume ? [1, 2, 3, 4] : [9, 9, 9, 9], extranonce2Size: 4)
            let got = take(&s, [.pool(.subscribed(sub))]).map { resume ? String($0.prefix(17)) : $0 }
            #expect(got == expected && s.queued.isEmpty)
        }
    }

    @Test func sharesStillQueuedWhenTheRunEndsAreCountedStale() throws {
        var s = session { $0.maxQueuedShares = 1 }
        _ = take(&s, [.start])
        _ = handshake(&s)
        let job1 = try engineJob(&s, job("1"))
        _ = take(&s, [.disconnected(reason: "connection lost", cancelled: false)])
        let first = try share(of: job1)
        let second = try share(of: job1, from: first.nonce + 1)
        #expect(take(&s, [.solution(first)]) == [])
        #expect(take(&s, [.solution(second)]) == ["deliver stale: share queue full"])
        #expect(take(&s, [.finish]) == ["clear engine job", "close"])
        #expect(take(&s, [.connecting]) == ["end loop"])
        #expect(
            take(&s, [.runEnded]) == ["clear engine job", "deliver stale: the run ended before a pool took it"])
        #expect(s.status.stale == 2 && s.queued.isEmpty)
    }

    @Test func malformedOrRefusedInput() throws {
        var s = session()
        _ = handshake(&s)
        let badBits = take(&s, [.pool(.job(job("1", bits: 0)))])
        #expect(badBits.count == 1 && badBits[0].hasPrefix("drop: mining.notify: param 6 (nbits): "))
        let badDifficulty = take(&s, [.pool(.difficulty(-1)), .pool(.job(job("1")))])
        #expect(badDifficulty.count == 1 && badDifficulty[0].hasPrefix("drop: mining.set_difficulty: "))
        // A refused authorize ends the connection in the client; the session retries after a backoff.
        #expect(take(&s, [.disconnected(reason: "not authorized", cancelled: false)]) == ["reconnect after 500 ms"])
        #expect(!s.status.connected && s.status.failovers == 0)
    }

    @Test func reconnectRequestsFollowTheSameHostOnly() {
        for allow in [false, true] {
            var s = session { $0.allowRedirect = allow }
            _ = take(&s, [.start])
            _ = handshake(&s)
            let rows: [(Event, [String])] = [
                (.pool(.reconnect(host: "pool.example", port: 4444, waitSeconds: 3)), ["close"]),
                (.disconnected(reason: nil, cancelled: false), ["reconnect after 3000 ms"]),
                (
                    .connecting,
                    [
                        allow
                            ? "open stratum+tcp://pool.example:4444 resume -"
                            : "open stratum+tcp://127.0.0.1:3333 resume s1"
                    ]
                ),
            ]
            for (event, expected) in rows { #expect(take(&s, [event]) == expected, "\(event) allow \(allow)") }
        }
    }

    @Test func cancellationEndsTheLoopWithoutAFailover() {
        var s = session(pools: 2)
        _ = take(&s, [.start, .connecting])
        #expect(take(&s, [.disconnected(reason: nil, cancelled: true)]) == ["end loop"])
        #expect(s.status.failovers == 0)
    }
}
