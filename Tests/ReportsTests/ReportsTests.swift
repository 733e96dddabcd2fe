import FlexSupport
import Foundation
import Reports
import TestSupport
import Testing

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// Constructed decision logs and telemetry whose baseline, shed, response time and compliance are worked
/// out by hand in each test (plain arithmetic on the numbers written into the lines), never by the module.
enum Fixture {
    /// Monday 2026-12-07 17:00:00 UTC.
    static let t0 = ISO8601.parseSeconds("2026-12-07T17:00:00Z")!

    static func iso(_ t: Double) -> String { ISO8601.format(Date(timeIntervalSince1970: t)) }

    /// One telemetry line in the shared format (`run --telemetry`).
    static func sample(
        _ t: Double, host: String, source: String = "sunspec", watts: Double?, mono: Double? = nil
    ) -> String {
        let w = watts.map { String($0) } ?? "null"
        let m = (mono ?? (t - t0 + 10_000_000)).description
        let error = watts == nil ? #","error":"timeout""# : ""
        return
            #"{"time":"\#(iso(t))","mono_s":\#(m),"host":"\#(host)","source":"\#(source)","modelled":\#(source == "model"),"watts":\#(w),"energy_j":null,"capacity":1,"state":"mining","curtailments":[]\#(error)}"#
    }

    /// Samples every `step` s over [a, b), load given by `watts(t)`.
    static func samples(
        _ a: Double, _ b: Double, step: Double = 1, host: String, source: String = "sunspec",
        _ watts: (Double) -> Double?
    ) -> [String] {
        stride(from: a, to: b, by: step).map { sample($0, host: host, source: source, watts: watts($0)) }
    }

