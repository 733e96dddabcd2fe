import FakeVTN2b
import FlexSupport
import Foundation
import OpenADR2b
import Testing

@Suite("OpenADR 2.0b VTN messages and the event planner")
struct ParsingTests {
    static let start = ISO8601.parse("2030-01-01T12:00:00Z")!
    static let planner = EventPlanner(simpleLevels: [0: 0, 1: 0.5, 2: 1, 3: 1], powerWatts: 2000)

    func distribution(_ xml: String) throws -> Distribution {
        guard case .distributeEvent(let d) = try VTNMessage.parse(Array(xml.utf8)) else {
            Issue.record("not a distribution")
            throw OpenADR2bError(.malformed, "x")
        }
        return d
    }

    @Test("oadrCreatedPartyRegistration: ids, VTN id, poll frequency, profiles")
    func registration() throws {
        let m = try VTNMessage.parse(
            Array(VTNXML.createdPartyRegistration(venID: "V1", registrationID: "R1", poll: "PT30S").utf8))
        guard case .createdPartyRegistration(let r) = m else { return #expect(Bool(false)) }
        #expect(r.venID == "V1" && r.registrationID == "R1" && r.vtnID == "VTN-1")
        #expect(r.pollSeconds == 30)
        #expect(r.profiles == ["2.0b"])
        #expect(r.response.ok)
    }

    @Test("an event: active period, intervals with their own durations, the request id as sent")
    func event() throws {
        let d = try distribution(
            VTNXML.distribute([
                VTNXML.event(
                    modification: 2, startAfter: "PT2M",
                    signals: [.init(intervals: [("PT5M", "1"), ("PT10M", "3"), ("PT5M", "0")])])
            ]))
        #expect(d.requestID == "None")
        let e = try #require(d.events.first)
        #expect(e.eventID == "E1" && e.modificationNumber == 2 && e.status == "far" && !e.testEvent)
        #expect(e.start == Self.start && e.durationSeconds == 600 && e.startAfterSeconds == 120)
        #expect(e.rampUpSeconds == 60 && e.recoverySeconds == nil)
        #expect(e.signals.first?.intervals.map(\.durationSeconds) == [300, 600, 300])
        #expect(e.responseRequired)
    }

    @Test(
        "bad fields get an error naming the field, never a trap",
        arguments: [
            (VTNXML.event(duration: "-PT10M"), "duration: \"-PT10M\" is negative"),
            (VTNXML.event(duration: "PT99999999999999999999H"), "duration"),
            (VTNXML.event(duration: "P1e308Y"), "duration"),
            (VTNXML.event(duration: "soon"), "is not an ISO 8601 duration"),
            (
                VTNXML.event(start: "2030-13-45T99:00:00Z"),
                "dtstart: \"2030-13-45T99:00:00Z\" is not an ISO 8601 date-time"
            ),
            (VTNXML.event(start: ""), "dtstart: \"\" is not an ISO 8601 date-time"),
            (VTNXML.event(modification: -1), "modificationNumber"),
            (VTNXML.event(signals: [.init(intervals: [("PT1M", "NaN")])]), "signalPayload"),
            (VTNXML.event(signals: [.init(intervals: [("PT1M", "1e999")])]), "signalPayload"),
            (VTNXML.event(signals: [.init(intervals: [("-PT1M", "1")])]), "interval[0].duration"),
            (VTNXML.event(id: ""), "eventID: empty"),
        ])
    func badFields(_ event: String, _ expected: String) {
        #expect {
            _ = try VTNMessage.parse(Array(VTNXML.distribute([event]).utf8))
        } throws: { error in
            guard let e = error as? OpenADR2bError, e.kind == .malformed else { return false }
            return e.message.contains(expected) && e.message.contains("oadrDistributeEvent.oadrEvent[0]")
        }
    }

    @Test("the right names in the wrong namespace are not OpenADR")
    func wrongNamespace() {
        let xml = VTNXML.distribute([VTNXML.event()]).replacingOccurrences(
            of: "http://openadr.org/oadr-2.0b/2012/07", with: "http://openadr.org/oadr-2.0a/2012/07")
        #expect(throws: OpenADR2bError.self) { try VTNMessage.parse(Array(xml.utf8)) }
        let eiWrong = VTNXML.distribute([VTNXML.event()]).replacingOccurrences(
            of: "http://docs.oasis-open.org/ns/energyinterop/201110\"", with: "urn:other\"")
        #expect(throws: OpenADR2bError.self) { try VTNMessage.parse(Array(eiWrong.utf8)) }
    }

    @Test("report requests inside oadrRegisteredReport and oadrCreateReport")
    func reportRequests() throws {
        let rr = VTNXML.reportRequest(id: "RR1", specifier: OADRReport.usageSpecifierID, rID: OADRReport.powerRID)
        guard
            case .registeredReport(let r, let requests) = try VTNMessage.parse(
                Array(VTNXML.registeredReport([rr]).utf8))
        else { return #expect(Bool(false)) }
        #expect(r.ok)
        #expect(
            requests == [
                .init(
                    reportRequestID: "RR1", specifierID: OADRReport.usageSpecifierID, granularitySeconds: 10,
                    reportBackSeconds: 10, rIDs: [OADRReport.powerRID])
            ])
        guard case .createReport(let id, let more) = try VTNMessage.parse(Array(VTNXML.createReport([rr]).utf8)) else {
            return #expect(Bool(false))
        }
        #expect(id == "cr1" && more == requests)
    }

