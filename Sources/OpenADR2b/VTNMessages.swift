import FlexSupport
import Foundation

/// `ei:eiResponse`: the VTN's verdict on a request.
package struct OADRResponse: Sendable, Hashable {
    package var code: Int
    package var description: String
    package var requestID: String

    package init(code: Int, description: String = "", requestID: String = "") {
        self.code = code
        self.description = description
        self.requestID = requestID
    }

    /// 2.0b's success codes are the HTTP-like 2xx.
    package var ok: Bool { (200...299).contains(code) }
}

/// `oadrCreatedPartyRegistration`.
package struct CreatedPartyRegistration: Sendable, Hashable {
    package var response: OADRResponse
    package var registrationID: String?
    package var venID: String?
    package var vtnID: String
    /// `oadrRequestedOadrPollFreq` in seconds.
    package var pollSeconds: Double?
    /// The profile names the VTN offers (`2.0a`, `2.0b`).
    package var profiles: [String]
}

/// One report the VTN asks for (`oadrReportRequest`), inside `oadrRegisteredReport` or `oadrCreateReport`.
package struct ReportRequest: Sendable, Hashable, Codable {
    package var reportRequestID: String
    package var specifierID: String
    /// How often to measure, and how often to send (`reportBackDuration`); 0 means "once".
    package var granularitySeconds: Double
    package var reportBackSeconds: Double
    /// The data points asked for.
    package var rIDs: [String]

    package init(
        reportRequestID: String, specifierID: String, granularitySeconds: Double, reportBackSeconds: Double,
        rIDs: [String]
    ) {
        self.reportRequestID = reportRequestID
        self.specifierID = specifierID
        self.granularitySeconds = granularitySeconds
        self.reportBackSeconds = reportBackSeconds
        self.rIDs = rIDs
    }
}

