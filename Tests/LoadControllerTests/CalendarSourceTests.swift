import DemandResponse
import FlexSupport
import Foundation
import LoadController
import TestSupport
import Testing

@Suite("Tariff and schedule sources")
struct CalendarSourceTests {
    @Test func liveTariffPricesChangeAtTheLocalHourAndScheduleWindowsCurtail() throws {
        let tariff = try URDBTariff(
            json: Fixtures.data("urdb/georgia_power_TOU-GSD-10_5d55886c5457a3221535a087.json"))
        let clock = TestClock()
        // Wednesday 2024-07-17 13:59:59 EDT: the shoulder hour, one second before on-peak.
        clock.now.withLock { $0 = ISO8601.parse("2024-07-17T17:59:59Z")! }
        let schedule = try Schedule(
            json: Data(
                #"{"windows": [{"id": "evening", "start": "14:00", "end": "15:00", "timezone": "America/New_York", "action": "curtail", "level": 0.5, "reason": "test window"}]}"#
                    .utf8))
        let signals = CalendarSignals(
            tariff: TariffClock(tariff: tariff, clock: try LocalClock(identifier: "America/New_York")),
            schedule: schedule)
        let load = FakeLoad()
        // Break-even 150 USD/MWh: the shoulder price (109.881) mines, the on-peak one (184.723) does not.
        let controller = LoadController(
            actuator: load, config: PolicyConfig(breakEvenUSDPerMWh: 150), clock: clock.read)
        controller.start()
        let source = CalendarSource(
            name: "tariff:georgia", signals: signals, controller: controller, powerWatts: 3250, clock: clock.read)
        let wake = source.poll()
        #expect(controller.status.price == 109.881)
        #expect(load.effective == 1)
        #expect(wake == ISO8601.parse("2024-07-17T18:00:00Z"))
        clock.advance(1)
        source.poll()
        #expect(controller.status.price == 184.723)
        #expect(load.effective == 0)
        #expect(controller.status.curtailments.map(\.id) == ["evening"])
        // 15:00 EDT: the window has ended and the price is still on-peak; at 19:00 the shoulder returns.
        clock.now.withLock { $0 = ISO8601.parse("2024-07-17T23:00:00Z")! }
        source.poll()
        #expect(controller.status.price == 109.881)
        #expect(controller.status.curtailments.isEmpty)
        #expect(load.effective == 1)
    }

    @Test func thePeakRuleDecidesFromLiveSystemLoadLines() {
        let clock = TestClock()
        let load = FakeLoad()
        let controller = LoadController(
            actuator: load, config: PolicyConfig(breakEvenUSDPerMWh: 1000), clock: clock.read)
        controller.start()
        func send(_ line: String) -> Bool {
            controller.handle(line: Array(line.utf8), origin: SignalOrigin(name: "unix:/run/f.sock")).ok
        }
        let until = ISO8601.format(clock.read().addingTimeInterval(3 * 3600))
        #expect(send(#"{"type":"system_load","mw":80000}"#))
        #expect(send(#"{"type":"system_load","mw":70000}"#))
        #expect(send(#"{"type":"peak_watch","level":1,"id":"4cp","until":"\#(until)","reason":"4CP"}"#))
        #expect(load.effective == 1)  // 70,000 < 0.95 × 80,000
        #expect(send(#"{"type":"system_load","mw":77000}"#))
        #expect(load.effective == 0)  // ≥ 76,000
        #expect(controller.status.curtailments.first?.source == "peak-rule#unix:/run/f.sock")
        #expect(send(#"{"type":"system_load","mw":71000}"#))
        #expect(load.effective == 1)  // < 0.9 × 80,000
        #expect(!send(#"{"type":"system_load","mw":"high"}"#))
    }
}
