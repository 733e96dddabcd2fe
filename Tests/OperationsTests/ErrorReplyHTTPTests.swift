import Foundation
import NIOPosix
import Operations
import TestSupport
import Testing

/// The HTTP API's answers reach a client that is still sending: a malformed request's 400 and a
/// `Connection: close` answer are followed by an orderly end of stream, never a reset.
@Suite("HTTP API: answers before the close", .serialized)
struct HTTPErrorReplyTests {
    func serve() async throws -> (StatusServer, MultiThreadedEventLoopGroup) {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let routes = StatusServer.Routes(
            status: { #"{"halted":false}"# }, metrics: { "" }, signal: { _ in (true, "{}") })
        let server = try await StatusServer.start(host: "127.0.0.1", port: 0, token: nil, routes: routes, group: group)
        return (server, group)
    }

    @Test func aHeaderTooLargeGetsItsBadRequestThenAnOrderlyClose() async throws {
        let (server, group) = try await serve()
        for attempt in 0..<5 {
            let request =
                "GET /status HTTP/1.1\r\nHost: x\r\nX-Pad: " + String(repeating: "a", count: 100_000) + "\r\n\r\n"
                + String(repeating: "b", count: 600_000)
            let seen = rawExchange(port: server.port, bytes: Array(request.utf8))
            #expect(seen.received.hasPrefix("HTTP/1.1 400"), "attempt \(attempt): \(seen.received.prefix(80))")
            #expect(seen.ending == "end of stream", "attempt \(attempt)")
            #expect(seen.sentAll, "attempt \(attempt)")
        }
        await server.close()
        try await group.shutdownGracefully()
    }

    @Test func aConnectionCloseAnswerIsNotLostToInputStillArriving() async throws {
        let (server, group) = try await serve()
        for attempt in 0..<5 {
            // The request, then bytes the server will never interpret (it closes after this answer).
            let request = "GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            let trailing = String(repeating: "z", count: 200_000)
            let seen = rawExchange(port: server.port, bytes: Array((request + trailing).utf8))
            #expect(seen.received.hasPrefix("HTTP/1.1 200"), "attempt \(attempt): \(seen.received.prefix(80))")
            #expect(seen.received.contains(#"{"halted":false}"#), "attempt \(attempt)")
            #expect(seen.ending == "end of stream", "attempt \(attempt)")
        }
        await server.close()
        try await group.shutdownGracefully()
    }
}
