import DemandResponse
import FlexSupport
import Foundation
import Simulation
import TestSupport
import Testing

private func at(_ text: String) -> Date { ISO8601.parse(text)! }
private let georgiaPath = Fixtures.directory.appendingPathComponent(
    "urdb/georgia_power_TOU-GSD-10_5d55886c5457a3221535a087.json"
).path
private let nipscoPath = Fixtures.directory.appendingPathComponent(
    "urdb/nipsco_rate724_tiered_5c5afec35457a3130fde39de.json"
).path

/// Runs `simulate` the way the command does (`SimulationInputs`, then the simulator).
private func simulateTariff(
    tariff: String? = georgiaPath, timezone: String = "America/New_York", schedule: String? = nil,
    systemLoad: String? = nil, from: String?, to: String?, watts: Double = 1000, breakEven: Double = 10_000,
    transmission: Double? = nil
) throws -> (SimulationResult, TariffMeter, TariffScenario) {
    var files = SimulationInputs.Files()
    (files.tariff, files.timezone, files.schedule, files.systemLoad) = (tariff, timezone, schedule, systemLoad)
    (files.transmissionUSDPerKWYear, files.from, files.to) = (transmission, from.map(at), to.map(at))
    let inputs = try SimulationInputs.load(files, powerWatts: watts)
    let config = inputs.adjusted(PolicyConfig(breakEvenUSDPerMWh: breakEven))
    let r = Simulator.run(
        series: inputs.series, events: inputs.events, config: config, site: SiteModel(powerWatts: watts),
        meter: inputs.meter)
    return (r, inputs.meter!, inputs.scenario!)
}

@Suite("Tariff simulation")
struct TariffSimulationTests {
    /// Georgia Power TOU-GSD-10 over June 2024 at a constant 1 kW, recomputed here hour by hour from the
    /// tariff document's rules (not from the module): June 2024 starts on a Saturday; EDT all month.
    func oracle(mineAbove limit: Double) -> (usd: Double, hours: Int) {
        var usd = 0.0
        var hours = 0
        for day in 1...30 {
            let weekday = (6 + day - 1) % 7  // 0 = Sunday; June 1 2024 is a Saturday (6)
            let weekend = weekday == 0 || weekday == 6
            for hour in 0..<24 {
                let perKWh: Double
                if !weekend && (14...18).contains(hour) {
                    perKWh = 0.122372 + 0.062351
                } else if !weekend && [12, 13, 19, 20].contains(hour) {
                    perKWh = 0.062514 + 0.047367
                } else {
                    perKWh = 0.023541 + 0.034706
                }
                if perKWh * 1000 < limit {
                    usd += perKWh  // 1 kWh in the hour
                    hours += 1
                }
            }
        }
        return (usd, hours)
    }

    @Test func touCostOverAMonthMatchesAnIndependentRecomputation() throws {
        let (r, meter, scenario) = try simulateTariff(
            from: "2024-06-01T00:00:00-04:00", to: "2024-07-01T00:00:00-04:00")
        let o = oracle(mineAbove: .infinity)
        #expect(abs(r.totals.energyCostUSD - o.usd) < 1e-9)
        #expect(abs(o.usd - 58.71616) < 1e-9)  // by hand: 100 h × 0.184723 + 80 h × 0.109881 + 540 h × 0.058247
        #expect(abs(r.totals.energyKWh - 720) < 1e-9)
        #expect(abs((meter.periodKWh[0] ?? 0) - 100) < 1e-9)
        #expect(abs((meter.periodKWh[1] ?? 0) - 80) < 1e-9)
        #expect(abs((meter.periodKWh[2] ?? 0) - 540) < 1e-9)
        // Demand: 1 kW in every 15 minutes: 6.539 $/kW (all hours) + 19.58 $/kW (summer weekday 14–18).
        let june = try #require(meter.demand().first)
        #expect(abs(june.maxKW - 1) < 1e-9 && abs(june.touUSD - (6.539 + 19.58)) < 1e-9)
        let report = scenario.report(meter: meter, powerWatts: 1000)
        let t = try #require(report.sections["tariff"] as? [String: Any])
        #expect(t["billing_months"] as? Int == 1 && t["fixed_usd"] as? Double == 261.32)
    }

