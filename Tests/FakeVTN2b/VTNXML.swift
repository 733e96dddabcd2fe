import Foundation

/// VTN messages for the tests and the fake VTN, written as string templates (independent of the OpenADR2b
/// module's writer), with namespace prefixes of their own choosing (as real VTNs do).
package enum VTNXML {
    package static func payload(_ inner: String) -> String {
        """
        <?xml version="1.0" encoding="utf-8"?>
        <p:oadrPayload xmlns:p="http://openadr.org/oadr-2.0b/2012/07" \
        xmlns:e="http://docs.oasis-open.org/ns/energyinterop/201110" \
        xmlns:pl="http://docs.oasis-open.org/ns/energyinterop/201110/payloads" \
        xmlns:cal="urn:ietf:params:xml:ns:icalendar-2.0" xmlns:st="urn:ietf:params:xml:ns:icalendar-2.0:stream" \
        xmlns:em="http://docs.oasis-open.org/ns/emix/2011/06" xmlns:sc="http://docs.oasis-open.org/ns/emix/2011/06/siscale">
        <p:oadrSignedObject p:Id="x">\(inner)</p:oadrSignedObject></p:oadrPayload>
        """
    }

    package static func eiResponse(_ code: Int = 200, requestID: String = "") -> String {
        "<e:eiResponse><e:responseCode>\(code)</e:responseCode><e:responseDescription>OK</e:responseDescription>"
            + "<pl:requestID>\(requestID)</pl:requestID></e:eiResponse>"
    }

    package static func createdPartyRegistration(
        venID: String? = nil, registrationID: String? = nil, vtnID: String = "VTN-1", poll: String = "PT10S",
        code: Int = 200
    ) -> String {
        payload(
            """
            <p:oadrCreatedPartyRegistration e:schemaVersion="2.0b">\(eiResponse(code))
            <e:registrationID>\(registrationID ?? "")</e:registrationID><e:venID>\(venID ?? "")</e:venID>
            <e:vtnID>\(vtnID)</e:vtnID><p:oadrProfiles><p:oadrProfile><p:oadrProfileName>2.0b</p:oadrProfileName>
            <p:oadrTransports><p:oadrTransport><p:oadrTransportName>simpleHttp</p:oadrTransportName></p:oadrTransport>
            </p:oadrTransports></p:oadrProfile></p:oadrProfiles>
            <p:oadrRequestedOadrPollFreq><cal:duration>\(poll)</cal:duration></p:oadrRequestedOadrPollFreq>
            </p:oadrCreatedPartyRegistration>
            """)
    }

    package static func response(_ code: Int = 200) -> String {
        payload("<p:oadrResponse e:schemaVersion=\"2.0b\">\(eiResponse(code))<e:venID>v</e:venID></p:oadrResponse>")
    }

    package struct Signal {
        package var name = "SIMPLE"
        package var type = "level"
        /// (duration, value) per interval.
        package var intervals: [(String, String)] = [("PT10M", "2")]
        package var item = ""

        package init(
            name: String = "SIMPLE", type: String = "level", intervals: [(String, String)] = [("PT10M", "2")],
            item: String = ""
        ) {
            self.name = name
            self.type = type
            self.intervals = intervals
            self.item = item
        }
    }

    package static func event(
        id: String = "E1", modification: Int = 0, status: String = "far", start: String = "2030-01-01T12:00:00Z",
        duration: String = "PT10M", startAfter: String? = nil, test: String = "false",
        responseRequired: String = "always",
        signals: [Signal] = [Signal()]
    ) -> String {
        let sigs = signals.map { s in
            var intervals = ""
            for (i, (d, v)) in s.intervals.enumerated() {
                intervals +=
                    "<e:interval><cal:duration><cal:duration>\(d)</cal:duration></cal:duration>"
                    + "<cal:uid><cal:text>\(i)</cal:text></cal:uid><e:signalPayload><e:payloadFloat><e:value>\(v)"
                    + "</e:value></e:payloadFloat></e:signalPayload></e:interval>"
            }
            return "<e:eiEventSignal><st:intervals>\(intervals)</st:intervals><e:signalName>\(s.name)</e:signalName>"
                + "<e:signalType>\(s.type)</e:signalType><e:signalID>s</e:signalID>\(s.item)</e:eiEventSignal>"
        }.joined()
        let tolerance = startAfter.map {
            "<cal:tolerance><cal:tolerate><cal:startafter>\($0)</cal:startafter></cal:tolerate></cal:tolerance>"
        }
        return """
            <p:oadrEvent><e:eiEvent><e:eventDescriptor><e:eventID>\(id)</e:eventID>
            <e:modificationNumber>\(modification)</e:modificationNumber>
            <e:eiMarketContext><em:marketContext>http://mc</em:marketContext></e:eiMarketContext>
            <e:createdDateTime>2030-01-01T00:00:00Z</e:createdDateTime><e:eventStatus>\(status)</e:eventStatus>
            <e:testEvent>\(test)</e:testEvent></e:eventDescriptor>
            <e:eiActivePeriod><cal:properties><cal:dtstart><cal:date-time>\(start)</cal:date-time></cal:dtstart>
            <cal:duration><cal:duration>\(duration)</cal:duration></cal:duration>\(tolerance ?? "")
            <e:x-eiRampUp><cal:duration>PT1M</cal:duration></e:x-eiRampUp></cal:properties>
            <cal:components/></e:eiActivePeriod><e:eiEventSignals>\(sigs)</e:eiEventSignals>
            <e:eiTarget/></e:eiEvent><p:oadrResponseRequired>\(responseRequired)</p:oadrResponseRequired></p:oadrEvent>
            """
    }

    package static func distribute(_ events: [String], requestID: String = "None") -> String {
        payload(
            "<p:oadrDistributeEvent e:schemaVersion=\"2.0b\"><pl:requestID>\(requestID)</pl:requestID>"
                + "<e:vtnID>VTN-1</e:vtnID>\(events.joined())</p:oadrDistributeEvent>")
    }

    package static func reportRequest(id: String, specifier: String, back: String = "PT10S", rID: String) -> String {
        """
        <p:oadrReportRequest><e:reportRequestID>\(id)</e:reportRequestID><e:reportSpecifier>
        <e:reportSpecifierID>\(specifier)</e:reportSpecifierID>
        <cal:granularity><cal:duration>PT10S</cal:duration></cal:granularity>
        <e:reportBackDuration><cal:duration>\(back)</cal:duration></e:reportBackDuration>
        <e:specifierPayload><e:rID>\(rID)</e:rID><e:readingType>Direct Read</e:readingType></e:specifierPayload>
        </e:reportSpecifier></p:oadrReportRequest>
        """
    }

    package static func registeredReport(_ requests: [String]) -> String {
        payload(
            "<p:oadrRegisteredReport e:schemaVersion=\"2.0b\">\(eiResponse())\(requests.joined())"
                + "<e:venID>v</e:venID></p:oadrRegisteredReport>")
    }

    package static func createReport(_ requests: [String]) -> String {
        payload(
            "<p:oadrCreateReport e:schemaVersion=\"2.0b\"><pl:requestID>cr1</pl:requestID>\(requests.joined())"
                + "<e:venID>v</e:venID></p:oadrCreateReport>")
    }

    package static let requestReregistration = payload(
        "<p:oadrRequestReregistration e:schemaVersion=\"2.0b\"><e:venID>v</e:venID></p:oadrRequestReregistration>")

    package static func cancelPartyRegistration(registrationID: String) -> String {
        payload(
            "<p:oadrCancelPartyRegistration e:schemaVersion=\"2.0b\"><pl:requestID>c1</pl:requestID>"
                + "<e:registrationID>\(registrationID)</e:registrationID><e:venID>v</e:venID>"
                + "</p:oadrCancelPartyRegistration>")
    }

    /// The answer to a VEN leaving; `code` other than 200 refuses it.
    package static func canceledPartyRegistration(
        code: Int = 200, description: String = "OK", registrationID: String, venID: String
    ) -> String {
        payload(
            "<p:oadrCanceledPartyRegistration e:schemaVersion=\"2.0b\"><e:eiResponse>"
                + "<e:responseCode>\(code)</e:responseCode><e:responseDescription>\(description)"
                + "</e:responseDescription><pl:requestID></pl:requestID></e:eiResponse>"
                + "<e:registrationID>\(text(registrationID))</e:registrationID><e:venID>\(text(venID))</e:venID>"
                + "</p:oadrCanceledPartyRegistration>")
    }

    /// `s` as XML character data (the ids echoed come from the VEN's request).
    static func text(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }
}
