import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// Makes every full close of a server's connection a lingering close, the way HTTP servers tear a
/// connection down (RFC 9112 §9.6): the replies already written are flushed, the write side is shut down
/// (the client reads them, then end of stream), what the client still sends is read and discarded, and
/// the connection is closed when the client closes its side, after `maxBytes` discarded or after
/// `maxTime`, whichever comes first.
///
/// Why: closing a TCP socket that still has unread input makes the kernel send a reset, and a reset
/// makes the client's kernel throw away what it has not read yet, so an error reply ("line too long",
/// "400 Bad Request") written just before the close would often never reach the client.
///
/// It sits first in the pipeline (next to the socket): every close, whichever handler asks for it (an
/// error reply, an idle timeout, a protocol error answered by NIO), passes through it, and nothing read
/// while lingering reaches the handlers behind it (no request after a refused one is ever interpreted).
/// Bounded: one connection lingers at most `maxTime` and reads at most `maxBytes` more; a client that
/// does not even take the replies is closed at `maxTime` too. Those two ends are resets (SO_LINGER 0):
/// the client has had its chance, and a connection whose replies nobody reads would otherwise stay in
/// the kernel, replies and all, for minutes after its descriptor is closed.
package final class LingeringCloseHandler: ChannelDuplexHandler {
    package typealias InboundIn = ByteBuffer
    package typealias InboundOut = ByteBuffer
    package typealias OutboundIn = ByteBuffer
    package typealias OutboundOut = ByteBuffer

    /// How long a closing connection may linger.
    package let maxTime: TimeAmount
    /// How much input a closing connection may still send before it is closed anyway.
    package let maxBytes: Int
    private var lingering = false
    private var discarded = 0
    private var deadline: Scheduled<Void>?

    package init(maxTime: TimeAmount = .seconds(2), maxBytes: Int = 1 << 20) {
        self.maxTime = maxTime
        self.maxBytes = maxBytes
    }

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard lingering else {
            context.fireChannelRead(data)
            return
        }
        discarded += unwrapInboundIn(data).readableBytes
        if discarded > maxBytes { Self.abort(context) }
    }

    /// While lingering, reads are asked for here, next to the socket: a handler behind (NIO's HTTP
    /// pipelining) may hold reads back, and the input must keep being drained.
    package func channelReadComplete(context: ChannelHandlerContext) {
        guard lingering else {
            context.fireChannelReadComplete()
            return
        }
        context.read()
    }

    package func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        context.fireChannelInactive()
    }

    package func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        guard mode == .all, context.channel.isActive else {
            context.close(mode: mode, promise: promise)
            return
        }
        // Every caller learns when the connection is really closed.
        if let promise { context.channel.closeFuture.cascade(to: promise) }
        guard !lingering else { return }
        lingering = true
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        deadline = context.eventLoop.scheduleTask(in: maxTime) { Self.abort(bound.value) }
        // The input must keep flowing to be discarded (a handler may have paused it for back-pressure).
        _ = context.channel.setOption(.autoRead, value: true)
        context.read()
        // Writes complete in order: once this empty one has, every reply before it is in the kernel.
        let flushed = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0)), promise: flushed)
        flushed.futureResult.whenComplete { result in
            let context = bound.value
            guard case .success = result else {
                context.close(mode: .all, promise: nil)
                return
            }
            let halfClosed = context.eventLoop.makePromise(of: Void.self)
            context.close(mode: .output, promise: halfClosed)
            halfClosed.futureResult.whenFailure { _ in bound.value.close(mode: .all, promise: nil) }
        }
    }

    /// A close that must not linger: the peer is not reading what it was sent (back-pressure stalled the
    /// connection), so no reply can reach it and discarding its input would only keep it alive. Sent with
    /// `channel.triggerUserOutboundEvent(LingeringCloseHandler.Abort())`; the connection is reset at once.
    package struct Abort: Sendable { package init() {} }

    package func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?)
    {
        guard event is Abort else {
            context.triggerUserOutboundEvent(event, promise: promise)
            return
        }
        Self.abort(context)
        promise?.succeed(())
    }

    /// Ends the connection with a reset, at once.
    private static func abort(_ context: ChannelHandlerContext) {
        if let socket = context.channel as? any SocketOptionProvider {
            _ = socket.setSoLinger(linger(l_onoff: 1, l_linger: 0))
        }
        context.close(mode: .all, promise: nil)
    }
}
