import FlexSupport
import Foundation
import Logging
import NIOCore
import Synchronization

/// FlexMiner's swift-log backend: one line per entry on stderr, human-readable
/// (`2026-11-29T03:22:51.716Z info flexminer: capacity 100% -> 0% [source=unix:/run/f.sock]`) or JSON
/// (`{"time":…,"level":"info","label":"flexminer","message":…,"source":…}`). The line is formatted on the
/// caller's thread and written by the sink's own (see `LogSink`), so logging never waits for stderr.
/// Secrets are never passed to the logger in the first place.
package struct FlexLogHandler: LogHandler {
    package enum Format: String, Sendable, CaseIterable { case human, json }

    package var metadata: Logger.Metadata = [:]
    package var logLevel: Logger.Level
    let label: String
    let format: Format
    let output: LogSink

    package init(label: String, format: Format, level: Logger.Level, output: LogSink = .standardError) {
        self.label = label
        self.format = format
        self.logLevel = level
        self.output = output
    }

    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    package func log(event: LogEvent) {
        var all = metadata
        if let extra = event.metadata { all.merge(extra) { _, new in new } }
        let time = LogSink.timestamp()
        let line: String
        switch format {
        case .human:
            let meta =
                all.isEmpty
                ? ""
                : " [" + all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ") + "]"
            line = "\(time) \(event.level) \(label): \(event.message)\(meta)"
        case .json:
            var object: [String: Any] = [
                "time": time, "level": "\(event.level)", "label": label, "message": "\(event.message)",
            ]
            for (k, v) in all where object[k] == nil { object[k] = "\(v)" }
            line = JSONLine.encoded(object) ?? ""
        }
        output.write(line)
    }
}

/// Where log lines go: stderr by default; tests capture them.
///
/// Lines are written off the caller's thread: `write` queues the line (at most `queueLimit`; when the
/// reader of stderr does not keep up, the oldest lines are dropped and counted) and a thread of the sink's
/// own writes them. A full stderr pipe (a log shipper that stalled, a terminal on hold) therefore never
/// stops the controller, which logs every decision, from answering a curtail. At exit the queue gets up
/// to two seconds to drain.
package final class LogSink: Sendable {
    package static let standardError = LogSink(fd: 2)
    /// Lines waiting for the writer, at most.
    package static let queueLimit = 1024
    private let fd: Int32
    private let captured = Mutex<[String]?>(nil)
    /// Called before each line (the terminal status line uses it to clear itself).
    private let beforeWrite = Mutex<(@Sendable () -> Void)?>(nil)

    private struct Queue {
        /// A ring: dropping the oldest when full is O(1).
        var lines = CircularBuffer<String>(initialCapacity: 64)
        var dropped = 0
        var writing = 0
        var started = false
    }
    private let queue = Mutex(Queue())
    private let wake = DispatchSemaphore(value: 0)
    private let droppedCount = Atomic<Int>(0)

    init(fd: Int32) { self.fd = fd }

    /// A sink writing to `fileDescriptor` (which it does not close).
    package convenience init(fileDescriptor: Int32) { self.init(fd: fileDescriptor) }

    /// A sink that keeps lines in memory.
    package static func capturing() -> LogSink {
        let s = LogSink(fd: -1)
        s.captured.withLock { $0 = [] }
        return s
    }

    package var lines: [String] { captured.withLock { $0 ?? [] } }

    /// Lines dropped because the queue was full, since the start.
    package var dropped: Int { droppedCount.load(ordering: .relaxed) }

    package func setBeforeWrite(_ hook: (@Sendable () -> Void)?) { beforeWrite.withLock { $0 = hook } }

    /// Queues one line (a newline is added). Never waits for the reader of the file descriptor.
    func write(_ line: String) {
        if captured.withLock({ c in
            guard c != nil else { return false }
            c!.append(line)
            return true
        }) {
            return
        }
        let start = queue.withLock { q in
            if q.lines.count >= Self.queueLimit {
                q.lines.removeFirst()
                q.dropped += 1
                droppedCount.add(1, ordering: .relaxed)
            }
            q.lines.append(line)
            defer { q.started = true }
            return !q.started
        }
        if start {
            do throws(ThreadStartError) {
                try JoinableThread.detach(name: "flexminer-log") { [self] in self.run() }
                if fd == 2 { atexit { LogSink.standardError.flush(timeout: .seconds(2)) } }
            } catch {
                // Nowhere to say it but here: the lines stay queued (bounded, drops counted) and the next
                // line tries again, once the process has room for a thread.
                queue.withLock { $0.started = false }
            }
        }
        wake.signal()
    }

    /// Waits (at most `timeout`) until the queued lines are written.
    /// - Returns: whether they were.
    @discardableResult
    package func flush(timeout: Duration = .seconds(2)) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if queue.withLock({ $0.lines.isEmpty && $0.writing == 0 }) { return true }
            usleep(500)
        }
        return false
    }

    private func run() {
        while true {
            wake.wait()
            let (lines, dropped) = queue.withLock { q in
                let taken = Array(q.lines)
                q.lines.removeAll(keepingCapacity: true)
                q.writing = taken.count
                defer { q.dropped = 0 }
                return (taken, q.dropped)
            }
            if dropped > 0 {
                emit("\(Self.timestamp()) warning flexminer: \(dropped) log lines dropped (stderr was not being read)")
            }
            for line in lines {
                emit(line)
                queue.withLock { $0.writing -= 1 }
            }
        }
    }

    private func emit(_ line: String) {
        beforeWrite.withLock { $0 }?()
        let bytes = Array((line + "\n").utf8)
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return }
                offset += n
            }
        }
    }

    static func timestamp() -> String {
        let t = Date().timeIntervalSince1970
        var seconds = time_t(t)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let ms = Int((t - Double(seconds)) * 1000)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
            parts.tm_hour, parts.tm_min, parts.tm_sec, ms)
    }
}
