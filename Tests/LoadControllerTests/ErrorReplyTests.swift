import DemandResponse
import Foundation
import LoadController
import NIOPosix
import Testing

/// An error reply reaches the client before the connection is cut: the server shuts down its write side
/// and discards what the client still sends, instead of closing with unread input (a TCP reset, which
/// makes the client's kernel drop the reply it has not read yet).
@Suite("Error replies reach the client", .serialized)
struct ErrorReplyTests {
    @Test func aLineTooLongOnTCPIsAnsweredWithItsReasonThenAnOrderlyClose() async throws {
        let load = FakeLoad()
        let c = LoadController(actuator: load, config: PolicyConfig(breakEvenUSDPerMWh: 50))
        c.start()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = try await SignalSocketServer.start(
            .tcp(host: "127.0.0.1", port: 0), controller: c, token: nil, group: group)
        let port = try #require(server.port)
        for attempt in 0..<5 {
            let client = try SignalClient(.tcp(host: "127.0.0.1", port: port), timeout: 5)
            // 70 KB in one line: the server gives up after 64 KiB, with about 6 KB still unread.
            let line = #"{"type":"curtail","level":1,"pad":""# + String(repeating: "x", count: 70_000) + "\"}\n"
            do {
                try client.sendRaw(Array(line.utf8))
            } catch {
                Issue.record("attempt \(attempt): the server cut the client off while it was sending: \(error)")
            }
            let reply = try client.readLine()
            #expect(reply.contains("line too long"), "attempt \(attempt): \(reply)")
            // Then an end of stream, not a reset.
            do {
                let more = try client.readLine()
                Issue.record("attempt \(attempt): a second reply: \(more)")
            } catch {
                #expect(error.message.contains("closed before a reply"), "attempt \(attempt): \(error.message)")
            }
        }
        #expect(!load.isHalted)
        // The connections were closed (the clients are gone: the server saw their end of stream).
        #expect(eventually { server.openConnections == 0 })
        await server.close()
        try await group.shutdownGracefully()
    }

    @Test func aClientThatKeepsSendingIsClosedWithinTheGrace() async throws {
        let c = LoadController(actuator: FakeLoad(), config: PolicyConfig(breakEvenUSDPerMWh: 50))
        c.start()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var limits = SignalSocketServer.Limits()
        limits.closeGrace = .milliseconds(500)
        let server = try await SignalSocketServer.start(
            .tcp(host: "127.0.0.1", port: 0), controller: c, token: nil, group: group, limits: limits)
        let port = try #require(server.port)
        let client = try SignalClient(.tcp(host: "127.0.0.1", port: port), timeout: 5)
        try client.sendRaw([UInt8](repeating: UInt8(ascii: "x"), count: 70_000))
        #expect(try client.readLine().contains("line too long"))
        // The client neither reads nor closes: the lingering connection is bounded in time.
        let started = ContinuousClock.now
        #expect(eventually(within: 5) { server.openConnections == 0 })
        #expect(ContinuousClock.now - started < .seconds(3))
        await server.close()
        try await group.shutdownGracefully()
    }
}
