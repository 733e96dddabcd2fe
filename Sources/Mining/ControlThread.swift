import CFlexThreads
import FlexSupport
import Foundation

/// The priority of the threads on the control path (receive a signal → decide → halt).
///
/// Each signal source's event-loop thread runs at real-time priority (`SCHED_FIFO` 1) when the process
/// may (CAP_SYS_NICE, or RLIMIT_RTPRIO ≥ 1 such as systemd's `LimitRTPRIO=1`). At normal priority, on
/// a machine whose cores are busy with other processes, each wake-up of that thread for a `curtail`
/// waits for a time slice of theirs (milliseconds under CFS/EEVDF); at `SCHED_FIFO` it runs at once.
/// What it runs is bounded (64 KiB lines, `maxLinesPerSecond` per client, capped clients), one thread
/// per source keeps a flood on one source from delaying another, and `Budget` drops a flooded thread
/// to normal priority. The HTTP server (status, metrics, dashboard) is kept off these threads.
package enum ControlThread {
    /// Raises the calling thread to `SCHED_FIFO` 1 for good (a thread already real-time is left as it
    /// is). Returns 0, or the errno (EPERM without the permission; then nothing changed).
    package static func raiseCurrent() -> Int32 {
        var policy: Int32 = 0
        var priority: Int32 = 0
        return fm_self_boost(&policy, &priority)
    }

    /// A thread's policy before `raiseCurrentSaved`, to put back.
    package struct Saved: Sendable {
        let policy: Int32
        let priority: Int32
        /// Puts the calling thread (the one that was raised) back under its saved policy.
        package func restore() { fm_self_restore(policy, priority) }
    }

    /// Raises the calling thread to `SCHED_FIFO` 1 for a while; nil when not permitted (nothing changed).
    package static func raiseCurrentSaved() -> Saved? {
        var policy: Int32 = 0
        var priority: Int32 = 0
        return fm_self_boost(&policy, &priority) == 0 ? Saved(policy: policy, priority: priority) : nil
    }

    /// The calling thread's kernel thread id (what /proc/PID/task lists).
    package static var currentThreadID: Int32 { fm_gettid() }

    /// The calling thread's scheduling policy as `chrt` names it: "fifo", "rr", "other", "batch",
    /// "idle".
    package static var currentPolicy: String {
        switch sched_getscheduler(0) & ~0x4000_0000 {  // without SCHED_RESET_ON_FORK
        case SCHED_FIFO: "fifo"
        case SCHED_RR: "rr"
        case 3: "batch"  // SCHED_BATCH and SCHED_IDLE are not imported into Swift
        case 5: "idle"
        default: "other"
        }
    }
}

extension ControlThread {
    /// Keeps the real-time signal thread from being turned against its host. Each client's lines are
    /// rate-limited, but many clients (or reconnects) together could keep a `SCHED_FIFO` thread busy up
    /// to the kernel's real-time throttle. So the thread measures its own CPU time: above `maxShare` of
    /// a window it drops to normal priority (still serving every line, curtailments included, like any
    /// other thread), and it is raised again once a window stays under `resumeShare`.
    ///
    /// Call `check()` on the control thread only, every window (e.g. 100 ms from its event loop).
    package final class Budget: @unchecked Sendable {
        // @unchecked: every stored property is read and written only on the one thread that calls
        // `check()` (the control event loop's), never concurrently.
        package enum Change: Sendable, Equatable {
            /// Over budget: now at normal priority; the share of a CPU it used.
            case lowered(share: Double)
            case raised
        }

        let maxShare: Double
        let resumeShare: Double
        var lastCPU: Duration?
        var lastWall: ContinuousClock.Instant?
        var lowered = false

        package init(maxShare: Double = 0.5, resumeShare: Double = 0.1) {
            self.maxShare = maxShare
            self.resumeShare = resumeShare
        }

        /// Compares the thread's CPU time with the wall time since the last call; changes its policy when
        /// it crossed a threshold, and says so.
        package func check() -> Change? {
            let cpu = ThreadCPUTime.current()
            let now = ContinuousClock.now
            defer { (lastCPU, lastWall) = (cpu, now) }
            guard let c0 = lastCPU, let w0 = lastWall, now > w0 else { return nil }
            let share = (cpu - c0) / (now - w0)
            return decide(share: share)
        }

        /// The policy change for a window in which the thread used `share` of a CPU (separate from the
        /// clocks so that tests can feed it).
        package func decide(share: Double) -> Change? {
            if !lowered && share > maxShare {
                // Only a thread that is real-time is lowered (and later raised back).
                guard currentPolicy == "fifo" else { return nil }
                fm_self_restore(0, 0)  // SCHED_OTHER
                lowered = true
                return .lowered(share: share)
            }
            if lowered && share < resumeShare {
                guard raiseCurrent() == 0 else { return nil }
                lowered = false
                return .raised
            }
            return nil
        }
    }
}
