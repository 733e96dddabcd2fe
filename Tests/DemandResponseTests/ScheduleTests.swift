import DemandResponse
import FlexSupport
import Foundation
import TestSupport
import Testing

func schedule(_ json: String) throws(InputError) -> Schedule { try Schedule(json: Data(json.utf8)) }

let fourCPWindow = """
    {"id": "ercot-4cp", "months": [6,7,8,9], "weekdays": ["mon","tue","wed","thu","fri"],
     "start": "15:00", "end": "18:00", "timezone": "America/Chicago",
     "action": "curtail", "level": 1.0, "reason": "ERCOT 4CP peak watch", "peak_watch": true}
    """

@Suite("Schedules")
struct ScheduleTests {
    @Test func theFourCPWindowOpensOnSummerWeekdayAfternoonsLocalTime() throws {
        let s = try schedule(#"{"windows": [\#(fourCPWindow)]}"#)
        // Monday 2024-06-03, CDT (UTC-5): 15:00–18:00 is 20:00Z–23:00Z.
        #expect(s.active(at: at("2024-06-03T19:59:59Z")).isEmpty)
        let open = s.active(at: at("2024-06-03T20:00:00Z"))
        #expect(open.count == 1 && open.first?.end == at("2024-06-03T23:00:00Z"))
        #expect(s.active(at: at("2024-06-03T23:00:00Z")).isEmpty)
        #expect(s.active(at: at("2024-06-01T21:00:00Z")).isEmpty)  // Saturday
        #expect(s.active(at: at("2024-10-01T21:00:00Z")).isEmpty)  // October
        #expect(s.nextBoundary(after: at("2024-06-01T12:00:00Z")) == at("2024-06-03T20:00:00Z"))
        guard case .peakWatch(let w) = Schedule.message(open[0].window, start: open[0].start, end: open[0].end) else {
            Issue.record("a peak_watch window must send a peak watch, not a curtailment")
            return
        }
        #expect(w.until == at("2024-06-03T23:00:00Z") && w.level == 1 && w.id == "ercot-4cp")
    }

    @Test func aWindowOverMidnightRunsIntoTheNextMonth() throws {
        let s = try schedule(
            #"{"windows": [{"id": "late", "months": [6], "start": "22:00", "end": "02:00", "timezone": "America/Chicago", "action": "curtail", "level": 0.5}]}"#
        )
        // Opens Sunday 2024-06-30 22:00 CDT and closes Monday 2024-07-01 02:00 CDT (07:00Z).
        #expect(s.active(at: at("2024-07-01T06:30:00Z")).first?.end == at("2024-07-01T07:00:00Z"))
        // The occurrence starting 2024-05-31 belongs to May: not open at 2024-06-01 01:00 CDT.
        #expect(s.active(at: at("2024-06-01T06:00:00Z")).isEmpty)
        // None starts in July.
        #expect(s.active(at: at("2024-07-02T04:00:00Z")).isEmpty)
        let all = s.occurrences(from: at("2024-05-25T00:00:00Z"), to: at("2024-07-10T00:00:00Z"))
        #expect(all.count == 30)
    }

    @Test func windowsKeepTheirWallClockTimesAcrossDST() throws {
        let s = try schedule(
            #"{"windows": [{"id": "night", "start": "00:00", "end": "06:00", "timezone": "America/Chicago", "action": "price", "usd_per_mwh": 20}, {"id": "gap", "start": "02:30", "end": "03:30", "timezone": "America/Chicago", "action": "curtail"}]}"#
        )
        let night = s.windows[0]
        // Spring forward (2024-03-10): 00:00 CST = 06:00Z to 06:00 CDT = 11:00Z, five hours.
        let spring = try #require(night.occurrence(year: 2024, month: 3, day: 10))
        #expect(spring.start == at("2024-03-10T06:00:00Z") && spring.end == at("2024-03-10T11:00:00Z"))
        // Fall back (2024-11-03): 00:00 CDT = 05:00Z to 06:00 CST = 12:00Z, seven hours.
        let fall = try #require(night.occurrence(year: 2024, month: 11, day: 3))
        #expect(fall.start == at("2024-11-03T05:00:00Z") && fall.end == at("2024-11-03T12:00:00Z"))
        // A start inside the skipped hour opens when the clock jumps (03:00 CDT = 08:00Z).
        let gap = try #require(s.windows[1].occurrence(year: 2024, month: 3, day: 10))
        #expect(gap.start == at("2024-03-10T08:00:00Z") && gap.end == at("2024-03-10T08:30:00Z"))
        #expect(s.price(at: at("2024-11-03T11:30:00Z")) == 20)
        #expect(s.price(at: at("2024-11-03T12:00:00Z")) == nil)
    }

    @Test func overlappingWindowsTheMostRestrictiveWins() throws {
        let s = try schedule(
            #"{"windows": [{"id": "half", "start": "10:00", "end": "14:00", "timezone": "UTC", "action": "curtail", "level": 0.5}, {"id": "full", "start": "11:00", "end": "12:00", "timezone": "UTC", "action": "curtail", "level": 1}]}"#
        )
        var plan = CalendarSignals(tariff: nil, schedule: s)
        var config = PolicyConfig(breakEvenUSDPerMWh: 1000)
        config.staleAfterSeconds = 1e6
        var state = PolicyState(config: config, now: at("2024-06-03T09:00:00Z"))
        func run(_ time: String) -> Double {
            var d: Decision? = nil
            for m in plan.due(at: at(time)) {
                d = Policy.step(&state, .signal(m, source: "schedule"), now: at(time), config: config)
            }
            return d?.capacity ?? Policy.step(&state, .tick, now: at(time), config: config).capacity
        }
        #expect(run("2024-06-03T10:00:00Z") == 0.5)
        #expect(run("2024-06-03T11:00:00Z") == 0)
        #expect(run("2024-06-03T12:00:00Z") == 0.5)
        #expect(run("2024-06-03T14:00:00Z") == 1)
    }

    @Test func badSchedulesAreRefusedNamingTheField() {
        func refusal(_ window: String) -> String {
            do {
                _ = try schedule(#"{"windows": [\#(window)]}"#)
                return "accepted"
            } catch {
                return error.message
            }
        }
        let base = #""id": "w", "start": "15:00", "end": "18:00", "timezone": "America/Chicago", "action": "curtail""#
        #expect(refusal(#"{\#(base), "weekdays": ["funday"]}"#).contains("windows[0].weekdays[0]"))
        #expect(refusal(#"{\#(base), "months": [13]}"#).contains("windows[0].months[0]"))
        #expect(
            refusal(#"{"id": "w", "start": "25:00", "end": "18:00", "timezone": "UTC", "action": "curtail"}"#)
                .contains("windows[0].start"))
        #expect(
            refusal(#"{"id": "w", "start": "15:00", "end": "18:00", "timezone": "Nowhere/Land", "action": "curtail"}"#)
                .contains("windows[0].timezone"))
        #expect(refusal(#"{\#(base), "level": 2}"#).contains("windows[0].level"))
        #expect(
            refusal(#"{"id": "w", "start": "15:00", "end": "18:00", "timezone": "UTC", "action": "price"}"#)
                .contains("windows[0].usd_per_mwh"))
        #expect(
            refusal(#"{"id": "w", "start": "15:00", "end": "18:00", "timezone": "UTC", "action": "sing"}"#)
                .contains("windows[0].action"))
    }

    @Test func theTariffSourceChangesPriceExactlyAtLocalHourBoundaries() throws {
        let clock = try LocalClock(identifier: "America/New_York")
        var plan = CalendarSignals(tariff: TariffClock(tariff: try georgia(), clock: clock), schedule: nil)
        func price(_ ms: [SignalMessage]) -> Double? {
            for m in ms { if case .price(let p) = m { return p.usdPerMWh } }
            return nil
        }
        // 13:59:59 EDT on a July weekday: the shoulder price; the next wake is 14:00:00 EDT exactly.
        let before = at("2024-07-17T17:59:59Z")
        #expect(close(price(plan.due(at: before)) ?? 0, 109.881))
        #expect(plan.nextWake(after: before) == at("2024-07-17T18:00:00Z"))
        let onPeak = plan.due(at: at("2024-07-17T18:00:00Z"))
        #expect(close(price(onPeak) ?? 0, 184.723))
        if case .price(let p)? = onPeak.first { #expect(p.intervalStart == at("2024-07-17T18:00:00Z")) }
        // Nothing new a few seconds later; a heartbeat once 15 s have passed quietly.
        #expect(plan.due(at: at("2024-07-17T18:00:05Z")).isEmpty)
        #expect(plan.due(at: at("2024-07-17T18:00:20Z")) == [.heartbeat])
    }
}

@Suite("Peak rule")
struct PeakRuleTests {
    /// Feeds a table of (minutes after 2024-06-03T00:00Z, message) and returns the capacity after each.
    func run(_ steps: [(Double, SignalMessage?)], tweak: (inout PolicyConfig) -> Void = { _ in }) -> [Double] {
        var config = PolicyConfig(breakEvenUSDPerMWh: 1000)
        config.staleAfterSeconds = 1e6  // the fail-safe is not under test
        tweak(&config)
        let t0 = at("2024-06-03T00:00:00Z")
        var state = PolicyState(config: config, now: t0)
        _ = Policy.step(&state, .tick, now: t0, config: config)
        return steps.map { minutes, message in
            let now = t0.addingTimeInterval(minutes * 60)
            let input: PolicyInput = message.map { .signal($0, source: "test") } ?? .tick
            return Policy.step(&state, input, now: now, config: config).capacity
        }
    }

    let watch = SignalMessage.peakWatch(PeakWatchSignal(level: 1, id: "4cp", until: at("2024-06-03T03:00:00Z")))

    @Test func curtailsNearTheMonthToDatePeakInsideAWatchOnly() {
        let caps = run([
            (0, .systemLoad(mw: 60_000)),  // month peak 60,000; no window yet
            (1, .systemLoad(mw: 59_000)),  // ≥ 57,000 but outside a window: mine
            (1.5, .systemLoad(mw: 50_000)),
            (2, watch),  // opens with the latest load far from the peak: mine
            (3, .systemLoad(mw: 56_000)),  // < 0.95 × 60,000 = 57,000: mine
            (4, .systemLoad(mw: 58_000)),  // ≥ 57,000: curtail
            (5, .systemLoad(mw: 55_000)),  // not below 0.9 × 60,000 = 54,000: stay curtailed
            (6, .systemLoad(mw: 53_000)),  // below: release
            (7, .systemLoad(mw: 61_000)),  // a new peak (61,000 ≥ 0.95 × 61,000): curtail
            (180, nil),  // the window ends at 03:00: released
            (181, .systemLoad(mw: 70_000)),  // no window: mine
        ])
        #expect(caps == [1, 1, 1, 1, 1, 0, 0, 1, 0, 1, 1])
    }

    @Test func aNewMonthStartsANewPeakAndPeakMWIsAnAbsoluteTrigger() {
        var config = PolicyConfig(breakEvenUSDPerMWh: 1000)
        config.peakMW = 65_000
        config.staleAfterSeconds = 1e6
        var state = PolicyState(config: config, now: at("2024-06-30T20:00:00Z"))
        func step(_ time: String, _ m: SignalMessage?) -> Double {
            Policy.step(&state, m.map { .signal($0, source: "s") } ?? .tick, now: at(time), config: config).capacity
        }
        #expect(step("2024-06-30T20:00:00Z", .systemLoad(mw: 80_000)) == 1)
        #expect(step("2024-06-30T20:00:30Z", .systemLoad(mw: 50_000)) == 1)
        _ = step("2024-06-30T20:01:00Z", .peakWatch(PeakWatchSignal(until: at("2024-06-30T23:00:00Z"))))
        // 66,000 < 0.95 × 80,000 but ≥ peak_mw 65,000: curtail.
        #expect(step("2024-06-30T20:02:00Z", .systemLoad(mw: 66_000)) == 0)
        #expect(step("2024-06-30T20:03:00Z", .systemLoad(mw: 64_000)) == 1)
        // July (UTC, the default zone): the peak restarts at the first reading, 30,000.
        _ = step("2024-07-01T20:00:00Z", .peakWatch(PeakWatchSignal(id: "jul", until: at("2024-07-01T23:00:00Z"))))
        #expect(step("2024-07-01T20:01:00Z", .systemLoad(mw: 30_000)) == 0)
        #expect(state.monthPeakMW == 30_000)
        // A release by id lifts the watch and its curtailment.
        #expect(step("2024-07-01T20:02:00Z", .release(id: "jul")) == 1)
        #expect(step("2024-07-01T20:03:00Z", .systemLoad(mw: 31_000)) == 1)
    }

    @Test func systemLoadAndPeakSettingsAreCheckedNamingTheField() {
        func refusal(_ line: String) -> String {
            do {
                _ = try SignalMessage.parse(Array(line.utf8), now: at("2024-06-03T00:00:00Z"))
                return "accepted"
            } catch {
                return error.message
            }
        }
        #expect(refusal(#"{"type":"system_load","mw":-5}"#).contains("\"mw\""))
        #expect(refusal(#"{"type":"system_load"}"#).contains("\"mw\""))
        #expect(refusal(#"{"type":"system_load","mw":71234.5}"#) == "accepted")
        #expect(refusal(#"{"type":"peak_watch","level":1}"#).contains("\"until\""))
        #expect(refusal(#"{"type":"peak_watch","until":"2024-06-03T01:00:00Z","level":3}"#).contains("\"level\""))
        #expect(throws: SignalError.self) { try PolicyFile(json: Data(#"{"peak_threshold": 1.5}"#.utf8)) }
        #expect(throws: SignalError.self) {
            try PolicyFile(json: Data(#"{"peak_threshold": 0.9, "peak_release": 0.95}"#.utf8))
        }
        #expect(throws: SignalError.self) { try PolicyFile(json: Data(#"{"peak_timezone": "Moon/Base"}"#.utf8)) }
        let ok = try? PolicyFile(
            json: Data(#"{"peak_threshold": 0.85, "peak_mw": 80000, "peak_timezone": "America/Chicago"}"#.utf8))
        #expect(ok?.config.peakRelease == 0.85 && ok?.config.peakMW == 80_000)
    }
}
