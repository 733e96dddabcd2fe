import FlexSupport
import Foundation
import OpenADR

/// The specification's endpoints: each request is first held to the OpenAPI document of the version its
/// base path names (`/openadr3/3.0.1/…`, `/openadr3/3.1.0/…`) and refused as a real server refuses it
/// (400 with a problem naming the parameter or field; 404, 405); each answer is checked against the same
/// document before it leaves (a violation is the fake's own bug: it answers 500 and records it).
extension FakeVTN {
    /// What a route needs to know about the request beyond its text.
    struct Call {
        let spec: OpenAPISpec
        let base: String
        /// The OAuth client the bearer token was issued to (nil without auth).
        let client: String?
        let match: OpenAPISpec.Match
    }

    /// The base path a request is under and the document it is held to.
    func served(_ path: String) -> (base: String, spec: OpenAPISpec)? {
        var bases = OpenAPISpec.all.keys.map { ("/openadr3/\($0)", $0) }
        let custom = options.basePath
        if !bases.contains(where: { $0.0 == custom }) {
            let named = custom.split(separator: "/").last.map(String.init) ?? ""
            bases.append((custom, OpenAPISpec.all[named] == nil ? options.basePathVersion : named))
        }
        for (base, version) in bases.sorted(by: { $0.0.count > $1.0.count })
        where path == base || path.hasPrefix(base + "/") {
            guard let spec = OpenAPISpec.all[version] else { return nil }
            return (base, spec)
        }
        return nil
    }

    func handle(_ r: TinyHTTPServer.Request) -> TinyHTTPServer.Response {
        guard let served = served(r.path) else { return .problem(404, "no such path \(r.path)") }
        let (base, spec) = served
        let path = String(r.path.dropFirst(base.count))
        let parts = path.split(separator: "/").map(String.init)
        let statKey =
            "\(r.method) /\(parts.first ?? "")\(parts.count > 1 && parts[0] != "admin" ? "/{id}" : parts.count > 1 ? "/\(parts[1])" : "")"
        state.withLock { $0.stats[statKey, default: 0] += 1 }
        if parts.first == "admin" { return admin(r, Array(parts.dropFirst())) }

        // Faults first: a VTN that is down or failing answers nothing useful, whoever asks.
        let fault = state.withLock { s -> TinyHTTPServer.Response? in
            if s.misbehave.down { return .problem(503, "down for maintenance") }
            if s.misbehave.fail500 > 0 {
                s.misbehave.fail500 -= 1
                return .problem(500, "internal error (injected)")
            }
            return nil
        }
        if let fault { return fault }

        let match: OpenAPISpec.Match
        switch spec.lookup(method: r.method, path: path) {
        case .noPath: return reject(404, "no such path \(path) in OpenADR \(spec.version)")
        case .noMethod(let allowed):
            return reject(405, "\(r.method) \(path): OpenADR \(spec.version) allows \(allowed.joined(separator: ", "))")
        case .found(let m): match = m
        }
        var client: String? = nil
        if !match.template.hasPrefix("/auth/") {
            switch authorise(r) {
            case .failure(let denied): return denied.response
            case .success(let c): client = c
            }
        }
        let problems = spec.checkRequest(match, query: r.query, contentType: r.header("Content-Type"), body: r.body)
        if !problems.isEmpty {
            return reject(400, "\(r.method) \(match.template): \(problems.joined(separator: "; "))")
        }
        let response = route(r, Call(spec: spec, base: base, client: client, match: match))
        return checked(response, match, spec)
    }

    /// Answers 4xx with a problem body, and keeps what was refused (the tests read it).
    func reject(_ status: Int, _ detail: String) -> TinyHTTPServer.Response {
        state.withLock { s in
            s.stats["rejected", default: 0] += 1
            s.rejections.append(detail)
            if s.rejections.count > 100 { s.rejections.removeFirst() }
        }
        return .problem(status, detail)
    }

