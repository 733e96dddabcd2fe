import FlexSupport
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import ServerSupport
import Synchronization

/// A small HTTP/1.1 server on SwiftNIO for the VEN's notification callback (and the project's fake VTN):
/// one synchronous handler per request, bodies up to `maxBody`, at most `maxConnections` open at once.
/// Handlers must not block: they record and return (the work happens elsewhere).
public final class TinyHTTPServer: Sendable {
    /// One request as the handler sees it.
    public struct Request: Sendable {
        public let method: String
        /// The path without the query.
        public let path: String
        public let query: [String: String]
        public let headers: [(String, String)]
        public let body: Data

        /// The first header with this name (case-insensitive).
        public func header(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }

        /// The `Authorization: Bearer …` token, if any.
        public var bearer: String? {
            header("Authorization").flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
        }
    }

    /// The handler's answer.
    public struct Response: Sendable {
        public var status: Int
        public var contentType: String
        public var body: Data

        public init(status: Int, contentType: String = "application/json", body: Data) {
            self.status = status
            self.contentType = contentType
            self.body = body
        }

        /// A JSON answer (sorted keys).
        public static func json(_ status: Int, _ object: Any) -> Response {
            let data =
                (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .fragmentsAllowed]))
                ?? Data()
            return Response(status: status, body: data)
        }

        /// An RFC 7807 problem, as OpenADR servers answer errors.
        public static func problem(_ status: Int, _ detail: String) -> Response {
            var r = json(status, ["title": "error", "status": status, "detail": detail])
            r.contentType = "application/problem+json"
            return r
        }
    }

    public let host: String
    public let port: Int
    private let channel: any Channel

    private init(host: String, port: Int, channel: any Channel) {
        self.host = host
        self.port = port
        self.channel = channel
    }

    /// Binds `host:port` (port 0 picks a free one) and serves `handler`.
    public static func start(
        host: String, port: Int, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        maxBody: Int = 1 << 20, maxConnections: Int = 64,
        handler: @escaping @Sendable (Request) -> Response
    ) async throws(OpenADRError) -> TinyHTTPServer {
        let open = Atomic<Int>(0)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                // Bounded: beyond `maxConnections` a new connection is closed at once.
                if open.add(1, ordering: .relaxed).newValue > maxConnections {
                    open.subtract(1, ordering: .relaxed)
                    return channel.close()
                }
                channel.closeFuture.whenComplete { _ in open.subtract(1, ordering: .relaxed) }
                return channel.eventLoop.makeCompletedFuture {
                    // First: every close lingers, so a response (a 400 for a malformed request, any answer
                    // with `Connection: close`) reaches a client that is still sending.
                    try channel.pipeline.syncOperations.addHandler(LingeringCloseHandler())
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Handler(maxBody: maxBody, handler: handler))
                }
            }
        do {
            let channel = try await bootstrap.bind(host: host, port: port).get()
            return TinyHTTPServer(host: host, port: channel.localAddress?.port ?? port, channel: channel)
        } catch {
            throw OpenADRError(.configuration, "\(HostPort(host: host, port: port)): cannot listen (\(error))")
        }
    }

    /// Stops listening (connections in flight finish).
    public func close() async {
        try? await channel.close()
    }

    final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart

        let maxBody: Int
        let handler: @Sendable (Request) -> Response
        var head: HTTPRequestHead?
        var body = Data()
        var tooLarge = false

        init(maxBody: Int, handler: @escaping @Sendable (Request) -> Response) {
            self.maxBody = maxBody
            self.handler = handler
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let h):
                head = h
                body = Data()
                tooLarge = false
            case .body(var chunk):
                if body.count + chunk.readableBytes > maxBody {
                    tooLarge = true
                } else if let bytes = chunk.readBytes(length: chunk.readableBytes) {
                    body.append(contentsOf: bytes)
                }
            case .end:
                guard let h = head else { return }
                head = nil
                let response: Response
                if tooLarge {
                    response = .problem(413, "body over \(maxBody) bytes")
                } else {
                    let parts = h.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
                    var query: [String: String] = [:]
                    if parts.count > 1 {
                        for pair in parts[1].split(separator: "&") {
                            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                            let key = String(kv[0]).removingPercentEncoding ?? String(kv[0])
                            let value = kv.count > 1 ? String(kv[1]).replacingOccurrences(of: "+", with: " ") : ""
                            query[key] = value.removingPercentEncoding ?? value
                        }
                    }
                    response = handler(
                        Request(
                            method: h.method.rawValue, path: String(parts.first ?? ""), query: query,
                            headers: h.headers.map { ($0.name, $0.value) }, body: body))
                }
                var headers = HTTPHeaders()
                headers.add(name: "Content-Type", value: response.contentType)
                headers.add(name: "Content-Length", value: String(response.body.count))
                if !h.isKeepAlive { headers.add(name: "Connection", value: "close") }
                context.write(
                    wrapOutboundOut(
                        .head(
                            HTTPResponseHead(
                                version: h.version, status: HTTPResponseStatus(statusCode: response.status),
                                headers: headers))), promise: nil)
                var buffer = context.channel.allocator.buffer(capacity: response.body.count)
                buffer.writeBytes(response.body)
                context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
                let keepAlive = h.isKeepAlive
                let channel = context.channel
                context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
                    if !keepAlive { channel.close(promise: nil) }
                }
                body = Data()
            }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }
}
