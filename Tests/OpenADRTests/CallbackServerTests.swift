import Foundation
import OpenADR
import TestSupport
import Testing

/// The VEN's callback server answers a malformed request with its 400 before it closes, even while the
/// client is still sending (an orderly end of stream, never a reset).
@Suite("OpenADR callback server: answers before the close", .serialized)
struct CallbackServerCloseTests {
    @Test func aHeaderTooLargeGetsItsBadRequestThenAnOrderlyClose() async throws {
        let server = try await TinyHTTPServer.start(host: "127.0.0.1", port: 0) { _ in .json(200, ["ok": true]) }
        for attempt in 0..<5 {
            let request =
                "POST /openadr/callback HTTP/1.1\r\nHost: x\r\nX-Pad: " + String(repeating: "a", count: 100_000)
                + "\r\n\r\n" + String(repeating: "b", count: 600_000)
            let seen = rawExchange(port: server.port, bytes: Array(request.utf8))
            #expect(seen.received.hasPrefix("HTTP/1.1 400"), "attempt \(attempt): \(seen.received.prefix(80))")
            #expect(seen.ending == "end of stream", "attempt \(attempt)")
            #expect(seen.sentAll, "attempt \(attempt)")
        }
        await server.close()
    }
}
