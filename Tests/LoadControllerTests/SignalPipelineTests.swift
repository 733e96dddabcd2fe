import DemandResponse
import Foundation
import LoadController
import NIOCore
import Synchronization
import Testing

/// The signal protocol's connection handling on an `EmbeddedChannel` (framing, cross-protocol refusal,
/// the token's one line, the rate limit, oversize lines, a client leaving mid-line) without a socket. The
/// socket round trips that prove real sockets work stay in `SourceTests`, `ErrorReplyTests` and
/// `HostileClientTests`.
@Suite("Signal connections on an embedded channel")
struct SignalPipelineTests {
    /// A connection to a controller (with a fake load), the operator notes it writes, and the rate limit's
    /// clock standing still at `now`.
    struct Setup {
        let connection: EmbeddedConnection
        let controller: LoadController
        let load: FakeLoad
        let notes: Notes

        var noted: [String] { notes.all }
    }

    /// The operator notes a controller wrote.
    final class Notes: Sendable {
        private let list = Mutex<[String]>([])
        func append(_ line: String) { list.withLock { $0.append(line) } }
        var all: [String] { list.withLock { $0 } }
    }

    func connect(token: String? = nil, now: ContinuousClock.Instant = .now) throws -> Setup {
        let load = FakeLoad()
        let notes = Notes()
        let controller = LoadController(
            actuator: load, config: PolicyConfig(breakEvenUSDPerMWh: 50),
            message: { notes.append($0) })
        controller.start()
        let connection = try EmbeddedConnection { pipeline in
            try SignalSocketServer.configureConnection(
                pipeline, controller: controller,
                origin: SignalOrigin(source: "tcp:127.0.0.1:9", connection: 1, requiredToken: token), now: { now })
        }
        return Setup(connection: connection, controller: controller, load: load, notes: notes)
    }

