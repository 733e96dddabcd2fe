import Foundation
import NIOCore
import NIOHTTP1
import SHA256
import ServerSupport
import Synchronization

/// The operator's page at `GET /`: one self-contained HTML file embedded in the binary (no external
/// requests), served with a Content-Security-Policy that allows only its own script (by hash), its
/// own styles and requests back to this server, so that text from outside shown on it can never run.
package enum Dashboard {
    /// The page.
    package static let html: String = String(decoding: PackageResources.dashboard_html, as: UTF8.self)

    /// `script-src` by the SHA-256 of the page's one inline script: inline event handlers and injected
    /// scripts are refused by the browser even if text were ever interpreted as HTML.
    package static let contentSecurityPolicy: String = {
        var script = ""
        if let open = html.range(of: "<script>"),
            let close = html.range(of: "</script>", range: open.upperBound..<html.endIndex)
        {
            script = String(html[open.upperBound..<close.lowerBound])
        }
        let digest = Data(SHA256.hash(Array(script.utf8)).bytes).base64EncodedString()
        return "default-src 'none'; script-src 'sha256-\(digest)'; style-src 'unsafe-inline'; connect-src 'self'; "
            + "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    }()
}

/// What the dashboard reads, as closures so that it depends on no particular miner.
package struct DashboardRoutes: Sendable {
    /// `/status` JSON (also each Server-Sent Event).
    package var status: @Sendable () -> String
    /// `GET /history`.
    package var history: @Sendable () -> String
    /// `GET /decisions`.
    package var decisions: @Sendable () -> String

    package init(
        status: @escaping @Sendable () -> String, history: @escaping @Sendable () -> String,
        decisions: @escaping @Sendable () -> String
    ) {
        self.status = status
        self.history = history
        self.decisions = decisions
    }
}

/// `GET /events/stream` for the dashboard: Server-Sent Events, one `data:` line of `/status` JSON a
/// second. Sits in the HTTP pipeline before the API's handler (which serves the page, `/history` and
/// `/decisions` with every other request) and passes everything else on. Bounded: at most `maxClients`
/// streams at once (503 beyond), and a stream whose client does not read loses frames (skipped while
/// the channel is not writable) rather than growing a buffer; one that stays unwritable for the
/// server's stalled timeout is reset (`HTTPConnectionGuard`), freeing its place.
final class DashboardHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    static let maxClients = 16
    static let open = Atomic<Int>(0)

    let routes: DashboardRoutes
    /// When set, a stream needs `Authorization: Bearer TOKEN` like every other request.
    let token: String?
    private var streaming = false
    /// The current request is the stream's: its body and end are not passed on.
    private var swallowing = false
    private var task: RepeatedTask?

    init(routes: DashboardRoutes, token: String? = nil) {
        self.routes = routes
        self.token = token
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if streaming { return }  // a stream takes no further requests on its connection
        switch unwrapInboundIn(data) {
        case .head(let h):
            let path = h.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? h.uri
            swallowing = h.method == .GET && path == "/events/stream"
            guard swallowing else {
                context.fireChannelRead(data)
                return
            }
            if let token, !BearerToken.authorized(h.headers, token: token) {
                refuse(context, h, status: .unauthorized, error: HTTPAuth.refusal)
            } else {
                stream(context: context, head: h)
            }
        case .body, .end:
            if !swallowing { context.fireChannelRead(data) }
        }
    }

    /// The refusal when too many streams are open, or without the token.
    private func refuse(
        _ context: ChannelHandlerContext, _ h: HTTPRequestHead, status: HTTPResponseStatus = .serviceUnavailable,
        error: String = "too many event streams"
    ) {
        let body = #"{"ok":false,"error":"\#(error)"}"# + "\n"
        var headers = HTTPHeaders()
        if status == .unauthorized { headers.add(name: "WWW-Authenticate", value: BearerToken.challenge) }
        context.writeHTTPResponse(
            to: h, status: status, contentType: "application/json", headers: headers, body: body, close: true)
    }

    private func stream(context: ChannelHandlerContext, head: HTTPRequestHead) {
        guard Self.open.add(1, ordering: .relaxed).newValue <= Self.maxClients else {
            Self.open.subtract(1, ordering: .relaxed)
            refuse(context, head)
            return
        }
        streaming = true
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "text/event-stream")
        headers.add(name: "Cache-Control", value: "no-store")
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .ok, headers: headers))), promise: nil
        )
        // The browser reconnects by itself after a restart of the miner; ask it to try every second.
        send(context: context, text: "retry: 1000\n\n")
        let status = routes.status
        send(context: context, text: "data: \(status())\n\n")
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        task = context.eventLoop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { _ in
            let (handler, context) = loopBound.value
            guard context.channel.isWritable else { return }  // a slow reader loses frames, not memory
            handler.send(context: context, text: "data: \(status())\n\n")
        }
    }

    private func send(context: ChannelHandlerContext, text: String) {
        var buffer = context.channel.allocator.buffer(capacity: text.utf8.count)
        buffer.writeString(text)
        context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
    }

    /// A stream sends and the client only listens: the connection's read-idle timeout does not apply.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if streaming, event is IdleStateHandler.IdleStateEvent { return }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if streaming {
            task?.cancel()
            task = nil
            streaming = false
            Self.open.subtract(1, ordering: .relaxed)
        }
        context.fireChannelInactive()
    }
}
