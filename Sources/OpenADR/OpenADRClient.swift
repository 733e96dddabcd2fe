import AsyncHTTPClient
import FlexSupport
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// OAuth 2 client credentials for a VTN. The secret is read from a file on every token request (so it
/// can be rotated without a restart) and never kept in a message, a log or a URL.
package struct OpenADRCredentials: Sendable, Hashable, CustomStringConvertible {
    package let clientID: String
    package let secretFile: String

    package init(clientID: String, secretFile: String) {
        self.clientID = clientID
        self.secretFile = secretFile
    }

    /// Says which client and file, never the secret.
    package var description: String { "client \(clientID) (secret in \(secretFile))" }
}

/// A report for one event interval, as `POST /reports` takes it.
package struct IntervalReport: Sendable, Hashable {
    package var programID: String
    package var eventID: String
    package var clientName: String
    package var reportName: String
    package var resourceName: String
    package var intervalID: Int
    package var start: Date
    package var durationSeconds: Double
    /// kWh drawn during the interval (nil without a known power draw).
    package var usageKWh: Double?
    /// From the interval's start (or the VEN learning of it, if later) to the load responding.
    package var responseLatencyMS: Double?

    package init(
        programID: String, eventID: String, clientName: String, reportName: String, resourceName: String,
        intervalID: Int, start: Date, durationSeconds: Double, usageKWh: Double?, responseLatencyMS: Double?
    ) {
        self.programID = programID
        self.eventID = eventID
        self.clientName = clientName
        self.reportName = reportName
        self.resourceName = resourceName
        self.intervalID = intervalID
        self.start = start
        self.durationSeconds = durationSeconds
        self.usageKWh = usageKWh
        self.responseLatencyMS = responseLatencyMS
    }

    /// The OpenADR 3 report object.
    package var object: [String: Any] {
        var descriptors: [[String: Any]] = []
        var payloads: [[String: Any]] = []
        if let kwh = usageKWh {
            descriptors.append([
                "objectType": "REPORT_PAYLOAD_DESCRIPTOR", "payloadType": "USAGE", "readingType": "DIRECT_READ",
                "units": "KWH",
            ])
            payloads.append(["type": "USAGE", "values": [kwh]])
        }
        if let ms = responseLatencyMS {
            descriptors.append([
                "objectType": "REPORT_PAYLOAD_DESCRIPTOR", "payloadType": "X_RESPONSE_LATENCY", "units": "MS",
            ])
            payloads.append(["type": "X_RESPONSE_LATENCY", "values": [ms]])
        }
        let period: [String: Any] = [
            "start": ISO8601.format(start), "duration": ISODuration.format(seconds: durationSeconds),
        ]
        return [
            "objectType": "REPORT", "programID": programID, "eventID": eventID, "clientName": clientName,
            "reportName": reportName, "payloadDescriptors": descriptors,
            "resources": [
                [
                    "resourceName": resourceName, "intervalPeriod": period,
                    "intervals": [["id": intervalID, "payloads": payloads]],
                ]
            ],
        ]
    }
}

