import DemandResponse
import FlexSupport
import Foundation
import LoadController
import NIOCore
import NIOHTTP1
import ServerSupport

/// The operator's HTTP surface, off unless `--http HOST:PORT` is given:
/// `GET /status` (JSON), `GET /metrics` (Prometheus text), `POST /pause` and `POST /resume` (the same as a
/// `curtail` level 1 / `release` signal with id `http-pause`). Once a token is configured every request
/// needs `Authorization: Bearer TOKEN` on every address, loopback included (a local process or a page in
/// a local browser can reach loopback too), reads as well as POSTs: only the dashboard's static page
/// (`GET /`) loads without it, and its data requests carry it. Without a token (loopback only: beyond
/// loopback, which needs `--allow-remote`, a token is required) loopback is trusted and nothing needs one.
package final class StatusServer: Sendable {
    /// What the server shows and does; closures so it depends on no particular miner.
    package struct Routes: Sendable {
        package var status: @Sendable () -> String
        package var metrics: @Sendable () -> String
        /// Handles a signal line as if it came from the `http` source; returns (accepted, reply JSON).
        package var signal: @Sendable (String) -> (Bool, String)
        /// The same with the controller's whole reply: when given, `POST /pause` and `/resume` answer only
        /// once the state file holds the change (see `StateDurability`), with `"state_durable"`.
        package var signalReply: (@Sendable (String) -> LoadController.Reply)?

        package init(
            status: @escaping @Sendable () -> String, metrics: @escaping @Sendable () -> String,
            signal: @escaping @Sendable (String) -> (Bool, String)
        ) {
            self.status = status
            self.metrics = metrics
            self.signal = signal
        }

        /// Routes whose POSTs wait for the state file (see `signalReply`).
        package init(
            status: @escaping @Sendable () -> String, metrics: @escaping @Sendable () -> String,
            signalReply: @escaping @Sendable (String) -> LoadController.Reply
        ) {
            self.init(
                status: status, metrics: metrics,
                signal: { line in
                    let r = signalReply(line)
                    return (r.ok, r.line)
                })
            self.signalReply = signalReply
        }
    }

    private let listener: HTTPListener
    package var host: String { listener.host }
    /// The bound port (the one picked when asked for port 0).
    package var port: Int { listener.port }

    /// Connections open at once; more are closed as they arrive.
    package static let maxConnections = 64
    /// A connection that sends nothing for this long is closed.
    package static let idleTimeout: TimeAmount = .seconds(60)
    /// A client that does not read its responses gets this long before it is closed.
    package static let stalledTimeout: TimeAmount = .seconds(5)

    private init(_ listener: HTTPListener) {
        self.listener = listener
    }

    /// Binds and serves.
    /// - Parameters:
    ///   - token: when given, required on POSTs whatever the address; must be given when `host` is not
    ///     loopback.
    ///   - dashboard: when given, `GET /` serves the operator's page and its data.
    ///   - maxConnections: connections open at once; more are closed as they arrive.
    package static func start(
        host: String, port: Int, token: String?, routes: Routes, dashboard: DashboardRoutes? = nil,
        group: any EventLoopGroup, maxConnections: Int = maxConnections
    ) async throws(ConfigError) -> StatusServer {
        if !Loopback.contains(host: host) && token == nil {
            throw ConfigError("--http \(host):\(port): beyond loopback the HTTP API needs a token")
        }
        do {
            let listener = try await HTTPServerFoundation.bind(
                host: host, port: port, group: group, limits: limits(maxConnections: maxConnections)
            ) { pipeline in
                try addHandlers(pipeline, token: token, routes: routes, host: host, dashboard: dashboard)
            }
            return StatusServer(listener)
        } catch {
            throw ConfigError("--http \(host):\(port): cannot listen (\(error))")
        }
    }

    /// The API's bounds on the foundation's (see `HTTPServerFoundation`).
    static func limits(maxConnections: Int = maxConnections) -> HTTPServerLimits {
        var limits = HTTPServerLimits()
        limits.maxConnections = maxConnections
        limits.idleTimeout = idleTimeout
        limits.stalledTimeout = stalledTimeout
        return limits
    }

    /// One connection's whole pipeline, as `start` builds it (tests build it on an `EmbeddedChannel`).
    /// `host` is the address the server was asked to bind (its origin, for the cross-origin check).
    package static func configureConnection(
        _ pipeline: ChannelPipeline.SynchronousOperations, token: String?, routes: Routes, host: String,
        dashboard: DashboardRoutes? = nil
    ) throws {
        try HTTPServerFoundation.configurePipeline(pipeline, limits: limits()) { pipeline in
            try addHandlers(pipeline, token: token, routes: routes, host: host, dashboard: dashboard)
        }
    }

    /// The API's own handlers, after the foundation's (see `HTTPServerFoundation`): the dashboard's event
    /// stream first when served, then the requests whole (no route takes a body: bodies are dropped).
    static func addHandlers(
        _ pipeline: ChannelPipeline.SynchronousOperations, token: String?, routes: Routes, host: String,
        dashboard: DashboardRoutes?
    ) throws {
        if let dashboard { try pipeline.addHandler(DashboardHandler(routes: dashboard, token: token)) }
        try pipeline.addHandler(HTTPRequestAggregator(maxBody: 0))
        try pipeline.addHandler(HTTPHandler(routes: routes, token: token, host: host, dashboard: dashboard))
    }

    /// Stops listening.
    package func close() async {
        await listener.close()
    }
}