    @Test func withABreakEvenBetweenPeriodsItMinesOnlyOffPeak() throws {
        let (r, meter, _) = try simulateTariff(
            from: "2024-06-01T00:00:00-04:00", to: "2024-07-01T00:00:00-04:00", breakEven: 100)
        let o = oracle(mineAbove: 100)
        #expect(o.hours == 540)
        #expect(abs(r.totals.energyCostUSD - o.usd) < 1e-9)
        #expect(abs(r.totals.secondsMined - 540 * 3600) < 1e-6)
        // No energy in the on-peak demand period: only the all-hours demand charge remains.
        #expect(abs((meter.demand().first?.touUSD ?? 0) - 6.539) < 1e-9)
    }

    @Test func aTierBoundaryCrossedMidHourIsChargedAtBothRates() throws {
        // 1,700 kW from midnight: 30,000 kWh are reached at 17:38:49, inside a quarter-hour.
        let (r, meter, _) = try simulateTariff(
            tariff: nipscoPath, timezone: "America/Chicago", from: "2024-06-01T00:00:00-05:00",
            to: "2024-06-01T20:00:00-05:00", watts: 1_700_000)
        #expect(abs(r.totals.energyKWh - 34_000) < 1e-6)
        #expect(abs(r.totals.energyCostUSD - (30_000 * 0.084598 + 4_000 * 0.076898)) < 1e-6)
        #expect(abs((meter.monthKWh.values.first ?? 0) - 34_000) < 1e-6)
        // The policy is told the next tier's price from the first interval after the crossing.
        #expect(meter.price(at: at("2024-06-01T19:00:00-05:00").timeIntervalSince1970) == 76.898)
        // Flat demand: 1,700 kW, the first 50 free.
        #expect(abs((meter.demand().first?.flatUSD ?? 0) - 1_650 * 12.49) < 1e-6)
    }

    @Test func withPricesTheSpanIsTheSeriesAndTheTariffPriceReplacesItsPrice() throws {
        let dir = scratchDirectory()
        let csv = dir + "/p.csv"
        // Local market time (no zone), read in --timezone: 00:00 CDT is 05:00Z.
        try
            "interval_start,rtm_usd_per_mwh\n2024-06-03T00:00:00,500\n2024-06-03T00:15:00,500\n2024-06-03T00:30:00,500\n2024-06-03T00:45:00,500\n"
            .write(toFile: csv, atomically: true, encoding: .utf8)
        var files = SimulationInputs.Files()
        (files.prices, files.tariff, files.timezone) = (csv, nipscoPath, "America/Chicago")
        let inputs = try SimulationInputs.load(files, powerWatts: 1000)
        #expect(inputs.series.points.map(\.time).first == at("2024-06-03T05:00:00Z").timeIntervalSince1970)
        #expect(inputs.series.points.count == 4)
        #expect(inputs.series.points.allSatisfy { abs($0.usdPerMWh - 84.598) < 1e-9 })
        // Without a tariff (a schedule only), the file's prices stay, moved onto real instants.
        let sched = dir + "/s.json"
        try
            #"{"windows": [{"id": "w", "start": "00:30", "end": "01:00", "timezone": "America/Chicago", "action": "price", "usd_per_mwh": 7}]}"#
            .write(toFile: sched, atomically: true, encoding: .utf8)
        (files.tariff, files.schedule) = (nil, sched)
        let moved = try SimulationInputs.load(files, powerWatts: 1000)
        #expect(moved.series.points.map(\.usdPerMWh) == [500, 500, 500, 500])
        #expect(moved.series.points.first?.time == at("2024-06-03T05:00:00Z").timeIntervalSince1970)
        let r = Simulator.run(
            series: moved.series, events: moved.events, config: PolicyConfig(breakEvenUSDPerMWh: 1000),
            site: SiteModel(powerWatts: 1000), meter: moved.meter)
        // Two quarter-hours at 500 USD/MWh, two in the price window at 7: 0.25 kWh each.
        #expect(abs(r.totals.energyCostUSD - (0.5 * 0.5 + 0.5 * 0.007)) < 1e-12)
    }

