import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A bounded queue of lines and the thread of its own that writes them: the one shape of FlexMiner's
/// logs that must never make their caller wait for a disk (the decision log, the telemetry).
///
/// `enqueue` only appends to the queue under a lock. When `limit` lines are waiting, the oldest is dropped
/// and counted: a disk that does not keep up loses the oldest lines, never blocks the control path, and
/// memory stays bounded. The writer thread takes everything queued at once, tells the owner how many were
/// dropped since the last batch (so it can note the loss in the file), then hands it the lines in order.
/// At `close` it writes what is left and calls the owner's `finish` (fsync, close) once.
///
/// What a line is, how it reaches the disk, and what a failure means belong to the owner (`Sink`).
public final class BoundedLineWriter: Sendable {
    /// What the writer thread does with its lines; every closure runs on the writer thread only.
    public struct Sink: Sendable {
        /// Writes one line (already ending in its newline).
        public var write: @Sendable ([UInt8]) -> Void
        /// Told before a batch how many lines were dropped since the last one, when any were.
        public var dropped: @Sendable (Int) -> Void
        /// After the last line at `close`: flush to stable storage, close the file.
        public var finish: @Sendable () -> Void

        /// A sink; `dropped` and `finish` do nothing unless given.
        public init(
            write: @escaping @Sendable ([UInt8]) -> Void, dropped: @escaping @Sendable (Int) -> Void = { _ in },
            finish: @escaping @Sendable () -> Void = {}
        ) {
            self.write = write
            self.dropped = dropped
            self.finish = finish
        }
    }

    /// The queue: an array read from `head`, so that dropping the oldest line is O(1) (amortised) under
    /// the caller's lock.
    private struct Queue {
        var lines: [[UInt8]] = []
        var head = 0
        /// Dropped since the writer last took a batch.
        var droppedSinceBatch = 0
        var closing = false
        /// Lines taken by the writer and not yet written.
        var writing = 0

        var count: Int { lines.count - head }

        /// Appends `line`, dropping the oldest first when `limit` are waiting; returns whether it dropped.
        mutating func push(_ line: [UInt8], limit: Int) -> Bool {
            var dropped = false
            if count >= limit {
                lines[head] = []
                head += 1
                droppedSinceBatch += 1
                dropped = true
            }
            lines.append(line)
            if head >= 64 && head * 2 >= lines.count {
                lines.removeFirst(head)
                head = 0
            }
            return dropped
        }

        /// Everything waiting, oldest first, and the number dropped since the last batch.
        mutating func takeAll() -> (lines: [[UInt8]], dropped: Int) {
            let taken = Array(lines[head...])
            lines.removeAll(keepingCapacity: true)
            head = 0
            writing = taken.count
            defer { droppedSinceBatch = 0 }
            return (taken, droppedSinceBatch)
        }
    }

    /// Lines waiting for the writer, at most.
    public let limit: Int
    private let queue = Mutex(Queue())
    private let wake = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private let droppedCount = Atomic<Int>(0)
    private let closed = Atomic<Bool>(false)

    /// Lines dropped because the queue was full, since the start.
    public var dropped: Int { droppedCount.load(ordering: .relaxed) }

    /// A writer holding at most `limit` lines (at least 1); it writes nothing until `start`.
    public init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// Starts the writer thread, which keeps `sink` (and what it captures) until `close`.
    /// - Throws: `ThreadStartError` when the OS refuses the thread.
    public func start(name: String, _ sink: Sink) throws(ThreadStartError) {
        try JoinableThread.detach(name: name) { [self] in run(sink) }
    }

    /// Queues one line (ending in its newline); never waits for the disk. After `close` it is ignored.
    public func enqueue(_ line: [UInt8]) {
        let queued = queue.withLock { q in
            guard !q.closing else { return false }
            if q.push(line, limit: limit) { droppedCount.add(1, ordering: .relaxed) }
            return true
        }
        if queued { wake.signal() }
    }

    /// Waits (at most `timeout`) until every queued line has been written (tests; before reading the file).
    /// - Returns: whether it was.
    @discardableResult
    public func flush(timeout: Duration = .seconds(5)) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if queue.withLock({ $0.count == 0 && $0.writing == 0 }) { return true }
            usleep(500)
        }
        return false
    }

    /// Stops taking lines, lets the writer write what is queued and `finish`, and waits at most `timeout`.
    /// - Returns: nil when the writer finished in time (or was closed before), else how many lines were
    ///   still not written.
    public func close(timeout: Duration) -> Int? {
        guard !closed.exchange(true, ordering: .relaxed) else { return nil }
        queue.withLock { $0.closing = true }
        wake.signal()
        guard finished.wait(timeout: .now() + timeout.seconds) == .timedOut else { return nil }
        return queue.withLock { $0.count + $0.writing }
    }

    // MARK: The writer thread

    private func run(_ sink: Sink) {
        while true {
            wake.wait()
            let (batch, dropped, closing) = queue.withLock { q in
                let (lines, dropped) = q.takeAll()
                return (lines, dropped, q.closing)
            }
            if dropped > 0 { sink.dropped(dropped) }
            for line in batch {
                sink.write(line)
                queue.withLock { $0.writing -= 1 }
            }
            if closing && queue.withLock({ $0.count == 0 }) {
                sink.finish()
                finished.signal()
                return
            }
        }
    }
}
