import DemandResponse
import FlexSupport
import Foundation
import LoadController
import OpenADR
import Synchronization

/// FlexMiner as an OpenADR 3 VEN: a signal source that reads a program's events from a VTN and turns
/// each interval into protocol v1 lines for the controller, at the interval's start.
///
/// Two tasks, neither on the control path. The network task enrols (program, VEN, subscription), reads
/// events on every notification and every `pollSeconds` (without a subscription, every
/// `pollWithoutSubscription` and shortly before each known interval's start), and replaces the plan
/// (`OpenADRSource+Network.swift`); each successful read is a heartbeat, so a VTN that stays unreachable leaves the source silent and the fail-safe applies. The
/// schedule task sends a `curtail` with `until` = the interval's end and id `openadr:<event>:<interval>`
/// when an interval starts (the controller lifts it by itself at the end, whatever happens to the
/// network), a `release` when an event is deleted or changed under an active interval, and the price at
/// a PRICE interval's start. After each interval taken part in, a report goes to the VTN.
///
/// This file is its own target (`OpenADRSignals`), so `LoadController` does not depend on AsyncHTTPClient.
public final class OpenADRSource: Sendable {
    /// The `--openadr-*` settings.
    public struct Configuration: Sendable, Hashable {
        /// `http[s]://HOST[:PORT]/BASE_PATH`.
        public var baseURL: String
        public var credentials: OpenADRCredentials?
        /// The program's name or id; nil: every event the VTN shows this VEN.
        public var program: String?
        /// Register (or reuse) a VEN record with this name; nil: do not register.
        public var venName: String?
        /// The resource named in reports (default: the VEN's name, else the host name).
        public var resourceName: String?
        public var pollSeconds: Double = 15
        /// Without a subscription (no callback, or the VTN refused it) reads are this often at most, so that
        /// an event published a few seconds ahead is known before it starts.
        public var pollWithoutSubscription: Double = 2
        /// Serve the notification callback here and subscribe.
        public var callback: HostPort?
        /// The URL the VTN calls (default `http://<callback>/openadr/callback`).
        public var callbackURL: String?
        public var powerWatts: Double?
        public var simpleLevels: [Int: Double] = OpenADRPlanner.defaultSimpleLevels
        /// The state file (the known schedule survives a restart); nil: none.
        public var statePath: String?
        /// First and longest delay between retries after a failure.
        public var retryInitial: Double = 1
        public var retryMax: Double = 30

        public init(baseURL: String) { self.baseURL = baseURL }

        var clientName: String { venName ?? resourceName ?? ProcessInfo.processInfo.hostName }
    }

    /// What the source has done (for tests and status).
    public struct Counters: Sendable, Hashable {
        public var polls = 0
        public var pollFailures = 0
        public var notifications = 0
        public var reportsSent = 0
        public var reportFailures = 0
        public var curtailsSent = 0
        public var releasesSent = 0
        public var pricesSent = 0
    }

    public let configuration: Configuration
    /// The measured source's energy counter, joules (see `init`).
    let measuredEnergy: (@Sendable () -> Double?)?
    public let origin: SignalOrigin
    let controller: LoadController
    let client: OpenADRClient
    let note: @Sendable (String) -> Void
    /// Errors an operator must act on (configuration, conformance, credentials): the log's `error` level.
    let alert: @Sendable (String) -> Void
    let wakeup = Wakeup()
    let state = Mutex(Inner())
    /// The callback's own bearer token (random per run): only the VTN we subscribed with knows it.
    let callbackToken: String

    struct Applied {
        var planned: PlannedInterval
        /// When the controller accepted the curtail (monotonic), for the active-time integral.
        var lastSample: ContinuousClock.Instant
        var activeSeconds: Double
        var latencyMS: Double?
        /// The measured source's energy counter (joules) when the interval was applied; nil without one.
        var energyAtStart: Double? = nil
    }

    struct Inner {
        var stored = OpenADRState()
        var plan: [String: PlannedInterval] = [:]
        var applied: [String: Applied] = [:]
        /// Price intervals already sent (bounded by the plan: pruned with it).
        var pricesSent: Set<String> = []
        var logged: Set<String> = []
        var counters = Counters()
        /// Reports waiting to be sent (bounded).
        var pendingReports: [IntervalReport] = []
        var callbackPort: Int?
        var health = Health()
    }

