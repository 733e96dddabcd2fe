import Synchronization

/// What a run has opened, each with the one way to close it, closed in reverse order when the run ends,
/// however it ends: a step that throws after the decision log, the state file, the power samplers or the
/// event loops were opened leaves none of them open.
///
/// Each closer runs at most once: the service that closes its resource at the graceful shutdown calls the
/// same closer that `closeAll()` would, so a resource is closed by whichever comes first.
package final class RunCleanup: Sendable {
    private let closers = Mutex<[Closer]>([])

    package init() {}

    /// One resource's closing, run at most once.
    package final class Closer: Sendable {
        private let body: Mutex<(@Sendable () async -> Void)?>

        package init(_ body: @escaping @Sendable () async -> Void) { self.body = Mutex(body) }

        /// Closes the resource unless it was closed already.
        package func callAsFunction() async {
            let run = body.withLock { b in
                defer { b = nil }
                return b
            }
            await run?()
        }
    }

    /// Registers how to close what was just opened.
    /// - Returns: the closer, for the service that owns the resource while the run is on.
    @discardableResult
    package func owns(_ close: @escaping @Sendable () async -> Void) -> Closer {
        let closer = Closer(close)
        closers.withLock { $0.append(closer) }
        return closer
    }

    /// Closes everything not closed yet, the most recently opened first.
    package func closeAll() async {
        let all = closers.withLock { c in
            defer { c = [] }
            return c
        }
        for closer in all.reversed() { await closer() }
    }
}
