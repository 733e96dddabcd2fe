import DemandResponse
import FlexSupport
import Foundation
import LineFraming
import NIOCore
import NIOPosix
import ServerSupport
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Serves the signal protocol on a Unix domain socket or TCP: newline-delimited JSON in, exactly one
/// reply line out per line received. Many clients at once, up to `Limits.maxConnections` per source
/// (more are refused with an error line), so idle clients of one source cannot take the descriptors
/// another source needs; a line over 64 KiB, a client sending faster than `maxLinesPerSecond`, one that
/// stops reading its replies, one silent for `Limits.idleTimeout`, or one whose first line is an HTTP
/// request is cut off alone, its descriptor released within `Limits.closeGrace`.
package final class SignalSocketServer: Sendable {
    package let spec: SignalSourceSpec
    /// The bound TCP port (useful with port 0), or nil for a Unix socket.
    package let port: Int?
    private let channel: any Channel
    private let table: ConnectionTable

    /// Lines per second a client may sustain (bursts up to the same number).
    package static let maxLinesPerSecond = 2000

    /// Bounds on what clients of one source can hold.
    package struct Limits: Sendable {
        /// Connections open at once on this source.
        package var maxConnections = 64
        /// A connection that sends nothing for this long is closed.
        package var idleTimeout: Duration = .seconds(300)
        /// How long a client that is being cut off gets to take its last reply (and end its side; what it
        /// still sends meanwhile is read and discarded) before it is closed anyway, with a reset.
        package var closeGrace: Duration = .seconds(2)
        /// How long the reply to a curtailment waits for the state file to hold it (see `StateDurability`)
        /// before it is sent anyway, saying `"state_durable":false`.
        package var durabilityWait: Duration = StateDurability.replyWait

        package init() {}
        package static let standard = Limits()
    }

    /// Connections open now.
    package var openConnections: Int { table.open.load(ordering: .relaxed) }

    private init(spec: SignalSourceSpec, channel: any Channel, table: ConnectionTable) {
        self.spec = spec
        self.channel = channel
        self.table = table
        self.port = channel.localAddress?.port
    }

    /// Binds and starts serving.
    /// - Parameters:
    ///   - token: required in every message on this source: the configured token on a TCP source (loopback
    ///     included); nil on a Unix socket (trusted by its file mode) or when none is configured.
    /// - Throws: `SignalError` naming the source: path in use by a live server, not a socket, bind failures.
    package static func start(
        _ spec: SignalSourceSpec, controller: LoadController, token: String?, group: any EventLoopGroup,
        limits: Limits = .standard, groupAccess: Bool = false
    ) async throws(SignalError) -> SignalSocketServer {
        // Each connection is its own sender (a `release` without an id lifts only what it set), numbered
        // from 1 in the order they were accepted; the counters stay keyed by the source.
        let table = ConnectionTable()
        let source = spec.description
        var bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            // Small reads, one per turn: a flooding client gets a few dozen lines per turn of the event
            // loop, so the other clients of this source are answered between its turns.
            .childChannelOption(.maxMessagesPerRead, value: 1)
            .childChannelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 2048))
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 32 * 1024, high: 256 * 1024))
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture {
                    let n = table.accepted.add(1, ordering: .relaxed).newValue
                    let open = table.open.add(1, ordering: .relaxed).newValue
                    child.closeFuture.whenComplete { _ in
                        if table.open.subtract(1, ordering: .relaxed).newValue < limits.maxConnections {
                            table.atLimit.store(false, ordering: .relaxed)
                        }
                    }
                    guard open <= limits.maxConnections else {
                        // Noted once per time the limit is reached: a connection flood must not flood the log.
                        if !table.atLimit.exchange(true, ordering: .relaxed) {
                            controller.discarded(
                                "\(limits.maxConnections) connections open: refusing more until one closes",
                                origin: SignalOrigin(name: source), bytes: 0)
                        }
                        try child.pipeline.syncOperations.addHandler(
                            RefuseHandler(
                                line:
                                    #"{"ok":false,"error":"too many connections (the limit is \#(limits.maxConnections) per source)"}"#,
                                grace: limits.closeGrace))
                        return
                    }
                    try configureConnection(
                        child.pipeline.syncOperations, controller: controller,
                        origin: SignalOrigin(source: source, connection: n, requiredToken: token), limits: limits)
                }
            }
        do {
            switch spec {
            case .unix(let path):
                try prepareSocketPath(path)
                // Created 0600 (0660 with `groupAccess`: the process's group may send signals, e.g. operators
                // in the `flexminer` group) from the start: the umask applies while the socket file is made.
                let mode: mode_t = groupAccess ? 0o660 : 0o600
                let old = umask(0o777 & ~mode)
                let channel: any Channel
                do {
                    channel = try await bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: false)
                        .get()
                } catch {
                    umask(old)
                    throw error
                }
                umask(old)
                chmod(path, mode)
                return SignalSocketServer(spec: spec, channel: channel, table: table)
            case .tcp(let host, let port):
                bootstrap = bootstrap.serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                    .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                let channel = try await bootstrap.bind(host: host, port: port).get()
                return SignalSocketServer(spec: spec, channel: channel, table: table)
            case .file, .openadr3, .registered:
                throw SignalError("\(spec): not a socket source")
            }
        } catch let error as SignalError {
            throw error
        } catch {
            throw SignalError("signal source \(spec): cannot listen (\(error))")
        }
    }

    /// One accepted connection's pipeline (tests build it on an `EmbeddedChannel`). First: every close
    /// lingers, so an error reply reaches a client that is still sending (a connection over the limit
    /// closes at once instead: lingering would let a flood of connections hold descriptors the other
    /// sources need). Then the idle timeout, the line framer and the protocol.
    /// - Parameter now: the clock of the rate limit (a test's can stand still).
    package static func configureConnection(
        _ pipeline: ChannelPipeline.SynchronousOperations, controller: LoadController, origin: SignalOrigin,
        limits: Limits = .standard, now: @escaping () -> ContinuousClock.Instant = { ContinuousClock.now }
    ) throws {
        try pipeline.addHandler(LingeringCloseHandler(maxTime: TimeAmount(limits.closeGrace)))
        try pipeline.addHandler(ReadTimeoutHandler(timeout: TimeAmount(limits.idleTimeout)))
        try pipeline.addHandler(ByteToMessageHandler(LineFrameDecoder(maxLength: SignalMessage.maximumLineLength)))
        try pipeline.addHandler(
            SignalLineHandler(controller: controller, origin: origin, durabilityWait: limits.durabilityWait, now: now))
    }

    /// Stops accepting, closes every connection and removes the socket file.
    package func close() async {
        try? await channel.close()
        if case .unix(let path) = spec { unlink(path) }
    }

    /// A leftover socket file from a crashed run is removed; a live one (another FlexMiner still
    /// listening) or anything that is not a socket is left alone and reported.
    static func prepareSocketPath(_ path: String) throws(SignalError) {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        guard (st.st_mode & S_IFMT) == S_IFSOCK else {
            throw SignalError("signal source unix:\(path): the path exists and is not a socket; not replacing it")
        }
        if SignalClient.canConnect(unixPath: path) {
            throw SignalError("signal source unix:\(path): another process is listening on this socket")
        }
        guard unlink(path) == 0 || errno == ENOENT else {
            throw SignalError(
                "signal source unix:\(path): cannot remove the stale socket (\(String(cString: strerror(errno))))")
        }
    }
}

