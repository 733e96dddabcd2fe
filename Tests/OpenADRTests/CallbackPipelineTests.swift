import Foundation
import OpenADR
import Synchronization
import TestSupport
import Testing

/// The OpenADR callback server's handlers on an `EmbeddedChannel`: what the VEN's handler sees, the body
/// limit, and the protections of the shared HTTP foundation it gained (idle timeout).
/// The requests a handler has seen.
final class SeenRequests: Sendable {
    private let list = Mutex<[TinyHTTPServer.Request]>([])
    func append(_ r: TinyHTTPServer.Request) { list.withLock { $0.append(r) } }
    var all: [TinyHTTPServer.Request] { list.withLock { $0 } }
}

@Suite("OpenADR callback server on an embedded channel")
struct CallbackPipelineTests {
    /// A connection to a callback server whose handler records each request and answers 200.
    func callback(maxBody: Int = 16) throws -> (EmbeddedConnection, SeenRequests) {
        let seen = SeenRequests()
        let c = try EmbeddedConnection { pipeline in
            try TinyHTTPServer.configureConnection(pipeline, maxBody: maxBody) { [seen] request in
                seen.append(request)
                return .json(200, ["ok": true])
            }
        }
        return (c, seen)
    }

    @Test func theHandlerSeesPathQueryHeadersBearerAndBody() throws {
        let (c, seen) = try callback()
        try c.send(
            "POST /openadr/callback?a=1&b=x+y%21 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\n"
                + "Content-Length: 11\r\n\r\n{\"k\":\"v\"}\r\n")
        let reply = try c.received()
        #expect(reply.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(reply.contains("Content-Type: application/json\r\nContent-Length: 11\r\n"))
        #expect(reply.hasSuffix(#"{"ok":true}"#))
        let r = try #require(seen.all.first)
        #expect(r.method == "POST")
        #expect(r.path == "/openadr/callback")
        #expect(r.query == ["a": "1", "b": "x y!"])
        #expect(r.bearer == "s3cret")
        #expect(r.header("authorization") == "Bearer s3cret")
        #expect(String(decoding: r.body, as: UTF8.self) == "{\"k\":\"v\"}\r\n")
        #expect(c.isOpen)
    }

    @Test func aRequestWithoutABearerTokenHasNone() throws {
        let (c, seen) = try callback()
        try c.send("GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Basic abc\r\n\r\n")
        _ = try c.received()
        #expect(seen.all.first?.bearer == nil)
    }

    @Test func aBodyOverTheLimitIsA413ProblemAndNeverReachesTheHandler() throws {
        let (c, seen) = try callback(maxBody: 16)
        try c.send("POST /cb HTTP/1.1\r\nHost: x\r\nContent-Length: 17\r\n\r\n" + String(repeating: "x", count: 17))
        let reply = try c.received()
        #expect(reply.hasPrefix("HTTP/1.1 413 Payload Too Large\r\n"))
        #expect(reply.contains("Content-Type: application/problem+json\r\n"))
        #expect(reply.hasSuffix(#"{"detail":"body over 16 bytes","status":413,"title":"error"}"#))
        #expect(seen.all.isEmpty)
        // The connection goes on.
        try c.send("POST /cb HTTP/1.1\r\nHost: x\r\nContent-Length: 16\r\n\r\n" + String(repeating: "x", count: 16))
        #expect(try c.received().hasPrefix("HTTP/1.1 200 OK\r\n"))
    }

    @Test func aSilentConnectionIsClosedAfterAMinute() throws {
        let (c, _) = try callback()
        c.advance(.seconds(59))
        #expect(c.isOpen)
        c.advance(.seconds(2))
        #expect(!c.isOpen)
    }
}