/// A message from a VTN, read with a real XML parser and every field checked.
package enum VTNMessage: Sendable, Hashable {
    case createdPartyRegistration(CreatedPartyRegistration)
    case response(OADRResponse)
    case distributeEvent(Distribution)
    case requestReregistration
    case cancelPartyRegistration(requestID: String, registrationID: String)
    /// The answer to the VEN leaving (`oadrCancelPartyRegistration`): the verdict and the registration named.
    case canceledPartyRegistration(OADRResponse, registrationID: String?)
    case registeredReport(OADRResponse, requests: [ReportRequest])
    case createReport(requestID: String, requests: [ReportRequest])
    case cancelReport(requestID: String, reportRequestID: String)
    /// The VTN's own metadata reports (FlexMiner requests none of them; it acknowledges).
    case registerReport(requestID: String)
    /// A well-formed 2.0b message FlexMiner does not act on (its name).
    case other(String)

    /// The largest number of events, intervals or report requests read from one message.
    package static let maximumItems = 1000

    /// Reads one message (`oadrPayload` › `oadrSignedObject` › message).
    /// - Throws: `OpenADR2bError` (`.xml` for bytes that are not acceptable XML, `.malformed` naming the
    ///   field otherwise).
    package static func parse(_ bytes: [UInt8]) throws(OpenADR2bError) -> VTNMessage {
        let root = try XMLReader.parse(bytes)
        guard root.namespace == oadrNS, root.name == "oadrPayload" else {
            throw OpenADR2bError(
                .malformed,
                "root element is {\(root.namespace.prefix(80))}\(root.name.prefix(40)), not oadr:oadrPayload")
        }
        guard let signed = root.child(oadrNS, "oadrSignedObject"),
            let m = signed.children.first(where: { $0.namespace == oadrNS })
        else { throw OpenADR2bError(.malformed, "oadrPayload: no oadrSignedObject with an OpenADR message") }
        let f = FieldReader(m, path: m.name)
        switch m.name {
        case "oadrCreatedPartyRegistration": return .createdPartyRegistration(try createdPartyRegistration(f))
        case "oadrResponse": return .response(try response(f))
        case "oadrDistributeEvent": return .distributeEvent(try Distribution.parse(f))
        case "oadrRequestReregistration": return .requestReregistration
        case "oadrCancelPartyRegistration":
            return .cancelPartyRegistration(
                requestID: try f.optionalText([(pyldNS, "requestID")], field: "requestID") ?? "",
                registrationID: try f.text([(eiNS, "registrationID")], field: "registrationID"))
        case "oadrCanceledPartyRegistration":
            return .canceledPartyRegistration(
                try response(f),
                registrationID: try f.optionalText([(eiNS, "registrationID")], field: "registrationID"))
        case "oadrRegisteredReport":
            return .registeredReport(try response(f), requests: try reportRequests(f))
        case "oadrCreateReport":
            return .createReport(
                requestID: try f.optionalText([(pyldNS, "requestID")], field: "requestID") ?? "",
                requests: try reportRequests(f))
        case "oadrCancelReport":
            return .cancelReport(
                requestID: try f.optionalText([(pyldNS, "requestID")], field: "requestID") ?? "",
                reportRequestID: try f.text([(eiNS, "reportRequestID")], field: "reportRequestID"))
        case "oadrRegisterReport":
            return .registerReport(requestID: try f.optionalText([(pyldNS, "requestID")], field: "requestID") ?? "")
        default:
            return .other(String(m.name.prefix(60)))
        }
    }

    static func response(_ f: FieldReader) throws(OpenADR2bError) -> OADRResponse {
        guard let r = f.child([(eiNS, "eiResponse")], name: "eiResponse") else {
            throw f.error("eiResponse", "missing")
        }
        guard let code = try r.integer([(eiNS, "responseCode")], field: "responseCode", in: 100...999) else {
            throw r.error("responseCode", "missing")
        }
        return OADRResponse(
            code: code,
            description: try r.optionalText([(eiNS, "responseDescription")], field: "responseDescription") ?? "",
            requestID: try r.optionalText([(pyldNS, "requestID")], field: "requestID") ?? "")
    }

    static func createdPartyRegistration(_ f: FieldReader) throws(OpenADR2bError) -> CreatedPartyRegistration {
        let profiles = f.element.child(oadrNS, "oadrProfiles")?.children(oadrNS, "oadrProfile") ?? []
        return CreatedPartyRegistration(
            response: try response(f),
            registrationID: try f.optionalText([(eiNS, "registrationID")], field: "registrationID").flatMap {
                $0.isEmpty ? nil : $0
            },
            venID: try f.optionalText([(eiNS, "venID")], field: "venID").flatMap { $0.isEmpty ? nil : $0 },
            vtnID: try f.optionalText([(eiNS, "vtnID")], field: "vtnID") ?? "",
            pollSeconds: try f.duration(
                [(oadrNS, "oadrRequestedOadrPollFreq"), (xcalNS, "duration")], field: "oadrRequestedOadrPollFreq"),
            profiles: profiles.prefix(maximumItems).compactMap { $0.child(oadrNS, "oadrProfileName")?.trimmedText })
    }

    static func reportRequests(_ f: FieldReader) throws(OpenADR2bError) -> [ReportRequest] {
        let all = f.element.children(oadrNS, "oadrReportRequest")
        guard all.count <= maximumItems else {
            throw f.error("oadrReportRequest", "\(all.count) requests (at most \(maximumItems))")
        }
        var out: [ReportRequest] = []
        for (i, e) in all.enumerated() {
            let r = FieldReader(e, path: "\(f.path).oadrReportRequest[\(i)]")
            let spec = [(eiNS, "reportSpecifier")]
            let rIDs = e.child(eiNS, "reportSpecifier")?.children(eiNS, "specifierPayload").compactMap {
                $0.child(eiNS, "rID")?.trimmedText
            }
            out.append(
                ReportRequest(
                    reportRequestID: try r.text([(eiNS, "reportRequestID")], field: "reportRequestID"),
                    specifierID: try r.text(spec + [(eiNS, "reportSpecifierID")], field: "reportSpecifierID"),
                    granularitySeconds: try r.duration(
                        spec + [(xcalNS, "granularity"), (xcalNS, "duration")], field: "granularity") ?? 0,
                    reportBackSeconds: try r.duration(
                        spec + [(eiNS, "reportBackDuration"), (xcalNS, "duration")], field: "reportBackDuration")
                        ?? 0,
                    rIDs: Array((rIDs ?? []).prefix(maximumItems))))
        }
        return out
    }
}

extension VTNMessage {
    /// Checks the VTN's answer to the VEN leaving (`oadrCancelPartyRegistration`): an
    /// `oadrCanceledPartyRegistration` whose `responseCode` is 200 and whose `registrationID`, when given,
    /// is the one cancelled.
    /// - Throws: `OpenADR2bError`: `.refused` naming the VTN's code and description, or the registration it
    ///   named; `.malformed` for another message; `.xml` for bytes that are not acceptable XML.
    package static func checkCanceled(_ bytes: [UInt8], registrationID: String) throws(OpenADR2bError) {
        let answer = try parse(bytes)
        guard case .canceledPartyRegistration(let r, let named) = answer else {
            throw OpenADR2bError(
                .malformed,
                "the VTN answered oadrCancelPartyRegistration with \(answer.name), "
                    + "not oadrCanceledPartyRegistration")
        }
        guard r.code == 200 else {
            let text = r.description.isEmpty ? "" : " (\(r.description.prefix(200)))"
            throw OpenADR2bError(
                .refused,
                "the VTN refused to cancel registration \(registrationID.prefix(100)): "
                    + "oadrCanceledPartyRegistration responseCode \(r.code)\(text)")
        }
        if let named, !named.isEmpty, named != registrationID {
            throw OpenADR2bError(
                .refused,
                "the VTN's oadrCanceledPartyRegistration names registration \(named.prefix(100)), "
                    + "not \(registrationID.prefix(100))")
        }
    }
}