/// Answers each line of a connection (split by `LineFrameDecoder` before it), in order.
///
/// A reply that acknowledges a change of the curtailments kept in the state file waits (on the event loop,
/// asynchronously, at most `durabilityWait`) until the file holds it; the replies after it on the same
/// connection queue behind it, so every client still gets its replies in the order of its lines. Lines
/// keep being read and acted on meanwhile (a second curtailment halts at once); only when
/// `maxQueuedReplies` wait does the connection stop reading until they are sent.
final class SignalLineHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Replies waiting behind a state file write before the connection stops reading.
    static let maxQueuedReplies = 256

    let controller: LoadController
    let origin: SignalOrigin
    let durabilityWait: Duration
    /// Replies queued behind a durability wait, and the future of the last of them (written in order).
    private var queued = 0
    private var tail: EventLoopFuture<Void>?
    private let now: () -> ContinuousClock.Instant
    private var rate: LineRateLimit
    private var cutOff = false
    private var firstLine = true
    private var authenticated = false

    init(
        controller: LoadController, origin: SignalOrigin, durabilityWait: Duration = StateDurability.replyWait,
        now: @escaping () -> ContinuousClock.Instant = { ContinuousClock.now }
    ) {
        self.controller = controller
        self.origin = origin
        self.durabilityWait = durabilityWait
        self.now = now
        self.rate = LineRateLimit(perSecond: SignalSocketServer.maxLinesPerSecond, now: now())
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read, !cutOff {
            cut(context, "no line for too long (idle)")
            return
        }
        if let partial = event as? LineFrameDecoder.PartialLineAtEOF {
            if !cutOff {
                controller.discarded("client disconnected mid-line", origin: origin, bytes: partial.bytes)
            }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// One line from the framer (without its newline). Replies are written here and flushed once per read
    /// (`channelReadComplete`), so a client sending many lines at once gets its replies in few packets.
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !cutOff else { return }
        let line = unwrapInboundIn(data)
        // Only an empty line may go unanswered.
        if line.readableBytes == 0 { return }
        let received = now()
        if firstLine {
            firstLine = false
            // Another protocol spoken to this port (a web page in a local browser can POST to it): the
            // request's body may hold valid signal lines, so nothing after its request line is read.
            if Self.isHTTPRequestLine(line.readableBytesView) {
                cut(context, "an HTTP request, not the signal protocol")
                return
            }
        }
        guard rate.take(at: received) else {
            send(
                context,
                #"{"ok":false,"error":"too many messages (limit \#(SignalSocketServer.maxLinesPerSecond) per second); disconnecting"}"#
            )
            cut(context, "client flooded")
            return
        }
        let answer =
            line.readableBytesView.withContiguousStorageIfAvailable { bytes in
                controller.handle(line: bytes, origin: origin, receivedAt: received)
            } ?? controller.handle(line: Array(line.readableBytesView), origin: origin, receivedAt: received)
        send(context, answer.line, durability: answer.durability)
        // A source that needs a token: until a line has proved it, a refused line ends the connection,
        // so a peer without the token costs one line per connection, not a stream of parsed lines.
        if origin.requiredToken != nil && !authenticated {
            guard answer.ok else {
                cut(context, "refused before a valid token")
                return
            }
            authenticated = true
        }
        if !context.channel.isWritable {
            // The client is not reading its replies; it may not grow our memory without bound.
            cut(context, "client not reading replies")
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
        context.fireChannelReadComplete()
    }

    /// The framer's refusal of a line over the limit: answered with the reason, then the connection ends.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !cutOff else { return }  // the framer passes on nothing more after its error; nothing to add
        guard let long = error as? LineFrameDecoder.LineTooLong else {
            context.close(promise: nil)
            return
        }
        send(
            context,
            #"{"ok":false,"error":"line too long (over \#(SignalMessage.maximumLineLength) bytes without a newline); disconnecting"}"#
        )
        cut(context, "line over \(SignalMessage.maximumLineLength) bytes", bytes: long.length)
    }

    /// Writes `line` now when nothing waits before it and it needs no durability wait (or the state file
    /// holds its change already; flushed at the end of the read, or by `cut`), else queues it behind the
    /// replies waiting (each flushed when it is written).
    private func send(_ context: ChannelHandlerContext, _ line: String, durability: StateDurability? = nil) {
        let settled = durability?.settled
        if queued == 0 && (durability == nil || settled != nil) {
            reply(context, settled.map { LoadController.Reply.line(line, durable: $0) } ?? line)
            return
        }
        let loop = context.eventLoop
        let ready: EventLoopFuture<String> =
            durability.map { d in
                d.settled(on: loop, within: durabilityWait).map { LoadController.Reply.line(line, durable: $0) }
            } ?? loop.makeSucceededFuture(line)
        queued += 1
        if queued == Self.maxQueuedReplies { _ = context.channel.setOption(.autoRead, value: false) }
        let bound = NIOLoopBound((self, context), eventLoop: loop)
        let next = (tail ?? loop.makeSucceededVoidFuture()).and(ready).map { _, line in
            let (handler, context) = bound.value
            handler.reply(context, line)
            context.flush()
            handler.queued -= 1
            if handler.queued == 0 {
                handler.tail = nil
                if !handler.cutOff { _ = context.channel.setOption(.autoRead, value: true) }
            }
        }
        tail = next
    }

    private func reply(_ context: ChannelHandlerContext, _ line: String) {
        var buffer = context.channel.allocator.buffer(capacity: line.utf8.count + 1)
        buffer.writeString(line)
        buffer.writeInteger(UInt8(ascii: "\n"))
        context.write(wrapOutboundOut(buffer), promise: nil)
    }

    /// `METHOD SP request-target SP HTTP/digit…`: an HTTP/1.x request line (RFC 9112 §3), which no
    /// protocol v1 line (a JSON object) can be.
    static func isHTTPRequestLine(_ line: ByteBufferView) -> Bool {
        let parts = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty else { return false }
        // A method is a token: letters in practice (GET, POST, OPTIONS, and any extension method).
        func isLetter(_ b: UInt8) -> Bool { (0x41...0x5A).contains(b) || (0x61...0x7A).contains(b) || b == 0x2D }
        guard parts[0].allSatisfy(isLetter) else { return false }
        let version = Array(parts[2])
        let http = Array("http/".utf8)
        // The version is matched case-insensitively: a lenient server would accept "http/1.1" too.
        return version.count >= 6 && zip(version, http).allSatisfy { $0 | 0x20 == $1 }
            && (0x30...0x39).contains(version[5])
    }

    /// Ends the connection after the replies written so far: the lingering close at the head of the
    /// pipeline flushes them, shuts down the write side, discards what the client still sends, and closes
    /// within the source's `Limits.closeGrace` (also when the client does not read).
    private func cut(_ context: ChannelHandlerContext, _ why: String, bytes: Int = 0) {
        cutOff = true
        controller.discarded(why + "; connection closed", origin: origin, bytes: bytes)
        // The replies written so far go out before the close.
        context.flush()
        // Replies still waiting for the state file go out first (each within `durabilityWait`).
        if let tail {
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            tail.whenComplete { _ in bound.value.close(promise: nil) }
        } else {
            context.close(promise: nil)
        }
    }

}

