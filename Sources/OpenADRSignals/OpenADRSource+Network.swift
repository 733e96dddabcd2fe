import DemandResponse
import FlexSupport
import Foundation
import LoadController
import OpenADR

extension OpenADRSource {
    /// The source as `/status` shows it: how it gets events (`webhook` with a subscription, else `poll`),
    /// how often it reads them, the VTN's version, and the error an operator must see.
    package struct Status: Sendable, Hashable {
        /// "webhook" (subscribed: notifications, plus a read every `pollSeconds`) or "poll" (reads only).
        package var mode: String
        package var pollSeconds: Double
        /// "enrolling", "enrolled", or "stopped" (a setting must change; see `error`).
        package var state: String
        package var version: String?
        package var programID: String?
        package var venID: String?
        package var subscriptionID: String?
        package var lastReadAgeSeconds: Double?
        /// The last read's error (nil after a good read), its category (`OpenADRError.category`) and since when.
        package var error: String?
        package var errorCategory: String?
        package var errorSince: Date?
        /// Why there is no subscription, when the VTN refused it.
        package var subscriptionError: String?
        /// Why the last report was not taken (nil once one is).
        package var reportError: String? = nil
        package var counters: Counters

        /// The `openadr3` object of `/status`.
        package var json: [String: Any] {
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

    package var status: Status {
        let version = client.version
        return state.withLock { s in
            let m = s.machine
            let h = m.health
            return Status(
                mode: h.subscribed ? "webhook" : "poll", pollSeconds: h.currentPollSeconds, state: h.state,
                version: version, programID: m.stored.programID, venID: m.stored.venID,
                subscriptionID: h.subscribed ? m.stored.subscriptionID : nil,
                lastReadAgeSeconds: h.lastRead.map { (ContinuousClock.now - $0).seconds }, error: h.error?.message,
                errorCategory: h.error?.category, errorSince: h.errorSince,
                subscriptionError: h.subscriptionError?.message, reportError: h.reportError?.message,
                counters: m.counters)
        }
    }

    // MARK: Network

    /// The network task: serves the callback, then performs what the machine asks (enrol, subscribe, read,
    /// wait) and feeds it each result, until cancelled or until only a change of settings can help.
    func networkLoop() async {
        let server = await startCallback()
        var actions = take(.started(callbackPort: server?.port))
        while !Task.isCancelled, let result = await perform(actions) {
            actions = take(result)
        }
        await server?.close()
    }

    /// Performs `actions` in order up to the request or wait among them (the machine puts it last) and
    /// returns its result; nil when the network task ends.
    func perform(_ actions: [VENStateMachine.Action]) async -> VENStateMachine.Event? {
        for action in actions {
            switch action {
            case .readProgram(let name):
                do throws(OpenADRError) { return .programFound(try await client.program(name)) } catch {
                    return .failed(error)
                }
            case .registerVEN(let name):
                do throws(OpenADRError) { return .registered(venID: try await client.registerVEN(name: name)) } catch {
                    return .failed(error)
                }
            case .subscribe(let url, let programID, let old):
                if let old { try? await client.unsubscribe(id: old) }
                do throws(OpenADRError) {
                    let id = try await client.subscribe(
                        clientName: configuration.clientName, programID: programID, callbackURL: url,
                        bearerToken: callbackToken)
                    return .subscribed(id: id)
                } catch {
                    return .subscriptionFailed(error)
                }
            case .readEvents(let programID):
                do throws(OpenADRError) { return .eventsRead(try await client.events(programID: programID)) } catch {
                    return .failed(error)
                }
            case .wait(let timeout):
                await wakeup.wait(timeout: timeout)
                return .woke
            case .endNetwork: return nil
            default: performNow([action])
            }
        }
        return nil
    }

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

    /// The notification callback: answers the VTN's echo challenge; any authorised POST wakes the
    /// network task to re-read events (bodies differ between servers, so none is trusted for content).
    func callback(_ r: TinyHTTPServer.Request) -> TinyHTTPServer.Response {
        if r.method == "GET", r.path.hasSuffix("/echo") || r.query["echo"] != nil {
            return .init(status: 200, contentType: "text/plain", body: Data((r.query["echo"] ?? "").utf8))
        }
        guard r.method == "POST" || r.method == "PUT" else { return .problem(405, "POST a notification") }
        guard ConstantTime.equal(r.bearer, callbackToken) else { return .problem(401, "missing or wrong bearer token") }
        performNow(take(.notification))
        return .json(200, ["ok": true])
    }
}
