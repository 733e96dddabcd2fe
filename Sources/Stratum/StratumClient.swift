import FlexSupport
import Foundation
import LineFraming
import Logging
import NIOCore
import NIOPosix
import SHA256
import Synchronization

/// How a `StratumClient` introduces itself and how long it waits.
package struct StratumOptions: Sendable {
    /// The worker name, by convention `ADDRESS.worker` or `account.worker`.
    package var user: String
    /// Sent in `mining.authorize` only; never logged.
    package var password: String
    /// `flexminer/<version>`.
    package var userAgent: String
    /// Version bits asked for in `mining.configure` (BIP 310); the pool's answer is ANDed with it. Nil:
    /// no version rolling asked for. Default: BIP 320's general-purpose bits.
    package var requestedVersionMask: UInt32? = 0x1fff_e000
    /// Sent as `mining.suggest_difficulty` after authorizing, when given.
    package var suggestDifficulty: Double?
    /// A previous session's id, sent in `mining.subscribe` so the pool can resume it (same extranonce1).
    package var resumeSessionID: String?
    /// Ask for `mining.set_extranonce` (some pools never answer; nothing waits for the reply).
    package var extranonceSubscribe = true
    /// No data for this long means the connection is dead.
    package var idleTimeout: Duration = .seconds(90)
    /// A share with no reply after this long is reported as unanswered.
    package var requestTimeout: Duration = .seconds(30)
    package var connectTimeout: Duration = .seconds(10)
    /// A line longer than this (without its newline) drops the connection.
    package var maxLineBytes = 512 * 1024
    /// Submits waiting for their reply at most; more are refused rather than queued without bound.
    package var maxPendingSubmits = 1024

    package init(user: String, password: String, userAgent: String) {
        self.user = user
        self.password = password
        self.userAgent = userAgent
    }
}

/// A share as `mining.submit` sends it.
package struct StratumSubmit: Sendable, Hashable {
    package let jobID: String
    package let extranonce2: [UInt8]
    package let time: UInt32
    package let nonce: UInt32
    /// The rolled version bits (the 6th param), only when rolling.
    package let versionBits: UInt32?

    package init(jobID: String, extranonce2: [UInt8], time: UInt32, nonce: UInt32, versionBits: UInt32?) {
        self.jobID = jobID
        self.extranonce2 = extranonce2
        self.time = time
        self.nonce = nonce
        self.versionBits = versionBits
    }
}

