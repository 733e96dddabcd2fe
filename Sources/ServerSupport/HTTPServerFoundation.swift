import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// The bounds every HTTP server of the product keeps (the operator's API and the OpenADR callback).
package struct HTTPServerLimits: Sendable {
    /// Connections waiting to be accepted.
    package var backlog: Int32 = 32
    /// Connections open at once; more are closed as they arrive.
    package var maxConnections = 64
    /// A connection that sends nothing for this long is closed.
    package var idleTimeout: TimeAmount = .seconds(60)
    /// A client that does not read its responses gets this long before it is reset.
    package var stalledTimeout: TimeAmount = .seconds(5)
    /// Back-pressure: once this much of the responses waits unread, the connection stops reading requests.
    package var writeBufferWaterMark = ChannelOptions.Types.WriteBufferWaterMark(low: 32 * 1024, high: 128 * 1024)
    /// Reads per turn of the event loop, so that one busy client does not starve the others.
    package var maxMessagesPerRead: UInt = 4

    package init() {}
}

/// The one HTTP/1.1 server set-up on SwiftNIO, with its protections, that the status server and the
/// OpenADR callback server share. Each connection's pipeline:
///
/// 1. `LingeringCloseHandler`: every close lingers, so a response (NIO's 400 for a malformed request or
///    a header over its 80 KiB limit, any answer with `Connection: close`) reaches a client that is still
///    sending.
/// 2. `ReadTimeoutHandler`: the read-idle event after `idleTimeout`.
/// 3. NIO's HTTP server pipeline (parser, pipelining: one request answered at a time, protocol errors
///    answered with 400).
/// 4. The server's own handlers (`configure`), which answer requests (see `writeHTTPResponse`,
///    `HTTPRequestAggregator` for bodies, `BearerToken` for auth).
/// 5. `HTTPConnectionGuard`: closes an idle connection, stops reading from a client that does not read
///    its responses and resets it after `stalledTimeout`.
package enum HTTPServerFoundation {
    /// Binds `host:port` (port 0 picks a free one) and serves. `configure` adds the server's handlers to a
    /// new connection's pipeline, on its event loop.
    /// - Returns: the listening server.
    /// - Throws: what binding throws; the caller names the address.
    package static func bind(
        host: String, port: Int, group: any EventLoopGroup, limits: HTTPServerLimits = HTTPServerLimits(),
        configure: @escaping @Sendable (ChannelPipeline.SynchronousOperations) throws -> Void
    ) async throws -> HTTPListener {
        let open = ConnectionCount()
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: limits.backlog)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: limits.writeBufferWaterMark)
            .childChannelOption(.maxMessagesPerRead, value: limits.maxMessagesPerRead)
            .childChannelInitializer { channel in
                let n = open.count.add(1, ordering: .relaxed).newValue
                channel.closeFuture.whenComplete { _ in open.count.subtract(1, ordering: .relaxed) }
                guard n <= limits.maxConnections else { return channel.close() }
                return channel.eventLoop.makeCompletedFuture {
                    try configurePipeline(channel.pipeline.syncOperations, limits: limits, configure: configure)
                }
            }
        let channel = try await bootstrap.bind(host: host, port: port).get()
        return HTTPListener(host: host, port: channel.localAddress?.port ?? port, channel: channel)
    }

    /// A connection's pipeline as described above (tests build it on an `EmbeddedChannel`).
    package static func configurePipeline(
        _ pipeline: ChannelPipeline.SynchronousOperations, limits: HTTPServerLimits = HTTPServerLimits(),
        configure: (ChannelPipeline.SynchronousOperations) throws -> Void
    ) throws {
        try pipeline.addHandler(LingeringCloseHandler())
        try pipeline.addHandler(ReadTimeoutHandler(timeout: limits.idleTimeout))
        try pipeline.configureHTTPServerPipeline()
        try configure(pipeline)
        try pipeline.addHandler(HTTPConnectionGuard(stalledTimeout: limits.stalledTimeout))
    }
}

/// A server listening: its address and how to stop it.
package final class HTTPListener: Sendable {
    /// The host it was asked to bind.
    package let host: String
    /// The bound port (the one picked when asked for port 0).
    package let port: Int
    private let channel: any Channel

    init(host: String, port: Int, channel: any Channel) {
        self.host = host
        self.port = port
        self.channel = channel
    }

    /// Stops listening (connections in flight finish).
    package func close() async {
        try? await channel.close()
    }
}

/// Connections open now (a class: an atomic cannot be captured by the initializer closure).
final class ConnectionCount: Sendable {
    let count = Atomic<Int>(0)
}

/// Last in an HTTP connection's pipeline: closes the connection when it has been idle (a handler before
/// it that wants a quiet connection kept, like an event stream, does not pass the idle event on), and
/// applies back-pressure: while the client does not take its responses the connection stops reading
/// requests (pipelined ones would otherwise be answered into memory without bound), and a client that
/// does not resume within `stalledTimeout` is reset (a lingering close could deliver nothing).
package final class HTTPConnectionGuard: ChannelInboundHandler {
    package typealias InboundIn = HTTPServerRequestPart

    package let stalledTimeout: TimeAmount
    private var stallCheck: Scheduled<Void>?

    package init(stalledTimeout: TimeAmount) {
        self.stalledTimeout = stalledTimeout
    }

    package func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    package func channelWritabilityChanged(context: ChannelHandlerContext) {
        let channel = context.channel
        if channel.isWritable {
            stallCheck?.cancel()
            stallCheck = nil
            _ = channel.setOption(.autoRead, value: true)
        } else {
            _ = channel.setOption(.autoRead, value: false)
            stallCheck?.cancel()
            stallCheck = channel.eventLoop.scheduleTask(in: stalledTimeout) {
                if !channel.isWritable {
                    channel.triggerUserOutboundEvent(LingeringCloseHandler.Abort(), promise: nil)
                }
            }
        }
        context.fireChannelWritabilityChanged()
    }

    package func channelInactive(context: ChannelHandlerContext) {
        stallCheck?.cancel()
        stallCheck = nil
        context.fireChannelInactive()
    }

    package func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
