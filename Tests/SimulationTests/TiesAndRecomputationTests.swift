import DemandResponse
import Foundation
import Simulation
import Testing

let sharedErcotPath = "../shared/data/ercot-hb-south-rtm-2024-06-07.csv"
let bundledErcotPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/prices/ercot-hb-south-2024-07-24.csv").path

/// Band + dwell worked out from the rules as a user states them, without `Policy` or the simulator:
/// prices hold on [start, start + interval); the miner starts on (dwell counted from the first start); a
/// running miner stops at a price ≥ break-even + band once it has run `minOn`, a stopped one starts at a
/// price < break-even − band once it has been off `minOff`. A wait that ends inside an interval acts then;
/// one that ends exactly at the next start is decided by the next price. At most one switch per interval
/// (after a switch the same price wants the new state).
func bandAndDwell(
    prices: [Double], intervalSeconds: Double, breakEven: Double, band: Double, minOn: Double, minOff: Double
) -> (transitions: Int, stops: Int, secondsMined: Double, secondsOffBelowBreakEven: Double) {
    var on = true
    var lastSwitch = 0.0
    var transitions = 0
    var stops = 0
    var mined = 0.0
    var offCheap = 0.0
    for (i, p) in prices.enumerated() {
        let start = Double(i) * intervalSeconds
        let end = start + intervalSeconds
        let wants = on ? p < breakEven + band : p < breakEven - band
        var switchAt = end
        if wants != on { switchAt = max(start, lastSwitch + (on ? minOn : minOff)) }
        let before = min(switchAt, end) - start
        let after = end - min(switchAt, end)
        if on { mined += before } else if p < breakEven { offCheap += before }
        if switchAt < end {
            on.toggle()
            lastSwitch = switchAt
            transitions += 1
            if !on { stops += 1 }
        }
        if on { mined += after } else if p < breakEven { offCheap += after }
    }
    return (transitions, stops, mined, offCheap)
}

/// The price column of a table with `interval_start,settlement_point,rtm_usd_per_mwh,…` rows, read by
/// hand. The rows are checked to be contiguous 15-minute intervals, so index × 900 s is their time.
func pricesOf(_ path: String) throws -> [Double] {
    let text = try String(contentsOfFile: path, encoding: .utf8)
    let rows = text.split(whereSeparator: \.isNewline).dropFirst().map { $0.split(separator: ",") }
    let minutes = rows.map { row -> Int in
        let time = row[0].split(separator: "T")[1].split(separator: ":")
        return Int(time[0])! * 60 + Int(time[1])!
    }
    for (a, b) in zip(minutes, minutes.dropFirst()) { #expect((b - a + 1440) % 1440 == 15, "not contiguous") }
    return rows.map { Double($0[2])! }
}

@Suite("Simulation: ties and an independent recomputation")
struct TiesAndRecomputationTests {
    @Test func aDwellEndingAtANewPriceIsJudgedByTheNewPrice() throws {
        // On from 00:00; min on (30 min) ends exactly at 00:30, when the price turns cheap again.
        let r = simulate(try series(table([60, 60, 10, 10]))) {
            $0.minOnSeconds = 1800
            $0.minOffSeconds = 900
        }
        #expect(r.totals.transitions == 0)
        #expect(r.totals.secondsMined == 4 * 900)
        // And the other way round: halted at the start, min off ends as the price turns dear.
        let halted = simulate(try series(table([10, 10, 60, 60]))) {
            $0.initialCapacity = 0
            $0.minOffSeconds = 1800
            $0.minOnSeconds = 900
        }
        #expect(halted.totals.transitions == 0)
        #expect(halted.totals.secondsMined == 0)
    }

    @Test func anUntilEndingAtANewPriceIsJudgedByTheNewPrice() throws {
        let e = try events([
            #"{"time":"2024-06-01T00:00:00","type":"curtail","level":1,"id":"A","until":"2024-06-01T00:30:00"}"#
        ])
        let r = simulate(try series(table([10, 10, 60, 60])), events: e)
        // Curtailed, then the dear price: never a moment's resume at 00:30.
        #expect(r.totals.transitions == 1)
        #expect(r.totals.capacityChanges == 1)
        #expect(r.totals.secondsMined == 0)
    }

    @Test func aRampStepAtANewPriceIsJudgedByTheNewPrice() throws {
        let r = simulate(try series(table([10, 60, 60]))) {
            $0.initialCapacity = 0
            $0.rampSteps = [0.5]
            $0.rampStepSeconds = 900
        }
        // 0 → 0.5 at 00:00; at 00:15 the step to 1 and the dear price coincide: the price wins.
        #expect(r.totals.capacityChanges == 2)
        #expect(r.spans.allSatisfy { $0.capacity <= 0.5 })
        #expect(r.totals.secondsMined == 900)
    }

    static let settings: [(breakEven: Double, band: Double, minOn: Double, minOff: Double)] = [
        (45, 3, 1800, 900), (25, 3, 3600, 1800), (45, 0, 900, 0), (30, 5, 0, 900), (20, 2, 2700, 2700),
        (45, 0, 0, 0),
    ]

    func compare(_ path: String, expectedRows: Int) throws {
        let prices = try pricesOf(path)
        #expect(prices.count == expectedRows)
        let s = try PriceSeries.load(path: path)
        for c in Self.settings {
            let want = bandAndDwell(
                prices: prices, intervalSeconds: 900, breakEven: c.breakEven, band: c.band, minOn: c.minOn,
                minOff: c.minOff)
            let got = simulate(s, breakEven: c.breakEven, watts: 3250) {
                $0.hysteresisUSDPerMWh = c.band
                $0.minOnSeconds = c.minOn
                $0.minOffSeconds = c.minOff
            }
            #expect(got.totals.transitions == want.transitions, "\(c)")
            #expect(abs(got.totals.secondsMined - want.secondsMined) < 1e-6, "\(c)")
            #expect(abs(got.totals.energyKWh - want.secondsMined / 3600 * 3.25) < 1e-6, "\(c)")
            let stops = got.spans.filter { $0.capacity == 0 }.count  // it starts mining: each halted span is a stop
            #expect(stops == want.stops, "\(c)")
        }
    }

    @Test func bandAndDwellOverTheBundledDayMatchAnIndependentRecomputation() throws {
        try compare(bundledErcotPath, expectedRows: 96)
    }

    @Test(
        "Band and dwell over two months of ERCOT prices match an independent recomputation",
        .enabled(if: FileManager.default.fileExists(atPath: sharedErcotPath), "needs \(sharedErcotPath)"))
    func bandAndDwellOverTwoMonths() throws {
        try compare(sharedErcotPath, expectedRows: 5856)
        // The case from issue 12 (break-even 45, band 3, min on 30 min, min off 15 min), with the numbers
        // the recomputation gives: 89 stops and 1342.25 h mined (the tick judged by the ended price gave 91
        // stops and 1341.75 h).
        let want = bandAndDwell(
            prices: try pricesOf(sharedErcotPath), intervalSeconds: 900, breakEven: 45, band: 3, minOn: 1800,
            minOff: 900)
        #expect(want.stops == 89 && want.secondsMined == 1342.25 * 3600)
    }
}
