import Foundation
import NIOCore
import NIOPosix
import OpenSSLSHA256
import Synchronization

/// A stratum v1 pool of FlexMiner's own, for tests and `scripts/test`. It speaks the protocol as the
/// pools in use do, quirks included: it answers `mining.configure` with its own mask whatever was asked,
/// never answers `mining.extranonce.subscribe`, sends `set_difficulty` and the first `notify` before the
/// reply to `mining.authorize`, changes the difficulty between jobs, sends `clean_jobs`, can ask for a
/// reconnect, die mid-session, come back, and send bad input on demand.
///
/// Its jobs build on a chain of its own, as a pool in front of a node does: every job has the current tip
/// as its previous block, until a share meets the network target on that tip; that block is the new tip
/// (`Stats.chain`) and a clean job on it follows (after `newTipDelay`), one height up. Other blocks on the
/// same parent are still good shares, but do not extend the chain (`Share.landed` false).
///
/// It judges shares independently of the modules under test: the coinbase, merkle root and header are
/// rebuilt here with their own few lines, hashed with OpenSSL, and the hash compared with the job's
/// difficulty the way pools do (share difficulty = difficulty-1 target / hash, in floating point).
package final class TestPool: Sendable {
    package struct Config: Sendable {
        /// Difficulties in force for successive jobs (cycled); the first is sent on subscribe.
        package var difficulties: [Double] = [0.001]
        /// The mask answered to `mining.configure`, whatever was asked.
        package var versionMask: UInt32 = 0x1fff_e000
        package var extranonce2Size = 4
        /// A new job this often (nil: only the first job).
        package var jobInterval: Duration? = .milliseconds(500)
        /// Every n-th job has `clean_jobs` true (the first always does).
        package var cleanEvery = 3
        /// nbits of the jobs: 1d00ffff (difficulty 1) makes blocks practically impossible; 207fffff
        /// (regtest) makes every share a block.
        package var bits: UInt32 = 0x1d00_ffff
        package var branchLength = 2
        /// Where accepted shares go, one JSON line each (for scripts).
        package var sharesFile: String?
        /// Accept connections and read, but never send anything (a pool that hangs).
        package var silent = false
        /// Shares of the job a clean notify replaced are still taken this long after it, for shares that
        /// were on the wire (real pools allow for the round trip; a loaded test machine needs more).
        package var staleGrace: Duration = .seconds(3)
        /// The block height in the coinbase's BIP34 push (3 bytes, as pools in front of a node send it) of
        /// the first tip's jobs; one more for each block that extends the chain.
        package var height = 200
        /// How long after a block extends the chain the clean job on the new tip is sent (a real pool
        /// takes tens of milliseconds: its node validates the block and builds a template).
        package var newTipDelay: Duration = .zero
        /// The miner's journal: a share that is a block is refused ("Block not journaled") unless a
        /// `pool-block` record with its hash and header is in this file already, as the miner must write
        /// it (fsync'd) before it sends the share.
        package var journalToCheck: String?
        package init() {}
    }

    /// Bad input to send on the next subscribe.
    package enum Misbehaviour: Sendable {
        case hugeLine, nonHexBranch, negativeDifficulty, malformedJSON
        /// `client.reconnect` to a port no socket can have ("70000", then -1 as a number).
        case reconnectToPortOutOfRange, reconnectToNegativePort
    }

    struct Job: Sendable {
        let id: String
        let prevhash: [UInt8]
        let coinb1: [UInt8]
        let coinb2: [UInt8]
        let branch: [[UInt8]]
        let version: UInt32
        let bits: UInt32
        let time: UInt32
        let clean: Bool
        let difficulty: Double
    }

    struct State: Sendable {
        var jobs: [String: Job] = [:]
        var staleBefore = 0
        /// Jobs before the latest clean one stay valid this long after it was sent: a share already on
        /// the wire when the clean notify went out is not the miner's fault (many pools allow for it).
        var previousStaleBefore = 0
        var cleanSentAt = ContinuousClock.now
        var jobCounter = 0
        var latest: Job?
        var difficulty: Double
        var stats = Stats()
        var seen: Set<String> = []
        var sessions: [String: [UInt8]] = [:]
        var nextExtranonce1: UInt32 = 0x2bd6_0e6b
        var misbehave: Misbehaviour?
        var channels: [ObjectIdentifier: any Channel] = [:]
        /// The previous block of new jobs, in stratum's order (each 4-byte word byte-swapped), and its height.
        var tip: [UInt8] = (0..<32).map { _ in UInt8.random(in: 0...255) }
        var height: Int
    }

    package let config: Config
    let state: Mutex<State>
    let listener = Mutex<(any Channel)?>(nil)
    let ticker = Mutex<Task<Void, Never>?>(nil)
    package let port: Int

    private init(config: Config, port: Int) {
        self.config = config
        self.port = port
        state = Mutex(State(difficulty: config.difficulties.first ?? 1, height: config.height))
    }

    /// Listens on 127.0.0.1 (`port` 0: a free port) and starts sending jobs.
    package static func start(config: Config = Config(), port: Int = 0) async throws -> TestPool {
        let bound = try await bind(port: port, pool: nil)
        let pool = TestPool(config: config, port: bound.localAddress?.port ?? port)
        try? await bound.close()
        try await pool.listen()
        pool.newJob(clean: true, broadcast: false)
        pool.startTicker()
        return pool
    }

    static func bind(port: Int, pool: TestPool?) async throws -> any Channel {
        try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { ch in
                ch.eventLoop.makeCompletedFuture {
                    if let pool { try ch.pipeline.syncOperations.addHandler(Connection(pool: pool)) }
                }
            }
            .bind(host: "127.0.0.1", port: port).get()
    }

    func listen() async throws {
        let ch = try await Self.bind(port: port, pool: self)
        listener.withLock { $0 = ch }
    }

    func startTicker() {
        guard let interval = config.jobInterval else { return }
        let task = Task { [weak self] in
            var n = 1
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                guard let self else { return }
                n += 1
                self.newJob(clean: self.config.cleanEvery > 0 && n % self.config.cleanEvery == 0, broadcast: true)
            }
        }
        ticker.withLock { $0 = task }
    }

    /// The pool dies: stops listening and drops every connection.
    package func stop() async {
        ticker.withLock { $0?.cancel() }
        let l = listener.withLock { l in
            defer { l = nil }
            return l
        }
        try? await l?.close()
        for ch in state.withLock({ Array($0.channels.values) }) { try? await ch.close() }
    }

    /// The pool comes back on the same port.
    package func restart() async throws {
        try await listen()
        startTicker()
    }

    package var stats: Stats { state.withLock { $0.stats } }
    package var connectedClients: Int { state.withLock { $0.channels.count } }

    package func misbehave(_ m: Misbehaviour) { state.withLock { $0.misbehave = m } }

    /// Sends `client.reconnect` to every connection.
    package func requestReconnect(host: String? = nil, port: Int? = nil, wait: Int = 0) {
        broadcast(
            line(["id": NSNull(), "method": "client.reconnect", "params": [host ?? "", port ?? self.port, wait]]))
    }

    /// Sends `mining.ping` (id 900) to every connection; pongs are counted in `stats`.
    package func ping() {
        broadcast(line(["id": 900, "method": "mining.ping", "params": []]))
    }

    /// A new job (with the difficulty schedule's next value, sent first when it changes).
    package func newJob(clean: Bool, broadcast send: Bool = true) {
        let (job, diffChanged) = state.withLock { s in
            s.jobCounter += 1
            let d = config.difficulties[(s.jobCounter - 1) % max(config.difficulties.count, 1)]
            let changed = d != s.difficulty
            s.difficulty = d
            let job = makeJob(
                number: s.jobCounter, clean: clean || s.jobCounter == 1, difficulty: d, prevhash: s.tip,
                height: s.height)
            if job.clean {
                s.previousStaleBefore = s.staleBefore
                s.staleBefore = s.jobCounter
                s.cleanSentAt = .now
            }
            s.jobs[job.id] = job
            if s.jobs.count > 200, let oldest = s.jobs.keys.min(by: { Int($0, radix: 16)! < Int($1, radix: 16)! }) {
                s.jobs[oldest] = nil
            }
            s.latest = job
            return (job, changed)
        }
        guard send else { return }
        if diffChanged {
            broadcast(line(["id": NSNull(), "method": "mining.set_difficulty", "params": [job.difficulty]]))
        }
        broadcast(notify(job))
    }

    func makeJob(number: Int, clean: Bool, difficulty: Double, prevhash: [UInt8], height: Int) -> Job {
        var rng = SystemRandomNumberGenerator()
        func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) } }
        // A coinbase shaped like a real one: version, one input with a BIP34-ish scriptSig that holds the
        // extranonces, one output, locktime.
        let coinb1 =
            [1, 0, 0, 0, 1] + [UInt8](repeating: 0, count: 32) + [0xff, 0xff, 0xff, 0xff]
            + [UInt8(4 + 4 + config.extranonce2Size + 6), 3]
            + [UInt8(height & 0xff), UInt8(height >> 8 & 0xff), UInt8(height >> 16 & 0x7f)]
        let coinb2 = bytes(6) + [0xff, 0xff, 0xff, 0xff, 1] + bytes(8) + [22, 0, 20] + bytes(20) + [0, 0, 0, 0]
        return Job(
            id: String(number, radix: 16), prevhash: prevhash, coinb1: coinb1, coinb2: coinb2,
            branch: (0..<config.branchLength).map { _ in bytes(32) }, version: 0x2000_0000, bits: config.bits,
            time: UInt32(Date().timeIntervalSince1970), clean: clean, difficulty: difficulty)
    }

    func notify(_ j: Job) -> String {
        line([
            "id": NSNull(), "method": "mining.notify",
            "params": [
                j.id, hex(j.prevhash), hex(j.coinb1), hex(j.coinb2), j.branch.map(hex), word(j.version), word(j.bits),
                word(j.time), j.clean,
            ] as [Any],
        ])
    }

    func broadcast(_ text: String) {
        guard !config.silent else { return }
        for ch in state.withLock({ Array($0.channels.values) }) { write(ch, text) }
    }

    func write(_ ch: any Channel, _ text: String) {
        var b = ch.allocator.buffer(capacity: text.utf8.count + 1)
        b.writeString(text)
        b.writeInteger(UInt8(ascii: "\n"))
        ch.writeAndFlush(b, promise: nil)
    }

    // MARK: One connection

    final class Connection: ChannelInboundHandler, @unchecked Sendable {
        // @unchecked: used only on its channel's event loop.
        typealias InboundIn = ByteBuffer
        let pool: TestPool
        var buffer = ByteBuffer()
        var extranonce1: [UInt8] = []
        var session = ""
        var mask: UInt32 = 0

        init(pool: TestPool) { self.pool = pool }

        func channelActive(context: ChannelHandlerContext) {
            let ch = context.channel
            pool.state.withLock {
                $0.channels[ObjectIdentifier(ch)] = ch
                $0.stats.connections += 1
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            let id = ObjectIdentifier(context.channel)
            pool.state.withLock { _ = $0.channels.removeValue(forKey: id) }
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var incoming = unwrapInboundIn(data)
            buffer.writeBuffer(&incoming)
            while let nl = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
                let text = buffer.readString(length: nl - buffer.readerIndex)!
                buffer.moveReaderIndex(forwardBy: 1)
                for reply in pool.handle(text, connection: self) { pool.write(context.channel, reply) }
            }
            buffer.discardReadBytes()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
    }

    func handle(_ text: String, connection c: Connection) -> [String] {
        guard !config.silent else { return [] }
        guard let o = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] else { return [] }
        let id = o["id"] ?? NSNull()
        let params = o["params"] as? [Any] ?? []
        switch o["method"] as? String ?? "" {
        case "":
            if (o["id"] as? Int) == 900, o["result"] as? String == "pong" { state.withLock { $0.stats.pongs += 1 } }
            return []
        case "mining.configure":
            let asked = ((params.count > 1 ? params[1] : nil) as? [String: Any])?["version-rolling.mask"] as? String
            state.withLock { $0.stats.configureRequests.append(asked ?? "") }
            c.mask = config.versionMask  // the pool's own mask: the request is ignored
            return [
                line([
                    "id": id, "error": NSNull(),
                    "result": ["version-rolling": true, "version-rolling.mask": word(config.versionMask)],
                ])
            ]
        case "mining.subscribe":
            let strings = params.compactMap { $0 as? String }
            let (e1, session, misbehave, job, difficulty) = state.withLock { s in
                s.stats.subscribes.append(strings)
                let resumeID = strings.count > 1 ? strings[1] : nil
                let e1: [UInt8]
                let session: String
                if let r = resumeID, let known = s.sessions[r] {
                    e1 = known
                    session = r
                } else {
                    s.nextExtranonce1 &+= 1
                    e1 = withUnsafeBytes(of: s.nextExtranonce1.bigEndian) { Array($0) }
                    session = hex(Array(e1.reversed()))
                    s.sessions[session] = e1
                }
                let m = s.misbehave
                s.misbehave = nil
                return (e1, session, m, s.latest!, s.difficulty)
            }
            c.extranonce1 = e1
            c.session = session
            var out = [
                line([
                    "id": id, "error": NSNull(),
                    "result": [[["mining.notify", session]], hex(e1), config.extranonce2Size] as [Any],
                ]),
                line(["id": NSNull(), "method": "mining.set_difficulty", "params": [difficulty]]),
                notify(job),
            ]
            switch misbehave {
            case .hugeLine: out.append("{\"pad\":\"" + String(repeating: "a", count: 1 << 20) + "\"}")
            case .reconnectToPortOutOfRange:
                out.append(line(["id": NSNull(), "method": "client.reconnect", "params": ["", "70000", 0] as [Any]]))
            case .reconnectToNegativePort:
                out.append(line(["id": NSNull(), "method": "client.reconnect", "params": ["", -1, 0] as [Any]]))
            case .nonHexBranch:
                out.append(
                    line([
                        "id": NSNull(), "method": "mining.notify",
                        "params": [
                            "bad", hex(job.prevhash), hex(job.coinb1), hex(job.coinb2),
                            ["zz" + String(repeating: "0", count: 62)],
                            word(job.version), word(job.bits), word(job.time), true,
                        ] as [Any],
                    ]))
            case .negativeDifficulty:
                out.append(line(["id": NSNull(), "method": "mining.set_difficulty", "params": [-1]]))
            case .malformedJSON: out.append("{\"id\": 1, \"result\": [tru")
            case nil: break
            }
            return out
        case "mining.authorize":
            state.withLock { $0.stats.authorizes.append(params.first as? String ?? "") }
            return [line(["id": id, "result": true, "error": NSNull()])]
        case "mining.extranonce.subscribe":
            return []  // some pools never answer this
        case "mining.suggest_difficulty":
            return [line(["id": id, "result": true, "error": NSNull()])]
        case "mining.submit":
            let verdict = judge(params, connection: c)
            if let reason = verdict {
                state.withLock { $0.stats.rejected.append(reason) }
                return [line(["id": id, "result": NSNull(), "error": [23, reason, NSNull()] as [Any]])]
            }
            return [line(["id": id, "result": true, "error": NSNull()])]
        default:
            return [line(["id": id, "result": NSNull(), "error": [20, "unknown method", NSNull()] as [Any]])]
        }
    }

    /// Nil when the share is good, else the reason it is rejected. The check of record: every piece is
    /// rebuilt here, hashed with OpenSSL.
    func judge(_ p: [Any], connection c: Connection) -> String? {
        let s = p.compactMap { $0 as? String }
        guard s.count == p.count, p.count == 5 || p.count == 6 else { return "bad params" }
        let (user, jobID, en2Hex, ntimeHex, nonceHex) = (s[0], s[1], s[2], s[3], s[4])
        guard let job = state.withLock({ $0.jobs[jobID] }) else { return "Job not found" }
        let stale = state.withLock { s in
            let n = Int(jobID, radix: 16)!
            let limit = ContinuousClock.now - s.cleanSentAt < config.staleGrace ? s.previousStaleBefore : s.staleBefore
            return n < limit
        }
        if stale { return "Stale" }
        guard let en2 = unhex(en2Hex), en2.count == config.extranonce2Size else { return "Invalid extranonce2 size" }
        guard ntimeHex == word(job.time) else { return "ntime out of range" }
        guard let nonce = UInt32(nonceHex, radix: 16), nonceHex.count == 8 else { return "Invalid nonce" }
        var version = job.version
        var bitsText: String? = nil
        if p.count == 6 {
            guard let bits = UInt32(s[5], radix: 16), s[5].count == 8 else { return "Invalid version bits" }
            guard bits & ~c.mask == 0 else { return "Version bits outside the mask" }
            version = (job.version & ~c.mask) | bits
            bitsText = s[5]
        }
        let key = [jobID, c.session, en2Hex, ntimeHex, nonceHex, bitsText ?? ""].joined(separator: "/")
        guard state.withLock({ $0.seen.insert(key).inserted }) else { return "Duplicate share" }
        // The coinbase, its txid, the merkle root and the header, rebuilt from what was sent.
        let coinbase = job.coinb1 + c.extranonce1 + en2 + job.coinb2
        var root = OpenSSLSHA256.hashTwice(coinbase)
        for h in job.branch { root = OpenSSLSHA256.hashTwice(root + h) }
        var header: [UInt8] = []
        func le(_ v: UInt32) {
            header += [UInt8(v & 0xff), UInt8(v >> 8 & 0xff), UInt8(v >> 16 & 0xff), UInt8(v >> 24)]
        }
        le(version)
        for w in stride(from: 0, to: 32, by: 4) { header += job.prevhash[w..<w + 4].reversed() }
        header += root
        le(job.time)
        le(job.bits)
        le(nonce)
        let digest = OpenSSLSHA256.hashTwice(header)  // internal byte order
        let hash = Array(digest.reversed())  // most significant byte first
        let value = hash.reduce(0.0) { $0 * 256 + Double($1) }
        let shareDifficulty = value == 0 ? .infinity : 0xffff * pow(2, 208) / value
        guard shareDifficulty >= job.difficulty * (1 - 1e-9) else { return "Low difficulty share" }
        let exponent = Int(job.bits >> 24)
        let target = Double(job.bits & 0x7f_ffff) * pow(2, Double(8 * (exponent - 3)))
        if value <= target, let path = config.journalToCheck, !journaled(hash: hex(hash), header: hex(header), in: path)
        {
            return "Block not journaled"
        }
        let isBlock = value <= target
        // A block on the tip extends the chain: its hash (in stratum's word order) is the next jobs' parent.
        let landed = state.withLock { s in
            guard isBlock && job.prevhash == s.tip else { return false }
            s.tip = stride(from: 0, to: 32, by: 4).flatMap { digest[$0..<$0 + 4].reversed() }
            s.height += 1
            s.stats.chain.append(hex(hash))
            return true
        }
        if landed {
            let delay = config.newTipDelay
            Task { [weak self] in
                if delay > .zero { try? await Task.sleep(for: delay) }
                self?.newJob(clean: true)
            }
        }
        let share = Share(
            user: user, jobID: jobID, extranonce2: en2Hex, ntime: ntimeHex, nonce: nonceHex, versionBits: bitsText,
            version: version, difficulty: job.difficulty, shareDifficulty: shareDifficulty, header: hex(header),
            hash: hex(hash), isBlock: isBlock, parent: hex(Array(header[4..<36].reversed())), landed: landed)
        state.withLock { $0.stats.accepted.append(share) }
        if let path = config.sharesFile, let h = FileHandle(forWritingAtPath: path) ?? create(path) {
            h.seekToEndOfFile()
            h.write(
                Data(
                    (line([
                        "job_id": jobID, "extranonce2": en2Hex, "ntime": ntimeHex, "nonce": nonceHex,
                        "version": word(version), "difficulty": job.difficulty, "share_difficulty": shareDifficulty,
                        "hash": hex(hash), "header": hex(header), "block": share.isBlock, "parent": share.parent,
                        "landed": landed,
                    ]) + "\n").utf8))
            try? h.close()
        }
        return nil
    }
}

func line(_ o: [String: Any]) -> String {
    String(decoding: (try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys])) ?? Data(), as: UTF8.self)
}

func hex(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }

func word(_ v: UInt32) -> String { String(format: "%08x", v) }

func unhex(_ s: String) -> [UInt8]? {
    let u = Array(s.utf8)
    guard u.count % 2 == 0 else { return nil }
    var out: [UInt8] = []
    for i in stride(from: 0, to: u.count, by: 2) {
        guard let b = UInt8(String(decoding: u[i..<i + 2], as: UTF8.self), radix: 16) else { return nil }
        out.append(b)
    }
    return out
}
