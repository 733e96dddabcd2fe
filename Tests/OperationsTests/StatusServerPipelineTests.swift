import Foundation
import Operations
import TestSupport
import Testing

/// The HTTP API's handlers on an `EmbeddedChannel`: auth, routes, the event stream and timeouts without
/// a socket (the socket round trips stay in `HTTPTests` and `DashboardTests`).
@Suite("HTTP API on an embedded channel")
struct StatusServerPipelineTests {
    static let token = "0123456789abcdef-token"
    static let refusal = #"{"error":"missing or wrong token (Authorization: Bearer TOKEN)","ok":false}"# + "\n"

    func api(token: String? = Self.token, dashboard: Bool = true) throws -> EmbeddedConnection {
        let routes = StatusServer.Routes(
            status: { #"{"halted":false}"# }, metrics: { "flexminer_up 1\n" },
            signal: { line in (true, #"{"ok":true,"line":\#(line.count)}"#) })
        let page = DashboardRoutes(
            status: { #"{"controller":{"state":"mining"}}"# }, history: { #"{"samples":[]}"# },
            decisions: { #"{"decisions":[],"total":0}"# })
        return try EmbeddedConnection { pipeline in
            try StatusServer.configureConnection(
                pipeline, token: token, routes: routes, host: "127.0.0.1", dashboard: dashboard ? page : nil)
        }
    }

    /// The JSON body of a response.
    func body(_ response: String) -> [String: Any] {
        decode(String(response.split(separator: "\r\n\r\n", maxSplits: 1).last ?? ""))
    }

    func get(_ path: String, _ headers: String = "") -> String {
        "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\(headers)\r\n"
    }

    @Test func withATokenEveryReadNeedsItAndA401SaysHowToAuthenticate() throws {
        let c = try api()
        for headers in ["", "Authorization: Bearer wrong\r\n", "Authorization: Basic \(Self.token)\r\n"] {
            try c.send(get("/status", headers))
            let reply = try c.received()
            #expect(reply.hasPrefix("HTTP/1.1 401 Unauthorized\r\n"), "\(headers)")
            #expect(reply.contains("\r\nWWW-Authenticate: Bearer realm=\"flexminer\"\r\n"))
            #expect(reply.contains("\r\nCache-Control: no-store\r\n"))
            #expect(reply.hasSuffix("\r\n\r\n" + Self.refusal))
        }
        try c.send(get("/status", "Authorization: Bearer \(Self.token)\r\n"))
        let reply = try c.received()
        #expect(reply.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(reply.contains("Content-Type: application/json\r\n"))
        #expect(reply.hasSuffix(#"{"halted":false}"# + "\n"))
        #expect(c.isOpen)
    }

    @Test func thePageLoadsWithoutTheTokenItsDataDoesNot() throws {
        let c = try api()
        try c.send(get("/"))
        let page = try c.received()
        #expect(page.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(page.contains("Content-Type: text/html; charset=utf-8\r\n"))
        #expect(page.contains("Content-Security-Policy: "))
        for path in ["/history", "/decisions", "/metrics"] {
            try c.send(get(path))
            #expect(try c.received().hasPrefix("HTTP/1.1 401 Unauthorized\r\n"), "\(path)")
        }
    }

    @Test func postsAreRefusedFromAnotherOriginAndWithoutTheToken() throws {
        let c = try api()
        try c.send("POST /pause HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        #expect(try c.received().hasPrefix("HTTP/1.1 401 Unauthorized\r\n"))
        try c.send(
            "POST /pause HTTP/1.1\r\nHost: x\r\nOrigin: http://evil.example\r\n"
                + "Authorization: Bearer \(Self.token)\r\nContent-Length: 0\r\n\r\n")
        let refused = try c.received()
        #expect(refused.hasPrefix("HTTP/1.1 403 Forbidden\r\n"))
        #expect((body(refused)["error"] as? String)?.hasPrefix("cross-origin request refused") == true)
        try c.send(
            "POST /pause HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
                + "Authorization: Bearer \(Self.token)\r\nContent-Length: 3\r\n\r\nabc")
        #expect(
            body(try c.received())["error"] as? String == "a form content type (text/plain) is refused: send no body")
        try c.send(
            "POST /pause HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(Self.token)\r\nContent-Length: 0\r\n\r\n")
        let paused = try c.received()
        #expect(paused.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(paused.hasSuffix("\r\n\r\n" + #"{"ok":true,"line":71}"# + "\n"))
    }

    @Test func unknownPathsAndWrongMethodsAreNamed() throws {
        let c = try api(token: nil)
        try c.send(get("/nothing"))
        let missing = try c.received()
        #expect(missing.hasPrefix("HTTP/1.1 404 Not Found\r\n"))
        #expect(
            body(missing)["error"] as? String
                == "no such endpoint: /nothing (try /status, /metrics, POST /pause, POST /resume)")
        try c.send(get("/pause"))
        #expect(body(try c.received())["error"] as? String == "GET is not allowed on /pause")
        try c.send("DELETE /status HTTP/1.0\r\n\r\n")
        let deleted = try c.received()
        #expect(deleted.hasPrefix("HTTP/1.0 405 Method Not Allowed\r\n"))
        #expect(deleted.contains("Connection: close\r\n"))
        #expect(!c.isOpen)
    }

    @Test func aSilentConnectionIsClosedAfterTheIdleTimeout() throws {
        let c = try api(token: nil)
        c.advance(StatusServer.idleTimeout - .seconds(1))
        #expect(c.isOpen)
        c.advance(.seconds(2))
        #expect(!c.isOpen)
    }

    @Test func theEventStreamNeedsTheTokenAndOutlivesTheIdleTimeout() throws {
        let refused = try api()
        try refused.send(get("/events/stream"))
        let reply = try refused.received()
        #expect(reply.hasPrefix("HTTP/1.1 401 Unauthorized\r\n"))
        #expect(reply.contains("WWW-Authenticate: Bearer realm=\"flexminer\"\r\n"))
        #expect(reply.contains("Connection: close\r\n"))
        #expect(!refused.isOpen)

        let c = try api()
        try c.send(get("/events/stream", "Authorization: Bearer \(Self.token)\r\n"))
        let head = try c.received()
        #expect(head.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(head.contains("Content-Type: text/event-stream\r\n"))
        #expect(head.contains(#"data: {"controller":{"state":"mining"}}"#))
        // The client only listens: the read-idle timeout does not end a stream.
        c.advance(StatusServer.idleTimeout + .seconds(10))
        #expect(c.isOpen)
        #expect(try c.received().contains("data: "))
        c.end()
    }

    /// A stream whose client takes nothing more (its buffer full) is reset after the stalled timeout,
    /// freeing its place among the streams.
    @Test func aStalledEventStreamIsReset() throws {
        let c = try api(token: nil)
        try c.send(get("/events/stream"))
        _ = try c.received()
        c.channel.isWritable = false
        c.channel.pipeline.fireChannelWritabilityChanged()
        c.advance(StatusServer.stalledTimeout - .seconds(1))
        #expect(c.isOpen)
        c.advance(.seconds(2))
        #expect(!c.isOpen)
    }
}
