import AsyncHTTPClient
import Chain
import FlexSupport
import Foundation
import NIOCore
import NIOHTTP1

/// What went wrong talking to the node. Messages never contain credentials.
package struct NodeRPCError: Error, Hashable, Sendable, CustomStringConvertible {
    package enum Kind: String, Sendable, Hashable {
        /// HTTP 401: wrong user/password or cookie.
        case unauthorized
        /// Could not connect, or the connection dropped.
        case connection
        case timeout
        /// The node answered with a JSON-RPC error object.
        case rpc
        /// The answer was not the JSON-RPC the node speaks.
        case malformed
        /// The credentials could not be read (e.g. the cookie file).
        case credentials
        /// The node is for another network than the payout address.
        case wrongChain
        /// The node (or a proxy in front of it) answered, but not with JSON-RPC: an HTTP 5xx such as
        /// bitcoind's 503 "Work queue depth exceeded", or a body that is not JSON. Worth retrying.
        case unavailable
    }

    package let kind: Kind
    package let message: String
    /// The JSON-RPC error code, for `.rpc` (nil when the node's error has none, e.g. a bare string).
    package let code: Int?
    /// The node's own error message, for `.rpc`.
    package let nodeMessage: String?

    package init(_ kind: Kind, _ message: String, code: Int? = nil, nodeMessage: String? = nil) {
        self.kind = kind
        self.message = message
        self.code = code
        self.nodeMessage = nodeMessage
    }

    package var description: String { message }

    /// JSON-RPC error codes that a node in trouble returns for a while and then stops returning:
    /// -1 (misc, e.g. "TestBlockValidity failed" while the mempool changes), -9 (not connected),
    /// -10 (initial block download), -28 (warming up), -32603 (internal error).
    package static let transientRPCCodes: Set<Int> = [-1, -9, -10, -28, -32603]

    /// Whether asking again later can succeed: a dropped or refused connection, a timeout, an HTTP 5xx
    /// or non-JSON answer, or a node error in `transientRPCCodes`. Wrong credentials, another chain,
    /// a bad request and JSON that is not JSON-RPC are not: retrying would only hide them.
    package var isTransient: Bool {
        switch kind {
        case .connection, .timeout, .unavailable: true
        case .rpc: code.map(Self.transientRPCCodes.contains) ?? false
        case .unauthorized, .malformed, .credentials, .wrongChain: false
        }
    }
}

/// How to authenticate to bitcoind.
package enum NodeCredentials: Sendable, Hashable {
    /// bitcoind's `.cookie` file (`__cookie__:PASSWORD`), read on every request so node restarts work.
    case cookie(path: String)
    case userPassword(user: String, password: String)

    /// A cookie alone, or a user with a password: what `--rpc-cookie`, `--rpc-user` and `--rpc-password`
    /// (or their config keys) give. Nil for any other mix; the caller's refusal names the flags.
    package init?(cookie: String?, user: String?, password: String?) {
        switch (cookie, user, password) {
        case (let cookie?, nil, nil): self = .cookie(path: cookie)
        case (nil, let user?, let password?): self = .userPassword(user: user, password: password)
        default: return nil
        }
    }

    func authorizationHeader() throws(NodeRPCError) -> String {
        let pair: String
        switch self {
        case .userPassword(let u, let p): pair = "\(u):\(p)"
        case .cookie(let path):
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw NodeRPCError(.credentials, "cannot read the RPC cookie file \(path)")
            }
            let line = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard line.contains(":") else {
                throw NodeRPCError(.credentials, "the RPC cookie file \(path) is not in the form __cookie__:PASSWORD")
            }
            pair = line
        }
        return "Basic " + Data(pair.utf8).base64EncodedString()
    }
}

/// The result of `submitblock`.
package enum SubmitResult: Sendable, Hashable, CustomStringConvertible {
    case accepted
    /// The node's reason string (e.g. "high-hash", "duplicate", "bad-txnmrklroot").
    case rejected(String)
    /// A JSON-RPC error (e.g. -22 "Block decode failed"), of whatever JSON type the node sent: the
    /// code is nil when the error is not an object with an integer code (a bare string, a number).
    case error(code: Int?, message: String)

    package var description: String {
        switch self {
        case .accepted: "accepted"
        case .rejected(let r): r
        case .error(let code?, let message): "error \(code): \(message)"
        case .error(nil, let message): "error: \(message)"
        }
    }

    /// Whether submitting again could change the answer (it cannot: all three are the node's verdict).
    package var isFinal: Bool { true }
}

