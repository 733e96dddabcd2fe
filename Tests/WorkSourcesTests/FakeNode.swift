import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import OpenSSLSHA256
import Synchronization

/// A JSON-RPC server on loopback that behaves like a regtest bitcoind for FlexMiner's purposes:
/// serves templates, validates submitted blocks independently, and can replay the node's failures.
final class FakeNode: Sendable {
    enum Mode: Sendable, Hashable, CustomStringConvertible {
        case normal
        /// HTTP 500 with a JSON-RPC error -1 "internal failure".
        case internalError
        /// HTTP 200 with an HTML body.
        case malformed
        /// The connection closes before any answer.
        case dropConnections
        /// bitcoind's overload answer: HTTP 503, plain text "Work queue depth exceeded".
        case overloaded
        /// A proxy's error page: HTTP 500 with HTML.
        case htmlError
        /// The answer's head and half its body, then the connection closes.
        case dropMidBody
        /// The request is carried out, then the connection closes without the answer (a node that
        /// took the block and restarted, a proxy timing out).
        case dropAfterHandling
        /// A fixed answer.
        case reply(status: Int, body: String)

        var description: String {
            switch self {
            case .normal: "normal"
            case .internalError: "HTTP 500 with a JSON-RPC error -1"
            case .malformed: "HTTP 200 with HTML"
            case .dropConnections: "connection dropped"
            case .overloaded: "HTTP 503 Work queue depth exceeded"
            case .htmlError: "HTTP 500 with HTML"
            case .dropMidBody: "connection dropped mid-body"
            case .dropAfterHandling: "connection dropped after handling"
            case .reply(let status, let body): "HTTP \(status) \(body)"
            }
        }
    }

    /// A failure served instead of the normal answer, `times` times, to `method` only (any when nil).
    struct Failure: Sendable {
        var mode: Mode
        var times: Int
        var method: String?
    }

    struct State: Sendable {
        var mode: Mode = .normal
        var failures: [Failure] = []
        /// The template's JSON object, serialized (so the state is Sendable).
        var templateJSON: Data
        var tip: String
        var accepted: [String: [UInt8]] = [:]
        var submissions: [String] = []
        var calls: [String] = []
        /// After an accepted block, this many `getblocktemplate` calls still get the template on the old
        /// tip (a node, or a cache in front of it, that has not caught up yet).
        var staleTemplatesAfterBlock = 0
        var staleTemplate: (json: Data, remaining: Int)?
    }

    let user: String
    let password: String
    let state: Mutex<State>
    /// Run once, when `method` is next called (before it is answered).
    let hooks = Mutex<[String: @Sendable () -> Void]>([:])
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private let channel: Mutex<Channel?> = Mutex(nil)

    var port: Int { channel.withLock { $0?.localAddress?.port ?? 0 } }
    var url: String { "http://127.0.0.1:\(port)" }

    init(template: [String: Any], user: String = "alice", password: String = "s3cret-pw") {
        self.user = user
        self.password = password
        let json = try! JSONSerialization.data(withJSONObject: template)
        state = Mutex(State(templateJSON: json, tip: template["previousblockhash"] as! String))
    }

    /// Changes the served template (and the tip to its previous block hash).
    func updateTemplate(_ body: (inout [String: Any]) -> Void) {
        state.withLock { s in
            var t = Self.object(s.templateJSON)
            body(&t)
            s.templateJSON = try! JSONSerialization.data(withJSONObject: t)
            s.tip = t["previousblockhash"] as! String
        }
    }