/// The wire client of an OpenADR 3 VTN (3.0.1 and 3.1.0 as servers actually answer): OAuth 2 client
/// credentials, programs, VENs, events (paged), subscriptions and reports, on AsyncHTTPClient. Every
/// reply is read with `JSONFields`: a malformed one is an `OpenADRError` naming the field. Requests are
/// shaped for the version the base path names (`OpenADRVersion`); see `OpenADRClient+Resources.swift`.
package final class OpenADRClient: Sendable {
    /// The VTN's base URL without a trailing slash, e.g. `https://vtn.example/openadr3/3.0.1`.
    package let baseURL: String
    let credentials: OpenADRCredentials?
    let client: HTTPClient
    let ownsClient: Bool
    let timeout: TimeAmount
    /// Entries per page of every list (`limit`: at most 50, the specification's bound), and the most pages
    /// read (bounded whatever the VTN does).
    package let pageSize: Int
    package let maxPages: Int
    /// The version the base path names, or the one a VTN accepted after a fallback (nil: not known yet).
    let negotiated = Mutex<OpenADRVersion?>(nil)
    /// The OpenADR version in use ("3.1.0"), when known.
    package var version: String? { negotiated.withLock { $0?.rawValue } }

    struct Token {
        var value: String
        /// Renew when the monotonic clock passes this.
        var renewAt: ContinuousClock.Instant
    }
    let token = Mutex<Token?>(nil)
    /// Requests made (for tests and status).
    let requestCount = Atomic<Int>(0)
    package var requests: Int { requestCount.load(ordering: .relaxed) }

    /// - Parameters:
    ///   - baseURL: `http[s]://HOST[:PORT]/BASE_PATH`; credentials in the URL are refused.
    ///   - credentials: nil for a VTN without auth (a test server).
    /// - Throws: `OpenADRError(.configuration)` naming what is wrong with the URL.
    package init(
        baseURL: String, credentials: OpenADRCredentials?, httpClient: HTTPClient? = nil,
        requestTimeout: Duration = .seconds(10), pageSize: Int = 50, maxPages: Int = 200
    ) throws(OpenADRError) {
        guard let u = URL(string: baseURL), u.scheme == "http" || u.scheme == "https", u.host != nil else {
            throw OpenADRError(.configuration, "openadr3:\(baseURL): expected http[s]://HOST[:PORT]/BASE_PATH")
        }
        guard u.user == nil && u.password == nil else {
            throw OpenADRError(
                .configuration, "openadr3: put credentials in --openadr-client-id/--openadr-secret-file, not the URL")
        }
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.credentials = credentials
        // `limit` is at most 50 in every version of the specification: a VTN refuses more with a 400.
        self.pageSize = min(max(pageSize, 1), 50)
        self.maxPages = max(maxPages, 1)
        negotiated.withLock { $0 = OpenADRVersion.named(in: baseURL) }
        timeout = .milliseconds(Int64(requestTimeout.milliseconds))
        // The process-wide client by default: its pool is bounded (8 connections a host) and it never needs
        // a shutdown, so no path (an error, a cancelled task) can leak or trap on one.
        client = httpClient ?? HTTPClient.shared
        ownsClient = false
    }

    /// Closes connections. Call once, when done.
    package func shutdown() async {
        if ownsClient { try? await client.shutdown() }
    }

    // MARK: Auth

    /// A bearer token, fetched or renewed when it is missing or about to expire.
    func bearer(forceRenew: Bool = false) async throws(OpenADRError) -> String? {
        guard let credentials else { return nil }
        if !forceRenew, let t = token.withLock({ $0 }), ContinuousClock.now < t.renewAt { return t.value }
        let fresh = try await fetchToken(credentials)
        token.withLock { $0 = fresh }
        return fresh.value
    }

    /// `GET /auth/server` for the token URL, then the client-credentials grant, form-encoded. A VTN
    /// without `/auth/server` (3.0.1 has none: 404) takes the grant at `auth/token` under the base path,
    /// the token URL its security scheme names.
    func fetchToken(_ c: OpenADRCredentials) async throws(OpenADRError) -> Token {
        let server = try await send("GET", "/auth/server", auth: false)
        let tokenURL: String
        if server.status == 404 {
            tokenURL = "auth/token"
        } else {
            try server.check("GET /auth/server")
            do { tokenURL = try server.object().requiredString("tokenURL") } catch {
                throw error.openADR("GET /auth/server")
            }
        }
        let secret: String
        do {
            secret = try InputFile.text(c.secretFile, limit: 64 * 1024).trimmingCharacters(in: .whitespacesAndNewlines)
        } catch {
            throw OpenADRError(.configuration, "--openadr-secret-file \(c.secretFile): cannot read it")
        }
        guard !secret.isEmpty else {
            throw OpenADRError(.configuration, "--openadr-secret-file \(c.secretFile): the file is empty")
        }
        let form = [("grant_type", "client_credentials"), ("client_id", c.clientID), ("client_secret", secret)]
            .map { "\($0.0)=\(Self.formEncode($0.1))" }.joined(separator: "&")
        // Absolute, host-relative ("/auth/token") or relative to the base path, as URLs resolve.
        guard let url = URL(string: tokenURL, relativeTo: URL(string: baseURL + "/"))?.absoluteString else {
            throw OpenADRError(.malformed, "GET /auth/server: field \"tokenURL\" is not a URL")
        }
        let reply = try await send(
            "POST", url, absolute: true, body: Data(form.utf8), contentType: "application/x-www-form-urlencoded",
            auth: false, what: "POST token")
        if reply.status == 401 || reply.status == 403 || reply.status == 400 {
            throw OpenADRError(
                .unauthorized, "POST token: the VTN refused \(c) (HTTP \(reply.status))", status: reply.status)
        }
        try reply.check("POST token")
        do {
            let f = try reply.object()
            let value = try f.requiredString("access_token")
            // `scope` may be a string or (some servers) an array; it is not needed, only tolerated.
            // Without `expires_in`, renew after an hour (and, as always, once after a 401/403).
            let expiresIn = try f.number("expires_in", in: 0...31_536_000) ?? 3600
            // Renew at 80 % of the lifetime, and at least 5 s before the end.
            let margin = min(max(expiresIn * 0.2, 5), expiresIn)
            return Token(value: value, renewAt: .now + .milliseconds(Int64((expiresIn - margin) * 1000)))
        } catch { throw error.openADR("POST token") }
    }

    static func formEncode(_ s: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }

    // MARK: Requests

    /// A reply: status and body.
    struct Reply {
        let status: Int
        let body: Data

        func check(_ what: String) throws(OpenADRError) {
            guard (200..<300).contains(status) else {
                let detail = Self.problem(body)
                throw OpenADRError(.http, "\(what): HTTP \(status)\(detail.map { " (\($0))" } ?? "")", status: status)
            }
        }

        /// RFC 7807 `title`/`detail` from an error body, shortened.
        static func problem(_ body: Data) -> String? {
            guard let o = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] else { return nil }
            let text = (o["detail"] as? String) ?? (o["title"] as? String)
            return text.map { String($0.prefix(200)) }
        }

        func json() throws(InputError) -> Any {
            do { return try JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed]) } catch {
                throw InputError("the reply is not JSON")
            }
        }

        func object() throws(InputError) -> JSONFields {
            guard let o = try json() as? [String: Any] else { throw InputError("the reply must be a JSON object") }
            return JSONFields(o)
        }

        func objects(limit: Int = 10_000) throws(InputError) -> [JSONFields] {
            guard let a = try json() as? [Any] else { throw InputError("the reply must be a JSON array") }
            guard a.count <= limit else { throw InputError("the reply has \(a.count) entries (at most \(limit))") }
            var out: [JSONFields] = []
            for (i, item) in a.enumerated() {
                guard let o = item as? [String: Any] else { throw InputError("entry [\(i)] must be an object") }
                out.append(JSONFields(o, path: "[\(i)]."))
            }
            return out
        }
    }

    /// One request with the bearer token; after a 401/403 the token is renewed and the request tried
    /// once more.
    func call(
        _ method: String, _ path: String, query: [(String, String)] = [], json: Any? = nil, what: String? = nil
    ) async throws(OpenADRError) -> Reply {
        let what = what ?? "\(method) \(path)"
        var body: Data? = nil
        if let json {
            do { body = try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys]) } catch {
                throw OpenADRError(.configuration, "\(what): cannot encode the request")
            }
        }
        var url = path
        if !query.isEmpty { url += "?" + query.map { "\($0.0)=\(Self.formEncode($0.1))" }.joined(separator: "&") }
        var reply = try await send(method, url, body: body, auth: true, what: what)
        if reply.status == 401 || reply.status == 403, credentials != nil {
            _ = try await bearer(forceRenew: true)
            reply = try await send(method, url, body: body, auth: true, what: what)
            if reply.status == 401 || reply.status == 403 {
                throw OpenADRError(
                    .unauthorized, "\(what): HTTP \(reply.status) with a fresh token", status: reply.status)
            }
        }
        return reply
    }

    func send(
        _ method: String, _ path: String, absolute: Bool = false, body: Data? = nil,
        contentType: String = "application/json", auth: Bool, what: String? = nil
    ) async throws(OpenADRError) -> Reply {
        let what = what ?? "\(method) \(path)"
        var request = HTTPClientRequest(url: absolute ? path : baseURL + path)
        request.method = HTTPMethod(rawValue: method)
        request.headers.add(name: "Accept", value: "application/json")
        if auth, let t = try await bearer() { request.headers.add(name: "Authorization", value: "Bearer \(t)") }
        if let body {
            request.headers.add(name: "Content-Type", value: contentType)
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        requestCount.add(1, ordering: .relaxed)
        do {
            let response = try await client.execute(request, timeout: timeout)
            var buffer = try await response.body.collect(upTo: 16 << 20)
            return Reply(
                status: Int(response.status.code), body: Data(buffer.readBytes(length: buffer.readableBytes) ?? []))
        } catch {
            let text = String(describing: error)
            throw OpenADRError(.connection, "\(what): cannot reach the VTN at \(baseURL) (\(text.prefix(160)))")
        }
    }
}
