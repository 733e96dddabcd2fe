import DemandResponse
import Foundation
import LoadController
import NIOPosix
import Testing

/// Every count is bounded: connections, idle and stalled clients, active curtailments, followed paths.
@Suite("Bounded resources", .serialized)
struct BoundedResourceTests {
    func controller(log: DecisionLog? = nil) -> (LoadController, FakeLoad) {
        let load = FakeLoad()
        let c = LoadController(actuator: load, config: PolicyConfig(breakEvenUSDPerMWh: 50), log: log)
        c.start()
        return (c, load)
    }

    /// Idle TCP clients up to the cap: more are refused, and a curtail on the Unix socket is still obeyed.
    @Test func idleClientsOfOneSourceCannotStarveAnother() async throws {
        let dir = scratchDirectory()
        let (c, load) = controller()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var limits = SignalSocketServer.Limits()
        limits.maxConnections = 4
        let tcp = try await SignalSocketServer.start(
            .tcp(host: "127.0.0.1", port: 0), controller: c, token: nil, group: group, limits: limits)
        let unix = try await SignalSocketServer.start(
            .unix(path: dir + "/s.sock"), controller: c, token: nil, group: group, limits: limits)
        let port = try #require(tcp.port)
        let idle = try (0..<4).map { _ in try SignalClient(.tcp(host: "127.0.0.1", port: port)) }
        #expect(eventually { tcp.openConnections == 4 })
        var refused: [String] = []
        for _ in 0..<8 {
            let extra = try SignalClient(.tcp(host: "127.0.0.1", port: port))
            refused.append((decode((try? extra.readLine()) ?? "")["error"] as? String) ?? "")
        }
        #expect(refused.allSatisfy { $0.contains("too many connections (the limit is 4 per source)") }, "\(refused)")
        let operator_ = try SignalClient(.unix(path: dir + "/s.sock"))
        #expect(decode(try operator_.request(#"{"type":"curtail","level":1,"id":"eea"}"#))["halted"] as? Bool == true)
        #expect(load.isHalted)
        // The idle ones are still served, and one leaving makes room.
        #expect(decode(try idle[0].request(#"{"type":"status"}"#))["halted"] as? Bool == true)
        _ = consume idle
        #expect(eventually { tcp.openConnections == 0 })
        #expect(
            decode(try SignalClient(.tcp(host: "127.0.0.1", port: port)).request(#"{"type":"status"}"#))["ok"] as? Bool
                == true)
        await tcp.close()
        await unix.close()
        try await group.shutdownGracefully()
    }

    @Test func aSilentClientIsClosedAfterTheIdleTimeout() async throws {
        let (c, _) = controller()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var limits = SignalSocketServer.Limits()
        limits.idleTimeout = .milliseconds(200)
        let server = try await SignalSocketServer.start(
            .tcp(host: "127.0.0.1", port: 0), controller: c, token: nil, group: group, limits: limits)
        let silent = try SignalClient(.tcp(host: "127.0.0.1", port: try #require(server.port)), timeout: 10)
        do {
            _ = try silent.readLine()
            Issue.record("a silent client got a reply")
        } catch {
            #expect(error.message.contains("closed"), "\(error.message)")
        }
        #expect(eventually { server.openConnections == 0 })
        await server.close()
        try await group.shutdownGracefully()
    }

    /// A client that writes and never reads: cut off, and its descriptor released even though the
    /// server's last bytes to it can never be delivered.
    @Test func aClientThatStopsReadingIsDisconnected() async throws {
        let dir = scratchDirectory()
        let (c, _) = controller()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = try await SignalSocketServer.start(
            .unix(path: dir + "/s.sock"), controller: c, token: nil, group: group)
        let reader = try SignalClient(.unix(path: dir + "/s.sock"))
        let hog = try SignalClient(.unix(path: dir + "/s.sock"), timeout: 1)
        #expect(eventually { server.openConnections == 2 })
        // Status lines with long replies, sent slowly enough not to trip the rate limit, never read.
        let line = Array((#"{"type":"status","pad":""# + String(repeating: "p", count: 200) + "\"}\n").utf8)
        var sent = 0
        while sent < 50_000, (try? hog.sendRaw(line)) != nil {
            sent += 1
            if sent % 500 == 0 { usleep(300_000) }
            if server.openConnections == 1 { break }
        }
        #expect(eventually(within: 20) { server.openConnections == 1 }, "sent \(sent) lines")
        #expect(decode(try reader.request(#"{"type":"status"}"#))["ok"] as? Bool == true)
        await server.close()
        try await group.shutdownGracefully()
    }

    @Test func activeCurtailmentsAreBoundedPerSourceAndIdsAreTruncated() async throws {
        let (c, load) = controller()
        let a = SignalOrigin(source: "unix:/s", connection: 1)
        let b = SignalOrigin(source: "unix:/s", connection: 2)
        for i in 0..<Policy.maxCurtailmentsPerSource {
            let id = i % 2 == 0 ? "a\(i)" : "b\(i)"
            let r = c.handle(
                line: Array(#"{"type":"curtail","level":0.1,"id":"\#(id)"}"#.utf8), origin: i % 2 == 0 ? a : b)
            #expect(r.ok)
        }
        // A new one from the same socket (another connection) is refused with the limit named …
        let refused = c.handle(line: Array(#"{"type":"curtail","level":1,"id":"one-more"}"#.utf8), origin: b)
        #expect(!refused.ok)
        #expect(refused.line.contains("the limit is \(Policy.maxCurtailmentsPerSource) per source"), "\(refused.line)")
        // … but one replacing an active curtailment is not, and another source is not limited by this one.
        #expect(c.handle(line: Array(#"{"type":"curtail","level":0.2,"id":"a0"}"#.utf8), origin: a).ok)
        #expect(
            c.handle(line: Array(#"{"type":"curtail","level":1,"id":"x"}"#.utf8), origin: SignalOrigin(name: "http")).ok
        )
        #expect(load.isHalted)
        #expect(c.status.activeCurtailments == Policy.maxCurtailmentsPerSource + 1)

        // Ids and reasons are cut to 256 bytes; a release with the full id still finds it.
        let long = String(repeating: "é", count: 300)
        let r = decode(
            c.handle(
                line: Array(#"{"type":"curtail","level":1,"id":"\#(long)","reason":"\#(long)"}"#.utf8),
                origin: SignalOrigin(name: "file:/f")
            ).line)
        let id = try #require(r["id"] as? String)
        #expect(id.utf8.count <= Policy.maxTextBytes && id.utf8.count >= Policy.maxTextBytes - 1)
        #expect(!c.status.reason.contains(long))
        let before = c.status.activeCurtailments
        _ = c.handle(line: Array(#"{"type":"release","id":"\#(long)"}"#.utf8), origin: a)
        #expect(c.status.activeCurtailments == before - 1)
    }

    @Test func theWholeSetIsBounded() {
        var state = PolicyState(config: PolicyConfig(breakEvenUSDPerMWh: 50), now: Date())
        for i in 0..<(Policy.maxCurtailments + 10) {
            let message = SignalMessage.curtail(CurtailSignal(level: 0.5, id: "id\(i)"))
            let source = "file:/f\(i / 60)"
            if Policy.refusal(message, source: source, group: source, state: state) == nil {
                _ = Policy.step(
                    &state, .signal(message, source: source), now: Date(), config: PolicyConfig(breakEvenUSDPerMWh: 50))
            } else {
                #expect(i >= Policy.maxCurtailments)
            }
        }
        #expect(state.curtailments.count == Policy.maxCurtailments)
    }

    /// A followed path that is not a regular file is refused; the follower still stops at once.
    @Test func specialFilesAreNotFollowed() throws {
        let dir = scratchDirectory()
        #expect(mkfifo(dir + "/fifo", 0o600) == 0)
        try FileManager.default.createDirectory(atPath: dir + "/directory", withIntermediateDirectories: false)
        let log = try DecisionLog(path: dir + "/d.jsonl")
        let (c, load) = controller(log: log)
        let notes = NoteCollector()
        let followers = try ["/dev/zero", dir + "/fifo", dir + "/directory"].map {
            try SignalFileFollower(path: $0, controller: c, note: { notes.add($0) })
        }
        #expect(eventually { notes.all.filter { $0.contains("not a regular file") }.count == 3 })
        for f in followers { f.stop() }
        #expect(!notes.all.contains { $0.contains("did not finish") })
        #expect(!load.isHalted)
        #expect(c.status.messages.values.allSatisfy { $0["ok"] == nil })
    }

    /// The OS threads behind the decision log, the state file and a followed file: named, so `top -H` and
    /// /proc tell them apart, and gone once their owner is closed (detached: nothing is left to join).
    /// Counted from /proc, not from the code under test; other suites' threads may end meanwhile, never start.
    @Test func writerAndFollowerThreadsAreNamedAndEndWithTheirOwner() throws {
        // Thread ids by name, from /proc: other tests' writers (logs they never close) share the names.
        func threads(_ name: String) -> Set<String> {
            let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
            return Set(
                tasks.filter { tid in
                    let comm = (try? String(contentsOfFile: "/proc/self/task/\(tid)/comm", encoding: .utf8)) ?? ""
                    return comm.trimmingCharacters(in: .whitespacesAndNewlines) == name
                })
        }
        let names = ["flexminer-dlog", "flexminer-state", "flexminer-file"]
        let before = names.map(threads)
        let dir = scratchDirectory()
        let log = try DecisionLog(path: dir + "/d.jsonl")
        let state = try CurtailmentStateFile(path: dir + "/state.json")
        let (c, _) = controller(log: log)
        let follower = try SignalFileFollower(path: dir + "/signals", controller: c)
        var ours: [Set<String>] = []
        for (name, old) in zip(names, before) {
            #expect(eventually { !threads(name).subtracting(old).isEmpty }, "no new thread named \(name)")
            ours.append(threads(name).subtracting(old))
        }
        follower.stop()
        state.close()
        log.close()
        for (name, new) in zip(names, ours) {
            #expect(eventually { threads(name).isDisjoint(with: new) }, "\(name): \(new) still running after close")
        }
    }

    /// A regular file that never ends a line: the partial line is capped at the protocol's maximum.
    @Test func aFileWithoutNewlinesIsBounded() throws {
        let dir = scratchDirectory()
        let path = dir + "/big"
        let chunk = Data(repeating: UInt8(ascii: "x"), count: 1 << 20)
        let h = FileManager.default.createFile(atPath: path, contents: nil) ? FileHandle(forWritingAtPath: path)! : nil
        for _ in 0..<8 { h?.write(chunk) }
        h?.write(Data("\n{\"type\":\"curtail\",\"level\":1}\n".utf8))
        try h?.close()
        let log = try DecisionLog(path: dir + "/d.jsonl")
        let (c, load) = controller(log: log)
        let f = try SignalFileFollower(path: path, controller: c)
        #expect(eventually { load.isHalted })
        f.stop()
        log.close()
        let errors = readLines(dir + "/d.jsonl").compactMap { $0["error"] as? String }
        #expect(errors.contains { $0.contains("line over \(SignalMessage.maximumLineLength) bytes") })
    }
}
