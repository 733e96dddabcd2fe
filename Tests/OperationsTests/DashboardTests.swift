import AsyncHTTPClient
import FlexSupport
import Foundation
import LoadController
import NIOCore
import NIOHTTP1
import NIOPosix
import Operations
import TestSupport
import Testing

@Suite("Dashboard")
struct DashboardTests {
    @Test func historyIsABoundedRingOldestFirst() {
        let ring = HistoryRing(capacity: 3)
        for i in 0..<5 {
            ring.record(
                .init(
                    time: Double(i), hashRate: Double(i) * 10, capacity: 1, activeWorkers: 2, price: nil, breakEven: 50,
                    state: "mining"))
        }
        #expect(ring.samples.map(\.time) == [2, 3, 4])
        let object = decode(ring.json)
        let samples = object["samples"] as? [[String: Any]] ?? []
        #expect(samples.map { $0["t"] as? Double } == [2, 3, 4])
        #expect(samples[0]["price"] is NSNull)
    }

    @Test func recentDecisionsKeepTheLastFifty() {
        let d = RecentDecisions()
        for i in 0..<60 { d.record(#"{"n":\#(i)}"#) }
        let object = decode(d.json)
        let list = object["decisions"] as? [[String: Any]] ?? []
        #expect(list.count == 50)
        #expect(list.first?["n"] as? Int == 10)
        #expect(object["total"] as? Int == 60)
    }

    @Test func sourceHealthGroupsConnectionsAndListsSilentSources() {
        let h = SourceHealth()
        h.record(source: "unix:/s#1", ok: true)
        h.record(source: "unix:/s#2", ok: false)
        let r = h.report(configured: ["unix:/s", "file:/p"])
        #expect(r.map(\.name) == ["unix:/s", "file:/p"])
        #expect(r[0].ok == 1 && r[0].error == 1 && r[0].lastMessageAge != nil)
        #expect(r[1].ok == 0 && r[1].lastMessageAge == nil)
    }

    /// The page, its data and the event stream on a real loopback port.
    @Test func servesThePageAndAStream() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = try await StatusServer.start(
            host: "127.0.0.1", port: 0, token: nil,
            routes: .init(status: { #"{"x":1}"# }, metrics: { "" }, signal: { _ in (true, "{}") }),
            dashboard: .init(
                status: { #"{"controller":{"state":"mining"}}"# }, history: { #"{"samples":[]}"# },
                decisions: { #"{"decisions":[],"total":0}"# }),
            group: group)
        let base = "http://127.0.0.1:\(server.port)"
        let page = try await HTTPClient.shared.execute(HTTPClientRequest(url: base + "/"), timeout: .seconds(5))
        #expect(page.status == .ok)
        #expect(page.headers.first(name: "Content-Security-Policy")?.contains("default-src 'none'") == true)
        let html = String(buffer: try await page.body.collect(upTo: 1 << 20))
        #expect(html.contains("<title>FlexMiner</title>"))
        #expect(html.utf8.count < 100_000)
        #expect(!html.contains("http://") && !html.contains("https://"))  // no external requests
        let status = try await HTTPClient.shared.execute(HTTPClientRequest(url: base + "/status"), timeout: .seconds(5))
        #expect(String(buffer: try await status.body.collect(upTo: 1 << 20)) == #"{"x":1}"# + "\n")
        let history = try await HTTPClient.shared.execute(
            HTTPClientRequest(url: base + "/history"), timeout: .seconds(5))
        #expect(String(buffer: try await history.body.collect(upTo: 1 << 20)).hasPrefix(#"{"samples":[]}"#))
        // The stream: the retry hint, then one status event at once.
        let stream = try await HTTPClient.shared.execute(
            HTTPClientRequest(url: base + "/events/stream"), timeout: .seconds(5))
        #expect(stream.headers.first(name: "Content-Type") == "text/event-stream")
        var received = ""
        for try await chunk in stream.body {
            received += String(buffer: chunk)
            if received.contains("data: ") && received.hasSuffix("\n\n") { break }
        }
        #expect(received.contains("retry: 1000"))
        #expect(received.contains(#"data: {"controller":{"state":"mining"}}"#))
        await server.close()
        try await group.shutdownGracefully()
    }
}
