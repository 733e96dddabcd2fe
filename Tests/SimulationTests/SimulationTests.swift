import DemandResponse
import Foundation
import Simulation
import TestSupport
import Testing

#if canImport(FoundationXML)
    import FoundationXML
#endif

func series(_ csv: String, options: PriceSeries.Options = .init()) throws -> PriceSeries {
    try PriceSeries.parse(Data(csv.utf8), path: "test.csv", options: options)
}

func table(_ prices: [Double], start: String = "2024-06-01T00:00:00", minutes: Int = 15) -> String {
    let t0 = TimeText.parse(start)!
    var s = "interval_start,settlement_point,rtm_usd_per_mwh\n"
    for (i, p) in prices.enumerated() {
        s += "\(TimeText.format(t0 + Double(i * minutes * 60))),HB_TEST,\(p)\n"
    }
    return s
}

func simulate(
    _ s: PriceSeries, breakEven: Double = 45, watts: Double = 1000, events: [CurtailmentEvent] = [],
    tweak: (inout PolicyConfig) -> Void = { _ in }
) -> SimulationResult {
    var config = PolicyConfig(breakEvenUSDPerMWh: breakEven)
    tweak(&config)
    return Simulator.run(series: s, events: events, config: config, site: SiteModel(powerWatts: watts))
}

@Suite("Simulation")
struct SimulationTests {
    @Test func withoutHysteresisOrDwellItMinesExactlyTheIntervalsBelowBreakEven() throws {
        let prices = [10, 60, -5, 45, 44.99, 1000, 30, 50]
        let r = simulate(try series(table(prices)))
        let t = r.totals
        // By hand: mined intervals 10, -5, 44.99, 30 → 4 × 15 min at 1 kW.
        #expect(t.intervals == 8)
        #expect(t.secondsMined == 3600)
        #expect(t.secondsCurtailedByPrice == 3600)
        #expect(abs(t.energyKWh - 1.0) < 1e-12)
        #expect(abs(t.energyCostUSD - (10 - 5 + 44.99 + 30) * 0.00025) < 1e-12)
        #expect(abs(t.revenueUSD - 0.001 * 45) < 1e-12)  // valued at break-even per MWh used
        #expect(t.transitions == 7)
    }

    @Test func revenueFromHashpriceIsPerHash() throws {
        var config = PolicyConfig(breakEvenUSDPerMWh: 45)
        config.hysteresisUSDPerMWh = 0
        let perHash = 50 / 1e15 / 86_400  // 50 USD per PH/s per day
        let site = SiteModel(powerWatts: 3000, hashRate: 1e14, usdPerHash: perHash)
        let r = Simulator.run(series: try series(table([20, 20, 20, 20])), config: config, site: site)
        // One hour at 100 TH/s: 0.1 PH/s × 50 USD/day / 24.
        #expect(abs(r.totals.revenueUSD - 0.1 * 50 / 24) < 1e-12)
        #expect(abs(r.totals.energyKWh - 3) < 1e-12)
    }

    @Test func sharedErcotFileMatchesAnIndependentCount() throws {
        let path = "../shared/data/ercot-hb-south-rtm-2024-06-07.csv"
        let fallback = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/prices/ercot-hb-south-2024-07-24.csv").path
        let file = FileManager.default.fileExists(atPath: path) ? path : fallback
        if file == fallback { print("../shared absent: checking the bundled day instead of the two months") }
        let text = try String(contentsOfFile: file, encoding: .utf8)
        // Independently: every row's price, mine iff below break-even, 15 minutes each.
        // The shared file has CRLF line ends: "\r\n" is one Character, so split on newlines, not on "\n".
        let prices = text.split(whereSeparator: \.isNewline).dropFirst().map { Double($0.split(separator: ",")[2])! }
        #expect(prices.count == (file == path ? 5856 : 96))
        for breakEven in [0.0, 25, 45, 100, 600] {
            let r = simulate(try PriceSeries.load(path: file), breakEven: breakEven, watts: 3250)
            let mined = prices.filter { $0 < breakEven }
            let mwhPerInterval = 3250.0 / 1e6 * 0.25
            var transitions = 0
            var on = true
            for p in prices where (p < breakEven) != on {
                on.toggle()
                transitions += 1
            }
            #expect(r.totals.intervals == prices.count)
            #expect(abs(r.totals.secondsMined - Double(mined.count) * 900) < 1e-6)
            #expect(abs(r.totals.energyKWh - Double(mined.count) * mwhPerInterval * 1000) < 1e-6)
            #expect(abs(r.totals.energyCostUSD - mined.reduce(0) { $0 + $1 * mwhPerInterval }) < 1e-6)
            #expect(abs(r.totals.revenueUSD - Double(mined.count) * mwhPerInterval * breakEven) < 1e-6)
            #expect(r.totals.transitions == transitions, "break-even \(breakEven)")
        }
    }

