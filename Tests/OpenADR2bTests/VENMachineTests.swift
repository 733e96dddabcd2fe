import FakeVTN2b
import FlexSupport
import Foundation
import OpenADR2b
import Testing

/// The VEN state machine, driven by tables of inputs: no sockets, no clock.
@Suite("OpenADR 2.0b VEN state machine")
struct VENMachineTests {
    static let t0 = ISO8601.parse("2030-01-01T11:59:00Z")!
    static let eventStart = ISO8601.parse("2030-01-01T12:00:00Z")!

    static func machine(vtnID: String? = nil, marketContext: String? = nil, poll: Double = 10) -> VENMachine {
        VENMachine(
            .init(
                venName: "host-1", vtnID: vtnID, marketContext: marketContext, pollLimitSeconds: poll,
                planner: EventPlanner(simpleLevels: [0: 0, 1: 0.5, 2: 1, 3: 1]), retryInitial: 1, retryMax: 8))
    }

    /// The sends among `actions`: service and message name.
    static func sends(_ actions: [VENMachine.Action]) -> [String] {
        actions.compactMap {
            guard case .send(let service, let body) = $0 else { return nil }
            let m = try? XMLReader.parse(body).child(OADRNamespace.oadr, "oadrSignedObject")?.children.first?.name
            return "\(service.rawValue) \(m ?? "?")"
        }
    }

    static func body(_ actions: [VENMachine.Action]) -> ReadElement? {
        for case .send(_, let body) in actions {
            return try? XMLReader.parse(body).child(OADRNamespace.oadr, "oadrSignedObject")?.children.first
        }
        return nil
    }

    static func schedule(_ actions: [VENMachine.Action]) -> [String]? {
        for case .schedule(let s) in actions { return s.map(\.id) }
        return nil
    }

    static func wake(_ actions: [VENMachine.Action]) -> Date? {
        for case .wake(let at) in actions { return at }
        return nil
    }

    static func reply(_ m: inout VENMachine, _ xml: String, at t: Date = t0) -> [VENMachine.Action] {
        m.event(.reply(Array(xml.utf8), now: t))
    }

    /// A machine registered as V1/R1, its first event request answered with no events.
    static func registered(poll: Double = 10, marketContext: String? = nil) -> VENMachine {
        var m = machine(marketContext: marketContext, poll: poll)
        _ = m.event(.start(now: t0, restoring: nil))
        _ = reply(&m, VTNXML.createdPartyRegistration(poll: "PT10S"))
        _ = reply(&m, VTNXML.createdPartyRegistration(venID: "V1", registrationID: "R1", poll: "PT10S"))
        _ = reply(&m, VTNXML.registeredReport([]))
        _ = reply(&m, VTNXML.distribute([]))
        return m
    }

    @Test("registration: query, register, register reports (answering requests inside), request events, opt in")
    func registration() throws {
        var m = Self.machine()
        #expect(Self.sends(m.event(.start(now: Self.t0, restoring: nil))) == ["EiRegisterParty oadrQueryRegistration"])
        var a = Self.reply(&m, VTNXML.createdPartyRegistration(poll: "PT5S"))
        #expect(Self.sends(a) == ["EiRegisterParty oadrCreatePartyRegistration"])
        a = Self.reply(&m, VTNXML.createdPartyRegistration(venID: "V1", registrationID: "R1", poll: "PT5S"))
        #expect(Self.sends(a) == ["EiReport oadrRegisterReport"])
        #expect(a.contains { if case .save(let s) = $0 { s.venID == "V1" && s.registrationID == "R1" } else { false } })
        #expect(m.status.registered && m.status.venID == "V1" && m.status.vtnID == "VTN-1")
        // The VTN's report requests inside oadrRegisteredReport are honoured.
        let rr = VTNXML.reportRequest(id: "RR1", specifier: OADRReport.usageSpecifierID, rID: OADRReport.powerRID)
        a = Self.reply(&m, VTNXML.registeredReport([rr]))
        #expect(Self.sends(a) == ["EiReport oadrCreatedReport"])
        a = Self.reply(&m, VTNXML.response())
        #expect(Self.sends(a) == ["EiEvent oadrRequestEvent"])
        // eventStatus stuck at `far`, request id a literal "None": scheduled, and opted in with it.
        a = Self.reply(&m, VTNXML.distribute([VTNXML.event(status: "far")], requestID: "None"))
        #expect(Self.schedule(a) == ["openadr2b:E1:0"])
        #expect(Self.sends(a) == ["EiEvent oadrCreatedEvent"])
        let response = Self.body(a)?.descendant([
            (OADRNamespace.pyld, "eiCreatedEvent"), (OADRNamespace.ei, "eventResponses"),
            (OADRNamespace.ei, "eventResponse"),
        ])
        #expect(response?.child(OADRNamespace.pyld, "requestID")?.text == "None")
        #expect(response?.child(OADRNamespace.ei, "optType")?.text == "optIn")
        a = Self.reply(&m, VTNXML.response())
        #expect(m.status.optedIn == ["E1": 0])
        // Polling at the VTN's 5 s (below --openadr-poll's 10 s).
        #expect(Self.wake(a) == Self.t0.addingTimeInterval(5))
        #expect(Self.sends(m.event(.tick(now: Self.t0.addingTimeInterval(5), reading: nil))) == ["OadrPoll oadrPoll"])
    }

