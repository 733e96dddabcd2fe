import FlexSupport
import Foundation

/// A VEN record on the VTN: its id and name.
package struct VENRecord: Sendable, Hashable {
    package let id: String
    package let name: String
}

extension OpenADRClient {
    // MARK: Lists

    /// Every page of a list (`skip`, `limit` = `pageSize` ≤ 50), at most `maxPages`. A short page is the
    /// last; so is one with nothing new (a server that ignores `skip`). Entries are kept once by `id`.
    func list(_ path: String, query: [(String, String)] = []) async throws(OpenADRError) -> [JSONFields] {
        var out: [JSONFields] = []
        var seen = Set<String>()
        for page in 0..<maxPages {
            let reply = try await call(
                "GET", path, query: query + [("skip", "\(page * pageSize)"), ("limit", "\(pageSize)")])
            try reply.check("GET \(path)")
            let items: [JSONFields]
            do { items = try reply.objects(limit: 10_000) } catch { throw error.openADR("GET \(path)") }
            var fresh = false
            for item in items {
                // An entry without a readable id is kept (the caller names what is wrong with it).
                let id = (try? item.string("id")).flatMap { $0 }
                if let id, !seen.insert(id).inserted { continue }
                fresh = true
                out.append(item)
            }
            if items.count < pageSize || !fresh { break }
        }
        return out
    }

    // MARK: Programs, VENs

    /// `GET /programs`, every page.
    package func programs() async throws(OpenADRError) -> [Program] {
        let items = try await list("/programs")
        do { return try items.map { f throws(InputError) in try Program(fields: f) } } catch {
            throw error.openADR("GET /programs")
        }
    }

    /// The program whose id or `programName` is `nameOrID` (the id wins when both match).
    package func program(_ nameOrID: String) async throws(OpenADRError) -> Program {
        let all = try await programs()
        if let p = all.first(where: { $0.id == nameOrID }) ?? all.first(where: { $0.name == nameOrID }) { return p }
        throw OpenADRError(
            .configuration,
            "--openadr-program \(nameOrID): no such program on the VTN (it has \(all.prefix(10).map(\.name).joined(separator: ", ")))"
        )
    }

    /// The VEN records this client may see (`GET /vens`, every page; `venName` filters, and is checked
    /// here too: some servers ignore it).
    package func vens(named name: String? = nil) async throws(OpenADRError) -> [VENRecord] {
        let items = try await list("/vens", query: name.map { [("venName", $0)] } ?? [])
        var out: [VENRecord] = []
        do {
            for f in items {
                let record = VENRecord(id: try f.requiredString("id"), name: try f.string("venName") ?? "")
                if name == nil || record.name == name { out.append(record) }
            }
        } catch { throw error.openADR("GET /vens") }
        return out
    }

    /// Registers the VEN named `name` (`POST /vens`, shaped for the version), or returns the id of the
    /// record with that name this client already has. A 409 (the name is taken, or the VTN allows one VEN
    /// per credential) adopts this client's record by that name when there is one (even if the name filter
    /// missed it), else is a configuration error saying what to change.
    package func registerVEN(name: String) async throws(OpenADRError) -> String {
        if let found = try await vens(named: name).first { return found.id }
        let reply = try await negotiate { v throws(OpenADRError) in
            try await self.call("POST", "/vens", json: v.venRequest(name: name))
        }
        if reply.status == 409 {
            let mine = try await vens()
            if let same = mine.first(where: { $0.name == name }) { return same.id }
            let detail = Reply.problem(reply.body).map { " (\($0))" } ?? ""
            let change =
                mine.isEmpty
                ? "the name is taken by another client: choose another --openadr-ven"
                : "this credential already has VEN \(mine.map(\.name).prefix(5).joined(separator: ", ")): set --openadr-ven \(mine[0].name), or give this host a credential of its own (--openadr-client-id, --openadr-secret-file)"
            throw OpenADRError(
                .configuration, "POST /vens: HTTP 409\(detail): the VTN refused VEN \(name); \(change)", status: 409)
        }
        try reply.check("POST /vens")
        do { return try reply.object().requiredString("id") } catch { throw error.openADR("POST /vens") }
    }

