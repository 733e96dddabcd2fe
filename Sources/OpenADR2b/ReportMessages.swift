import FlexSupport
import Foundation
import OpenADR

/// The reports FlexMiner offers: real power (`TELEMETRY_USAGE`) and the resource's status
/// (`TELEMETRY_STATUS`), one data point each.
public enum OADRReport {
    /// The `rID` of the real-power data point.
    public static let powerRID = "flexminer-power"
    /// The `rID` of the status data point.
    public static let statusRID = "flexminer-status"
    /// The report specifier ids of the two metadata reports.
    public static let usageSpecifierID = "flexminer-telemetry-usage"
    public static let statusSpecifierID = "flexminer-telemetry-status"

    /// A power reading for `oadrUpdateReport`.
    public struct Reading: Sendable, Hashable {
        public var watts: Double
        /// Measured by a meter or RAPL (`Quality Good`), else the model's estimate (`Quality Uncertain`).
        public var measured: Bool
        /// Whether the load is drawing (not halted) for the status report.
        public var online: Bool

        public init(watts: Double, measured: Bool, online: Bool) {
            self.watts = watts
            self.measured = measured
            self.online = online
        }
    }

    /// The grid's AC nature for `power:powerAttributes` (required by the schema for real power).
    public struct Supply: Sendable, Hashable {
        public var hertz: Double = 60
        public var voltage: Double = 240
        public init(hertz: Double = 60, voltage: Double = 240) {
            self.hertz = hertz
            self.voltage = voltage
        }
    }

    static func duration(_ seconds: Double) -> XMLNode {
        XMLNode("xcal:duration", [XMLNode("xcal:duration", ISODuration.format(seconds: seconds))])
    }

    static func dtstart(_ date: Date) -> XMLNode {
        XMLNode("xcal:dtstart", [XMLNode("xcal:date-time", ISO8601.format(date))])
    }