    @Test func anEventsFileCarriesSystemLoadReadings() throws {
        let path = scratchDirectory() + "/events.jsonl"
        try #"""
        {"time":"2024-06-03T20:00:00Z","type":"system_load","mw":70000}
        {"time":"2024-06-03T20:15:00Z","type":"system_load","mw":-3}
        """#.write(toFile: path, atomically: true, encoding: .utf8)
        do {
            _ = try CurtailmentEvent.load(path: path)
            Issue.record("a negative load must be refused")
        } catch {
            #expect(error.message.contains("line 2") && error.message.contains("\"mw\""))
        }
        try #"{"time":"2024-06-03T20:00:00Z","type":"system_load","mw":70000}"#.write(
            toFile: path, atomically: true, encoding: .utf8)
        #expect(try CurtailmentEvent.load(path: path).map(\.message) == [.systemLoad(mw: 70_000)])
    }

    @Test func ercotNativeLoadReadsHourEndingLocalTimeWithItsDSTQuirks() throws {
        let path = Fixtures.directory.appendingPathComponent("ercot-native-load/native-load-2021-excerpt.csv").path
        let s = try SystemLoadSeries.load(path: path, clock: try LocalClock(identifier: "America/Chicago"))
        #expect(s.points.count == 23 + 25 + 72)
        func point(_ utc: String) -> SystemLoadSeries.Point? {
            s.points.first { $0.start == at(utc).timeIntervalSince1970 }
        }
        // Spring forward: HE 02:00 is 01:00–02:00 CST (07:00Z), the next row HE 04:00 is 03:00–04:00 CDT (08:00Z).
        #expect(point("2021-03-14T07:00:00Z")?.mw == 32_296.90)
        #expect(point("2021-03-14T08:00:00Z")?.mw == 31_390.58)
        // Fall back: HE 02:00 is 01:00 CDT (06:00Z); "02:00 DST", the repeated hour, 01:00 CST (07:00Z).
        #expect(point("2021-11-07T07:00:00Z")?.mw == 32_661.76)
        #expect(point("2021-11-07T06:00:00Z") != nil)
        // "24:00" closes the day: 23:00–24:00 CDT.
        #expect(point("2021-08-17T04:00:00Z") != nil)
        // Contiguous hours, no overlap, in order.
        let contiguous = zip(s.points, s.points.dropFirst()).filter { $0.end == $1.start }.count
        #expect(contiguous == s.points.count - 3)  // three separate days
    }

    @Test func theShortDateRowOfTheReal2022ExportReadsToo() throws {
        let csv =
            "\u{FEFF}Hour Ending,COAST,ERCOT\n11/30/2022 24:00,\"10,197.11\",\"40,000.50\"\n12/1/22 1:00,\"9,825.18\",\"39,000\"\n"
        let s = try SystemLoadSeries.parse(csv, path: "t.csv", clock: try LocalClock(identifier: "America/Chicago"))
        // 23:00 CST on 11/30 is 05:00Z on 12/01; HE 1:00 on 12/01 starts at 00:00 CST, 06:00Z.
        #expect(
            s.points.map(\.start)
                == [at("2022-12-01T05:00:00Z"), at("2022-12-01T06:00:00Z")].map(\.timeIntervalSince1970))
        #expect(s.points.map(\.mw) == [40_000.5, 39_000])
    }

    @Test func aTableOfFifteenMinuteLoadsReadsToo() throws {
        let csv =
            "interval_start,mw\n2024-06-03T15:00:00,70000\n2024-06-03T15:15:00,70500.5\n2024-06-03T15:30:00-05:00,\"71,000\"\n"
        let s = try SystemLoadSeries.parse(csv, path: "t.csv", clock: try LocalClock(identifier: "America/Chicago"))
        #expect(
            s.points.map(\.start)
                == [at("2024-06-03T20:00:00Z"), at("2024-06-03T20:15:00Z"), at("2024-06-03T20:30:00Z")].map(
                    \.timeIntervalSince1970))
        #expect(s.points.map(\.mw) == [70_000, 70_500.5, 71_000])
        #expect(s.points.last.map { $0.end - $0.start } == 900)
        #expect(throws: SimulationError.self) {
            try SystemLoadSeries.parse(
                "time,mw\n2024-06-03T15:00:00Z,lots\n", path: "t.csv", clock: try LocalClock(identifier: "UTC"))
        }
    }

    @Test func thePeakRuleCurtailsTheSummerPeakHourOnRealLoad() throws {
        // 2021-08-16..18 (Mon–Wed) from the fixture, with the 4CP peak watch and a 1 MW miner.
        let dir = scratchDirectory()
        let schedulePath = dir + "/4cp.json"
        try #"{"windows": [\#(fourCPWindowJSON)]}"#.write(toFile: schedulePath, atomically: true, encoding: .utf8)
        let loadPath = Fixtures.directory.appendingPathComponent("ercot-native-load/native-load-2021-excerpt.csv").path
        let (r, meter, scenario) = try simulateTariff(
            tariff: nil, timezone: "America/Chicago", schedule: schedulePath, systemLoad: loadPath,
            from: "2021-08-16T00:00:00-05:00", to: "2021-08-19T00:00:00-05:00", watts: 1_000_000, transmission: 100)
        let report = scenario.report(meter: meter, powerWatts: 1_000_000)
        let fourCP = try #require(report.sections["four_cp"] as? [String: Any])
        let months = try #require(fourCP["months"] as? [[String: Any]])
        #expect(months.count == 1)
        let aug = try #require(months.first)
        // The excerpt's highest hour, found by hand in the CSV: 08/16/2021 HE 16:00 (15:00–16:00 CDT),
        // 68,090.43 MW. At 15:00 the latest reading (HE 15:00, 67,253.09 MW) was the month's highest so far:
        // the watch curtails from its first minute.
        #expect(aug["peak_interval_start"] as? String == "2021-08-16T15:00-05:00")
        #expect(aug["peak_mw"] as? Double == 68_090.43)
        #expect(aug["curtailed"] as? Bool == true)
        // Curtailed fully: a quarter of 100 USD/kW-year × 1,000 kW.
        #expect(aug["transmission_avoided_usd"] as? Double == 25_000)
        #expect(r.totals.secondsCurtailedByEvents > 0 && r.totals.secondsCurtailedByEvents <= 9 * 3600)
    }
}

/// The 4CP rule on the real 2023 summer (../shared). The monthly peaks were found independently (a
/// Python script over the CSV, see docs/tariffs.md): 06-27 HE18 80,786.51; 07-31 HE17 82,939.08;
/// 08-10 HE18 85,464.12; 09-08 HE17 84,342.73 MW.
@Suite("4CP on real ERCOT load")
struct RealFourCPTests {
    @Test(.enabled(if: SharedData.available, "needs ../shared/data/ercot-native-load"))
    func theSummer2023PeaksAreFoundAndCaught() throws {
        let dir = scratchDirectory()
        let schedulePath = dir + "/4cp.json"
        try #"{"windows": [\#(fourCPWindowJSON)]}"#.write(toFile: schedulePath, atomically: true, encoding: .utf8)
        let (_, meter, scenario) = try simulateTariff(
            tariff: nil, timezone: "America/Chicago", schedule: schedulePath,
            systemLoad: SharedData.path("data/ercot-native-load/Native_Load_2023.csv"),
            from: "2023-06-01T00:00:00-05:00", to: "2023-10-01T00:00:00-05:00", watts: 1_000_000, transmission: 100)
        let fourCP = try #require(
            scenario.report(meter: meter, powerWatts: 1_000_000).sections["four_cp"] as? [String: Any])
        let months = try #require(fourCP["months"] as? [[String: Any]])
        #expect(
            months.compactMap { $0["peak_interval_start"] as? String } == [
                "2023-06-27T17:00-05:00", "2023-07-31T16:00-05:00", "2023-08-10T17:00-05:00", "2023-09-08T16:00-05:00",
            ])
        #expect(months.compactMap { $0["peak_mw"] as? Double } == [80_786.51, 82_939.08, 85_464.12, 84_342.73])
        #expect(fourCP["peaks_caught"] as? Int == 4)
        #expect(fourCP["transmission_avoided_usd"] as? Double == 100_000)
    }
}

private let fourCPWindowJSON = """
    {"id": "ercot-4cp", "months": [6,7,8,9], "weekdays": ["mon","tue","wed","thu","fri"],
     "start": "15:00", "end": "18:00", "timezone": "America/Chicago",
     "action": "curtail", "level": 1.0, "reason": "ERCOT 4CP peak watch", "peak_watch": true}
    """