/// A token bucket: `perSecond` lines a second sustained, bursts up to the same number. A pure value, the
/// time given, so it is tested on a virtual clock.
package struct LineRateLimit {
    package let perSecond: Int
    private var tokens: Double
    private var lastRefill: ContinuousClock.Instant

    package init(perSecond: Int, now: ContinuousClock.Instant) {
        self.perSecond = perSecond
        self.tokens = Double(perSecond)
        self.lastRefill = now
    }

    /// Whether one more line may be taken at `now` (and takes it).
    package mutating func take(at now: ContinuousClock.Instant) -> Bool {
        let dt = now - lastRefill
        lastRefill = now
        let rate = Double(perSecond)
        tokens = Swift.min(rate, tokens + dt.milliseconds / 1000 * rate)
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}

/// The connections of one source: numbered as accepted, counted while open.
final class ConnectionTable: Sendable {
    let accepted = Atomic<Int>(0)
    let open = Atomic<Int>(0)
    /// Whether the limit was reached and noted (reset when a connection closes below it).
    let atLimit = Atomic<Bool>(false)
}

/// Answers a connection over the limit with one error line, then closes it.
final class RefuseHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let line: String
    let grace: Duration

    init(line: String, grace: Duration) {
        self.line = line
        self.grace = grace
    }

    func channelActive(context: ChannelHandlerContext) {
        let channel = context.channel
        var buffer = channel.allocator.buffer(capacity: line.utf8.count + 1)
        buffer.writeString(line + "\n")
        context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in channel.close(promise: nil) }
        channel.eventLoop.scheduleTask(in: TimeAmount(grace)) { channel.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

extension TimeAmount {
    /// A Swift `Duration` as NIO's time amount (saturating).
    init(_ d: Duration) {
        let (s, a) = d.components
        self = .nanoseconds(
            s.multipliedReportingOverflow(by: 1_000_000_000).overflow ? .max : s * 1_000_000_000 + a / 1_000_000_000)
    }
}
