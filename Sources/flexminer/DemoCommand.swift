import ArgumentParser
import CPUFeatures
import DemandResponse
import Foundation
import KernelBench
import LoadController
import Mining
import MiningKernels
import OpenSSLSHA256
import SHA256
import Simulation

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "The whole product in under a minute, with no node and no network.",
        discussion: """
            Runs the self-test, a short benchmark against OpenSSL, mines a block from a bundled regtest \
            template, performs a live curtailment drill over a Unix socket (halt on curtail, resume on release, \
            latencies checked in /proc), and simulates a bundled day of real ERCOT prices, writing its chart. \
            Files go to --out.
            """
    )

    @Option(help: "Directory with the bundled fixtures (default: Tests/Fixtures of this checkout).")
    var fixtures: String?

    @Option(help: "Directory for the demo's files (block, decision log, report, chart).")
    var out: String = "flexminer-demo"

    @Option(help: "Worker threads (default: one per CPU).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Curtail/release cycles in the drill.")
    var drillEvents: Int = 200

    func validate() throws {
        guard (1...1024).contains(threads) else { throw ValidationError("--threads must be 1...1024") }
        guard (1...100_000).contains(drillEvents) else { throw ValidationError("--drill-events must be 1...100000") }
    }

    func run() throws {
        let started = ContinuousClock.now
        let dir = try fixturesDirectory()
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        var failures: [String] = []
        func step(_ title: String) { print("\n== \(title)") }
        func elapsed() -> String { String(format: "%.1f s", (ContinuousClock.now - started).seconds) }

        // 1. Self-test.
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

        // 2. Benchmark.
        step("2/5 benchmark: hash rate next to OpenSSL (1 s each)")
        let base = KernelBench.measure(.openssl(.midstate), threads: 1, seconds: 1)
        let one = KernelBench.measure(.kernel(Kernel.best), threads: 1, seconds: 1)
        let all = KernelBench.measure(.engine(Kernel.best), threads: threads, seconds: 1)
        print(String(format: "  OpenSSL (midstate reuse), 1 thread: %8.2f MH/s", base.hashesPerSecond / 1e6))
        print(
            String(
                format: "  %@, 1 thread: %8.2f MH/s (%.1f× OpenSSL)", Kernel.best.description,
                one.hashesPerSecond / 1e6,
                one.hashesPerSecond / max(base.hashesPerSecond, 1)))
        print(String(format: "  engine, %d threads:   %8.2f MH/s", threads, all.hashesPerSecond / 1e6))

        // 3. Mine a regtest block.
        step("3/5 mine a block from a bundled regtest template (Bitcoin Core getblocktemplate)")
        let templatePath = dir + "/regtest/segwit-mempool.gbt.json"
        let work = try loadTemplateWork(
            templatePath, payout: "bcrt1qft5p2uhsdcdc3l2ua4ap5qqfg4pjaqlp250x7us7a8qqhrxrxfsqseac85",
            network: "regtest",
            message: "FlexMiner demo")
        let engine = try MiningEngine(threads: threads, source: work)
        engine.setJob(work.freshJob())
        let mineStart = ContinuousClock.now
        let solution = try awaitFirstBlock(engine)
        engine.stop()
        if let s = solution, let block = work.block(for: s) {
            let file = try BlockFiles.write(
                hex: Hex.encode(block), height: work.template.height, hash: s.hash.reversedHex, to: out)
            print("  block \(work.template.height) \(s.hash.reversedHex) nonce \(s.nonce), \(block.count) bytes")
            print(
                String(
                    format: "  found in %.3f s, written (fsync'd) to %@", (ContinuousClock.now - mineStart).seconds,
                    file))
        } else {
            failures.append("mining")
            print("  FAILED: no block")
        }

        // 4. Curtailment drill.
        step("4/5 curtailment drill: \(drillEvents) curtail/release messages over a Unix socket, all CPUs hashing")
        let drillEngine = try MiningEngine(threads: threads)
        drillEngine.setJob(MiningJob.unsolvable(seed: 42))
        let socket = NSTemporaryDirectory() + "/flexminer-demo-\(getpid()).sock"
        let samples: SignalLatencyBench.Samples
        do { samples = try SignalLatencyBench.run(engine: drillEngine, events: drillEvents, socketPath: socket) } catch
        {
            drillEngine.stop()
            throw ValidationError(error.message)
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

        // 5. Simulation.
        step("5/5 simulate a day of real ERCOT prices (HB_SOUTH, 2024-07-24) with a grid event")
        let pricesPath = dir + "/prices/ercot-hb-south-2024-07-24.csv"
        let eventsPath = out + "/events.jsonl"
        try Data(
            (#"{"time":"2024-07-24T17:00:00","type":"curtail","level":1.0,"id":"EEA-drill","until":"2024-07-24T19:00:00","reason":"demo"}"#
                + "\n").utf8
        ).write(to: URL(fileURLWithPath: eventsPath))
        let series: PriceSeries
        let events: [CurtailmentEvent]
        do {
            series = try PriceSeries.load(path: pricesPath)
            events = try CurtailmentEvent.load(path: eventsPath)
        } catch {
            throw ValidationError(error.message)
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
            throw ExitCode(1)
        }
    }

    /// Tests/Fixtures of this checkout: from --fixtures, the working directory, or next to the binary
    /// (.build/release/flexminer → ../../Tests/Fixtures).
    func fixturesDirectory() throws -> String {
        if let f = fixtures { return f }
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        let candidates = [
            "Tests/Fixtures",
            binary.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("Tests/Fixtures").path,
        ]
        for c in candidates where FileManager.default.fileExists(atPath: c + "/regtest/segwit-mempool.gbt.json") {
            return c
        }
        throw ValidationError(
            "bundled fixtures not found (looked in \(candidates.joined(separator: ", "))); run from the checkout or give --fixtures DIR"
        )
    }

    /// Blocks until the engine reports a block (or 60 s pass).
    func awaitFirstBlock(_ engine: MiningEngine) throws -> MiningSolution? {
        final class Box: @unchecked Sendable {
            // @unchecked: written by the task before the semaphore is signalled, read after.
            var value: MiningSolution?
        }
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        let task = Task {
            for await event in engine.events {
                if case .solution(let s) = event, s.isBlock, !s.isStale {
                    box.value = s
                    break
                }
            }
            done.signal()
        }
        if done.wait(timeout: .now() + 60) == .timedOut { task.cancel() }
        return box.value
    }
}
