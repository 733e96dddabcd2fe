import CPUFeatures
import DemandResponse
import FlexSupport
import Foundation
import KernelBench
import Mining
import MiningKernels
import OpenSSLSHA256
import SHA256
import Simulation
import WorkSources

/// `flexminer demo`: the whole product in under a minute, with no node and no network — self-test,
/// benchmark next to OpenSSL, a block mined from a regtest template, a curtailment drill over a Unix
/// socket, and a simulated day of real ERCOT prices. The template and the prices are embedded in the
/// binary, so a `flexminer` copied anywhere runs it; `fixtures` overrides them with a directory laid
/// out like `Tests/Fixtures`.
package struct Demo: Sendable {
    package var out: String
    package var fixtures: String?
    package var threads: Int
    package var drillEvents: Int

    package init(out: String, fixtures: String?, threads: Int, drillEvents: Int) {
        self.out = out
        self.fixtures = fixtures
        self.threads = threads
        self.drillEvents = drillEvents
    }

    /// Why the demo could not run, or which steps failed.
    package struct Failure: Error, CustomStringConvertible {
        package let message: String
        package var description: String { message }
    }

    /// The regtest template (Bitcoin Core getblocktemplate) and the day of prices, embedded or from
    /// `fixtures`.
    func input(_ relative: String, embedded: [UInt8]) throws(Failure) -> Data {
        guard let dir = fixtures else { return Data(embedded) }
        let path = dir + "/" + relative
        do { return try InputFile.data(path, limit: InputFile.largeLimit) } catch {
            throw Failure(message: "--fixtures: \(error.message)")
        }
    }

    /// Runs every step, printing as it goes.
    /// - Throws: `Failure` when a step could not run or did not pass.
    package func run() throws(Failure) {
        do { try steps() } catch let f as Failure { throw f } catch { throw Failure(message: "\(error)") }
    }

    func steps() throws {
        let started = ContinuousClock.now
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        var failures: [String] = []
        func elapsed() -> String { String(format: "%.1f s", (ContinuousClock.now - started).seconds) }
        selfTest(&failures)
        let (base, one, all) = try benchmark()
        try mineBlock(&failures)
        let (h, r) = try curtailmentDrill(&failures)
        try simulateDay(&failures)

        print("\n== summary (\(elapsed()))")
        print(
            String(
                format:
                    "hash rate %.2f MH/s on %d threads (%.1f× OpenSSL per thread); curtail→halted p99 %.2f ms; resume p99 %.2f ms",
                all.hashesPerSecond / 1e6, threads, one.hashesPerSecond / max(base.hashesPerSecond, 1),
                h.p99.seconds * 1e3, r.p99.seconds * 1e3))
        if failures.isEmpty {
            print("demo passed")
        } else {
            print("demo FAILED: \(failures.joined(separator: ", "))")
            throw Failure(message: "demo FAILED: \(failures.joined(separator: ", "))")
        }
    }

    func step(_ title: String) { print("\n== \(title)") }

    /// 1. Every kernel this CPU can run, against the reference and OpenSSL.
    func selfTest(_ failures: inout [String]) {
        step("1/5 self-test: every kernel this CPU can run, against the reference and OpenSSL")
        print("CPU: \(CPUFeatures.current.brand.isEmpty ? "unknown" : CPUFeatures.current.brand)")
        print("features: \(CPUFeatures.current)")
        let kernels = Kernel.available(includeVariants: false)
        let reports = SelfTest.run(kernels, count: 20_000, seed: 2024) { header in
            let d = OpenSSLSHA256.hashTwice(header)
            return UInt32(d[28]) | UInt32(d[29]) << 8 | UInt32(d[30]) << 16 | UInt32(d[31]) << 24
        }
        for (k, r) in zip(kernels, reports) {
            let ok = SelfTest.quick(k) && r.passed
            print("  \(k): \(ok ? "ok" : "FAILED") (\(r.noncesChecked) nonces)")
            if !ok { failures.append("self-test \(k)") }
        }
    }

    /// 2. The hash rate next to OpenSSL's.
    func benchmark() throws -> (base: BenchResult, one: BenchResult, all: BenchResult) {
        step("2/5 benchmark: hash rate next to OpenSSL (1 s each)")
        let best = Kernel.best
        let base = try KernelBench.measure(.openssl(.midstate), threads: 1, seconds: 1)
        let one = try KernelBench.measure(.kernel(best), threads: 1, seconds: 1)
        let all = try KernelBench.measure(.engine(best), threads: threads, seconds: 1)
        print(String(format: "  OpenSSL (midstate reuse), 1 thread: %8.2f MH/s", base.hashesPerSecond / 1e6))
        print(
            String(
                format: "  %@, 1 thread: %8.2f MH/s (%.1f× OpenSSL)", best.description,
                one.hashesPerSecond / 1e6,
                one.hashesPerSecond / max(base.hashesPerSecond, 1)))
        print(String(format: "  engine, %d threads:   %8.2f MH/s", threads, all.hashesPerSecond / 1e6))
        return (base, one, all)
    }

    /// 3. A block from the bundled regtest template, written and fsync'd.
    func mineBlock(_ failures: inout [String]) throws {
        step("3/5 mine a block from a bundled regtest template (Bitcoin Core getblocktemplate)")
        let work = try TemplateFileWork.prepare(
            json: input("regtest/segwit-mempool.gbt.json", embedded: PackageResources.segwit_mempool_gbt_json),
            name: "regtest template", payout: "bcrt1qft5p2uhsdcdc3l2ua4ap5qqfg4pjaqlp250x7us7a8qqhrxrxfsqseac85",
            network: "regtest", message: "FlexMiner demo")
        let source = TemplateFileWork(
            work: work, origin: "embedded regtest template", blocks: 1, out: out, afterLimit: .stop,
            logger: .init(label: "flexminer.demo"))
        let engine = try MiningEngine(threads: threads, source: source.jobSource)
        let mineStart = ContinuousClock.now
        let mined = firstBlock(source, engine)
        engine.stop()
        if let b = mined, case .written(let file) = b.outcome {
            print("  block \(b.height) \(b.hash) nonce \(b.nonce), \(b.bytes) bytes")
            print(
                String(
                    format: "  found in %.3f s, written (fsync'd) to %@", (ContinuousClock.now - mineStart).seconds,
                    file))
        } else {
            failures.append("mining")
            print("  FAILED: no block")
        }
    }

    /// 4. Curtail/release messages over a Unix socket with every CPU hashing, latencies read from /proc.
    func curtailmentDrill(_ failures: inout [String]) throws -> (halts: LatencySummary, resumes: LatencySummary) {
        step("4/5 curtailment drill: \(drillEvents) curtail/release messages over a Unix socket, all CPUs hashing")
        let drillEngine = try MiningEngine(threads: threads)
        drillEngine.setJob(MiningJob.unsolvable(seed: 42))
        let socket = NSTemporaryDirectory() + "/flexminer-demo-\(getpid()).sock"
        let samples: SignalLatencyBench.Samples
        do { samples = try SignalLatencyBench.run(engine: drillEngine, events: drillEvents, socketPath: socket) } catch
        {
            drillEngine.stop()
            throw Failure(message: error.message)
        }
        drillEngine.stop()
        let h = LatencySummary(samples.halts)
        let r = LatencySummary(samples.resumes)
        print("  curtail written -> every worker blocked (/proc):  \(h)")
        print("  release written -> every worker runnable (/proc): \(r)")
        if samples.timeouts > 0 || h.count != drillEvents {
            failures.append("drill")
            print("  FAILED: \(samples.timeouts) event(s) not observed within 1 s")
        }
        return (h, r)
    }

    /// 5. A day of real ERCOT prices with a grid event, through the simulator.
    func simulateDay(_ failures: inout [String]) throws {
        step("5/5 simulate a day of real ERCOT prices (HB_SOUTH, 2024-07-24) with a grid event")
        let prices = try input(
            "prices/ercot-hb-south-2024-07-24.csv", embedded: PackageResources.ercot_hb_south_2024_07_24_csv)
        let eventsPath = out + "/events.jsonl"
        try Data(
            (#"{"time":"2024-07-24T17:00:00","type":"curtail","level":1.0,"id":"EEA-drill","until":"2024-07-24T19:00:00","reason":"demo"}"#
                + "\n").utf8
        ).write(to: URL(fileURLWithPath: eventsPath))
        let series: PriceSeries
        let events: [CurtailmentEvent]
        do {
            series = try PriceSeries.parse(prices, path: "ERCOT HB_SOUTH 2024-07-24")
            events = try CurtailmentEvent.load(path: eventsPath)
        } catch {
            throw Failure(message: error.message)
        }
        var config = PolicyConfig(breakEvenUSDPerMWh: 25)
        config.hysteresisUSDPerMWh = 1
        config.minOnSeconds = 1800
        let site = SiteModel(powerWatts: 3250)
        let simStart = ContinuousClock.now
        let result = Simulator.run(series: series, events: events, config: config, site: site)
        let report = SimulationReport(
            series: series, config: config, site: site, result: result, inputs: ["events": eventsPath], mode: "model",
            elapsedSeconds: (ContinuousClock.now - simStart).seconds)
        try report.jsonData().write(to: URL(fileURLWithPath: out + "/simulation.json"))
        try SimulationChart.svg(report, title: "FlexMiner demo: ERCOT HB_SOUTH 2024-07-24, break-even 25 USD/MWh")
            .write(toFile: out + "/simulation.svg", atomically: true, encoding: .utf8)
        print(report.summary.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
        print("  report: \(out)/simulation.json   chart: \(out)/simulation.svg")
        if result.events.contains(where: { !$0.met }) { failures.append("simulation events") }
    }

    /// The first block the source writes (or nil after 60 s).
    func firstBlock(_ source: TemplateFileWork, _ engine: MiningEngine) -> SolvedBlock? {
        final class Box: @unchecked Sendable {
            // @unchecked: written by the task before the semaphore is signalled, read after.
            var value: SolvedBlock?
        }
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        let task = Task {
            try? await source.run(engine: engine) { box.value = $0 }
            done.signal()
        }
        if done.wait(timeout: .now() + 60) == .timedOut { task.cancel() }
        return box.value
    }
}
