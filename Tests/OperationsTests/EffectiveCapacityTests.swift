import FlexSupport
import Foundation
import LoadController
import Logging
import MiningKernels
import Operations
import TestSupport
import Testing

/// Issue 23, class 4: `/status` said `capacity: 1` while every worker was parked. `capacity` is what the
/// host is doing (0 while halted) in `/status`, the metrics, the signal replies and the run's summary; the
/// duty fraction set has its own name, `capacity_setting`.
@Suite("run: effective capacity", .serialized)
struct EffectiveCapacityTests {
    @Test func haltedMeansCapacityZeroEverywhere() async throws {
        let dir = scratchDirectory()
        var flags = RunFlags()
        flags.values.benchmarkWork = true
        flags.values.threads = 2
        flags.values.seconds = 60
        flags.values.http = "127.0.0.1:0"
        flags.values.signals = ["unix:\(dir)/s.sock"]
        let settings = try RunSettings.resolve(flags, environment: [:], isTerminal: false) { _ in
            try! Kernel.named(.scalar)
        }
        let sink = LogSink.capturing()
        let logger = Logger(label: "test") { FlexLogHandler(label: $0, format: .human, level: .info, output: sink) }
        let run = Task { try await MinerRun(settings: settings, version: "t", logger: logger, sink: sink).run() }
        defer { run.cancel() }
        #expect(await polled(within: 20) { sink.lines.contains { $0.contains("HTTP API on http://127.0.0.1:") } })
        let line = try #require(sink.lines.first { $0.contains("HTTP API on http://127.0.0.1:") })
        let base = try #require(line.firstMatch(of: #/http://127\.0\.0\.1:[0-9]+/#)).output
        #expect(await polled(within: 20) { FileManager.default.fileExists(atPath: "\(dir)/s.sock") })

        func status() async throws -> [String: Any] { decode(try await request(.GET, base + "/status").body) }
        func metrics() async throws -> [String: Double] {
            try PrometheusText.parse(try await request(.GET, base + "/metrics").body)
        }

        // Mining: both say 1.
        var s = try await status()
        #expect(s["capacity"] as? Double == 1, "\(s)")
        #expect(s["capacity_setting"] as? Double == 1, "\(s)")

        // A full curtailment over the socket: every worker parked. The reply, /status and the metrics
        // agree on 0; the duty fraction set is still there under its own name.
        let reply = decode(
            try SignalClient(.unix(path: "\(dir)/s.sock"), timeout: 10).request(
                #"{"type":"curtail","level":1,"id":"grid"}"#))
        #expect(reply["halted"] as? Bool == true, "\(reply)")
        #expect(reply["capacity"] as? Double == 0, "\(reply)")
        s = try await status()
        #expect(s["halted"] as? Bool == true)
        #expect(s["active_workers"] as? Int == 0)
        #expect(s["capacity"] as? Double == 0, "capacity while halted: \(s)")
        #expect(s["capacity_setting"] as? Double == 1, "\(s)")
        var m = try await metrics()
        #expect(m["flexminer_halted"] == 1)
        #expect(m["flexminer_capacity"] == 0, "flexminer_capacity while halted: \(m["flexminer_capacity"] ?? -1)")
        #expect(m["flexminer_capacity_setting"] == 1)

        // Released, then paused over HTTP: the same.
        _ = try SignalClient(.unix(path: "\(dir)/s.sock"), timeout: 10).request(#"{"type":"release","id":"grid"}"#)
        #expect(try await request(.POST, base + "/pause").status == 200)
        s = try await status()
        #expect(s["capacity"] as? Double == 0, "capacity while paused: \(s)")
        m = try await metrics()
        #expect(m["flexminer_capacity"] == 0)

        // A partial curtailment: what the host does is the fraction set.
        #expect(try await request(.POST, base + "/resume").status == 200)
        let half = decode(
            try SignalClient(.unix(path: "\(dir)/s.sock"), timeout: 10).request(
                #"{"type":"curtail","level":0.5,"id":"grid"}"#))
        #expect(half["capacity"] as? Double == 0.5, "\(half)")
        s = try await status()
        #expect(s["capacity"] as? Double == 0.5, "\(s)")
        #expect(s["capacity_setting"] as? Double == 0.5, "\(s)")
        m = try await metrics()
        #expect(m["flexminer_capacity"] == 0.5)
        #expect(m["flexminer_capacity_setting"] == 0.5)
        run.cancel()
        _ = try? await run.value
    }
}
