import CFlexThreads
import Foundation

/// The priority of the threads on the control path (receive a signal → decide → halt).
///
/// The signal sources' event-loop thread runs at real-time priority (`SCHED_FIFO` 1) when the process
/// may (CAP_SYS_NICE, or RLIMIT_RTPRIO ≥ 1 such as systemd's `LimitRTPRIO=1`). At normal priority, on
/// a machine whose cores are busy with other processes, each wake-up of that thread for a `curtail`
/// waits for a time slice of theirs (milliseconds under CFS/EEVDF); at `SCHED_FIFO` it runs at once.
/// What it runs is bounded: lines of at most 64 KiB, at most `maxLinesPerSecond` per client and a
/// capped number of clients per source, so a flooding client can take at most this one thread, and
/// the kernel's real-time throttling (`sched_rt_runtime_us`) still leaves the CPU to others. The HTTP
/// server (status, metrics, dashboard) is kept off this thread.
public enum ControlThread {
    /// Raises the calling thread to `SCHED_FIFO` 1 for good (a thread already real-time is left as it
    /// is). Returns 0, or the errno (EPERM without the permission; then nothing changed).
    public static func raiseCurrent() -> Int32 {
        var policy: Int32 = 0
        var priority: Int32 = 0
        return fm_self_boost(&policy, &priority)
    }

    /// A thread's policy before `raiseCurrentSaved`, to put back.
    public struct Saved: Sendable {
        let policy: Int32
        let priority: Int32
        /// Puts the calling thread (the one that was raised) back under its saved policy.
        public func restore() { fm_self_restore(policy, priority) }
    }

    /// Raises the calling thread to `SCHED_FIFO` 1 for a while; nil when not permitted (nothing changed).
    public static func raiseCurrentSaved() -> Saved? {
        var policy: Int32 = 0
        var priority: Int32 = 0
        return fm_self_boost(&policy, &priority) == 0 ? Saved(policy: policy, priority: priority) : nil
    }

    /// The calling thread's scheduling policy as `chrt` names it: "fifo", "rr", "other", "batch",
    /// "idle".
    public static var currentPolicy: String {
        switch sched_getscheduler(0) & ~0x4000_0000 {  // without SCHED_RESET_ON_FORK
        case SCHED_FIFO: "fifo"
        case SCHED_RR: "rr"
        case 3: "batch"  // SCHED_BATCH and SCHED_IDLE are not imported into Swift
        case 5: "idle"
        default: "other"
        }
    }
}
