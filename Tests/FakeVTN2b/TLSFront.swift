import NIOCore
import NIOPosix
import NIOSSL

/// The fake VTN's HTTPS side, as a 2.0b VTN runs it: TLS that requires a client certificate chaining to
/// `clientCA`, in front of the plain fake (each TLS connection is piped to a connection to it), so the
/// VTN's logic stays one and the TLS is NIOSSL's own, never the module under test's.
package final class TLSFront: Sendable {
    /// PEM files, made by the test (nothing committed).
    package struct Settings: Sendable {
        package var certificatePath: String
        package var keyPath: String
        package var clientCAPath: String

        package init(certificatePath: String, keyPath: String, clientCAPath: String) {
            self.certificatePath = certificatePath
            self.keyPath = keyPath
            self.clientCAPath = clientCAPath
        }
    }

    let channel: any Channel
    let port: Int

    private init(channel: any Channel, port: Int) {
        self.channel = channel
        self.port = port
    }

    /// Listens on 127.0.0.1:`port` (0: a free one) and pipes each connection to `backendPort`.
    static func start(_ s: Settings, port: Int = 0, backendPort: Int) async throws -> TLSFront {
        var tls = TLSConfiguration.makeServerConfigurationWithMTLS(
            certificateChain: try NIOSSLCertificate.fromPEMFile(s.certificatePath).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: s.keyPath, format: .pem)),
            trustRoots: .file(s.clientCAPath))
        tls.minimumTLSVersion = .tlsv12
        let context = try NIOSSLContext(configuration: tls)
        let group = MultiThreadedEventLoopGroup.singleton
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { child in
                ClientBootstrap(group: child.eventLoop).connect(host: "127.0.0.1", port: backendPort).flatMap {
                    backend in
                    backend.pipeline.addHandler(Pipe(peer: child)).flatMap {
                        child.eventLoop.makeCompletedFuture {
                            try child.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                            try child.pipeline.syncOperations.addHandler(Pipe(peer: backend))
                        }
                    }
                }
            }
            .bind(host: "127.0.0.1", port: port).get()
        return TLSFront(channel: channel, port: channel.localAddress?.port ?? 0)
    }

    func close() async { try? await channel.close() }
}

/// Bytes read on one channel are written to its peer; either side closing closes the other.
private final class Pipe: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let peer: any Channel

    init(peer: any Channel) { self.peer = peer }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        peer.writeAndFlush(unwrapInboundIn(data), promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) { peer.close(promise: nil) }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
        peer.close(promise: nil)
    }
}