/// One connection to a stratum v1 pool (a wire client only): newline-delimited JSON-RPC over TCP on
/// SwiftNIO. `run` connects, sends `mining.configure` (version rolling), `mining.subscribe`,
/// `mining.authorize` (and optionally `mining.suggest_difficulty`, `mining.extranonce.subscribe`)
/// without waiting between them, answers `mining.ping` and `client.get_version` itself, and reports
/// everything else as `StratumEvent`s. Bad input from the pool ends the connection with an error that
/// names the field; it never traps. Create one client per connection attempt.
package final class StratumClient: Sendable {
    package let url: StratumURL
    let options: StratumOptions
    let group: any EventLoopGroup
    let logger: Logger

    enum Pending: Sendable {
        case configure, subscribe, authorize, other(String)
        case submit(CheckedContinuation<SubmitVerdict, Never>)
    }

    struct State: Sendable {
        var writer: NIOAsyncChannelOutboundWriter<ByteBuffer>?
        var channel: (any Channel)?
        var nextID = 1
        var pending: [Int: Pending] = [:]
        var pendingSubmits = 0
        var closedByUs = false
        var authorized = false
    }

    private let state = Mutex(State())

    package init(url: StratumURL, options: StratumOptions, group: any EventLoopGroup, logger: Logger) {
        self.url = url
        self.options = options
        self.group = group
        self.logger = logger
    }

    /// Connects and delivers the pool's events to `onEvent` (called on the reading task: it must be
    /// quick) until the connection ends.
    /// - Returns: normally only after `close()`.
    /// - Throws: `StratumError` saying why the connection ended: `.connection` (refused, reset, closed
    ///   by the pool, a failed write), `.timeout` (no data for the idle timeout), `.malformed` (bad input,
    ///   named), `.unauthorized`.
    package func run(onEvent: @escaping @Sendable (StratumEvent) throws(StratumError) -> Void)
        async throws(StratumError)
    {
        let maxLine = options.maxLineBytes
        let idle = TimeAmount.nanoseconds(Int64(clamping: Int64(options.idleTimeout.seconds * 1e9)))
        let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(.nanoseconds(Int64(options.connectTimeout.seconds * 1e9)))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .connect(host: url.host, port: url.port) { ch in
                    ch.eventLoop.makeCompletedFuture {
                        try ch.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: idle))
                        try ch.pipeline.syncOperations.addHandler(
                            IdleToError(seconds: idle.nanoseconds / 1_000_000_000))
                        try ch.pipeline.syncOperations.addHandler(
                            ByteToMessageHandler(LineFrameDecoder(maxLength: maxLine)))
                        return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                            wrappingChannelSynchronously: ch,
                            configuration: .init(backPressureStrategy: .init(lowWatermark: 2, highWatermark: 16)))
                    }
                }
        } catch {
            throw StratumError(.connection, "\(url): cannot connect (\(error))")
        }
        let closedEarly = state.withLock { s in
            s.channel = channel.channel
            return s.closedByUs
        }
        if closedEarly { channel.channel.close(promise: nil) }
        do {
            try await channel.executeThenClose { inbound, outbound in
                state.withLock { $0.writer = outbound }
                try await sendHandshake()
                for try await line in inbound {
                    try await handle(line: line, onEvent: onEvent)
                }
            }
        } catch {
            let error = Self.streamError(url, error)
            failPending(error)
            if state.withLock({ $0.closedByUs }) { return }
            throw error
        }
        failPending(StratumError(.connection, "\(url): connection closed"))
        if state.withLock({ $0.closedByUs }) { return }
        throw StratumError(.connection, "\(url): the pool closed the connection")
    }

    static func connectionError(_ url: StratumURL, _ error: any Error) -> StratumError {
        StratumError(.connection, "\(url): connection lost (\(error))")
    }

    /// Why the connection's stream ended, as a `StratumError`: a line over the limit is a malformed
    /// message (a pool may not grow our memory without bound), anything else not already one is a lost
    /// connection.
    package static func streamError(_ url: StratumURL, _ error: any Error) -> StratumError {
        if let error = error as? StratumError { return error }
        if let long = error as? LineFrameDecoder.LineTooLong {
            return StratumError(
                .malformed, "pool message: line over \(long.maxLength) bytes (\(long.length) without a newline)")
        }
        return connectionError(url, error)
    }

    /// Closes the connection; `run` then returns.
    package func close() {
        let channel = state.withLock { s in
            s.closedByUs = true
            return s.channel
        }
        channel?.close(promise: nil)
    }

    /// Sends `mining.submit` and waits for the pool's verdict (or the request timeout). Never throws:
    /// a share without a verdict is `.unanswered` with the reason.
    package func submit(_ share: StratumSubmit) async -> SubmitVerdict {
        var params: [Any] = [
            options.user, share.jobID, Hex.encode(share.extranonce2), StratumHex.word(share.time),
            StratumHex.word(share.nonce),
        ]
        if let v = share.versionBits { params.append(StratumHex.word(v)) }
        return await withCheckedContinuation { continuation in
            let id: Int? = state.withLock { s in
                guard s.writer != nil, s.pendingSubmits < options.maxPendingSubmits else { return nil }
                let id = s.nextID
                s.nextID += 1
                s.pending[id] = .submit(continuation)
                s.pendingSubmits += 1
                return id
            }
            guard let id else {
                continuation.resume(returning: .unanswered("not connected"))
                return
            }
            let timeout = options.requestTimeout
            let line = Self.request(id: id, method: "mining.submit", params: params)
            Task {
                do throws(StratumError) { try await self.write(line) } catch {
                    self.resolve(id, .unanswered(error.message))
                    self.close()  // a failed write means the connection is dead
                    return
                }
                try? await Task.sleep(for: timeout)
                self.resolve(id, .unanswered("no reply within \(timeout.components.seconds) s"))
            }
        }
    }

    /// What became of a `mining.submit`.
    package enum SubmitVerdict: Sendable, Hashable {
        case accepted
        /// The pool's reason (e.g. "Duplicate share", "Stale", "Above target").
        case rejected(String)
        /// No verdict: not connected, the write failed, the connection dropped or the reply timed out.
        case unanswered(String)
    }

    func resolve(_ id: Int, _ result: SubmitVerdict) {
        let p: Pending? = state.withLock { s in
            guard case .submit = s.pending[id] else { return nil }
            s.pendingSubmits -= 1
            return s.pending.removeValue(forKey: id)
        }
        if case .submit(let c) = p { c.resume(returning: result) }
    }

    private func failPending(_ error: StratumError) {
        let pending = state.withLock { s in
            defer {
                s.pending = [:]
                s.pendingSubmits = 0
                s.writer = nil
            }
            return Array(s.pending.values)
        }
        for case .submit(let c) in pending { c.resume(returning: .unanswered(error.message)) }
    }

    // MARK: Writing

    static func request(id: Int, method: String, params: [Any]) -> String {
        JSONLine.encode(["id": id, "method": method, "params": params])
    }

    func write(_ line: String) async throws(StratumError) {
        guard let writer = state.withLock({ $0.writer }) else {
            throw StratumError(.connection, "\(url): not connected")
        }
        var buffer = ByteBuffer()
        buffer.writeString(line)
        buffer.writeInteger(UInt8(ascii: "\n"))
        do { try await writer.write(buffer) } catch {
            throw StratumError(.connection, "\(url): write failed (\(error))")
        }
    }

    private func send(_ method: String, _ params: [Any], as kind: Pending) async throws(StratumError) {
        let id = state.withLock { s in
            let id = s.nextID
            s.nextID += 1
            s.pending[id] = kind
            return id
        }
        try await write(Self.request(id: id, method: method, params: params))
    }

    private func sendHandshake() async throws(StratumError) {
        if let mask = options.requestedVersionMask {
            try await send(
                "mining.configure",
                [
                    ["version-rolling"],
                    ["version-rolling.mask": StratumHex.word(mask), "version-rolling.min-bit-count": 2],
                ],
                as: .configure)
        }
        var subscribe: [Any] = [options.userAgent]
        if let session = options.resumeSessionID { subscribe.append(session) }
        try await send("mining.subscribe", subscribe, as: .subscribe)
        // The password goes on the wire only; it never appears in a log line or an error.
        try await send("mining.authorize", [options.user, options.password], as: .authorize)
        if options.extranonceSubscribe {
            try await send("mining.extranonce.subscribe", [], as: .other("mining.extranonce.subscribe"))
        }
        if let d = options.suggestDifficulty {
            try await send("mining.suggest_difficulty", [d], as: .other("mining.suggest_difficulty"))
        }
    }

    // MARK: Reading

    private func handle(line: ByteBuffer, onEvent: @Sendable (StratumEvent) throws(StratumError) -> Void)
        async throws(StratumError)
    {
        guard line.readableBytes > 0 else { return }
        let inbound: StratumInbound
        do { inbound = try StratumInbound.parse(line.readableBytesView) } catch {
            throw StratumError(error.code, "\(url): \(error.message)")
        }
        switch inbound {
        case .notification(let method, let params, let id):
            do { try await notification(method, params: params, id: id, onEvent: onEvent) } catch {
                throw StratumError(error.code, "\(url): \(error.message)")
            }
        case .reply(let id, let result, let error):
            try response(id: id, result: result, error: error, onEvent: onEvent)
        }
    }

    private func response(id: Int, result: Any?, error: String?, onEvent: (StratumEvent) throws(StratumError) -> Void)
        throws(StratumError)
    {
        let kind = state.withLock { s in
            let k = s.pending.removeValue(forKey: id)
            if case .submit = k { s.pendingSubmits -= 1 }
            return k
        }
        switch kind {
        case nil:
            logger.debug("pool \(url): reply to an unknown request id \(id)")
        case .configure:
            guard error == nil, let o = result as? [String: Any], o["version-rolling"].flatMap(JSONScalar.bool) == true,
                let text = o["version-rolling.mask"] as? String, text.utf8.count <= 8,
                let mask = UInt32(text, radix: 16)
            else {
                logger.info("pool \(url): no version rolling (\(error ?? "not offered"))")
                try onEvent(.versionMask(0))
                return
            }
            try onEvent(.versionMask(mask & (options.requestedVersionMask ?? 0)))
        case .subscribe:
            if let error { throw StratumError(.connection, "\(url): mining.subscribe refused: \(error)") }
            try onEvent(.subscribed(try StratumSubscription(result: result)))
        case .authorize:
            guard error == nil, let ok = result.flatMap({ JSONScalar.bool($0) }), ok else {
                throw StratumError(
                    .unauthorized, "\(url): worker \(options.user) not authorized: \(error ?? "refused")")
            }
            state.withLock { $0.authorized = true }
            try onEvent(.authorized)
        case .other(let method):
            if let error { logger.info("pool \(url): \(method): \(error)") }
        case .submit(let c):
            let accepted = error == nil && result.flatMap({ JSONScalar.bool($0) }) == true
            c.resume(returning: accepted ? .accepted : .rejected(error ?? "rejected"))
        }
    }

    private func notification(
        _ method: String, params: [Any], id: Any?, onEvent: (StratumEvent) throws(StratumError) -> Void
    ) async throws(StratumError) {
        if let event = try StratumInbound.event(
            method: method, params: params, requestedMask: options.requestedVersionMask ?? 0)
        {
            try onEvent(event)
            return
        }
        switch method {
        case "client.get_version":
            if let id { try await write(JSONLine.encode(["id": id, "result": options.userAgent, "error": NSNull()])) }
        case "mining.ping":
            if let id { try await write(JSONLine.encode(["id": id, "result": "pong", "error": NSNull()])) }
        default:
            logger.debug("pool \(url): ignoring \(method)")
            if let id {
                try await write(
                    JSONLine.encode(["id": id, "result": NSNull(), "error": [20, "unsupported method", NSNull()]]))
            }
        }
    }
}

/// Turns the idle-read event into an error, which ends the connection's inbound stream.
final class IdleToError: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let seconds: Int64
    init(seconds: Int64) { self.seconds = seconds }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let e = event as? IdleStateHandler.IdleStateEvent, e == .read {
            context.fireErrorCaught(StratumError(.timeout, "no data from the pool for \(seconds) s"))
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}
