import Synchronization

/// A wake-up for a task that sleeps with a timeout: `signal()` ends the current (or the next) wait.
final class Wakeup: Sendable {
    private struct State {
        var pending = false
        var waiter: CheckedContinuation<Void, Never>?
        /// Set by a cancelled wait, so a continuation stored after the cancellation resumes at once.
        var cancelled = false
    }
    private let state = Mutex(State())

    func signal() {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if let w = s.waiter {
                s.waiter = nil
                return w
            }
            s.pending = true
            return nil
        }
        waiter?.resume()
    }

    /// Returns on `signal()`, after `timeout`, or when the task is cancelled.
    func wait(timeout: Duration) async {
        let early = state.withLock { s -> Bool in
            defer { s.pending = false }
            s.cancelled = false
            return s.pending
        }
        if early || Task.isCancelled { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                // Only a sleep that ran its course wakes the waiter; a cancelled one says nothing.
                if (try? await Task.sleep(for: timeout)) != nil { self.signal() }
            }
            group.addTask {
                await withTaskCancellationHandler {
                    await withCheckedContinuation { c in
                        let now = self.state.withLock { s -> Bool in
                            if s.pending || s.cancelled {
                                s.pending = false
                                return true
                            }
                            s.waiter = c
                            return false
                        }
                        if now { c.resume() }
                    }
                } onCancel: {
                    let w = self.state.withLock { s -> CheckedContinuation<Void, Never>? in
                        s.cancelled = true
                        defer { s.waiter = nil }
                        return s.waiter
                    }
                    w?.resume()
                }
            }
            await group.next()
            group.cancelAll()
        }
    }
}
