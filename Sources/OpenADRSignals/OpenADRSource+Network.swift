import DemandResponse
import FlexSupport
import Foundation
import LoadController
import OpenADR

extension OpenADRSource {
    /// The source as `/status` shows it: how it gets events (`webhook` with a subscription, else `poll`),
    /// how often it reads them, the VTN's version, and the error an operator must see.
    public struct Status: Sendable, Hashable {
        /// "webhook" (subscribed: notifications, plus a read every `pollSeconds`) or "poll" (reads only).
        public var mode: String
        public var pollSeconds: Double
        /// "enrolling", "enrolled", or "stopped" (a setting must change; see `error`).
        public var state: String
        public var version: String?
        public var programID: String?
        public var venID: String?
        public var subscriptionID: String?
        public var lastReadAgeSeconds: Double?
        /// The last read's error (nil after a good read), its category (`OpenADRError.category`) and since when.
        public var error: String?
        public var errorCategory: String?
        public var errorSince: Date?
        /// Why there is no subscription, when the VTN refused it.
        public var subscriptionError: String?
        /// Why the last report was not taken (nil once one is).
        public var reportError: String? = nil
        public var counters: Counters

        /// The `openadr3` object of `/status`.
        public var json: [String: Any] {
            [
                "mode": mode, "poll_seconds": pollSeconds, "state": state, "version": version ?? NSNull(),
                "program_id": programID ?? NSNull(), "ven_id": venID ?? NSNull(),
                "subscription_id": subscriptionID ?? NSNull(), "last_read_age_seconds": lastReadAgeSeconds ?? NSNull(),
                "error": error ?? NSNull(), "error_category": errorCategory ?? NSNull(),
                "error_since": errorSince.map { ISO8601.format($0) } ?? NSNull(),
                "subscription_error": subscriptionError ?? NSNull(), "report_error": reportError ?? NSNull(),
                "polls": counters.polls, "poll_failures": counters.pollFailures,
                "notifications": counters.notifications, "reports_sent": counters.reportsSent,
                "report_failures": counters.reportFailures, "curtails_sent": counters.curtailsSent,
            ]
        }
    }

    public var status: Status {
        let version = client.version
        return state.withLock { s in
            let h = s.health
            return Status(
                mode: h.subscribed ? "webhook" : "poll", pollSeconds: h.currentPollSeconds, state: h.state,
                version: version, programID: s.stored.programID, venID: s.stored.venID,
                subscriptionID: h.subscribed ? s.stored.subscriptionID : nil,
                lastReadAgeSeconds: h.lastRead.map { (ContinuousClock.now - $0).seconds }, error: h.error?.message,
                errorCategory: h.error?.category, errorSince: h.errorSince,
                subscriptionError: h.subscriptionError?.message, reportError: h.reportError?.message,
                counters: s.counters)
        }
    }

    // MARK: Network

    func networkLoop() async {
        var backoff = Backoff(startSeconds: configuration.retryInitial, maxSeconds: configuration.retryMax)
        var enrolled = false
        var subscribed = false
        var nextSubscription = ContinuousClock.now
        let server = await startCallback()
        setMode(subscribed: false)
        while !Task.isCancelled {
            do throws(OpenADRError) {
                if !enrolled {
                    try await enrol()
                    enrolled = true
                    state.withLock { $0.health.state = "enrolled" }
                }
                if !subscribed, let server, ContinuousClock.now >= nextSubscription {
                    // A VTN that refuses the subscription still serves events: poll meanwhile. A refusal (4xx)
                    // will not mend by itself: ask again in 5 minutes, not on every read.
                    do {
                        try await subscribe(port: server.port)
                        subscribed = true
                        state.withLock { $0.health.subscriptionError = nil }
                    } catch {
                        nextSubscription = .now + (error.isTransient ? .zero : .seconds(300))
                        state.withLock { $0.health.subscriptionError = error }
                        let text = "openadr3: no subscription (\(error.message)); polling every "
                        report(error, text + "\(Self.seconds(configuration.pollWithoutSubscription)) s")
                    }
                    setMode(subscribed: subscribed)
                }
                try await poll()
                state.withLock { s in
                    s.health.error = nil
                    s.health.errorSince = nil
                    s.health.lastRead = .now
                }
                backoff.reset()
                await wakeup.wait(timeout: nextRead(subscribed: subscribed))
            } catch {
                state.withLock { s in
                    s.counters.pollFailures += 1
                    if s.health.error == nil { s.health.errorSince = Date() }
                    s.health.error = error
                }
                // Silent: no heartbeat. The controller's fail-safe decides what the load does meanwhile.
                if error.kind == .configuration && error.status == 409 {
                    // Only a change of settings helps (the message says which): stop asking.
                    state.withLock { $0.health.state = "stopped" }
                    alert("openadr3: \(error.message); stopped (restart with the change)")
                    break
                }
                // Settings, credentials or requests the VTN refuses will not mend soon: wait the longest.
                if !error.isTransient { backoff.saturate() }
                let delay = backoff.next()
                report(error, "openadr3: \(error.message); retrying in \(Int(delay.seconds.rounded(.up))) s")
                await wakeup.wait(timeout: delay)
            }
        }
        await server?.close()
    }

