import AsyncHTTPClient
import DemandResponse
import FlexSupport
import Foundation
import LoadController
import Logging
import NIOHTTP1
import NIOPosix
import Operations
import Synchronization
import TestSupport
import Testing
import WorkSources

struct Response {
    let status: UInt
    let contentType: String
    let body: String
    /// The `WWW-Authenticate` header ("" when none).
    var authenticate = ""
}

func request(_ method: HTTPMethod, _ url: String, headers: [(String, String)] = []) async throws -> Response {
    var r = HTTPClientRequest(url: url)
    r.method = method
    for (k, v) in headers { r.headers.add(name: k, value: v) }
    let response = try await HTTPClient.shared.execute(r, timeout: .seconds(5))
    let body = try await response.body.collect(upTo: 1 << 20)
    return Response(
        status: response.status.code, contentType: response.headers.first(name: "Content-Type") ?? "",
        body: String(buffer: body), authenticate: response.headers.first(name: "WWW-Authenticate") ?? "")
}

func decode(_ s: String) -> [String: Any] {
    (try? JSONSerialization.jsonObject(with: Data(s.utf8)) as? [String: Any]) ?? [:]
}

@Suite("HTTP API and metrics", .serialized)
struct HTTPTests {
    func serve(host: String = "127.0.0.1", token: String? = nil) async throws
        -> (StatusServer, LoadController, FakeLoad, MinerMetrics, MultiThreadedEventLoopGroup)
    {
        let load = FakeLoad(threads: 2, haltLatency: .microseconds(40), resumeLatency: .microseconds(60))
        let metrics = MinerMetrics()
        let controller = LoadController(
            actuator: load, config: PolicyConfig(breakEvenUSDPerMWh: 50), observer: { metrics.record($0) })
        controller.start()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let routes = StatusServer.Routes(
            status: {
                let s = controller.status
                return #"{"capacity":\#(s.capacity),"halted":\#(s.halted),"reason":"\#(s.reason)"}"#
            },
            metrics: { metrics.render() },
            signal: { line in
                let r = controller.handle(line: Array(line.utf8), origin: SignalOrigin(name: "http"))
                return (r.ok, r.line)
            })
        let server = try await StatusServer.start(host: host, port: 0, token: token, routes: routes, group: group)
        return (server, controller, load, metrics, group)
    }

    @Test func statusPauseResumeAndErrorsOnARealPort() async throws {
        let (server, _, load, _, group) = try await serve()
        let base = "http://127.0.0.1:\(server.port)"
        let status = try await request(.GET, base + "/status")
        #expect(status.status == 200)
        #expect(status.contentType.hasPrefix("application/json"))
        #expect(decode(status.body)["halted"] as? Bool == false)

        let pause = try await request(.POST, base + "/pause")
        #expect(pause.status == 200)
        #expect(decode(pause.body)["halted"] as? Bool == true)
        #expect(load.isHalted)
        #expect(decode(try await request(.GET, base + "/status").body)["halted"] as? Bool == true)
        let resume = try await request(.POST, base + "/resume")
        #expect(resume.status == 200)
        #expect(!load.isHalted)

        #expect(try await request(.GET, base + "/nothing").status == 404)
        #expect(try await request(.GET, base + "/pause").status == 405)
        #expect(try await request(.DELETE, base + "/status").status == 405)
        await server.close()
        try await group.shutdownGracefully()
    }

