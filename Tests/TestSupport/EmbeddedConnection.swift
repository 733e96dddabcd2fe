import NIOCore
import NIOEmbedded

/// One server connection on an `EmbeddedChannel`, for testing a NIO pipeline without a socket: what the
/// client sends, what it gets back, whether the server closed it, and the server's time (advanced by
/// hand: timeouts are tested without waiting).
public struct EmbeddedConnection {
    public let channel = EmbeddedChannel()

    /// A connected channel whose pipeline `configure` builds (as a server's child channel initializer).
    public init(_ configure: (ChannelPipeline.SynchronousOperations) throws -> Void) throws {
        try configure(channel.pipeline.syncOperations)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 8080)).wait()
    }

    /// Sends bytes as the client (and runs what they set off).
    public func send(_ text: String) throws {
        try send(Array(text.utf8))
    }

    public func send(_ bytes: [UInt8]) throws {
        var buffer = channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        try channel.writeInbound(buffer)
        channel.embeddedEventLoop.run()
    }

    /// Everything the server has written since the last call, as text.
    public func received() throws -> String {
        var out = ""
        while let part = try channel.readOutbound(as: IOData.self) {
            if case .byteBuffer(let b) = part { out += String(buffer: b) }
        }
        return out
    }

    /// What the server has written since the last call, as lines (without their newlines).
    public func receivedLines() throws -> [String] {
        try received().split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
    }

    /// Whether the server has not closed the connection.
    public var isOpen: Bool { channel.isActive }

    /// The connection ends (an `EmbeddedChannel` has no peer: it is closed, which the handlers see as
    /// the end of the stream, `channelInactive`, as when the client goes away).
    public func end() {
        channel.close(promise: nil)
        channel.embeddedEventLoop.run()
    }

    /// Lets the server's time pass.
    public func advance(_ amount: TimeAmount) {
        channel.embeddedEventLoop.advanceTime(by: amount)
    }
}
