import DemandResponse
import FlexSupport
import Foundation
import LoadController
import NIOCore
import NIOHTTP1
import NIOPosix

/// The operator's HTTP surface, off unless `--http HOST:PORT` is given:
/// `GET /status` (JSON), `GET /metrics` (Prometheus text), `POST /pause` and `POST /resume` (the same as a
/// `curtail` level 1 / `release` signal with id `http-pause`). Beyond loopback (which needs
/// `--allow-remote`) the POSTs require `Authorization: Bearer TOKEN`.
public final class StatusServer: Sendable {
    /// What the server shows and does; closures so it depends on no particular miner.
    public struct Routes: Sendable {
        public var status: @Sendable () -> String
        public var metrics: @Sendable () -> String
        /// Handles a signal line as if it came from the `http` source; returns (accepted, reply JSON).
        public var signal: @Sendable (String) -> (Bool, String)

        public init(
            status: @escaping @Sendable () -> String, metrics: @escaping @Sendable () -> String,
            signal: @escaping @Sendable (String) -> (Bool, String)
        ) {
            self.status = status
            self.metrics = metrics
            self.signal = signal
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

    /// Binds and serves.
    /// - Parameter token: required on POSTs; must be given when `host` is not loopback.
    /// - Parameter dashboard: when given, `GET /` serves the operator's page and its data.
    public static func start(
        host: String, port: Int, token: String?, routes: Routes, dashboard: DashboardRoutes? = nil,
        group: any EventLoopGroup
    ) async throws(ConfigError) -> StatusServer {
        if !Loopback.contains(host: host) && token == nil {
            throw ConfigError("--http \(host):\(port): beyond loopback the HTTP API needs a token")
        }
        let requiredToken = Loopback.contains(host: host) ? nil : token
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 32)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    if let dashboard {
                        try channel.pipeline.syncOperations.addHandler(DashboardHandler(routes: dashboard))
                    }
                    try channel.pipeline.syncOperations.addHandler(HTTPHandler(routes: routes, token: requiredToken))
                }
            }
        do {
            let channel = try await bootstrap.bind(host: host, port: port).get()
            return StatusServer(host: host, port: channel.localAddress?.port ?? port, channel: channel)
        } catch {
            throw ConfigError("--http \(host):\(port): cannot listen (\(error))")
        }
    }

    public func close() async {
        try? await channel.close()
    }
}

final class HTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let routes: StatusServer.Routes
    let token: String?
    private var head: HTTPRequestHead?

    init(routes: StatusServer.Routes, token: String?) {
        self.routes = routes
        self.token = token
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h): head = h
        case .body: break  // no route takes a body
        case .end:
            guard let h = head else { return }
            head = nil
            let (status, type, body) = respond(h)
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: type)
            headers.add(name: "Content-Length", value: String(body.utf8.count))
            headers.add(name: "Cache-Control", value: "no-store")
            if !h.isKeepAlive { headers.add(name: "Connection", value: "close") }
            context.write(
                wrapOutboundOut(.head(HTTPResponseHead(version: h.version, status: status, headers: headers))),
                promise: nil)
            var buffer = context.channel.allocator.buffer(capacity: body.utf8.count)
            buffer.writeString(body)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
            let keepAlive = h.isKeepAlive
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
                if !keepAlive { channel.close(promise: nil) }
            }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func respond(_ h: HTTPRequestHead) -> (HTTPResponseStatus, String, String) {
        let path = h.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? h.uri
        let json = "application/json"
        func error(_ s: HTTPResponseStatus, _ message: String) -> (HTTPResponseStatus, String, String) {
            let body =
                (try? JSONSerialization.data(withJSONObject: ["ok": false, "error": message], options: [.sortedKeys]))
                .map { String(decoding: $0, as: UTF8.self) } ?? "{}"
            return (s, json, body + "\n")
        }
        switch (h.method, path) {
        case (.GET, "/status"): return (.ok, json, routes.status() + "\n")
        case (.GET, "/metrics"): return (.ok, "text/plain; version=0.0.4; charset=utf-8", routes.metrics())
        case (.POST, "/pause"), (.POST, "/resume"):
            if let token {
                let given = h.headers.first(name: "Authorization").map {
                    $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : ""
                }
                guard ConstantTime.equal(given, token)
                else {
                    return error(.unauthorized, "missing or wrong token (Authorization: Bearer TOKEN)")
                }
            }
            let line =
                path == "/pause"
                ? #"{"type":"curtail","level":1.0,"id":"http-pause","reason":"POST /pause"}"#
                : #"{"type":"release","id":"http-pause"}"#
            let (ok, reply) = routes.signal(line)
            return (ok ? .ok : .badRequest, json, reply + "\n")
        case (_, "/status"), (_, "/metrics"), (_, "/pause"), (_, "/resume"):
            return error(.methodNotAllowed, "\(h.method) is not allowed on \(path)")
        default:
            return error(.notFound, "no such endpoint: \(path) (try /status, /metrics, POST /pause, POST /resume)")
        }
    }
}
