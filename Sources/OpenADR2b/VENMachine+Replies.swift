import FlexSupport
import Foundation

extension VENMachine {
    /// The VTN's answer to `request`.
    mutating func handleReply(_ request: Request, _ bytes: [UInt8], now: Date, _ out: inout [Action]) {
        let message: VTNMessage
        do {
            message = try VTNMessage.parse(bytes)
        } catch {
            return fail("the reply to \(request.name) is refused: \(error.message)", now: now, level: .error, &out)
        }
        switch (request, message) {
        case (.queryRegistration, .createdPartyRegistration(let r)):
            guard checkRegistration(r, request: request, now: now, &out) else { return }
            queue(
                .eiRegisterParty,
                OADRMessage.createPartyRegistration(
                    requestID: nextRequestID(),
                    OADRMessage.Registration(venName: config.venName, xmlSignature: config.xmlSignature)),
                .createPartyRegistration)
        case (.createPartyRegistration, .createdPartyRegistration(let r)):
            guard checkRegistration(r, request: request, now: now, &out) else { return }
            guard let venID = r.venID, let registrationID = r.registrationID else {
                return fail(
                    "oadrCreatedPartyRegistration has no venID or registrationID", now: now, level: .error, &out)
            }
            registered(venID: venID, registrationID: registrationID, now: now, &out)
        case (.createdEvent(let responses), .response(let r)):
            guard r.ok else {
                return fail("the VTN refused oadrCreatedEvent: \(r.code) \(r.description)", now: now, &out)
            }
            for x in responses {
                responded[x.eventID] = x.modificationNumber
                if x.optIn { optedOut.remove(x.eventID) } else { optedOut.insert(x.eventID) }
            }
            backoff.reset()
            save(&out)
        case (.registerReport, .registeredReport(let r, let requests)):
            guard r.ok else {
                return fail("the VTN refused oadrRegisterReport: \(r.code) \(r.description)", now: now, &out)
            }
            // Some VTNs put their report requests here rather than in a later oadrCreateReport.
            if !requests.isEmpty { adoptReports(requests, now: now, &out) }
        case (.registerReport, .response(let r)) where r.ok:
            break  // a VTN with no report requests may answer with a plain oadrResponse
        case (_, .response(let r)) where !r.ok:
            // A poll or request refused (the VTN no longer knows this VEN, typically): register again.
            out.append(.log(.error, "openadr2b: the VTN refused \(request.name): \(r.code) \(r.description)"))
            status.lastError = "\(request.name) refused: \(r.code)"
            registration = nil
            refreshStatus()
            queueRegistrationQuery()
        case (.poll, _), (.requestEvent, _):
            backoff.reset()
            status.lastPoll = now
            nextPoll = now.addingTimeInterval(pollSeconds)
            handleVTNMessage(message, now: now, &out)
        case (.acknowledgement, _):
            break
        default:
            out.append(.log(.warning, "openadr2b: unexpected \(message.name) in reply to \(request.name) (ignored)"))
        }
    }

    /// Checks an `oadrCreatedPartyRegistration`; false (after failing) when it refuses or is from another VTN.
    mutating func checkRegistration(
        _ r: CreatedPartyRegistration, request: Request, now: Date, _ out: inout [Action]
    ) -> Bool {
        guard r.response.ok else {
            fail("the VTN refused \(request.name): \(r.response.code) \(r.response.description)", now: now, &out)
            return false
        }
        if let pinned = config.vtnID, pinned != r.vtnID {
            backoff.saturate()
            fail(
                "the VTN is \"\(r.vtnID.prefix(60))\", not \(pinned) (--openadr-vtn-id)", now: now, level: .error, &out)
            return false
        }
        if !r.profiles.isEmpty, !r.profiles.contains("2.0b") {
            backoff.saturate()
            fail(
                "the VTN offers profiles \(r.profiles.joined(separator: ", ")), not 2.0b", now: now, level: .error, &out
            )
            return false
        }
        vtnID = r.vtnID
        if let p = r.pollSeconds, p > 0 { requestedPollSeconds = p }
        return true
    }

    mutating func registered(venID: String, registrationID: String, now: Date, _ out: inout [Action]) {
        registration = (venID, registrationID)
        backoff.reset()
        out.append(
            .log(
                .info,
                "openadr2b: registered as VEN \(venID) (registration \(registrationID)), polling every \(pollSeconds) s"
            ))
        save(&out)
        queue(
            .eiReport,
            OADRReport.register(
                requestID: nextRequestID(), venID: venID, resourceID: config.resourceID, createdAt: now),
            .registerReport)
        queue(.eiEvent, OADRMessage.requestEvent(requestID: nextRequestID(), venID: venID), .requestEvent)
        nextPoll = now.addingTimeInterval(pollSeconds)
    }

    /// The VTN cancelled the registration: forget it and the events, and register again after a while.
    mutating func dropRegistration(now: Date, _ out: inout [Action]) {
        registration = nil
        events = []
        responded = [:]
        reportRequests = []
        nextReport = [:]
        nextPoll = nil
        emitSchedule(now: now, &out)
        save(&out)
        out.append(.forget)
        // Registering again at once would most likely be cancelled again: wait the longest backoff.
        backoff.saturate()
        let delay = backoff.next()
        retryAt = now.addingTimeInterval(delay.seconds)
        status.lastError = "the VTN cancelled this VEN's registration"
        out.append(
            .log(
                .error,
                "openadr2b: the VTN cancelled this VEN's registration; registering again in "
                    + "\(String(format: "%.0f", delay.seconds)) s"))
    }