    /// The answer, held to the document; a violation becomes a 500 (and is recorded) unless the test
    /// asked for unchecked answers (to serve a malformed object on purpose).
    func checked(_ response: TinyHTTPServer.Response, _ m: OpenAPISpec.Match, _ spec: OpenAPISpec)
        -> TinyHTTPServer.Response
    {
        if state.withLock({ $0.misbehave.uncheckedResponses }) { return response }
        // The array `scope` is a misbehaviour asked for (some servers send it): its answer is not held.
        if m.template == "/auth/token" && options.scopeAsArray { return response }
        let problems = spec.checkResponse(m, status: response.status, body: response.body)
        guard !problems.isEmpty else { return response }
        let detail = "fake VTN answer to \(m.method) \(m.template) violates OpenADR \(spec.version): "
        state.withLock { s in
            s.responseViolations.append(detail + problems.joined(separator: "; "))
            if s.responseViolations.count > 100 { s.responseViolations.removeFirst() }
        }
        return .problem(500, detail + problems.joined(separator: "; "))
    }

    func route(_ r: TinyHTTPServer.Request, _ c: Call) -> TinyHTTPServer.Response {
        switch (r.method, c.match.template) {
        case ("GET", "/auth/server"):
            return .json(200, ["tokenURL": "http://\(HostPort(host: host, port: port))\(c.base)/auth/token"])
        case ("POST", "/auth/token"): return token(r)
        case ("GET", "/programs"):
            return .json(200, page(options.programs.map { Self.program(id: $0.id, name: $0.name) }, r.query))
        case ("GET", "/vens"):
            let name = r.query["venName"]
            return state.withLock { s in
                if name != nil && s.misbehave.hideVENsByName { return .json(200, [Any]()) }
                let mine = s.vens.filter { c.client == nil || $0["clientID"] as? String == c.client }
                return .json(200, page(mine.filter { name == nil || $0["venName"] as? String == name }, r.query))
            }
        case ("POST", "/vens"): return createVEN(r, c)
        case ("GET", "/events"):
            let program = r.query["programID"]
            return state.withLock { s in
                var list = s.eventOrder.compactMap { s.events[$0] }
                if !s.misbehave.ignoreFilter, let program {
                    list = list.filter { $0["programID"] as? String == program }
                }
                if s.misbehave.ignoreSkip {
                    return .json(200, Array(list.prefix(min(Int(r.query["limit"] ?? "50") ?? 50, 50))))
                }
                return .json(200, page(list, r.query))
            }
        case ("POST", "/events"):
            guard let o = Self.object(r.body) else { return .problem(400, "an event object is required") }
            let id = createEvent(o)
            return state.withLock { .json(201, $0.events[id] ?? [:]) }
        case ("GET", "/subscriptions"):
            return state.withLock { s in
                .json(
                    200,
                    page(s.subscriptions.filter { c.client == nil || $0.clientID == c.client }.map(\.object), r.query))
            }
        case ("POST", "/subscriptions"): return createSubscription(r, c)
        case ("DELETE", "/subscriptions/{subscriptionID}"):
            let id = c.match.pathParameters["subscriptionID"] ?? ""
            let removed = state.withLock { s -> Subscription? in
                guard let i = s.subscriptions.firstIndex(where: { $0.id == id }) else { return nil }
                return s.subscriptions.remove(at: i)
            }
            return removed.map { .json(200, $0.object) } ?? .problem(404, "no subscription \(id)")
        case ("POST", "/reports"): return createReport(r, c)
        case ("GET", "/reports"):
            return state.withLock { .json(200, page($0.reports, r.query)) }
        default:
            return .problem(501, "\(r.method) \(c.match.template) is in the specification but not in the fake VTN")
        }
    }

    /// One page of a list, by the request's `skip` and `limit` (already held to the document's bounds).
    func page(_ list: [[String: Any]], _ query: [String: String]) -> [[String: Any]] {
        let skip = min(max(Int(query["skip"] ?? "0") ?? 0, 0), list.count)
        let limit = min(max(Int(query["limit"] ?? "50") ?? 50, 0), 50)
        return Array(list[skip..<min(list.count, skip + limit)])
    }

