import Foundation
import TestSupport
import Testing

/// The built `flexminer` next to the tests (same configuration).
func flexminerBinary() -> String {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    #if DEBUG
        return root.appendingPathComponent(".build/debug/flexminer").path
    #else
        return root.appendingPathComponent(".build/release/flexminer").path
    #endif
}

@Suite("Process lifecycle", .serialized)
struct ShutdownTests {
    func launch(_ arguments: [String], in dir: String) throws -> (Process, Pipe, Pipe) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: flexminerBinary())
        p.arguments = arguments
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        let out = Pipe()
        let err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        return (p, out, err)
    }

    func appears(_ path: String, seconds: Double = 20) -> Bool {
        eventually(within: seconds) { FileManager.default.fileExists(atPath: path) }
    }

    @Test func sigtermShutsDownGracefullyWithLogsFlushed() throws {
        let dir = scratchDirectory()
        let (p, out, err) = try launch(
            [
                "run", "--benchmark-work", "--threads", "2", "--signals", "unix:\(dir)/s.sock", "--decision-log",
                "\(dir)/decisions.jsonl", "--http", "127.0.0.1:0", "--log-format", "json", "--json",
            ], in: dir)
        #expect(appears("\(dir)/s.sock"), "the socket never appeared")
        usleep(300_000)
        kill(p.processIdentifier, SIGTERM)
        p.waitUntilExit()
        #expect(p.terminationReason == .exit)
        #expect(p.terminationStatus == 0)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let logs = stderr.split(separator: "\n").map { decode(String($0)) }
        #expect(logs.allSatisfy { $0["level"] != nil && $0["time"] != nil }, "not all log lines are JSON: \(stderr)")
        #expect(logs.contains { ($0["message"] as? String) == "stopped cleanly" }, "\(stderr)")
        #expect(decode(stdout)["hashes"] as? Int ?? 0 > 0, "\(stdout)")
        let decisions = try String(contentsOfFile: "\(dir)/decisions.jsonl", encoding: .utf8)
        #expect(decode(String(decisions.split(separator: "\n").last ?? ""))["event"] as? String == "stop")
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/s.sock"))  // closed and removed
    }

    @Test func aSecondSignalEndsTheProcessAtOnceButNeverByTheDefaultAction() throws {
        let dir = scratchDirectory()
        let (p, _, err) = try launch(["run", "--benchmark-work", "--signals", "unix:\(dir)/s.sock"], in: dir)
        #expect(appears("\(dir)/s.sock"), "the socket never appeared")
        usleep(200_000)
        kill(p.processIdentifier, SIGTERM)
        kill(p.processIdentifier, SIGTERM)
        p.waitUntilExit()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        // Either the second signal forced the exit (130), or the graceful shutdown had already finished.
        #expect(p.terminationReason == .exit, "killed by signal \(p.terminationStatus)")
        #expect([0, 130].contains(p.terminationStatus))
        if p.terminationStatus == 130 { #expect(stderr.contains("second signal during shutdown")) }
    }

    @Test func configFileWithFlagsOverridingIt() throws {
        let dir = scratchDirectory()
        let config = """
            {"benchmark_work": true, "signals": ["unix:\(dir)/s.sock"], "threads": 1, "seconds": 60,
             "policy": {"breakeven_usd_per_mwh": 40}, "decision_log": "\(dir)/decisions.jsonl"}
            """
        try Data(config.utf8).write(to: URL(fileURLWithPath: "\(dir)/flexminer.json"))
        // --seconds on the command line wins over the file's 60.
        let (p, out, _) = try launch(["run", "--config", "\(dir)/flexminer.json", "--seconds", "1", "--json"], in: dir)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let summary = decode(String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
        #expect(summary["threads"] as? Int == 1)
        #expect((summary["seconds"] as? Double ?? 99) < 10)
        let start = decode(
            String(try String(contentsOfFile: "\(dir)/decisions.jsonl", encoding: .utf8).split(separator: "\n")[0]))
        #expect(start["breakeven_usd_per_mwh"] as? Double == 40)

        try Data(#"{"benchmark_work": true, "signal": ["unix:/x"]}"#.utf8).write(
            to: URL(fileURLWithPath: "\(dir)/bad.json"))
        let (q, _, qerr) = try launch(["run", "--config", "\(dir)/bad.json"], in: dir)
        q.waitUntilExit()
        #expect(q.terminationStatus != 0)
        let message = String(decoding: qerr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(message.contains("unknown key \"signal\""), "\(message)")
    }
}
