import DemandResponse
import FlexSupport
import Foundation
import LoadController
import Testing

/// Curtailments survive a restart through the state file.
@Suite("State file", .serialized)
struct StateFileTests {
    func run(_ path: String, clock: TestClock = TestClock(), notes: NoteCollector = NoteCollector())
        throws -> (LoadController, FakeLoad, CurtailmentStateFile)
    {
        let load = FakeLoad()
        let state = try CurtailmentStateFile(path: path, report: { notes.add($0) })
        let c = LoadController(
            actuator: load, config: PolicyConfig(breakEvenUSDPerMWh: 50), clock: .virtual(clock.read),
            stateFile: state)
        c.start()
        return (c, load, state)
    }

    @Test func aRestartedMinerStaysCurtailed() throws {
        let dir = scratchDirectory()
        let path = dir + "/state.json"
        let clock = TestClock()
        do {
            let (c, load, state) = try run(path, clock: clock)
            let until = ISO8601.format(clock.read().addingTimeInterval(3600))
            let line = #"{"type":"curtail","level":1,"id":"evt-7","reason":"ERCOT EEA","until":"\#(until)"}"#
            #expect(c.handle(line: Array(line.utf8), origin: SignalOrigin(name: "file:/p")).ok)
            // An id-less one from a socket connection, and a partial one that expires before the restart.
            let soon = ISO8601.format(clock.read().addingTimeInterval(60))
            _ = c.handle(
                line: Array(#"{"type":"curtail","level":0.3}"#.utf8),
                origin: SignalOrigin(source: "unix:/s", connection: 3))
            _ = c.handle(
                line: Array(#"{"type":"curtail","level":0.5,"id":"short","until":"\#(soon)"}"#.utf8),
                origin: SignalOrigin(name: "http"))
            #expect(load.isHalted)
            state.close()
            let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
            #expect(mode == 0o600)
        }
        clock.advance(120)  // "short" has expired meanwhile
        let (c, load, state) = try run(path, clock: clock)
        defer { state.close() }
        // Halted from the start, with the same reason.
        #expect(load.isHalted)
        #expect(load.state.withLock { $0.resumes } == 0)
        #expect(c.status.activeCurtailments == 2)
        #expect(c.status.reason.contains("ERCOT EEA"), "\(c.status.reason)")
        // A connection of the new run with the same number cannot lift the old connection's id-less one …
        _ = c.handle(line: Array(#"{"type":"release","id":"evt-7"}"#.utf8), origin: SignalOrigin(name: "file:/p"))
        _ = c.handle(line: Array(#"{"type":"release"}"#.utf8), origin: SignalOrigin(source: "unix:/s", connection: 3))
        #expect(load.effective == 0.7)
        // … its id (the old connection's name) does.
        _ = c.handle(line: Array(#"{"type":"release","id":"unix:/s#3"}"#.utf8), origin: SignalOrigin(name: "http"))
        #expect(load.effective == 1)
        #expect(c.status.activeCurtailments == 0)
        #expect(state.flush())
        let saved = decode(try String(contentsOfFile: path, encoding: .utf8))
        #expect((saved["curtailments"] as? [Any])?.isEmpty == true)
    }

    @Test func aCorruptStateFileStartsHaltedUntilReleased() throws {
        let dir = scratchDirectory()
        let path = dir + "/state.json"
        try Data("{\"version\":1,\"curtailments\":[{\"key\":".utf8).write(to: URL(fileURLWithPath: path))
        let notes = NoteCollector()
        let (c, load, state) = try run(path, notes: notes)
        defer { state.close() }
        #expect(load.isHalted)
        #expect(notes.all.contains { $0.contains("state file \(path): malformed JSON; starting curtailed") })
        #expect(FileManager.default.fileExists(atPath: path + ".corrupt"))
        let release = #"{"type":"release","id":"\#(CurtailmentStateFile.unreadableID)"}"#
        #expect(
            decode(c.handle(line: Array(release.utf8), origin: SignalOrigin(name: "http")).line)["halted"] as? Bool
                == false)
    }

    @Test(arguments: [
        (#"{"version":2,"curtailments":[]}"#, "\"version\""),
        (#"{"version":1,"curtailments":[{"key":"k","level":7}]}"#, "\"curtailments[0].level\" must be within [0, 1]"),
        (#"{"version":1,"curtailments":[{"level":1}]}"#, "missing field \"curtailments[0].key\""),
        (#"{"version":1,"extra":true}"#, "unknown key"),
    ])
    func badStateFilesNameTheField(json: String, expected: String) throws {
        let dir = scratchDirectory()
        let path = dir + "/state.json"
        try Data(json.utf8).write(to: URL(fileURLWithPath: path))
        let notes = NoteCollector()
        let state = try CurtailmentStateFile(path: path, report: { notes.add($0) })
        defer { state.close() }
        let restored = state.load(now: Date())
        #expect(restored.values.map(\.id) == [CurtailmentStateFile.unreadableID])
        #expect(notes.all.contains { $0.contains(expected) }, "\(notes.all)")
    }

    /// A state file that cannot be written is reported and counted; the controller is not held up.
    @Test func writeFailuresAreReported() throws {
        let notes = NoteCollector()
        let path = scratchDirectory() + "/missing-directory/state.json"
        let (c, load, state) = try run(path, notes: notes)
        defer { state.close() }
        #expect(
            c.handle(line: Array(#"{"type":"curtail","level":1,"id":"e"}"#.utf8), origin: SignalOrigin(name: "u")).ok)
        #expect(load.isHalted)
        #expect(state.flush())
        #expect(state.errors == 1)
        #expect(notes.all.contains { $0.contains("state.json.tmp: cannot create it") }, "\(notes.all)")
    }

    @Test func noStateFileMeansNothingRestored() throws {
        let dir = scratchDirectory()
        let (c, load, state) = try run(dir + "/none.json")
        defer { state.close() }
        #expect(!load.isHalted)
        #expect(c.status.activeCurtailments == 0)
    }
}
