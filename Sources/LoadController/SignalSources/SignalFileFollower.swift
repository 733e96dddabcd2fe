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
/// starts or stops against the dwell times. A file rewritten in place (`echo … > file`, whatever the new
/// length) is read again from its start under the same rule: `FollowedFileReader` checks on every wake-up
/// that the file still holds what was read. Replies, accepted or not, go to the
/// decision log; a partial last line waits for its newline and is reported if the file goes away first.
package final class SignalFileFollower: Sendable {
    package let path: String
    private let controller: LoadController
    private let origin: SignalOrigin
    private let note: @Sendable (String) -> Void
    private let stopping = Atomic<Bool>(false)
    private let wakeFD: (read: Int32, write: Int32)
    private let finished = DispatchSemaphore(value: 0)
    /// Lines handled so far (for tests and status).
    package var linesHandled: Int { handled.load(ordering: .relaxed) }
    private let handled = Atomic<Int>(0)

    /// Starts following `path` on a thread of its own.
    /// - Throws: `SignalError` when the OS refuses the wake-up pipe or the thread.
    package init(path: String, controller: LoadController, note: @escaping @Sendable (String) -> Void = { _ in })
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
    package func stop(timeout: Duration = .seconds(2)) {
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

    private func run() {
        let inotify = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        var watching = false
        let directory =
            (path as NSString).deletingLastPathComponent.isEmpty
            ? "." : (path as NSString).deletingLastPathComponent
        defer { if inotify >= 0 { close(inotify) } }
        let reader = FollowedFileReader(path: path, maxLineLength: SignalMessage.maximumLineLength) {
            [self] output in
            switch output {
            case .lines(let lines, let replay):
                controller.handle(batch: lines, origin: origin, replay: replay)
                handled.add(lines.count, ordering: .relaxed)
            case .discarded(let why, let bytes):
                controller.discarded(why, origin: origin, bytes: bytes)
            case .note(let text, let refused):
                note("file:\(path): \(text)")
                if refused { controller.discarded("file:\(path): \(text)", origin: origin, bytes: 0) }
            }
        }

        while !stopping.load(ordering: .relaxed) {
            if !watching && inotify >= 0 {
                let mask = UInt32(
                    IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_ATTRIB)
                watching = inotify_add_watch(inotify, directory, mask) >= 0
            }
            reader.check { stopping.load(ordering: .relaxed) }
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
        reader.finish()
    }
}