    static func object(_ data: Data) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
    }

    func start() async throws {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { [self] ch in
                ch.eventLoop.makeCompletedFuture {
                    try ch.pipeline.syncOperations.configureHTTPServerPipeline()
                    try ch.pipeline.syncOperations.addHandler(Handler(node: self))
                }
            }
        let c = try await bootstrap.bind(host: "127.0.0.1", port: 0).get()
        channel.withLock { $0 = c }
    }

    func stop() async {
        let c = channel.withLock { $0 }
        try? await c?.close().get()
        try? await group.shutdownGracefully()
    }

    func set(_ mode: Mode) { state.withLock { $0.mode = mode } }

    /// Serves `mode` instead of the normal answer to the next `times` calls (of `method` only, when
    /// given), then answers normally again.
    func fail(_ mode: Mode, times: Int, method: String? = nil) {
        state.withLock { $0.failures.append(Failure(mode: mode, times: times, method: method)) }
    }

    /// How many times `method` was called, failed calls included.
    func calls(_ method: String) -> Int { state.withLock { $0.calls.filter { $0 == method }.count } }

    struct Reply {
        enum Drop { case no, beforeAnswer, midBody }
        var status: HTTPResponseStatus
        var body: String
        var contentType = "application/json"
        var drop = Drop.no
    }

    func handle(authorization: String?, body: ByteBuffer) -> Reply {
        let expected = "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
        guard authorization == expected else { return Reply(status: .unauthorized, body: "") }
        guard let request = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any],
            let method = request["method"] as? String
        else {
            return Reply(
                status: .badRequest, body: #"{"result":null,"error":{"code":-32700,"message":"Parse error"},"id":null}"#
            )
        }
        let params = request["params"] as? [Any] ?? []
        hooks.withLock { $0.removeValue(forKey: method) }?()
        let mode = state.withLock { s in
            s.calls.append(method)
            if let i = s.failures.firstIndex(where: { $0.times > 0 && ($0.method ?? method) == method }) {
                s.failures[i].times -= 1
                return s.failures[i].mode
            }
            return s.mode
        }
        switch mode {
        case .dropConnections: return Reply(status: .ok, body: "", drop: .beforeAnswer)
        case .internalError:
            return Reply(
                status: .internalServerError,
                body: #"{"result":null,"error":{"code":-1,"message":"internal failure"},"id":"flexminer"}"#)
        case .malformed: return Reply(status: .ok, body: "<html>not json</html>", contentType: "text/html")
        case .overloaded:
            return Reply(status: .serviceUnavailable, body: "Work queue depth exceeded", contentType: "text/plain")
        case .htmlError:
            return Reply(
                status: .internalServerError, body: "<html><body><h1>500 Internal Server Error</h1></body></html>",
                contentType: "text/html")
        case .dropMidBody:
            return Reply(
                status: .ok, body: #"{"result":{"chain":"regtest","blocks":105},"error":null,"id":"x"}"#, drop: .midBody
            )
        case .reply(let status, let body): return Reply(status: HTTPResponseStatus(statusCode: status), body: body)
        case .normal, .dropAfterHandling: break
        }
        var reply = answer(method: method, params: params)
        if mode == .dropAfterHandling { reply.drop = .beforeAnswer }
        return reply
    }

    /// The normal answer to `method`.
    func answer(method: String, params: [Any]) -> Reply {
        func ok(_ result: Any) -> Reply {
            let data = try! JSONSerialization.data(withJSONObject: [
                "result": result, "error": NSNull(), "id": "flexminer",
            ])
            return Reply(status: .ok, body: String(decoding: data, as: UTF8.self))
        }
        func rpcError(_ code: Int, _ message: String) -> Reply {
            Reply(
                status: .internalServerError,
                body: #"{"result":null,"error":{"code":\#(code),"message":"\#(message)"},"id":"flexminer"}"#)
        }
        switch method {
        case "getblockchaininfo": return ok(["chain": "regtest", "blocks": 105])
        case "getbestblockhash": return ok(state.withLock { $0.tip })
        case "getblocktemplate":
            guard let p = params.first as? [String: Any], let rules = p["rules"] as? [String], rules.contains("segwit")
            else {
                return rpcError(
                    -8,
                    "getblocktemplate must be called with the segwit rule set (call with {\\\"rules\\\": [\\\"segwit\\\"]})"
                )
            }
            return ok(
                Self.object(
                    state.withLock { s in
                        guard let stale = s.staleTemplate, stale.remaining > 0 else { return s.templateJSON }
                        s.staleTemplate?.remaining -= 1
                        return stale.json
                    }))
        case "submitblock":
            guard let hex = params.first as? String else { return rpcError(-1, "missing block") }
            let verdict = validate(hex)
            switch verdict {
            case .decodeFailed: return rpcError(-22, "Block decode failed")
            case .accepted: return ok(NSNull())
            case .rejected(let reason): return ok(reason)
            }
        default: return rpcError(-32601, "Method not found")
        }
    }

    enum Verdict { case accepted, rejected(String), decodeFailed }

    /// Independent checks of a submitted block against the template served (the test's own decoder and
    /// OpenSSL; nothing from the modules under test).
    func validate(_ hexText: String) -> Verdict {
        guard let block = try? IndependentBlock(bytes(hexText)) else { return .decodeFailed }
        let hash = block.hashHex
        return state.withLock { s -> Verdict in
            s.submissions.append(hash)
            if s.accepted[hash] != nil { return .rejected("duplicate") }
            let t = Self.object(s.templateJSON)
            guard block.previousHashHex == s.tip else { return .rejected("prev-blk-not-found") }
            guard block.bitsHex == t["bits"] as? String else { return .rejected("bad-diffbits") }
            guard block.meets(targetHex: t["target"] as! String) else { return .rejected("high-hash") }
            guard block.merkleRoot == block.merkleRootField else { return .rejected("bad-txnmrklroot") }
            guard block.time >= UInt32((t["mintime"] as! NSNumber).intValue) else { return .rejected("time-too-old") }
            // The template's transactions, unchanged and in order, after the coinbase.
            let templateTxs = (t["transactions"] as? [[String: Any]] ?? []).map { $0["data"] as! String }
            guard block.txs.dropFirst().map({ hex($0.raw) }) == templateTxs else { return .rejected("bad-txns") }
            // Coinbase: BIP34 height first in the scriptSig, total paid at most the template's value.
            let cb = block.txs[0]
            let height = (t["height"] as! NSNumber).intValue
            guard cb.scriptSigOfFirstInput.starts(with: bip34Push(height)) else { return .rejected("bad-cb-height") }
            guard cb.outputs.reduce(0, { $0 + $1.value }) <= (t["coinbasevalue"] as! NSNumber).int64Value else {
                return .rejected("bad-cb-amount")
            }
            if let commitment = t["default_witness_commitment"] as? String {
                guard cb.outputs.contains(where: { hex($0.script) == commitment }) else {
                    return .rejected("bad-witness-merkle-match")
                }
            }
            s.accepted[hash] = bytes(hexText)
            s.tip = hash
            if s.staleTemplatesAfterBlock > 0 { s.staleTemplate = (s.templateJSON, s.staleTemplatesAfterBlock) }
            // The next template builds on the accepted block, with an empty mempool: its witness
            // commitment is over the coinbase alone, SHA-256d(SHA-256d-root of [0…0] ‖ [0…0]).
            var next = t
            next["previousblockhash"] = hash
            next["height"] = height + 1
            next["transactions"] = [Any]()
            next["coinbasevalue"] = 5_000_000_000
            next["default_witness_commitment"] =
                "6a24aa21a9ed" + hex(OpenSSLSHA256.hashTwice([UInt8](repeating: 0, count: 64)))
            s.templateJSON = try! JSONSerialization.data(withJSONObject: next)
            return .accepted
        }
    }
}

final class Handler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let node: FakeNode
    var head: HTTPRequestHead?
    var body = ByteBuffer()

    init(node: FakeNode) { self.node = node }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body.clear()
        case .body(var b):
            body.writeBuffer(&b)
        case .end:
            let reply = node.handle(authorization: head?.headers.first(name: "Authorization"), body: body)
            if reply.drop == .beforeAnswer {
                context.close(promise: nil)
                return
            }
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: reply.contentType)
            headers.add(name: "Content-Length", value: "\(reply.body.utf8.count)")
            context.write(
                wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: reply.status, headers: headers))),
                promise: nil)
            if reply.drop == .midBody {
                // Half the promised bytes, then the connection goes away (a node killed mid-answer).
                let half = String(reply.body.utf8.prefix(reply.body.utf8.count / 2))!
                context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: half)))), promise: nil)
                context.close(promise: nil)
                return
            }
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: reply.body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}
