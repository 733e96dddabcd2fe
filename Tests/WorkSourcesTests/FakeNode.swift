import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import OpenSSLSHA256
import Synchronization

/// A JSON-RPC server on loopback that behaves like a regtest bitcoind for FlexMiner's purposes:
/// serves templates, validates submitted blocks independently, and can replay the node's failures.
final class FakeNode: Sendable {
    enum Mode: Sendable { case normal, internalError, malformed, dropConnections }

    struct State: Sendable {
        var mode: Mode = .normal
        /// The template's JSON object, serialized (so the state is Sendable).
        var templateJSON: Data
        var tip: String
        var accepted: [String: [UInt8]] = [:]
        var submissions: [String] = []
        var calls: [String] = []
    }

    let user: String
    let password: String
    let state: Mutex<State>
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

    /// (status, body, drop the connection)
    func handle(authorization: String?, body: ByteBuffer) -> (HTTPResponseStatus, String, Bool) {
        let expected = "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
        guard authorization == expected else { return (.unauthorized, "", false) }
        guard let request = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any],
            let method = request["method"] as? String
        else {
            return (.badRequest, #"{"result":null,"error":{"code":-32700,"message":"Parse error"},"id":null}"#, false)
        }
        let params = request["params"] as? [Any] ?? []
        let mode = state.withLock { s in
            s.calls.append(method)
            return s.mode
        }
        switch mode {
        case .dropConnections: return (.ok, "", true)
        case .internalError:
            return (
                .internalServerError,
                #"{"result":null,"error":{"code":-1,"message":"internal failure"},"id":"flexminer"}"#, false
            )
        case .malformed: return (.ok, "<html>not json</html>", false)
        case .normal: break
        }
        func ok(_ result: Any) -> (HTTPResponseStatus, String, Bool) {
            let data = try! JSONSerialization.data(withJSONObject: [
                "result": result, "error": NSNull(), "id": "flexminer",
            ])
            return (.ok, String(decoding: data, as: UTF8.self), false)
        }
        func rpcError(_ code: Int, _ message: String) -> (HTTPResponseStatus, String, Bool) {
            (
                .internalServerError,
                #"{"result":null,"error":{"code":\#(code),"message":"\#(message)"},"id":"flexminer"}"#, false
            )
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
            return ok(Self.object(state.withLock { $0.templateJSON }))
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
            let (status, text, drop) = node.handle(
                authorization: head?.headers.first(name: "Authorization"), body: body)
            if drop {
                context.close(promise: nil)
                return
            }
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Content-Length", value: "\(text.utf8.count)")
            context.write(
                wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))),
                promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: text)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}
