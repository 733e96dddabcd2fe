import DemandResponse
import Foundation
import Simulation
import TestSupport
import Testing

/// `flexminer simulate`'s steps as the library runs them: what scripts/test checks of the command (the
/// event met, the report's keys, the chart's break-even line) and the refusals naming the flag.
@Suite struct SimulationJobTests {
    let prices = Fixtures.directory.appendingPathComponent("prices/ercot-hb-south-2024-07-24.csv").path

    func job(events: String? = nil) -> SimulationJob {
        var job = SimulationJob()
        job.overrides.powerWatts = 3250
        job.overrides.breakeven = 25
        job.files.prices = prices
        job.files.events = events
        return job
    }

    @Test func theBundledDayWithAnEventIsMetAndWritten() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("simjob-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let events = dir + "/events.jsonl"
        try #"{"time":"2024-07-24T18:00:00","type":"curtail","level":1.0,"id":"drill","until":"2024-07-24T20:00:00"}"#
            .appending("\n").write(toFile: events, atomically: true, encoding: .utf8)
        let j = job(events: events)
        let (file, watts) = try j.policy()
        #expect(watts == 3250)
        let report = j.simulate(try j.prepare(file: file, watts: watts, measured: nil))
        #expect(report.mode == "model")
        try SimulationJob.write(report, report: dir + "/report.json", chart: dir + "/chart.svg")
        let summary = SimulationJob.summaryText(report, reportPath: dir + "/report.json", chartPath: dir + "/chart.svg")
        #expect(summary.contains("events: 1 of 1 met"))
        #expect(summary.hasSuffix("report: \(dir)/report.json\nchart: \(dir)/chart.svg"))
        let json = try String(contentsOfFile: dir + "/report.json", encoding: .utf8)
        for key in ["hours_mined", "energy_kwh", "energy_cost_usd", "revenue_usd", "transitions"] {
            #expect(json.contains("\"\(key)\""), "report.json lacks \(key)")
        }
        #expect(try String(contentsOfFile: dir + "/chart.svg", encoding: .utf8).contains(#"id="breakeven""#))
    }

    @Test func refusalsNameTheFlag() throws {
        var noPower = job()
        noPower.overrides.powerWatts = nil
        #expect(throws: SimulationError("--power-watts is needed (or \"power_watts\" in --policy)")) {
            try noPower.policy()
        }
        let j = job()
        let (file, watts) = try j.policy()
        let report = j.simulate(try j.prepare(file: file, watts: watts, measured: nil))
        #expect(throws: SimulationError.self) {
            try SimulationJob.write(report, report: "/nonexistent-dir/r.json", chart: nil)
        }
        do {
            try SimulationJob.write(report, report: nil, chart: "/nonexistent-dir/c.svg")
            Issue.record("a chart in a missing directory was written")
        } catch {
            #expect(error.message.hasPrefix("--chart /nonexistent-dir/c.svg: cannot write"))
        }
    }
}