    static func curtail(
        _ t: Double, id: String, level: Double = 1, until: Double? = nil, source: String = "unix:/run/f.sock"
    )
        -> String
    {
        let u = until.map { #","until":"\#(iso($0))""# } ?? ""
        return
            #"{"capacity_after":\#(1 - level),"capacity_before":1,"event":"signal","id":"\#(id)","level":\#(level),"ok":true,"reason":"curtail","source":"\#(source)","time":"\#(iso(t))","type":"curtail"\#(u)}"#
    }

    static func halt(_ t: Double, receiptMS: Double, after: Double = 0, reason: String = "curtailment 1") -> String {
        #"{"action":"\#(after == 0 ? "halt" : "capacity")","capacity_after":\#(after),"capacity_before":1,"event":"action","halt_latency_ms":0.2,"reason":"\#(reason)","receipt_to_halted_ms":\#(receiptMS),"time":"\#(iso(t))"}"#
    }

    static func resume(_ t: Double, reason: String = "release (evt); price below break-even") -> String {
        #"{"action":"resume","capacity_after":1,"capacity_before":0,"event":"action","reason":"\#(reason)","resume_latency_ms":0.1,"time":"\#(iso(t))"}"#
    }

    static func release(_ t: Double, id: String, source: String = "unix:/run/f.sock") -> String {
        #"{"capacity_after":1,"capacity_before":0,"event":"signal","id":"\#(id)","ok":true,"reason":"release","source":"\#(source)","time":"\#(iso(t))","type":"release"}"#
    }

    /// Writes the lines to a file in a fresh scratch directory; returns its path.
    static func file(_ name: String, _ lines: [String], in dir: String) -> String {
        let path = dir + "/" + name
        try! Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    static func report(
        logs: [[String]], telemetry: [[String]], options: ReportOptions = ReportOptions(), names: [String]? = nil
    ) throws -> EventReport {
        let dir = scratchDirectory()
        let logPaths = logs.enumerated().map { file("decisions-\($0.offset).jsonl", $0.element, in: dir) }
        let telPaths = telemetry.enumerated().map { file("telemetry-\($0.offset).jsonl", $0.element, in: dir) }
        let specs = names.map { zip($0, logPaths).map { "\($0)=\($1)" } } ?? logPaths
        return try ReportFiles.report(.init(decisionLogs: specs, telemetry: telPaths, options: options))
    }
}

@Suite("Event report")
struct ReportsTests {
    typealias F = Fixture

    /// One host, one full curtailment: 400 W for the 15 min before, still 400 W for the first 3 s, then
    /// 10 W until the release 600 s later.
    @Test func oneCurtailmentKnownByHand() throws {
        let t0 = F.t0
        let tel = F.samples(t0 - 1200, t0 + 900, host: "miner-01") { t in t < t0 + 3 ? 400 : 10 }
        let log = [
            F.curtail(t0, id: "evt-1"), F.halt(t0 + 0.002, receiptMS: 1.5), F.release(t0 + 600, id: "evt-1"),
            F.resume(t0 + 600.001),
        ]
        let r = try F.report(logs: [log], telemetry: [tel])
        #expect(r.events.count == 1)
        let e = try #require(r.events.first)
        #expect(e.host == "miner-01")
        #expect(e.event.id == "evt-1")
        #expect(e.event.source == "unix:/run/f.sock")
        #expect(e.event.level == 1)
        #expect(e.event.haltLatencyMS == 1.5)
        #expect(e.end == t0 + 600)
        #expect(e.event.endReason == "release")
        #expect(e.powerSource == "sunspec")
        #expect(!e.modelled)
        // Baseline: 900 samples of 400 W before the signal.
        #expect(abs(e.baselineKW! - 0.4) < 1e-9)
        #expect(e.baselineSamples == 900)
        // During [t0, t0 + 600): 3 samples at 400 W, 597 at 10 W.
        let during = (3 * 400.0 + 597 * 10) / 600 / 1000
        #expect(abs(e.eventKW! - during) < 1e-9)
        #expect(abs(e.shedKW! - (0.4 - during)) < 1e-9)
        #expect(abs(e.requestedShedKW! - 0.4) < 1e-9)
        #expect(abs(e.shedPercentOfRequested! - (0.4 - during) / 0.4 * 100) < 1e-6)
        #expect(abs(e.energyAvoidedKWh! - (0.4 - during) * 600 / 3600) < 1e-9)
        // 90 % of 400 W shed = load at most 40 W: first reached by the sample at t0 + 3.
        #expect(abs(e.responseSeconds! - 3) < 1e-6)
        // 0.38805 kW ≥ 0.4 × 0.95 = 0.38.
        #expect(e.compliant == true)
        #expect(e.gaps.isEmpty)
        #expect(r.badLineCount == 0)
    }

    /// 100 W left during a full curtailment of a 400 W host: shed 0.3 of 0.4 kW is 75 %: not compliant.
    @Test func nonCompliantEvent() throws {
        let t0 = F.t0
        let tel = F.samples(t0 - 900, t0 + 400, host: "miner-01") { t in t < t0 ? 400 : 100 }
        let log = [F.curtail(t0, id: "evt-2", until: t0 + 300), F.halt(t0, receiptMS: 2)]
        let r = try F.report(logs: [log], telemetry: [tel])
        let e = try #require(r.events.first)
        #expect(e.end == t0 + 300)
        #expect(e.event.endReason == "until")
        #expect(abs(e.shedKW! - 0.3) < 1e-9)
        #expect(abs(e.shedPercentOfRequested! - 75) < 1e-6)
        #expect(e.compliant == false)
        // 100 W is never at or below 40 W.
        #expect(e.responseSeconds == nil)
        #expect(ReportText.render(r).contains("NO"))
    }

    /// A partial curtailment (level 0.5) on a model-only host: requested shed = half the baseline, and
    /// the figures are labelled modelled.
    @Test func partialLevelOnTheModel() throws {
        let t0 = F.t0
        let tel = F.samples(t0 - 900, t0 + 700, host: "m", source: "model") { t in t < t0 + 5 ? 1000 : 520 }
        let log = [
            F.curtail(t0, id: "half", level: 0.5), F.halt(t0 + 0.01, receiptMS: 3, after: 0.5),
            F.release(t0 + 600, id: "half"),
        ]
        let r = try F.report(logs: [log], telemetry: [tel])
        let e = try #require(r.events.first)
        #expect(e.modelled)
        #expect(e.powerSource == "model")
        #expect(abs(e.requestedShedKW! - 0.5) < 1e-9)
        // During: 5 samples at 1000 W, 595 at 520 W.
        let during = (5 * 1000.0 + 595 * 520) / 600 / 1000
        #expect(abs(e.shedKW! - (1 - during)) < 1e-9)
        // Threshold: 1000 − 0.9 × 500 = 550 W: the sample at t0 + 5.
        #expect(abs(e.responseSeconds! - 5) < 1e-6)
        #expect(e.notes.contains { $0.contains("modelled") })
        #expect(ReportText.render(r).contains("MODELLED"))
    }

    /// A meter and the model on one host: the meter's figures are used, and the model is named as unused.
    @Test func measuredIsPreferredOverModel() throws {
        let t0 = F.t0
        let meter = F.samples(t0 - 900, t0 + 300, host: "h") { t in t < t0 ? 300 : 30 }
        let model = F.samples(t0 - 900, t0 + 300, host: "h", source: "model") { t in t < t0 ? 500 : 50 }
        let log = [F.curtail(t0, id: "e", until: t0 + 120), F.halt(t0, receiptMS: 1)]
        let r = try F.report(logs: [log], telemetry: [model + meter])
        let e = try #require(r.events.first)
        #expect(e.powerSource == "sunspec")
        #expect(abs(e.baselineKW! - 0.3) < 1e-9)
        #expect(e.notes.contains { $0.contains("also measured by model") })
    }

    /// Three hosts, one event id: the fleet sums baselines and sheds, and names the slowest host.
    @Test func fleetOfThreeHosts() throws {
        let t0 = F.t0
        let hosts = [("a", 300.0, 2.0), ("b", 500.0, 5.0), ("c", 800.0, 8.0)]
        var logs: [[String]] = []
        var tels: [[String]] = []
        for (host, watts, delay) in hosts {
            tels.append(F.samples(t0 - 900, t0 + 700, host: host) { t in t < t0 + delay ? watts : 0 })
            logs.append([F.curtail(t0, id: "evt-9"), F.halt(t0, receiptMS: 1), F.release(t0 + 600, id: "evt-9")])
        }
        let r = try F.report(logs: logs, telemetry: tels)
        #expect(r.events.count == 3)
        #expect(Set(r.events.map(\.host)) == ["a", "b", "c"])
        let fleet = try #require(r.fleet.first)
        #expect(r.fleet.count == 1)
        #expect(fleet.id == "evt-9")
        #expect(fleet.hosts.sorted() == ["a", "b", "c"])
        // Baselines 0.3 + 0.5 + 0.8 kW; each host's load during: delay samples at full, the rest 0.
        #expect(abs(fleet.baselineKW - 1.6) < 1e-9)
        let shed = hosts.reduce(0.0) { $0 + ($1.1 - $1.1 * $1.2 / 600) / 1000 }
        #expect(abs(fleet.shedKW - shed) < 1e-9)
        #expect(abs(fleet.requestedShedKW - 1.6) < 1e-9)
        #expect(fleet.slowestHost == "c")
        #expect(abs(fleet.slowestResponseSeconds! - 8) < 1e-6)
        #expect(fleet.compliant == true)
        let text = ReportText.render(r)
        #expect(text.contains("fleet"))
    }

    /// Several hosts' telemetry and decision logs in different numbers: the host must be named.
    @Test func ambiguousHostsAreAnErrorUnlessNamed() throws {
        let t0 = F.t0
        let a = F.samples(t0 - 900, t0 + 60, host: "a") { _ in 100 }
        let b = F.samples(t0 - 900, t0 + 60, host: "b") { _ in 200 }
        let log = [F.curtail(t0, id: "x", until: t0 + 30)]
        let error = #expect(throws: InputError.self) { try F.report(logs: [log], telemetry: [a, b]) }
        #expect(error?.message.contains("--decision-log HOST=") == true)
        let r = try F.report(logs: [log], telemetry: [a, b], names: ["b"])
        #expect(r.events.map(\.host) == ["b"])
        #expect(abs(r.events[0].baselineKW! - 0.2) < 1e-9)
    }

    /// A 30 s hole in 1 s telemetry inside the event is a gap (reported, not filled), energy counts only
    /// measured time, and bad lines are counted and named by line and field.
    @Test func gapsAndBadLines() throws {
        let t0 = F.t0
        var tel = F.samples(t0 - 900, t0 + 700, host: "h") { t in
            if t >= t0 + 100 && t < t0 + 130 { return nil }  // failed samples: watts null
            return t < t0 ? 400 : 0
        }
        // Bad lines at known positions (1-based line numbers after insertion).
        tel.insert("not json", at: 10)
        tel.insert(#"{"time":"2026-12-07T16:50:00.000Z","host":"h","source":"sunspec","watts":"abc"}"#, at: 20)
        tel.insert(#"{"time":"2026-12-07T16:50:00.000Z","source":"sunspec","watts":5}"#, at: 30)
        let log = [F.curtail(t0, id: "g"), F.halt(t0, receiptMS: 1), F.release(t0 + 600, id: "g"), "{oops"]
        let r = try F.report(logs: [log], telemetry: [tel])
        let e = try #require(r.events.first)
        // Samples at t0 + 99 and t0 + 130: one gap of 31 s in the event window.
        #expect(e.gaps.count == 1)
        let g = try #require(e.gaps.first)
        #expect(g.window == "event")
        #expect(abs(g.start - (t0 + 99)) < 1e-6)
        #expect(abs(g.end - (t0 + 130)) < 1e-6)
        // 570 samples of 0 W during; shed 0.4 kW over 600 − 31 s measured.
        #expect(e.eventSamples == 570)
        #expect(abs(e.energyAvoidedKWh! - 0.4 * (600 - 31) / 3600) < 1e-9)
        #expect(r.badLineCount == 4)
        let listed = r.badLines.map(\.description)
        #expect(listed.contains { $0.hasSuffix("telemetry-0.jsonl: line 11: not a JSON object") })
        #expect(listed.contains { $0.contains("line 21: field \"watts\" must be a number or null") })
        #expect(listed.contains { $0.contains("line 31: missing field \"host\"") })
        #expect(listed.contains { $0.contains("decisions-0.jsonl: line 4: malformed JSON") })
        #expect(r.streams.first?.failed == 30)
        let text = ReportText.render(r)
        #expect(text.contains("gap in the event window"))
        #expect(text.contains("4 bad lines skipped"))
    }

    /// Nothing usable is fatal, and names the file.
    @Test func nothingUsableIsAnError() throws {
        let t0 = F.t0
        let log = [F.curtail(t0, id: "x", until: t0 + 30)]
        let garbage = #expect(throws: InputError.self) {
            try F.report(logs: [log], telemetry: [["garbage", "more garbage"]])
        }
        #expect(garbage?.message.contains("no usable telemetry line in") == true)
        #expect(garbage?.message.contains("telemetry-0.jsonl") == true)
        let missing = #expect(throws: InputError.self) {
            try ReportFiles.report(
                .init(decisionLogs: ["/nonexistent/d.jsonl"], telemetry: ["/nonexistent/t.jsonl"], options: .init()))
        }
        #expect(missing?.message.hasPrefix("/nonexistent/t.jsonl: cannot read it") == true)
    }

    /// `--from`/`--to`: only events whose signal arrived in [from, to).
    @Test func windowFilter() throws {
        let t0 = F.t0
        let tel = F.samples(t0 - 900, t0 + 7200, step: 5, host: "h") { _ in 100 }
        let log = [
            F.curtail(t0, id: "first", until: t0 + 60), F.curtail(t0 + 3600, id: "second", until: t0 + 3660),
        ]
        let all = try F.report(logs: [log], telemetry: [tel])
        #expect(all.events.map(\.event.id) == ["first", "second"])
        let some = try F.report(
            logs: [log], telemetry: [tel], options: ReportOptions(from: t0 + 1, to: t0 + 3601))
        #expect(some.events.map(\.event.id) == ["second"])
        let none = try F.report(logs: [log], telemetry: [tel], options: ReportOptions(from: t0 + 1, to: t0 + 3600))
        #expect(none.events.isEmpty)
    }

    /// `mean-of-days`: the 17:00–18:00 window on the ten previous un-curtailed weekdays. The event is on
    /// Wednesday 2026-12-09; Tuesday the 8th had a curtailment at 17:30, weekends do not count, so the days
    /// are Dec 7, 4, 3, 2, 1, Nov 30, 27, 26, 25, 24 (read off a calendar).
    @Test func meanOfDays() throws {
        let event = ISO8601.parseSeconds("2026-12-09T17:00:00Z")!
        let days = [
            "2026-12-08", "2026-12-07", "2026-12-06", "2026-12-05", "2026-12-04", "2026-12-03", "2026-12-02",
            "2026-12-01", "2026-11-30", "2026-11-29", "2026-11-28", "2026-11-27", "2026-11-26", "2026-11-25",
            "2026-11-24", "2026-11-23",
        ]
        // Each day's load in its window: 100 W + 10 W per day back, so each day has a distinct mean.
        var tel: [String] = []
        for (k, day) in days.reversed().enumerated() {
            let start = ISO8601.parseSeconds("\(day)T16:50:00Z")!
            let load = 100 + 10 * Double(days.count - k)
            tel += F.samples(start, start + 80 * 60, step: 60, host: "h") { _ in load }
        }
        tel += F.samples(event - 600, event + 3600, step: 60, host: "h") { t in t < event ? 999 : 5 }
        let tuesday = ISO8601.parseSeconds("2026-12-08T17:30:00Z")!
        let log = [
            F.curtail(tuesday, id: "tue", until: tuesday + 900), F.curtail(event, id: "wed", until: event + 3600),
        ]
        let options = ReportOptions(baseline: .meanOfDays)
        let r = try F.report(logs: [log], telemetry: [tel], options: options)
        let e = try #require(r.events.first { $0.event.id == "wed" })
        let used = [
            "2026-12-07", "2026-12-04", "2026-12-03", "2026-12-02", "2026-12-01", "2026-11-30", "2026-11-27",
            "2026-11-26", "2026-11-25", "2026-11-24",
        ]
        #expect(e.baselineDays == used)
        // Day i back (1 = Dec 8) carries 100 + 10 × i W.
        let loads = used.map { d in 100 + 10 * Double(days.firstIndex(of: d)! + 1) }
        let expected = loads.reduce(0, +) / Double(loads.count) / 1000
        #expect(abs(e.baselineKW! - expected) < 1e-9)
        #expect(abs(e.eventKW! - 0.005) < 1e-9)
    }

    /// How events end: a `stop` ends every curtailment of the run; a log that ends first leaves one open
    /// (its figures run to the last sample); a second `curtail` with the same id and a higher level raises
    /// the level, and the halt that follows is its latency.
    @Test func endsOfEventsAndRaisedLevels() throws {
        let t0 = F.t0
        let tel = F.samples(t0 - 900, t0 + 1800, host: "h") { t in t < t0 ? 400 : 0 }
        let log = [
            F.curtail(t0, id: "a", level: 0.5), F.halt(t0, receiptMS: 1, after: 0.5),
            F.curtail(t0 + 60, id: "a", level: 1), F.halt(t0 + 60.001, receiptMS: 2),
            #"{"event":"stop","hashes":1,"seconds":2,"time":"\#(F.iso(t0 + 600))"}"#,
            F.curtail(t0 + 900, id: "b"),
        ]
        let r = try F.report(logs: [log], telemetry: [tel])
        #expect(r.events.map(\.event.id) == ["a", "b"])
        let a = r.events[0]
        #expect(a.end == t0 + 600)
        #expect(a.event.endReason == "stop")
        #expect(a.event.level == 1)
        #expect(a.event.haltLatencyMS == 2)
        #expect(a.notes.contains { $0.hasPrefix("level raised to 100 %") })
        let b = r.events[1]
        #expect(b.event.endReason == "open")
        #expect(b.end == t0 + 1799)
        #expect(b.event.haltLatencyMS == nil)
        #expect(b.notes.contains { $0.contains("still active at the end of the decision log") })
        // b's baseline (15 min before t0 + 900) is all 0 W: nothing to shed, so the share is not defined.
        #expect(b.baselineKW == 0)
        #expect(b.shedPercentOfRequested == nil)
        #expect(b.compliant == nil)
        #expect(ReportData.json(r).contains("\"time_zone\" : \"UTC\""))
    }

    /// `mean-of-days` in a zone: 2026-12-07T02:00Z is Monday in UTC but Sunday 20:00 in Chicago, so with
    /// `--timezone America/Chicago` the days are the previous weekend days at 20:00 local (02:00Z the next
    /// UTC day): Sat Dec 5, Sun Nov 29, Sat Nov 28 (read off a calendar), the weekend days with data.
    @Test func meanOfDaysInAZone() throws {
        let event = ISO8601.parseSeconds("2026-12-07T02:00:00Z")!
        var tel: [String] = []
        // Local 20:00–20:30 on Dec 5, Nov 29, Nov 28 (CST = UTC−6) and on Friday Dec 4 (a weekday).
        for (day, load) in [("2026-12-06", 400.0), ("2026-11-30", 200.0), ("2026-11-29", 300.0), ("2026-12-05", 999.0)]
        {
            let start = ISO8601.parseSeconds("\(day)T01:50:00Z")!
            tel += F.samples(start, start + 50 * 60, step: 60, host: "h") { _ in load }
        }
        tel += F.samples(event - 600, event + 1800, step: 60, host: "h") { _ in 0 }
        let log = [F.curtail(event, id: "sun", until: event + 1800)]
        var options = ReportOptions(baseline: .meanOfDays)
        options.timeZone = TimeZone(identifier: "America/Chicago")!
        let r = try F.report(logs: [log], telemetry: [tel], options: options)
        let e = try #require(r.events.first)
        #expect(e.baselineDays == ["2026-12-05", "2026-11-29", "2026-11-28"])
        #expect(abs(e.baselineKW! - (400 + 200 + 300) / 3 / 1000) < 1e-9)
        // In UTC it is a Monday 02:00 event: of the days with data at 02:00Z only Monday Nov 30 is a weekday.
        let utc = try F.report(logs: [log], telemetry: [tel], options: ReportOptions(baseline: .meanOfDays))
        #expect(utc.events.first?.baselineDays == ["2026-11-30"])
        #expect(abs(utc.events.first!.baselineKW! - 0.2) < 1e-9)
    }

    /// A price-driven halt span: from the halt whose reason ends in "price above break-even" to the resume.
    @Test func priceHaltSpan() throws {
        let t0 = F.t0
        let tel = F.samples(t0 - 900, t0 + 1200, host: "h") { t in t < t0 + 1 ? 250 : 12.5 }
        let log = [
            F.halt(t0, receiptMS: 0.5, reason: "price 80 USD/MWh; price above break-even"),
            F.resume(t0 + 900, reason: "price 20 USD/MWh; price below break-even"),
        ]
        let r = try F.report(logs: [log], telemetry: [tel])
        let e = try #require(r.events.first)
        #expect(e.event.kind == .price)
        #expect(e.event.source == "price")
        #expect(abs(e.end - (t0 + 900)) < 1e-6)
        #expect(abs(e.baselineKW! - 0.25) < 1e-9)
        #expect(r.fleet.isEmpty)
    }

    /// The outputs: the JSON document carries the schema and the documented fields; CSV has one row per
    /// host-event; an SVG names its parts.
    @Test func outputs() throws {
        let t0 = F.t0
        let tel = F.samples(t0 - 900, t0 + 400, host: "h") { t in t < t0 ? 400 : 0 }
        let r = try F.report(logs: [[F.curtail(t0, id: #"o, \"q\""#, until: t0 + 300)]], telemetry: [tel])
        let json = try #require(
            try JSONSerialization.jsonObject(with: Data(ReportData.json(r).utf8)) as? [String: Any])
        #expect(json["schema"] as? String == "flexminer-report/1")
        let event = try #require((json["events"] as? [[String: Any]])?.first)
        for key in [
            "host", "source", "id", "requested_level", "signal_received", "workers_halted_ms", "response_seconds",
            "end", "baseline_kw", "event_kw", "shed_kw", "shed_percent_of_requested", "energy_avoided_kwh",
            "compliant", "power_source", "modelled", "gaps",
        ] {
            #expect(event[key] != nil, "missing \(key)")
        }
        #expect(event["baseline_kw"] as? Double == 0.4)
        let csv = ReportData.csv(r).split(separator: "\n")
        #expect(csv.count == 2)
        #expect(csv[0].hasPrefix("host,kind,source,id,"))
        #expect(csv[1].contains(#""o, ""q""""#))
        let svg = ReportChart.svg(r.events[0], options: r.options)
        #expect(svg.contains("id=\"baseline\"") && svg.contains("id=\"event-window\"") && svg.contains("id=\"load\""))
        #if canImport(FoundationXML) || canImport(Darwin)
            #expect(XMLParser(data: Data(svg.utf8)).parse(), "the SVG is not well-formed XML")
        #endif
        #expect(ReportChart.fileName(r.events[0]).hasSuffix(".svg"))
        #expect(!ReportChart.fileName(r.events[0]).contains("/"))
    }

    /// The example of docs/report.md (Tests/Fixtures/report, written by its generate.py): three hosts in
    /// EEA-7 (17:00–17:15, level 1), 5 s samples. miner-02 (RAPL: 265 W, 9 W from 2 s after the signal)
    /// lost its samples from 17:05:00 to 17:05:55, and one of its lines is broken.
    @Test func theDocumentedExample() throws {
        let dir = Fixtures.directory.appendingPathComponent("report").path
        let hosts = ["miner-01", "miner-02", "miner-03"]
        let r = try ReportFiles.report(
            .init(
                decisionLogs: hosts.map { "\(dir)/decisions-\($0).jsonl" },
                telemetry: hosts.map { "\(dir)/telemetry-\($0).jsonl" }, options: ReportOptions()))
        #expect(r.events.map(\.host) == hosts)
        #expect(r.events.map(\.powerSource) == ["sunspec", "rapl", "model"])
        #expect(r.events.map(\.modelled) == [false, false, true])
        let m2 = r.events[1]
        #expect(abs(m2.baselineKW! - 0.265) < 1e-9)
        // 180 sample times in [17:00, 17:15), 12 failed: one at 265 W (17:00:00), 167 at 9 W.
        let during = (265 + 167 * 9.0) / 168
        #expect(abs(m2.eventKW! - during / 1000) < 1e-9)
        // The gap runs from the last good sample (17:04:55) to the next (17:06:00).
        #expect(m2.gaps.count == 1)
        #expect(abs(m2.gaps[0].seconds - 65) < 1e-6)
        #expect(abs(m2.energyAvoidedKWh! - (265 - during) / 1000 * (900 - 65) / 3600) < 1e-9)
        #expect(abs(m2.responseSeconds! - 5) < 1e-6)
        // The model drops at the signal: 3250 W to 120 W.
        #expect(abs(r.events[2].shedKW! - 3.13) < 1e-9)
        let fleet = try #require(r.fleet.first)
        #expect(fleet.slowestHost == "miner-01")
        #expect(fleet.anyModelled)
        #expect(r.badLineCount == 1)
        #expect(r.badLines.first?.line == 541)
    }

    /// Line by line across 1 MiB chunks: lines cut by a chunk's end are whole, CRLF is trimmed, a line over
    /// 64 KiB is passed as nil (counted), a last line without a newline is read, and `maxBytes` stops early.
    @Test func linesAcrossChunks() throws {
        let dir = scratchDirectory()
        var text = ""
        for i in 0..<1100 { text += String(repeating: Character(UnicodeScalar(UInt8(97 + i % 26))), count: 999) + "\n" }
        text += String(repeating: "x", count: 70_000) + "\r\n" + "tail\r\n" + "\n" + "last"
        let path = F.file("lines.txt", [text], in: dir)
        // F.file adds a final newline; the case without one is checked below on a second file.
        var lines: [Int: String] = [:]
        try ReportFiles.forEachLine(path) { line, n throws(InputError) in
            lines[n] = line.map { String(decoding: $0, as: UTF8.self) } ?? "(too long)"
        }
        #expect(lines.count == 1103)  // the empty line is numbered but not passed
        #expect(lines[1] == String(repeating: "a", count: 999))
        #expect(lines[1051] == String(repeating: Character(UnicodeScalar(UInt8(97 + 1050 % 26))), count: 999))
        #expect(lines[1101] == "(too long)")
        #expect(lines[1102] == "tail")
        #expect(lines[1103] == nil)
        #expect(lines[1104] == "last")
        try Data("one\ntwo".utf8).write(to: URL(fileURLWithPath: dir + "/bare.txt"))
        var bare: [String] = []
        try ReportFiles.forEachLine(dir + "/bare.txt") { line, _ throws(InputError) in
            bare.append(String(decoding: line!, as: UTF8.self))
        }
        #expect(bare == ["one", "two"])
        var peeked = 0
        try ReportFiles.forEachLine(path, maxBytes: 1) { _, _ throws(InputError) in peeked += 1 }
        // One chunk (1 MiB) of 1000-byte lines: 1048 whole lines, the 1049th cut and not passed.
        #expect(peeked == 1048)
    }

    /// The telemetry reader: unknown and nested fields skipped, escapes decoded, nulls, wrong types named.
    @Test func telemetryLines() throws {
        let s = try TelemetryLine.parse(
            #"{"x":{"a":[1,{"b":null}],"c":"\"}"},"time":"2026-12-07T17:00:00.5Z","mono_s":1.5,"host":"m\u0069ner","source":"rapl","watts":1.25e2,"capacity":0}"#
        )
        #expect(s.host == "miner")
        #expect(s.source == "rapl")
        #expect(!s.modelled)
        #expect(s.watts == 125)
        #expect(s.mono == 1.5)
        #expect(s.time == F.t0 + 0.5)
        let failed = try TelemetryLine.parse(
            #"{"time":"2026-12-07T17:00:00Z","host":"h","source":"model","modelled":true,"watts":null,"error":"x"}"#)
        #expect(failed.watts == nil)
        #expect(failed.modelled)
        let bad: [(String, String)] = [
            (#"{"time":"2026-12-07T17:00:00","host":"h","source":"s","watts":1}"#, "field \"time\""),
            (#"{"time":"2026-12-07T17:00:00Z","host":"h","source":"s","watts":-1}"#, "field \"watts\""),
            (#"{"time":"2026-12-07T17:00:00Z","host":"h","source":"s","watts":1e999}"#, "field \"watts\""),
            (#"{"time":"2026-12-07T17:00:00Z","host":"h","source":"s"}"#, "missing field \"watts\""),
            (#"{"time":"2026-12-07T17:00:00Z","host":7,"source":"s","watts":1}"#, "field \"host\""),
            (#"{"time":"2026-12-07T17:00:00Z","host":"h","source":"s","watts":1,"capacity":2}"#, "field \"capacity\""),
            (#"{"time":"2026-12-07T17:00:00Z","host":"h","source":"s","watts":1} x"#, "malformed JSON"),
            (#"[1]"#, "not a JSON object"),
        ]
        for (line, message) in bad {
            let error = #expect(throws: InputError.self, "\(line)") { try TelemetryLine.parse(line) }
            #expect(error?.message.contains(message) == true, "\(line): \(String(describing: error))")
        }
    }
}