    /// A transient error is a note; anything an operator must fix is an alert (the log's `error` level).
    func report(_ error: OpenADRError, _ text: String) {
        if error.isTransient { note(text) } else { alert(text + " [\(error.category)]") }
    }

    static func seconds(_ s: Double) -> String { s == s.rounded() ? String(Int(s)) : String(format: "%.1f", s) }

    func startCallback() async -> TinyHTTPServer? {
        guard let cb = configuration.callback else { return nil }
        do {
            let server = try await TinyHTTPServer.start(host: cb.host, port: cb.port) { [self] in callback($0) }
            state.withLock { $0.callbackPort = server.port }
            note("openadr3: notification callback on http://\(HostPort(host: cb.host, port: server.port))")
            return server
        } catch {
            alert("openadr3: \(error.message); polling only")
            return nil
        }
    }

    func setMode(subscribed: Bool) {
        let seconds = subscribed ? configuration.pollSeconds : pollWithoutSubscription
        let changed = state.withLock { s -> Bool in
            defer {
                s.health.subscribed = subscribed
                s.health.currentPollSeconds = seconds
            }
            return s.health.subscribed != subscribed || s.health.currentPollSeconds != seconds
        }
        if changed || !subscribed {
            logOnce(
                "openadr3: mode \(subscribed ? "webhook" : "poll"), reading events every \(Self.seconds(seconds)) s")
        }
    }

    var pollWithoutSubscription: Double {
        min(configuration.pollSeconds, max(0.2, configuration.pollWithoutSubscription))
    }

    /// How long to wait before the next read: the mode's period, cut short to read once more about a
    /// second before the next known interval starts (a change published at the last moment is seen).
    func nextRead(subscribed: Bool) -> Duration {
        var wait = subscribed ? configuration.pollSeconds : pollWithoutSubscription
        let now = Date()
        let next = state.withLock { s in s.plan.values.map(\.start).filter { $0 > now }.min() }
        if let next {
            let lead = next.timeIntervalSince(now) - 1
            if lead > 0.2 { wait = min(wait, lead) }
        }
        return .milliseconds(Int64(wait * 1000))
    }

    func enrol() async throws(OpenADRError) {
        if let name = configuration.program {
            let p = try await client.program(name)
            state.withLock { $0.stored.programID = p.id }
            note("openadr3: program \(p.name) (\(p.id))")
        }
        if let ven = configuration.venName {
            let id = try await client.registerVEN(name: ven)
            state.withLock { $0.stored.venID = id }
            note("openadr3: VEN \(ven) (\(id))")
        }
    }

    func subscribe(port: Int) async throws(OpenADRError) {
        guard let cb = configuration.callback else { return }
        let url = configuration.callbackURL ?? "http://\(HostPort(host: cb.host, port: port))/openadr/callback"
        let (old, programID) = state.withLock { ($0.stored.subscriptionID, $0.stored.programID) }
        // A subscription left by a run that did not shut down cleanly would call a dead callback.
        if let old { try? await client.unsubscribe(id: old) }
        let id = try await client.subscribe(
            clientName: configuration.clientName, programID: programID, callbackURL: url,
            bearerToken: callbackToken)
        state.withLock { $0.stored.subscriptionID = id }
        save()
        note("openadr3: subscribed to EVENT changes (\(id)), callback \(url)")
    }

    func poll() async throws(OpenADRError) {
        let programID = state.withLock { $0.stored.programID }
        let events = try await client.events(programID: programID)
        state.withLock { $0.counters.polls += 1 }
        // The VTN answered: the source is alive.
        _ = controller.handle(line: Array(#"{"type":"heartbeat"}"#.utf8), origin: origin)
        updatePlan(events, save: true)
    }

    /// The notification callback: answers the VTN's echo challenge; any authorised POST wakes the
    /// network task to re-read events (bodies differ between servers, so none is trusted for content).
    func callback(_ r: TinyHTTPServer.Request) -> TinyHTTPServer.Response {
        if r.method == "GET", r.path.hasSuffix("/echo") || r.query["echo"] != nil {
            return .init(status: 200, contentType: "text/plain", body: Data((r.query["echo"] ?? "").utf8))
        }
        guard r.method == "POST" || r.method == "PUT" else { return .problem(405, "POST a notification") }
        guard ConstantTime.equal(r.bearer, callbackToken) else { return .problem(401, "missing or wrong bearer token") }
        state.withLock { $0.counters.notifications += 1 }
        wakeup.signal()
        return .json(200, ["ok": true])
    }
}
