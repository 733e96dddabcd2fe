import DemandResponse
import FlexSupport
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Follows a signal file like `tail -F`: appended lines are handled as they are written; truncation,
/// rotation (rename away and a new file), atomic replace (write a temp file, rename over) and deletion
/// are all followed; a missing file is waited for. Wakes on inotify events for the file's directory
/// (milliseconds), with a 250 ms poll as the fallback for file systems without inotify.
///
/// The whole file is read when it is first opened, so a file that holds the current state (the latest
/// price, a curtailment not yet released) takes effect at start; what is read from a file's start (when
/// opened, replaced or truncated) is replayed as history, so old price lines do not count as fresh
/// starts or stops against the dwell times. Replies, accepted or not, go to the
/// decision log; a partial last line waits for its newline and is reported if the file goes away first.
public final class SignalFileFollower: Sendable {
    public let path: String
    private let controller: LoadController
    private let origin: SignalOrigin
    private let note: @Sendable (String) -> Void
    private let stopping = Atomic<Bool>(false)
    private let wakeFD: (read: Int32, write: Int32)
    private let finished = DispatchSemaphore(value: 0)
    /// Lines handled so far (for tests and status).
    public var linesHandled: Int { handled.load(ordering: .relaxed) }
    private let handled = Atomic<Int>(0)

