import FlexSupport
import Foundation
import Logging
import Mining
import MiningKernels
import Operations
import TestSupport
import Testing
import WorkSources

@Suite("run: settings precedence")
struct RunSettingsTests {
    func resolve(_ flags: RunFlags, file json: String? = nil, env: [String: String] = [:]) throws -> RunSettings {
        let file = try json.map { try RunConfig(json: Data($0.utf8)) }
        return try RunSettings.resolve(flags, file: file, environment: env, isTerminal: false) { _ in
            try! Kernel.named(.scalar)
        }
    }

    @Test func flagsOverrideTheFileAndAWorkFlagReplacesTheFilesWork() throws {
        var flags = RunFlags()
        flags.values.threads = 1
        flags.values.breakeven = 30
        let file = #"""
            {"template": "t.json", "payout": "bcrt1qft5p2uhsdcdc3l2ua4ap5qqfg4pjaqlp250x7us7a8qqhrxrxfsqseac85",
             "threads": 2, "policy": {"breakeven_usd_per_mwh": 50, "min_on_seconds": 60},
             "signals": ["unix:/tmp/x.sock"], "http": "127.0.0.1:9105"}
            """#
        var s = try resolve(flags, file: file)
        #expect(s.threads == 1)
        #expect(s.policy.breakEvenUSDPerMWh == 30)
        #expect(s.policy.config.minOnSeconds == 60)  // the rest of the file's policy stays
        #expect(s.signalTexts == ["unix:/tmp/x.sock"])
        #expect(s.http == HostPort(host: "127.0.0.1", port: 9105))
        guard case .template(let path) = s.work else {
            Issue.record("expected the file's template, got \(s.work)")
            return
        }
        #expect(path == "t.json")
        flags.values.benchmarkWork = true
        flags.values.signals = ["file:/tmp/p.jsonl"]
        s = try resolve(flags, file: file)
        guard case .benchmark = s.work else {
            Issue.record("--benchmark-work must replace the file's template, got \(s.work)")
            return
        }
        #expect(s.signalTexts == ["file:/tmp/p.jsonl"])
    }

    @Test func noSignalsIsAValidPlainMiner() throws {
        var flags = RunFlags()
        flags.values.benchmarkWork = true
        flags.values.http = "127.0.0.1:0"
        let s = try resolve(flags)
        #expect(!s.hasSignalSources)
        #expect(s.http?.port == 0)
        #expect(!s.statusLine)
    }

    @Test func refusals() throws {
        var flags = RunFlags()
        #expect(throws: ConfigError.self) { try resolve(flags) }  // no work source
        flags.values.benchmarkWork = true
        flags.values.http = "0.0.0.0:9105"
        #expect(
            throws: ConfigError("--http 0.0.0.0:9105: beyond loopback needs --allow-remote and a token (--token-file)")
        ) {
            try resolve(flags)
        }
        flags.values.allowRemote = true
        #expect(throws: ConfigError("FLEXMINER_SIGNAL_TOKEN: the token must be at least 16 characters")) {
            try resolve(flags, env: ["FLEXMINER_SIGNAL_TOKEN": ""])
        }
        #expect(try resolve(flags, env: ["FLEXMINER_SIGNAL_TOKEN": "0123456789abcdef"]).token == "0123456789abcdef")
        flags.values.http = nil
        flags.values.threads = 0
        #expect(throws: ConfigError("--threads must be 1...1024, got 0")) { try resolve(flags) }
        flags.values.threads = 1
        flags.values.seconds = 1e30
        #expect(throws: ConfigError.self) { try resolve(flags) }
        flags.values.seconds = nil
        flags.values.signals = ["tcp:example.com:99"]
        flags.values.allowRemote = false
        #expect(throws: ConfigError.self) { try resolve(flags) }
    }
}

@Suite("run: the service group", .serialized)
struct MinerRunTests {
    /// A plain miner: no signal sources, HTTP on; it mines, `/status` says so with the work source, the
    /// run ends by itself after `--seconds` with a summary from the same status report.
    @Test func minesWithoutSignalsAndEndsAfterSeconds() async throws {
        var flags = RunFlags()
        flags.values.benchmarkWork = true
        flags.values.threads = 1
        flags.values.seconds = 1.5
        flags.values.http = "127.0.0.1:0"
        let settings = try RunSettings.resolve(flags, environment: [:], isTerminal: false) { _ in
            try! Kernel.named(.scalar)
        }
        let sink = LogSink.capturing()
        let logger = Logger(label: "test") { FlexLogHandler(label: $0, format: .human, level: .info, output: sink) }
        let summary = try await MinerRun(settings: settings, version: "test", logger: logger, sink: sink).run()
        let object = decode(summary.json)
        #expect((object["hashes"] as? Int ?? 0) > 0)
        #expect(object["state"] as? String == "mining")
        #expect(object["signals_ok"] as? Int == 0)
        #expect(sink.lines.contains { $0.contains("no --signals: mining at full capacity, fail-safe unarmed") })
        #expect(sink.lines.contains { $0.contains("HTTP API on http://127.0.0.1:") })
        #expect(sink.lines.contains { $0.contains("stopped cleanly") })
    }

    /// A work source that fails for good halts the workers and says why.
    @Test func aWorkSourceThatEndsForGoodHaltsTheWorkers() async throws {
        struct Broken: WorkSource {
            let inner = BenchmarkWork(seed: 3)
            var kind: String { "template" }
            var origin: String { "broken" }
            var jobSource: any JobSource { inner.jobSource }
            func run(engine: MiningEngine, onBlock: @escaping @Sendable (SolvedBlock) -> Void) async throws(WorkError) {
                engine.setJob(inner.job)
                try? await Task.sleep(for: .milliseconds(200))
                throw WorkError(.disk, "cannot write blocks/106-x.hex: No space left on device")
            }
        }
        var flags = RunFlags()
        flags.values.benchmarkWork = true
        flags.values.threads = 1
        flags.values.seconds = 1
        let settings = try RunSettings.resolve(flags, environment: [:], isTerminal: false) { _ in
            try! Kernel.named(.scalar)
        }
        let sink = LogSink.capturing()
        let logger = Logger(label: "test") { FlexLogHandler(label: $0, format: .human, level: .info, output: sink) }
        let summary = try await MinerRun(settings: settings, version: "test", logger: logger, sink: sink)
            .run(workSource: Broken())
        let object = decode(summary.json)
        #expect(object["state"] as? String == "stopped")
        #expect((object["work_error"] as? String)?.contains("No space left") == true)
        #expect(sink.lines.contains { $0.contains("work source stopped") })
    }
}
