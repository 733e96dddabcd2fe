import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The reading half of a followed signal file, without a thread or a controller: `SignalFileFollower`
/// drives it from its thread; the fuzz target (Fuzz/follow) drives it against random rewrites. It depends
/// on nothing else in the package, so that target compiles this file alone.
///
/// It knows that what it has read is still what the file holds: the file's identity (device, inode), a
/// copy of the first and of the last `window` bytes it has read, and the modification time at which it had
/// read the whole file. Checked on every wake-up and after every read, these tell an append from a file
/// rewritten in place (`echo … > file`: truncated, then written, possibly longer than what was read):
/// a rewritten file is read again from its start, as history (the replay rule), and a read that a
/// rewrite overtook is thrown away rather than spliced onto the new content. Limits: a rewrite that keeps
/// the first and last `window` bytes before the read position and the file's length exactly, within one
/// tick of the file system's clock, is not seen (it changes nothing a reader of those bytes could tell).
package final class FollowedFileReader {
    /// What reading produced, in order.
    package enum Output {
        /// Complete lines of one read (no newline, no trailing CR, never empty). `replay`: read from the
        /// file's start (opened, replaced, truncated, rewritten): history.
        case lines([ArraySlice<UInt8>], replay: Bool)
        /// Bytes that will never make a line: a partial line of a file that went away, a line too long.
        case discarded(String, bytes: Int)
        /// Something the operator should know (the file replaced, truncated, rewritten, missing); `refused`
        /// when it also counts as a refused input (a path that is not a regular file).
        case note(String, refused: Bool)
    }

    package let path: String
    /// A line longer than this without a newline is skipped up to its newline.
    package let maxLineLength: Int
    /// Bytes per read.
    package let chunkSize: Int
    /// Bytes kept from each end of what was read, to check that the file still holds them.
    package let window: Int
    /// Runs between two reads of one wake-up: tests and the fuzz target change the file there.
    package var betweenReads: (() -> Void)?

    private let emit: (Output) -> Void
    private var file: Open?
    private var partial: [UInt8] = []
    private var skippingLongLine = false
    private var reportedMissing = false
    private var reportedIrregular = false
    /// Set while reading from a file's start; cleared at its end.
    private var replaying = false
    private var pending: [ArraySlice<UInt8>] = []
    private var chunk: [UInt8]
    private var scratch: [UInt8]

    private struct Open {
        var fd: Int32
        var device: UInt
        var inode: UInt
        var offset = 0
        /// The first bytes read (up to `window`).
        var head: [UInt8] = []
        /// The last bytes read, ending at `offset` (up to `window`).
        var tail: [UInt8] = []
        /// The modification time seen when the file was exactly `offset` long, all of it read; nil if unknown.
        var settled: timespec?
    }

    /// - Parameters:
    ///   - maxLineLength: the longest line taken (the signal protocol's 64 KiB).
    ///   - window: bytes kept from each end of what was read; at least `maxLineLength`, so the current
    ///     line is always checked whole.
    package init(
        path: String, maxLineLength: Int, chunkSize: Int = 64 * 1024, window: Int? = nil,
        emit: @escaping (Output) -> Void
    ) {
        self.path = path
        self.maxLineLength = max(1, maxLineLength)
        self.chunkSize = max(1, chunkSize)
        self.window = max(1, window ?? maxLineLength)
        self.emit = emit
        chunk = [UInt8](repeating: 0, count: self.chunkSize)
        scratch = [UInt8](repeating: 0, count: self.window)
    }

    deinit { if let f = file { close(f.fd) } }

    /// One wake-up: follows a replace, a removal, a truncation or a rewrite, opens the file when it
    /// appears, and reads what is new (stopping early when `shouldStop` says so).
    package func check(shouldStop: () -> Bool = { false }) {
        var st = stat()
        let exists = stat(path, &st) == 0
        if var f = file {
            if !exists || UInt(st.st_dev) != f.device || UInt(st.st_ino) != f.inode {
                // Lines written to the old file before it was renamed or deleted still count.
                drain(&f, shouldStop: shouldStop)
                close(f.fd)
                file = nil
                dropPartial("partial last line of a file that was replaced or removed")
                emit(.note(exists ? "replaced (rotation or atomic rename)" : "removed; waiting for it", refused: false))
                reportedMissing = !exists
            } else {
                var now = stat()
                if fstat(f.fd, &now) == 0 {
                    let size = Int(now.st_size)
                    if size < f.offset {
                        restart(&f, "truncated")
                    } else if !stillHolds(f) {
                        restart(&f, "rewritten in place")
                    } else if size == f.offset, let settled = f.settled, !Self.same(settled, now.st_mtim) {
                        // The same length and the same bytes where they are compared, but written again.
                        restart(&f, "rewritten in place (same length)")
                    }
                }
                drain(&f, shouldStop: shouldStop)
                file = f
                return
            }
        }
        guard exists else {
            if !reportedMissing {
                emit(.note("does not exist (yet); waiting for it", refused: false))
                reportedMissing = true
            }
            return
        }
        open(st)
    }

    /// The last read before shutdown: what was appended just before still counts, up to 16 reads (a file
    /// that keeps growing does not hold shutdown up); then the file is closed.
    package func finish() {
        if var f = file {
            drain(&f, limit: 16, final: true)
            close(f.fd)
            file = nil
        }
        dropPartial("partial last line at shutdown")
    }

    /// Only a regular file is followed: a FIFO would block the open and the reads, /dev/zero never ends a
    /// line, a directory cannot be read. O_NONBLOCK: the path may become a FIFO after the stat.
    private func open(_ st: stat) {
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            if !reportedIrregular {
                emit(.note("not a regular file (a directory, device, FIFO or socket); not followed", refused: true))
                reportedIrregular = true
            }
            return
        }
        let fd = Glibc.open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return }
        var opened = stat()
        guard fstat(fd, &opened) == 0, (opened.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            return
        }
        reportedIrregular = false
        reportedMissing = false
        var f = Open(fd: fd, device: UInt(opened.st_dev), inode: UInt(opened.st_ino))
        replaying = true
        drain(&f, shouldStop: { false })
        file = f
    }

    /// Reads what is new and hands on complete lines, one batch per read; at most `limit` reads, and
    /// stops early when `shouldStop` says so (unless `final`).
    private func drain(_ f: inout Open, limit: Int = .max, final: Bool = false, shouldStop: () -> Bool = { false }) {
        var reads = 0
        while reads < limit && (final || !shouldStop()) {
            if reads > 0 { betweenReads?() }
            reads += 1
            let start = f.offset
            let n = chunk.withUnsafeMutableBytes { pread(f.fd, $0.baseAddress, $0.count, off_t(start)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                settle(&f)
                replaying = false
                return
            }
            // Checked after the read: if the file still holds what came before, these bytes continue it;
            // otherwise a rewrite overtook the read, and they must not be spliced onto the old content.
            if start > 0 && !stillHolds(f) {
                restart(&f, "rewritten in place while it was read")
                continue
            }
            f.offset += n
            remember(&f, n)
            split(n)
            flush()
        }
    }

    /// Splits `chunk[..<n]` into lines (appended to `pending`), keeping a partial last line.
    private func split(_ n: Int) {
        var start = 0
        for i in 0..<n where chunk[i] == UInt8(ascii: "\n") {
            if skippingLongLine {
                skippingLongLine = false
            } else {
                partial.append(contentsOf: chunk[start..<i])
                var line = partial[...]
                if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
                if !line.isEmpty { pending.append(line) }
            }
            partial.removeAll(keepingCapacity: true)
            start = i + 1
        }
        if !skippingLongLine { partial.append(contentsOf: chunk[start..<n]) }
    }

    private func flush() {
        if !pending.isEmpty {
            emit(.lines(pending, replay: replaying))
            pending.removeAll()
        }
        if partial.count > maxLineLength {
            emit(
                .discarded(
                    "line over \(maxLineLength) bytes without a newline; skipped to the next line",
                    bytes: partial.count))
            partial.removeAll()
            skippingLongLine = true
        }
    }

    /// Keeps the first and the last `window` bytes read.
    private func remember(_ f: inout Open, _ n: Int) {
        if f.head.count < window { f.head.append(contentsOf: chunk[..<min(n, window - f.head.count)]) }
        if n >= window {
            f.tail.removeAll(keepingCapacity: true)
            f.tail.append(contentsOf: chunk[(n - window)..<n])
        } else {
            f.tail.append(contentsOf: chunk[..<n])
            if f.tail.count > window { f.tail.removeFirst(f.tail.count - window) }
        }
    }

    /// The modification time, kept only when the file is exactly as long as what was read: a later write
    /// of the same length is then seen by its new time.
    private func settle(_ f: inout Open) {
        var st = stat()
        f.settled = fstat(f.fd, &st) == 0 && Int(st.st_size) == f.offset ? st.st_mtim : nil
    }

    /// Whether the file still holds, at the same places, the first and the last bytes read from it.
    /// A read error cannot tell: it counts as yes (the next wake-up checks again).
    private func stillHolds(_ f: Open) -> Bool {
        guard f.offset > 0 else { return true }
        return holds(f.fd, f.head, at: 0) && holds(f.fd, f.tail, at: f.offset - f.tail.count)
    }

    private func holds(_ fd: Int32, _ expected: [UInt8], at offset: Int) -> Bool {
        guard !expected.isEmpty else { return true }
        var got = 0
        while got < expected.count {
            let n = scratch.withUnsafeMutableBytes {
                pread(fd, $0.baseAddress! + got, expected.count - got, off_t(offset + got))
            }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { return true }
            if n == 0 { return false }  // shorter than what was read
            got += n
        }
        let difference = scratch.withUnsafeBytes { s in
            expected.withUnsafeBytes { memcmp(s.baseAddress!, $0.baseAddress!, got) }
        }
        return difference == 0
    }

    /// Reads the file again from its start, as history.
    private func restart(_ f: inout Open, _ what: String) {
        f.offset = 0
        f.head.removeAll(keepingCapacity: true)
        f.tail.removeAll(keepingCapacity: true)
        f.settled = nil
        replaying = true
        dropPartial("partial last line of a file that was \(what)")
        emit(.note("\(what); reading from the start", refused: false))
    }

    private func dropPartial(_ why: String) {
        if !partial.isEmpty { emit(.discarded(why, bytes: partial.count)) }
        partial.removeAll()
        skippingLongLine = false
    }

    private static func same(_ a: timespec, _ b: timespec) -> Bool { a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec }
}
