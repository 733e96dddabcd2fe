import AsyncHTTPClient
import FlexSupport
import Foundation
import NIOCore
import OpenADR
import Synchronization

/// The project's own OpenADR 3 VTN for tests and drills: the spec's paths and object shapes (auth server,
/// client-credentials token, programs, VENs, events paged with skip/limit, subscriptions with
/// notifications, reports), plus admin endpoints to create, change and delete events, and switches that
/// make it misbehave as real servers do. It keeps what it receives as raw JSON and never uses FlexMiner's
/// models to read it: it is an independent oracle. Every request is held to the specification's OpenAPI
/// document of the version its base path names (3.0.1 and 3.1.0 are both served, `/openadr3/<version>`),
/// and refused with 400 and a problem naming the field as a conformant server refuses it; every answer and
/// notification is held to the same document (see `OpenAPISpec`, `FakeVTN+Routes.swift`).
///
/// Admin endpoints (no auth; under the base path): `POST /admin/events` (an event object; `id`,
/// `programID` and the timestamps are filled in; `"start":"now"` or `"now+5s"` are accepted),
/// `PUT|DELETE /admin/events/{id}`, `POST /admin/misbehave` (`fail500`, `unauthorizedOnce`,
/// `ignoreFilter`, `ignoreSkip`, `notification`: plain|double|snake, `down`, `uncheckedResponses`,
/// `hideVENsByName`), `GET /admin/reports`, `GET /admin/subscriptions`, `GET /admin/stats`.
package final class FakeVTN: Sendable {
    package struct Options: Sendable {
        /// nil: no auth at all.
        package var clientID: String? = "flexminer-ven"
        package var clientSecret = "s3cret-for-tests-only"
        /// `expires_in` of issued tokens; nil leaves the field out (renewal then relies on 401s).
        package var tokenLifetime: Double? = 3600
        /// `scope` as an array (some servers; the specification says a string) rather than a string.
        package var scopeAsArray = false
        /// More OAuth clients (id → secret) besides `clientID`, e.g. one credential per VEN.
        package var clients: [String: String] = [:]
        /// Each client may create one VEN: `POST /vens` for a second name answers 409 (as VTNs that bind a
        /// VEN to its credential do).
        package var oneVENPerClient = false
        package var programs: [(id: String, name: String)] = [("program-1", "flexminer-dr")]
        /// The base path `baseURL` names; `/openadr3/3.0.1` and `/openadr3/3.1.0` are served in any case.
        package var basePath = "/openadr3/3.1.0"
        /// The document a `basePath` that names no version is held to.
        package var basePathVersion = "3.1.0"

        package init() {}
    }

    /// How notifications are encoded (servers differ).
    package enum NotificationStyle: String, Sendable {
        case plain, double, snake
    }

    struct Misbehaviour {
        var fail500 = 0
        var unauthorizedOnce = false
        var ignoreFilter = false
        var ignoreSkip = false
        var notification = NotificationStyle.plain
        var down = false
        /// Answers are not held to the document (to serve a malformed object on purpose).
        var uncheckedResponses = false
        /// `GET /vens?venName=` finds nothing (a server whose filter is broken).
        var hideVENsByName = false
    }

    struct Subscription {
        var id: String
        var clientName: String
        var programID: String?
        var callbackURL: String
        var bearerToken: String?
        var clientID: String?
        /// The version of the base path it was made under: notifications speak it.
        var version: String
        var object: [String: Any]
    }

    struct State: @unchecked Sendable {
        // @unchecked: raw JSON values from JSONSerialization, only touched under the lock.
        var tokens: [String: (client: String, until: ContinuousClock.Instant)] = [:]
        var vens: [[String: Any]] = []
        var events: [String: [String: Any]] = [:]
        var eventOrder: [String] = []
        var subscriptions: [Subscription] = []
        var reports: [[String: Any]] = []
        var misbehave = Misbehaviour()
        var nextID = 1
        var stats: [String: Int] = [:]
        var notificationsSent = 0
        var reportTimes: [Double] = []
        var rejections: [String] = []
        var responseViolations: [String] = []
    }

    package let options: Options
    let state = Mutex(State())
    let http: HTTPClient
    private let server = Mutex<TinyHTTPServer?>(nil)
    private let portBox = Atomic<Int>(0)
    /// The port it listens on.
    package var port: Int { portBox.load(ordering: .relaxed) }
    package let host: String

    init(options: Options, host: String) {
        self.options = options
        self.host = host
        http = HTTPClient.shared
    }

    /// Starts serving on `host:port` (0: a free port).
    package static func start(host: String = "127.0.0.1", port: Int = 0, options: Options = Options())
        async throws(OpenADRError) -> FakeVTN
    {
        let vtn = FakeVTN(options: options, host: host)
        let s = try await TinyHTTPServer.start(host: host, port: port, maxConnections: 256) { [vtn] in vtn.handle($0) }
        vtn.portBox.store(s.port, ordering: .relaxed)
        vtn.server.withLock { $0 = s }
        return vtn
    }

    /// `http://HOST:PORT/openadr3/3.1.0` (`options.basePath`).
    package var baseURL: String { "http://\(HostPort(host: host, port: port))\(options.basePath)" }

    /// Stops serving.
    package func close() async {
        await server.withLock { $0 }?.close()
    }

    // MARK: Admin, in process

    /// Creates an event; returns its id.
    @discardableResult
    package func createEvent(_ object: [String: Any]) -> String {
        let (id, event) = state.withLock { s -> (String, Data) in
            var e = resolveNow(object)
            let id = (e["id"] as? String) ?? "event-\(s.nextID)"
            s.nextID += 1
            e["id"] = id
            e["objectType"] = "EVENT"
            if e["programID"] == nil { e["programID"] = options.programs.first?.id ?? "" }
            e["createdDateTime"] = ISO8601.format(Date())
            e["modificationDateTime"] = ISO8601.format(Date())
            s.events[id] = e
            s.eventOrder.append(id)
            // Bounded like everything else: the oldest event goes first.
            if s.eventOrder.count > Self.maxEntries { s.events[s.eventOrder.removeFirst()] = nil }
            return (id, Self.encode(e))
        }
        notify("POST", event)
        return id
    }

    /// Replaces an event's content (keeps its id); false when there is no such event.
    @discardableResult
    package func updateEvent(id: String, _ object: [String: Any]) -> Bool {
        let event = state.withLock { s -> Data? in
            guard let old = s.events[id] else { return nil }
            var e = resolveNow(object)
            e["id"] = id
            e["objectType"] = "EVENT"
            e["programID"] = e["programID"] ?? old["programID"]
            e["createdDateTime"] = old["createdDateTime"]
            e["modificationDateTime"] = ISO8601.format(Date())
            s.events[id] = e
            return Self.encode(e)
        }
        guard let event else { return false }
        notify("PUT", event)
        return true
    }

    /// Deletes an event (and notifies subscribers); false when there is no such event.
    @discardableResult
    package func deleteEvent(id: String) -> Bool {
        let event = state.withLock { s -> Data? in
            s.eventOrder.removeAll { $0 == id }
            return s.events.removeValue(forKey: id).map(Self.encode)
        }
        guard let event else { return false }
        notify("DELETE", event)
        return true
    }

    /// Sets misbehaviours; nil leaves one as it is.
    package func misbehave(
        fail500: Int? = nil, unauthorizedOnce: Bool? = nil, ignoreFilter: Bool? = nil, ignoreSkip: Bool? = nil,
        notification: NotificationStyle? = nil, down: Bool? = nil, uncheckedResponses: Bool? = nil,
        hideVENsByName: Bool? = nil
    ) {
        state.withLock { s in
            if let v = fail500 { s.misbehave.fail500 = v }
            if let v = unauthorizedOnce { s.misbehave.unauthorizedOnce = v }
            if let v = ignoreFilter { s.misbehave.ignoreFilter = v }
            if let v = ignoreSkip { s.misbehave.ignoreSkip = v }
            if let v = notification { s.misbehave.notification = v }
            if let v = down { s.misbehave.down = v }
            if let v = uncheckedResponses { s.misbehave.uncheckedResponses = v }
            if let v = hideVENsByName { s.misbehave.hideVENsByName = v }
        }
    }

    /// Reports received, as JSON text (sorted keys), oldest first.
    package var reportsJSON: [String] { state.withLock { $0.reports.map { JSONLine.encode($0) } } }
    package var reportCount: Int { state.withLock { $0.reports.count } }
    /// Requests by "METHOD /path" (the path without ids), and tokens issued as "tokens".
    package var stats: [String: Int] { state.withLock { $0.stats } }
    package var subscriptionCount: Int { state.withLock { $0.subscriptions.count } }
    package var notificationsSent: Int { state.withLock { $0.notificationsSent } }
    package var venNames: [String] { state.withLock { $0.vens.compactMap { $0["venName"] as? String } } }
    /// Requests refused (4xx with a problem), their details, oldest first (the latest 100).
    package var rejections: [String] { state.withLock { $0.rejections } }
    /// The fake's own answers and notifications that broke the specification (the latest 100): a test of a
    /// conformant exchange expects none.
    package var responseViolations: [String] { state.withLock { $0.responseViolations } }
    /// Subscriptions as the fake keeps them (raw JSON, sorted keys), with `clientID`.
    package var subscriptionsJSON: [String] { state.withLock { $0.subscriptions.map { JSONLine.encode($0.object) } } }

    // MARK: HTTP

    func resolveNow(_ object: [String: Any]) -> [String: Any] {
        var e = object
        if var p = e["intervalPeriod"] as? [String: Any], let start = p["start"] as? String, start.hasPrefix("now") {
            let offset = Double(start.dropFirst(3).trimmingCharacters(in: CharacterSet(charactersIn: "+s"))) ?? 0
            p["start"] = ISO8601.format(Date().addingTimeInterval(offset))
            e["intervalPeriod"] = p
        }
        return e
    }

    func token(_ r: TinyHTTPServer.Request) -> TinyHTTPServer.Response {
        let form = String(decoding: r.body, as: UTF8.self).split(separator: "&").reduce(into: [String: String]()) {
            let kv = $1.split(separator: "=", maxSplits: 1).map {
                String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String($0)
            }
            if kv.count == 2 { $0[kv[0]] = kv[1] }
        }
        guard r.header("Content-Type")?.hasPrefix("application/x-www-form-urlencoded") == true,
            form["grant_type"] == "client_credentials"
        else { return .json(400, ["error": "unsupported_grant_type"]) }
        guard let client = form["client_id"], let secret = form["client_secret"],
            (client == options.clientID ? Optional(options.clientSecret) : options.clients[client]) == secret
        else {
            return .json(401, ["error": "invalid_client"])
        }
        let value = UUID().uuidString
        let lifetime = options.tokenLifetime
        state.withLock { s in
            s.tokens[value] = (client, .now + .milliseconds(Int64((lifetime ?? 3600) * 1000)))
            // Expired tokens go, so the table stays as small as the live ones.
            if s.tokens.count > 1000 { s.tokens = s.tokens.filter { $0.value.until > .now } }
            s.stats["tokens", default: 0] += 1
        }
        var o: [String: Any] = [
            "access_token": value, "token_type": "Bearer",
            "scope": options.scopeAsArray
                ? ["read_all", "write_vens", "write_reports"] : "read_all write_vens write_reports",
        ]
        // An integer, as the specification types it.
        if let lifetime { o["expires_in"] = Int(lifetime.rounded(.up)) }
        return .json(200, o)
    }

    /// A refusal, as an error so that `authorise` can return a `Result`.
    struct Denied: Error {
        let response: TinyHTTPServer.Response
    }

    /// The client the request's token was issued to (nil without auth); a 401 otherwise (no token,
    /// unknown, expired, or injected).
    func authorise(_ r: TinyHTTPServer.Request) -> Result<String?, Denied> {
        guard options.clientID != nil else { return .success(nil) }
        return state.withLock { s in
            if s.misbehave.unauthorizedOnce {
                s.misbehave.unauthorizedOnce = false
                s.tokens.removeAll()
                return .failure(Denied(response: .problem(401, "token revoked (injected)")))
            }
            guard let t = r.bearer, let token = s.tokens[t], ContinuousClock.now < token.until else {
                return .failure(Denied(response: .problem(401, "missing, unknown or expired token")))
            }
            return .success(token.client)
        }
    }

    func admin(_ r: TinyHTTPServer.Request, _ parts: [String]) -> TinyHTTPServer.Response {
        switch (r.method, parts.first ?? "", parts.count) {
        case ("POST", "events", 1):
            guard let o = Self.object(r.body) else { return .problem(400, "an event object is required") }
            let id = createEvent(o)
            return state.withLock { .json(201, $0.events[id] ?? [:]) }
        case ("PUT", "events", 2):
            guard let o = Self.object(r.body) else { return .problem(400, "an event object is required") }
            return updateEvent(id: parts[1], o) ? .json(200, ["id": parts[1]]) : .problem(404, "no event \(parts[1])")
        case ("DELETE", "events", 2):
            return deleteEvent(id: parts[1]) ? .json(200, ["id": parts[1]]) : .problem(404, "no event \(parts[1])")
        case ("POST", "misbehave", 1):
            guard let o = Self.object(r.body) else { return .problem(400, "an object is required") }
            misbehave(
                fail500: (o["fail500"] as? NSNumber)?.intValue, unauthorizedOnce: o["unauthorizedOnce"] as? Bool,
                ignoreFilter: o["ignoreFilter"] as? Bool, ignoreSkip: o["ignoreSkip"] as? Bool,
                notification: (o["notification"] as? String).flatMap(NotificationStyle.init(rawValue:)),
                down: o["down"] as? Bool, uncheckedResponses: o["uncheckedResponses"] as? Bool,
                hideVENsByName: o["hideVENsByName"] as? Bool)
            return .json(200, ["ok": true])
        case ("GET", "reports", 1):
            return state.withLock { s in
                .json(
                    200,
                    zip(s.reports, s.reportTimes).map { r, t -> [String: Any] in
                        var x = r
                        x["receivedAt"] = t
                        return x
                    })
            }
        case ("GET", "subscriptions", 1):
            return state.withLock { s in
                .json(
                    200,
                    s.subscriptions.map { ["id": $0.id, "clientName": $0.clientName, "callbackUrl": $0.callbackURL] })
            }
        case ("GET", "stats", 1):
            return state.withLock { s in
                .json(
                    200,
                    [
                        "requests": s.stats, "notifications": s.notificationsSent, "reports": s.reports.count,
                        "subscriptions": s.subscriptions.count, "vens": s.vens.count,
                    ] as [String: Any])
            }
        default:
            return .problem(404, "no such admin endpoint \(r.method) /admin/\(parts.joined(separator: "/"))")
        }
    }

    /// Tells every EVENT subscriber about a change, in the configured encoding, without waiting.
    func notify(_ operation: String, _ eventJSON: Data) {
        let (subs, style) = state.withLock { s in (s.subscriptions, s.misbehave.notification) }
        let program = (Self.object(eventJSON)?["programID"] as? String)
        let event = String(decoding: eventJSON, as: UTF8.self)
        for sub in subs where sub.programID == nil || sub.programID == "" || sub.programID == program {
            // 3.0.1 names the operation by its HTTP method (POST, PUT, DELETE); 3.1.0 as CREATE, UPDATE, DELETE.
            let word = sub.version == "3.0.1" ? operation : ["POST": "CREATE", "PUT": "UPDATE"][operation] ?? operation
            let body: Data
            switch style {
            case .plain:
                body = Data(#"{"objectType":"EVENT","operation":"\#(word)","object":\#(event)}"#.utf8)
                // Held to the document like every answer (a violation is the fake's bug, recorded).
                if let spec = OpenAPISpec.all[sub.version], let value = Self.object(body) {
                    let problems = spec.check(value, schema: "notification")
                    if !problems.isEmpty {
                        state.withLock {
                            $0.responseViolations.append("notification: " + problems.joined(separator: "; "))
                        }
                    }
                }
            case .snake:
                body = Data(#"{"object_type":"EVENT","operation":"\#(word)","object":\#(event)}"#.utf8)
            case .double:
                // The notification JSON, encoded again as one JSON string (some servers do this).
                let inner = #"{"objectType":"EVENT","operation":"\#(word)","object":\#(event)}"#
                body =
                    (try? JSONSerialization.data(withJSONObject: inner, options: [.fragmentsAllowed]))
                    ?? Data(inner.utf8)
            }
            var request = HTTPClientRequest(url: sub.callbackURL)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            if let t = sub.bearerToken { request.headers.add(name: "Authorization", value: "Bearer \(t)") }
            request.body = .bytes(ByteBuffer(bytes: body))
            let http = self.http
            Task {
                if let response = try? await http.execute(request, timeout: .seconds(5)) {
                    _ = try? await response.body.collect(upTo: 1 << 16)
                    self.state.withLock { $0.notificationsSent += 1 }
                }
            }
        }
    }

    /// Most events, VENs and reports kept (the oldest are dropped).
    static let maxEntries = 10_000

    static func encode(_ o: [String: Any]) -> Data {
        (try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys])) ?? Data("{}".utf8)
    }

    static func object(_ body: Data) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: body)) as? [String: Any]
    }
}
