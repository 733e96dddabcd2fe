import DemandResponse
import Foundation
import KernelBench
import LoadController
import Mining
import MiningKernels
import NIOPosix
import Testing

@Suite("Signal sources", .serialized)
struct SourceTests {
    func controller(log: DecisionLog? = nil) -> (LoadController, FakeLoad) {
        let load = FakeLoad()
        let c = LoadController(actuator: load, config: PolicyConfig(breakEvenUSDPerMWh: 50), log: log)
        c.start()
        return (c, load)
    }

    /// The client's timeout is checked before it becomes a timeval (1e30 or NaN would trap there).
    @Test func clientTimeoutsOutOfRangeAreRefused() {
        for bad in [0, -1, 1e30, .nan, .infinity, 86_401] as [Double] {
            #expect(throws: SignalError.self, "\(bad)") {
                try SignalClient(.unix(path: "/nonexistent/s.sock"), timeout: bad)
            }
        }
    }

    @Test func unixSocketIsPrivateAndEveryLineGetsOneReply() async throws {
        let dir = scratchDirectory()
        let path = dir + "/s.sock"
        let (c, load) = controller()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = try await SignalSocketServer.start(.unix(path: path), controller: c, token: nil, group: group)
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let a = try SignalClient(.unix(path: path))
        let b = try SignalClient(.unix(path: path))
        // Several lines in one write, CRLF, an empty line (ignored), garbage: one reply per non-empty line.
        try a.sendRaw(Array("{\"type\":\"status\"}\r\n\n{\"type\":\"curtail\",\"level\":1}\n\u{00}\u{ff}\n".utf8))
        let replies = try (0..<3).map { _ in decode(try a.readLine()) }
        #expect(replies.map { $0["ok"] as? Bool } == [true, true, false])
        #expect(replies[1]["halted"] as? Bool == true)
        #expect(load.isHalted)
        // Each connection is its own sender: b's id-less release leaves a's curtailment; a's lifts it.
        #expect(decode(try b.request(#"{"type":"release"}"#))["halted"] as? Bool == true)
        #expect(decode(try a.request(#"{"type":"release"}"#))["halted"] as? Bool == false)
        #expect(!load.isHalted)
        // A line split across writes is answered once, when complete.
        try a.sendRaw(Array(#"{"type":"pri"#.utf8))
        try await Task.sleep(for: .milliseconds(20))
        try a.sendRaw(Array(#"ce","usd_per_mwh":99}"#.utf8) + [10])
        #expect(decode(try a.readLine())["price_usd_per_mwh"] as? Double == 99)
        await server.close()
        #expect(!FileManager.default.fileExists(atPath: path))
        try await group.shutdownGracefully()
    }

    @Test func longLinesAndFloodsAreCutOffWithoutHurtingOthers() async throws {
        let dir = scratchDirectory()
        let path = dir + "/s.sock"
        let log = try DecisionLog(path: dir + "/d.jsonl")
        let (c, _) = controller(log: log)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = try await SignalSocketServer.start(.unix(path: path), controller: c, token: nil, group: group)
        let good = try SignalClient(.unix(path: path))

        // Over 64 KiB without a newline: an error reply, then the connection is closed.
        let long = try SignalClient(.unix(path: path))
        try? long.sendRaw([UInt8](repeating: UInt8(ascii: "x"), count: 70_000))
        let reply = decode(try long.readLine())
        #expect((reply["error"] as? String)?.contains("line too long") == true)
        #expect(throws: SignalError.self) { _ = try long.readLine() }

        // A complete line over 64 KiB is answered with an error.
        let big = try SignalClient(.unix(path: path))
        let padded = #"{"type":"status","pad":""# + String(repeating: "a", count: 65_600) + #""}"#
        #expect((decode(try big.request(padded))["error"] as? String)?.contains("line too long") == true)

        // Thousands of lines at once: answered within the rate limit (a burst of 2,000, then 2,000 a
        // second, by arrival), then cut off. A server slower than the limit (a sanitizer build) answers
        // them all, and then it cannot have gone over the limit either.
        let flood = try SignalClient(.unix(path: path))
        let burst = Array(String(repeating: "{\"type\":\"heartbeat\"}\n", count: 5000).utf8)
        let started = ContinuousClock.now
        try? flood.sendRaw(burst)
        var answered = 0
        while let line = try? flood.readLine(), !line.contains("too many messages") { answered += 1 }
        let seconds = (ContinuousClock.now - started) / .seconds(1)
        #expect(answered >= 100, "answered \(answered)")
        #expect(Double(answered) <= 2000 + 2000 * seconds + 50, "answered \(answered) in \(seconds) s")
        let cutOff = answered < 5000

        // The well-behaved client is still served, and a client that leaves mid-line costs nothing.
        let leaver = try SignalClient(.unix(path: path))
        try leaver.sendRaw(Array(#"{"type":"curt"#.utf8))
        _ = consume leaver
        #expect(decode(try good.request(#"{"type":"status"}"#))["ok"] as? Bool == true)
        #expect(
            eventually {
                readLines(dir + "/d.jsonl").contains {
                    ($0["error"] as? String)?.contains("disconnected mid-line") == true
                }
            })
        log.flush()
        let cuts = readLines(dir + "/d.jsonl").compactMap { $0["error"] as? String }
        if cutOff {
            #expect(cuts.contains { $0.contains("client flooded") || $0.contains("client not reading replies") })
        }
        await server.close()
        try await group.shutdownGracefully()
    }

    @Test func staleSocketFilesAreReplacedButLiveOnesAndOtherFilesAreNot() async throws {
        let dir = scratchDirectory()
        let (c, _) = controller()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        // A regular file is never deleted.
        let regular = dir + "/regular"
        _ = FileManager.default.createFile(atPath: regular, contents: Data("keep".utf8))
        await #expect(throws: SignalError.self) {
            _ = try await SignalSocketServer.start(.unix(path: regular), controller: c, token: nil, group: group)
        }
        #expect(try String(contentsOfFile: regular, encoding: .utf8) == "keep")
        // A live socket is refused.
        let path = dir + "/s.sock"
        let first = try await SignalSocketServer.start(.unix(path: path), controller: c, token: nil, group: group)
        do {
            _ = try await SignalSocketServer.start(.unix(path: path), controller: c, token: nil, group: group)
            Issue.record("a second server took over a live socket")
        } catch {
            #expect(error.message.contains("another process is listening"))
        }
        // A stale one (left by a crash: the file exists, nobody listens) is replaced.
        await first.close()
        leaveStaleSocket(at: path)
        #expect(FileManager.default.fileExists(atPath: path))
        let second = try await SignalSocketServer.start(.unix(path: path), controller: c, token: nil, group: group)
        #expect(decode(try SignalClient(.unix(path: path)).request(#"{"type":"status"}"#))["ok"] as? Bool == true)
        await second.close()
        try await group.shutdownGracefully()
    }

    @Test func tcpOnLoopback() async throws {
        let (c, load) = controller()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = try await SignalSocketServer.start(
            .tcp(host: "127.0.0.1", port: 0), controller: c, token: nil, group: group)
        let port = try #require(server.port)
        let client = try SignalClient(.tcp(host: "127.0.0.1", port: port))
        #expect(decode(try client.request(#"{"type":"curtail","level":0.5}"#))["capacity"] as? Double == 0.5)
        #expect(load.effective == 0.5)
        await server.close()
        try await group.shutdownGracefully()
    }

    @Test func sourceSpecsParseAndSayWhatIsWrong() throws {
        #expect(try SignalSourceSpec("unix:/run/f.sock") == .unix(path: "/run/f.sock"))
        #expect(try SignalSourceSpec("tcp:127.0.0.1:7781") == .tcp(host: "127.0.0.1", port: 7781))
        #expect(try SignalSourceSpec("tcp:[::1]:7781") == .tcp(host: "::1", port: 7781))
        #expect(try SignalSourceSpec("file:signals.jsonl") == .file(path: "signals.jsonl"))
        #expect(try SignalSourceSpec("tcp:0.0.0.0:1").isLocal == false)
        #expect(try SignalSourceSpec("tcp:127.0.0.1:1").isLocal)
        for bad in [
            "udp:1", "tcp:host", "tcp:h:99999", "unix:", "file:", "unix:/" + String(repeating: "a", count: 120),
        ] {
            #expect(throws: SignalError.self) { try SignalSourceSpec(bad) }
        }
        // The list of what --signals takes is built from the kinds (the registered ones last); scripts and
        // operators read it as it was.
        #expect(
            throws: SignalError(
                "signal source udp:1: expected unix:PATH, tcp:HOST:PORT, file:PATH, openadr3:http[s]://HOST/BASE_PATH or openadr2b:http[s]://HOST/PATH"
            )
        ) { try SignalSourceSpec("udp:1") }
    }
}

/// What a crashed server leaves: a socket file nobody listens on.
func leaveStaleSocket(at path: String) {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    var addr = sockaddr_un()
    addr.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &addr.sun_path) { raw in
        let bytes = Array(path.utf8)
        raw.copyBytes(from: bytes)
        raw[bytes.count] = 0
    }
    _ = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    close(fd)
}

@Suite("Followed signal files", .serialized)
struct FileFollowerTests {
    func setup() throws -> (String, String, LoadController, FakeLoad, SignalFileFollower) {
        let dir = scratchDirectory()
        let path = dir + "/signals.jsonl"
        let log = try DecisionLog(path: dir + "/d.jsonl")
        let load = FakeLoad()
        let c = LoadController(actuator: load, config: PolicyConfig(breakEvenUSDPerMWh: 50), log: log)
        c.start()
        let f = try SignalFileFollower(path: path, controller: c)
        return (dir, path, c, load, f)
    }

    func append(_ path: String, _ text: String) {
        let h =
            FileHandle(forWritingAtPath: path)
            ?? {
                _ = FileManager.default.createFile(atPath: path, contents: nil)
                return FileHandle(forWritingAtPath: path)!
            }()
        h.seekToEndOfFile()
        h.write(Data(text.utf8))
        try? h.close()
    }

    @Test func missingFileIsWaitedForThenAppendsTruncationRotationAndReplaceAreFollowed() throws {
        let (dir, path, _, load, f) = try setup()
        defer { f.stop() }
        usleep(50_000)
        append(path, "{\"type\":\"curtail\",\"level\":1}\n")  // created after the start
        #expect(eventually { load.isHalted })
        append(path, "{\"type\":\"release\"}\n")
        #expect(eventually { !load.isHalted })

        // Truncation: the file starts over.
        try Data("{\"type\":\"curtail\",\"level\":0.5}\n".utf8).write(to: URL(fileURLWithPath: path))
        #expect(eventually { load.effective == 0.5 })

        // Rotation: renamed away, a new file appears.
        try FileManager.default.moveItem(atPath: path, toPath: path + ".1")
        append(path, "{\"type\":\"release\"}\n")
        #expect(eventually { load.effective == 1 })
        append(path + ".1", "{\"type\":\"curtail\",\"level\":1}\n")  // the old file is no longer followed
        usleep(300_000)
        #expect(load.effective == 1)

        // Atomic replace: write a temporary file, rename it over.
        try Data("{\"type\":\"price\",\"usd_per_mwh\":10}\n{\"type\":\"curtail\",\"level\":0.25}\n".utf8)
            .write(to: URL(fileURLWithPath: dir + "/tmp"))
        #expect(rename(dir + "/tmp", path) == 0)
        #expect(eventually { load.effective == 0.75 })

        // Deleted mid-run, then back.
        try FileManager.default.removeItem(atPath: path)
        usleep(100_000)
        append(path, "{\"type\":\"release\"}\n")
        #expect(eventually { load.effective == 1 })
    }

    @Test func aPartialLineWaitsForItsNewlineAndBadLinesAreLogged() throws {
        let (dir, path, _, load, f) = try setup()
        append(path, "{\"type\":\"curtail\",")
        usleep(200_000)
        #expect(!load.isHalted)
        append(path, "\"level\":1}\n{\"type\":\"curtail\",\"level\":7}\nnot json\n")
        #expect(eventually { load.isHalted })
        #expect(eventually { f.linesHandled == 3 })
        append(path, "{\"type\":\"release\"")  // never finished
        f.stop()
        // The decision log is written by its own thread: wait for the last entry.
        #expect(
            eventually {
                readLines(dir + "/d.jsonl").contains { ($0["error"] as? String)?.contains("at shutdown") == true }
            })
        let log = readLines(dir + "/d.jsonl")
        let errors = log.compactMap { $0["error"] as? String }
        #expect(errors.contains { $0.contains("within [0, 1]") })
        #expect(errors.contains { $0.contains("malformed JSON") })
        #expect(errors.contains { $0.contains("partial last line at shutdown") })
        #expect(load.isHalted)  // the unfinished release did nothing
    }

    @Test func aLongFileIsReplayedWithoutFlappingTheWorkers() throws {
        let dir = scratchDirectory()
        let path = dir + "/signals.jsonl"
        var text = ""
        for i in 0..<500 { text += i % 2 == 0 ? "{\"type\":\"curtail\",\"level\":1}\n" : "{\"type\":\"release\"}\n" }
        text += "{\"type\":\"curtail\",\"level\":0.25,\"id\":\"still-active\"}\n"
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        let log = try DecisionLog(path: dir + "/d.jsonl")
        let load = FakeLoad()
        let c = LoadController(actuator: load, config: PolicyConfig(breakEvenUSDPerMWh: 50), log: log)
        c.start()
        let f = try SignalFileFollower(path: path, controller: c)
        defer { f.stop() }
        #expect(eventually { f.linesHandled == 501 })
        // Every line went through the policy and the log, but the workers were commanded once.
        #expect(load.effective == 0.75)
        #expect(load.state.withLock { $0.halts + $0.resumes } == 0)
        log.flush()
        #expect(readLines(dir + "/d.jsonl").filter { $0["event"] as? String == "signal" }.count == 501)
    }

    @Test func reactsWithinMilliseconds() throws {
        let (_, path, _, load, f) = try setup()
        defer { f.stop() }
        append(path, "{\"type\":\"heartbeat\"}\n")
        #expect(eventually { f.linesHandled == 1 })
        var worst = Duration.zero
        for i in 0..<20 {
            let start = ContinuousClock.now
            append(path, i % 2 == 0 ? "{\"type\":\"curtail\",\"level\":1}\n" : "{\"type\":\"release\"}\n")
            #expect(eventually { load.isHalted == (i % 2 == 0) })
            worst = max(worst, ContinuousClock.now - start)
        }
        // Far below the 250 ms polling fallback: inotify woke the follower.
        #expect(worst < .milliseconds(200), "slowest reaction \(worst)")
    }
}