/// A JSON-RPC client for Bitcoin Core over HTTP/1.1 (keep-alive, timeouts, Basic auth), on
/// AsyncHTTPClient.
package final class NodeRPCClient: Sendable {
    package let url: String
    let credentials: NodeCredentials
    let client: HTTPClient
    let requestTimeout: TimeAmount

    /// - Parameters:
    ///   - url: e.g. "http://127.0.0.1:18443".
    ///   - requestTimeout: for ordinary calls; long polls use their own.
    /// - Throws: `NodeRPCError` when `url` is not an http URL.
    package init(url: String, credentials: NodeCredentials, requestTimeout: Duration = .seconds(30))
        throws(NodeRPCError)
    {
        guard let u = URL(string: url), u.scheme == "http", u.host != nil else {
            throw NodeRPCError(.connection, "--rpc: expected http://HOST:PORT")
        }
        // Credentials in the URL would end up in messages and logs: refuse them (without echoing).
        guard u.user == nil && u.password == nil else {
            throw NodeRPCError(
                .credentials, "--rpc: put credentials in --rpc-cookie or --rpc-user/--rpc-password, not in the URL")
        }
        self.url = url
        self.credentials = credentials
        self.requestTimeout = Self.timeAmount(requestTimeout)
        var config = HTTPClient.Configuration()
        config.timeout = .init(connect: .seconds(5), read: nil)
        // A refused connection fails the request at once. AsyncHTTPClient would otherwise retry the
        // connect with its own backoff until the connect timeout (5 s for each refused attempt: `submit`
        // to a stopped node took 38 s); the callers' retry schedules (`NodeWork`) set the pace instead.
        config.connectionPool.retryConnectionEstablishment = false
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
    }

    /// Closes connections. Call once, when done.
    package func shutdown() async {
        try? await client.shutdown()
    }

    /// A NIO time amount for `duration`, clamped to 0...1 day first: `TimeAmount.seconds` multiplies
    /// by 10⁹ and would trap on a huge duration (`--timeout 1e30`), and no request waits longer.
    static func timeAmount(_ duration: Duration) -> TimeAmount {
        let (seconds, attoseconds) = duration.components
        if seconds < 0 { return .zero }
        if seconds >= 86_400 { return .seconds(86_400) }
        return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }

    /// Calls `method` and returns the raw response body (a JSON-RPC response object) after checking
    /// that it carries no error.
    /// - Throws: `NodeRPCError`: `.rpc` when the node answered an error (of any JSON type: an object,
    ///   a string, a number), `.unavailable` for an HTTP 5xx without a JSON-RPC error or a body that is
    ///   not JSON (transient), `.malformed` for JSON that is not a JSON-RPC response.
    package func callRaw(_ method: String, params: [Any], timeout: Duration? = nil) async throws(NodeRPCError) -> Data {
        try await call(method, params: params, timeout: timeout).body
    }

    /// A JSON-RPC response that carries no error: its fields, its body and the HTTP status.
    struct Response {
        let fields: JSONFields
        let body: Data
        let status: HTTPResponseStatus
    }

    func call(_ method: String, params: [Any], timeout: Duration? = nil) async throws(NodeRPCError) -> Response {
        let auth = try credentials.authorizationHeader()
        let payload: Data
        do {
            payload = try JSONSerialization.data(withJSONObject: [
                "jsonrpc": "1.0", "id": "flexminer", "method": method, "params": params,
            ])
        } catch { throw NodeRPCError(.malformed, "cannot encode the \(method) request") }
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Authorization", value: auth)
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: payload))
        let limit = timeout.map(Self.timeAmount) ?? requestTimeout
        let status: HTTPResponseStatus
        let body: Data
        do {
            let response = try await client.execute(request, timeout: limit)
            status = response.status
            var buffer = try await response.body.collect(upTo: 64 * 1024 * 1024)
            body = Data(buffer.readBytes(length: buffer.readableBytes) ?? [])
        } catch let e as HTTPClientError where e == .deadlineExceeded || e == .readTimeout || e == .connectTimeout {
            throw NodeRPCError(.timeout, "\(method): the node at \(url) did not answer in time")
        } catch {
            throw NodeRPCError(.connection, "\(method): cannot reach the node at \(url) (\(Self.describe(error)))")
        }
        let fields = try Self.reply(method: method, status: Int(status.code), body: body, url: url, authorization: auth)
        return Response(fields: fields, body: body, status: status)
    }

    /// What the client makes of the node's HTTP answer to `method`, without any I/O (so that it can be
    /// fuzzed and tested without a server): the response's fields when it is a JSON-RPC response
    /// without an error.
    /// - Parameters:
    ///   - url: the node's URL, for messages.
    ///   - authorization: the request's Authorization header, so that a body echoing it is not quoted.
    /// - Throws: `NodeRPCError`: `.unauthorized` for HTTP 401/403; `.rpc` when the node answered an
    ///   error of any JSON type; `.unavailable` (transient) for an HTTP 5xx without a JSON-RPC error or
    ///   a body that is not JSON; `.malformed` for a 4xx without JSON or JSON that is not JSON-RPC.
    package static func reply(
        method: String, status: Int, body: Data, url: String, authorization: String = ""
    ) throws(NodeRPCError) -> JSONFields {
        let http = "HTTP \(status)"
        switch status {
        case 401:
            throw NodeRPCError(.unauthorized, "\(method): the node at \(url) refused the RPC credentials (\(http))")
        case 403:
            throw NodeRPCError(
                .unauthorized, "\(method): the node at \(url) refused this client (\(http); check rpcallowip)")
        default: break
        }
        let parsed = try? JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed])
        guard let object = parsed as? [String: Any] else {
            // bitcoind's own overload answer (503 "Work queue depth exceeded"), a proxy's HTML error
            // page, a body cut short: the node may answer properly next time. A 4xx is our request's
            // fault (a wrong path), and JSON that is not a JSON-RPC object is not bitcoind: retrying
            // cannot fix either.
            let transient =
                status >= 500 || status == 408 || status == 429
                || (parsed == nil && !(400..<500).contains(status))
            let what = parsed == nil ? "without a JSON-RPC body" : "with JSON that is not a JSON-RPC response"
            throw NodeRPCError(
                transient ? .unavailable : .malformed,
                "\(method): the node at \(url) answered \(http) \(what)\(Self.excerpt(body, hiding: authorization))")
        }
        let fields = JSONFields(object)
        if let error = fields.object["error"], !(error is NSNull) {
            let (code, text) = Self.nodeError(error)
            let shown = code.map { "node error \($0): \(text)" } ?? "node error: \(text)"
            throw NodeRPCError(.rpc, "\(method): \(shown)", code: code, nodeMessage: text)
        }
        if status >= 500 {
            throw NodeRPCError(.unavailable, "\(method): the node at \(url) answered \(http) without an error")
        }
        guard (200..<300).contains(status), fields.keys.contains("result") else {
            throw NodeRPCError(.malformed, "\(method): the node's answer has no \"result\" (\(http))")
        }
        return fields
    }

    /// The code (when it is an integer within Int32, as bitcoind's are) and the text of a JSON-RPC
    /// error of any JSON type: an object `{"code":…,"message":…}`, a string, a number, anything else.
    static func nodeError(_ error: Any) -> (code: Int?, text: String) {
        if let object = error as? [String: Any] {
            let f = JSONFields(object)
            let code = try? f.integer("code", in: Int(Int32.min)...Int(Int32.max))
            let message = (try? f.string("message")) ?? nil
            return (code, message.map { $0.count > 200 ? String($0.prefix(200)) + "…" : $0 } ?? JSONText.of(error))
        }
        if let text = error as? String { return (nil, text.count > 200 ? String(text.prefix(200)) + "…" : text) }
        if let n = JSONScalar.integer(error, in: -Int(Int32.max)...Int(Int32.max)) { return (n, JSONText.of(error)) }
        return (nil, JSONText.of(error))
    }

    /// The start of a body that is not JSON-RPC, for messages: printable ASCII only, 80 characters,
    /// and nothing at all if it echoes the credentials (as a debugging proxy's page might).
    static func excerpt(_ body: Data, hiding authorization: String) -> String {
        let text = String(decoding: body.prefix(80).map { (0x20..<0x7f).contains($0) ? $0 : 0x20 }, as: UTF8.self)
            .trimmingCharacters(in: .whitespaces)
        let token = authorization.split(separator: " ").last.map(String.init) ?? authorization
        let decoded = Data(base64Encoded: token).map { String(decoding: $0, as: UTF8.self) } ?? ""
        let secret = decoded.split(separator: ":", maxSplits: 1).last.map(String.init) ?? ""
        // A secret cut off at the 80th byte still shows its start at the end of the excerpt.
        let cutSecret = (4...max(4, min(secret.count, text.count))).contains { secret.hasPrefix(text.suffix($0)) }
        if text.isEmpty || text.contains(token.prefix(8)) || (!secret.isEmpty && (text.contains(secret) || cutSecret)) {
            return ""
        }
        return ": \"\(text)\(body.count > 80 ? "…" : "")\""
    }

    static func describe(_ error: any Error) -> String {
        let text = String(describing: error)
        return text.count > 200 ? String(text.prefix(200)) + "…" : text
    }

    /// `getblocktemplate {"rules":["segwit"]}`, long-polling when `longPollID` is given.
    package func getBlockTemplate(longPollID: String? = nil, timeout: Duration? = nil) async throws(NodeRPCError)
        -> BlockTemplate
    {
        var request: [String: Any] = ["rules": ["segwit"]]
        if let id = longPollID { request["longpollid"] = id }
        let body = try await callRaw("getblocktemplate", params: [request], timeout: timeout)
        do { return try BlockTemplate(json: body) } catch {
            throw NodeRPCError(.malformed, "getblocktemplate: \(error.message)")
        }
    }

    /// `submitblock HEX`. Only `"result":null` with `"error":null` (HTTP 2xx) is an acceptance; a
    /// string result is the node's reason; an error of any JSON type is the node's verdict too.
    /// - Throws: `NodeRPCError` when there is no verdict: transport failures, an HTTP 5xx, or an
    ///   answer of any other shape (`.malformed`: the block stays pending, never taken as accepted).
    package func submitBlock(hex: String) async throws(NodeRPCError) -> SubmitResult {
        let response: Response
        do { response = try await call("submitblock", params: [hex]) } catch {
            // A JSON-RPC error (e.g. -22 for bytes that do not decode) is the node's verdict too.
            if error.kind == .rpc { return .error(code: error.code, message: error.nodeMessage ?? "") }
            throw error
        }
        return try Self.verdict(response.fields)
    }

    /// The verdict of a `submitblock` reply that `reply(method:status:body:)` returned (no error):
    /// `"result":null` with `"error":null` is an acceptance, a string result the node's reason.
    /// - Throws: `NodeRPCError.malformed` for any other shape (never taken as an acceptance).
    package static func verdict(_ fields: JSONFields) throws(NodeRPCError) -> SubmitResult {
        // `reply` has checked that "error" is absent or null; an acceptance must say so explicitly.
        guard fields.keys.contains("error") else {
            throw NodeRPCError(.malformed, "submitblock: the node's answer has no \"error\": null")
        }
        switch fields.object["result"] {
        case is NSNull: return .accepted
        case let reason as String: return .rejected(reason)
        default:
            let result = JSONText.of(fields.object["result"] ?? NSNull())
            throw NodeRPCError(.malformed, "submitblock: the result is neither null nor a reason string: \(result)")
        }
    }

    /// The node's chain name, as the payout address's network.
    package func network() async throws(NodeRPCError) -> Network {
        try Self.network(try await call("getblockchaininfo", params: []).fields)
    }

    /// The network of a `getblockchaininfo` reply that `reply(method:status:body:)` returned.
    /// - Throws: `NodeRPCError`: `.malformed` without a `chain` string, `.wrongChain` for an unknown one.
    package static func network(_ fields: JSONFields) throws(NodeRPCError) -> Network {
        let chain: String
        do throws(InputError) {
            guard let info = try fields.fields("result") else { throw InputError("field \"result\" is null") }
            chain = try info.requiredString("chain")
        } catch { throw NodeRPCError(.malformed, "getblockchaininfo: \(error.message)") }
        switch chain {
        case "main": return .main
        case "test", "testnet4": return .test
        case "signet": return .signet
        case "regtest": return .regtest
        default: throw NodeRPCError(.wrongChain, "the node is on an unknown chain \"\(chain.prefix(40))\"")
        }
    }

    /// `getbestblockhash`: the tip's hash as 64 hex digits (display order).
    package func bestBlockHash() async throws(NodeRPCError) -> String {
        let response = try await call("getbestblockhash", params: [])
        guard let hash = try? response.fields.string("result"), hash.utf8.count == 64, hash.allSatisfy(\.isHexDigit)
        else {
            throw NodeRPCError(.malformed, "getbestblockhash: field \"result\" must be 64 hex digits")
        }
        return hash
    }
}

/// A JSON value as compact text, for messages (at most 200 characters).
enum JSONText {
    static func of(_ value: Any) -> String {
        let data = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys])
        let text = data.map { String(decoding: $0, as: UTF8.self) } ?? String(describing: value)
        return text.count > 200 ? String(text.prefix(200)) + "…" : text
    }
}
