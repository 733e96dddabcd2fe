import Foundation
import PowerSources
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A source that answers what it is told, after an optional delay, or once a gate opens.
final class ScriptedSource: PowerSource {
    let kind = "sunspec"
    let modelled = false
    let next = Mutex<Result<PowerReading, PowerError>>(.success(PowerReading(watts: 100, energyJoules: 1)))
    let delay = Mutex<Double>(0)
    let closed = Atomic<Bool>(false)
    /// Set: `sample` waits for it (a meter that does not answer until the test says so).
    let gate = Mutex<DispatchSemaphore?>(nil)
    let entered = Atomic<Int>(0)
    let began = Atomic<Int>(0)
    /// Set when a sample came before `begin(at:)`.
    let sampledBeforeBegin = Atomic<Bool>(false)
    func begin(at now: Double) { began.add(1, ordering: .relaxed) }
    func sample(at now: Double) -> Result<PowerReading, PowerError> {
        entered.add(1, ordering: .relaxed)
        if began.load(ordering: .relaxed) == 0 { sampledBeforeBegin.store(true, ordering: .relaxed) }
        if let g = gate.withLock({ $0 }) { g.wait() }
        let d = delay.withLock { $0 }
        if d > 0 { usleep(UInt32(d * 1e6)) }
        return next.withLock { $0 }
    }
    func close() { closed.store(true, ordering: .relaxed) }
}

@Suite struct PowerSamplerTests {
    @Test func theLastGoodValueIsNeverCurrentOnceStale() {
        let source = ScriptedSource()
        let sampler = PowerSampler(source: source, interval: 1, stale: 5)
        #expect(sampler.current().stale && sampler.current().watts == nil)
        let t = sampler.sampleOnce().monotonic
        #expect(sampler.current(now: t + 1).watts == 100)
        source.next.withLock { $0 = .failure(PowerError("timeout", "no answer within 1 s")) }
        sampler.sampleOnce()
        // Within `stale` the last good value stands, with the error beside it …
        let fresh = sampler.current(now: t + 4.9)
        #expect(fresh.watts == 100 && !fresh.stale && fresh.error?.reason == "timeout")
        // … and after it, no watts: stale.
        let old = sampler.current(now: t + 5.1)
        #expect(old.watts == nil && old.stale && old.energyJoules == 1)
        #expect(old.errors == ["timeout": 1] && old.samples == 2)
    }

    @Test func aSourceThatDoesNotAnswerNeverHoldsUpAReader() throws {
        let source = ScriptedSource()
        let gate = DispatchSemaphore(value: 0)
        source.gate.withLock { $0 = gate }
        let samples = Mutex(0)
        let sampler = PowerSampler(source: source, interval: 0.25, stale: 1) { _ in samples.withLock { $0 += 1 } }
        try sampler.start()
        #expect(eventually(within: 5) { source.entered.load(ordering: .relaxed) == 1 })
        // The thread is inside a sample that will not end until the gate opens: a reader still gets its
        // answer (were it to wait for the source, this test would never end).
        let r = sampler.current()
        #expect(r.samples == 0 && r.stale && r.watts == nil)
        source.gate.withLock { $0 = nil }
        gate.signal()
        #expect(eventually(within: 5) { sampler.current().watts == 100 })
        #expect(PowerSampler(source: ScriptedSource(), interval: 1, stale: 1).join(timeout: .zero))  // never started
        sampler.stop()
        // The thread ends (the join's bound is far beyond what it needs) and has closed the source.
        #expect(sampler.join(timeout: .seconds(5)))
        let closed = source.closed.load(ordering: .relaxed)
        #expect(closed)
        #expect(samples.withLock { $0 } >= 1)
        // The sampler's thread began the source once, before its first sample.
        #expect(source.began.load(ordering: .relaxed) == 1 && !source.sampledBeforeBegin.load(ordering: .relaxed))
    }

    @Test func anIntervalThatWouldSpinIsHeldToAFloor() {
        for bad in [0, -1, -.infinity, .nan, 1e-300, .infinity] as [Double] {
            let i = PowerSampler(source: ScriptedSource(), interval: bad, stale: 5).interval
            #expect(i.isFinite && i >= 0.001, "\(bad) → \(i)")
        }
        #expect(PowerSampler(source: ScriptedSource(), interval: 2, stale: 5).interval == 2)
    }

