import DemandResponse
import FlexSupport
import Foundation
import LoadController
import Logging
import MiningKernels
import NIOHTTP1
import NIOPosix
import Operations
import Synchronization
import TestSupport
import Testing

/// The control path never waits on logging, disk or a client; browsers cannot reach the POSTs.
@Suite("Control path", .serialized)
struct ControlPathTests {
    func serve() async throws -> (StatusServer, LoadController, FakeLoad, MultiThreadedEventLoopGroup) {
        let load = FakeLoad()
        let controller = LoadController(actuator: load, config: PolicyConfig(breakEvenUSDPerMWh: 50))
        controller.start()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let routes = StatusServer.Routes(
            status: { controller.statusJSON }, metrics: { "" },
            signal: { line in
                let r = controller.handle(line: Array(line.utf8), origin: SignalOrigin(name: "http"))
                return (r.ok, r.line)
            })
        let server = try await StatusServer.start(host: "127.0.0.1", port: 0, token: nil, routes: routes, group: group)
        return (server, controller, load, group)
    }

    @Test func browsersCannotPauseOrResume() async throws {
        let (server, _, load, group) = try await serve()
        let base = "http://127.0.0.1:\(server.port)"
        let evil = try await request(.POST, base + "/pause", headers: [("Origin", "http://evil.example")])
        #expect(evil.status == 403)
        #expect((decode(evil.body)["error"] as? String)?.contains("cross-origin") == true)
        #expect(!load.isHalted)
        for type in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
            #expect(try await request(.POST, base + "/pause", headers: [("Content-Type", type)]).status == 403)
        }
        // A DNS-rebinding page reaches 127.0.0.1 under its own name.
        let rebound = try await request(
            .POST, base + "/pause", headers: [("Origin", "http://attacker.test:\(server.port)")])
        #expect(rebound.status == 403)
        #expect(!load.isHalted)
        // The server's own origin, and programs that send no Origin, are served.
        #expect(try await request(.POST, base + "/pause", headers: [("Origin", base)]).status == 200)
        #expect(load.isHalted)
        #expect(try await request(.POST, base + "/resume", headers: [("Origin", "http://evil.example")]).status == 403)
        #expect(try await request(.POST, base + "/resume", headers: [("Origin", "null")]).status == 403)
        #expect(load.isHalted)
        #expect(try await request(.POST, base + "/resume").status == 200)
        #expect(!load.isHalted)
        await server.close()
        try await group.shutdownGracefully()
    }

    /// Pipelined requests from a client that never reads: the server stops reading them (the client's
    /// sends stall) instead of answering them into memory.
    @Test func pipelinedRequestsFromAClientThatNeverReadsAreHeldBack() async throws {
        let (server, _, _, group) = try await serve()
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(server.port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        #expect(rc == 0)
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        let requests = Array(String(repeating: "GET /status HTTP/1.1\r\nHost: x\r\n\r\n", count: 1000).utf8)
        let budget = 64 << 20
        var sent = 0
        var stalled = false
        while sent < budget {
            let n = requests.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n > 0 {
                sent += n
                continue
            }
            guard errno == EAGAIN || errno == EWOULDBLOCK else { break }
            // Full: wait up to a second for the server to read more.
            var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            if poll(&p, 1, 1000) == 0 {
                stalled = true
                break
            }
        }
        #expect(stalled, "the server kept reading: \(sent) bytes of requests accepted")
        #expect(sent < budget)
        // And it does not keep the connection for ever: closed (reset) once it has stalled a while
        // (0x2000: POLLRDHUP, which Glibc does not export to Swift).
        var closed = false
        for _ in 0..<150 where !closed {
            var p = pollfd(fd: fd, events: Int16(POLLOUT) | 0x2000, revents: 0)
            _ = poll(&p, 1, 100)
            closed = p.revents & (Int16(POLLERR) | Int16(POLLHUP) | 0x2000) != 0
        }
        #expect(closed, "the stalled connection is still open")
        await server.close()
        try await group.shutdownGracefully()
    }

    /// stderr nobody reads (a full pipe): logging never blocks the controller, which still halts.
    @Test func aFullStderrPipeDoesNotStopTheController() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer {
            close(fds[0])
            close(fds[1])
        }
        // Fill the pipe: from now on every write to it blocks.
        let flags = fcntl(fds[1], F_GETFL)
        _ = fcntl(fds[1], F_SETFL, flags | O_NONBLOCK)
        let junk = [UInt8](repeating: 0x2E, count: 4096)
        while junk.withUnsafeBytes({ write(fds[1], $0.baseAddress, $0.count) }) > 0 {}
        _ = fcntl(fds[1], F_SETFL, flags)
        let sink = LogSink(fileDescriptor: fds[1])
        let logger = Logger(label: "t") { FlexLogHandler(label: $0, format: .human, level: .info, output: sink) }
        let load = FakeLoad()
        let c = LoadController(
            actuator: load, config: PolicyConfig(breakEvenUSDPerMWh: 50), message: { logger.info("\($0)") })
        let done = Atomic<Int>(0)
        let thread = Thread {
            c.start()
            for i in 0..<(LogSink.queueLimit * 2) {
                let line = i % 2 == 0 ? #"{"type":"curtail","level":1}"# : #"{"type":"release"}"#
                _ = c.handle(line: Array(line.utf8), origin: SignalOrigin(name: "unix:/s"))
            }
            _ = c.handle(line: Array(#"{"type":"curtail","level":1}"#.utf8), origin: SignalOrigin(name: "unix:/s"))
            done.store(1, ordering: .releasing)
        }
        thread.start()
        // Liveness, not speed: without the queue the first log line would block the controller for ever.
        #expect(eventually(within: 60) { done.load(ordering: .acquiring) == 1 })
        #expect(load.isHalted)
        #expect(sink.dropped > 0)
    }

    /// A decision log on a full disk: entries are counted as errors and reported once; the controller goes on.
    @Test func decisionLogWriteErrorsAreReported() throws {
        let notes = Mutex<[String]>([])
        let log = try DecisionLog(path: "/dev/full", report: { m in notes.withLock { $0.append(m) } })
        let load = FakeLoad()
        let c = LoadController(actuator: load, config: PolicyConfig(breakEvenUSDPerMWh: 50), log: log)
        c.start()
        #expect(c.handle(line: Array(#"{"type":"curtail","level":1}"#.utf8), origin: SignalOrigin(name: "u")).ok)
        #expect(load.isHalted)
        #expect(log.flush())
        #expect(log.errors >= 3)
        let reported = notes.withLock { $0 }
        #expect(reported.count == 1)
        #expect(reported.first?.contains("No space left on device") == true)
        log.close()
    }

    /// A log that ends inside an entry (a crash mid-write): the next entry starts on its own line.
    @Test func aTornLastLineNeverMergesIntoTheNextEntry() throws {
        let dir = scratchDirectory()
        let path = dir + "/d.jsonl"
        try Data(#"{"event":"signal","source":"uni"#.utf8).write(to: URL(fileURLWithPath: path))
        let log = try DecisionLog(path: path)
        log.write(["event": "start"])
        log.close()
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2)
        #expect(decode(String(lines[1]))["event"] as? String == "start")
    }

    @Test func decisionLogHealthIsInStatus() throws {
        var flags = RunFlags()
        flags.values.benchmarkWork = true
        flags.values.stateFile = "/var/lib/f/state.json"
        let s = try RunSettings.resolve(flags, environment: [:], isTerminal: false) { _ in try! Kernel.named(.scalar) }
        #expect(s.stateFile == "/var/lib/f/state.json")
        let c = try RunConfig(json: Data(#"{"state_file": "/tmp/s.json"}"#.utf8))
        #expect(c.stateFile == "/tmp/s.json")
    }
}

/// `run --state-file`: curtailed in one run, curtailed from the start of the next.
@Suite("run: state file", .serialized)
struct RunStateFileTests {
    @Test func curtailStopRestartStaysHalted() async throws {
        let dir = scratchDirectory()
        let socket = dir + "/s.sock"
        func settings(signals: [String]?, seconds: Double) throws -> RunSettings {
            var flags = RunFlags()
            flags.values.benchmarkWork = true
            flags.values.threads = 1
            flags.values.seconds = seconds
            flags.values.signals = signals
            flags.values.stateFile = dir + "/state.json"
            return try RunSettings.resolve(flags, environment: [:], isTerminal: false) { _ in
                try! Kernel.named(.scalar)
            }
        }
        let sink = LogSink.capturing()
        let logger = Logger(label: "test") { FlexLogHandler(label: $0, format: .human, level: .info, output: sink) }
        let first = Task {
            try await MinerRun(
                settings: settings(signals: ["unix:\(socket)"], seconds: 3), version: "t", logger: logger
            )
            .run()
        }
        #expect(await polled(within: 20) { FileManager.default.fileExists(atPath: socket) })
        let reply = decode(
            try SignalClient(.unix(path: socket)).request(
                #"{"type":"curtail","level":1,"id":"eea-2","reason":"ERCOT EEA"}"#))
        #expect(reply["halted"] as? Bool == true)
        _ = try await first.value

        let second = try await MinerRun(settings: settings(signals: nil, seconds: 1), version: "t", logger: logger)
            .run()
        let summary = decode(second.json)
        #expect(summary["state"] as? String == "curtailed")
        #expect(summary["hashes"] as? Int == 0)
        #expect(
            sink.lines.contains {
                $0.contains("restored 1 curtailment from the state file") && $0.contains("ERCOT EEA")
            })
    }
}

/// The descriptor limit reached by idle TCP clients: a curtail on the Unix socket is still answered.
@Suite("run: descriptor exhaustion", .serialized)
struct DescriptorExhaustionTests {
    /// A free TCP port on loopback (bound, read, released).
    func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length)
                return getsockname(fd, $0, &length)
            }
        }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/prlimit")))
    func idleTCPClientsUpToTheLimitCannotBlockAUnixCurtail() throws {
        let dir = scratchDirectory()
        let port = freePort()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/prlimit")
        // 64 descriptors, soft and hard: about 20 are in use before any client connects.
        p.arguments = [
            "--nofile=64:64", flexminerBinary(), "run", "--benchmark-work", "--threads", "1", "--signals",
            "unix:\(dir)/s.sock", "tcp:127.0.0.1:\(port)", "--seconds", "60",
        ]
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        defer {
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        }
        #expect(eventually(within: 30) { FileManager.default.fileExists(atPath: "\(dir)/s.sock") })
        // The TCP source starts beside the Unix one, not after it: wait until it takes a connection.
        #expect(eventually(within: 30) { (try? SignalClient(.tcp(host: "127.0.0.1", port: port), timeout: 1)) != nil })
        // 120 idle clients: more than the process has descriptors.
        var idle: [SignalClient] = []
        for _ in 0..<120 {
            if let c = try? SignalClient(.tcp(host: "127.0.0.1", port: port)) { idle.append(c) }
        }
        usleep(500_000)
        let reply = decode(
            try SignalClient(.unix(path: "\(dir)/s.sock"), timeout: 10).request(
                #"{"type":"curtail","level":1,"id":"eea"}"#))
        #expect(reply["halted"] as? Bool == true, "\(reply)")
        #expect(idle.count > 0)
        idle.removeAll()
        kill(p.processIdentifier, SIGTERM)
        p.waitUntilExit()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(stderr.contains("descriptor limit 64: at most"), "\(stderr)")
    }
}

/// A decision log that cannot be written: reported once on stderr, in /status and in the metrics.
@Suite("run: decision log errors", .serialized)
struct DecisionLogErrorRunTests {
    @Test func aFullDiskIsReportedNotSilent() async throws {
        var flags = RunFlags()
        flags.values.benchmarkWork = true
        flags.values.threads = 1
        flags.values.seconds = 30
        flags.values.decisionLog = "/dev/full"
        flags.values.http = "127.0.0.1:0"
        let settings = try RunSettings.resolve(flags, environment: [:], isTerminal: false) { _ in
            try! Kernel.named(.scalar)
        }
        let sink = LogSink.capturing()
        let logger = Logger(label: "test") { FlexLogHandler(label: $0, format: .human, level: .info, output: sink) }
        let run = Task { try await MinerRun(settings: settings, version: "t", logger: logger, sink: sink).run() }
        defer { run.cancel() }
        #expect(await polled(within: 20) { sink.lines.contains { $0.contains("HTTP API on http://127.0.0.1:") } })
        let line = try #require(sink.lines.first { $0.contains("HTTP API on http://127.0.0.1:") })
        let base = try #require(line.firstMatch(of: #/http://127\.0\.0\.1:[0-9]+/#)).output
        #expect(try await request(.POST, base + "/pause").status == 200)
        // The log's own thread writes (and fails): the reply means the entries are queued, not tried.
        #expect(await polled(within: 10) { sink.lines.contains { $0.contains("cannot write an entry") } })
        let status = decode(try await request(.GET, base + "/status").body)
        #expect((status["decision_log_errors"] as? Int ?? 0) > 0, "\(status)")
        #expect(status["decision_log_dropped"] as? Int == 0)
        let metrics = try await request(.GET, base + "/metrics").body
        let errors = try PrometheusText.parse(metrics)["flexminer_decision_log_errors_total"]
        #expect((errors ?? 0) > 0)
        #expect(sink.lines.filter { $0.contains("decision log /dev/full: cannot write an entry") }.count == 1)
        run.cancel()
        _ = try? await run.value
    }
}

/// `eventually` for async tests: polls with `Task.sleep`, so the waiting test gives its thread back to the
/// cooperative pool, where the run it waits for needs one (there may be only two).
func polled(within seconds: Double, _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(5))
    }
    return condition()
}
