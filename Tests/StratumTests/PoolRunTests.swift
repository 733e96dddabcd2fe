import FlexSupport
import Foundation
import LoadController
import Logging
import MiningKernels
import Operations
import StratumTestPool
import TestSupport
import Testing

/// One HTTP request on loopback, the whole answer (headers and body) as text.
func httpRequest(port: Int, _ method: String, _ path: String) throws -> String {
    let client = try SignalClient(.tcp(host: "127.0.0.1", port: port), timeout: 5)
    try client.sendRaw(
        Array("\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8))
    var lines: [String] = []
    while let line = try? client.readLine() { lines.append(line) }
    return lines.joined(separator: "\n")
}

@Suite("run --pool", .serialized)
struct PoolRunTests {
    @Test func configKeys() throws {
        let c = try RunConfig(
            json: Data(
                #"{"pool":["stratum+tcp://127.0.0.1:3333","stratum+tcp://b:1"],"user":"bc1q.rig","password":"p"}"#.utf8)
        )
        #expect(c.pool?.count == 2 && c.user == "bc1q.rig" && c.password == "p")
        #expect(throws: ConfigError.self) { try RunConfig(json: Data(#"{"pool":"stratum+tcp://a:1"}"#.utf8)) }
        do { _ = try RunConfig(json: Data(#"{"pool":"stratum+tcp://a:1"}"#.utf8)) } catch {
            #expect(error.message.contains("\"pool\""))
        }
        let more = try RunConfig(json: Data(#"{"suggest_difficulty":0.5,"allow_redirect":true}"#.utf8))
        #expect(more.suggestDifficulty == 0.5 && more.allowRedirect == true)
        for (bad, key) in [
            (#"{"suggest_difficulty":-1}"#, "suggest_difficulty"),
            (#"{"suggest_difficulty":"8"}"#, "suggest_difficulty"),
            (#"{"suggest_difficulty":1e300}"#, "suggest_difficulty"), (#"{"allow_redirect":"yes"}"#, "allow_redirect"),
        ] {
            do {
                _ = try RunConfig(json: Data(bad.utf8))
                Issue.record("\(bad) was accepted")
            } catch { #expect(error.message.contains("\"\(key)\""), "\(error.message)") }
        }
    }

    @Test func settings() throws {
        func resolve(_ f: RunFlags, file: String? = nil) throws -> RunSettings {
            try RunSettings.resolve(
                f, file: try file.map { try RunConfig(json: Data($0.utf8)) }, environment: [:], isTerminal: false
            ) { _ in Kernel.best }
        }
        var f = RunFlags()
        f.values.pool = ["stratum+tcp://127.0.0.1:3333"]
        #expect(throws: ConfigError("--pool needs --user NAME")) { try resolve(f) }
        f.values.user = "bc1q.rig"
        guard case .pool(let urls, let user, let password) = try resolve(f).work else {
            Issue.record("not pool work")
            return
        }
        #expect(urls == ["stratum+tcp://127.0.0.1:3333"] && user == "bc1q.rig" && password == "x")
        // A work flag replaces the file's work; two work sources are refused.
        let fromFile = try resolve(f, file: #"{"benchmark_work":true}"#)
        if case .pool = fromFile.work {} else { Issue.record("the --pool flag should replace the file's work") }
        // suggest_difficulty and allow_redirect from the file; the flags win.
        let file =
            #"{"pool":["stratum+tcp://127.0.0.1:3333"],"user":"u.1","suggest_difficulty":4,"allow_redirect":true}"#
        let fromKeys = try resolve(RunFlags(), file: file)
        #expect(fromKeys.suggestDifficulty == 4 && fromKeys.allowRedirect)
        var g = RunFlags()
        g.values.suggestDifficulty = 0.25
        g.values.allowRedirect = false
        let overridden = try resolve(g, file: file)
        #expect(overridden.suggestDifficulty == 0.25 && !overridden.allowRedirect)
        g.values.suggestDifficulty = .nan
        #expect(throws: ConfigError.self) { try resolve(g, file: file) }
        f.values.benchmarkWork = true
        #expect(throws: ConfigError.self) { try resolve(f) }
    }

    /// `run --pool` in process: shares accepted, `/status` and `/metrics` show the pool, a pause halts
    /// the workers while the connection stays up, and the password never reaches the log.
    @Test func statusMetricsAndPause() async throws {
        let pool = try await testPool()
        var flags = RunFlags()
        flags.values.pool = ["stratum+tcp://127.0.0.1:\(pool.port)"]
        flags.values.user = "bcrt1qtest.run"
        flags.values.password = "pool-secret-password"
        flags.values.threads = 2
        flags.values.seconds = 20  // room for a loaded machine: the checks below need the run still up
        flags.values.http = "127.0.0.1:0"
        flags.values.journal = scratchDirectory() + "/journal.jsonl"
        let settings = try RunSettings.resolve(flags, environment: [:], isTerminal: false) { _ in Kernel.best }
        let sink = LogSink.capturing()
        let logger = Logger(label: "test") { FlexLogHandler(label: $0, format: .human, level: .info, output: sink) }
        let run = Task { try await MinerRun(settings: settings, version: "test", logger: logger, sink: sink).run() }
        var port = 0
        #expect(
            await waitUntil(within: 10) {
                guard let line = sink.lines.first(where: { $0.contains("HTTP API on http://127.0.0.1:") }) else {
                    return false
                }
                port = Int(line.split(separator: ":").last!.split(separator: "/").first!) ?? 0
                return port > 0
            })
        #expect(await waitUntil(within: 30) { pool.stats.accepted.count >= 2 })
        try await Task.sleep(for: .milliseconds(300))
        let status = try httpRequest(port: port, "GET", "/status")
        let json = decode(String(status[status.range(of: "{")!.lowerBound...]))
        let p = try #require(json["pool"] as? [String: Any])
        #expect(p["connected"] as? Bool == true)
        #expect(p["url"] as? String == "stratum+tcp://127.0.0.1:\(pool.port)")
        #expect(((p["shares"] as? [String: Any])?["accepted"] as? Int ?? 0) >= 1)
        #expect(p["difficulty"] as? Double != nil)
        #expect((json["work"] as? [String: Any])?["kind"] as? String == "pool")
        let metrics = try httpRequest(port: port, "GET", "/metrics")
        #expect(metrics.contains("flexminer_pool_shares_total{result=\"accepted\"}"))
        #expect(metrics.contains("flexminer_pool_connected 1"))
        // Pause: the workers halt, the pool connection stays and answers pings.
        #expect(try httpRequest(port: port, "POST", "/pause").contains("\"halted\":true"))
        let accepted = pool.stats.accepted.count
        pool.ping()
        #expect(await waitUntil(within: 10) { pool.stats.pongs >= 1 })
        try await Task.sleep(for: .milliseconds(500))
        #expect(pool.stats.accepted.count <= accepted + 2)  // at most shares in flight at the halt
        #expect(pool.connectedClients == 1)
        #expect(try httpRequest(port: port, "POST", "/resume").contains("\"halted\":false"))
        let after = pool.stats.accepted.count
        #expect(await waitUntil(within: 30) { pool.stats.accepted.count > after })
        let summary = decode(try await run.value.json)
        #expect((summary["shares_accepted"] as? Int ?? 0) >= 2)
        #expect((summary["pool"] as? [String: Any])?["url"] as? String == "stratum+tcp://127.0.0.1:\(pool.port)")
        await pool.stop()
        #expect(pool.stats.rejected.isEmpty)
        #expect(!sink.lines.contains { $0.contains("pool-secret-password") })
        #expect(pool.stats.authorizes.first == "bcrt1qtest.run")
    }
}
