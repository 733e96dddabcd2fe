import DemandResponse
import Foundation
import Reports
import Simulation
import Testing

/// `simulate` reports its replayed events with `flexminer report`'s core, on the modelled load.
@Suite("Simulation: event report")
struct SimulationEventReportTests {
    /// Four cheap hours at 1000 W (always mining); A halts everything 01:00–02:00, B halves the load
    /// 02:30–03:00. By hand: both baselines are 1 kW (the 15 min before each at full capacity); A's load
    /// during is 0 (shed 1 kW, 1 kWh over the hour), B's 0.5 kW (shed 0.5 kW = 100 % of level × baseline,
    /// 0.25 kWh over half an hour); the model acts at once (response 0 s).
    @Test func replayedEventsAreReportedOnTheModelledLoad() throws {
        let s = try series(table(Array(repeating: 20.0, count: 16)))
        let events = try events([
            #"{"time":"2024-06-01T01:00:00","type":"curtail","level":1.0,"id":"A","until":"2024-06-01T02:00:00"}"#,
            #"{"time":"2024-06-01T02:30:00","type":"curtail","level":0.5,"id":"B"}"#,
            #"{"time":"2024-06-01T03:00:00","type":"release","id":"B"}"#,
        ])
        let config = PolicyConfig(breakEvenUSDPerMWh: 45)
        let result = Simulator.run(series: s, events: events, config: config, site: SiteModel(powerWatts: 1000))
        let report = SimulationReport(
            series: s, config: config, site: SiteModel(powerWatts: 1000), result: result, inputs: [:], mode: "model",
            elapsedSeconds: 0.01)
        let r = try #require(report.eventReport())
        #expect(r.events.map(\.event.id) == ["A", "B"])
        let a = r.events[0]
        let b = r.events[1]
        #expect(a.modelled && b.modelled)
        #expect(a.powerSource == "model")
        #expect(abs(a.baselineKW! - 1) < 1e-9)
        #expect(abs(a.eventKW! - 0) < 1e-9)
        #expect(abs(a.shedKW! - 1) < 1e-9)
        #expect(abs(a.energyAvoidedKWh! - 1) < 1e-9)
        #expect(a.responseSeconds == 0)
        #expect(a.compliant == true)
        #expect(abs(b.baselineKW! - 1) < 1e-9)
        #expect(abs(b.eventKW! - 0.5) < 1e-9)
        #expect(abs(b.requestedShedKW! - 0.5) < 1e-9)
        #expect(abs(b.shedPercentOfRequested! - 100) < 1e-6)
        #expect(abs(b.energyAvoidedKWh! - 0.25) < 1e-9)
        #expect(a.gaps.isEmpty && b.gaps.isEmpty)
        #expect(report.summary.contains("FlexMiner event report: 2 events on 1 host"))
        let event = try #require(report.json["event_report"] as? [String: Any])
        #expect(event["schema"] as? String == "flexminer-report/1")
    }

    /// Without events there is no event report (and no key in the JSON).
    @Test func noEventsNoReport() throws {
        let s = try series(table([20, 20]))
        let config = PolicyConfig(breakEvenUSDPerMWh: 45)
        let result = Simulator.run(series: s, config: config, site: SiteModel(powerWatts: 1000))
        let report = SimulationReport(
            series: s, config: config, site: SiteModel(powerWatts: 1000), result: result, inputs: [:], mode: "model",
            elapsedSeconds: 0.01)
        #expect(report.eventReport() == nil)
        #expect(report.json["event_report"] == nil)
    }
}
