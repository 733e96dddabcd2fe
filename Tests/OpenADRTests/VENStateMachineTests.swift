import FlexSupport
import Foundation
import OpenADR
import OpenADRSignals
import Testing

/// The OpenADR 3 VEN's state machine, fed tables of events; no VTN, no sockets, no sleeps. Times are
/// given with each event, so "to the second" is exact.
@Suite struct VENStateMachineTests {
    typealias Action = VENStateMachine.Action

    // 2026-12-01T12:00:00Z
    static let noon = Date(timeIntervalSince1970: 1_796_126_400)
    static let mono0 = ContinuousClock.now

    func machine(
        program: String? = "p1", ven: String? = "rig", callback: Bool = true,
        _ configure: (inout OpenADRSource.Configuration) -> Void = { _ in }
    ) -> VENStateMachine {
        var c = OpenADRSource.Configuration(baseURL: "http://vtn.example/openadr3/3.0.1")
        c.program = program
        c.venName = ven
        c.callback = callback ? HostPort(host: "127.0.0.1", port: 0) : nil
        c.statePath = "/var/lib/flexminer/openadr.json"
        c.powerWatts = 3600
        configure(&c)
        return VENStateMachine(configuration: c)
    }

    /// Takes the event `seconds` after noon (both clocks advance together) and describes the actions.
    func take(_ m: inout VENStateMachine, _ e: VENStateMachine.Event, at seconds: Double = 0) -> [String] {
        m.event(e, now: Self.noon + seconds, mono: Self.mono0 + .milliseconds(Int64(seconds * 1000)))
            .map(describe)
    }

    func describe(_ a: Action) -> String {
        switch a {
        case .readProgram(let p): "read program \(p)"
        case .registerVEN(let v): "register \(v)"
        case .subscribe(let url, let program, let old):
            "subscribe \(url) program \(program ?? "-") replacing \(old ?? "-")"
        case .readEvents(let program): "read events \(program ?? "-")"
        case .heartbeat: "heartbeat"
        case .send(let line, _): describe(line: line)
        case .reconcile: "reconcile"
        case .save: "save"
        case .note(let t): "note: \(t)"
        case .noteOnce(let t): "note once: \(t)"
        case .alert(let t): "alert: \(t)"
        case .wait(let d): "wait \(milliseconds(d)) ms"
        case .wakeNetwork: "wake network"
        case .wakeReports: "wake reports"
        case .retryReports(let d): "retry reports after \(milliseconds(d)) ms"
        case .endNetwork: "end network"
        case .unsubscribe(let id): "unsubscribe \(id)"
        }
    }

    /// A controller line by its fields, in a fixed order.
    func describe(line: String) -> String {
        guard let o = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else {
            return "bad line \(line)"
        }
        let keys = ["type", "id", "level", "until", "usd_per_mwh", "interval_start", "interval_minutes"]
        return keys.compactMap { k in o[k].map { "\(k)=\($0)" } }.joined(separator: " ")
    }

    func milliseconds(_ d: Duration) -> Int64 {
        d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000
    }

    /// An event of one interval: `start` seconds after noon, `minutes` long, SIMPLE `level`.
    func event(_ id: String, start: Double, minutes: Int = 15, simple level: Int = 3) throws -> OpenADR.Event {
        let json = """
            {"id":"\(id)","programID":"P1","intervalPeriod":{"start":"\(ISO8601.format(Self.noon + start))",
             "duration":"PT\(minutes)M"},"intervals":[{"id":0,"payloads":[{"type":"SIMPLE","values":[\(level)]}]}]}
            """
        return try OpenADR.Event(fields: JSONFields(json: Data(json.utf8)))
    }

    /// Enrolled and subscribed (webhook mode), with `events` read at `at`.
    func enrolled(_ m: inout VENStateMachine, events: [OpenADR.Event] = [], at seconds: Double = -600) {
        for e: VENStateMachine.Event in [
            .started(callbackPort: 8080), .programFound(Program(id: "P1", name: "p1")), .registered(venID: "V1"),
            .subscribed(id: "S1"), .eventsRead(events),
        ] { _ = take(&m, e, at: seconds) }
    }