    @Test("polls: new modification answered again, unchanged not; a vanished event is cancelled")
    func polls() {
        var m = Self.registered()
        let t1 = Self.t0.addingTimeInterval(10)
        #expect(Self.sends(m.event(.tick(now: t1, reading: nil))) == ["OadrPoll oadrPoll"])
        var a = Self.reply(&m, VTNXML.distribute([VTNXML.event()]), at: t1)
        #expect(Self.sends(a) == ["EiEvent oadrCreatedEvent"])
        _ = Self.reply(&m, VTNXML.response(), at: t1)
        let t2 = t1.addingTimeInterval(10)
        _ = m.event(.tick(now: t2, reading: nil))
        a = Self.reply(&m, VTNXML.distribute([VTNXML.event()]), at: t2)
        #expect(Self.sends(a).isEmpty, "the same modification is not answered twice")
        #expect(Self.wake(a) == t2.addingTimeInterval(10))
        let t3 = t2.addingTimeInterval(10)
        _ = m.event(.tick(now: t3, reading: nil))
        a = Self.reply(
            &m, VTNXML.distribute([VTNXML.event(modification: 1, signals: [.init(intervals: [("PT5M", "1")])])]), at: t3
        )
        #expect(Self.sends(a) == ["EiEvent oadrCreatedEvent"])
        _ = Self.reply(&m, VTNXML.response(), at: t3)
        #expect(m.status.optedIn == ["E1": 1])
        let t4 = t3.addingTimeInterval(10)
        _ = m.event(.tick(now: t4, reading: nil))
        a = Self.reply(&m, VTNXML.distribute([]), at: t4)
        #expect(Self.schedule(a) == [])
        #expect(m.status.eventsKnown == 0)
    }

    @Test("--openadr-poll bounds the VTN's poll frequency")
    func pollBound() {
        var m = Self.machine(poll: 10)
        _ = m.event(.start(now: Self.t0, restoring: nil))
        _ = Self.reply(&m, VTNXML.createdPartyRegistration(poll: "PT1H"))
        _ = Self.reply(&m, VTNXML.createdPartyRegistration(venID: "V1", registrationID: "R1", poll: "PT1H"))
        _ = Self.reply(&m, VTNXML.registeredReport([]))
        let a = Self.reply(&m, VTNXML.distribute([]))
        #expect(Self.wake(a) == Self.t0.addingTimeInterval(10))
    }

