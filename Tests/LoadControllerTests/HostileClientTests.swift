import DemandResponse
import Foundation
import LoadController
import NIOPosix
import Synchronization
import Testing

/// Who may lift what on a socket, and other protocols spoken to the signal port.
@Suite("Hostile and confused clients", .serialized)
struct HostileClientTests {
    func serve(_ spec: SignalSourceSpec, log: DecisionLog? = nil, token: String? = nil) async throws
        -> (SignalSocketServer, LoadController, FakeLoad, MultiThreadedEventLoopGroup)
    {
        let load = FakeLoad()
        let c = LoadController(actuator: load, config: PolicyConfig(breakEvenUSDPerMWh: 50), log: log)
        c.start()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = try await SignalSocketServer.start(spec, controller: c, token: token, group: group)
        return (server, c, load, group)
    }

    @Test func anIdlessReleaseLiftsOnlyWhatTheSameConnectionSet() async throws {
        let dir = scratchDirectory()
        let path = dir + "/s.sock"
        let (server, c, load, group) = try await serve(.unix(path: path))
        let a = try SignalClient(.unix(path: path))
        let b = try SignalClient(.unix(path: path))
        let curtailed = decode(try a.request(#"{"type":"curtail","level":1}"#))
        #expect(curtailed["halted"] as? Bool == true)
        // Another connection to the same socket is another sender: its id-less release lifts nothing.
        #expect(decode(try b.request(#"{"type":"release"}"#))["ok"] as? Bool == true)
        #expect(load.isHalted)
        #expect(c.status.activeCurtailments == 1)
        // The connection that set it can lift it.
        #expect(decode(try a.request(#"{"type":"release"}"#))["halted"] as? Bool == false)
        #expect(!load.isHalted)

        // A curtailment with an id is lifted by that id from any connection (the one that set it is gone).
        do {
            let setter = try SignalClient(.unix(path: path))
            #expect(
                decode(try setter.request(#"{"type":"curtail","level":1,"id":"evt-9"}"#))["halted"] as? Bool == true)
        }
        #expect(decode(try b.request(#"{"type":"release"}"#))["ok"] as? Bool == true)
        #expect(load.isHalted)  // id-less, from another connection: not lifted
        #expect(decode(try b.request(#"{"type":"release","id":"evt-9"}"#))["halted"] as? Bool == false)

        // An id-less curtailment whose connection has closed is named in its reply, and lifted by that name.
        let id: String
        do {
            let once = try SignalClient(.unix(path: path))
            id = try #require(decode(try once.request(#"{"type":"curtail","level":0.5}"#))["id"] as? String)
        }
        #expect(id.hasPrefix("unix:\(path)#"))
        #expect(load.effective == 0.5)
        let release = #"{"type":"release","id":"\#(id)"}"#
        #expect(decode(try b.request(release))["capacity"] as? Double == 1)
        // The counters stay one per socket, whatever the number of connections.
        #expect(c.status.messages.keys.sorted() == ["unix:\(path)"])
        await server.close()
        try await group.shutdownGracefully()
    }

    /// A web page in a local browser can POST to the TCP port; the body would be read as signal lines.
    /// On a real port once; the other request lines (and the first-line rule) are in `SignalPipelineTests`.
    @Test(arguments: ["POST / HTTP/1.1"])
    func anHTTPRequestOnTheSignalPortExecutesNothing(requestLine: String) async throws {
        let dir = scratchDirectory()
        let log = try DecisionLog(path: dir + "/d.jsonl")
        let (server, c, load, group) = try await serve(.tcp(host: "127.0.0.1", port: 0), log: log)
        let port = try #require(server.port)
        let operator_ = try SignalClient(.tcp(host: "127.0.0.1", port: port))
        #expect(decode(try operator_.request(#"{"type":"curtail","level":1,"id":"eea"}"#))["halted"] as? Bool == true)

        let body = "{\"type\":\"release\",\"id\":\"eea\"}\n{\"type\":\"release\"}\n"
        let request =
            "\(requestLine)\r\nHost: 127.0.0.1:\(port)\r\nOrigin: http://evil.example\r\n"
            + "Content-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        let browser = try SignalClient(.tcp(host: "127.0.0.1", port: port), timeout: 5)
        try browser.sendRaw(Array(request.utf8))
        // Closed without a reply, and nothing in the body was executed.
        #expect(throws: SignalError.self) { _ = try browser.readLine() }
        #expect(load.isHalted)
        #expect(c.status.activeCurtailments == 1)
        #expect(decode(try operator_.request(#"{"type":"status"}"#))["halted"] as? Bool == true)
        log.close()
        let entries = readLines(dir + "/d.jsonl")
        #expect(entries.contains { ($0["error"] as? String)?.contains("an HTTP request") == true })
        #expect(!entries.contains { $0["type"] as? String == "release" })
        await server.close()
        try await group.shutdownGracefully()
    }

    /// A refused line is logged (decision log and operator notes) without the token's value.
    @Test func aRefusedLineNeverLogsItsToken() async throws {
        let dir = scratchDirectory()
        let log = try DecisionLog(path: dir + "/d.jsonl")
        let notes = NoteCollector()
        let secret = "s3cret-token-0123456789"
        let c = LoadController(
            actuator: FakeLoad(), config: PolicyConfig(breakEvenUSDPerMWh: 50), log: log,
            message: { notes.add($0) })
        c.start()
        let origin = SignalOrigin(name: "tcp:127.0.0.1:7781", requiredToken: secret)
        let lines = [
            #"{"type":"curtail","level":2,"token":"\#(secret)"}"#,  // right token, bad level
            #"{"token" : "\#(secret)","type":"curtail","level":2}"#,
            #"{"TOKEN":"\#(secret)","type":"nope"}"#,
            #"{"tok\u0065n":"\#(secret)","type":"curtail","level":7}"#,  // the key spelled with an escape
            #"{"type":"price","token":"\#(secret)","usd_per_mwh":"#,  // malformed, cut after the token
            #"{"type":"curtail","level":1,"token":"wrong-\#(secret)"}"#,
        ]
        for line in lines {
            #expect(c.handle(line: Array(line.utf8), origin: origin).ok == false, "\(line)")
        }
        log.close()
        let text = try String(contentsOfFile: dir + "/d.jsonl", encoding: .utf8)
        #expect(!text.contains("s3cret"))
        #expect(text.components(separatedBy: "[redacted]").count - 1 == lines.count)
        #expect(!notes.all.joined().contains("s3cret"))
        #expect(notes.all.count >= lines.count)
    }

    @Test func theDecisionLogIsPrivate() throws {
        let dir = scratchDirectory()
        let old = umask(0o022)
        defer { umask(old) }
        let log = try DecisionLog(path: dir + "/d.jsonl")
        log.write(["event": "start"])
        log.close()
        let mode = try FileManager.default.attributesOfItem(atPath: dir + "/d.jsonl")[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }
}

/// Collects the controller's operator notes.
final class NoteCollector: Sendable {
    private let notes = Mutex<[String]>([])
    func add(_ s: String) { notes.withLock { $0.append(s) } }
    var all: [String] { notes.withLock { $0 } }
}
