import Foundation
import LoadController
import Logging
import MiningKernels
import Operations
import Synchronization
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

/// The run's closings: each once, the most recently opened first, whoever calls first.
@Suite("run: closings")
struct RunCleanupOrderTests {
    final class Record: Sendable {
        let closed = Mutex<[String]>([])
        func add(_ name: String) { closed.withLock { $0.append(name) } }
    }

    @Test func eachResourceIsClosedOnceInReverseOrder() async {
        let cleanup = RunCleanup()
        let record = Record()
        cleanup.owns { record.add("decision log") }
        let power = cleanup.owns { record.add("power") }
        cleanup.owns { record.add("engine") }
        // The service that owns the samplers stops them at the graceful shutdown: closeAll does not again.
        await power()
        await power()
        await cleanup.closeAll()
        await cleanup.closeAll()
        #expect(record.closed.withLock { $0 } == ["power", "engine", "decision log"])
    }
}

/// One kind per `--signals` scheme, served as before: sockets on control threads, a followed file without a
/// share of the descriptors, OpenADR 3 and 2.0b not holding up systemd's READY=1.
@Suite("run: signal source kinds")
struct SignalSourceRegistryTests {
    @Test(arguments: [
        ("unix:/run/f.sock", true, true, true), ("tcp:127.0.0.1:7781", true, true, true),
        ("file:/tmp/p.jsonl", false, true, false), ("openadr3:https://vtn.example/openadr3", false, false, true),
        // OpenADR 2.0b polls: it accepts no connection (no share of the descriptors) and holds nothing up.
        ("openadr2b:https://vtn.example/OpenADR2/Simple/2.0b", false, false, false),
    ])
    func everySchemeHasItsKind(text: String, controlThread: Bool, holdsReadiness: Bool, acceptsConnections: Bool)
        throws
    {
        let kind = try SignalSourceRegistry.kind(of: SignalSourceSpec(text))
        #expect(kind.scheme == text.prefix { $0 != ":" }.description)
        #expect(kind.controlThread == controlThread)
        #expect(kind.holdsReadiness == holdsReadiness)
        #expect(kind.acceptsConnections == acceptsConnections)
    }

    @Test func schemesAreRegisteredOnce() {
        let schemes = SignalSourceRegistry.kinds.map(\.scheme)
        #expect(Set(schemes).count == schemes.count, "\(schemes)")
    }
}