    /// A message the VTN sent in answer to a poll or an event request.
    mutating func handleVTNMessage(_ message: VTNMessage, now: Date, _ out: inout [Action]) {
        guard let reg = registration else { return }
        switch message {
        case .distributeEvent(let d):
            handleDistribution(d, venID: reg.venID, now: now, &out)
        case .createReport(let requestID, let requests):
            adoptReports(requests, now: now, &out, answering: requestID)
        case .cancelReport(let requestID, let id):
            reportRequests.removeAll { $0.reportRequestID == id }
            nextReport[id] = nil
            save(&out)
            queue(
                .eiReport,
                OADRReport.canceled(
                    requestID: requestID, venID: reg.venID, pending: reportRequests.map(\.reportRequestID)),
                .acknowledgement("oadrCanceledReport"))
        case .registerReport(let requestID):
            queue(
                .eiReport, OADRReport.registered(requestID: requestID, venID: reg.venID),
                .acknowledgement("oadrRegisteredReport"))
        case .registeredReport(_, let requests):
            if !requests.isEmpty { adoptReports(requests, now: now, &out) }
        case .requestReregistration:
            out.append(.log(.info, "openadr2b: the VTN asks this VEN to register again"))
            queue(
                .eiRegisterParty, OADRMessage.response(requestID: "", venID: reg.venID),
                .acknowledgement("oadrResponse"))
            queue(
                .eiRegisterParty,
                OADRMessage.createPartyRegistration(
                    requestID: nextRequestID(),
                    OADRMessage.Registration(
                        venName: config.venName, venID: reg.venID, registrationID: reg.registrationID,
                        xmlSignature: config.xmlSignature)),
                .createPartyRegistration)
        case .cancelPartyRegistration(let requestID, let registrationID):
            queue(
                .eiRegisterParty,
                OADRMessage.canceledPartyRegistration(
                    requestID: requestID, registrationID: registrationID, venID: reg.venID),
                .acknowledgement("oadrCanceledPartyRegistration"))
            dropRegistration(now: now, &out)
        case .response, .createdPartyRegistration, .canceledPartyRegistration:
            break
        case .other(let name):
            logOnce(.info, "openadr2b: \(name) from the VTN is not acted on", &out)
        }
    }

    /// Every event the VTN has: new and modified ones answered (when the VTN asks), the missing ones
    /// cancelled, the schedule replaced.
    mutating func handleDistribution(_ d: Distribution, venID: String, now: Date, _ out: inout [Action]) {
        let ids = Set(d.events.map(\.eventID))
        for gone in events where !ids.contains(gone.eventID) {
            out.append(.log(.info, "openadr2b: event \(gone.eventID) is no longer distributed: cancelled"))
            responded[gone.eventID] = nil
            optedOut.remove(gone.eventID)
        }
        var responses: [OADRMessage.EventResponse] = []
        for e in d.events where e.responseRequired && responded[e.eventID] != e.modificationNumber {
            if !follows(e) {
                logOnce(
                    .info,
                    "openadr2b: event \(e.eventID.prefix(60)) is for market context \(e.marketContext.prefix(100)), "
                        + "not \(config.marketContext ?? ""): opted out", &out)
            }
            responses.append(
                OADRMessage.EventResponse(
                    eventID: e.eventID, modificationNumber: e.modificationNumber, requestID: d.requestID,
                    optIn: follows(e)))
        }
        for e in d.events where events.first(where: { $0.eventID == e.eventID }) != e {
            out.append(
                .log(
                    .info,
                    "openadr2b: event \(e.eventID) modification \(e.modificationNumber) (status \(e.status), "
                        + "start \(ISO8601.format(e.start)))"))
        }
        events = d.events
        emitSchedule(now: now, &out)
        save(&out)
        if !responses.isEmpty {
            queue(.eiEvent, OADRMessage.createdEvent(venID: venID, responses: responses), .createdEvent(responses))
        }
    }
}

extension VENMachine.Request {
    /// The message's name, for logs.
    var name: String {
        switch self {
        case .queryRegistration: "oadrQueryRegistration"
        case .createPartyRegistration: "oadrCreatePartyRegistration"
        case .registerReport: "oadrRegisterReport"
        case .poll: "oadrPoll"
        case .requestEvent: "oadrRequestEvent"
        case .createdEvent: "oadrCreatedEvent"
        case .acknowledgement(let n): n
        }
    }
}

extension VTNMessage {
    /// The message's name, for logs.
    var name: String {
        switch self {
        case .createdPartyRegistration: "oadrCreatedPartyRegistration"
        case .response: "oadrResponse"
        case .distributeEvent: "oadrDistributeEvent"
        case .requestReregistration: "oadrRequestReregistration"
        case .cancelPartyRegistration: "oadrCancelPartyRegistration"
        case .canceledPartyRegistration: "oadrCanceledPartyRegistration"
        case .registeredReport: "oadrRegisteredReport"
        case .createReport: "oadrCreateReport"
        case .cancelReport: "oadrCancelReport"
        case .registerReport: "oadrRegisterReport"
        case .other(let n): n
        }
    }
}
