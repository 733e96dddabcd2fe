import CFlexThreads

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Scheduling priority for hashing threads. Lower than normal so that the threads that receive
/// control signals win the CPU from busy workers.
package enum WorkerPriority: String, Sendable, CaseIterable {
    /// The process's own priority.
    case normal
    /// nice 19 for each worker thread.
    case low
    /// SCHED_IDLE: run only when nothing else wants the CPU (pooler's cpuminer does this).
    case idle

    /// Applies to the calling thread. Failures are ignored: priority is an optimization.
    func applyToCurrentThread() {
        #if os(Linux)
            switch self {
            case .normal: break
            // On Linux nice values and scheduling policies are per thread, and `0` names the calling thread.
            case .low: _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 19)
            case .idle:
                var param = sched_param(sched_priority: 0)
                let schedIdle: Int32 = 5  // SCHED_IDLE from <linux/sched.h>; Glibc does not export it to Swift
                _ = sched_setscheduler(0, schedIdle, &param)
            }
        #endif
    }
}

/// CPU affinity for worker threads (Linux). Pinning worker i to the i-th CPU this process may use
/// keeps a resumed worker from being woken onto a CPU that another worker already occupies, which
/// otherwise costs a scheduler time slice (milliseconds) before the load balancer moves it.
enum CPUAffinity {
    /// The CPUs this process may run on, in order.
    static func allowedCPUs() -> [Int] {
        var buffer = [Int32](repeating: 0, count: 4096)
        let n = Int(fm_allowed_cpus(&buffer, Int32(buffer.count)))
        return buffer.prefix(n).map(Int.init)
    }

    /// Pins the calling thread to `cpu`. Failures are ignored: affinity is an optimization.
    static func pinCurrentThread(to cpu: Int) {
        _ = fm_pin_current_thread(Int32(cpu))
    }
}
