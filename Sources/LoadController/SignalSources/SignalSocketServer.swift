import DemandResponse
import FlexSupport
import Foundation
import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#endif

/// Serves the signal protocol on a Unix domain socket or TCP: newline-delimited JSON in, exactly one
/// reply line out per line received. Many clients at once; a line over 64 KiB, a client sending faster
/// than `maxLinesPerSecond`, or one that stops reading its replies is cut off alone.
public final class SignalSocketServer: Sendable {
    public let spec: SignalSourceSpec
    /// The bound TCP port (useful with port 0), or nil for a Unix socket.
    public let port: Int?
    private let channel: any Channel

    /// Lines per second a client may sustain (bursts up to the same number).
    public static let maxLinesPerSecond = 2000

    private init(spec: SignalSourceSpec, channel: any Channel) {
        self.spec = spec
        self.channel = channel
        self.port = channel.localAddress?.port
    }

    /// Binds and starts serving.
    /// - Parameters:
    ///   - token: required in every message on this source (remote TCP); nil for local sources.
    /// - Throws: `SignalError` naming the source: path in use by a live server, not a socket, bind failures.
    public static func start(
        _ spec: SignalSourceSpec, controller: LoadController, token: String?, group: any EventLoopGroup
    ) async throws(SignalError) -> SignalSocketServer {
        let origin = SignalOrigin(name: spec.description, requiredToken: token)
        var bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .childChannelOption(.maxMessagesPerRead, value: 4)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 32 * 1024, high: 256 * 1024))
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.addHandler(
                        SignalLineHandler(controller: controller, origin: origin))
                }
            }
        do {
            switch spec {
            case .unix(let path):
                try prepareSocketPath(path)
                // Created 0600 from the start: the umask applies while the socket file is made.
                let old = umask(0o177)
                let channel: any Channel
                do {
                    channel = try await bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: false)
                        .get()
                } catch {
                    umask(old)
                    throw error
                }
                umask(old)
                chmod(path, 0o600)
                return SignalSocketServer(spec: spec, channel: channel)
            case .tcp(let host, let port):
                bootstrap = bootstrap.serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                    .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                let channel = try await bootstrap.bind(host: host, port: port).get()
                return SignalSocketServer(spec: spec, channel: channel)
            case .file, .openadr3:
                throw SignalError("\(spec): not a socket source")
            }
        } catch let error as SignalError {
            throw error
        } catch {
            throw SignalError("signal source \(spec): cannot listen (\(error))")
        }
    }

    /// Stops accepting, closes every connection and removes the socket file.
    public func close() async {
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

/// Splits a connection's bytes into lines and answers each one.
final class SignalLineHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let controller: LoadController
    let origin: SignalOrigin
    private var pending: ByteBuffer?
    private var tokens = Double(SignalSocketServer.maxLinesPerSecond)
    private var lastRefill = ContinuousClock.now
    private var cutOff = false

    init(controller: LoadController, origin: SignalOrigin) {
        self.controller = controller
        self.origin = origin
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !cutOff else { return }
        let received = ContinuousClock.now
        var incoming = unwrapInboundIn(data)
        if pending == nil {
            pending = incoming
        } else {
            pending!.writeBuffer(&incoming)
        }
        var wrote = false
        while let newline = pending!.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
            let length = newline - pending!.readableBytesView.startIndex
            var line = pending!.readSlice(length: length)!
            pending!.moveReaderIndex(forwardBy: 1)
            if line.readableBytesView.last == UInt8(ascii: "\r") {
                line = line.getSlice(at: line.readerIndex, length: length - 1)!
            }
            // Only an empty line may go unanswered.
            if line.readableBytes == 0 { continue }
            guard takeToken(received) else {
                reply(
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
            reply(context, answer.line)
            wrote = true
            if !context.channel.isWritable {
                // The client is not reading its replies; it may not grow our memory without bound.
                cut(context, "client not reading replies")
                return
            }
        }
        if pending!.readableBytes > SignalMessage.maximumLineLength {
            reply(
                context,
                #"{"ok":false,"error":"line too long (over \#(SignalMessage.maximumLineLength) bytes without a newline); disconnecting"}"#
            )
            cut(context, "line over \(SignalMessage.maximumLineLength) bytes")
            return
        }
        if pending!.readableBytes == 0 { pending = nil } else { pending!.discardReadBytes() }
        if wrote { context.flush() }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let p = pending, p.readableBytes > 0, !cutOff {
            controller.discarded("client disconnected mid-line", origin: origin, bytes: p.readableBytes)
        }
        pending = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func reply(_ context: ChannelHandlerContext, _ line: String) {
        var buffer = context.channel.allocator.buffer(capacity: line.utf8.count + 1)
        buffer.writeString(line)
        buffer.writeInteger(UInt8(ascii: "\n"))
        context.write(wrapOutboundOut(buffer), promise: nil)
    }

    private func cut(_ context: ChannelHandlerContext, _ why: String) {
        cutOff = true
        controller.discarded(why + "; connection closed", origin: origin, bytes: pending?.readableBytes ?? 0)
        pending = nil
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(capacity: 0))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }

    private func takeToken(_ now: ContinuousClock.Instant) -> Bool {
        let dt = now - lastRefill
        lastRefill = now
        let rate = Double(SignalSocketServer.maxLinesPerSecond)
        tokens = Swift.min(rate, tokens + LoadController.ms(dt) / 1000 * rate)
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}