    static func program(id: String, name: String) -> [String: Any] {
        [
            "objectType": "PROGRAM", "id": id, "programName": name, "createdDateTime": "2026-01-01T00:00:00Z",
            "modificationDateTime": "2026-01-01T00:00:00Z",
        ]
    }

    /// `POST /vens`: a name is unique on the VTN; with `oneVENPerClient`, a client that already has a VEN
    /// gets 409 for any other (as VTNs that bind a VEN to its credential do).
    func createVEN(_ r: TinyHTTPServer.Request, _ c: Call) -> TinyHTTPServer.Response {
        guard let o = Self.object(r.body), let name = o["venName"] as? String else {
            return reject(400, "venName is required")
        }
        let conflict = state.withLock { s -> String? in
            if s.vens.contains(where: { $0["venName"] as? String == name }) {
                return "a VEN named \(name) exists"
            }
            if options.oneVENPerClient, let client = c.client,
                let owned = s.vens.first(where: { $0["clientID"] as? String == client })
            {
                return "client \(client) already has VEN \(owned["venName"] as? String ?? "?") (one VEN per client)"
            }
            return nil
        }
        if let conflict { return reject(409, conflict) }
        return state.withLock { s in
            let now = ISO8601.format(Date())
            var v: [String: Any] = [
                "objectType": "VEN", "id": "ven-\(s.nextID)", "venName": name, "createdDateTime": now,
                "modificationDateTime": now,
            ]
            if let client = c.client { v["clientID"] = client }
            if let attributes = o["attributes"] { v["attributes"] = attributes }
            s.nextID += 1
            s.vens.append(v)
            if s.vens.count > Self.maxEntries { s.vens.removeFirst() }
            return .json(201, v)
        }
    }

    func createSubscription(_ r: TinyHTTPServer.Request, _ c: Call) -> TinyHTTPServer.Response {
        // The document has already checked the shape: objectOperations with objects, operations, callbackUrl.
        guard let o = Self.object(r.body), let ops = o["objectOperations"] as? [[String: Any]],
            let first = ops.first, let url = first["callbackUrl"] as? String
        else { return reject(400, "objectOperations[0].callbackUrl is required") }
        return state.withLock { s in
            let now = ISO8601.format(Date())
            var x = o
            x["id"] = "subscription-\(s.nextID)"
            x["objectType"] = "SUBSCRIPTION"
            x["createdDateTime"] = now
            x["modificationDateTime"] = now
            x["clientID"] = c.client ?? "anonymous"
            s.nextID += 1
            s.subscriptions.append(
                Subscription(
                    id: x["id"] as? String ?? "", clientName: o["clientName"] as? String ?? "",
                    programID: o["programID"] as? String, callbackURL: url,
                    bearerToken: first["bearerToken"] as? String, clientID: c.client, version: c.spec.version,
                    object: x))
            if s.subscriptions.count > 1000 { s.subscriptions.removeFirst() }
            return .json(201, x)
        }
    }

    func createReport(_ r: TinyHTTPServer.Request, _ c: Call) -> TinyHTTPServer.Response {
        guard var o = Self.object(r.body) else { return reject(400, "a report object is required") }
        return state.withLock { s in
            let now = ISO8601.format(Date())
            o["id"] = "report-\(s.nextID)"
            o["objectType"] = "REPORT"
            o["createdDateTime"] = now
            o["modificationDateTime"] = now
            o["clientID"] = c.client ?? "anonymous"
            s.nextID += 1
            s.reports.append(o)
            s.reportTimes.append(Date().timeIntervalSince1970)
            if s.reports.count > Self.maxEntries {
                s.reports.removeFirst()
                s.reportTimes.removeFirst()
            }
            return .json(201, o)
        }
    }
}
