import LineFraming
import NIOCore
import NIOEmbedded
import Testing

/// What the framer passes on: lines as bytes, the end-of-stream event, errors.
final class LineRecorder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    var lines: [[UInt8]] = []
    var partials: [LineFrameDecoder.PartialLineAtEOF] = []
    var errors: [any Error] = []

    var text: [String] { lines.map { String(decoding: $0, as: UTF8.self) } }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lines.append(Array(unwrapInboundIn(data).readableBytesView))
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let p = event as? LineFrameDecoder.PartialLineAtEOF { partials.append(p) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        errors.append(error)
    }
}

@Suite("One line framer")
struct LineFrameDecoderTests {
    /// A channel with the framer (lines of at most `max` bytes) and a recorder behind it.
    func framer(max: Int = 16) throws -> (EmbeddedChannel, LineRecorder) {
        let recorder = LineRecorder()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineFrameDecoder(maxLength: max)))
        try channel.pipeline.syncOperations.addHandler(recorder)
        return (channel, recorder)
    }

    func send(_ channel: EmbeddedChannel, _ chunks: String...) throws {
        for chunk in chunks { try channel.writeInbound(ByteBuffer(string: chunk)) }
    }

    @Test func aLineSplitAcrossReadsIsOneLine() throws {
        let (channel, r) = try framer()
        try send(channel, "ab", "c\nd", "\n")
        #expect(r.text == ["abc", "d"])
    }

    @Test func severalLinesInOneReadAreEachPassedOnInOrder() throws {
        let (channel, r) = try framer()
        try send(channel, "a\nbb\n\nccc\n")
        #expect(r.text == ["a", "bb", "", "ccc"])
    }

    @Test func crlfEndsALineAndALoneCarriageReturnIsKept() throws {
        let (channel, r) = try framer()
        try send(channel, "a\r\nb\r", "\nc\rd\n")
        #expect(r.text == ["a", "b", "c\rd"])
    }

    @Test func bytesArePassedOnAsTheyCameInvalidUTF8Included() throws {
        let (channel, r) = try framer()
        var buffer = ByteBuffer()
        buffer.writeBytes([0xFF, 0xFE, 0x41, 0x0A])
        try channel.writeInbound(buffer)
        #expect(r.lines == [[0xFF, 0xFE, 0x41]])
    }

    @Test func aLineOfExactlyTheMaximumIsAcceptedOneByteMoreIsRefused() throws {
        let (channel, r) = try framer(max: 16)
        try send(channel, String(repeating: "x", count: 16) + "\n")
        #expect(r.lines.count == 1 && r.errors.isEmpty)
        // Still without its newline: refused once more than the maximum waits.
        try send(channel, String(repeating: "y", count: 16))
        #expect(r.errors.isEmpty)
        try send(channel, "y")
        #expect(r.errors.compactMap { $0 as? LineFrameDecoder.LineTooLong } == [.init(length: 17, maxLength: 16)])
        #expect(r.lines.count == 1)
    }

    @Test func aCompleteLineOverTheMaximumIsRefusedAfterTheLinesBeforeIt() throws {
        let (channel, r) = try framer(max: 16)
        try send(channel, "ok\n" + String(repeating: "z", count: 20) + "\nnever\n")
        #expect(r.text == ["ok"])
        #expect(r.errors.compactMap { $0 as? LineFrameDecoder.LineTooLong } == [.init(length: 20, maxLength: 16)])
    }

    @Test func aPartialLineAtTheEndIsDroppedAndReportedWithItsSize() throws {
        let (channel, r) = try framer()
        try send(channel, "a\r\npart")
        _ = try channel.finish(acceptAlreadyClosed: true)
        #expect(r.text == ["a"])
        #expect(r.partials == [.init(bytes: 4)])
    }

    @Test func aStreamEndingOnANewlineReportsNoPartialLine() throws {
        let (channel, r) = try framer()
        try send(channel, "a\n")
        _ = try channel.finish(acceptAlreadyClosed: true)
        #expect(r.text == ["a"])
        #expect(r.partials.isEmpty)
    }
}
