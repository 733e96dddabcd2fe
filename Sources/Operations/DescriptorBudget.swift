import Foundation
import LoadController

#if canImport(Glibc)
    import Glibc
#endif

/// Shares the process's file descriptors among the sources that accept connections, so that clients of
/// one (idle TCP clients up to the descriptor limit) can never leave another (the Unix socket a grid
/// operator's curtail arrives on) unable to accept: the limit is process-wide, a per-source cap alone
/// does not protect a low one.
package enum DescriptorBudget {
    /// Descriptors kept for everything but client connections: stdio, the event loops, listening
    /// sockets, the decision log and state file, followed files (inotify, wake-up pipe), the node's HTTP
    /// connections, block files. `run` uses about 20.
    package static let reserve = 48

    /// Raises the soft `RLIMIT_NOFILE` to the hard limit (at most 65,536; the default soft limit is
    /// often 1,024) and returns the soft limit in force.
    @discardableResult
    package static func raiseLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        let wanted = min(limit.rlim_max, 65_536)
        if limit.rlim_cur < wanted {
            var raised = limit
            raised.rlim_cur = wanted
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return Int(clamping: limit.rlim_cur)
    }

    /// Connections each of `sources` listening sources may hold with `limit` descriptors: an equal share
    /// of what the reserve leaves, at most `SignalSocketServer.Limits.standard.maxConnections`, at least 1.
    package static func perSource(limit: Int, sources: Int) -> Int {
        let share = (limit - reserve) / max(1, sources)
        return max(1, min(SignalSocketServer.Limits.standard.maxConnections, share))
    }
}
