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

    /// One resource's closing, run at most once; every caller returns only once it has finished.
    package final class Closer: Sendable {
        private enum State {
            case open(@Sendable () async -> Void)
            case closing(Task<Void, Never>)
        }
        private let state: Mutex<State>

        package init(_ body: @escaping @Sendable () async -> Void) { self.state = Mutex(.open(body)) }

        /// Closes the resource unless it was closed already, and waits for the closing: a caller that comes
        /// second (`closeAll()` after the service's own shutdown, or the other way round) must not return
        /// while the first is still flushing the file, or "closed" would not yet be true.
        package func callAsFunction() async {
            let task = state.withLock { s -> Task<Void, Never> in
                switch s {
                case .open(let body):
                    let t = Task { await body() }
                    s = .closing(t)
                    return t
                case .closing(let t):
                    return t
                }
            }
            await task.value
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