    @Test("eventStatus is never trusted: a `far` event whose time has come is scheduled; `cancelled` is not")
    func statusIgnored() throws {
        let now = Self.start.addingTimeInterval(60)
        let far = try distribution(VTNXML.distribute([VTNXML.event(status: "far")])).events[0]
        let (intervals, _) = Self.planner.plan(far, now: now)
        #expect(intervals.map(\.id) == ["openadr2b:E1:0"])
        #expect(intervals.first?.start == Self.start && intervals.first?.end == Self.start.addingTimeInterval(600))
        #expect(intervals.first?.action == .curtail(level: 1))
        let cancelled = try distribution(VTNXML.distribute([VTNXML.event(status: "cancelled")])).events[0]
        #expect(Self.planner.plan(cancelled, now: now).intervals.isEmpty)
        // Over: nothing left to schedule, whatever the status says.
        #expect(Self.planner.plan(far, now: Self.start.addingTimeInterval(601)).intervals.isEmpty)
    }

    @Test("signals: SIMPLE through the level map, price, LOAD_CONTROL, LOAD_DISPATCH; intervals clipped to the event")
    func signals() throws {
        let usdPerKWh =
            "<oadr:currencyPerKWh xmlns:oadr=\"http://openadr.org/oadr-2.0b/2012/07\"><oadr:itemDescription>"
            + "currencyPerKWh</oadr:itemDescription><oadr:itemUnits>USD</oadr:itemUnits><sc:siScaleCode>none</sc:siScaleCode>"
            + "</oadr:currencyPerKWh>"
        let kw =
            "<pw:powerReal xmlns:pw=\"http://docs.oasis-open.org/ns/emix/2011/06/power\"><pw:itemDescription>x"
            + "</pw:itemDescription><pw:itemUnits>W</pw:itemUnits><sc:siScaleCode>k</sc:siScaleCode></pw:powerReal>"
        let e = try distribution(
            VTNXML.distribute([
                VTNXML.event(
                    duration: "PT12M",
                    signals: [
                        .init(intervals: [("PT5M", "1"), ("PT5M", "0"), ("PT5M", "2")]),
                        .init(
                            name: "ELECTRICITY_PRICE", type: "price", intervals: [("PT10M", "0.25")], item: usdPerKWh),
                        .init(name: "LOAD_CONTROL", type: "x-loadControlCapacity", intervals: [("PT10M", "0.25")]),
                        .init(name: "LOAD_DISPATCH", type: "setpoint", intervals: [("PT10M", "0.5")], item: kw),
                        .init(name: "BID_LOAD", type: "setpoint", intervals: [("PT10M", "1")]),
                    ])
            ])
        ).events[0]
        let (intervals, ignored) = Self.planner.plan(e, now: Self.start)
        let byID = Dictionary(uniqueKeysWithValues: intervals.map { ($0.id, $0) })
        #expect(byID["openadr2b:E1:0"]?.action == .curtail(level: 0.5))
        #expect(byID["openadr2b:E1:0"]?.end == Self.start.addingTimeInterval(300))
        // The same uid over another window: its own id. Capacity 0.25 and a 0.5 kW setpoint of 2 kW: 0.75.
        #expect(byID["openadr2b:E1:0@2"]?.action == .curtail(level: 0.75))
        #expect(byID["openadr2b:E1:0@3"]?.action == .curtail(level: 0.75))
        #expect(byID["openadr2b:E1:0@3"]?.end == Self.start.addingTimeInterval(600))
        #expect(byID["openadr2b:E1:1"] == nil)
        #expect(byID["openadr2b:E1:2"]?.action == .curtail(level: 1))
        #expect(byID["openadr2b:E1:2"]?.end == Self.start.addingTimeInterval(720))
        #expect(byID["openadr2b:E1:0:price"]?.action == .price(usdPerMWh: 250))
        #expect(ignored.contains { $0.contains("BID_LOAD") })
    }

    @Test("test events are logged, not followed; startafter spreads the start within its window")
    func testEventsAndStartAfter() throws {
        let test = try distribution(VTNXML.distribute([VTNXML.event(test: "true")])).events[0]
        let r = Self.planner.plan(test, now: Self.start)
        #expect(r.intervals.isEmpty && r.ignored.contains { $0.contains("test event") })
        let spread = EventPlanner(simpleLevels: [2: 1], startAfterFraction: { _ in 0.5 })
        let e = try distribution(VTNXML.distribute([VTNXML.event(startAfter: "PT2M")])).events[0]
        #expect(spread.plan(e, now: Self.start).intervals.first?.start == Self.start.addingTimeInterval(60))
    }
}