    @Test func enrolmentReadsTheProgramRegistersSubscribesThenReads() {
        var m = machine()
        let url = "http://127.0.0.1:8080/openadr/callback"
        let table: [(VENStateMachine.Event, [String])] = [
            (
                .started(callbackPort: 8080),
                ["note once: openadr3: mode poll, reading events every 2 s", "read program p1"]
            ),
            (.programFound(Program(id: "P1", name: "p1")), ["note: openadr3: program p1 (P1)", "register rig"]),
            (.registered(venID: "V1"), ["note: openadr3: VEN rig (V1)", "subscribe \(url) program P1 replacing -"]),
            (
                .subscribed(id: "S1"),
                [
                    "save", "note: openadr3: subscribed to EVENT changes (S1), callback \(url)",
                    "note once: openadr3: mode webhook, reading events every 15 s", "read events P1",
                ]
            ),
            (.eventsRead([]), ["heartbeat", "reconcile", "wait 15000 ms"]),
            (.notification, ["wake network"]),
            (.woke, ["read events P1"]),
        ]
        for (event, expected) in table { #expect(take(&m, event) == expected, "\(event)") }
        #expect(m.health.state == "enrolled")
        #expect(m.health.subscribed && m.health.currentPollSeconds == 15)
        #expect(m.stored.programID == "P1" && m.stored.venID == "V1" && m.stored.subscriptionID == "S1")
        #expect(m.counters.polls == 1 && m.counters.notifications == 1)
    }

    /// The client adopts a VEN record that already exists under our name (a 409 on POST /vens with the
    /// same name): the machine just goes on with its id. A 409 the client cannot adopt (the name held by
    /// another VEN) is a setting only the operator can change: the VEN stops asking.
    @Test func registrationConflictAdoptedOrStopped() {
        var adopted = machine(callback: false)
        _ = take(&adopted, .started(callbackPort: nil))
        _ = take(&adopted, .programFound(Program(id: "P1", name: "p1")))
        #expect(
            take(&adopted, .registered(venID: "existing")) == ["note: openadr3: VEN rig (existing)", "read events P1"])

        var refused = machine(callback: false)
        _ = take(&refused, .started(callbackPort: nil))
        _ = take(&refused, .programFound(Program(id: "P1", name: "p1")))
        let error = OpenADRError(.configuration, "POST /vens: HTTP 409: the VTN refused VEN rig", status: 409)
        #expect(
            take(&refused, .failed(error)) == [
                "alert: openadr3: POST /vens: HTTP 409: the VTN refused VEN rig; stopped (restart with the change)",
                "end network",
            ])
        #expect(refused.health.state == "stopped")
        #expect(take(&refused, .woke) == [])
    }

    /// A 4xx is a conformance error: an alert with its category, and the longest wait at once, every time
    /// (no fast retry loop against a VTN that will refuse again).
    @Test func conformanceErrorWaitsTheLongest() {
        var m = machine(callback: false)
        _ = take(&m, .started(callbackPort: nil))
        let error = OpenADRError(.http, "GET /programs: HTTP 400", status: 400)
        for i in 0..<3 {
            #expect(
                take(&m, .failed(error), at: Double(i) * 30) == [
                    "alert: openadr3: GET /programs: HTTP 400; retrying in 30 s [conformance]", "wait 30000 ms",
                ])
            #expect(take(&m, .woke, at: Double(i) * 30 + 30) == ["read program p1"])
        }
        #expect(m.health.error == error && m.health.errorSince == Self.noon)
        #expect(m.health.state == "enrolling" && m.counters.pollFailures == 3)
    }

    /// A VTN that is gone: notes (not alerts), waits doubling up to the longest; a good read clears the
    /// error and the next failure waits the shortest again.
    @Test func vtnGoneBacksOff() throws {
        var m = machine(callback: false)
        enrolled(&m)
        let gone = OpenADRError(.connection, "GET /events: connection refused")
        var waits: [String] = []
        for i in 0..<7 { waits += take(&m, .failed(gone), at: Double(i)).filter { $0.hasPrefix("wait") } }
        #expect(
            waits == [
                "wait 1000 ms", "wait 2000 ms", "wait 4000 ms", "wait 8000 ms", "wait 16000 ms", "wait 30000 ms",
                "wait 30000 ms",
            ])
        #expect(
            take(&m, .failed(gone), at: 7).first == "note: openadr3: GET /events: connection refused; retrying in 30 s")
        #expect(m.health.error?.category == "transient" && m.health.errorSince == Self.noon)
        _ = take(&m, .eventsRead([]), at: 60)
        #expect(m.health.error == nil && m.health.errorSince == nil)
        #expect(take(&m, .failed(gone), at: 61).last == "wait 1000 ms")
    }

    /// Without a callback, or when the VTN refuses the subscription: poll mode, every 2 s; a refused
    /// subscription is asked again after 5 minutes, a transient failure on the next read.
    @Test func pollModeAndTheSubscriptionRetry() {
        var m = machine(program: nil, ven: nil)
        #expect(
            take(&m, .started(callbackPort: 8080)) == [
                "note once: openadr3: mode poll, reading events every 2 s",
                "subscribe http://127.0.0.1:8080/openadr/callback program - replacing -",
            ])
        let refused = OpenADRError(.http, "POST /subscriptions: HTTP 403", status: 403)
        #expect(
            take(&m, .subscriptionFailed(refused)) == [
                "alert: openadr3: no subscription (POST /subscriptions: HTTP 403); polling every 2 s [conformance]",
                "note once: openadr3: mode poll, reading events every 2 s", "read events -",
            ])
        #expect(take(&m, .eventsRead([]), at: 1) == ["heartbeat", "reconcile", "wait 2000 ms"])
        #expect(take(&m, .woke, at: 299) == ["read events -"])
        _ = take(&m, .eventsRead([]), at: 299)
        #expect(take(&m, .woke, at: 300).first?.hasPrefix("subscribe") == true)
        _ = take(&m, .subscriptionFailed(OpenADRError(.connection, "POST /subscriptions: timed out")), at: 300)
        #expect(take(&m, .woke, at: 301).first?.hasPrefix("subscribe") == true)
        #expect(!m.health.subscribed && m.health.currentPollSeconds == 2)
        #expect(m.health.subscriptionError?.message == "POST /subscriptions: timed out")

        var quiet = machine(program: nil, ven: nil, callback: false)
        #expect(take(&quiet, .started(callbackPort: nil)).last == "read events -")
    }

    /// The read before an interval's start is cut short to about a second ahead of it (webhook mode reads
    /// every 15 s otherwise).
    @Test func readJustBeforeAnIntervalStarts() throws {
        var m = machine()
        enrolled(&m, events: [try event("e1", start: 10)], at: 0)
        #expect(take(&m, .eventsRead([try event("e1", start: 10)]), at: 0).last == "wait 9000 ms")
        #expect(take(&m, .eventsRead([try event("e1", start: 100)]), at: 0).last == "wait 15000 ms")
    }

    /// The curtail goes out at the interval's start to the second, with `until` its end; it ends by
    /// itself, and the interval is reported with the model's usage over the active time.
    @Test func intervalScheduledToTheSecond() throws {
        var m = machine()
        let start = 3600.0
        enrolled(&m, events: [try event("e1", start: start)], at: 0)
        let curtail = "type=curtail id=openadr:e1:0 level=1 until=2026-12-01T13:15:00.000Z"
        let table: [(Double, Double, [String])] = [
            (start - 1, 1, []), (start, 1, [curtail]), (start + 1, 1, []), (start + 450, 1, []),
            (start + 900, 0, ["save", "wake reports"]), (start + 901, 1, []),
        ]
        for (at, drawing, expected) in table {
            #expect(take(&m, .tick(drawing: drawing, energy: nil), at: at) == expected, "at \(at)")
        }
        #expect(m.counters.curtailsSent == 1 && m.applied.isEmpty)
        let report = try #require(m.nextReport)
        #expect(report.eventID == "e1" && report.intervalID == 0 && report.durationSeconds == 900)
        // Drawing the whole capacity for the first 450 s (sampled at +1 s and +450 s), nothing after: 3600 W × 450 s.
        #expect(abs((report.usageKWh ?? 0) - 0.45) < 1e-9)
        #expect(m.stored.reported == ["openadr:e1:0"])
    }

    /// An event deleted or changed under an interval in effect: released at once, a changed one sent again.
    @Test func cancellationAndModification() throws {
        var m = machine()
        enrolled(&m, events: [try event("e1", start: 0)], at: -60)
        #expect(take(&m, .tick(drawing: 1, energy: nil), at: 0).count == 1)
        #expect(take(&m, .eventsRead([try event("e1", start: 0, simple: 1)]), at: 60).contains("save"))
        #expect(
            take(&m, .tick(drawing: 1, energy: nil), at: 60) == [
                "type=release id=openadr:e1:0",
                "type=curtail id=openadr:e1:0 level=0.5 until=2026-12-01T12:15:00.000Z",
            ])
        _ = take(&m, .eventsRead([]), at: 120)
        #expect(take(&m, .tick(drawing: 1, energy: nil), at: 120) == ["type=release id=openadr:e1:0"])
        #expect(m.counters.releasesSent == 2 && m.plan.isEmpty)
    }

    /// After a restart the saved events still run (the VTN may be away), and the stale subscription is
    /// replaced; at shutdown the subscription is removed.
    @Test func restartFromTheStateFile() throws {
        var saved = OpenADRState()
        saved.programID = "P1"
        saved.subscriptionID = "S-old"
        saved.events = [try event("e1", start: 0)]
        var m = machine()
        #expect(
            take(&m, .restored(saved), at: 300) == [
                "note: openadr3: restored 1 event(s) from /var/lib/flexminer/openadr.json", "reconcile",
            ])
        #expect(
            take(&m, .tick(drawing: 1, energy: nil), at: 300) == [
                "type=curtail id=openadr:e1:0 level=1 until=2026-12-01T12:15:00.000Z"
            ])
        _ = take(&m, .started(callbackPort: 8080), at: 300)
        _ = take(&m, .programFound(Program(id: "P1", name: "p1")), at: 300)
        #expect(
            take(&m, .registered(venID: "V1"), at: 300).last
                == "subscribe http://127.0.0.1:8080/openadr/callback program P1 replacing S-old")
        _ = take(&m, .subscribed(id: "S2"), at: 300)
        #expect(take(&m, .stop, at: 400) == ["unsubscribe S2"])
        #expect(take(&m, .unsubscribed(id: "S2"), at: 400) == ["note: openadr3: subscription S2 removed"])
        #expect(m.stored.subscriptionID == nil)
    }

    /// A refused report is dropped (it would be refused again); a VTN away keeps it and backs off.
    @Test func reportsRefusedOrRetried() throws {
        var m = machine()
        enrolled(&m, events: [try event("e1", start: 0, minutes: 1), try event("e2", start: 0, minutes: 2)], at: -1)
        _ = take(&m, .tick(drawing: 1, energy: nil), at: 0)
        _ = take(&m, .tick(drawing: 1, energy: nil), at: 120)
        #expect(m.pendingReports.map(\.eventID) == ["e1", "e2"])
        let first = try #require(m.nextReport)
        let away = OpenADRError(.connection, "POST /reports: connection refused")
        #expect(
            take(&m, .reportFailed(first, away), at: 121) == [
                "note: openadr3: report for event e1 interval 0: POST /reports: connection refused",
                "retry reports after 1000 ms",
            ])
        #expect(take(&m, .reportFailed(first, away), at: 122).last == "retry reports after 2000 ms")
        let refused = OpenADRError(.http, "POST /reports: HTTP 400", status: 400)
        #expect(take(&m, .reportFailed(first, refused), at: 124).first?.hasPrefix("alert:") == true)
        #expect(m.nextReport?.eventID == "e2")
        #expect(take(&m, .reportSent(try #require(m.nextReport)), at: 125) == [])
        #expect(m.nextReport == nil && m.counters.reportsSent == 1 && m.health.reportError == nil)
    }

    /// A PRICE interval: its price goes out once, at its start; a USAGE report uses the measured energy
    /// counter when it was read at both ends of a curtailed interval.
    @Test func priceOnceAndMeasuredUsage() throws {
        let json = """
            {"id":"p1","programID":"P1","intervalPeriod":{"start":"2026-12-01T12:00:00Z","duration":"PT1H"},
             "payloadDescriptors":[{"payloadType":"PRICE","units":"KWH","currency":"USD"}],
             "intervals":[{"id":0,"payloads":[{"type":"PRICE","values":[0.25]}]}]}
            """
        let price = try OpenADR.Event(fields: JSONFields(json: Data(json.utf8)))
        var m = machine()
        enrolled(&m, events: [price, try event("e1", start: 0, minutes: 1)], at: -5)
        let first = take(&m, .tick(drawing: 1, energy: 1_000_000), at: 0)
        #expect(
            first.contains("type=price usd_per_mwh=250 interval_start=2026-12-01T12:00:00.000Z interval_minutes=60"))
        #expect(first.contains { $0.hasPrefix("type=curtail id=openadr:e1:0") })
        #expect(take(&m, .tick(drawing: 1, energy: 1_000_000), at: 1) == [])
        #expect(take(&m, .tick(drawing: 0, energy: 1_360_000), at: 60) == ["save", "wake reports"])
        // 360 kJ measured: 0.1 kWh (the model would say 3600 W × 60 s = 0.06 kWh).
        #expect(abs((m.nextReport?.usageKWh ?? 0) - 0.1) < 1e-9)
        #expect(m.counters.pricesSent == 1 && m.counters.curtailsSent == 1)
    }
}
