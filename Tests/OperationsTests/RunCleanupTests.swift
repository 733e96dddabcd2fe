import Foundation
import Logging
import MiningKernels
import Operations
import TestSupport
import Testing

/// A run that cannot start leaves nothing open: the decision log and the state file closed with their
/// entries on disk, the power samplers stopped (their telemetry file closed after their threads joined).
@Suite("run: a failed start closes what it opened", .serialized)
struct RunCleanupTests {
    func settings(in dir: String, signals: [String]) throws -> RunSettings {
        var flags = RunFlags()
        flags.values.benchmarkWork = true
        flags.values.threads = 1
        flags.values.signals = signals
        flags.values.decisionLog = dir + "/decisions.jsonl"
        flags.values.stateFile = dir + "/state.json"
        var adr = OpenADR3Config()
        adr.powerWatts = 1400  // --power-watts: the power model's figure
        flags.values.openADR3 = adr
        flags.values.telemetry = dir + "/telemetry.jsonl"
        return try RunSettings.resolve(flags, file: nil, environment: [:], isTerminal: false) { _ in
            try! Kernel.named(.scalar)
        }
    }

    /// The files under `dir` that this process holds open (by its descriptors' targets: other tests running
    /// at the same time hold files of their own, never these).
    func openFiles(under dir: String) -> [String] {
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return fds.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\($0)") }
            .filter { $0.hasPrefix(dir + "/") }
    }

    func run(_ settings: RunSettings) async -> (error: String?, log: [String]) {
        let sink = LogSink.capturing()
        let logger = Logger(label: "test") { FlexLogHandler(label: $0, format: .human, level: .info, output: sink) }
        do {
            _ = try await MinerRun(settings: settings, version: "test", logger: logger, sink: sink).run()
            return (nil, sink.lines)
        } catch let error as ConfigError {
            return (error.message, sink.lines)
        } catch {
            return ("\(error)", sink.lines)
        }
    }

    func events(_ path: String) -> [String] {
        readLines(path).compactMap { $0["event"] as? String }
    }

    /// The OpenADR 3 source is made after the decision log, the state file, the engine, the controller and
    /// the event loops are open, and before the power samplers start: its refusal closes them all.
    @Test func aSourceRefusedAtStartLeavesTheLogAndTheStateFileClosed() async throws {
        let dir = scratchDirectory()
        let s = try settings(in: dir, signals: ["openadr3:http://user:secret@127.0.0.1:1/openadr3"])
        let (error, log) = await run(s)
        #expect(error == "openadr3: put credentials in --openadr-client-id/--openadr-secret-file, not the URL")
        #expect(openFiles(under: dir) == [], "left open: \(openFiles(under: dir))")
        // The start entry was written before the refusal, and the stop entry by the close: both on disk.
        #expect(events(dir + "/decisions.jsonl").first == "start")
        #expect(events(dir + "/decisions.jsonl").last == "stop")
        #expect(!log.contains { $0.contains("power: model") }, "the samplers must not have started")
        #expect(!log.contains { $0.contains("stopped cleanly") })
    }

    /// A socket source that cannot listen ends the run from inside the service group: the samplers had
    /// started, and are stopped; the decision log ends with its stop entry.
    @Test func aSocketThatCannotListenEndsTheRunWithEverythingClosed() async throws {
        let dir = scratchDirectory()
        // A regular file where the socket should be: never replaced.
        try Data("not a socket".utf8).write(to: URL(fileURLWithPath: dir + "/s.sock"))
        let s = try settings(in: dir, signals: ["unix:\(dir)/s.sock"])
        let (error, log) = await run(s)
        let message = try #require(error)
        #expect(message.contains("the path exists and is not a socket; not replacing it"), "\(message)")
        #expect(openFiles(under: dir) == [], "left open: \(openFiles(under: dir))")
        #expect(events(dir + "/decisions.jsonl").first == "start")
        #expect(events(dir + "/decisions.jsonl").last == "stop")
        #expect(log.contains { $0.contains("power: model") })
        #expect(try String(contentsOfFile: dir + "/s.sock", encoding: .utf8) == "not a socket")
    }
}