    @Test("the VTN gone: backoff (1, 2, 4 s), the schedule kept, events asked for again once it is back")
    func vtnGone() {
        var m = Self.registered()
        let t1 = Self.t0.addingTimeInterval(10)
        _ = m.event(.tick(now: t1, reading: nil))
        _ = Self.reply(&m, VTNXML.distribute([VTNXML.event()]), at: t1)
        _ = Self.reply(&m, VTNXML.response(), at: t1)
        let t2 = Self.eventStart.addingTimeInterval(1)  // mid-event
        _ = m.event(.tick(now: t2, reading: nil))
        var a = m.event(.failed("connection refused", now: t2))
        #expect(Self.schedule(a) == nil, "the schedule is kept")
        #expect(Self.wake(a) == t2.addingTimeInterval(1))
        #expect(m.event(.tick(now: t2.addingTimeInterval(1), reading: nil)).count == 1)  // the retry is sent
        a = m.event(.failed("connection refused", now: t2.addingTimeInterval(1)))
        #expect(Self.wake(a) == t2.addingTimeInterval(3))
        a = m.event(.tick(now: t2.addingTimeInterval(3), reading: nil))
        #expect(Self.sends(a) == ["EiEvent oadrRequestEvent"])
        a = Self.reply(&m, VTNXML.distribute([VTNXML.event()]), at: t2.addingTimeInterval(3))
        #expect(Self.schedule(a) == ["openadr2b:E1:0"])
        #expect(m.status.failures == 2)
    }

    @Test("--openadr-market-context: another program's events are opted out of and not followed")
    func marketContext() {
        var m = Self.registered(marketContext: "http://my-program")
        let t1 = Self.t0.addingTimeInterval(10)
        _ = m.event(.tick(now: t1, reading: nil))
        var a = Self.reply(&m, VTNXML.distribute([VTNXML.event()]), at: t1)  // market context http://mc
        #expect(Self.schedule(a) == [])
        let r = Self.body(a)?.descendant([
            (OADRNamespace.pyld, "eiCreatedEvent"), (OADRNamespace.ei, "eventResponses"),
            (OADRNamespace.ei, "eventResponse"),
        ])
        #expect(r?.child(OADRNamespace.ei, "optType")?.text == "optOut")
        a = Self.reply(&m, VTNXML.response(), at: t1)
        #expect(m.status.optedIn.isEmpty)
        var follows = Self.registered(marketContext: "http://mc")
        _ = follows.event(.tick(now: t1, reading: nil))
        a = Self.reply(&follows, VTNXML.distribute([VTNXML.event()]), at: t1)
        #expect(Self.schedule(a) == ["openadr2b:E1:0"])
    }

