import DemandResponse
import FlexSupport
import Foundation
import LoadController
import Logging
import MiningKernels
import Operations
import TestSupport
import Testing

/// A configured token is enforced on every TCP and HTTP listener, loopback included (any local process,
/// or a page in a local browser, reaches loopback); a Unix socket keeps its file-mode trust.
@Suite("run: the token on loopback", .serialized)
struct LoopbackTokenTests {
    let token = "loopback-token-0123456789"

    func settings(_ dir: String, token: String?) throws -> RunSettings {
        var flags = RunFlags()
        flags.values.benchmarkWork = true
        flags.values.threads = 1
        flags.values.seconds = 60
        flags.values.signals = ["unix:\(dir)/s.sock", "tcp:127.0.0.1:0"]
        flags.values.http = "127.0.0.1:0"
        return try RunSettings.resolve(
            flags, environment: token.map { ["FLEXMINER_SIGNAL_TOKEN": $0] } ?? [:], isTerminal: false
        ) { _ in try! Kernel.named(.scalar) }
    }

    /// Starts `run` and returns the TCP source's port and the HTTP base URL, read from its notes.
    func start(_ settings: RunSettings, sink: LogSink) async throws -> (Task<Void, any Error>, Int, String) {
        let logger = Logger(label: "test") { FlexLogHandler(label: $0, format: .human, level: .info, output: sink) }
        let run = Task { _ = try await MinerRun(settings: settings, version: "t", logger: logger, sink: sink).run() }
        #expect(
            await polled(within: 30) {
                sink.lines.contains { $0.contains("HTTP API on http://127.0.0.1:") }
                    && sink.lines.contains { $0.contains("listening for signals on tcp:127.0.0.1:0 (port") }
                    && sink.lines.contains { $0.contains("listening for signals on unix:") }
            })
        let http = try #require(sink.lines.first { $0.contains("HTTP API on http://127.0.0.1:") })
        let base = String(try #require(http.firstMatch(of: #/http://127\.0\.0\.1:[0-9]+/#)).output)
        let tcp = try #require(sink.lines.first { $0.contains("listening for signals on tcp:127.0.0.1:0 (port") })
        let port = Int(try #require(tcp.firstMatch(of: #/\(port ([0-9]+)\)/#)).output.1)!
        return (run, port, base)
    }

    /// An event stream's lines up to its first `data:` one (at most 20 lines; the stream itself never ends).
    func firstEvent(port: Int, request: String) throws -> [String] {
        let client = try SignalClient(.tcp(host: "127.0.0.1", port: port), timeout: 5)
        try client.sendRaw(Array(request.utf8))
        var lines: [String] = []
        while lines.count < 20, lines.last?.hasPrefix("data:") != true {
            lines.append(try client.readLine())
        }
        return lines
    }

    @Test func aConfiguredTokenIsRequiredOnLoopbackTCPAndHTTP() async throws {
        let dir = scratchDirectory()
        let sink = LogSink.capturing()
        let (run, port, base) = try await start(try settings(dir, token: token), sink: sink)
        defer { run.cancel() }

        // TCP on loopback: a line without the token is refused and changes nothing; with it, obeyed.
        let refused = decode(
            try SignalClient(.tcp(host: "127.0.0.1", port: port)).request(#"{"type":"curtail","level":1,"id":"a"}"#))
        #expect(refused["ok"] as? Bool == false, "\(refused)")
        #expect((refused["error"] as? String)?.contains("token") == true, "\(refused)")
        let wrong = decode(
            try SignalClient(.tcp(host: "127.0.0.1", port: port)).request(
                #"{"type":"curtail","level":1,"id":"a","token":"not-the-token-at-all"}"#))
        #expect(wrong["ok"] as? Bool == false, "\(wrong)")
        let bearer = [("Authorization", "Bearer \(token)")]
        #expect(decode(try await request(.GET, base + "/status", headers: bearer).body)["halted"] as? Bool == false)
        let obeyed = decode(
            try SignalClient(.tcp(host: "127.0.0.1", port: port)).request(
                #"{"type":"curtail","level":1,"id":"a","token":"\#(token)"}"#))
        #expect(obeyed["ok"] as? Bool == true, "\(obeyed)")
        #expect(obeyed["halted"] as? Bool == true, "\(obeyed)")

        // HTTP on loopback: the POSTs need the bearer token, and so do the reads (issue 23: once a token is
        // configured every TCP and HTTP peer presents it), answered 401 with a Bearer challenge and a JSON
        // error; only the dashboard's static page loads without it.
        #expect(try await request(.POST, base + "/resume").status == 401)
        #expect(try await request(.POST, base + "/pause").status == 401)
        #expect(try await request(.POST, base + "/pause", headers: [("Authorization", "Bearer wrong")]).status == 401)
        for path in ["/status", "/metrics", "/history", "/decisions", "/nothing"] {
            for headers in [[], [("Authorization", "Bearer wrong")], [("Authorization", token)]] {
                let r = try await request(.GET, base + path, headers: headers)
                #expect(r.status == 401, "GET \(path) with \(headers.count) header(s): \(r.status)")
                #expect(r.authenticate.hasPrefix("Bearer"), "GET \(path): WWW-Authenticate \(r.authenticate)")
                #expect((decode(r.body)["error"] as? String)?.contains("token") == true, "\(path): \(r.body)")
                #expect(!r.body.contains(token))
            }
        }
        #expect(try await request(.GET, base + "/status", headers: bearer).status == 200)
        let metrics = try await request(.GET, base + "/metrics", headers: bearer)
        #expect(metrics.status == 200 && metrics.body.contains("flexminer_"))
        #expect(try await request(.GET, base + "/history", headers: bearer).status == 200)
        #expect(try await request(.GET, base + "/decisions", headers: bearer).status == 200)
        #expect(try await request(.GET, base + "/nothing", headers: bearer).status == 404)
        let page = try await request(.GET, base + "/")
        #expect(page.status == 200 && page.contentType.hasPrefix("text/html"))
        // The event stream too: refused and closed without the token, streaming with it.
        let httpPort = Int(try #require(base.split(separator: ":").last))!
        let stream = "GET /events/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
        let refusedStream = rawExchange(port: httpPort, bytes: Array((stream + "\r\n").utf8), timeout: 5)
        #expect(refusedStream.received.hasPrefix("HTTP/1.1 401"), "\(refusedStream.received)")
        #expect(refusedStream.received.lowercased().contains("www-authenticate: bearer"))
        #expect(refusedStream.ending == "end of stream", "\(refusedStream.ending)")
        let streamed = try firstEvent(port: httpPort, request: stream + "Authorization: Bearer \(token)\r\n\r\n")
        #expect(streamed.first?.hasPrefix("HTTP/1.1 200") == true, "\(streamed)")
        #expect(streamed.last?.hasPrefix("data: {") == true, "\(streamed)")
        #expect(
            try await request(.POST, base + "/pause", headers: [("Authorization", "Bearer \(token)")]).status == 200)
        #expect(
            try await request(.POST, base + "/resume", headers: [("Authorization", "Bearer \(token)")]).status == 200)

        // The Unix socket keeps its file-mode trust: no token needed there.
        let unix = decode(try SignalClient(.unix(path: "\(dir)/s.sock")).request(#"{"type":"release","id":"a"}"#))
        #expect(unix["ok"] as? Bool == true, "\(unix)")
        #expect(unix["halted"] as? Bool == false, "\(unix)")
        run.cancel()
        _ = try? await run.value
    }

    @Test func withoutATokenLoopbackStaysTrusted() async throws {
        let dir = scratchDirectory()
        let sink = LogSink.capturing()
        let (run, port, base) = try await start(try settings(dir, token: nil), sink: sink)
        defer { run.cancel() }
        let reply = decode(
            try SignalClient(.tcp(host: "127.0.0.1", port: port)).request(#"{"type":"curtail","level":1,"id":"b"}"#))
        #expect(reply["halted"] as? Bool == true, "\(reply)")
        #expect(try await request(.POST, base + "/resume").status == 200)
        #expect(try await request(.POST, base + "/pause").status == 200)
        // Reads too, as before: no token configured, nothing asks for one.
        for path in ["/status", "/metrics", "/history", "/decisions", "/"] {
            #expect(try await request(.GET, base + path).status == 200, "GET \(path)")
        }
        let httpPort = Int(try #require(base.split(separator: ":").last))!
        let streamed = try firstEvent(port: httpPort, request: "GET /events/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        #expect(streamed.first?.hasPrefix("HTTP/1.1 200") == true, "\(streamed)")
        #expect(streamed.last?.hasPrefix("data: {") == true, "\(streamed)")
        run.cancel()
        _ = try? await run.value
    }
}
