import NIOCore
import NIOHTTP1

/// One whole request: its head and its body up to the server's limit.
package struct HTTPServerRequest {
    package let head: HTTPRequestHead
    /// The body, empty when it was over the limit.
    package var body: ByteBuffer
    /// The body was over the limit (and dropped): answer 413 or ignore it, the server's choice.
    package var bodyTooLarge: Bool
}

/// Collects a request's parts into one `HTTPServerRequest`, keeping at most `maxBody` bytes of body: a
/// client may send more, but it cannot grow our memory with it.
package final class HTTPRequestAggregator: ChannelInboundHandler {
    package typealias InboundIn = HTTPServerRequestPart
    package typealias InboundOut = HTTPServerRequest

    package let maxBody: Int
    private var request: HTTPServerRequest?

    package init(maxBody: Int) {
        self.maxBody = maxBody
    }

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            request = HTTPServerRequest(
                head: head, body: context.channel.allocator.buffer(capacity: 0), bodyTooLarge: false)
        case .body(var chunk):
            guard var r = request, !r.bodyTooLarge else { return }
            if r.body.readableBytes + chunk.readableBytes > maxBody {
                r.bodyTooLarge = true
                r.body.clear()
            } else {
                r.body.writeBuffer(&chunk)
            }
            request = r
        case .end:
            guard let r = request else { return }
            request = nil
            context.fireChannelRead(wrapInboundOut(r))
        }
    }
}

extension ChannelHandlerContext {
    /// Writes one whole response to `request`: `Content-Type`, `Content-Length`, then `headers`, then
    /// `Connection: close` when the connection ends after it (the client did not ask to keep it alive, or
    /// `close`), and closes it once the response is written. The handler calling it must send
    /// `HTTPServerResponsePart`s.
    package func writeHTTPResponse(
        to request: HTTPRequestHead, status: HTTPResponseStatus, contentType: String, headers: HTTPHeaders = [:],
        body: ByteBuffer, close: Bool = false
    ) {
        var all = HTTPHeaders()
        all.add(name: "Content-Type", value: contentType)
        all.add(name: "Content-Length", value: String(body.readableBytes))
        all.add(contentsOf: headers)
        let keepAlive = request.isKeepAlive && !close
        if !keepAlive { all.add(name: "Connection", value: "close") }
        let head = HTTPResponseHead(version: request.version, status: status, headers: all)
        write(NIOAny(HTTPServerResponsePart.head(head)), promise: nil)
        write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(body))), promise: nil)
        let channel = self.channel
        writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil))).whenComplete { _ in
            if !keepAlive { channel.close(promise: nil) }
        }
    }

    /// The same with a text body.
    package func writeHTTPResponse(
        to request: HTTPRequestHead, status: HTTPResponseStatus, contentType: String, headers: HTTPHeaders = [:],
        body: String, close: Bool = false
    ) {
        var buffer = channel.allocator.buffer(capacity: body.utf8.count)
        buffer.writeString(body)
        writeHTTPResponse(
            to: request, status: status, contentType: contentType, headers: headers, body: buffer, close: close)
    }
}