    @Test func linesSplitAcrossReadsOrSharingOneAreEachAnsweredInOrder() throws {
        let s = try connect()
        let c = s.connection
        try c.send(#"{"type":"sta"#)
        #expect(try c.receivedLines().isEmpty)
        try c.send("tus\"}\r\n\n" + #"{"type":"curtail","level":1,"id":"a"}"# + "\n" + #"{"type":"release","id":"a"}"#)
        try c.send("\n")
        let replies = try c.receivedLines().map(decode)
        #expect(replies.count == 3)
        #expect(replies[0]["ok"] as? Bool == true)
        #expect(replies[1]["halted"] as? Bool == true)
        #expect(replies[2]["halted"] as? Bool == false)
        #expect(c.isOpen)
    }

    @Test(arguments: [
        "POST / HTTP/1.1", "GET /x HTTP/1.0", "PUT /signals?x=1 HTTP/2", "OPTIONS * HTTP/1.1", "post / http/1.1",
    ])
    func anHTTPRequestIsRefusedWithoutAReplyAndItsBodyIsNeverRead(requestLine: String) throws {
        let s = try connect()
        let body = #"{"type":"curtail","level":1,"id":"evil"}"# + "\n"
        try s.connection.send(
            "\(requestLine)\r\nHost: 127.0.0.1\r\nOrigin: http://evil.example\r\nContent-Type: text/plain\r\n"
                + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)")
        #expect(try s.connection.receivedLines().isEmpty)
        #expect(!s.connection.isOpen)
        #expect(!s.load.isHalted)
        #expect(s.noted.contains { $0.contains("an HTTP request, not the signal protocol; connection closed") })
    }

    @Test func onlyTheFirstLineIsCheckedForHTTP() throws {
        let s = try connect()
        try s.connection.send(#"{"type":"status"}"# + "\nGET / HTTP/1.1\n")
        let replies = try s.connection.receivedLines().map(decode)
        #expect(replies.count == 2)
        #expect(replies[1]["error"] as? String == "malformed JSON")
        #expect(s.connection.isOpen)
    }

    static let token = "a-token-of-24-characters"

    /// On a source that needs a token, a peer that has not proved it gets one refused line per connection
    /// (then it is closed), so it cannot keep the signal thread parsing a stream of lines.
    @Test(arguments: [
        #"{"type":"curtail","level":1,"token":"wrong-token-of-24-chars!"}"#, #"{"type":"status"}"#, "garbage",
    ])
    func withATokenARefusedFirstLineEndsTheConnection(first: String) throws {
        let s = try connect(token: Self.token)
        try s.connection.send(first + "\n" + #"{"type":"status","token":"\#(Self.token)"}"# + "\n")
        let replies = try s.connection.receivedLines().map(decode)
        // The next line (valid this time) is never answered.
        #expect(replies.count == 1)
        #expect(replies.first?["ok"] as? Bool == false)
        #expect(!s.connection.isOpen)
        #expect(!s.load.isHalted)
    }

    /// A client that has proved the token keeps its connection through later mistakes.
    @Test func withATokenAClientThatProvedItKeepsItsConnection() throws {
        let s = try connect(token: Self.token)
        try s.connection.send(
            [
                #"{"type":"status","token":"\#(Self.token)"}"#, "garbage",
                #"{"type":"curtail","level":7,"token":"\#(Self.token)"}"#,
                #"{"type":"curtail","level":1,"token":"\#(Self.token)"}"#,
            ].joined(separator: "\n") + "\n")
        let replies = try s.connection.receivedLines().map(decode)
        #expect(replies.map { $0["ok"] as? Bool } == [true, false, false, true])
        #expect(replies.last?["halted"] as? Bool == true)
        #expect(s.connection.isOpen)
        #expect(s.controller.status.activeCurtailments == 1)
    }

    @Test func aBurstOverTheRateLimitIsAnsweredUpToTheLimitThenCutOff() throws {
        // The clock stands still: no tokens come back during the burst.
        let s = try connect()
        let limit = SignalSocketServer.maxLinesPerSecond
        try s.connection.send(String(repeating: #"{"type":"heartbeat"}"# + "\n", count: limit + 50))
        let replies = try s.connection.receivedLines()
        #expect(replies.count == limit + 1)
        #expect(replies.dropLast().allSatisfy { decode($0)["ok"] as? Bool == true })
        #expect(
            replies.last
                == #"{"ok":false,"error":"too many messages (limit \#(limit) per second); disconnecting"}"#)
        #expect(!s.connection.isOpen)
        #expect(s.noted.contains { $0.contains("client flooded; connection closed") })
    }

    @Test func theRateLimitRefillsWithTimeAndSavesUpAtMostOneSecond() {
        let t0 = ContinuousClock.now
        var rate = LineRateLimit(perSecond: 10, now: t0)
        // (when, lines asked for, lines taken)
        let table: [(Duration, Int, Int)] = [
            (.zero, 12, 10), (.milliseconds(100), 2, 1), (.milliseconds(150), 1, 0), (.milliseconds(350), 3, 2),
            (.seconds(60), 15, 10),
        ]
        for (at, asked, taken) in table {
            let got = (0..<asked).filter { _ in rate.take(at: t0 + at) }.count
            #expect(got == taken, "at \(at)")
        }
    }

    @Test func aLineOverTheLimitIsAnsweredThenCutOffInWholeLinesOrInPieces() throws {
        let max = SignalMessage.maximumLineLength
        let reply = #"{"ok":false,"error":"line too long (over \#(max) bytes without a newline); disconnecting"}"#
        let pieces = try connect()
        let chunk = [UInt8](repeating: UInt8(ascii: "x"), count: 2048)
        for _ in 0..<100 where pieces.connection.isOpen { try pieces.connection.send(chunk) }
        #expect(!pieces.connection.isOpen)
        #expect(try pieces.connection.receivedLines() == [reply])
        #expect(pieces.noted.contains { $0.contains("line over \(max) bytes; connection closed") })

        let whole = try connect()
        try whole.connection.send(#"{"type":"status"}"# + "\n" + String(repeating: "a", count: max + 1) + "\n")
        #expect(try whole.connection.receivedLines().dropFirst() == [reply])
        #expect(!whole.connection.isOpen)
    }

    @Test func aClientLeavingMidLineIsNotedWithTheBytesDropped() throws {
        let s = try connect()
        try s.connection.send(#"{"type":"status"}"# + "\n" + #"{"type":"curt"#)
        #expect(try s.connection.receivedLines().count == 1)
        s.connection.end()
        #expect(!s.load.isHalted)
        #expect(s.noted.contains { $0.contains("client disconnected mid-line (13 bytes discarded)") })
    }

    @Test func aSilentClientIsCutOffAfterTheIdleTimeout() throws {
        let s = try connect()
        let idle = SignalSocketServer.Limits.standard.idleTimeout.components.seconds
        s.connection.advance(.seconds(idle - 1))
        #expect(s.connection.isOpen)
        s.connection.advance(.seconds(2))
        #expect(!s.connection.isOpen)
        #expect(s.noted.contains { $0.contains("no line for too long (idle)") })
    }
}
