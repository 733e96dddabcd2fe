import LineFraming
import Stratum
import Testing

/// The stratum client frames the pool's stream with the shared `LineFrameDecoder` (its cases are in
/// `LineFrameDecoderTests`); how it names the ways a connection ends.
@Suite("Stratum client: why a connection ended")
struct StratumFramingTests {
    static let url = StratumURL(host: "127.0.0.1", port: 3333)

    @Test func aLineOverTheLimitIsAMalformedMessageNamingTheSizes() {
        let error = StratumClient.streamError(
            Self.url, LineFrameDecoder.LineTooLong(length: 600_000, maxLength: 524_288))
        #expect(error.code == .malformed)
        #expect(error.message == "pool message: line over 524288 bytes (600000 without a newline)")
    }

    @Test func aStratumErrorIsKeptAndAnythingElseIsALostConnection() {
        let timeout = StratumError(.timeout, "no data from the pool for 120 s")
        #expect(StratumClient.streamError(Self.url, timeout) == timeout)
        struct Reset: Error {}
        let lost = StratumClient.streamError(Self.url, Reset())
        #expect(lost.code == .connection)
        #expect(lost.message.hasPrefix("stratum+tcp://127.0.0.1:3333: connection lost ("))
    }
}