    @Test("a 4xx refusal is an error naming the request, retried at the longest backoff")
    func refused() {
        var m = Self.registered()
        let t1 = Self.t0.addingTimeInterval(10)
        _ = m.event(.tick(now: t1, reading: nil))
        let a = m.event(.failed("HTTP 415 from OadrPoll", now: t1, refused: true))
        #expect(
            a.contains {
                if case .log(.error, let t) = $0 { t.contains("oadrPoll") && t.contains("415") } else { false }
            })
        #expect(Self.wake(a) == t1.addingTimeInterval(8))
    }

    @Test("hostile or malformed replies: an error naming the problem, a retry, no trap")
    func hostileReply() {
        var m = Self.registered()
        let t1 = Self.t0.addingTimeInterval(10)
        _ = m.event(.tick(now: t1, reading: nil))
        let laughs = #"<!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><l>&b;</l>"#
        let a = Self.reply(&m, laughs, at: t1)
        #expect(a.contains { if case .log(.error, let t) = $0 { t.contains("DOCTYPE") } else { false } })
        #expect(Self.wake(a) == t1.addingTimeInterval(1))
        #expect(m.status.lastError?.contains("oadrPoll") == true)
    }

    @Test("re-registration asked by the VTN: acknowledged, then registered again with the same ids")
    func reregistration() {
        var m = Self.registered()
        let t1 = Self.t0.addingTimeInterval(10)
        _ = m.event(.tick(now: t1, reading: nil))
        var a = Self.reply(&m, VTNXML.requestReregistration, at: t1)
        #expect(Self.sends(a) == ["EiRegisterParty oadrResponse"])
        a = Self.reply(&m, VTNXML.response(), at: t1)
        #expect(Self.sends(a) == ["EiRegisterParty oadrCreatePartyRegistration"])
        #expect(Self.body(a)?.child(OADRNamespace.ei, "venID")?.text == "V1")
        #expect(Self.body(a)?.child(OADRNamespace.ei, "registrationID")?.text == "R1")
    }

    @Test("the VTN cancels the registration: answered, events and state file dropped, registering again later")
    func cancelled() {
        var m = Self.registered()
        let t1 = Self.t0.addingTimeInterval(10)
        _ = m.event(.tick(now: t1, reading: nil))
        _ = Self.reply(&m, VTNXML.distribute([VTNXML.event()]), at: t1)
        _ = Self.reply(&m, VTNXML.response(), at: t1)
        _ = m.event(.tick(now: t1.addingTimeInterval(10), reading: nil))
        var a = Self.reply(&m, VTNXML.cancelPartyRegistration(registrationID: "R1"), at: t1.addingTimeInterval(10))
        #expect(Self.sends(a) == ["EiRegisterParty oadrCanceledPartyRegistration"])
        #expect(Self.schedule(a) == [])
        #expect(a.contains(.forget))
        #expect(!m.status.registered)
        a = Self.reply(&m, VTNXML.response(), at: t1.addingTimeInterval(10))
        #expect(Self.wake(a) == t1.addingTimeInterval(18))
        a = m.event(.tick(now: t1.addingTimeInterval(18), reading: nil))
        #expect(Self.sends(a) == ["EiRegisterParty oadrQueryRegistration"])
    }

    @Test("a restart resumes the registration and schedule from the state file, then asks for events")
    func restart() {
        let event = try! ParsingTests().distribution(VTNXML.distribute([VTNXML.event()])).events[0]
        let snapshot = VENMachine.Snapshot(
            venID: "V1", registrationID: "R1", vtnID: "VTN-1", pollSeconds: 10, events: [event],
            responded: ["E1": 0], reportRequests: [])
        var m = Self.machine()
        let a = m.event(.start(now: Self.eventStart.addingTimeInterval(30), restoring: snapshot))
        #expect(Self.schedule(a) == ["openadr2b:E1:0"])
        #expect(Self.sends(a) == ["EiEvent oadrRequestEvent"])
    }

    @Test("a pinned VTN id: another VTN is refused with an error naming the setting")
    func pinnedVTN() {
        var m = Self.machine(vtnID: "VTN-2")
        _ = m.event(.start(now: Self.t0, restoring: nil))
        let a = Self.reply(&m, VTNXML.createdPartyRegistration())
        #expect(Self.sends(a).isEmpty)
        #expect(a.contains { if case .log(.error, let t) = $0 { t.contains("--openadr-vtn-id") } else { false } })
    }

    @Test("reports: oadrUpdateReport at the requested interval with the reading, labelled measured or modelled")
    func reports() {
        var m = Self.registered()
        let t1 = Self.t0.addingTimeInterval(10)
        _ = m.event(.tick(now: t1, reading: nil))
        let rr = VTNXML.reportRequest(id: "RR1", specifier: OADRReport.usageSpecifierID, rID: OADRReport.powerRID)
        var a = Self.reply(&m, VTNXML.createReport([rr]), at: t1)
        #expect(Self.sends(a) == ["EiReport oadrCreatedReport"])
        _ = Self.reply(&m, VTNXML.response(), at: t1)
        let t2 = t1.addingTimeInterval(10)
        a = m.event(.tick(now: t2, reading: .init(watts: 1234, measured: false, online: true)))
        #expect(Self.sends(a) == ["EiReport oadrUpdateReport"])
        let payload = Self.body(a)?.descendant([
            (OADRNamespace.oadr, "oadrReport"), (OADRNamespace.strm, "intervals"), (OADRNamespace.ei, "interval"),
            (OADRNamespace.oadr, "oadrReportPayload"),
        ])
        #expect(payload?.descendant([(OADRNamespace.ei, "payloadFloat"), (OADRNamespace.ei, "value")])?.text == "1234")
        #expect(payload?.child(OADRNamespace.oadr, "oadrDataQuality")?.text == "Quality Uncertain - Non Specific")
        #expect(m.status.reportsSent == 1)
    }
}
