import DemandResponse
import FlexSupport
import Foundation
import TestSupport
import Testing

/// Known answers computed by hand from the tariffs' own rates (URDB records in Tests/Fixtures/urdb):
/// Georgia Power TOU-GSD-10 (America/New_York): June–September weekdays, period 0 ("on-peak", OpenEI's
/// period 1) 14:00–18:59 at 0.122372 + 0.062351 = 0.184723 $/kWh; period 1 12:00–13:59 and 19:00–20:59 at
/// 0.062514 + 0.047367 = 0.109881 $/kWh; everything else period 2 at 0.023541 + 0.034706 = 0.058247 $/kWh.
/// NIPSCO Rate 724: one period, tiers to 30,000 / 100,000 / 1,000,000 kWh a month at 0.076803, 0.069103,
/// 0.065553, 0.061953 $/kWh, each + 0.007795 adj.
func georgia() throws -> URDBTariff {
    try URDBTariff(json: Fixtures.data("urdb/georgia_power_TOU-GSD-10_5d55886c5457a3221535a087.json"))
}
func nipsco() throws -> URDBTariff {
    try URDBTariff(json: Fixtures.data("urdb/nipsco_rate724_tiered_5c5afec35457a3130fde39de.json"))
}
func at(_ text: String) -> Date { ISO8601.parse(text)! }
func close(_ a: Double, _ b: Double, _ tolerance: Double = 1e-9) -> Bool { abs(a - b) <= tolerance }

@Suite("Tariffs")
struct TariffTests {
    let newYork = try! LocalClock(identifier: "America/New_York")

    @Test func georgiaWeekdaySummerHoursFollowTheTariffDocument() throws {
        let t = TariffClock(tariff: try georgia(), clock: newYork)
        // Wednesday 2024-07-17, EDT (UTC-4).
        let cases: [(String, Double)] = [
            ("2024-07-17T11:59:59-04:00", 58.247),  // 11:59 EDT: off-peak
            ("2024-07-17T12:00:00-04:00", 109.881),  // shoulder starts at 12:00
            ("2024-07-17T13:59:59-04:00", 109.881),
            ("2024-07-17T14:00:00-04:00", 184.723),  // on-peak exactly from 14:00
            ("2024-07-17T15:30:00-04:00", 184.723),
            ("2024-07-17T18:59:59-04:00", 184.723),
            ("2024-07-17T19:00:00-04:00", 109.881),
            ("2024-07-17T21:00:00-04:00", 58.247),
            ("2024-01-17T15:30:00-05:00", 58.247),  // winter weekday: off-peak all day
        ]
        for (time, price) in cases {
            #expect(close(t.usdPerMWh(at: at(time)), price), "\(time)")
        }
        // The same instants written in UTC.
        #expect(close(t.usdPerMWh(at: at("2024-07-17T18:00:00Z")), 184.723))
        #expect(close(t.usdPerMWh(at: at("2024-07-17T17:59:59Z")), 109.881))
    }

    @Test func weekendAndHolidaysTakeTheWeekendSchedule() throws {
        let plain = TariffClock(tariff: try georgia(), clock: newYork)
        // Saturday 2024-07-20 at 15:30 EDT: the weekend schedule is off-peak all day.
        #expect(close(plain.usdPerMWh(at: at("2024-07-20T15:30:00-04:00")), 58.247))
        // Thursday 2024-07-04: a weekday unless listed as a holiday.
        #expect(close(plain.usdPerMWh(at: at("2024-07-04T15:30:00-04:00")), 184.723))
        let holidays = try HolidayList(text: "# US holidays\n2024-07-04\n\n")
        let withHolidays = TariffClock(tariff: try georgia(), clock: newYork, holidays: holidays)
        #expect(close(withHolidays.usdPerMWh(at: at("2024-07-04T15:30:00-04:00")), 58.247))
        #expect(throws: InputError.self) { try HolidayList(text: "2024-13-01\n") }
    }

