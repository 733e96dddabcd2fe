import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// CPU time charged to a thread: the one way FlexMiner reads it (the control thread's budget, halt
/// traces, the kernels' calibration, the host-stall probe, the latency bench).
public enum ThreadCPUTime {
    /// The calling thread's CPU time so far.
    public static func current() -> Duration {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return .seconds(ts.tv_sec) + .nanoseconds(ts.tv_nsec)
    }

    /// The CPU time of thread `tid` of this process, or nil when there is no such thread. Under
    /// paravirtual steal accounting (KVM guests) time the hypervisor took the vCPU away is not counted;
    /// interrupt time is, unless the kernel has IRQ_TIME_ACCOUNTING.
    public static func of(thread tid: Int32) -> Duration? {
        // The thread's CPU-time clock, as pthread_getcpuclockid would give: (~tid << 3) | CPUCLOCK_SCHED
        // | CPUCLOCK_PERTHREAD_MASK (the kernel's encoding, stable ABI).
        var ts = timespec()
        guard tid > 0, clock_gettime(clockid_t((~tid) << 3 | 6), &ts) == 0 else { return nil }
        return .seconds(ts.tv_sec) + .nanoseconds(ts.tv_nsec)
    }
}
