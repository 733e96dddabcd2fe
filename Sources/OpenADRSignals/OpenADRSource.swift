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
/// Every one of those decisions is `VENStateMachine`'s (pure, tested with tables of events); this class is
/// its shell: it performs the requests, waits and controller calls the machine asks for, and feeds it
/// each result (`take`, `performNow`, `perform`).
///
/// This file is its own target (`OpenADRSignals`), so `LoadController` does not depend on AsyncHTTPClient.
package final class OpenADRSource: Sendable {
    /// The `--openadr-*` settings.
    package struct Configuration: Sendable, Hashable {
        /// `http[s]://HOST[:PORT]/BASE_PATH`.
        package var baseURL: String
        package var credentials: OpenADRCredentials?
        /// The program's name or id; nil: every event the VTN shows this VEN.
        package var program: String?
        /// Register (or reuse) a VEN record with this name; nil: do not register.
        package var venName: String?
        /// The resource named in reports (default: the VEN's name, else the host name).
        package var resourceName: String?
        package var pollSeconds: Double = 15
        /// Without a subscription (no callback, or the VTN refused it) reads are this often at most, so that
        /// an event published a few seconds ahead is known before it starts.
        package var pollWithoutSubscription: Double = 2
        /// Serve the notification callback here and subscribe.
        package var callback: HostPort?
        /// The URL the VTN calls (default `http://<callback>/openadr/callback`).
        package var callbackURL: String?
        package var powerWatts: Double?
        package var simpleLevels: [Int: Double] = OpenADRPlanner.defaultSimpleLevels
        /// The state file (the known schedule survives a restart); nil: none.
        package var statePath: String?
        /// First and longest delay between retries after a failure.
        package var retryInitial: Double = 1
        package var retryMax: Double = 30

        package init(baseURL: String) { self.baseURL = baseURL }

        var clientName: String { venName ?? resourceName ?? ProcessInfo.processInfo.hostName }
    }

    /// What the source has done (for tests and status).
    package struct Counters: Sendable, Hashable {
        package var polls = 0
        package var pollFailures = 0
        package var notifications = 0
        package var reportsSent = 0
        package var reportFailures = 0
        package var curtailsSent = 0
        package var releasesSent = 0
        package var pricesSent = 0
    }

    package let configuration: Configuration
    /// The measured source's energy counter, joules (see `init`).
    let measuredEnergy: (@Sendable () -> Double?)?
    package let origin: SignalOrigin
    let controller: LoadController
    let client: OpenADRClient
    let note: @Sendable (String) -> Void
    /// Errors an operator must act on (configuration, conformance, credentials): the log's `error` level.
    let alert: @Sendable (String) -> Void
    let wakeup = Wakeup()
    let state: Mutex<Inner>
    /// The callback's own bearer token (random per run): only the VTN we subscribed with knows it.
    let callbackToken: String

    struct Inner {
        /// The protocol's state and decisions; this type only performs what it asks for.
        var machine: VENStateMachine
        var logged: Set<String> = []
        var callbackPort: Int?
    }

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
    package init(
        configuration: Configuration, controller: LoadController, client: OpenADRClient? = nil,
        note: @escaping @Sendable (String) -> Void = { _ in }, alert: (@Sendable (String) -> Void)? = nil,
        measuredEnergy: (@Sendable () -> Double?)? = nil
    ) throws(OpenADRError) {
        self.measuredEnergy = measuredEnergy
        self.configuration = configuration
        self.state = Mutex(Inner(machine: VENStateMachine(configuration: configuration)))
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

    package var counters: Counters { state.withLock { $0.machine.counters } }
    /// The callback's port once it listens (port 0 picks one).
    package var callbackPort: Int? { state.withLock { $0.callbackPort } }
    /// The planned intervals, by start.
    package var plan: [PlannedInterval] {
        state.withLock { $0.machine.plan.values.sorted { ($0.start, $0.id) < ($1.start, $1.id) } }
    }

    /// Runs until cancelled (the service's graceful shutdown): restores the saved schedule, enrols,
    /// reads events, schedules, reports; removes the subscription on the way out.
    package func run() async {
        restore()
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.scheduleLoop() }
            group.addTask { await self.reportLoop() }
            group.addTask { await self.networkLoop() }
            await group.waitForAll()
        }
        await cleanUp()
    }

    // MARK: The shell

    /// Feeds the machine one event, now.
    func take(_ event: VENStateMachine.Event) -> [VENStateMachine.Action] {
        let now = Date()
        let mono = ContinuousClock.now
        return state.withLock { $0.machine.event(event, now: now, mono: mono) }
    }

    /// Performs the actions that need no waiting (the controller's calls do not wait on anything). The
    /// network and report tasks perform their requests and waits themselves.
    func performNow(_ actions: [VENStateMachine.Action]) {
        for action in actions {
            switch action {
            case .heartbeat: _ = controller.handle(line: Array(#"{"type":"heartbeat"}"#.utf8), origin: origin)
            case .send(let line, let intervalID):
                let reply = controller.handle(line: Array(line.utf8), origin: origin)
                if !reply.ok { logOnce("openadr3: the controller refused \(line): \(reply.line)") }
                if let intervalID { performNow(take(.delivered(intervalID: intervalID, at: Date()))) }
            case .reconcile: reconcile()
            case .save: save()
            case .note(let text): note(text)
            case .noteOnce(let text): logOnce(text)
            case .alert(let text): alert(text)
            case .wakeNetwork: wakeup.signal()
            case .wakeReports: wakeupReports.signal()
            case .readProgram, .registerVEN, .subscribe, .readEvents, .wait, .retryReports, .endNetwork,
                .unsubscribe:
                // Requests and waits: only the task that owns them performs them (see `perform`).
                break
            }
        }
    }

    /// Brings the controller in line with the plan at this moment; called by the schedule task and after
    /// each read.
    func reconcile() {
        let drawing = controller.status.capacity  // effective: 0 while halted
        let energy = measuredEnergy?()
        performNow(take(.tick(drawing: drawing, energy: energy)))
    }

    // MARK: State

    func restore() {
        guard let path = configuration.statePath else { return }
        do {
            let s = try OpenADRState.load(path: path)
            performNow(take(.restored(s)))
        } catch {
            note("openadr3: state file \(error.message); starting without it")
        }
    }

    func save() {
        guard let path = configuration.statePath else { return }
        let s = state.withLock { $0.machine.stored }
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
        for case .unsubscribe(let id) in take(.stop) {
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
            if done { performNow(take(.unsubscribed(id: id))) }
        }
        save()
        await client.shutdown()
    }

    // MARK: Schedule and reports

    func scheduleLoop() async {
        while !Task.isCancelled {
            reconcile()
            let wait = state.withLock { $0.machine.scheduleWait(now: Date()) }
            try? await Task.sleep(for: wait)
        }
    }

    let wakeupReports = Wakeup()

    func reportLoop() async {
        while !Task.isCancelled {
            guard let next = state.withLock({ $0.machine.nextReport }) else {
                await wakeupReports.wait(timeout: .seconds(5))
                continue
            }
            let result: VENStateMachine.Event
            do throws(OpenADRError) {
                _ = try await client.postReport(next)
                result = .reportSent(next)
            } catch {
                result = .reportFailed(next, error)
            }
            for action in take(result) {
                if case .retryReports(let delay) = action {
                    await wakeupReports.wait(timeout: delay)
                } else {
                    performNow([action])
                }
            }
        }
    }
}
