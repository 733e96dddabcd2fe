import NIOCore

/// The one newline framer of the product's line protocols (the signal protocol's sockets, stratum to
/// pools): splits a byte stream into lines ending in `\n` (a `\r` before it is dropped too), each line
/// passed on without its ending, and refuses a line longer than `maxLength` bytes so that a peer cannot
/// grow our memory without bound.
///
/// - A line over `maxLength` (complete, or still without its newline once more than `maxLength` bytes
///   wait) is an error: `LineTooLong` goes through `errorCaught` and the handler behind decides how to
///   answer it (NIO's `ByteToMessageHandler` then passes on nothing more).
/// - A stream that ends in the middle of a line drops that line; the handler behind learns its size from
///   a `PartialLineAtEOF` user inbound event (sent before `channelInactive`), to account for it.
/// - Bytes are passed on as they came: checking UTF-8 and parsing is the protocol's job.
///
/// Use it as `ByteToMessageHandler(LineFrameDecoder(maxLength: n))`.
package struct LineFrameDecoder: ByteToMessageDecoder {
    package typealias InboundOut = ByteBuffer

    /// The longest line accepted, in bytes (a `\r` before the newline counts).
    package let maxLength: Int

    /// A line longer than `maxLength`; `length` is the bytes seen of it (without a newline when it is
    /// incomplete).
    package struct LineTooLong: Error, Sendable, Hashable {
        package let length: Int
        package let maxLength: Int

        package init(length: Int, maxLength: Int) {
            self.length = length
            self.maxLength = maxLength
        }
    }

    /// The stream ended `bytes` bytes into a line that never got its newline; those bytes were dropped.
    package struct PartialLineAtEOF: Sendable, Hashable {
        package let bytes: Int

        package init(bytes: Int) { self.bytes = bytes }
    }

    package init(maxLength: Int) {
        self.maxLength = maxLength
    }

    package mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
            if buffer.readableBytes > maxLength {
                throw LineTooLong(length: buffer.readableBytes, maxLength: maxLength)
            }
            return .needMoreData
        }
        let length = newline - buffer.readerIndex
        guard length <= maxLength else { throw LineTooLong(length: length, maxLength: maxLength) }
        var line = buffer.readSlice(length: length)!
        buffer.moveReaderIndex(forwardBy: 1)
        if line.readableBytesView.last == UInt8(ascii: "\r") {
            line = line.getSlice(at: line.readerIndex, length: length - 1)!
        }
        context.fireChannelRead(wrapInboundOut(line))
        return .continue
    }

    package mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws
        -> DecodingState
    {
        while try decode(context: context, buffer: &buffer) == .continue {}
        if buffer.readableBytes > 0 {
            context.fireUserInboundEventTriggered(PartialLineAtEOF(bytes: buffer.readableBytes))
            buffer.moveReaderIndex(to: buffer.writerIndex)
        }
        return .needMoreData
    }
}