    /// What `/status` shows besides the counters: how the source gets events and what went wrong.
    struct Health {
        var subscribed = false
        var currentPollSeconds: Double = 15
        var state = "enrolling"
        var lastRead: ContinuousClock.Instant?
        var error: OpenADRError?
        var errorSince: Date?
        var subscriptionError: OpenADRError?
        var reportError: OpenADRError?
    }

    /// Most reports kept while the VTN cannot take them; older ones are dropped (and logged).
    static let maxPendingReports = 256
    /// Most intervals planned ahead at once.
    static let maxPlanned = 10_000

    /// - Parameters:
    ///   - client: the wire client (made from `configuration` when nil).
    ///   - note: operator messages (never a secret).
    ///   - alert: errors that need the operator (a 4xx, a malformed reply, refused credentials); nil sends
    ///     them to `note`.
    /// - Throws: `OpenADRError(.configuration)` for a bad URL.
    /// - Parameter measuredEnergy: the measured power source's energy counter in joules (a meter's or
    ///   RAPL's; nil while it is stale or missing), read when an interval starts and ends so that its
    ///   `USAGE` report carries what was measured; without it (or when it has no value) the report is
    ///   `powerWatts` × the active time. It must not wait (it reads the sampler's last value).
    public init(
        configuration: Configuration, controller: LoadController, client: OpenADRClient? = nil,
        note: @escaping @Sendable (String) -> Void = { _ in }, alert: (@Sendable (String) -> Void)? = nil,
        measuredEnergy: (@Sendable () -> Double?)? = nil
    ) throws(OpenADRError) {
        self.measuredEnergy = measuredEnergy
        self.configuration = configuration
        self.controller = controller
        if let client {
            self.client = client
        } else {
            self.client = try OpenADRClient(baseURL: configuration.baseURL, credentials: configuration.credentials)
        }
        self.note = note
        self.alert = alert ?? note
        origin = SignalOrigin(name: "openadr3:\(configuration.baseURL)")
        var bytes = [UInt8](repeating: 0, count: 24)
        for i in bytes.indices { bytes[i] = UInt8.random(in: 0...255) }
        callbackToken = bytes.map { String(format: "%02x", $0) }.joined()
    }

    public var counters: Counters { state.withLock { $0.counters } }
    /// The callback's port once it listens (port 0 picks one).
    public var callbackPort: Int? { state.withLock { $0.callbackPort } }
    /// The planned intervals, by start.
    public var plan: [PlannedInterval] {
        state.withLock { $0.plan.values.sorted { ($0.start, $0.id) < ($1.start, $1.id) } }
    }

