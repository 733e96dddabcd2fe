import Foundation
import Logging
import MiningKernels
import Operations
import PowerSources
import SunSpecTestMeter
import TestSupport
import Testing

@Suite("run: power sources and telemetry")
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
}
