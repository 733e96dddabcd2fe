import DemandResponse
import Foundation
import LoadController
import NIOPosix
import Synchronization
import Testing

/// A curtailment is acknowledged only once the state file holds it: the halt never waits for the disk,
/// the reply does (asynchronously and bounded), so a `kill -9` after the reply cannot lose it.
@Suite("An acknowledged curtailment is durable", .serialized)
struct DurableAcknowledgementTests {
    /// Holds the state file's writer (a disk that has not taken the write yet) until opened.
    final class Gate: Sendable {
        let isOpen = Atomic<Bool>(false)
        let writes = Atomic<Int>(0)
        func pass() {
            writes.add(1, ordering: .relaxed)
            while !isOpen.load(ordering: .relaxed) { usleep(1000) }
        }
        func open() { isOpen.store(true, ordering: .relaxed) }
    }

    struct Rig {
        let dir: String
        let statePath: String
        let socket: String
        let load: FakeLoad
        let controller: LoadController
        let state: CurtailmentStateFile
        let server: SignalSocketServer
        let group: MultiThreadedEventLoopGroup

        func stop() async throws {
            await server.close()
            try await group.shutdownGracefully()
            state.close(timeout: .seconds(2))
        }

        /// The state file's curtailment ids (empty while it does not exist).
        var savedIDs: [String] {
            guard let text = try? String(contentsOfFile: statePath, encoding: .utf8) else { return [] }
            return ((decode(text)["curtailments"] as? [[String: Any]]) ?? []).compactMap { $0["id"] as? String }
        }
    }

    func rig(gate: Gate?, stateDirectory: String? = nil, wait: Duration = .seconds(3)) async throws -> Rig {
        let dir = scratchDirectory()
        let statePath = (stateDirectory ?? dir) + "/state.json"
        let state = try CurtailmentStateFile(path: statePath, beforeWrite: { gate?.pass() })
        let load = FakeLoad()
        let c = LoadController(actuator: load, config: PolicyConfig(breakEvenUSDPerMWh: 50), stateFile: state)
        c.start()
        // One event loop: a reply waiting for the disk must not hold up any other client of the loop.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var limits = SignalSocketServer.Limits()
        limits.durabilityWait = wait
        let socket = dir + "/s.sock"
        let server = try await SignalSocketServer.start(
            .unix(path: socket), controller: c, token: nil, group: group, limits: limits)
        return Rig(
            dir: dir, statePath: statePath, socket: socket, load: load, controller: c, state: state, server: server,
            group: group)
    }

    /// Reads the next reply, retrying the client's short receive timeout up to `seconds`.
    func nextReply(_ client: SignalClient, within seconds: Double = 10) throws -> String {
        let deadline = Date(timeIntervalSinceNow: seconds)
        while true {
            do { return try client.readLine() } catch {
                if Date() >= deadline || !error.message.contains("no reply") { throw error }
            }
        }
    }