    @Test func specsParseAndBadOnesNameTheFlag() throws {
        #expect(try PowerSourceSpec("rapl") == .rapl)
        #expect(try PowerSourceSpec("model") == .model)
        #expect(try PowerSourceSpec("sunspec:10.0.0.5:502") == .sunspec(host: "10.0.0.5", port: 502, unit: 1))
        #expect(try PowerSourceSpec("sunspec:meter.local:1502/3") == .sunspec(host: "meter.local", port: 1502, unit: 3))
        #expect(try PowerSourceSpec("sunspec:[::1]:502/7").description == "sunspec:[::1]:502/7")
        for bad in ["", "watts", "sunspec:", "sunspec:h:0", "sunspec:h:502/256", "sunspec:h:502/x", "sunspec:h"] {
            #expect(throws: PowerError.self, "\(bad)") { try PowerSourceSpec(bad) }
            do { _ = try PowerSourceSpec(bad) } catch { #expect(error.message.contains("--power")) }
        }
    }
}

@Suite struct ModelPowerTests {
    @Test func idlePlusPerWorkerCalibratedAtFullCapacity() throws {
        let active = Mutex(4.0)
        // 300 W idle, 1500 W with all 4 workers: 300 W per worker.
        let m = try ModelPower(fullWatts: 1500, idleWatts: 300, threads: 4) { active.withLock { $0 } }
        #expect(m.perWorkerWatts == 300)
        #expect(try m.sample(at: 10).get() == PowerReading(watts: 1500, energyJoules: 0))
        active.withLock { $0 = 1 }
        // The 10 s at 1500 W before this sample, then 600 W from here.
        #expect(try m.sample(at: 20).get() == PowerReading(watts: 600, energyJoules: 15_000))
        active.withLock { $0 = 0 }
        #expect(try m.sample(at: 30).get() == PowerReading(watts: 300, energyJoules: 21_000))
        #expect(m.watts(active: 99) == 1500 && m.watts(active: -1) == 300 && m.watts(active: .nan) == 300)
        #expect(m.modelled && m.kind == "model")
    }

