import ArgumentParser
import CPUFeatures
import FlexSupport
import Foundation
import KernelBench
import LoadController
import Mining
import MiningKernels
import OpenSSLSHA256

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure SHA-256d hash rates of FlexMiner's kernels against OpenSSL.",
        discussion: """
            Each thread runs a real nonce search (midstate per job, early reject, candidates re-checked). \
            With --runs R each subject is measured R times in turn and the median is reported.
            """
    )

    @Option(
        help: ArgumentHelp(
            "Kernel to measure: auto, all, one of \(KernelName.allCases.map(\.rawValue).joined(separator: ", ")), or several names separated by commas.",
            discussion:
                "With several kernels and --runs R, rounds are interleaved and the table's last column is each kernel's median rate per CPU-second relative to the first kernel named."
        ))
    var kernel: KernelSelection = KernelSelection(argument: "all")!

    @Option(help: "Worker threads per measurement.")
    var threads: Int = 1

    @Option(help: "Seconds per measurement.")
    var seconds: Double = 2

    @Option(help: "Measurements per subject; the median is reported.")
    var runs: Int = 1

    @Flag(help: "Skip the OpenSSL baselines.")
    var noBaseline = false

    @Flag(help: "Also measure each kernel through the mining engine (batches, control checks, shared nonces).")
    var engine = false

    @Option(help: "Instead of hash rates, measure N halt/resume cycles of the engine under full load.")
    var halts: Int?

    @Option(
        help: ArgumentHelp(
            "Instead of hash rates, measure N curtail/release events sent over a Unix socket to a live controller.",
            discussion: "Latency is from the socket write until /proc shows every worker blocked (or runnable again)."))
    var signalLatency: Int?

    @Option(
        help: ArgumentHelp(
            "Instead of hash rates, measure for N seconds how often this host takes a CPU away (the floor under curtailment latency).",
            discussion:
                "One real-time thread per CPU reads the clock; gaps over 0.5 ms are counted and sorted by what the OS saw. Keeps every CPU busy: run it while not mining."
        ))
    var hostStalls: Double?

    @Option(
        help:
            "Worker scheduling priority for --halts and --signal-latency: idle (SCHED_IDLE, default), low (nice 19) or normal."
    )
    var priority: WorkerPriority = .idle

    @Flag(
        help: ArgumentHelp(
            "Measure the kernels again for `auto` and rewrite the cached choice.",
            discussion:
                "Hash-rate runs always recalibrate; --halts and --signal-latency use the cache unless given this."
        ))
    var recalibrate = false

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    func validate() throws {
        if let problem = ThreadCount.problem(threads) { throw ValidationError(problem) }
        guard seconds.isFinite && seconds > 0 && seconds <= 3600 else {
            throw ValidationError("--seconds must be a number in (0, 3600], got \(seconds)")
        }
        guard runs >= 1 && runs <= 100 else { throw ValidationError("--runs must be 1...100, got \(runs)") }
        if let s = hostStalls, !(s.isFinite && s >= 0.1 && s <= 600) {
            throw ValidationError("--host-stalls must be seconds in [0.1, 600], got \(s)")
        }
        if let e = signalLatency, e < 1 || e > 1_000_000 {
            throw ValidationError("--signal-latency must be 1...1000000, got \(e)")
        }
        if let h = halts, h < 1 || h > 1_000_000 { throw ValidationError("--halts must be 1...1000000, got \(h)") }
    }

    func run() throws {
        if let cycles = halts { return try runHalts(cycles) }
        if let events = signalLatency { return try runSignalLatency(events) }
        if let s = hostStalls { return runHostStalls(s) }
        // A benchmark is the moment to measure again: the cached choice is refreshed with this run's CPU.
        let choice = KernelDispatch.auto(recalibrate: true)
        let kernels = try kernel.kernels(includeVariants: true)
        var subjects: [BenchSubject] = kernels.map { .kernel($0) }
        if engine { subjects += kernels.map { .engine($0) } }
        if !noBaseline { subjects = OpenSSLSHA256.HeaderHasher.Mode.allCases.map { .openssl($0) } + subjects }
        let features = CPUFeatures.current
        if !json {
            print("CPU: \(features.brand.isEmpty ? "unknown" : features.brand)")
            print("features: \(features)")
            print(choice)
            print("baseline: \(OpenSSLSHA256.version)")
            print("threads: \(threads), \(seconds) s per run, \(runs) run(s), median shown\n")
        }
        // Interleave runs across subjects so slow drift of the shared machine affects all alike.
        var samples = [[BenchResult]](repeating: [], count: subjects.count)
        for _ in 0..<runs {
            for (i, s) in subjects.enumerated() {
                samples[i].append(try KernelBench.measure(s, threads: threads, seconds: seconds))
            }
        }
        let medians = samples.map { $0.sorted { $0.hashesPerSecond < $1.hashesPerSecond }[$0.count / 2] }
        let baseline = medians.first { if case .openssl(.oneShot) = $0.subject { true } else { false } }
        if json {
            print(
                try BenchReport.json(medians, samples: samples, baseline: baseline, features: features, choice: choice))
        } else {
            print(
                BenchReport.table(
                    medians, baseline: baseline, perCPUSecond: samples.map { BenchReport.medianPerCPUSecond($0) }),
                terminator: "")
        }
    }

    func runHalts(_ cycles: Int) throws {
        let choice = KernelDispatch.auto(recalibrate: recalibrate)
        let k = try kernel.kernels(includeVariants: false)
        let chosen = k.count == 1 ? k[0] : choice.kernel
        let (h, r, boosts) = try KernelBench.controlLatencies(
            kernel: chosen, threads: threads, cycles: cycles, priority: priority)
        if json {
            printJSON([
                "kernel": chosen.description, "threads": threads, "priority": priority.rawValue, "halt": h.json,
                "resume": r.json, "boosted_workers": boosts,
            ])
        } else {
            print(
                "engine \(chosen) on \(threads) thread(s), workers \(priority.rawValue), \(cycles) cycles under full load"
            )
            print("halt   (until every worker is out of the kernel and blocked): \(h)")
            print("resume (until every worker hashes again):                     \(r)")
            print("worker boosts (SCHED_FIFO until parked; 0: not permitted):            \(boosts)")
        }
    }

    /// The slow curtailments taken apart: which step took the time and what its thread was doing.
    func printSlow(_ samples: SignalLatencyBench.Samples) {
        let stolen = samples.stolen.map { String(format: "%.0f ms", $0.milliseconds) } ?? "not reported"
        print(
            String(
                format: "steal reported by the hypervisor over the run (10 ms resolution): %@ in %.1f s", stolen,
                samples.wall.seconds))
        guard samples.slowCount > 0 else {
            print("curtailments over 1 ms from outside: none")
            return
        }
        print("curtailments over 1 ms from outside: \(samples.slowCount), by longest step and what its thread did:")
        var tally: [String: Int] = [:]
        for e in samples.slow { tally[e.kind, default: 0] += 1 }
        for (kind, n) in tally.sorted(by: { ($0.value, $1.key) > ($1.value, $0.key) }) { print("  \(n)  \(kind)") }
        print("the slowest (step times in ms; the accounting is the longest step's thread over the event):")
        for e in samples.slow.sorted(by: { $0.total > $1.total }).prefix(10) { print("  " + e.summary) }
    }

    func runHostStalls(_ seconds: Double) {
        let reports = HostStallProbe.run(for: .milliseconds(Int64(seconds * 1000)))
        if json {
            printJSON([
                "threshold_ms": HostStallProbe.defaultThreshold.milliseconds,
                "cpus": reports.map { r -> [String: Any] in
                    [
                        "cpu": r.cpu, "real_time": r.realTime, "pinned": r.pinned,
                        "seconds": r.measured.seconds,
                        "stalls": r.stalls, "per_second": r.perSecond, "stalled_ms": r.stalled.milliseconds,
                        "longest_ms": r.longest.milliseconds, "over_1ms": r.over1ms, "over_2ms": r.over2ms,
                        "preempted": r.preempted, "stolen": r.stolen, "hidden": r.hidden,
                    ]
                },
            ])
            return
        }
        print("stalls over 0.5 ms of a thread that only reads the clock, one per CPU (real-time when permitted):")
        for r in reports {
            print(
                String(
                    format:
                        "cpu %d (%@%@): %d in %.1f s (%.2f/s), %.1f ms in all, longest %.2f ms, over 1 ms %d, over 2 ms %d; preempted in this OS %d, steal %d, hidden %d",
                    r.cpu, r.realTime ? "fifo" : "other", r.pinned ? "" : ", not pinned", r.stalls,
                    r.measured.seconds, r.perSecond,
                    r.stalled.milliseconds, r.longest.milliseconds, r.over1ms, r.over2ms, r.preempted, r.stolen,
                    r.hidden))
        }
        print(
            "hidden: the thread's CPU clock ran on although it did nothing: interrupts, or a hypervisor stall not reported as steal."
        )
    }

    func runSignalLatency(_ events: Int) throws {
        let choice = KernelDispatch.auto(recalibrate: recalibrate)
        let k = try kernel.kernels(includeVariants: false)
        let chosen = k.count == 1 ? k[0] : choice.kernel
        let engine = try MiningEngine(kernel: chosen, threads: threads, priority: priority)
        defer { engine.stop() }
        let job = MiningJob.unsolvable(seed: 5)
        engine.setJob(job)
        let path = NSTemporaryDirectory() + "/flexminer-bench-\(getpid()).sock"
        let samples: SignalLatencyBench.Samples
        do { samples = try SignalLatencyBench.run(engine: engine, events: events, socketPath: path) } catch {
            throw ValidationError(error.message)
        }
        let h = LatencySummary(samples.halts)
        let r = LatencySummary(samples.resumes)
        let inside = LatencySummary(samples.receiptToHalted)
        if json {
            printJSON([
                "kernel": chosen.description, "threads": threads, "priority": priority.rawValue,
                "halt": h.json, "resume": r.json, "receipt_to_halted": inside.json,
                "engine_resume": LatencySummary(samples.resumeInside).json, "timeouts": samples.timeouts,
                "control_thread": samples.controlThread, "observer": samples.observer,
                "slow": [
                    "threshold_ms": 1.0, "count": samples.slowCount, "events": samples.slow.map(\.json),
                ] as [String: Any],
                "stolen_ms": samples.stolen.map { $0.milliseconds } as Any,
                "wall_s": samples.wall.seconds,
            ])
        } else {
            print(
                "controller + Unix socket, engine \(chosen) on \(threads) thread(s), workers \(priority.rawValue), control thread \(samples.controlThread), observer \(samples.observer), \(events) events"
            )
            print("curtail written -> every worker blocked (/proc):   \(h)")
            print("release written -> every worker runnable (/proc):  \(r)")
            print("controller's receipt -> all halted (its replies):  \(inside)")
            print("engine resume -> wanted workers unparked (replies):\(LatencySummary(samples.resumeInside))")
            if samples.timeouts > 0 { print("events not observed within 1 s: \(samples.timeouts)") }
            printSlow(samples)
        }
    }
}
