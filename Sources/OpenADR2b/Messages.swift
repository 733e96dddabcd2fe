import FlexSupport
import Foundation
import OpenADR

/// The messages a FlexMiner VEN sends, as complete documents (`oadrPayload` › `oadrSignedObject` › the
/// message), every OpenADR namespace declared on the root with FlexMiner's prefixes. Element order follows
/// `oadr_20b.xsd` (checked by the schema test); all supplied text is escaped by `WriteElement`.
package enum OADRMessage {
    /// What the VEN says in `oadrCreatePartyRegistration`.
    package struct Registration: Sendable, Hashable {
        package var venName: String
        /// The ids the VTN gave before (re-registration), else nil.
        package var venID: String?
        package var registrationID: String?
        /// Whether messages are signed (XML Signature): true when the VEN has a certificate and key.
        package var xmlSignature: Bool

        package init(venName: String, venID: String? = nil, registrationID: String? = nil, xmlSignature: Bool = false) {
            self.venName = venName
            self.venID = venID
            self.registrationID = registrationID
            self.xmlSignature = xmlSignature
        }
    }

    /// One event's answer in `oadrCreatedEvent`.
    package struct EventResponse: Sendable, Hashable {
        package var eventID: String
        package var modificationNumber: Int
        /// The `requestID` of the `oadrDistributeEvent` it answers (echoed as sent, even a literal "None").
        package var requestID: String
        package var optIn: Bool

        package init(eventID: String, modificationNumber: Int, requestID: String, optIn: Bool) {
            self.eventID = eventID
            self.modificationNumber = modificationNumber
            self.requestID = requestID
            self.optIn = optIn
        }
    }

    /// The document around `message`.
    static func document(_ message: WriteElement) -> String {
        let signed = WriteElement("oadr:oadrSignedObject", attributes: [("oadr:Id", "oadrSignedObject")], [message])
        return #"<?xml version="1.0" encoding="UTF-8"?>"# + "\n"
            + WriteElement("oadr:oadrPayload", [signed]).xml(declareNamespaces: true)
    }

    /// A message element with the 2.0b schema version.
    static func message(_ name: String, _ children: [WriteElement]) -> WriteElement {
        WriteElement("oadr:" + name, attributes: [("ei:schemaVersion", "2.0b")], children)
    }

    static func eiResponse(code: Int, description: String, requestID: String) -> WriteElement {
        WriteElement(
            "ei:eiResponse",
            [
                WriteElement("ei:responseCode", String(code)), WriteElement("ei:responseDescription", description),
                WriteElement("pyld:requestID", requestID),
            ])
    }

    /// `oadrQueryRegistration` (EiRegisterParty): what the VTN offers, before registering.
    package static func queryRegistration(requestID: String) -> String {
        document(message("oadrQueryRegistration", [WriteElement("pyld:requestID", requestID)]))
    }

    /// `oadrCreatePartyRegistration` (EiRegisterParty): profile 2.0b, simple HTTP, pull.
    package static func createPartyRegistration(requestID: String, _ r: Registration) -> String {
        var c = [WriteElement("pyld:requestID", requestID)]
        if let id = r.registrationID { c.append(WriteElement("ei:registrationID", id)) }
        if let id = r.venID { c.append(WriteElement("ei:venID", id)) }
        c += [
            WriteElement("oadr:oadrProfileName", "2.0b"), WriteElement("oadr:oadrTransportName", "simpleHttp"),
            WriteElement("oadr:oadrReportOnly", "false"),
            WriteElement("oadr:oadrXmlSignature", r.xmlSignature ? "true" : "false"),
            WriteElement("oadr:oadrVenName", r.venName), WriteElement("oadr:oadrHttpPullModel", "true"),
        ]
        return document(message("oadrCreatePartyRegistration", c))
    }

    /// `oadrCancelPartyRegistration` (EiRegisterParty): leave the program.
    package static func cancelPartyRegistration(requestID: String, registrationID: String, venID: String) -> String {
        document(
            message(
                "oadrCancelPartyRegistration",
                [
                    WriteElement("pyld:requestID", requestID), WriteElement("ei:registrationID", registrationID),
                    WriteElement("ei:venID", venID),
                ]))
    }

    /// `oadrCanceledPartyRegistration` (EiRegisterParty): the answer to the VTN's cancellation.
    package static func canceledPartyRegistration(requestID: String, registrationID: String, venID: String) -> String {
        document(
            message(
                "oadrCanceledPartyRegistration",
                [
                    eiResponse(code: 200, description: "OK", requestID: requestID),
                    WriteElement("ei:registrationID", registrationID), WriteElement("ei:venID", venID),
                ]))
    }

    /// `oadrPoll` (OadrPoll).
    package static func poll(venID: String) -> String {
        document(message("oadrPoll", [WriteElement("ei:venID", venID)]))
    }

    /// `oadrRequestEvent` (EiEvent): every event the VTN has for this VEN.
    package static func requestEvent(requestID: String, venID: String) -> String {
        document(
            message(
                "oadrRequestEvent",
                [
                    WriteElement(
                        "pyld:eiRequestEvent",
                        [WriteElement("pyld:requestID", requestID), WriteElement("ei:venID", venID)])
                ]))
    }

    /// `oadrCreatedEvent` (EiEvent): opt in or out of each event, by id and modification number.
    package static func createdEvent(venID: String, responses: [EventResponse]) -> String {
        let each = responses.map { r in
            WriteElement(
                "ei:eventResponse",
                [
                    WriteElement("ei:responseCode", "200"), WriteElement("ei:responseDescription", "OK"),
                    WriteElement("pyld:requestID", r.requestID),
                    WriteElement(
                        "ei:qualifiedEventID",
                        [
                            WriteElement("ei:eventID", r.eventID),
                            WriteElement("ei:modificationNumber", String(r.modificationNumber)),
                        ]
                    ),
                    WriteElement("ei:optType", r.optIn ? "optIn" : "optOut"),
                ])
        }
        var c = [eiResponse(code: 200, description: "OK", requestID: "")]
        if !each.isEmpty { c.append(WriteElement("ei:eventResponses", each)) }
        c.append(WriteElement("ei:venID", venID))
        return document(message("oadrCreatedEvent", [WriteElement("pyld:eiCreatedEvent", c)]))
    }

    /// `oadrResponse`: the plain acknowledgement (of `oadrRequestReregistration`, among others).
    package static func response(requestID: String, venID: String, code: Int = 200, description: String = "OK")
        -> String
    {
        document(
            message(
                "oadrResponse",
                [
                    eiResponse(code: code, description: description, requestID: requestID),
                    WriteElement("ei:venID", venID),
                ]))
    }
}
