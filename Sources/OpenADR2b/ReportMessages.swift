import FlexSupport
import Foundation
import OpenADR

/// The reports FlexMiner offers: real power (`TELEMETRY_USAGE`) and the resource's status
/// (`TELEMETRY_STATUS`), one data point each.
package enum OADRReport {
    /// The `rID` of the real-power data point.
    package static let powerRID = "flexminer-power"
    /// The `rID` of the status data point.
    package static let statusRID = "flexminer-status"
    /// The report specifier ids of the two metadata reports.
    package static let usageSpecifierID = "flexminer-telemetry-usage"
    package static let statusSpecifierID = "flexminer-telemetry-status"

    /// A power reading for `oadrUpdateReport`.
    package struct Reading: Sendable, Hashable {
        package var watts: Double
        /// Measured by a meter or RAPL (`Quality Good`), else the model's estimate (`Quality Uncertain`).
        package var measured: Bool
        /// Whether the load is drawing (not halted) for the status report.
        package var online: Bool

        package init(watts: Double, measured: Bool, online: Bool) {
            self.watts = watts
            self.measured = measured
            self.online = online
        }
    }

    /// The grid's AC nature for `power:powerAttributes` (required by the schema for real power).
    package struct Supply: Sendable, Hashable {
        package var hertz: Double = 60
        package var voltage: Double = 240
        package init(hertz: Double = 60, voltage: Double = 240) {
            self.hertz = hertz
            self.voltage = voltage
        }
    }

    static func duration(_ seconds: Double) -> WriteElement {
        WriteElement("xcal:duration", [WriteElement("xcal:duration", ISODuration.format(seconds: seconds))])
    }

    static func dtstart(_ date: Date) -> WriteElement {
        WriteElement("xcal:dtstart", [WriteElement("xcal:date-time", ISO8601.format(date))])
    }

    static func number(_ v: Double) -> String {
        guard v.isFinite else { return "0" }
        return v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v)
    }

    static func description(rID: String, resourceID: String, usage: Bool, supply: Supply) -> WriteElement {
        var c = [
            WriteElement("ei:rID", rID),
            WriteElement("ei:reportDataSource", [WriteElement("ei:resourceID", resourceID)]),
            WriteElement("ei:reportType", usage ? "usage" : "x-resourceStatus"),
        ]
        if usage {
            c.append(
                WriteElement(
                    "power:powerReal",
                    [
                        WriteElement("power:itemDescription", "RealPower"), WriteElement("power:itemUnits", "W"),
                        WriteElement("scale:siScaleCode", "none"),
                        WriteElement(
                            "power:powerAttributes",
                            [
                                WriteElement("power:hertz", number(supply.hertz)),
                                WriteElement("power:voltage", number(supply.voltage)), WriteElement("power:ac", "true"),
                            ]),
                    ]))
        }
        c.append(WriteElement("ei:readingType", usage ? "Direct Read" : "x-notApplicable"))
        c.append(
            WriteElement(
                "oadr:oadrSamplingRate",
                [
                    WriteElement("oadr:oadrMinPeriod", "PT1S"), WriteElement("oadr:oadrMaxPeriod", "PT1H"),
                    WriteElement("oadr:oadrOnChange", "false"),
                ]))
        return WriteElement("oadr:oadrReportDescription", c)
    }

    /// `oadrRegisterReport` (EiReport): the two metadata reports.
    package static func register(
        requestID: String, venID: String, resourceID: String, createdAt: Date, supply: Supply = Supply()
    ) -> String {
        func metadata(_ name: String, _ specifier: String, _ rID: String, usage: Bool) -> WriteElement {
            WriteElement(
                "oadr:oadrReport",
                [
                    duration(3600),
                    description(rID: rID, resourceID: resourceID, usage: usage, supply: supply),
                    WriteElement("ei:reportRequestID", "0"), WriteElement("ei:reportSpecifierID", specifier),
                    WriteElement("ei:reportName", name), WriteElement("ei:createdDateTime", ISO8601.format(createdAt)),
                ])
        }
        return OADRMessage.document(
            OADRMessage.message(
                "oadrRegisterReport",
                [
                    WriteElement("pyld:requestID", requestID),
                    metadata("METADATA_TELEMETRY_USAGE", usageSpecifierID, powerRID, usage: true),
                    metadata("METADATA_TELEMETRY_STATUS", statusSpecifierID, statusRID, usage: false),
                    WriteElement("ei:venID", venID),
                ]))
    }

    /// `oadrUpdateReport` (EiReport): one interval of the report `request` asked for, with a value for each
    /// of its data points that FlexMiner has (power, status).
    package static func update(
        requestID: String, venID: String, request: ReportRequest, reportID: String, reading: Reading,
        start: Date, seconds: Double, createdAt: Date
    ) -> String {
        var payloads: [WriteElement] = []
        for rID in request.rIDs where rID == powerRID || rID == statusRID {
            let quality = reading.measured ? "Quality Good - Non Specific" : "Quality Uncertain - Non Specific"
            let value =
                rID == powerRID
                ? WriteElement("ei:payloadFloat", [WriteElement("ei:value", number(reading.watts))])
                : WriteElement(
                    "oadr:oadrPayloadResourceStatus",
                    [
                        WriteElement("oadr:oadrOnline", reading.online ? "true" : "false"),
                        WriteElement("oadr:oadrManualOverride", "false"),
                    ])
            payloads.append(
                WriteElement(
                    "ei:interval",
                    [
                        dtstart(start), duration(seconds),
                        WriteElement(
                            "oadr:oadrReportPayload",
                            [WriteElement("ei:rID", rID), value]
                                + (rID == powerRID ? [WriteElement("oadr:oadrDataQuality", quality)] : [])),
                    ]))
        }
        let name = request.specifierID == statusSpecifierID ? "TELEMETRY_STATUS" : "TELEMETRY_USAGE"
        let report = WriteElement(
            "oadr:oadrReport",
            [
                dtstart(start), duration(seconds), WriteElement("strm:intervals", payloads),
                WriteElement("ei:eiReportID", reportID), WriteElement("ei:reportRequestID", request.reportRequestID),
                WriteElement("ei:reportSpecifierID", request.specifierID), WriteElement("ei:reportName", name),
                WriteElement("ei:createdDateTime", ISO8601.format(createdAt)),
            ])
        return OADRMessage.document(
            OADRMessage.message(
                "oadrUpdateReport",
                [WriteElement("pyld:requestID", requestID), report, WriteElement("ei:venID", venID)]))
    }

    /// `oadrCreatedReport` (EiReport): the report requests now pending.
    package static func created(requestID: String, venID: String, pending: [String]) -> String {
        pendingReply("oadrCreatedReport", requestID: requestID, venID: venID, pending: pending)
    }

    /// `oadrCanceledReport` (EiReport): the report requests still pending after a cancellation.
    package static func canceled(requestID: String, venID: String, pending: [String]) -> String {
        pendingReply("oadrCanceledReport", requestID: requestID, venID: venID, pending: pending)
    }

    /// `oadrRegisteredReport` (EiReport): the answer to a VTN's own `oadrRegisterReport` (FlexMiner asks
    /// for none of the VTN's reports).
    package static func registered(requestID: String, venID: String) -> String {
        OADRMessage.document(
            OADRMessage.message(
                "oadrRegisteredReport",
                [
                    OADRMessage.eiResponse(code: 200, description: "OK", requestID: requestID),
                    WriteElement("ei:venID", venID),
                ]))
    }

    static func pendingReply(_ name: String, requestID: String, venID: String, pending: [String]) -> String {
        OADRMessage.document(
            OADRMessage.message(
                name,
                [
                    OADRMessage.eiResponse(code: 200, description: "OK", requestID: requestID),
                    WriteElement("oadr:oadrPendingReports", pending.map { WriteElement("ei:reportRequestID", $0) }),
                    WriteElement("ei:venID", venID),
                ]))
    }
}