    @Test func periodsAreZeroBasedNotOpenEIsOneBasedDisplay() throws {
        let t = try georgia()
        // OpenEI's page calls the on-peak period "1"; in the JSON it is index 0 (a 1-based reader would price
        // 14:00 on a July weekday at index 1's 109.881 instead).
        #expect(t.energyPeriod(month: 7, hour: 15, weekend: false) == 0)
        #expect(close(t.usdPerMWh(period: 0, monthKWh: 0), 184.723))
        #expect(close(t.usdPerMWh(period: 2, monthKWh: 0), 58.247))
        #expect(t.energyPeriod(month: 1, hour: 0, weekend: false) == 2)
        #expect(t.fixedMonthlyUSD == 261.32)
        #expect(
            t.summary
                == "Schedule TOU-GSD-10 Time Of Use - General Service Demand (Georgia Power Co); 3 energy period(s); fixed 261.32 USD/month; demand charges (2 TOU, 0 flat) reported by simulate, not priced"
        )
        #expect(
            t.demandPeriods.map { $0.map(\.usdPerKW) }.flatMap { $0 }.enumerated().allSatisfy { i, r in
                close(r, [6.539, 19.58][i])
            })
    }

    @Test func theApiWrapperReadsLikeTheRecord() throws {
        let record = try JSONSerialization.jsonObject(
            with: Fixtures.data("urdb/georgia_power_TOU-GSD-10_5d55886c5457a3221535a087.json"))
        let wrapped = try JSONSerialization.data(withJSONObject: ["items": [record]])
        #expect(try URDBTariff(json: wrapped) == (try georgia()))
    }

    @Test func tiersFollowTheMonthsCumulativeEnergy() throws {
        let t = try nipsco()
        let cases: [(Double, Double)] = [
            (0, 84.598), (29_999.9, 84.598), (30_000, 76.898), (99_999, 76.898), (100_000, 73.348),
            (1_000_000, 69.748), (5e6, 69.748),
        ]
        for (kWh, price) in cases { #expect(close(t.usdPerMWh(period: 0, monthKWh: kWh), price), "\(kWh) kWh") }
        // 2,000 kWh from 29,000: 1,000 at 0.084598 and 1,000 at 0.076898 (a boundary crossed mid-hour).
        #expect(close(t.energyCost(period: 0, monthKWh: 29_000, kWh: 2_000), 84.598 + 76.898))
        // Flat demand: first 50 kW at 0, to 2,000 kW at 12.49, above at 11.99.
        #expect(close(URDBTariff.demandCharge(t.flatDemand[0], kW: 100), 50 * 12.49))
        #expect(close(URDBTariff.demandCharge(t.flatDemand[0], kW: 2_500), 1_950 * 12.49 + 500 * 11.99))
        #expect(t.fixedMonthlyUSD == 954.5)
    }

    /// A constructed tariff whose period is the local hour and whose price is the hour in USD/MWh: it
    /// shows which local hour the clock read.
    func hourTariff() throws -> URDBTariff {
        let rows = Array(repeating: Array(0..<24), count: 12)
        let json: [String: Any] = [
            "energyratestructure": (0..<24).map { [["rate": Double($0) / 1000, "unit": "kWh"]] },
            "energyweekdayschedule": rows, "energyweekendschedule": rows,
        ]
        return try URDBTariff(json: JSONSerialization.data(withJSONObject: json))
    }

    @Test func springForwardSkipsAnHourAndFallBackRepeatsOne() throws {
        let t = TariffClock(tariff: try hourTariff(), clock: newYork)
        // Sunday 2024-03-10: 02:00 EST jumps to 03:00 EDT at 07:00Z.
        #expect(t.usdPerMWh(at: at("2024-03-10T06:30:00Z")) == 1)
        #expect(t.usdPerMWh(at: at("2024-03-10T07:00:00Z")) == 3)
        // Sunday 2024-11-03: 02:00 EDT goes back to 01:00 EST at 06:00Z; 01:00–02:00 happens twice.
        #expect(t.usdPerMWh(at: at("2024-11-03T05:30:00Z")) == 1)
        #expect(t.usdPerMWh(at: at("2024-11-03T06:30:00Z")) == 1)
        #expect(t.usdPerMWh(at: at("2024-11-03T07:00:00Z")) == 2)
        // Hour boundaries from local midnight to local midnight: 23 on the short day, 25 on the long one.
        func boundaries(_ from: String, _ to: String) -> [Date] {
            var out: [Date] = []
            var d = at(from)
            while d < at(to) {
                d = newYork.nextHourBoundary(after: d)
                out.append(d)
            }
            return out
        }
        let spring = boundaries("2024-03-10T05:00:00Z", "2024-03-11T04:00:00Z")
        #expect(spring.count == 23)
        #expect(spring.contains(at("2024-03-10T07:00:00Z")))
        let fall = boundaries("2024-11-03T04:00:00Z", "2024-11-04T05:00:00Z")
        #expect(fall.count == 25)
        #expect(fall.allSatisfy { $0.timeIntervalSince1970.truncatingRemainder(dividingBy: 3600) == 0 })
        // The repeated 01:00 has two instants, the skipped 02:30 none.
        #expect(
            newYork.instants(year: 2024, month: 11, day: 3, hour: 1) == [
                at("2024-11-03T05:00:00Z"), at("2024-11-03T06:00:00Z"),
            ])
        #expect(newYork.instants(year: 2024, month: 3, day: 10, hour: 2, minute: 30).isEmpty)
        #expect(newYork.firstInstant(year: 2024, month: 3, day: 10, hour: 2, minute: 30) == at("2024-03-10T07:00:00Z"))
    }

    /// The Georgia record with one field replaced.
    func georgiaWith(_ edit: (inout [String: Any]) -> Void) throws -> Data {
        var o =
            try JSONSerialization.jsonObject(
                with: Fixtures.data("urdb/georgia_power_TOU-GSD-10_5d55886c5457a3221535a087.json")) as! [String: Any]
        edit(&o)
        return try JSONSerialization.data(withJSONObject: o)
    }

    @Test func badTariffsAreRefusedNamingTheField() throws {
        func refusal(_ edit: (inout [String: Any]) -> Void) throws -> String {
            let data = try georgiaWith(edit)
            do {
                _ = try URDBTariff(json: data)
                return "accepted"
            } catch {
                return error.message
            }
        }
        var rows = Array(repeating: Array(repeating: 2, count: 24), count: 12)
        rows[0] = Array(repeating: 2, count: 23)
        let short = rows
        #expect(
            try refusal { $0["energyweekdayschedule"] = short }.contains(
                "energyweekdayschedule[0]\" must have 24 hours"))
        rows = Array(repeating: Array(repeating: 2, count: 24), count: 12)
        rows[5][14] = 3
        let outOfRange = rows
        #expect(try refusal { $0["energyweekdayschedule"] = outOfRange }.contains("energyweekdayschedule[5][14]"))
        #expect(try refusal { $0["energyweekendschedule"] = Array(rows.prefix(11)) }.contains("12 rows"))
        #expect(
            try refusal { $0["energyratestructure"] = [[["rate": -0.1]], [["rate": 0.1]], [["rate": 0.1]]] }
                .contains("energyratestructure[0][0]"))
        #expect(
            try refusal {
                $0["energyratestructure"] = [
                    [["rate": 0.1, "max": 10, "unit": "kWh daily"], ["rate": 0.05]], [["rate": 0.1]], [["rate": 0.1]],
                ]
            }
            .contains("energyratestructure[0][0].unit"))
        #expect(try refusal { $0["energyratestructure"] = nil }.contains("energyratestructure"))
        #expect(throws: InputError.self) { try LocalClock(identifier: "Mars/Olympus_Mons") }
        #expect(throws: InputError.self) { try LocalClock(identifier: "CST") }
        do {
            _ = try LocalClock(identifier: "Mars/Olympus_Mons", field: "--timezone")
        } catch {
            #expect(error.message.contains("--timezone") && error.message.contains("Mars/Olympus_Mons"))
        }
    }
}