    @Test func theReplyToACurtailmentComesOnlyOnceTheStateFileHoldsIt() async throws {
        let gate = Gate()
        let r = try await rig(gate: gate)
        let a = try SignalClient(.unix(path: r.socket), timeout: 0.2)
        // A curtailment and a status pipelined: the status's reply must not overtake the curtailment's.
        try a.sendRaw(
            Array(
                (#"{"type":"curtail","level":1,"id":"evt-1","reason":"grid"}"# + "\n" + #"{"type":"status"}"# + "\n")
                    .utf8))
        // Halted without the disk …
        #expect(eventually { r.load.isHalted })
        #expect(eventually { gate.writes.load(ordering: .relaxed) >= 1 })
        // … but not acknowledged while the state file does not hold it.
        do {
            let early = try a.readLine()
            Issue.record("a reply before the state file held the curtailment: \(early)")
        } catch {
            #expect(error.message.contains("no reply"), "\(error.message)")
        }
        #expect(!r.savedIDs.contains("evt-1"))
        // Another client of the same loop is answered meanwhile (nothing blocks the event loop), halted.
        let b = try SignalClient(.unix(path: r.socket), timeout: 5)
        let other = decode(try b.request(#"{"type":"status"}"#))
        #expect(other["halted"] as? Bool == true)
        // A second curtailment on the waiting connection is acted on at once too (its reply queues).
        try a.sendRaw(Array((#"{"type":"curtail","level":0.5,"id":"evt-2"}"# + "\n").utf8))
        #expect(eventually { r.controller.status.activeCurtailments == 2 })

        gate.open()
        let first = try nextReply(a)
        // The state file held it when the reply was sent.
        #expect(r.savedIDs.contains("evt-1"), "\(r.savedIDs)")
        let reply = decode(first)
        #expect(reply["ok"] as? Bool == true)
        #expect(reply["halted"] as? Bool == true)
        #expect(reply["id"] as? String == "evt-1")
        #expect(reply["state_durable"] as? Bool == true)
        // Then the other replies, in the order of the lines.
        let status = decode(try nextReply(a))
        #expect(status["type"] as? String == "status")
        #expect(status["state_durable"] == nil)
        let second = decode(try nextReply(a))
        #expect(second["id"] as? String == "evt-2")
        #expect(second["state_durable"] as? Bool == true)
        #expect(Set(r.savedIDs) == ["evt-1", "evt-2"])
        // A release is acknowledged the same way.
        let release = decode(try b.request(#"{"type":"release","id":"evt-1"}"#))
        #expect(release["state_durable"] as? Bool == true)
        #expect(r.savedIDs == ["evt-2"])
        #expect(r.state.waiting == 0)
        try await r.stop()
    }

    @Test func aStuckDiskGetsTheReplySentAnywaySayingSo() async throws {
        let gate = Gate()
        let r = try await rig(gate: gate, wait: .milliseconds(300))
        let a = try SignalClient(.unix(path: r.socket), timeout: 10)
        let reply = decode(try a.request(#"{"type":"curtail","level":1,"id":"evt-9"}"#))
        #expect(reply["ok"] as? Bool == true)
        #expect(reply["halted"] as? Bool == true)
        #expect(reply["state_durable"] as? Bool == false)
        #expect(r.load.isHalted)
        // The timed-out wait was forgotten: a hung disk cannot grow the table of waiters.
        #expect(r.state.waiting == 0)
        gate.open()
        #expect(eventually { r.savedIDs == ["evt-9"] })
        // Once written, a repeated curtailment is acknowledged durable at once.
        #expect(decode(try a.request(#"{"type":"curtail","level":1,"id":"evt-9"}"#))["state_durable"] as? Bool == true)
        try await r.stop()
    }

    @Test func aFailedWriteIsAcknowledgedAsNotDurable() async throws {
        let r = try await rig(gate: nil, stateDirectory: "/tmp/fmt-missing-\(UUID().uuidString.prefix(8))")
        let a = try SignalClient(.unix(path: r.socket), timeout: 10)
        let reply = decode(try a.request(#"{"type":"curtail","level":1,"id":"evt-3"}"#))
        #expect(reply["halted"] as? Bool == true)
        #expect(reply["state_durable"] as? Bool == false)
        #expect(r.state.errors >= 1)
        try await r.stop()
    }

    @Test func withoutAStateFileNothingWaitsAndTheReplyIsUnchanged() async throws {
        let load = FakeLoad()
        let c = LoadController(actuator: load, config: PolicyConfig(breakEvenUSDPerMWh: 50))
        c.start()
        let r = c.handle(line: Array(#"{"type":"curtail","level":1,"id":"e"}"#.utf8), origin: SignalOrigin(name: "x"))
        #expect(r.durability == nil)
        #expect(decode(r.line)["state_durable"] == nil)
        #expect(load.isHalted)
    }
}