@Suite("Controller on the real engine", .serialized)
struct EngineControlTests {
    @Test func curtailOverTheSocketBlocksEveryWorkerThread() async throws {
        let engine = try MiningEngine(kernel: .best, threads: 2)
        defer { engine.stop() }
        let job = MiningJob.unsolvable(seed: 3)
        engine.setJob(job)
        let c = LoadController(actuator: engine, config: PolicyConfig(breakEvenUSDPerMWh: 50))
        c.start()
        let dir = scratchDirectory()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = try await SignalSocketServer.start(
            .unix(path: dir + "/s.sock"), controller: c, token: nil, group: group)
        let client = try SignalClient(.unix(path: dir + "/s.sock"))
        // A worker stores its thread id once it runs: on a loaded machine that is a moment after `init`.
        #expect(eventually(within: 10) { engine.workerThreadIDs.allSatisfy { $0 > 0 } })
        let tids = engine.workerThreadIDs
        #expect(tids.count == 2 && tids.allSatisfy { $0 > 0 })
        #expect(eventually { ThreadStates.allRunnable(tids) })
        for _ in 0..<20 {
            let r = decode(try client.request(#"{"type":"curtail","level":1}"#))
            #expect(r["halted"] as? Bool == true)
            // Blocked in the kernel, not spinning: /proc says so after the reply (a worker acknowledges
            // just before its futex wait; on a loaded machine it may not be scheduled for a while, and a
            // spinning worker would never show as blocked however long we look).
            #expect(eventually(within: 2) { ThreadStates.allBlocked(tids) })
            let before = engine.snapshot().totalHashes
            usleep(20_000)
            #expect(engine.snapshot().totalHashes == before)
            _ = try client.request(#"{"type":"release"}"#)
            #expect(eventually { engine.snapshot().totalHashes > before })
        }
        await server.close()
        try await group.shutdownGracefully()
    }
}