final class HTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequest
    typealias OutboundOut = HTTPServerResponsePart

    let routes: StatusServer.Routes
    let token: String?
    /// The host the server was asked to bind (its origin is `http://HOST:PORT`).
    let host: String
    /// The dashboard's page and data, when served (`GET /`, `/history`, `/decisions`): answered here so
    /// that they go through the same back-pressure as every other request.
    let dashboard: DashboardRoutes?
    /// How long a `POST /pause` or `/resume` waits for the state file before it is answered anyway.
    var durabilityWait: Duration = StateDurability.replyWait

    init(routes: StatusServer.Routes, token: String?, host: String, dashboard: DashboardRoutes? = nil) {
        self.routes = routes
        self.token = token
        self.host = host
        self.dashboard = dashboard
    }

    /// Content types a browser sends cross-origin without asking first (a CORS "simple request"): a web
    /// page could otherwise pause or resume the miner through a form or `fetch(…, {mode: "no-cors"})`.
    static let formContentTypes: Set<String> = [
        "application/x-www-form-urlencoded", "multipart/form-data", "text/plain",
    ]

    /// Why a POST from a browser on another site is refused, or nil when it is not one: an `Origin` header
    /// that is not this server's own origin, or a form content type. Programs (curl, `flexminer`, scripts)
    /// send neither. A DNS-rebinding page reaches us with its own name in `Origin`, so it is refused too.
    func crossOriginProblem(_ h: HTTPRequestHead, port: Int?) -> String? {
        if let type = h.headers.first(name: "Content-Type") {
            let media = type.split(separator: ";", maxSplits: 1).first.map {
                $0.trimmingCharacters(in: .whitespaces).lowercased()
            }
            if let media, Self.formContentTypes.contains(media) {
                return "a form content type (\(media)) is refused: send no body"
            }
        }
        let origins = h.headers[canonicalForm: "Origin"]
        guard !origins.isEmpty else { return nil }
        var allowed: Set<String> = []
        if let port {
            allowed.insert("http://\(HostPort(host: host, port: port))".lowercased())
            if Loopback.contains(host: host) {
                for name in ["localhost", "127.0.0.1", "::1"] {
                    allowed.insert("http://\(HostPort(host: name, port: port))")
                }
            }
        }
        for origin in origins where !allowed.contains(origin.lowercased()) {
            return "cross-origin request refused (Origin \(origin.prefix(100)) is not this server)"
        }
        return nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let h = unwrapInboundIn(data).head
        let response = respond(h, port: context.channel.localAddress?.port)
        guard let durability = response.durability else {
            write(context, h, response.status, response.type, response.body)
            return
        }
        // Acknowledged once the state file holds the change; NIO's pipelining handler holds the
        // connection's next request until this response has ended, so responses stay in order.
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        durability.settled(on: context.eventLoop, within: durabilityWait).whenSuccess { ok in
            let (handler, context) = bound.value
            handler.write(
                context, h, response.status, response.type,
                LoadController.Reply.line(response.body, durable: ok) + "\n")
        }
    }

    /// Writes one whole response (and closes the connection after it unless kept alive).
    private func write(
        _ context: ChannelHandlerContext, _ h: HTTPRequestHead, _ status: HTTPResponseStatus, _ type: String,
        _ body: String
    ) {
        var headers = HTTPHeaders()
        headers.add(name: "Cache-Control", value: "no-store")
        if type.hasPrefix("text/html") {
            // The dashboard: only its own script (by hash) runs, and it may talk only to this server.
            headers.add(name: "Content-Security-Policy", value: Dashboard.contentSecurityPolicy)
            headers.add(name: "X-Content-Type-Options", value: "nosniff")
            headers.add(name: "Referrer-Policy", value: "no-referrer")
        }
        if status == .unauthorized { headers.add(name: "WWW-Authenticate", value: BearerToken.challenge) }
        context.writeHTTPResponse(to: h, status: status, contentType: type, headers: headers, body: body)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    /// One response; `durability` set when it waits for the state file (its body then a JSON line without
    /// the newline, to which `"state_durable"` is added).
    struct Response {
        let status: HTTPResponseStatus
        let type: String
        let body: String
        var durability: StateDurability? = nil

        init(_ status: HTTPResponseStatus, _ type: String, _ body: String, durability: StateDurability? = nil) {
            self.status = status
            self.type = type
            self.body = body
            self.durability = durability
        }
    }

    private func respond(_ h: HTTPRequestHead, port: Int?) -> Response {
        let path = h.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? h.uri
        let json = "application/json"
        func error(_ s: HTTPResponseStatus, _ message: String) -> Response {
            Response(s, json, JSONLine.encode(["ok": false, "error": message]) + "\n")
        }
        let page = h.method == .GET && (path == "/" || path == "/index.html")
        let signal = h.method == .POST && (path == "/pause" || path == "/resume")
        // Reads too: the status, metrics and history tell anyone who can reach the port when the site is
        // curtailed. The page itself holds nothing, and a POST is checked below, after its origin.
        if let token, !page, !signal, !BearerToken.authorized(h.headers, token: token) {
            return error(.unauthorized, HTTPAuth.refusal)
        }
        switch (h.method, path) {
        case (.GET, "/status"): return Response(.ok, json, routes.status() + "\n")
        case (.GET, "/"),
            (.GET, "/index.html") where dashboard != nil:
            return Response(.ok, "text/html; charset=utf-8", Dashboard.html)
        case (.GET, "/history") where dashboard != nil: return Response(.ok, json, dashboard!.history() + "\n")
        case (.GET, "/decisions") where dashboard != nil: return Response(.ok, json, dashboard!.decisions() + "\n")
        case (.GET, "/metrics"): return Response(.ok, "text/plain; version=0.0.4; charset=utf-8", routes.metrics())
        case (.POST, "/pause"), (.POST, "/resume"):
            if let problem = crossOriginProblem(h, port: port) { return error(.forbidden, problem) }
            if let token, !BearerToken.authorized(h.headers, token: token) {
                return error(.unauthorized, HTTPAuth.refusal)
            }
            let line =
                path == "/pause"
                ? #"{"type":"curtail","level":1.0,"id":"http-pause","reason":"POST /pause"}"#
                : #"{"type":"release","id":"http-pause"}"#
            if let signalReply = routes.signalReply {
                let r = signalReply(line)
                guard let durability = r.durability, durability.settled == nil else {
                    return Response(
                        r.ok ? .ok : .badRequest, json,
                        (r.durability?.settled.map { r.line(durable: $0) } ?? r.line) + "\n")
                }
                return Response(r.ok ? .ok : .badRequest, json, r.line, durability: durability)
            }
            let (ok, reply) = routes.signal(line)
            return Response(ok ? .ok : .badRequest, json, reply + "\n")
        case (_, "/status"), (_, "/metrics"), (_, "/pause"), (_, "/resume"):
            return error(.methodNotAllowed, "\(h.method) is not allowed on \(path)")
        default:
            return error(.notFound, "no such endpoint: \(path) (try /status, /metrics, POST /pause, POST /resume)")
        }
    }
}

/// The bearer token check every HTTP request goes through once a token is configured (`BearerToken`).
enum HTTPAuth {
    /// The error of a 401.
    static let refusal = "missing or wrong token (Authorization: Bearer TOKEN)"
}
