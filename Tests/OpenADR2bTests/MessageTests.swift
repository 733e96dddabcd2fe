import FlexSupport
import Foundation
import OpenADR2b
import Testing

@Suite("OpenADR 2.0b messages")
struct MessageTests {
    static let t0 = ISO8601.parse("2030-01-01T11:59:00Z")!

    /// Every message FlexMiner sends, with awkward text in every field it carries.
    static var all: [(String, String)] {
        let hostile = "a&b<c>\"d'\u{1}"
        let request = ReportRequest(
            reportRequestID: "rr1", specifierID: OADRReport.usageSpecifierID, granularitySeconds: 10,
            reportBackSeconds: 10, rIDs: [OADRReport.powerRID])
        let status = ReportRequest(
            reportRequestID: "rr2", specifierID: OADRReport.statusSpecifierID, granularitySeconds: 10,
            reportBackSeconds: 10, rIDs: [OADRReport.statusRID])
        return [
            ("oadrQueryRegistration", OADRMessage.queryRegistration(requestID: hostile)),
            (
                "oadrCreatePartyRegistration",
                OADRMessage.createPartyRegistration(requestID: "r", .init(venName: hostile))
            ),
            (
                "oadrCreatePartyRegistration",
                OADRMessage.createPartyRegistration(
                    requestID: "r", .init(venName: "v", venID: "id", registrationID: "reg", xmlSignature: true))
            ),
            (
                "oadrCancelPartyRegistration",
                OADRMessage.cancelPartyRegistration(requestID: "r", registrationID: "reg", venID: hostile)
            ),
            (
                "oadrCanceledPartyRegistration",
                OADRMessage.canceledPartyRegistration(requestID: "r", registrationID: "reg", venID: "v")
            ),
            ("oadrPoll", OADRMessage.poll(venID: hostile)),
            ("oadrRequestEvent", OADRMessage.requestEvent(requestID: "r", venID: "v")),
            (
                "oadrCreatedEvent",
                OADRMessage.createdEvent(
                    venID: "v",
                    responses: [
                        .init(eventID: "E1", modificationNumber: 3, requestID: "None", optIn: true),
                        .init(eventID: hostile, modificationNumber: 0, requestID: "x", optIn: false),
                    ])
            ),
            ("oadrCreatedEvent", OADRMessage.createdEvent(venID: "v", responses: [])),
            ("oadrResponse", OADRMessage.response(requestID: "", venID: "v")),
            ("oadrRegisterReport", OADRReport.register(requestID: "r", venID: "v", resourceID: hostile, createdAt: t0)),
            (
                "oadrUpdateReport",
                OADRReport.update(
                    requestID: "r", venID: "v", request: request, reportID: "rep",
                    reading: .init(watts: 3250.5, measured: true, online: true), start: t0, seconds: 10, createdAt: t0)
            ),
            (
                "oadrUpdateReport",
                OADRReport.update(
                    requestID: "r", venID: "v", request: status, reportID: "rep",
                    reading: .init(watts: 0, measured: false, online: false), start: t0, seconds: 10, createdAt: t0)
            ),
            ("oadrCreatedReport", OADRReport.created(requestID: "r", venID: "v", pending: ["rr1", "rr2"])),
            ("oadrCanceledReport", OADRReport.canceled(requestID: "r", venID: "v", pending: [])),
            ("oadrRegisteredReport", OADRReport.registered(requestID: "r", venID: "v")),
        ]
    }

    @Test("every message is well-formed 2.0b: oadrPayload › oadrSignedObject › the message, by namespace")
    func wellFormed() throws {
        for (name, xml) in Self.all {
            let root = try XMLReader.parse(xml)
            #expect(root.namespace == OADRNamespace.oadr && root.name == "oadrPayload", "\(name)")
            let message = root.child(OADRNamespace.oadr, "oadrSignedObject")?.children.first
            #expect(message?.name == name)
            #expect(message?.namespace == OADRNamespace.oadr)
            #expect(message?.attributes["schemaVersion"] == "2.0b", "\(name)")
        }
    }

    @Test("text is escaped: what a field carried reads back exactly (characters XML cannot carry replaced)")
    func escaping() throws {
        let xml = OADRMessage.poll(venID: "a&b<c>\"d'\u{1}")
        let root = try XMLReader.parse(xml)
        let ven = root.descendant([
            (OADRNamespace.oadr, "oadrSignedObject"), (OADRNamespace.oadr, "oadrPoll"), (OADRNamespace.ei, "venID"),
        ])
        #expect(ven?.text == "a&b<c>\"d'\u{FFFD}")
    }

    @Test("oadrCreatedEvent opts in per event id and modification number, echoing the request id")
    func createdEvent() throws {
        let xml = OADRMessage.createdEvent(
            venID: "v", responses: [.init(eventID: "E1", modificationNumber: 3, requestID: "None", optIn: true)])
        let root = try XMLReader.parse(xml)
        let r = root.descendant([
            (OADRNamespace.oadr, "oadrSignedObject"), (OADRNamespace.oadr, "oadrCreatedEvent"),
            (OADRNamespace.pyld, "eiCreatedEvent"), (OADRNamespace.ei, "eventResponses"),
            (OADRNamespace.ei, "eventResponse"),
        ])
        #expect(r?.child(OADRNamespace.ei, "optType")?.text == "optIn")
        #expect(r?.child(OADRNamespace.pyld, "requestID")?.text == "None")
        let q = r?.child(OADRNamespace.ei, "qualifiedEventID")
        #expect(q?.child(OADRNamespace.ei, "eventID")?.text == "E1")
        #expect(q?.child(OADRNamespace.ei, "modificationNumber")?.text == "3")
    }

    @Test("oadrCreatePartyRegistration: profile 2.0b, simpleHttp, pull, the signature flag")
    func registration() throws {
        let xml = OADRMessage.createPartyRegistration(requestID: "r", .init(venName: "host-1"))
        let m = try XMLReader.parse(xml).descendant([
            (OADRNamespace.oadr, "oadrSignedObject"), (OADRNamespace.oadr, "oadrCreatePartyRegistration"),
        ])
        #expect(m?.child(OADRNamespace.oadr, "oadrProfileName")?.text == "2.0b")
        #expect(m?.child(OADRNamespace.oadr, "oadrTransportName")?.text == "simpleHttp")
        #expect(m?.child(OADRNamespace.oadr, "oadrHttpPullModel")?.text == "true")
        #expect(m?.child(OADRNamespace.oadr, "oadrXmlSignature")?.text == "false")
        #expect(m?.child(OADRNamespace.oadr, "oadrVenName")?.text == "host-1")
        #expect(m?.child(OADRNamespace.ei, "venID") == nil)
    }
}
