import FlexSupport
import Foundation

/// FlexMiner as an OpenADR 2.0b VEN (B profile, simple HTTP pull) as a pure state machine, in the shape of
/// `PoolSession`: the shell feeds it what happened (`start`, the reply to the request in flight, a failure,
/// ticks with the current power reading) and performs the actions it returns, in order. It does no I/O
/// and reads no clock, so registration, polling, opt-in responses, cancellations, re-registration, reports
/// and the backoff after a failure are tested with tables of inputs and actions.
///
/// One request is in flight at a time (simple HTTP pull is a conversation of one VEN with one VTN): after a
/// `.send` the shell feeds `.reply` or `.failed` before anything else but `.tick`.
package struct VENMachine: Sendable {
    /// The settings (`--openadr-*`).
    package struct Configuration: Sendable {
        package var venName: String
        /// The VTN's id when the operator pins it (`--openadr-vtn-id`): another VTN is refused.
        package var vtnID: String?
        /// `--openadr-market-context`: follow (and opt into) only this program's events; others are opted
        /// out of. Nil: every event.
        package var marketContext: String?
        /// `--openadr-poll`: poll at least this often, whatever the VTN asks.
        package var pollLimitSeconds: Double
        /// The resource named in reports.
        package var resourceID: String
        package var planner: EventPlanner
        package var retryInitial: Double
        package var retryMax: Double
        /// Makes request ids unique across restarts (the shell gives a random one).
        package var requestPrefix: String
        /// Whether the shell signs messages (XML Signature): said in `oadrCreatePartyRegistration`.
        package var xmlSignature: Bool

        package init(
            venName: String, vtnID: String? = nil, marketContext: String? = nil, pollLimitSeconds: Double = 10,
            resourceID: String? = nil, planner: EventPlanner, retryInitial: Double = 1, retryMax: Double = 60,
            requestPrefix: String = "fm", xmlSignature: Bool = false
        ) {
            self.xmlSignature = xmlSignature
            self.venName = venName
            self.vtnID = vtnID
            self.marketContext = marketContext
            self.pollLimitSeconds = pollLimitSeconds
            self.resourceID = resourceID ?? venName
            self.planner = planner
            self.retryInitial = retryInitial
            self.retryMax = retryMax
            self.requestPrefix = requestPrefix
        }
    }

    /// The 2.0b services under the VTN's prefix.
    package enum Service: String, Sendable, Hashable {
        case eiRegisterParty = "EiRegisterParty"
        case oadrPoll = "OadrPoll"
        case eiEvent = "EiEvent"
        case eiReport = "EiReport"
    }

    /// What the shell tells the machine.
    package enum Input: Sendable {
        /// Begin: register, or resume the registration of `restoring` (the state file).
        case start(now: Date, restoring: Snapshot?)
        /// The VTN's answer to the request in flight (the HTTP body of a 2xx).
        case reply([UInt8], now: Date)
        /// The request in flight got no answer: the connection failed, or an HTTP error status. `refused`
        /// for a 4xx: the VTN will refuse it again until a setting changes (logged at `error`, and retried
        /// at the longest backoff rather than hammering the VTN).
        case failed(String, now: Date, refused: Bool = false)
        /// Time passed (at or after the last `.wake`), with what the load draws now (nil: unknown).
        case tick(now: Date, reading: OADRReport.Reading?)
    }

    package enum LogLevel: String, Sendable, Hashable { case info, warning, error }

    /// What the shell does, in order.
    package enum Action: Sendable, Hashable {
        /// POST `body` to the service; then feed `.reply` or `.failed`.
        case send(Service, body: String)
        /// Feed a `.tick` at this time (earlier is harmless).
        case wake(at: Date)
        /// The intervals to follow from now on (replacing the previous ones: an id that is gone was cancelled).
        case schedule([ScheduledInterval])
        /// Write the state file.
        case save(Snapshot)
        /// Remove the state file (the VTN cancelled the registration).
        case forget
        case log(LogLevel, String)
    }

    /// What survives a restart: the registration, the events known and the answers given.
    package struct Snapshot: Sendable, Hashable, Codable {
        package var venID: String
        package var registrationID: String
        package var vtnID: String
        package var pollSeconds: Double?
        package var events: [DistributedEvent]
        /// Event id → the modification number opted into.
        package var responded: [String: Int]
        package var reportRequests: [ReportRequest]
        /// The events answered with optOut (another market context).
        package var optedOut: [String]?

        package init(
            venID: String, registrationID: String, vtnID: String, pollSeconds: Double?, events: [DistributedEvent],
            responded: [String: Int], reportRequests: [ReportRequest], optedOut: [String]? = nil
        ) {
            self.optedOut = optedOut
            self.venID = venID
            self.registrationID = registrationID
            self.vtnID = vtnID
            self.pollSeconds = pollSeconds
            self.events = events
            self.responded = responded
            self.reportRequests = reportRequests
        }
    }

    /// What `/status` shows.
    package struct Status: Sendable, Hashable {
        package var registered = false
        package var venID: String?
        package var registrationID: String?
        package var vtnID: String?
        package var lastPoll: Date?
        package var eventsKnown = 0
        /// Event id → the modification number opted into.
        package var optedIn: [String: Int] = [:]
        package var reportsSent = 0
        package var failures = 0
        package var lastError: String?

        package init() {}
    }

    /// What the request in flight was.
    enum Request: Sendable, Hashable {
        case queryRegistration, createPartyRegistration, registerReport, poll, requestEvent
        case createdEvent([OADRMessage.EventResponse])
        /// Replies whose own answer needs no action (acknowledgements, report updates).
        case acknowledgement(String)
    }

    struct Outgoing: Sendable, Hashable {
        let service: Service
        let body: String
        let request: Request
    }

    let config: Configuration
    var registration: (venID: String, registrationID: String)?
    var vtnID: String?
    var requestedPollSeconds: Double?
    var inFlight: Request?
    var outbox: [Outgoing] = []
    var retryAt: Date?
    var nextPoll: Date?
    var backoff: Backoff
    var events: [DistributedEvent] = []
    var responded: [String: Int] = [:]
    var optedOut: Set<String> = []
    var reportRequests: [ReportRequest] = []
    var nextReport: [String: Date] = [:]
    var counter = 0
    var logged: Set<String> = []
    package internal(set) var status = Status()

    package init(_ config: Configuration) {
        self.config = config
        backoff = Backoff(startSeconds: config.retryInitial, maxSeconds: config.retryMax)
    }

    /// How often to poll: the VTN's `oadrRequestedOadrPollFreq`, at most `--openadr-poll`, at least 1 s.
    var pollSeconds: Double {
        max(1, min(requestedPollSeconds ?? config.pollLimitSeconds, config.pollLimitSeconds))
    }

    mutating func nextRequestID() -> String {
        counter += 1
        return "\(config.requestPrefix)-\(counter)"
    }

    /// Feeds one input; returns what to do, in order.
    package mutating func event(_ input: Input) -> [Action] {
        var out: [Action] = []
        let now: Date
        switch input {
        case .start(let t, let snapshot):
            now = t
            start(snapshot, now: now, &out)
        case .reply(let bytes, let t):
            now = t
            guard let request = inFlight else { return [.log(.warning, "openadr2b: a reply with no request")] }
            inFlight = nil
            handleReply(request, bytes, now: now, &out)
        case .failed(let why, let t, let refused):
            now = t
            guard let request = inFlight else { return [] }
            inFlight = nil
            if refused {
                backoff.saturate()
                fail(
                    "the VTN refused \(request.name) (\(why)): a setting or conformance problem", now: now,
                    level: .error, &out)
            } else {
                fail("the VTN did not answer: \(why)", now: now, &out)
            }
        case .tick(let t, let reading):
            now = t
            queueDueReports(now: now, reading: reading, &out)
        }
        pump(now: now, &out)
        return out
    }

    mutating func start(_ snapshot: Snapshot?, now: Date, _ out: inout [Action]) {
        guard let s = snapshot else {
            queueRegistrationQuery()
            return
        }
        registration = (s.venID, s.registrationID)
        vtnID = s.vtnID
        requestedPollSeconds = s.pollSeconds
        events = s.events
        responded = s.responded
        optedOut = Set(s.optedOut ?? [])
        reportRequests = s.reportRequests
        for r in reportRequests { nextReport[r.reportRequestID] = now.addingTimeInterval(reportPeriod(r)) }
        out.append(.log(.info, "openadr2b: resuming registration \(s.registrationID) as VEN \(s.venID)"))
        emitSchedule(now: now, &out)
        // The VTN may have changed events while FlexMiner was down: ask for all of them.
        queue(.eiEvent, OADRMessage.requestEvent(requestID: nextRequestID(), venID: s.venID), .requestEvent)
        refreshStatus()
    }

    mutating func queueRegistrationQuery() {
        outbox.removeAll()
        queue(.eiRegisterParty, OADRMessage.queryRegistration(requestID: nextRequestID()), .queryRegistration)
    }

    mutating func queue(_ service: Service, _ body: String, _ request: Request) {
        outbox.append(Outgoing(service: service, body: body, request: request))
    }

    /// Sends the next message when nothing is in flight, else says when to wake.
    mutating func pump(now: Date, _ out: inout [Action]) {
        guard inFlight == nil else { return }
        if outbox.isEmpty, let r = retryAt {
            guard r <= now else { return out.append(.wake(at: r)) }
            retryAt = nil
            if let reg = registration {
                queue(.eiEvent, OADRMessage.requestEvent(requestID: nextRequestID(), venID: reg.venID), .requestEvent)
            } else {
                queueRegistrationQuery()
            }
        }
        if outbox.isEmpty, let reg = registration, (nextPoll ?? now) <= now {
            queue(.oadrPoll, OADRMessage.poll(venID: reg.venID), .poll)
        }
        if !outbox.isEmpty {
            let next = outbox.removeFirst()
            inFlight = next.request
            out.append(.send(next.service, body: next.body))
            return
        }
        let wakes = [nextPoll].compactMap { $0 } + nextReport.values
        if let w = wakes.min() { out.append(.wake(at: w)) }
    }

    /// A failed exchange: back off, keep the schedule, and start again where it makes sense (the events,
    /// registered; the registration query, not).
    mutating func fail(_ message: String, now: Date, level: LogLevel = .warning, _ out: inout [Action]) {
        outbox.removeAll()
        let delay = backoff.next()
        retryAt = now.addingTimeInterval(delay.seconds)
        status.failures += 1
        status.lastError = message
        out.append(.log(level, "openadr2b: \(message); retrying in \(String(format: "%.1f", delay.seconds)) s"))
    }

    mutating func logOnce(_ level: LogLevel, _ text: String, _ out: inout [Action]) {
        guard !logged.contains(text), logged.count < 1000 else { return }
        logged.insert(text)
        out.append(.log(level, text))
    }

    var snapshot: Snapshot? {
        guard let reg = registration else { return nil }
        return Snapshot(
            venID: reg.venID, registrationID: reg.registrationID, vtnID: vtnID ?? "", pollSeconds: requestedPollSeconds,
            events: events, responded: responded, reportRequests: reportRequests,
            optedOut: optedOut.isEmpty ? nil : optedOut.sorted())
    }

    mutating func save(_ out: inout [Action]) {
        if let s = snapshot { out.append(.save(s)) }
        refreshStatus()
    }

    mutating func refreshStatus() {
        status.registered = registration != nil
        status.venID = registration?.venID
        status.registrationID = registration?.registrationID
        status.vtnID = vtnID
        status.eventsKnown = events.count
        status.optedIn = responded.filter { !optedOut.contains($0.key) }
    }

    /// The schedule of every known event from `now`, and the notes on what was ignored (each logged once).
    mutating func emitSchedule(now: Date, _ out: inout [Action]) {
        var all: [ScheduledInterval] = []
        for e in events where follows(e) {
            let (intervals, ignored) = config.planner.plan(e, now: now)
            all += intervals
            for note in ignored { logOnce(.info, "openadr2b: \(note)", &out) }
        }
        out.append(.schedule(all))
    }

    /// Whether the event is in the configured market context (every event without one).
    func follows(_ e: DistributedEvent) -> Bool {
        config.marketContext.map { $0 == e.marketContext } ?? true
    }
}