    /// Starts following `path` on a thread of its own.
    /// - Throws: `SignalError` when the OS refuses the wake-up pipe or the thread.
    public init(path: String, controller: LoadController, note: @escaping @Sendable (String) -> Void = { _ in })
        throws(SignalError)
    {
        self.path = path
        self.controller = controller
        self.origin = SignalOrigin(name: "file:\(path)")
        self.note = note
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else {
            throw SignalError("file:\(path): cannot create a pipe (\(String(cString: strerror(errno))))")
        }
        wakeFD = (fds[0], fds[1])
        for fd in fds {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, O_NONBLOCK)
        }
        do throws(ThreadStartError) {
            try JoinableThread.detach(name: "flexminer-file") { [self] in
                self.run()
                self.finished.signal()
            }
        } catch {
            // Never a source that silently does not follow: the caller learns it at start.
            stopping.store(true, ordering: .sequentiallyConsistent)
            close(fds[0])
            close(fds[1])
            throw SignalError("file:\(path): \(error)")
        }
    }

    /// Stops following and waits (at most `timeout`) for the thread to finish. The thread checks for the
    /// stop between reads of at most 64 KiB, so it finishes at once unless a read itself hangs (a network
    /// file system that went away); shutdown then goes on without it.
    public func stop(timeout: Duration = .seconds(2)) {
        guard !stopping.exchange(true, ordering: .sequentiallyConsistent) else { return }
        var b: UInt8 = 1
        _ = write(wakeFD.write, &b, 1)
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) * 1e-18
        guard finished.wait(timeout: .now() + seconds) == .success else {
            // The thread still owns the wake-up pipe: leave it open rather than close it under a poll.
            note("file:\(path): a read did not finish within \(seconds) s; not waiting for it")
            return
        }
        close(wakeFD.read)
        close(wakeFD.write)
    }

    deinit { stop() }

    // MARK: The follower thread

    private struct Open {
        var fd: Int32
        var device: UInt
        var inode: UInt
        var offset: Int
    }

    private func run() {
        let inotify = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        var watching = false
        let directory =
            (path as NSString).deletingLastPathComponent.isEmpty
            ? "." : (path as NSString).deletingLastPathComponent
        var file: Open? = nil
        var partial: [UInt8] = []
        var skippingLongLine = false
        var reportedMissing = false
        var reportedIrregular = false
        defer {
            if let f = file { close(f.fd) }
            if inotify >= 0 { close(inotify) }
        }

        // Complete lines of one read; handled together when the read ends.
        var pending: [ArraySlice<UInt8>] = []
        // Set while reading a file from its start (opened, replaced, truncated): those lines are history,
        // applied without counting as fresh starts or stops against the dwell times.
        var replaying = false
        func handle(_ bytes: ArraySlice<UInt8>) {
            var line = bytes
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            guard !line.isEmpty else { return }
            pending.append(line)
        }
        func flush() {
            guard !pending.isEmpty else { return }
            controller.handle(batch: pending, origin: origin, replay: replaying)
            handled.add(pending.count, ordering: .relaxed)
            pending.removeAll()
        }

        /// Reads what is new in the open file and handles complete lines; at most `limit` reads of 64 KiB
        /// (the final drain at shutdown is bounded), and stops early when asked to stop.
        func drain(_ f: inout Open, limit: Int = .max, final: Bool = false) {
            var chunk = [UInt8](repeating: 0, count: 64 * 1024)
            var reads = 0
            while reads < limit && (final || !stopping.load(ordering: .relaxed)) {
                reads += 1
                let n = chunk.withUnsafeMutableBytes { pread(f.fd, $0.baseAddress, $0.count, off_t(f.offset)) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else {
                    replaying = false
                    return
                }
                f.offset += n
                var start = 0
                for i in 0..<n where chunk[i] == UInt8(ascii: "\n") {
                    if skippingLongLine {
                        skippingLongLine = false
                    } else {
                        partial.append(contentsOf: chunk[start..<i])
                        handle(partial[...])
                    }
                    partial.removeAll(keepingCapacity: true)
                    start = i + 1
                }
                if !skippingLongLine { partial.append(contentsOf: chunk[start..<n]) }
                flush()
                if partial.count > SignalMessage.maximumLineLength {
                    controller.discarded(
                        "line over \(SignalMessage.maximumLineLength) bytes without a newline; skipped to the next line",
                        origin: origin, bytes: partial.count)
                    partial.removeAll()
                    skippingLongLine = true
                }
            }
        }

        func dropPartial(_ why: String) {
            if !partial.isEmpty { controller.discarded(why, origin: origin, bytes: partial.count) }
            partial.removeAll()
            skippingLongLine = false
        }

        func check() {
            var st = stat()
            let exists = stat(path, &st) == 0
            if var f = file {
                let replaced = !exists || UInt(st.st_dev) != f.device || UInt(st.st_ino) != f.inode
                if replaced {
                    // Lines written to the old file before it was renamed or deleted still count.
                    drain(&f)
                    close(f.fd)
                    file = nil
                    dropPartial("partial last line of a file that was replaced or removed")
                    note("file:\(path): \(exists ? "replaced (rotation or atomic rename)" : "removed; waiting for it")")
                    reportedMissing = !exists
                } else {
                    var now = stat()
                    if fstat(f.fd, &now) == 0 && Int(now.st_size) < f.offset {
                        f.offset = 0
                        replaying = true
                        dropPartial("partial last line of a file that was truncated")
                        note("file:\(path): truncated; reading from the start")
                    }
                    drain(&f)
                    file = f
                    return
                }
            }
            guard exists else {
                if !reportedMissing {
                    note("file:\(path): does not exist (yet); waiting for it")
                    reportedMissing = true
                }
                return
            }
            // Only a regular file is followed: a FIFO would block the open and the reads, /dev/zero never ends
            // a line, a directory cannot be read. O_NONBLOCK: the path may become a FIFO after the stat.
            guard (st.st_mode & S_IFMT) == S_IFREG else {
                if !reportedIrregular {
                    note("file:\(path): not a regular file (a directory, device, FIFO or socket); not followed")
                    controller.discarded("file:\(path) is not a regular file; not followed", origin: origin, bytes: 0)
                    reportedIrregular = true
                }
                return
            }
            let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
            guard fd >= 0 else { return }
            var opened = stat()
            guard fstat(fd, &opened) == 0, (opened.st_mode & S_IFMT) == S_IFREG else {
                close(fd)
                return
            }
            reportedIrregular = false
            var f = Open(fd: fd, device: UInt(opened.st_dev), inode: UInt(opened.st_ino), offset: 0)
            reportedMissing = false
            replaying = true
            drain(&f)
            file = f
        }

        while !stopping.load(ordering: .relaxed) {
            if !watching && inotify >= 0 {
                let mask = UInt32(
                    IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_ATTRIB)
                watching = inotify_add_watch(inotify, directory, mask) >= 0
            }
            check()
            var fds = [
                pollfd(fd: wakeFD.read, events: Int16(POLLIN), revents: 0),
                pollfd(fd: watching ? inotify : -1, events: Int16(POLLIN), revents: 0),
            ]
            _ = poll(&fds, 2, 250)
            if fds[1].revents != 0 {
                // The events only say "look again"; which file changed is checked by stat.
                var buffer = [UInt8](repeating: 0, count: 4096)
                while read(inotify, &buffer, buffer.count) > 0 {}
            }
        }
        if let f = file {
            // What was appended just before the stop still counts, up to 1 MiB: shutdown does not wait for
            // a file that keeps growing.
            var last = f
            drain(&last, limit: 16, final: true)
            file = last
        }
        dropPartial("partial last line at shutdown")
    }
}
