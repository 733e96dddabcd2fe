import NIOCore

/// Sends `IdleStateHandler.IdleStateEvent.read` through the pipeline when a connection has sent nothing
/// for `timeout` (and again every `timeout` after, while it stays silent), the event NIO's
/// `IdleStateHandler` sends, so the handlers behind react to either alike.
///
/// Why not NIO's: it measures the silence on the wall clock (`NIODeadline.now()`), so its timeout cannot
/// be tested on an `EmbeddedEventLoop` by advancing the loop's time. This one only schedules on the event
/// loop (one task per read, rescheduled when the read completes), so a test can advance past it.
package final class ReadTimeoutHandler: ChannelInboundHandler {
    package typealias InboundIn = NIOAny

    package let timeout: TimeAmount
    private var task: Scheduled<Void>?

    package init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    package func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { schedule(context) }
    }

    package func handlerRemoved(context: ChannelHandlerContext) {
        task?.cancel()
        task = nil
    }

    package func channelActive(context: ChannelHandlerContext) {
        schedule(context)
        context.fireChannelActive()
    }

    package func channelReadComplete(context: ChannelHandlerContext) {
        schedule(context)
        context.fireChannelReadComplete()
    }

    package func channelInactive(context: ChannelHandlerContext) {
        task?.cancel()
        task = nil
        context.fireChannelInactive()
    }

    private func schedule(_ context: ChannelHandlerContext) {
        task?.cancel()
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        task = context.eventLoop.scheduleTask(in: timeout) {
            let (handler, context) = bound.value
            guard context.channel.isActive else { return }
            handler.schedule(context)
            context.fireUserInboundEventTriggered(IdleStateHandler.IdleStateEvent.read)
        }
    }
}