    @Test func beyondLoopbackThePostsNeedTheToken() async throws {
        let token = "0123456789abcdef-token"
        await #expect(throws: ConfigError.self) {
            _ = try await StatusServer.start(
                host: "0.0.0.0", port: 0, token: nil,
                routes: .init(status: { "" }, metrics: { "" }, signal: { _ in (true, "") }),
                group: MultiThreadedEventLoopGroup.singleton)
        }
        let (server, _, load, _, group) = try await serve(host: "0.0.0.0", token: token)
        let base = "http://127.0.0.1:\(server.port)"
        #expect(try await request(.POST, base + "/pause").status == 401)
        #expect(try await request(.POST, base + "/pause", headers: [("Authorization", "Bearer wrong")]).status == 401)
        #expect(!load.isHalted)
        #expect(
            try await request(.POST, base + "/pause", headers: [("Authorization", "Bearer \(token)")]).status == 200)
        #expect(load.isHalted)
        // Reading needs the token too once one is configured.
        #expect(try await request(.GET, base + "/status").status == 401)
        #expect(
            try await request(.GET, base + "/status", headers: [("Authorization", "Bearer \(token)")]).status == 200)
        await server.close()
        try await group.shutdownGracefully()
    }

    @Test func metricsAreValidPrometheusText() async throws {
        let (server, controller, _, metrics, group) = try await serve()
        _ = controller.handle(line: Array(#"{"type":"curtail","level":1}"#.utf8), origin: SignalOrigin(name: "unix:/s"))
        _ = controller.handle(line: Array(#"{"type":"release"}"#.utf8), origin: SignalOrigin(name: "unix:/s"))
        _ = controller.handle(line: Array("junk".utf8), origin: SignalOrigin(name: "unix:/s"))
        metrics.block(.accepted)
        metrics.block(.rejected(reason: "high-hash"))
        let response = try await request(.GET, "http://127.0.0.1:\(server.port)/metrics")
        #expect(response.status == 200)
        #expect(response.contentType.hasPrefix("text/plain; version=0.0.4"))
        let samples = try PrometheusText.parse(response.body)
        #expect(samples["flexminer_signal_messages_total{source=\"unix:/s\",result=\"ok\"}"] == 2)
        #expect(samples["flexminer_signal_messages_total{source=\"unix:/s\",result=\"error\"}"] == 1)
        #expect(samples["flexminer_halt_latency_seconds_count"] == 1)
        #expect(samples["flexminer_halt_latency_seconds_bucket{le=\"0.00005\"}"] == 1)  // 40 µs
        #expect(samples["flexminer_resume_latency_seconds_count"] == 1)
        #expect(samples["flexminer_blocks_total{result=\"found\"}"] == 2)
        #expect(samples["flexminer_blocks_total{result=\"accepted\"}"] == 1)
        #expect(samples["flexminer_blocks_total{result=\"rejected\"}"] == 1)
        #expect(samples["flexminer_blocks_total{result=\"unsubmitted\"}"] == 0)
        #expect(samples["flexminer_hashes_total"] != nil)
        #expect(samples["flexminer_capacity"] != nil)
        await server.close()
        try await group.shutdownGracefully()
    }
}

/// A strict reader of Prometheus' text exposition format: every line is a comment or
/// `name{labels} value`; returns the samples by series.
enum PrometheusText {
    struct Malformed: Error { let line: String }
    static func parse(_ text: String) throws -> [String: Double] {
        let sample =
            #/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? ([-+]?([0-9.]+([eE][-+]?[0-9]+)?|nan|NaN|\+?Inf|-Inf))$/#
        var out: [String: Double] = [:]
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# TYPE ") || line.hasPrefix("# HELP ") { continue }
            guard let m = try sample.wholeMatch(in: String(line)) else { throw Malformed(line: String(line)) }
            let series = String(m.output.1) + String(m.output.2 ?? "")
            out[series] = Double(String(m.output.5).lowercased() == "nan" ? "nan" : String(m.output.5))
        }
        return out
    }
}

@Suite("Configuration file")
struct ConfigTests {
    @Test func aCompleteExampleParses() throws {
        let c = try RunConfig(
            json: Data(
                #"""
                {"benchmark_work": true, "signals": ["unix:/run/f.sock", "file:/var/lib/f/prices.jsonl"],
                 "policy": {"breakeven_usd_per_mwh": 45, "hysteresis_usd_per_mwh": 3, "min_on_seconds": 300},
                 "decision_log": "/var/log/f.jsonl", "http": "127.0.0.1:9105", "threads": 2, "kernel": "shani",
                 "priority": "idle", "log_format": "json", "log_level": "debug", "status_line": false,
                 "start_halted": true, "seconds": 30, "journal": "j.jsonl", "blocks": 3}
                """#.utf8))
        #expect(c.benchmarkWork == true)
        #expect(c.signals == ["unix:/run/f.sock", "file:/var/lib/f/prices.jsonl"])
        #expect(c.policy?.breakEvenUSDPerMWh == 45)
        #expect(c.policy?.config.minOnSeconds == 300)
        #expect(c.threads == 2 && c.kernel == "shani" && c.priority == "idle")
        #expect(c.logFormat == "json" && c.logLevel == "debug" && c.statusLine == false)
        #expect(c.startHalted == true && c.seconds == 30 && c.blocks == 3)
    }

    @Test(arguments: [
        (#"{"thread": 2}"#, "unknown key \"thread\""),
        (#"{"threads": "2"}"#, "\"threads\" must be a whole number"),
        (#"{"threads": 0}"#, "\"threads\" must be 1...1024, got 0"),
        (#"{"threads": 1.5}"#, "\"threads\" must be a whole number"),
        (#"{"signals": "unix:/x"}"#, "\"signals\" must be an array of strings"),
        (#"{"priority": "high"}"#, "\"priority\" must be one of idle, low, normal"),
        (#"{"log_format": "xml"}"#, "\"log_format\" must be one of human, json"),
        (#"{"start_halted": "yes"}"#, "\"start_halted\" must be true or false"),
        (#"{"policy": {"breakeven": 3}}"#, "\"policy\": unknown key \"breakeven\""),
        (#"{"policy": {}, "policy_file": "p.json"}"#, "not both"),
        (#"{"seconds": -1}"#, "\"seconds\" must be within [0.001, 31536000]"),
        (#"{"seconds": 1e30}"#, "\"seconds\" must be within"),
        (#"{"network": "mainnet"}"#, "\"network\" must be one of"),
        ("[1]", "must be a JSON object"),
        ("{", "malformed JSON"),
    ])
    func badValuesNameTheKey(json: String, expected: String) {
        do {
            _ = try RunConfig(json: Data(json.utf8))
            Issue.record("accepted \(json)")
        } catch {
            #expect(error.message.contains(expected), "\(error.message)")
        }
    }
}

@Suite("Logging")
struct LoggingTests {
    @Test func humanAndJSONLines() throws {
        let sink = LogSink.capturing()
        var human = Logger(label: "flexminer") { FlexLogHandler(label: $0, format: .human, level: .info, output: sink) }
        human.info("capacity 100% -> 0%", metadata: ["source": "unix:/s"])
        human.debug("not shown at info")
        human.logLevel = .debug
        human.debug("shown at debug")
        let json = Logger(label: "flexminer") { FlexLogHandler(label: $0, format: .json, level: .info, output: sink) }
        json.warning("fail-safe", metadata: ["stale_seconds": "60"])
        let lines = sink.lines
        #expect(lines.count == 3)
        #expect(lines[0].hasSuffix("info flexminer: capacity 100% -> 0% [source=unix:/s]"))
        #expect(lines[1].contains("debug flexminer: shown at debug"))
        let object = decode(lines[2])
        #expect(object["level"] as? String == "warning")
        #expect(object["message"] as? String == "fail-safe")
        #expect(object["stale_seconds"] as? String == "60")
        #expect((object["time"] as? String).flatMap { ISO8601.parse($0) } != nil)
    }
}