    static func number(_ v: Double) -> String {
        guard v.isFinite else { return "0" }
        return v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v)
    }

    static func description(rID: String, resourceID: String, usage: Bool, supply: Supply) -> XMLNode {
        var c = [
            XMLNode("ei:rID", rID),
            XMLNode("ei:reportDataSource", [XMLNode("ei:resourceID", resourceID)]),
            XMLNode("ei:reportType", usage ? "usage" : "x-resourceStatus"),
        ]
        if usage {
            c.append(
                XMLNode(
                    "power:powerReal",
                    [
                        XMLNode("power:itemDescription", "RealPower"), XMLNode("power:itemUnits", "W"),
                        XMLNode("scale:siScaleCode", "none"),
                        XMLNode(
                            "power:powerAttributes",
                            [
                                XMLNode("power:hertz", number(supply.hertz)),
                                XMLNode("power:voltage", number(supply.voltage)), XMLNode("power:ac", "true"),
                            ]),
                    ]))
        }
        c.append(XMLNode("ei:readingType", usage ? "Direct Read" : "x-notApplicable"))
        c.append(
            XMLNode(
                "oadr:oadrSamplingRate",
                [
                    XMLNode("oadr:oadrMinPeriod", "PT1S"), XMLNode("oadr:oadrMaxPeriod", "PT1H"),
                    XMLNode("oadr:oadrOnChange", "false"),
                ]))
        return XMLNode("oadr:oadrReportDescription", c)
    }

    /// `oadrRegisterReport` (EiReport): the two metadata reports.
    public static func register(
        requestID: String, venID: String, resourceID: String, createdAt: Date, supply: Supply = Supply()
    ) -> String {
        func metadata(_ name: String, _ specifier: String, _ rID: String, usage: Bool) -> XMLNode {
            XMLNode(
                "oadr:oadrReport",
                [
                    duration(3600),
                    description(rID: rID, resourceID: resourceID, usage: usage, supply: supply),
                    XMLNode("ei:reportRequestID", "0"), XMLNode("ei:reportSpecifierID", specifier),
                    XMLNode("ei:reportName", name), XMLNode("ei:createdDateTime", ISO8601.format(createdAt)),
                ])
        }
        return OADRMessage.document(
            OADRMessage.message(
                "oadrRegisterReport",
                [
                    XMLNode("pyld:requestID", requestID),
                    metadata("METADATA_TELEMETRY_USAGE", usageSpecifierID, powerRID, usage: true),
                    metadata("METADATA_TELEMETRY_STATUS", statusSpecifierID, statusRID, usage: false),
                    XMLNode("ei:venID", venID),
                ]))
    }

    /// `oadrUpdateReport` (EiReport): one interval of the report `request` asked for, with a value for each
    /// of its data points that FlexMiner has (power, status).
    public static func update(
        requestID: String, venID: String, request: ReportRequest, reportID: String, reading: Reading,
        start: Date, seconds: Double, createdAt: Date
    ) -> String {
        var payloads: [XMLNode] = []
        for rID in request.rIDs where rID == powerRID || rID == statusRID {
            let quality = reading.measured ? "Quality Good - Non Specific" : "Quality Uncertain - Non Specific"
            let value =
                rID == powerRID
                ? XMLNode("ei:payloadFloat", [XMLNode("ei:value", number(reading.watts))])
                : XMLNode(
                    "oadr:oadrPayloadResourceStatus",
                    [
                        XMLNode("oadr:oadrOnline", reading.online ? "true" : "false"),
                        XMLNode("oadr:oadrManualOverride", "false"),
                    ])
            payloads.append(
                XMLNode(
                    "ei:interval",
                    [
                        dtstart(start), duration(seconds),
                        XMLNode(
                            "oadr:oadrReportPayload",
                            [XMLNode("ei:rID", rID), value]
                                + (rID == powerRID ? [XMLNode("oadr:oadrDataQuality", quality)] : [])),
                    ]))
        }
        let name = request.specifierID == statusSpecifierID ? "TELEMETRY_STATUS" : "TELEMETRY_USAGE"
        let report = XMLNode(
            "oadr:oadrReport",
            [
                dtstart(start), duration(seconds), XMLNode("strm:intervals", payloads),
                XMLNode("ei:eiReportID", reportID), XMLNode("ei:reportRequestID", request.reportRequestID),
                XMLNode("ei:reportSpecifierID", request.specifierID), XMLNode("ei:reportName", name),
                XMLNode("ei:createdDateTime", ISO8601.format(createdAt)),
            ])
        return OADRMessage.document(
            OADRMessage.message(
                "oadrUpdateReport", [XMLNode("pyld:requestID", requestID), report, XMLNode("ei:venID", venID)]))
    }

    /// `oadrCreatedReport` (EiReport): the report requests now pending.
    public static func created(requestID: String, venID: String, pending: [String]) -> String {
        pendingReply("oadrCreatedReport", requestID: requestID, venID: venID, pending: pending)
    }

    /// `oadrCanceledReport` (EiReport): the report requests still pending after a cancellation.
    public static func canceled(requestID: String, venID: String, pending: [String]) -> String {
        pendingReply("oadrCanceledReport", requestID: requestID, venID: venID, pending: pending)
    }

    /// `oadrRegisteredReport` (EiReport): the answer to a VTN's own `oadrRegisterReport` (FlexMiner asks
    /// for none of the VTN's reports).
    public static func registered(requestID: String, venID: String) -> String {
        OADRMessage.document(
            OADRMessage.message(
                "oadrRegisteredReport",
                [
                    OADRMessage.eiResponse(code: 200, description: "OK", requestID: requestID),
                    XMLNode("ei:venID", venID),
                ]))
    }

    static func pendingReply(_ name: String, requestID: String, venID: String, pending: [String]) -> String {
        OADRMessage.document(
            OADRMessage.message(
                name,
                [
                    OADRMessage.eiResponse(code: 200, description: "OK", requestID: requestID),
                    XMLNode("oadr:oadrPendingReports", pending.map { XMLNode("ei:reportRequestID", $0) }),
                    XMLNode("ei:venID", venID),
                ]))
    }
}