    /// Sends a request shaped for the version in use. When the base path names no version, the newest
    /// shapes go first and a 400 tries the older ones; the version that is accepted is kept.
    func negotiate(_ send: (OpenADRVersion) async throws(OpenADRError) -> Reply)
        async throws(OpenADRError) -> Reply
    {
        if let known = negotiated.withLock({ $0 }) { return try await send(known) }
        var last: Reply? = nil
        for v in OpenADRVersion.fallbackOrder {
            let reply = try await send(v)
            if reply.status != 400 {
                if (200..<300).contains(reply.status) { negotiated.withLock { $0 = v } }
                return reply
            }
            last = reply
        }
        return last ?? Reply(status: 400, body: Data())
    }

    // MARK: Events

    /// The program's events, every page (`skip`/`limit`), filtered by program here too: some servers
    /// ignore `programID`. A malformed event makes the whole read fail, naming it and the field: acting
    /// on a schedule with a hole in it would be worse than keeping the last good one.
    /// - Parameter programID: nil reads every event the VEN may see.
    package func events(programID: String?) async throws(OpenADRError) -> [Event] {
        let items = try await list("/events", query: programID.map { [("programID", $0)] } ?? [])
        var out: [Event] = []
        for item in items {
            do {
                let e = try Event(fields: item)
                if programID == nil || e.programID == programID { out.append(e) }
            } catch {
                let id = (try? item.string("id")).flatMap { $0 }.map { " event \($0.prefix(60))" } ?? ""
                throw error.openADR("GET /events\(id)")
            }
        }
        return out
    }

    // MARK: Subscriptions, reports

    /// `POST /subscriptions` for EVENT changes (create, update, delete, in the version's words) in the
    /// program, calling `callbackURL` with `bearerToken`. Returns the subscription's id.
    /// - Parameter programID: nil subscribes to every program the VEN may see (3.1.0 only: 3.0.1 requires
    ///   a program, so that is a configuration error there).
    package func subscribe(clientName: String, programID: String?, callbackURL: String, bearerToken: String)
        async throws(OpenADRError) -> String
    {
        let reply = try await negotiate { v throws(OpenADRError) in
            if programID == nil && v.subscriptionNeedsProgram {
                throw OpenADRError(
                    .configuration,
                    "POST /subscriptions: OpenADR \(v.rawValue) requires a program: set --openadr-program")
            }
            var body: [String: Any] = [
                "objectType": "SUBSCRIPTION", "clientName": clientName,
                "objectOperations": [
                    [
                        "objects": ["EVENT"], "operations": v.changeOperations, "callbackUrl": callbackURL,
                        "bearerToken": bearerToken,
                    ]
                ],
            ]
            if let programID { body["programID"] = programID }
            return try await self.call("POST", "/subscriptions", json: body)
        }
        try reply.check("POST /subscriptions")
        do { return try reply.object().requiredString("id") } catch { throw error.openADR("POST /subscriptions") }
    }

    /// `DELETE /subscriptions/{id}`; a subscription already gone (404) counts as removed.
    package func unsubscribe(id: String) async throws(OpenADRError) {
        let reply = try await call("DELETE", "/subscriptions/\(Self.formEncode(id))")
        if reply.status == 404 { return }
        try reply.check("DELETE /subscriptions")
    }

    /// `POST /reports`. Returns the report's id.
    @discardableResult
    package func postReport(_ report: IntervalReport) async throws(OpenADRError) -> String? {
        let reply = try await call("POST", "/reports", json: report.object)
        try reply.check("POST /reports")
        return (try? reply.object().string("id")).flatMap { $0 }
    }
}
