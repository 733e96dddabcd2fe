import NIOCore
import NIOEmbedded
import NIOHTTP1
import ServerSupport
import TestSupport
import Testing

/// Answers each request with the size of its body, or 413 when it was over the limit.
final class BodySizeHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequest
    typealias OutboundOut = HTTPServerResponsePart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let r = unwrapInboundIn(data)
        context.writeHTTPResponse(
            to: r.head, status: r.bodyTooLarge ? .payloadTooLarge : .ok, contentType: "text/plain",
            body: r.bodyTooLarge ? "too large\n" : "\(r.body.readableBytes) bytes\n")
    }
}

@Suite("One HTTP server foundation")
struct HTTPFoundationTests {
    func connection(maxBody: Int = 8, limits: HTTPServerLimits = HTTPServerLimits()) throws -> EmbeddedConnection {
        try EmbeddedConnection { pipeline in
            try HTTPServerFoundation.configurePipeline(pipeline, limits: limits) { pipeline in
                try pipeline.addHandler(HTTPRequestAggregator(maxBody: maxBody))
                try pipeline.addHandler(BodySizeHandler())
            }
        }
    }

    @Test func aKeptAliveConnectionIsAnsweredRequestByRequestAndStaysOpen() throws {
        let c = try connection()
        try c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        let first = try c.received()
        #expect(first.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(first.contains("Content-Type: text/plain\r\nContent-Length: 8\r\n"))
        #expect(!first.contains("Connection: close"))
        #expect(first.hasSuffix("\r\n\r\n5 bytes\n"))
        try c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try c.received().hasSuffix("0 bytes\n"))
        #expect(c.isOpen)
    }

    @Test func connectionCloseIsAnsweredThenTheConnectionCloses() throws {
        let c = try connection()
        try c.send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        let reply = try c.received()
        #expect(reply.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(reply.contains("Connection: close\r\n"))
        #expect(!c.isOpen)
    }

    @Test func aBodyOverTheLimitIsDroppedAndFlagged() throws {
        let c = try connection(maxBody: 8)
        try c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\n123456789")
        #expect(try c.received().hasPrefix("HTTP/1.1 413 Payload Too Large\r\n"))
        // In pieces too: the limit is on the sum.
        try c.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n12345\r\n")
        try c.send("5\r\n67890\r\n0\r\n\r\n")
        #expect(try c.received().hasPrefix("HTTP/1.1 413 Payload Too Large\r\n"))
        try c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\n12345678")
        #expect(try c.received().hasSuffix("8 bytes\n"))
    }

    @Test func aHeaderOverNIOsLimitGetsA400ThenTheConnectionCloses() throws {
        let c = try connection()
        try c.send("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + String(repeating: "a", count: 100_000) + "\r\n\r\n")
        #expect(try c.received().hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
        #expect(!c.isOpen)
    }

    @Test func aMalformedRequestGetsA400ThenTheConnectionCloses() throws {
        let c = try connection()
        try c.send("NOT HTTP AT ALL\r\n\r\n")
        #expect(try c.received().hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
        #expect(!c.isOpen)
    }

    @Test func aSilentConnectionIsClosedAfterTheIdleTimeout() throws {
        var limits = HTTPServerLimits()
        limits.idleTimeout = .seconds(60)
        let c = try connection(limits: limits)
        c.advance(.seconds(59))
        #expect(c.isOpen)
        // A request resets the clock.
        try c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        _ = try c.received()
        c.advance(.seconds(59))
        #expect(c.isOpen)
        c.advance(.seconds(2))
        #expect(!c.isOpen)
    }

    @Test func aClientThatStopsReadingIsResetAfterTheStalledTimeoutUnlessItResumes() throws {
        let c = try connection()
        c.channel.isWritable = false
        c.channel.pipeline.fireChannelWritabilityChanged()
        c.advance(.seconds(4))
        #expect(c.isOpen)
        c.channel.isWritable = true
        c.channel.pipeline.fireChannelWritabilityChanged()
        c.advance(.seconds(10))
        #expect(c.isOpen)

        c.channel.isWritable = false
        c.channel.pipeline.fireChannelWritabilityChanged()
        c.advance(.seconds(5))
        #expect(!c.isOpen)
    }
}
