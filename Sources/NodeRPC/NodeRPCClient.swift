import AsyncHTTPClient
import Chain
import Foundation
import NIOCore
import NIOHTTP1

/// What went wrong talking to the node. Messages never contain credentials.
public struct NodeRPCError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
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
    }

    public let kind: Kind
    public let message: String
    /// The JSON-RPC error code, for `.rpc`.
    public let code: Int?
    /// The node's own error message, for `.rpc`.
    public let nodeMessage: String?

    public init(_ kind: Kind, _ message: String, code: Int? = nil, nodeMessage: String? = nil) {
        self.kind = kind
        self.message = message
        self.code = code
        self.nodeMessage = nodeMessage
    }

    public var description: String { message }
}

/// How to authenticate to bitcoind.
public enum NodeCredentials: Sendable, Hashable {
    /// bitcoind's `.cookie` file (`__cookie__:PASSWORD`), read on every request so node restarts work.
    case cookie(path: String)
    case userPassword(user: String, password: String)

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
public enum SubmitResult: Sendable, Hashable, CustomStringConvertible {
    case accepted
    /// The node's reason string (e.g. "high-hash", "duplicate", "bad-txnmrklroot").
    case rejected(String)
    /// A JSON-RPC error (e.g. -22 "Block decode failed").
    case error(code: Int, message: String)

    public var description: String {
        switch self {
        case .accepted: "accepted"
        case .rejected(let r): r
        case .error(let code, let message): "error \(code): \(message)"
        }
    }

    /// Whether submitting again could change the answer (it cannot: all three are the node's verdict).
    public var isFinal: Bool { true }
}

/// A JSON-RPC client for Bitcoin Core over HTTP/1.1 (keep-alive, timeouts, Basic auth), on
/// AsyncHTTPClient.
public final class NodeRPCClient: Sendable {
    public let url: String
    let credentials: NodeCredentials
    let client: HTTPClient
    let requestTimeout: TimeAmount

    /// - Parameters:
    ///   - url: e.g. "http://127.0.0.1:18443".
    ///   - requestTimeout: for ordinary calls; long polls use their own.
    /// - Throws: `NodeRPCError` when `url` is not an http URL.
    public init(url: String, credentials: NodeCredentials, requestTimeout: Duration = .seconds(30)) throws(NodeRPCError)
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
        self.requestTimeout = .nanoseconds(Int64(requestTimeout.components.seconds) * 1_000_000_000)
        var config = HTTPClient.Configuration()
        config.timeout = .init(connect: .seconds(5), read: nil)
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
    }

    /// Closes connections. Call once, when done.
    public func shutdown() async {
        try? await client.shutdown()
    }

    /// Calls `method` and returns the raw response body (a JSON-RPC response object) after checking
    /// that it carries no error.
    public func callRaw(_ method: String, params: [Any], timeout: Duration? = nil) async throws(NodeRPCError) -> Data {
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
        let limit: TimeAmount = timeout.map { .seconds(Int64($0.components.seconds)) } ?? requestTimeout
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
        if status == .unauthorized {
            throw NodeRPCError(.unauthorized, "\(method): the node at \(url) refused the RPC credentials (HTTP 401)")
        }
        guard let object = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] else {
            throw NodeRPCError(.malformed, "\(method): the node answered HTTP \(status.code) without a JSON-RPC body")
        }
        if let err = object["error"] as? [String: Any] {
            let code = (err["code"] as? NSNumber)?.intValue ?? 0
            let message = err["message"] as? String ?? "unknown error"
            throw NodeRPCError(.rpc, "\(method): node error \(code): \(message)", code: code, nodeMessage: message)
        }
        guard object.keys.contains("result") else {
            throw NodeRPCError(.malformed, "\(method): the node's answer has no \"result\" (HTTP \(status.code))")
        }
        return body
    }

    static func describe(_ error: any Error) -> String {
        let text = String(describing: error)
        return text.count > 200 ? String(text.prefix(200)) + "…" : text
    }

    static func result(_ body: Data) -> Any? {
        ((try? JSONSerialization.jsonObject(with: body)) as? [String: Any])?["result"]
    }

    /// `getblocktemplate {"rules":["segwit"]}`, long-polling when `longPollID` is given.
    public func getBlockTemplate(longPollID: String? = nil, timeout: Duration? = nil) async throws(NodeRPCError)
        -> BlockTemplate
    {
        var request: [String: Any] = ["rules": ["segwit"]]
        if let id = longPollID { request["longpollid"] = id }
        let body = try await callRaw("getblocktemplate", params: [request], timeout: timeout)
        do { return try BlockTemplate(json: body) } catch {
            throw NodeRPCError(.malformed, "getblocktemplate: \(error.message)")
        }
    }

    /// `submitblock HEX`: null means accepted, a string is the node's reason.
    public func submitBlock(hex: String) async throws(NodeRPCError) -> SubmitResult {
        let body: Data
        do { body = try await callRaw("submitblock", params: [hex]) } catch {
            // A JSON-RPC error (e.g. -22 for bytes that do not decode) is the node's verdict too.
            if error.kind == .rpc { return .error(code: error.code ?? 0, message: error.nodeMessage ?? "") }
            throw error
        }
        switch Self.result(body) {
        case nil, is NSNull: return .accepted
        case let reason as String: return .rejected(reason)
        default: throw NodeRPCError(.malformed, "submitblock: unexpected result")
        }
    }

    /// The node's chain name, as the payout address's network.
    public func network() async throws(NodeRPCError) -> Network {
        let body = try await callRaw("getblockchaininfo", params: [])
        guard let info = Self.result(body) as? [String: Any], let chain = info["chain"] as? String else {
            throw NodeRPCError(.malformed, "getblockchaininfo: no \"chain\" in the answer")
        }
        switch chain {
        case "main": return .main
        case "test", "testnet4": return .test
        case "signet": return .signet
        case "regtest": return .regtest
        default: throw NodeRPCError(.wrongChain, "the node is on an unknown chain \"\(chain)\"")
        }
    }

    public func bestBlockHash() async throws(NodeRPCError) -> String {
        let body = try await callRaw("getbestblockhash", params: [])
        guard let hash = Self.result(body) as? String else {
            throw NodeRPCError(.malformed, "getbestblockhash: the result is not a string")
        }
        return hash
    }
}
