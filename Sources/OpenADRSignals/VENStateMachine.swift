import FlexSupport
import Foundation
import OpenADR

/// The OpenADR 3 VEN as a pure state machine (the shape of AsyncHTTPClient's
/// `HTTPConnectionPool.StateMachine`, and of the stratum `PoolSession`): `OpenADRSource` feeds it what
/// happened (a request's result, a notification, a timer, the clock reaching an interval) and performs
/// the actions it returns, in order. The machine does no I/O, reads no clock and logs nothing itself, so
/// enrolment, subscription, poll or webhook mode, backoff, the error an operator sees, and which
/// interval is curtailed or released at which second are tested with tables of events and actions,
/// without a VTN, a socket or a sleep.
///
/// One request is outstanding at a time on the network side: each of `.readProgram`, `.registerVEN`,
/// `.subscribe` and `.readEvents` is answered by exactly one result event (or `.failed`), and `.wait` by
/// `.woke`. The schedule side (`VENStateMachine+Schedule.swift`) answers `.tick` with the lines to send.
package struct VENStateMachine: Sendable {
    /// What the shell tells the machine.
    package enum Event: Sendable, Hashable {
        /// The state file's content (read before `started`).
        case restored(OpenADRState)
        /// The network task starts; `callbackPort` is where the notification callback listens (nil: none).
        case started(callbackPort: Int?)
        /// The program named in the settings, as the VTN has it (`.readProgram`).
        case programFound(Program)
        /// The VEN record's id (`.registerVEN`; a 409 is adopted by the client).
        case registered(venID: String)
        /// The subscription's id (`.subscribe`).
        case subscribed(id: String)
        /// The VTN refused the subscription, or did not answer it.
        case subscriptionFailed(OpenADRError)
        /// The events the VTN shows this VEN (`.readEvents`).
        case eventsRead([OpenADR.Event])
        /// `.readProgram`, `.registerVEN` or `.readEvents` failed.
        case failed(OpenADRError)
        /// The wait asked for with `.wait` is over (its time, or a notification).
        case woke
        /// The VTN called the notification callback (authorised).
        case notification
        /// The schedule's clock: `drawing` is the controller's effective capacity (0 while halted),
        /// `energy` the measured source's energy counter (joules; nil without one).
        case tick(drawing: Double, energy: Double?)
        /// A curtail for this interval was accepted by the controller at this time (for the latency).
        case delivered(intervalID: String, at: Date)
        /// The VTN took this report.
        case reportSent(IntervalReport)
        /// The VTN did not take this report.
        case reportFailed(IntervalReport, OpenADRError)
        /// Shutdown: the subscription (if any) is removed with `.unsubscribe`.
        case stop
        /// The subscription was removed (`.unsubscribe`).
        case unsubscribed(id: String)
    }

    /// What the shell does, in order.
    package enum Action: Sendable, Hashable {
        case readProgram(String)
        case registerVEN(String)
        /// Remove `replacing` (a stale one; errors ignored), then subscribe; feed `.subscribed` or
        /// `.subscriptionFailed`.
        case subscribe(callbackURL: String, programID: String?, replacing: String?)
        case readEvents(programID: String?)
        /// `{"type":"heartbeat"}` to the controller: the VTN answered.
        case heartbeat
        /// A protocol v1 line to the controller; `intervalID`: a curtail whose latency to note (`.delivered`).
        case send(line: String, intervalID: String?)
        /// Read the controller's capacity and the energy counter, and feed `.tick`.
        case reconcile
        /// Write the state file (`state`).
        case save
        case note(String)
        /// A note given once per run (the same text is not repeated).
        case noteOnce(String)
        /// An error the operator must act on (the log's `error` level).
        case alert(String)
        /// Sleep this long, or until a notification; then feed `.woke`.
        case wait(Duration)
        /// End the current `.wait` now (a notification came).
        case wakeNetwork
        /// A report is waiting: wake the report task.
        case wakeReports
        /// The report task waits this long (or until woken) before the next try.
        case retryReports(after: Duration)
        /// The network task ends (only a change of settings helps).
        case endNetwork
        case unsubscribe(String)
    }

    /// What `/status` shows besides the counters: how the source gets events and what went wrong.
    package struct Health: Sendable, Hashable {
        package var subscribed = false
        package var currentPollSeconds: Double = 15
        package var state = "enrolling"
        package var lastRead: ContinuousClock.Instant?
        package var error: OpenADRError?
        package var errorSince: Date?
        package var subscriptionError: OpenADRError?
        package var reportError: OpenADRError?
    }

    /// An interval in effect in the controller.
    package struct Applied: Sendable, Hashable {
        package var planned: PlannedInterval
        /// When the controller accepted the curtail (monotonic), for the active-time integral.
        package var lastSample: ContinuousClock.Instant
        package var activeSeconds: Double
        package var latencyMS: Double?
        /// The measured source's energy counter (joules) when the interval was applied; nil without one.
        package var energyAtStart: Double? = nil
    }

    /// Most reports kept while the VTN cannot take them; older ones are dropped.
    static let maxPendingReports = 256
    /// Most intervals planned ahead at once.
    static let maxPlanned = 10_000
    /// After a refused subscription (4xx), ask again this much later, not on every read.
    static let subscriptionRetry = Duration.seconds(300)

    let configuration: OpenADRSource.Configuration
    /// What the state file keeps.
    package internal(set) var stored = OpenADRState()
    package internal(set) var plan: [String: PlannedInterval] = [:]
    package internal(set) var applied: [String: Applied] = [:]
    /// Price intervals already sent (bounded by the plan: pruned with it).
    var pricesSent: Set<String> = []
    package internal(set) var counters = OpenADRSource.Counters()
    /// Reports waiting to be sent (bounded).
    package internal(set) var pendingReports: [IntervalReport] = []
    package internal(set) var health = Health()
    var callbackPort: Int?
    var enrolled = false
    var subscribed = false
    var nextSubscription: ContinuousClock.Instant?
    var backoff: Backoff
    var reportBackoff: Backoff
    /// The time of the event being taken.
    var now = Date(timeIntervalSince1970: 0)
    var mono = ContinuousClock.now

    package init(configuration: OpenADRSource.Configuration) {
        self.configuration = configuration
        backoff = Backoff(startSeconds: configuration.retryInitial, maxSeconds: configuration.retryMax)
        reportBackoff = backoff
    }

    /// Takes one event at `now` (wall clock, for intervals) and `mono` (monotonic, for durations) and
    /// returns what to do about it, in order.
    package mutating func event(
        _ e: Event, now: Date = Date(), mono: ContinuousClock.Instant = .now
    ) -> [Action] {
        self.now = now
        self.mono = mono
        switch e {
        case .restored(let s): return restored(s)
        case .started(let port):
            callbackPort = port
            return setMode(subscribed: false) + next()
        case .programFound(let p):
            stored.programID = p.id
            let note = Action.note("openadr3: program \(p.name) (\(p.id))")
            if let ven = configuration.venName { return [note, .registerVEN(ven)] }
            return [note] + enrolledNow()
        case .registered(let id):
            stored.venID = id
            return [.note("openadr3: VEN \(configuration.venName ?? "") (\(id))")] + enrolledNow()
        case .subscribed(let id): return subscribedNow(id)
        case .subscriptionFailed(let error): return subscriptionFailed(error)
        case .eventsRead(let events): return eventsRead(events)
        case .failed(let error): return failed(error)
        case .woke: return health.state == "stopped" ? [] : next()
        case .notification:
            counters.notifications += 1
            return [.wakeNetwork]
        case .tick(let drawing, let energy): return tick(drawing: drawing, energy: energy)
        case .delivered(let id, let at):
            guard let start = applied[id]?.planned.start else { return [] }
            // Latency: from the interval's start to the load having responded (the controller applies the
            // decision before it replies).
            applied[id]?.latencyMS = max(0, at.timeIntervalSince(start)) * 1000
            return []
        case .reportSent(let r): return reportSent(r)
        case .reportFailed(let r, let error): return reportFailed(r, error)
        case .stop: return stored.subscriptionID.map { [.unsubscribe($0)] } ?? []
        case .unsubscribed(let id):
            guard stored.subscriptionID == id else { return [] }
            stored.subscriptionID = nil
            return [.note("openadr3: subscription \(id) removed")]
        }
    }

    /// The report the report task sends next, if any.
    package var nextReport: IntervalReport? { pendingReports.first }

    // MARK: Enrolment and reads

    /// The network task's next step: enrol, subscribe when due, else read the events.
    mutating func next() -> [Action] {
        if !enrolled {
            if let program = configuration.program { return [.readProgram(program)] }
            if let ven = configuration.venName { return [.registerVEN(ven)] }
            enrolled = true
            health.state = "enrolled"
        }
        if !subscribed, let port = callbackPort, nextSubscription.map({ mono >= $0 }) ?? true,
            let cb = configuration.callback
        {
            let url = configuration.callbackURL ?? "http://\(HostPort(host: cb.host, port: port))/openadr/callback"
            // A subscription left by a run that did not shut down cleanly would call a dead callback.
            return [.subscribe(callbackURL: url, programID: stored.programID, replacing: stored.subscriptionID)]
        }
        return [.readEvents(programID: stored.programID)]
    }

    mutating func enrolledNow() -> [Action] {
        enrolled = true
        health.state = "enrolled"
        return next()
    }

    mutating func subscribedNow(_ id: String) -> [Action] {
        subscribed = true
        stored.subscriptionID = id
        health.subscriptionError = nil
        let url =
            configuration.callbackURL ?? callbackPort.flatMap { port in
                configuration.callback.map { "http://\(HostPort(host: $0.host, port: port))/openadr/callback" }
            } ?? ""
        return [.save, .note("openadr3: subscribed to EVENT changes (\(id)), callback \(url)")]
            + setMode(subscribed: true) + [.readEvents(programID: stored.programID)]
    }

    /// A VTN that refuses the subscription still serves events: poll meanwhile. A refusal (4xx) will not
    /// mend by itself: ask again in 5 minutes, not on every read.
    mutating func subscriptionFailed(_ error: OpenADRError) -> [Action] {
        nextSubscription = mono + (error.isTransient ? .zero : Self.subscriptionRetry)
        health.subscriptionError = error
        let text = "openadr3: no subscription (\(error.message)); polling every "
        return [report(error, text + "\(Self.seconds(configuration.pollWithoutSubscription)) s")]
            + setMode(subscribed: false) + [.readEvents(programID: stored.programID)]
    }

    /// The VTN answered: the source is alive (heartbeat), the plan follows the events, and the next read
    /// is a mode's period away.
    mutating func eventsRead(_ events: [OpenADR.Event]) -> [Action] {
        counters.polls += 1
        var actions: [Action] = [.heartbeat] + updatePlan(events, save: true)
        health.error = nil
        health.errorSince = nil
        health.lastRead = mono
        backoff.reset()
        actions.append(.wait(nextRead()))
        return actions
    }

    /// Silent: no heartbeat. The controller's fail-safe decides what the load does meanwhile.
    mutating func failed(_ error: OpenADRError) -> [Action] {
        counters.pollFailures += 1
        if health.error == nil { health.errorSince = now }
        health.error = error
        if error.kind == .configuration && error.status == 409 {
            // Only a change of settings helps (the message says which): stop asking.
            health.state = "stopped"
            return [.alert("openadr3: \(error.message); stopped (restart with the change)"), .endNetwork]
        }
        // Settings, credentials or requests the VTN refuses will not mend soon: wait the longest.
        if !error.isTransient { backoff.saturate() }
        let delay = backoff.next()
        return [
            report(error, "openadr3: \(error.message); retrying in \(Int(delay.seconds.rounded(.up))) s"),
            .wait(delay),
        ]
    }

    /// A transient error is a note; anything an operator must fix is an alert (the log's `error` level).
    func report(_ error: OpenADRError, _ text: String) -> Action {
        error.isTransient ? .note(text) : .alert(text + " [\(error.category)]")
    }

    mutating func setMode(subscribed: Bool) -> [Action] {
        let seconds = subscribed ? configuration.pollSeconds : pollWithoutSubscription
        let changed = health.subscribed != subscribed || health.currentPollSeconds != seconds
        health.subscribed = subscribed
        health.currentPollSeconds = seconds
        guard changed || !subscribed else { return [] }
        return [
            .noteOnce(
                "openadr3: mode \(subscribed ? "webhook" : "poll"), reading events every \(Self.seconds(seconds)) s")
        ]
    }

    var pollWithoutSubscription: Double {
        min(configuration.pollSeconds, max(0.2, configuration.pollWithoutSubscription))
    }

    /// How long to wait before the next read: the mode's period, cut short to read once more about a
    /// second before the next known interval starts (a change published at the last moment is seen).
    func nextRead() -> Duration {
        var wait = subscribed ? configuration.pollSeconds : pollWithoutSubscription
        if let next = plan.values.map(\.start).filter({ $0 > now }).min() {
            let lead = next.timeIntervalSince(now) - 1
            if lead > 0.2 { wait = min(wait, lead) }
        }
        return .milliseconds(Int64(wait * 1000))
    }

    static func seconds(_ s: Double) -> String { s == s.rounded() ? String(Int(s)) : String(format: "%.1f", s) }

    // MARK: Reports

    mutating func reportSent(_ r: IntervalReport) -> [Action] {
        if pendingReports.first == r { pendingReports.removeFirst() }
        counters.reportsSent += 1
        health.reportError = nil
        reportBackoff.reset()
        return []
    }

    /// A refused report (4xx) is a conformance error the operator sees; a VTN away is a note.
    mutating func reportFailed(_ r: IntervalReport, _ error: OpenADRError) -> [Action] {
        counters.reportFailures += 1
        health.reportError = error
        let text = "openadr3: report for event \(r.eventID) interval \(r.intervalID): \(error.message)"
        if !error.isTransient, pendingReports.first == r {
            // The VTN will never take this one: drop it rather than block the queue.
            pendingReports.removeFirst()
        }
        return [report(error, text), .retryReports(after: reportBackoff.next())]
    }
}
