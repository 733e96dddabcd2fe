import Foundation

extension VENMachine {
    /// How often a report request is answered: its `reportBackDuration`, else its granularity, at least 1 s
    /// (0 for both: once, a second from now).
    func reportPeriod(_ r: ReportRequest) -> Double {
        max(1, r.reportBackSeconds > 0 ? r.reportBackSeconds : r.granularitySeconds)
    }

    /// Takes on the VTN's report requests (replacing any with the same id) and answers `oadrCreatedReport`.
    mutating func adoptReports(
        _ requests: [ReportRequest], now: Date, _ out: inout [Action], answering requestID: String = ""
    ) {
        guard let reg = registration else { return }
        for r in requests {
            guard r.specifierID == OADRReport.usageSpecifierID || r.specifierID == OADRReport.statusSpecifierID else {
                logOnce(
                    .info, "openadr2b: report specifier \(r.specifierID.prefix(60)) is not one FlexMiner offers", &out)
                continue
            }
            reportRequests.removeAll { $0.reportRequestID == r.reportRequestID }
            guard reportRequests.count < VTNMessage.maximumItems else { break }
            reportRequests.append(r)
            nextReport[r.reportRequestID] = now.addingTimeInterval(reportPeriod(r))
            out.append(
                .log(
                    .info,
                    "openadr2b: reporting \(r.specifierID) (request \(r.reportRequestID)) every \(reportPeriod(r)) s"))
        }
        save(&out)
        // The answer goes before anything else queued (the event request after registration).
        outbox.insert(
            Outgoing(
                service: .eiReport,
                body: OADRReport.created(
                    requestID: requestID, venID: reg.venID, pending: reportRequests.map(\.reportRequestID)),
                request: .acknowledgement("oadrCreatedReport")), at: 0)
    }

    /// Queues an `oadrUpdateReport` for each report request that is due.
    mutating func queueDueReports(now: Date, reading: OADRReport.Reading?, _ out: inout [Action]) {
        guard let reg = registration else { return }
        for r in reportRequests {
            guard let due = nextReport[r.reportRequestID], due <= now else { continue }
            let period = reportPeriod(r)
            // A one-shot request (no period) is answered once and dropped.
            let once = r.reportBackSeconds <= 0 && r.granularitySeconds <= 0
            nextReport[r.reportRequestID] = once ? nil : max(due.addingTimeInterval(period), now)
            guard let reading else {
                logOnce(.warning, "openadr2b: no power reading for report \(r.reportRequestID)", &out)
                continue
            }
            counter += 1
            queue(
                .eiReport,
                OADRReport.update(
                    requestID: nextRequestID(), venID: reg.venID, request: r,
                    reportID: "\(config.requestPrefix)-report-\(counter)", reading: reading,
                    start: now.addingTimeInterval(-period), seconds: period, createdAt: now),
                .acknowledgement("oadrUpdateReport"))
            status.reportsSent += 1
        }
        if reportRequests.contains(where: { nextReport[$0.reportRequestID] == nil }) {
            reportRequests.removeAll { nextReport[$0.reportRequestID] == nil }
            save(&out)
        }
    }
}