    @Test func badCalibrationNamesTheFlag() {
        for (full, idle) in [(0.0, 0.0), (100, 100), (100, -1), (.nan, 0), (100, .infinity)] {
            do {
                _ = try ModelPower(fullWatts: full, idleWatts: idle, threads: 2) { 0 }
                Issue.record("accepted \(full), \(idle)")
            } catch {
                #expect(error.message.contains("--power-watts") || error.message.contains("--idle-watts"))
            }
        }
    }
}

@Suite struct TelemetryLogTests {
    @Test func linesFollowTheContractAndTheFileIsPrivate() throws {
        let path = scratchDirectory() + "/t.jsonl"
        let log = try TelemetryLog(path: path, maxBytes: 1 << 20)
        let good = PowerSampler.Sample(
            source: "sunspec", modelled: false, time: Date(timeIntervalSince1970: 1_796_576_400.1235),
            monotonic: 12345.6784, result: .success(PowerReading(watts: 412.5, energyJoules: 1_234_567)))
        let bad = PowerSampler.Sample(
            source: "rapl", modelled: false, time: Date(timeIntervalSince1970: 1_796_576_401),
            monotonic: 12346.5, result: .failure(PowerError("unreadable", "x")))
        log.write(TelemetryLog.line(good, host: "miner-07", capacity: 1, state: "mining", curtailments: []))
        log.write(TelemetryLog.line(bad, host: "miner-07", capacity: 0, state: "curtailed", curtailments: ["ev-1"]))
        log.close()
        let lines = readLines(path)
        #expect(lines.count == 2)
        let a = lines[0]
        #expect(a["time"] as? String == "2026-12-06T17:00:00.123Z")
        #expect(a["mono_s"] as? Double == 12345.678)
        #expect(a["host"] as? String == "miner-07" && a["source"] as? String == "sunspec")
        #expect(a["modelled"] as? Bool == false && a["watts"] as? Double == 412.5)
        #expect(a["energy_j"] as? Double == 1_234_567 && a["capacity"] as? Double == 1)
        #expect(a["state"] as? String == "mining" && (a["curtailments"] as? [String]) == [])
        #expect(a["error"] == nil)
        let b = lines[1]
        #expect(b["watts"] is NSNull && b["energy_j"] is NSNull && b["error"] as? String == "unreadable")
        #expect((b["curtailments"] as? [String]) == ["ev-1"] && b["state"] as? String == "curtailed")
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test func rotationKeepsOneOldFileAndBoundsTheSize() throws {
        let path = scratchDirectory() + "/t.jsonl"
        let log = try TelemetryLog(path: path, maxBytes: 1000)
        for i in 0..<100 { log.write(["i": i, "pad": String(repeating: "x", count: 40)]) }
        log.close()
        let fm = FileManager.default
        let size = try fm.attributesOfItem(atPath: path)[.size] as! Int
        let oldSize = try fm.attributesOfItem(atPath: path + ".1")[.size] as! Int
        #expect(size <= 1000 && oldSize <= 1000 && size > 0 && oldSize > 0)
        #expect(!fm.fileExists(atPath: path + ".2"))
        // The newest lines are in PATH, the ones just before in PATH.1, with none lost between them.
        let now = readLines(path).compactMap { $0["i"] as? Int }
        let before = readLines(path + ".1").compactMap { $0["i"] as? Int }
        #expect(now.last == 99)
        #expect(before.last.map { $0 + 1 } == now.first)
        let mode = try fm.attributesOfItem(atPath: path + ".1")[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    /// PATH.1 is a directory with a file in it: the rotation cannot happen. The lines that would take PATH
    /// past its bound are lost and counted, and reported once; PATH never grows past it.
    @Test func aRotationThatFailsStopsTheFileGrowing() throws {
        let path = scratchDirectory() + "/t.jsonl"
        try FileManager.default.createDirectory(atPath: path + ".1", withIntermediateDirectories: true)
        try "keep\n".write(toFile: path + ".1/x", atomically: true, encoding: .utf8)
        let reports = Mutex<[String]>([])
        let log = try TelemetryLog(path: path, maxBytes: 1000) { m in reports.withLock { $0.append(m) } }
        for i in 0..<100 { log.write(["i": i, "pad": String(repeating: "x", count: 40)]) }
        log.close()
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
        let lines = readLines(path)
        #expect(size <= 1000 && !lines.isEmpty)
        #expect(lines.allSatisfy { $0["i"] is Int })
        #expect(lines.count + log.errors == 100, "\(lines.count) written, \(log.errors) errors")
        #expect(log.errors > 0)
        #expect(reports.withLock { $0.count } == 1 && reports.withLock { $0.first?.contains(".1") ?? false })
    }

    /// A disk that does not keep up (here a pipe nobody reads): lines beyond the queue are dropped and
    /// counted, the writer never makes `write` wait, and what was queued arrives once the reader reads.
    @Test func aDiskThatDoesNotKeepUpDropsLinesAndCountsThem() throws {
        let path = scratchDirectory() + "/t.fifo"
        #expect(mkfifo(path, 0o600) == 0)
        let reader = open(path, O_RDONLY | O_NONBLOCK)
        #expect(reader >= 0)
        defer { close(reader) }
        let log = try TelemetryLog(path: path, maxBytes: 1 << 30, queueLimit: 8)
        // A pipe holds 64 KiB: 2000 lines of about 100 bytes fill it, then the writer blocks and the queue fills.
        // (Were `write` to wait for the disk, this loop would never end.)
        for i in 0..<2000 { log.write(["i": i, "pad": String(repeating: "x", count: 80)]) }
        #expect(eventually(within: 5) { log.dropped > 0 })
        // Read it all: the writer is unblocked and the queue drains; every line that arrives is whole.
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        let deadline = Monotonic.seconds() + 5
        func drain() -> Int {
            let n = chunk.withUnsafeMutableBytes { read(reader, $0.baseAddress, $0.count) }
            if n > 0 { received += chunk[..<n] }
            return n
        }
        while Monotonic.seconds() < deadline && !log.flush(timeout: .milliseconds(1)) { _ = drain() }
        // Written now, all of it: what is in the pipe is the rest.
        while drain() > 0 {}
        let lines = String(decoding: received, as: UTF8.self).split(separator: "\n")
        #expect(lines.allSatisfy { decode(String($0))["i"] is Int })
        #expect(lines.count + log.dropped == 2000, "\(lines.count) written, \(log.dropped) dropped")
        #expect(log.errors == 0)
        log.close()
    }
}
