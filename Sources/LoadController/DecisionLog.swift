import DemandResponse
import FlexSupport
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The decision log: one JSON object per line for every signal received and every action taken. A site
/// uses it to prove compliance.
///
/// Entries are written off the control path: `write` only encodes the entry and queues it; a thread of
/// the log's own appends it with one `write(2)` (no user-space buffering, so a crash loses nothing
/// already written). A disk that is full, slow or gone therefore never delays a halt. The queue is
/// bounded (`queueLimit` entries): when the disk cannot keep up, the oldest entries are dropped, counted,
/// and a `log_dropped` entry says how many once writing works again. Write errors are counted
/// (`errors`), reported once through `report`, and never silently ignored; an entry torn by a failed
/// write (or by a crash) is closed with a newline before the next, so it never merges into it.
///
/// The file is created mode 0600 (it names sources and reasons), and its directory is fsync'd when it is
/// created.
package final class DecisionLog: Sendable {
    package let path: String
    /// Entries waiting for the writer, at most.
    package static let queueLimit = 4096

    private let fd: Int32
    /// The queue and its thread; nil for a log kept only in memory.
    private let writer: BoundedLineWriter?
    private let report: @Sendable (String) -> Void
    /// Told every entry as it is written (the dashboard's in-memory ring of recent decisions).
    private let mirror: (@Sendable (String) -> Void)?
    private let errorCount = Atomic<Int>(0)
    private let reported = Atomic<Bool>(false)
    /// Only the writer thread touches it: whether the file may end inside an entry.
    private let torn: Mutex<Bool>

    /// Entries that could not be written (disk full, I/O error), since the start.
    package var errors: Int { errorCount.load(ordering: .relaxed) }
    /// Entries dropped because the queue was full (the disk did not keep up), since the start.
    package var dropped: Int { writer?.dropped ?? 0 }

    /// Opens (creating mode 0600, or appending to) the log.
    /// - Parameter report: told once, on the first failed write, what failed (the CLI logs it on stderr).
    /// - Throws: `SignalError` naming the path and the OS error.
    /// - Parameter mirror: told every entry (encoded) as it is queued, on the caller's thread: keep it cheap.
    package init(
        path: String, report: @escaping @Sendable (String) -> Void = { _ in },
        mirror: (@Sendable (String) -> Void)? = nil
    ) throws(SignalError) {
        var d = open(path, O_RDWR | O_APPEND | O_CLOEXEC)
        if d < 0 && errno == ENOENT {
            d = open(path, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            if d >= 0 {
                // The umask can only remove bits; 0600 whatever it says.
                fchmod(d, 0o600)
                DurableFile.syncDirectory(of: path)
            } else if errno == EEXIST {
                d = open(path, O_RDWR | O_APPEND | O_CLOEXEC)
            }
        }
        if d < 0 && errno == EACCES { d = open(path, O_WRONLY | O_APPEND | O_CLOEXEC) }
        guard d >= 0 else {
            throw SignalError("decision log \(path): cannot open it (\(String(cString: strerror(errno))))")
        }
        self.path = path
        self.fd = d
        self.report = report
        self.mirror = mirror
        // A file that ends inside an entry (a crash mid-write) gets its newline before our first entry.
        var st = stat()
        var last: UInt8 = UInt8(ascii: "\n")
        if fstat(d, &st) == 0, st.st_size > 0 { _ = pread(d, &last, 1, st.st_size - 1) }
        torn = Mutex(last != UInt8(ascii: "\n"))
        let writer = BoundedLineWriter(limit: Self.queueLimit)
        self.writer = writer
        do throws(ThreadStartError) {
            try writer.start(
                name: "flexminer-dlog",
                BoundedLineWriter.Sink(
                    write: { [self] in append($0) }, dropped: { [self] in noteDropped($0) },
                    finish: { [fd] in fsync(fd) }))
        } catch {
            // A log without its writer would queue, then drop, every decision: refuse it at start instead.
            throw SignalError("decision log \(path): \(error)")
        }
    }

    /// A log kept only in memory (no file, no writer thread): every entry goes to `mirror`. For a miner
    /// run without `--decision-log` whose dashboard still lists the recent decisions.
    package init(inMemory mirror: @escaping @Sendable (String) -> Void) {
        path = "(memory)"
        fd = -1
        writer = nil
        report = { _ in }
        self.mirror = mirror
        torn = Mutex(false)
    }

    deinit {
        // The writer thread holds `self` until `close()`; reaching here means it was closed.
        if fd >= 0 { Glibc.close(fd) }
    }

    /// Queues one entry; `time` (ISO 8601, UTC, milliseconds) is added. Never waits for the disk.
    package func write(_ fields: [String: Any], time: Date = Date()) {
        var object = fields
        object["time"] = ISO8601.format(time)
        guard let line = JSONLine.encoded(object) else { return }
        mirror?(line)
        guard let writer else { return }
        var bytes = Array(line.utf8)
        bytes.append(UInt8(ascii: "\n"))
        writer.enqueue(bytes)
    }

    /// Waits (at most `timeout`) until every queued entry has been written (tests; before reading it).
    /// - Returns: whether it was.
    @discardableResult
    package func flush(timeout: Duration = .seconds(5)) -> Bool { writer?.flush(timeout: timeout) ?? true }

    /// Writes what is queued, flushes it to stable storage and closes (at shutdown). Waits at most
    /// `timeout` for a blocked disk; what is still queued then is reported as lost.
    package func close(timeout: Duration = .seconds(5)) {
        guard let left = writer?.close(timeout: timeout) else { return }
        report("decision log \(path): the disk did not take the last \(left) entries within \(timeout.seconds) s")
    }

    // MARK: The writer thread

    /// Entries the queue dropped: one `log_dropped` entry says how many, once writing works again.
    private func noteDropped(_ dropped: Int) {
        let note: [String: Any] = [
            "event": "log_dropped", "count": dropped, "time": ISO8601.format(Date()),
            "error": "the disk did not keep up: \(dropped) entries dropped",
        ]
        if let line = JSONLine.fileLine(note) { append(line) }
    }

    /// One entry, in one `write(2)` with O_APPEND (entries never interleave, even across processes).
    private func append(_ entry: [UInt8]) {
        let wasTorn = torn.withLock { $0 }
        let bytes = wasTorn ? [UInt8(ascii: "\n")] + entry : entry
        guard let failure = DurableFile.writeAll(fd, bytes) else {
            if wasTorn { torn.withLock { $0 = false } }
            return
        }
        // Part of the entry may be on disk: the next one starts on a new line.
        if failure.written > 0 { torn.withLock { $0 = true } }
        errorCount.add(1, ordering: .relaxed)
        if !reported.exchange(true, ordering: .relaxed) {
            report(
                "decision log \(path): cannot write an entry (\(failure.error)); entries are being lost (counted in /status decision_log_errors)"
            )
        }
    }
}
