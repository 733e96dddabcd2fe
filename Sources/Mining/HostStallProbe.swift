import CFlexThreads
import FlexSupport
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Measures how often this host takes a CPU away from a thread that wants it: the floor under any
/// curtailment latency, whatever the miner does.
///
/// One thread per usable CPU, pinned and at `SCHED_FIFO` 1 when permitted, does nothing but read the
/// monotonic clock. A gap between two reads longer than `threshold` is a stall, sorted by what the
/// scheduler of this OS saw meanwhile:
/// - `preempted`: its involuntary context switches went up: a thread of this OS with a higher priority
///   (a kernel thread, a CPU stopper, the real-time throttle) took the CPU for at least part of the gap;
/// - `stolen`: its CPU-time clock stood still and nothing preempted it: the hypervisor ran something
///   else on this vCPU and said so (steal time, which KVM guests subtract from thread CPU time);
/// - `hidden`: its CPU-time clock ran on as if it had been running: interrupts, or a hypervisor stall
///   that was not reported as steal.
///
/// In a curtailment, each of these delays the thread caught on that CPU (the signal thread or a worker
/// finishing its batch) by the length of the stall. `bench --signal-latency` takes its slow events
/// apart the same way.
///
/// It keeps every usable CPU busy for the whole run (with a 100 ms pause after every 700 ms, well under
/// the kernel's real-time throttle of 950 ms a second): run it on a host that is not mining.
package enum HostStallProbe {
    package struct CPUReport: Sendable, Equatable {
        package var cpu: Int
        /// Whether its thread ran at `SCHED_FIFO` (otherwise ordinary threads of this OS count too).
        package var realTime = false
        /// Whether its thread was pinned to `cpu` (otherwise it may have measured another CPU too).
        package var pinned = false
        /// Time it was measuring (the pauses excluded).
        package var measured: Duration = .zero
        package var stalls = 0
        package var stalled: Duration = .zero
        package var longest: Duration = .zero
        /// Stalls longer than 1 and 2 ms.
        package var over1ms = 0
        package var over2ms = 0
        package var preempted = 0
        package var stolen = 0
        package var hidden = 0

        package init(cpu: Int) { self.cpu = cpu }

        /// Stalls per second of measuring.
        package var perSecond: Double { measured > .zero ? Double(stalls) / measured.seconds : 0 }
    }

    /// Gaps at least this long are stalls (a few hundred times a clock read).
    package static let defaultThreshold = Duration.microseconds(500)

    /// What a gap says, from the probe thread's own CPU clock and involuntary switches over it.
    package enum Kind: Sendable, Equatable {
        case preempted, stolen, hidden
    }

    /// Names a stall of `gap` over which the thread's CPU clock advanced by `cpu` and its involuntary
    /// context switches went up by `switches`.
    package static func kind(gap: Duration, cpu: Duration, switches: Int) -> Kind {
        if switches > 0 { return .preempted }
        // Less than a quarter of the gap on the CPU clock: the time was not this thread's.
        return cpu * 4 < gap ? .stolen : .hidden
    }

    /// Runs the probe for `duration` (0.1 s to 10 min) and returns a report per CPU.
    /// - Parameters:
    ///   - cpus: the CPUs to probe (default: every CPU this process may use).
    ///   - realTime: raise the probe threads to `SCHED_FIFO` 1 when permitted (tests pass false, so as
    ///     not to take CPUs from other tests).
    package static func run(
        for duration: Duration, threshold: Duration = defaultThreshold, cpus: [Int]? = nil, realTime: Bool = true
    ) -> [CPUReport] {
        let cpus = cpus ?? CPUAffinity.allowedCPUs()
        let seconds = max(Duration.milliseconds(100), min(duration, .seconds(600)))
        let reports = cpus.map { Box(CPUReport(cpu: $0)) }
        var threads: [JoinableThread] = []
        for box in reports {
            // A thread that cannot start leaves its CPU's report at zero measured time.
            let body: @Sendable () -> Void = { spin(box, for: seconds, threshold: threshold, realTime: realTime) }
            if let t = try? JoinableThread(name: "flexminer-probe", body) { threads.append(t) }
        }
        for t in threads { t.join() }
        return reports.map(\.report)
    }

    private final class Box: @unchecked Sendable {
        // @unchecked: written only by its one probe thread, read after that thread is joined.
        var report: CPUReport
        init(_ r: CPUReport) { report = r }
    }

    private static func spin(_ box: Box, for duration: Duration, threshold: Duration, realTime: Bool) {
        box.report.pinned = fm_pin_current_thread(Int32(clamping: box.report.cpu)) == 0
        var saved = realTime ? ControlThread.raiseCurrentSaved() : nil
        defer {
            saved?.restore()
            saved = nil
        }
        box.report.realTime = ControlThread.currentPolicy == "fifo"
        let clock = ContinuousClock()
        let start = clock.now
        let end = start + duration
        var pauseAt = start + .milliseconds(700)
        var last = start
        var lastCPU = ThreadCPUTime.current()
        var lastSwitches = involuntarySwitches()
        var measured = Duration.zero
        var segmentStart = start
        while true {
            let now = clock.now
            let cpuNow = ThreadCPUTime.current()
            // Read every look, like the clocks: a switch belongs to the gap it happened in.
            let switches = involuntarySwitches()
            let gap = now - last
            if gap > threshold {
                var r = box.report
                r.stalls += 1
                r.stalled += gap
                r.longest = max(r.longest, gap)
                if gap > .milliseconds(1) { r.over1ms += 1 }
                if gap > .milliseconds(2) { r.over2ms += 1 }
                switch kind(gap: gap, cpu: cpuNow - lastCPU, switches: switches - lastSwitches) {
                case .preempted: r.preempted += 1
                case .stolen: r.stolen += 1
                case .hidden: r.hidden += 1
                }
                box.report = r
            }
            lastSwitches = switches
            if now >= end { break }
            if now >= pauseAt {
                // Well under the real-time throttle (95 % of each second by default), whose own stops would
                // be counted: give the CPU back a while.
                measured += now - segmentStart
                Thread.sleep(forTimeInterval: 0.1)
                segmentStart = clock.now
                pauseAt = segmentStart + .milliseconds(700)
                last = segmentStart
                lastCPU = ThreadCPUTime.current()
                lastSwitches = involuntarySwitches()
                continue
            }
            last = now
            lastCPU = cpuNow
        }
        measured += clock.now - segmentStart
        box.report.measured = measured
    }

    private static func involuntarySwitches() -> Int { fm_thread_involuntary_switches() }
}
