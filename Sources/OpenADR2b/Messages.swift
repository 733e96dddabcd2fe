import FlexSupport
import Foundation
import OpenADR

/// The messages a FlexMiner VEN sends, as complete documents (`oadrPayload` › `oadrSignedObject` › the
/// message), every OpenADR namespace declared on the root with FlexMiner's prefixes. Element order follows
/// `oadr_20b.xsd` (checked by the schema test); all supplied text is escaped by `XMLNode`.
public enum OADRMessage {
    /// What the VEN says in `oadrCreatePartyRegistration`.
    public struct Registration: Sendable, Hashable {
        public var venName: String
        /// The ids the VTN gave before (re-registration), else nil.
        public var venID: String?
        public var registrationID: String?
        /// Whether messages are signed (XML Signature); this session's VEN never signs.
        public var xmlSignature: Bool

        public init(venName: String, venID: String? = nil, registrationID: String? = nil, xmlSignature: Bool = false) {
            self.venName = venName
            self.venID = venID
            self.registrationID = registrationID
            self.xmlSignature = xmlSignature
        }
    }

    /// One event's answer in `oadrCreatedEvent`.
    public struct EventResponse: Sendable, Hashable {
        public var eventID: String
        public var modificationNumber: Int
        /// The `requestID` of the `oadrDistributeEvent` it answers (echoed as sent, even a literal "None").
        public var requestID: String
        public var optIn: Bool

        public init(eventID: String, modificationNumber: Int, requestID: String, optIn: Bool) {
            self.eventID = eventID
            self.modificationNumber = modificationNumber
            self.requestID = requestID
            self.optIn = optIn
        }
    }

    /// The document around `message`.
    static func document(_ message: XMLNode) -> String {
        let signed = XMLNode("oadr:oadrSignedObject", attributes: [("oadr:Id", "oadrSignedObject")], [message])
        return #"<?xml version="1.0" encoding="UTF-8"?>"# + "\n"
            + XMLNode("oadr:oadrPayload", [signed]).xml(declareNamespaces: true)
    }

    /// A message element with the 2.0b schema version.
    static func message(_ name: String, _ children: [XMLNode]) -> XMLNode {
        XMLNode("oadr:" + name, attributes: [("ei:schemaVersion", "2.0b")], children)
    }

    static func eiResponse(code: Int, description: String, requestID: String) -> XMLNode {
        XMLNode(
            "ei:eiResponse",
            [
                XMLNode("ei:responseCode", String(code)), XMLNode("ei:responseDescription", description),
                XMLNode("pyld:requestID", requestID),
            ])
    }

    /// `oadrQueryRegistration` (EiRegisterParty): what the VTN offers, before registering.
    public static func queryRegistration(requestID: String) -> String {
        document(message("oadrQueryRegistration", [XMLNode("pyld:requestID", requestID)]))
    }

    /// `oadrCreatePartyRegistration` (EiRegisterParty): profile 2.0b, simple HTTP, pull.
    public static func createPartyRegistration(requestID: String, _ r: Registration) -> String {
        var c = [XMLNode("pyld:requestID", requestID)]
        if let id = r.registrationID { c.append(XMLNode("ei:registrationID", id)) }
        if let id = r.venID { c.append(XMLNode("ei:venID", id)) }
        c += [
            XMLNode("oadr:oadrProfileName", "2.0b"), XMLNode("oadr:oadrTransportName", "simpleHttp"),
            XMLNode("oadr:oadrReportOnly", "false"),
            XMLNode("oadr:oadrXmlSignature", r.xmlSignature ? "true" : "false"),
            XMLNode("oadr:oadrVenName", r.venName), XMLNode("oadr:oadrHttpPullModel", "true"),
        ]
        return document(message("oadrCreatePartyRegistration", c))
    }

    /// `oadrCancelPartyRegistration` (EiRegisterParty): leave the program.
    public static func cancelPartyRegistration(requestID: String, registrationID: String, venID: String) -> String {
        document(
            message(
                "oadrCancelPartyRegistration",
                [
                    XMLNode("pyld:requestID", requestID), XMLNode("ei:registrationID", registrationID),
                    XMLNode("ei:venID", venID),
                ]))
    }

    /// `oadrCanceledPartyRegistration` (EiRegisterParty): the answer to the VTN's cancellation.
    public static func canceledPartyRegistration(requestID: String, registrationID: String, venID: String) -> String {
        document(
            message(
                "oadrCanceledPartyRegistration",
                [
                    eiResponse(code: 200, description: "OK", requestID: requestID),
                    XMLNode("ei:registrationID", registrationID), XMLNode("ei:venID", venID),
                ]))
    }

    /// `oadrPoll` (OadrPoll).
    public static func poll(venID: String) -> String {
        document(message("oadrPoll", [XMLNode("ei:venID", venID)]))
    }

    /// `oadrRequestEvent` (EiEvent): every event the VTN has for this VEN.
    public static func requestEvent(requestID: String, venID: String) -> String {
        document(
            message(
                "oadrRequestEvent",
                [XMLNode("pyld:eiRequestEvent", [XMLNode("pyld:requestID", requestID), XMLNode("ei:venID", venID)])]))
    }

    /// `oadrCreatedEvent` (EiEvent): opt in or out of each event, by id and modification number.
    public static func createdEvent(venID: String, responses: [EventResponse]) -> String {
        let each = responses.map { r in
            XMLNode(
                "ei:eventResponse",
                [
                    XMLNode("ei:responseCode", "200"), XMLNode("ei:responseDescription", "OK"),
                    XMLNode("pyld:requestID", r.requestID),
                    XMLNode(
                        "ei:qualifiedEventID",
                        [
                            XMLNode("ei:eventID", r.eventID),
                            XMLNode("ei:modificationNumber", String(r.modificationNumber)),
                        ]
                    ),
                    XMLNode("ei:optType", r.optIn ? "optIn" : "optOut"),
                ])
        }
        var c = [eiResponse(code: 200, description: "OK", requestID: "")]
        if !each.isEmpty { c.append(XMLNode("ei:eventResponses", each)) }
        c.append(XMLNode("ei:venID", venID))
        return document(message("oadrCreatedEvent", [XMLNode("pyld:eiCreatedEvent", c)]))
    }

    /// `oadrResponse`: the plain acknowledgement (of `oadrRequestReregistration`, among others).
    public static func response(requestID: String, venID: String, code: Int = 200, description: String = "OK")
        -> String
    {
        document(
            message(
                "oadrResponse",
                [eiResponse(code: code, description: description, requestID: requestID), XMLNode("ei:venID", venID)]))
    }
}
