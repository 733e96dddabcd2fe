import Foundation
import LoadController
import Logging
import MiningKernels
import Operations
import PowerSources
import SunSpecTestMeter
import Synchronization
import TestSupport
import Testing

@Suite("run: power sources and telemetry", .serialized)
struct PowerSettingsTests {
    func resolve(_ edit: (inout RunFlags) -> Void, file json: String? = nil) throws -> RunSettings {
        var flags = RunFlags()
        flags.values.benchmarkWork = true
        flags.values.threads = 2
        edit(&flags)
        let file = try json.map { try RunConfig(json: Data($0.utf8)) }
        return try RunSettings.resolve(flags, file: file, environment: [:], isTerminal: false) { _ in
            try! Kernel.named(.scalar)
        }
    }

    @Test func powerWattsAloneRunsTheModelAndAMeterRunsBesideIt() throws {
        let none = try resolve { _ in }
        #expect(none.power.isEmpty)
        let model = try resolve {
            $0.values.openADR3 = {
                var c = OpenADR3Config(); c.powerWatts = 1400; return c
            }()
        }
        #expect(model.power.modelWatts == 1400 && model.power.measured == nil && model.power.idleWatts == 0)
        let both = try resolve(
            { $0.values.power = "sunspec:127.0.0.1:1502/2" },
            file: #"{"power_watts": 3250, "idle_watts": 250, "power_interval": 2, "telemetry": "/tmp/t.jsonl"}"#)
        #expect(both.power.measured == .sunspec(host: "127.0.0.1", port: 1502, unit: 2))
        #expect(both.power.modelWatts == 3250 && both.power.idleWatts == 250 && both.power.interval == 2)
        // Stale after three intervals at the least.
        #expect(both.power.stale == 6 && both.power.telemetry == "/tmp/t.jsonl")
        #expect(both.power.telemetryMaxBytes == 100 << 20 && !both.power.hostName.isEmpty)
        // The policy's power_watts feeds the model too.
        let dir = scratchDirectory()
        try #"{"power_watts": 900}"#.write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
        #expect(try resolve { $0.values.policyFile = dir + "/p.json" }.power.modelWatts == 900)
    }

    @Test func aReasonOutsideTheAllowListNeverBecomesALabel() {
        let metrics = MinerMetrics()
        metrics.powerError(source: "sunspec", reason: "exception 2")
        metrics.powerError(source: "sunspec", reason: "exception 77")
        metrics.powerError(source: "sunspec", reason: "exception other")
        let text = metrics.render()
        #expect(text.contains(#"reason="exception 2""#))
        #expect(text.contains(#"reason="exception other""#))
        #expect(text.contains(#"reason="other""#))
        #expect(!text.contains("exception 77"))
    }

    @Test func badPowerSettingsNameTheFlag() {
        func refusal(_ edit: (inout RunFlags) -> Void, file: String? = nil) -> String {
            do {
                _ = try resolve(edit, file: file)
                return "accepted"
            } catch { return "\(error)" }
        }
        #expect(refusal { $0.values.power = "watts" }.contains("--power"))
        #expect(refusal { $0.values.power = "model" }.contains("--power model needs --power-watts"))
        #expect(
            refusal {
                $0.values.power = "rapl"; $0.values.powerInterval = 0.1
            }.contains("--power-interval"))
        #expect(
            refusal {
                $0.values.power = "rapl"; $0.values.powerInterval = 61
            }.contains("--power-interval"))
        #expect(
            refusal {
                $0.values.power = "rapl"; $0.values.powerStale = 0.2
            }.contains("--power-stale"))
        #expect(
            refusal {
                $0.values.power = "rapl"
                $0.values.powerInterval = 10
                $0.values.powerStale = 5
            }.contains("--power-stale"))
        #expect(refusal { $0.values.idleWatts = 10 }.contains("--idle-watts goes with --power-watts"))
        #expect(refusal({ $0.values.idleWatts = 5000 }, file: #"{"power_watts": 3000}"#).contains("--idle-watts"))
        #expect(refusal { $0.values.telemetry = "/tmp/x" }.contains("--telemetry needs a power source"))
        #expect(
            refusal {
                $0.values.power = "rapl"; $0.values.telemetryMaxMB = 0
            }.contains("--telemetry-max-mb"))
        #expect(refusal({ _ in }, file: #"{"power_interval": 0.1}"#).contains("power_interval"))
    }

    /// The whole path: a meter of the project's own, the model beside it, the telemetry per the contract,
    /// `/status`'s power object and the metrics.
    @Test func aRunWithAMeterWritesTelemetryForBothSources() async throws {
        let meter = try SunSpecTestMeter { 1234.5 }
        defer { meter.stop() }
        let dir = scratchDirectory()
        let settings = try resolve {
            $0.values.power = "sunspec:127.0.0.1:\(meter.port)"
            $0.values.openADR3 = {
                var c = OpenADR3Config(); c.powerWatts = 1400; return c
            }()
            $0.values.idleWatts = 200
            $0.values.telemetry = dir + "/t.jsonl"
            $0.values.hostName = "miner-07"
            $0.values.seconds = 2.6
        }
        let sink = LogSink.capturing()
        let logger = Logger(label: "test") { FlexLogHandler(label: $0, format: .human, level: .info, output: sink) }
        let summary = try await MinerRun(settings: settings, version: "test", logger: logger, sink: sink).run()
        #expect(decode(summary.json)["state"] as? String == "mining")
        let lines = readLines(dir + "/t.jsonl")
        let meterLines = lines.filter { $0["source"] as? String == "sunspec" }
        let modelLines = lines.filter { $0["source"] as? String == "model" }
        #expect(meterLines.count >= 2 && modelLines.count >= 2)
        for l in meterLines {
            #expect(l["watts"] as? Double == 1234.5 && l["modelled"] as? Bool == false)
            #expect(l["host"] as? String == "miner-07" && l["state"] as? String == "mining")
            #expect(l["capacity"] as? Double == 1 && (l["curtailments"] as? [String]) == [])
            #expect((l["time"] as? String)?.hasSuffix("Z") == true && l["mono_s"] is Double)
        }
        // Two workers at full capacity: 200 W idle + 2 × 600 W.
        #expect(modelLines.allSatisfy { $0["watts"] as? Double == 1400 && $0["modelled"] as? Bool == true })
        let mode = try FileManager.default.attributesOfItem(atPath: dir + "/t.jsonl")[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(sink.lines.contains { $0.contains("power: sunspec:127.0.0.1:\(meter.port)/1 and model") })
    }

    @Test func aMeterThatIsNotThereIsAnErrorInTheTelemetryNotATrap() async throws {
        let dir = scratchDirectory()
        let settings = try resolve {
            $0.values.power = "sunspec:127.0.0.1:1"
            $0.values.telemetry = dir + "/t.jsonl"
            $0.values.seconds = 1.6
        }
        let sink = LogSink.capturing()
        let logger = Logger(label: "test") { FlexLogHandler(label: $0, format: .human, level: .info, output: sink) }
        _ = try await MinerRun(settings: settings, version: "test", logger: logger, sink: sink).run()
        let lines = readLines(dir + "/t.jsonl")
        #expect(!lines.isEmpty)
        #expect(lines.allSatisfy { $0["watts"] is NSNull && $0["error"] as? String == "disconnected" })
    }

    /// `/status` and the metrics while the meter's load falls on a curtailment, then while the meter is gone:
    /// the last good value is never shown as current after `--power-stale`.
    @Test func statusAndMetricsShowBothSourcesAndAStaleMeter() async throws {
        let watts = Mutex(1500.0)
        let meter = try SunSpecTestMeter { watts.withLock { $0 } }
        let dir = scratchDirectory()
        let settings = try resolve {
            $0.values.power = "sunspec:127.0.0.1:\(meter.port)"
            $0.values.openADR3 = {
                var c = OpenADR3Config(); c.powerWatts = 1400; return c
            }()
            $0.values.powerInterval = 0.25
            $0.values.powerStale = 1
            $0.values.http = "127.0.0.1:0"
            $0.values.signals = ["unix:\(dir)/s.sock"]
            $0.values.seconds = 60
        }
        let sink = LogSink.capturing()
        let logger = Logger(label: "test") { FlexLogHandler(label: $0, format: .human, level: .info, output: sink) }
        let run = Task { try await MinerRun(settings: settings, version: "t", logger: logger, sink: sink).run() }
        defer {
            run.cancel()
            meter.stop()
        }
        #expect(await polled(within: 20) { sink.lines.contains { $0.contains("HTTP API on http://127.0.0.1:") } })
        let line = try #require(sink.lines.first { $0.contains("HTTP API on http://127.0.0.1:") })
        let base = try #require(line.firstMatch(of: #/http://127\.0\.0\.1:[0-9]+/#)).output
        func power() async throws -> [String: Any] {
            decode(try await request(.GET, base + "/status").body)["power"] as? [String: Any] ?? [:]
        }
        func until(_ what: String, _ check: ([String: Any]) -> Bool) async throws -> [String: Any] {
            let deadline = ContinuousClock.now + .seconds(20)
            var p = try await power()
            while !check(p) && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
                p = try await power()
            }
            #expect(check(p), "\(what): \(p)")
            return p
        }
        func measured(_ p: [String: Any]) -> [String: Any] { p["measured"] as? [String: Any] ?? [:] }
        func modelled(_ p: [String: Any]) -> [String: Any] { p["modelled"] as? [String: Any] ?? [:] }

        var p = try await until("both sources") {
            measured($0)["watts"] as? Double == 1500 && modelled($0)["watts"] as? Double == 1400
        }
        #expect(measured(p)["source"] as? String == "sunspec" && measured(p)["modelled"] as? Bool == false)
        #expect(modelled(p)["source"] as? String == "model" && modelled(p)["modelled"] as? Bool == true)
        #expect(measured(p)["stale"] as? Bool == false && p["telemetry_dropped"] is NSNull)

        // A full curtailment; the meter reads what a halted host draws.
        _ = try SignalClient(.unix(path: "\(dir)/s.sock"), timeout: 10).request(
            #"{"type":"curtail","level":1,"id":"grid"}"#)
        watts.withLock { $0 = 180 }
        p = try await until("the load falls") {
            measured($0)["watts"] as? Double == 180 && modelled($0)["watts"] as? Double == 0
        }
        var m = try PrometheusText.parse(try await request(.GET, base + "/metrics").body)
        #expect(m[#"flexminer_power_watts{source="sunspec"}"#] == 180)
        #expect(m[#"flexminer_power_watts{source="model"}"#] == 0)
        #expect((m[#"flexminer_energy_joules_total{source="model"}"#] ?? 0) > 0)

        // The meter goes: within --power-stale its last value goes too, with the reason beside it.
        meter.stop()
        p = try await until("the meter is stale") {
            measured($0)["stale"] as? Bool == true && measured($0)["watts"] is NSNull
        }
        #expect(["disconnected", "timeout"].contains(measured(p)["error"] as? String ?? ""), "\(p)")
        #expect(modelled(p)["watts"] as? Double == 0 && modelled(p)["stale"] as? Bool == false)
        m = try PrometheusText.parse(try await request(.GET, base + "/metrics").body)
        #expect(m[#"flexminer_power_watts{source="sunspec"}"#]?.isNaN == true)
        #expect(m.keys.contains { $0.hasPrefix(#"flexminer_power_errors_total{source="sunspec""#) })
    }
}
