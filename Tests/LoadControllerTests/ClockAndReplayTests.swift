import DemandResponse
import Foundation
import LoadController
import Synchronization
import Testing

/// A monotonic and a wall clock that tests move by hand, together (`advance`) or the wall alone (`stepWall`,
/// like an NTP correction or a VM resume).
final class TwoClocks: Sendable {
    let time = Mutex(PolicyTime(monotonic: 100, wall: Date(timeIntervalSince1970: 1_717_200_000)))
    func advance(_ seconds: Double) { time.withLock { $0 = $0.advanced(by: seconds) } }
    func stepWall(_ seconds: Double) { time.withLock { $0.wall += seconds } }
    var clock: PolicyClock { PolicyClock { self.time.withLock { $0 } } }
}

@Suite("Live controller: clock steps and replayed files", .serialized)
struct ClockAndReplayTests {
    @Test(arguments: [-3600.0, 3600.0])
    func wallClockStepNeitherTrapsNorMovesTheFailSafe(step: Double) {
        let clocks = TwoClocks()
        var config = PolicyConfig(breakEvenUSDPerMWh: 50)
        config.staleAfterSeconds = 60
        config.rampSteps = [0.5]
        config.rampStepSeconds = 10
        let load = FakeLoad()
        let c = LoadController(actuator: load, config: config, clock: clocks.clock)
        c.start()
        _ = c.handle(line: Array(#"{"type":"heartbeat"}"#.utf8), origin: SignalOrigin(name: "grid"))
        clocks.stepWall(step)
        clocks.advance(1)
        c.tick()
        #expect(!load.isHalted, "spurious fail-safe after a wall-clock step of \(step) s")
        clocks.advance(58)
        c.tick()
        #expect(!load.isHalted)
        clocks.advance(1)
        c.tick()
        #expect(load.isHalted, "fail-safe late after a wall-clock step of \(step) s")
        #expect(c.status.stale)
        // Back from the fail-safe through the ramp, with the wall clock stepping the other way mid-ramp.
        _ = c.handle(line: Array(#"{"type":"heartbeat"}"#.utf8), origin: SignalOrigin(name: "grid"))
        #expect(load.effective == 0.5)
        clocks.stepWall(-2 * step)
        clocks.advance(5)
        c.tick()
        #expect(load.effective == 0.5)
        clocks.advance(5)
        c.tick()
        #expect(load.effective == 1)
    }

    @Test func aFollowedFileWhoseHistoryEndsCheapKeepsMining() throws {
        let clocks = TwoClocks()
        var config = PolicyConfig(breakEvenUSDPerMWh: 50)
        config.minOnSeconds = 1800
        config.minOffSeconds = 900
        config.staleAfterSeconds = 86_400
        let dir = scratchDirectory()
        let path = dir + "/prices.jsonl"
        let log = try DecisionLog(path: dir + "/d.jsonl")
        let load = FakeLoad()
        let c = LoadController(actuator: load, config: config, log: log, clock: clocks.clock)
        c.start()
        clocks.advance(3600)  // running for an hour: the dwell since start is over
        func lines(_ prices: [Double]) -> Data {
            Data(prices.map { #"{"type":"price","usd_per_mwh":\#($0)}"# + "\n" }.joined().utf8)
        }
        // A status line in the history must not judge the price in the middle of it either.
        try (lines([80]) + Data(#"{"type":"status"}"#.utf8 + [10]) + lines([10])).write(to: URL(fileURLWithPath: path))
        let f = try SignalFileFollower(path: path, controller: c)
        defer { f.stop() }
        #expect(eventually { f.linesHandled == 3 })
        #expect(!load.isHalted)
        #expect(c.status.price == 10)
        #expect(c.status.reason.hasPrefix("replayed 3 lines of history; "), "\(c.status.reason)")
        // Replaced (write a temporary file, rename it over): its history is replayed too.
        try lines([90, 10, 80, 5]).write(to: URL(fileURLWithPath: dir + "/tmp"))
        #expect(rename(dir + "/tmp", path) == 0)
        #expect(eventually { f.linesHandled == 7 })
        #expect(!load.isHalted)
        #expect(load.state.withLock { $0.halts } == 0)
        // A line appended later is a fresh decision.
        let h = FileHandle(forWritingAtPath: path)!
        h.seekToEndOfFile()
        h.write(lines([80]))
        try h.close()
        #expect(eventually { load.isHalted })
        // The workers halt before the decision is logged (the control path never waits on the log):
        // the line is handled, and its entry queued, only once the follower counts it.
        #expect(eventually { f.linesHandled == 8 })
        log.close()
        let signals = readLines(dir + "/d.jsonl").filter { $0["event"] as? String == "signal" }
        #expect(signals.map { $0["replay"] as? Bool ?? false } == Array(repeating: true, count: 7) + [false])
    }
}