    /// Runs until cancelled (the service's graceful shutdown): restores the saved schedule, enrols,
    /// reads events, schedules, reports; removes the subscription on the way out.
    public func run() async {
        restore()
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.scheduleLoop() }
            group.addTask { await self.reportLoop() }
            group.addTask { await self.networkLoop() }
            await group.waitForAll()
        }
        await cleanUp()
    }

    // MARK: State

    func restore() {
        guard let path = configuration.statePath else { return }
        do {
            let s = try OpenADRState.load(path: path)
            state.withLock { $0.stored = s }
            if !s.events.isEmpty {
                note("openadr3: restored \(s.events.count) event(s) from \(path)")
                updatePlan(s.events, save: false)
            }
        } catch {
            note("openadr3: state file \(error.message); starting without it")
        }
    }

    func save() {
        guard let path = configuration.statePath else { return }
        let s = state.withLock { $0.stored }
        do { try s.save(path: path) } catch { logOnce("openadr3: \(error.message)") }
    }

    func logOnce(_ text: String) {
        let first = state.withLock { s in
            guard s.logged.count < 1000 else { return false }
            return s.logged.insert(text).inserted
        }
        if first { note(text) }
    }

    func cleanUp() async {
        let id = state.withLock { $0.stored.subscriptionID }
        if let id {
            // A fresh task: this one is cancelled, and the request must still go out. Bounded at 3 s, so an
            // unreachable VTN does not hold up the shutdown (the next start removes a stale one).
            let client = self.client
            let done = await Task { () -> Bool in
                await withTaskGroup(of: Bool.self) { group in
                    group.addTask { (try? await client.unsubscribe(id: id)) != nil }
                    group.addTask {
                        try? await Task.sleep(for: .seconds(3))
                        return false
                    }
                    let first = await group.next() ?? false
                    group.cancelAll()
                    return first
                }
            }.value
            if done {
                state.withLock { $0.stored.subscriptionID = nil }
                note("openadr3: subscription \(id) removed")
            }
        }
        save()
        await client.shutdown()
    }

    // MARK: Plan and schedule

    /// Replaces the plan with what `events` say and applies what changed at once.
    func updatePlan(_ events: [Event], save doSave: Bool) {
        let planner = OpenADRPlanner(
            simpleLevels: configuration.simpleLevels, powerWatts: configuration.powerWatts,
            venName: configuration.clientName)
        let (all, ignored) = planner.plan(events)
        for text in ignored { logOnce("openadr3: \(text)") }
        // Bounded: what has ended is history (an interval in effect is retired by `reconcile`), and at
        // most `maxPlanned` intervals ahead are kept, the soonest first.
        let now = Date()
        var intervals = all.filter { $0.end > now }
        if intervals.count > Self.maxPlanned {
            intervals = Array(intervals.sorted { $0.start < $1.start }.prefix(Self.maxPlanned))
            logOnce("openadr3: more than \(Self.maxPlanned) intervals ahead; the latest are left for later reads")
        }
        let changed = state.withLock { s in
            let before = s.stored.events
            s.stored.events = events
            s.plan = Dictionary(intervals.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            s.pricesSent = s.pricesSent.filter { s.plan[$0] != nil }
            return before != events
        }
        if changed && doSave { save() }
        reconcile()
    }

    /// Brings the controller in line with the plan at this moment. Cheap and synchronous (the
    /// controller's calls do not wait on anything); called by the schedule task and after each read.
    func reconcile() {
        let now = Date()
        let mono = ContinuousClock.now
        let status = controller.status
        let drawing = status.capacity  // effective: 0 while halted
        let energy = measuredEnergy?()
        var lines: [(String, String)] = []  // (line, applied id to note the reply for)
        var finished: [Applied] = []
        state.withLock { s in
            // Integrate active time of every interval in effect (for USAGE), then retire ended ones.
            for (id, var a) in s.applied {
                a.activeSeconds += (mono - a.lastSample).seconds * drawing
                a.lastSample = mono
                s.applied[id] = a
                if a.planned.end <= now {
                    s.applied[id] = nil
                    finished.append(a)
                } else if s.plan[id] != a.planned {
                    // Deleted, or changed under us: lift it now (a changed one is sent again below).
                    s.applied[id] = nil
                    lines.append((JSONLine.encode(["type": "release", "id": id]), ""))
                    s.counters.releasesSent += 1
                }
            }
            for p in s.plan.values where p.start <= now && now < p.end {
                switch p.action {
                case .curtail(let level):
                    guard s.applied[p.id] == nil else { continue }
                    var fields: [String: Any] = [
                        "type": "curtail", "level": level, "id": p.id, "reason": "OpenADR \(p.reason)",
                    ]
                    if p.end < Date.distantFuture { fields["until"] = ISO8601.format(p.end) }
                    lines.append((JSONLine.encode(fields), p.id))
                    s.applied[p.id] = Applied(
                        planned: p, lastSample: mono, activeSeconds: 0, energyAtStart: energy)
                    s.counters.curtailsSent += 1
                case .price(let usd):
                    guard !s.pricesSent.contains(p.id) else { continue }
                    s.pricesSent.insert(p.id)
                    lines.append(
                        (
                            JSONLine.encode([
                                "type": "price", "usd_per_mwh": usd, "interval_start": ISO8601.format(p.start),
                                "interval_minutes": p.end.timeIntervalSince(p.start) / 60,
                            ]), ""
                        ))
                    s.counters.pricesSent += 1
                }
            }
        }
        for (line, id) in lines {
            let reply = controller.handle(line: Array(line.utf8), origin: origin)
            if !reply.ok { logOnce("openadr3: the controller refused \(line): \(reply.line)") }
            guard !id.isEmpty else { continue }
            // Latency: from the interval's start to the load having responded (the controller applies
            // the decision before it replies).
            let latency = max(0, Date().timeIntervalSince(state.withLock { $0.applied[id]?.planned.start } ?? Date()))
            state.withLock { $0.applied[id]?.latencyMS = latency * 1000 }
        }
        if !finished.isEmpty { queueReports(finished, energyAtEnd: energy) }
    }

    func scheduleLoop() async {
        while !Task.isCancelled {
            reconcile()
            // Sleep to the next start or end, at most 250 ms (so a wall-clock step is noticed soon).
            let now = Date()
            let next = state.withLock { s in
                (s.plan.values.map(\.start) + s.applied.values.map(\.planned.end)).filter { $0 > now }.min()
            }
            let wait = min(0.25, max(0.001, (next?.timeIntervalSince(now) ?? 1)))
            try? await Task.sleep(for: .milliseconds(Int64(wait * 1000) + 1))
        }
    }

    // MARK: Reports

    /// The interval's `USAGE` in kWh: measured (the energy counter's difference) when the counter was read
    /// at both ends, else the model's watts over the active time, else none.
    func usageKWh(_ a: Applied, energyAtEnd: Double?) -> Double? {
        if let e0 = a.energyAtStart, let e1 = energyAtEnd, e1 >= e0 { return (e1 - e0) / 3_600_000 }
        return configuration.powerWatts.map { $0 * a.activeSeconds / 3_600_000 }
    }

    func queueReports(_ finished: [Applied], energyAtEnd: Double? = nil) {
        let programID = state.withLock { $0.stored.programID }
        state.withLock { s in
            for a in finished where !s.stored.reported.contains(a.planned.id) {
                let p = a.planned
                let duration = p.end.timeIntervalSince(p.start)
                s.pendingReports.append(
                    IntervalReport(
                        programID: programID ?? p.programID, eventID: p.eventID, clientName: configuration.clientName,
                        reportName: "flexminer-\(p.id)",
                        resourceName: configuration.resourceName ?? configuration.clientName,
                        intervalID: p.intervalID, start: p.start, durationSeconds: duration,
                        usageKWh: usageKWh(a, energyAtEnd: energyAtEnd),
                        responseLatencyMS: a.latencyMS))
                s.stored.reported.append(p.id)
                if s.stored.reported.count > 1000 { s.stored.reported.removeFirst(s.stored.reported.count - 1000) }
                if s.pendingReports.count > Self.maxPendingReports {
                    s.pendingReports.removeFirst()
                    s.logged.insert("dropped")
                }
            }
        }
        save()
        wakeupReports.signal()
    }

    let wakeupReports = Wakeup()

    func reportLoop() async {
        var backoff = Backoff(startSeconds: configuration.retryInitial, maxSeconds: configuration.retryMax)
        while !Task.isCancelled {
            guard let next = state.withLock({ $0.pendingReports.first }) else {
                await wakeupReports.wait(timeout: .seconds(5))
                continue
            }
            do throws(OpenADRError) {
                try await client.postReport(next)
                state.withLock { s in
                    if s.pendingReports.first == next { s.pendingReports.removeFirst() }
                    s.counters.reportsSent += 1
                    s.health.reportError = nil
                }
                backoff.reset()
            } catch {
                state.withLock { s in
                    s.counters.reportFailures += 1
                    s.health.reportError = error
                }
                // A refused report (4xx) is a conformance error the operator sees; a VTN away is a note.
                report(
                    error, "openadr3: report for event \(next.eventID) interval \(next.intervalID): \(error.message)")
                if !error.isTransient {
                    // The VTN will never take this one: drop it rather than block the queue.
                    state.withLock { s in if s.pendingReports.first == next { s.pendingReports.removeFirst() } }
                }
                await wakeupReports.wait(timeout: backoff.next())
            }
        }
    }
}
