import DemandResponse
import Foundation
import Testing

let now = Date(timeIntervalSince1970: 1_717_250_400)  // 2024-06-01T14:00:00Z

func parse(_ line: String) throws(SignalError) -> SignalMessage {
    try SignalMessage.parse(Array(line.utf8), now: now).message
}

@Suite("Signal protocol v1")
struct SignalTests {
    @Test func validMessages() throws {
        #expect(try parse(#"{"type":"price","usd_per_mwh":42.5}"#) == .price(PriceSignal(usdPerMWh: 42.5)))
        #expect(try parse(#"{"type":"price","usd_per_mwh":-70}"#) == .price(PriceSignal(usdPerMWh: -70)))
        let p = try parse(
            #"{"type":"price","usd_per_mwh":1,"interval_start":"2024-06-01T14:15:00Z","interval_minutes":15,"x":1}"#)
        #expect(p == .price(PriceSignal(usdPerMWh: 1, intervalStart: now + 900, intervalMinutes: 15)))
        #expect(
            try parse(#"{"type":"curtail","level":0.3,"id":"e1","until":"2024-06-01T15:00:00.5+00:00","reason":"EEA"}"#)
                == .curtail(CurtailSignal(level: 0.3, id: "e1", until: now + 3600.5, reason: "EEA")))
        #expect(try parse(#"{"type":"release","id":"e1"}"#) == .release(id: "e1"))
        #expect(try parse(#"{"type":"release"}"#) == .release(id: nil))
        #expect(try parse(#"{"type":"heartbeat"}"#) == .heartbeat)
        #expect(try parse(#"{"type":"status"}"#) == .status)
        #expect(try SignalMessage.parse(Array(#"{"type":"status","token":"s3cret"}"#.utf8), now: now).token == "s3cret")
    }

    @Test(arguments: [
        ("{", "malformed JSON"),
        ("[1,2]", "must be a JSON object"),
        (#"{"usd_per_mwh":1}"#, "missing field \"type\""),
        (#"{"type":7}"#, "field \"type\" must be a string"),
        (#"{"type":"bogus"}"#, "unknown type \"bogus\""),
        (#"{"type":"price"}"#, "missing field \"usd_per_mwh\""),
        (#"{"type":"price","usd_per_mwh":"42"}"#, "field \"usd_per_mwh\" must be a number"),
        (#"{"type":"price","usd_per_mwh":true}"#, "field \"usd_per_mwh\" must be a number"),
        (#"{"type":"price","usd_per_mwh":1e999}"#, "finite"),
        (#"{"type":"price","usd_per_mwh":NaN}"#, "finite"),
        (#"{"type":"curtail","level":Infinity}"#, "finite"),
        (#"{"type":"price","usd_per_mwh":1,"interval_minutes":0}"#, "must be positive"),
        (#"{"type":"curtail","level":1.5}"#, "within [0, 1]"),
        (#"{"type":"curtail","level":-0.1}"#, "within [0, 1]"),
        (#"{"type":"curtail","level":1,"until":"tomorrow"}"#, "not an ISO 8601"),
        (#"{"type":"curtail","level":1,"until":"2024-06-01T13:00:00Z"}"#, "in the past"),
        (#"{"type":"release","id":5}"#, "field \"id\" must be a string"),
    ])
    func badLinesGetAClearError(line: String, expected: String) {
        do {
            _ = try parse(line)
            Issue.record("accepted \(line)")
        } catch {
            #expect(error.message.contains(expected), "\(line) -> \(error.message)")
        }
    }

    @Test func binaryGarbageAndHugeLines() {
        #expect(throws: SignalError.self) { try SignalMessage.parse([0xff, 0xfe, 0x00, 0x7b], now: now) }
        let long = [UInt8](repeating: 0x20, count: SignalMessage.maximumLineLength + 1)
        #expect(throws: SignalError("line too long (65537 bytes; the limit is 65536)")) {
            try SignalMessage.parse(long, now: now)
        }
    }
}