    @Test func hysteresisAndDwellFlapLess() throws {
        let s = try PriceSeries.load(
            path: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("Fixtures/prices/ercot-hb-south-2024-07-24.csv").path)
        let plain = simulate(s, breakEven: 25)
        let damped = simulate(s, breakEven: 25) {
            $0.hysteresisUSDPerMWh = 3
            $0.minOnSeconds = 3600
            $0.minOffSeconds = 1800
        }
        #expect(damped.totals.transitions < plain.totals.transitions)
        // Dwell: no "on" stretch shorter than an hour unless ended by the hard rules (none set here).
        let on = damped.spans.filter { $0.capacity > 0 }.dropFirst().dropLast()
        #expect(on.allSatisfy { $0.end - $0.start >= 3600 })
    }

    @Test func badEventFilesNameTheLine() throws {
        for (line, expected) in [
            (#"{"type":"curtail","level":1}"#, "missing field \"time\""),
            (#"{"time":"soon","type":"curtail","level":1}"#, "\"time\" is not an ISO 8601"),
            (#"{"time":"2024-06-01T00:00:00","type":"curtail","level":3}"#, "within [0, 1]"),
            (#"{"time":"2024-06-01T00:00:00","type":"price","usd_per_mwh":3}"#, "only \"curtail\" and \"release\""),
            (#"{"time":"2024-06-01T01:00:00","type":"curtail","level":1,"until":"2024-06-01T00:00:00"}"#, "not after"),
            ("not json", "malformed JSON"),
            ("[1]", "an event must be a JSON object"),
        ] {
            do {
                _ = try events([#"{"time":"2024-06-01T00:00:00","type":"release"}"#, line])
                Issue.record("accepted \(line)")
            } catch {
                #expect("\(error)".contains("line 2: "), "\(error)")
                #expect("\(error)".contains(expected), "\(error)")
            }
        }
    }

    @Test func eventsOverridePriceAndAreCheckedForCompliance() throws {
        let s = try series(table(Array(repeating: 20.0, count: 16)))  // 4 cheap hours
        let events = try events([
            #"{"time":"2024-06-01T00:30:00","type":"curtail","level":1.0,"id":"A","until":"2024-06-01T01:00:00"}"#,
            #"{"time":"2024-06-01T02:00:00","type":"curtail","level":0.5,"id":"B"}"#,
            #"{"time":"2024-06-01T03:00:00","type":"release","id":"B"}"#,
            #"{"time":"2024-07-01T00:00:00","type":"curtail","level":1.0,"id":"late"}"#,
        ])
        let r = simulate(s, events: events)
        // A: 30 min halted; B: one hour at half capacity.
        #expect(abs(r.totals.energyKWh - (4 - 0.5 - 0.5)) < 1e-12)
        #expect(r.totals.secondsCurtailedByEvents == 1800 + 3600)
        #expect(r.events.count == 2)
        #expect(r.events.allSatisfy { $0.met && $0.responseSeconds == 0 })
        #expect(r.events[0].end == TimeText.parse("2024-06-01T01:00:00"))
        #expect(r.events[1].end == TimeText.parse("2024-06-01T03:00:00"))
        #expect(r.eventsOutsideSeries == [4])
    }

    @Test func gapsAndRepeatedTimestampsAreReported() throws {
        var csv = table([20, 20, 20, 20])
        csv += "2024-06-01T03:00:00,HB_TEST,20\n2024-06-01T03:00:00,HB_TEST,30\n2024-06-01T03:15:00,HB_TEST,20\n"
        let s = try series(csv)
        #expect(s.gaps.count == 1)
        #expect(s.gaps[0].seconds == 2 * 3600)
        #expect(s.duplicateTimestamps == 1)
        let r = simulate(s)
        #expect(r.totals.intervals == 7)
        #expect(r.totals.simulatedSeconds == 7 * 900)  // the gap is not counted
        #expect(r.totals.gapSeconds == 2 * 3600)
    }

    @Test func ercotPublishedLayoutWithSettlementPointAndDST() throws {
        let csv = """
            "DeliveryDate","DeliveryHour","DeliveryInterval","SettlementPointName","SettlementPointType","SettlementPointPrice","DSTFlag"
            "11/03/2024","1","1","HB_SOUTH","HU","20.5","N"
            "11/03/2024","1","1","HB_NORTH","HU","99","N"
            "11/03/2024","1","2","HB_SOUTH","HU","-70","N"
            "11/03/2024","2","1","HB_SOUTH","HU","25","N"
            "11/03/2024","2","1","HB_SOUTH","HU","26","Y"
            "11/03/2024","24","4","HB_SOUTH","HU","1,000.5","N"
            """
        var options = PriceSeries.Options()
        options.settlementPoint = "HB_SOUTH"
        options.skipBadRows = true
        let s = try series(csv, options: options)
        #expect(s.layout == .ercot)
        #expect(s.points.map(\.usdPerMWh) == [20.5, -70, 25, 26])
        #expect(s.points[0].time == TimeText.parse("2024-11-03T00:00:00"))
        #expect(s.points[1].time == TimeText.parse("2024-11-03T00:15:00"))
        #expect(s.duplicateTimestamps == 1)
        #expect(s.skippedRows.count == 1 && s.skippedRows[0].contains("line 7"))
    }

    @Test(arguments: [
        (
            "interval_start,rtm_usd_per_mwh\n2024-06-01T00:00:00,12\n2024-06-01T00:15:00,abc\n",
            "line 3: price \"abc\" is not a number"
        ),
        ("interval_start,rtm_usd_per_mwh\n2024-06-01T00:00:00,12\nyesterday,5\n", "line 3: time \"yesterday\""),
        ("interval_start,rtm_usd_per_mwh\n2024-06-01T00:00:00\n", "line 2: 1 fields"),
        ("time,price\n2024-06-01T00:00:00,1\n", "no column \"rtm_usd_per_mwh\" (--price-column)"),
        ("interval_start,rtm_usd_per_mwh\n", "no price rows"),
        ("interval_start,rtm_usd_per_mwh\n2024-06-01T00:00:00,nan\n", "is not a number"),
    ])
    func malformedFilesNameTheLine(csv: String, expected: String) {
        do {
            _ = try series(csv)
            Issue.record("accepted")
        } catch {
            #expect("\(error)".contains("test.csv"))
            #expect("\(error)".contains(expected), "\(error)")
        }
    }

    @Test func timeText() {
        #expect(TimeText.parse("1970-01-01T00:00:00Z") == 0)
        #expect(TimeText.parse("1970-01-01 01:00") == 3600)
        #expect(TimeText.parse("1970-01-01T01:00:00+01:00") == 0)
        #expect(TimeText.parse("1970-01-01T00:00:00-0130") == 5400)
        #expect(TimeText.parse("1970-01-01T00:00:00.5Z") == 0.5)
        #expect(TimeText.parse("2024-02-29T12:00:00") == 1_709_208_000)
        for bad in ["2024-13-01T00:00", "2024-06-01", "2024-06-01T25:00", "2024-06-01T00:00:00X", "junk"] {
            #expect(TimeText.parse(bad) == nil, "\(bad)")
        }
        #expect(TimeText.format(1_709_208_000) == "2024-02-29T12:00:00")
    }

    @Test func liveModeDrivesTheLoadAndPacesEachInterval() throws {
        final class Recorder: LiveLoad {
            let fake = FakeLoad(haltLatency: .microseconds(300), resumeLatency: .microseconds(150))
            var load: any LoadActuator { fake }
            var paced: [Int] = []
            func pace(interval index: Int) { paced.append(index) }
        }
        let load = Recorder()
        let r = Simulator.run(
            series: try series(table([10, 60, 70, 20])), config: PolicyConfig(breakEvenUSDPerMWh: 45),
            site: SiteModel(powerWatts: 1000), live: load)
        #expect(load.paced == [0, 1, 2, 3])
        #expect(load.fake.state.withLock { $0.commands } == ["halt", "capacity 1.0", "resume"])
        #expect(r.haltLatencies == [.microseconds(300)])
        #expect(r.resumeLatencies == [.microseconds(150)])
    }

    @Test func reportAndChart() throws {
        let s = try series(table([10, 60, 5000, 20, -3]))
        let events = try events([#"{"time":"2024-06-01T00:45:00","type":"curtail","level":1,"id":"E<1>"}"#])
        let config = PolicyConfig(breakEvenUSDPerMWh: 45)
        let result = Simulator.run(series: s, events: events, config: config, site: SiteModel(powerWatts: 1000))
        let report = SimulationReport(
            series: s, config: config, site: SiteModel(powerWatts: 1000), result: result, inputs: [:], mode: "model",
            elapsedSeconds: 0.01)
        let json = try #require(try JSONSerialization.jsonObject(with: report.jsonData()) as? [String: Any])
        for key in [
            "intervals", "hours_mined", "hours_curtailed", "hours_curtailed_price", "hours_curtailed_events",
            "energy_kwh", "energy_cost_usd", "revenue_usd", "net_usd", "average_price_paid_usd_per_mwh",
            "transitions", "events", "inputs", "data",
        ] {
            #expect(json[key] != nil, "missing \(key)")
        }
        #expect(json["hours_mined"] as? Double == 0.25)
        let data = json["data"] as! [String: Any]
        #expect(data["negative_price_intervals"] as? Int == 1)
        #expect(data["intervals_at_or_above_1000_usd"] as? Int == 1)
        let svg = SimulationChart.svg(report)
        #expect(svg.contains("id=\"breakeven\""))
        #expect(svg.contains("id=\"mined\""))
        #expect(svg.contains("E&lt;1&gt;"))
        #expect(svg.contains(">5000<"))  // the spike is labelled, not plotted off the chart
        #if canImport(FoundationXML) || canImport(Darwin)
            let parser = XMLParser(data: Data(svg.utf8))
            #expect(parser.parse(), "the SVG is not well-formed XML")
        #endif
    }
}

/// Events from JSON lines, through a real file (line numbers 1, 2, …).
func events(_ lines: [String]) throws -> [CurtailmentEvent] {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fm-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let file = dir.appendingPathComponent("e.jsonl")
    try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: file)
    return try CurtailmentEvent.load(path: file.path)
}
