import FlexSupport
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import ServerSupport

/// A small HTTP/1.1 server on SwiftNIO for the VEN's notification callback (and the project's fake VTN):
/// one synchronous handler per request, bodies up to `maxBody`, at most `maxConnections` open at once.
/// Handlers must not block: they record and return (the work happens elsewhere).
package final class TinyHTTPServer: Sendable {
    /// One request as the handler sees it.
    package struct Request: Sendable {
        package let method: String
        /// The path without the query.
        package let path: String
        package let query: [String: String]
        package let headers: [(String, String)]
        package let body: Data

        /// The first header with this name (case-insensitive).
        package func header(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }

        /// The `Authorization: Bearer …` token, if any.
        package var bearer: String? { BearerToken.parse(header("Authorization")) }
    }

    /// The handler's answer.
    package struct Response: Sendable {
        package var status: Int
        package var contentType: String
        package var body: Data

        package init(status: Int, contentType: String = "application/json", body: Data) {
            self.status = status
            self.contentType = contentType
            self.body = body
        }

        /// A JSON answer (sorted keys).
        package static func json(_ status: Int, _ object: Any) -> Response {
            let data =
                (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .fragmentsAllowed]))
                ?? Data()
            return Response(status: status, body: data)
        }

        /// An RFC 7807 problem, as OpenADR servers answer errors.
        package static func problem(_ status: Int, _ detail: String) -> Response {
            var r = json(status, ["title": "error", "status": status, "detail": detail])
            r.contentType = "application/problem+json"
            return r
        }
    }

    private let listener: HTTPListener
    package var host: String { listener.host }
    /// The bound port (the one picked when asked for port 0).
    package var port: Int { listener.port }

    private init(_ listener: HTTPListener) {
        self.listener = listener
    }

    /// Binds `host:port` (port 0 picks a free one) and serves `handler`, with the protections of
    /// `HTTPServerFoundation` (idle timeout, back-pressure, lingering close).
    package static func start(
        host: String, port: Int, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        maxBody: Int = 1 << 20, maxConnections: Int = 64,
        handler: @escaping @Sendable (Request) -> Response
    ) async throws(OpenADRError) -> TinyHTTPServer {
        do {
            let listener = try await HTTPServerFoundation.bind(
                host: host, port: port, group: group, limits: limits(maxConnections: maxConnections)
            ) { pipeline in
                try addHandlers(pipeline, maxBody: maxBody, handler: handler)
            }
            return TinyHTTPServer(listener)
        } catch {
            throw OpenADRError(.configuration, "\(HostPort(host: host, port: port)): cannot listen (\(error))")
        }
    }

    /// The foundation's bounds (a minute's idle timeout, back-pressure) with this server's backlog and
    /// connection limit.
    static func limits(maxConnections: Int = 64) -> HTTPServerLimits {
        var limits = HTTPServerLimits()
        limits.backlog = 64
        limits.maxConnections = maxConnections
        return limits
    }

    /// One connection's whole pipeline, as `start` builds it (tests build it on an `EmbeddedChannel`).
    package static func configureConnection(
        _ pipeline: ChannelPipeline.SynchronousOperations, maxBody: Int = 1 << 20,
        handler: @escaping @Sendable (Request) -> Response
    ) throws {
        try HTTPServerFoundation.configurePipeline(pipeline, limits: limits()) { pipeline in
            try addHandlers(pipeline, maxBody: maxBody, handler: handler)
        }
    }

    /// The server's own handlers, after the foundation's: requests whole (bodies up to `maxBody`), then
    /// `handler`.
    static func addHandlers(
        _ pipeline: ChannelPipeline.SynchronousOperations, maxBody: Int,
        handler: @escaping @Sendable (Request) -> Response
    ) throws {
        try pipeline.addHandler(HTTPRequestAggregator(maxBody: maxBody))
        try pipeline.addHandler(Handler(maxBody: maxBody, handler: handler))
    }

    /// Stops listening (connections in flight finish).
    package func close() async {
        await listener.close()
    }

    /// Answers each whole request with `handler`'s response (a 413 problem when the body was over
    /// `maxBody`).
    final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequest
        typealias OutboundOut = HTTPServerResponsePart

        let maxBody: Int
        let handler: @Sendable (Request) -> Response

        init(maxBody: Int, handler: @escaping @Sendable (Request) -> Response) {
            self.maxBody = maxBody
            self.handler = handler
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var request = unwrapInboundIn(data)
            let h = request.head
            let response: Response
            if request.bodyTooLarge {
                response = .problem(413, "body over \(maxBody) bytes")
            } else {
                let body = Data(request.body.readBytes(length: request.body.readableBytes) ?? [])
                response = handler(Self.request(h, body: body))
            }
            var buffer = context.channel.allocator.buffer(capacity: response.body.count)
            buffer.writeBytes(response.body)
            context.writeHTTPResponse(
                to: h, status: HTTPResponseStatus(statusCode: response.status), contentType: response.contentType,
                body: buffer)
        }

        /// The handler's view of a request: the path, the query decoded, the headers and the body.
        static func request(_ h: HTTPRequestHead, body: Data) -> Request {
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
            return Request(
                method: h.method.rawValue, path: String(parts.first ?? ""), query: query,
                headers: h.headers.map { ($0.name, $0.value) }, body: body)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }
}
