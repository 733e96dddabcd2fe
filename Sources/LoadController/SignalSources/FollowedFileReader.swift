import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The reading half of a followed signal file, without a thread or a controller: `SignalFileFollower`
/// drives it from its thread; the fuzz target (Fuzz/follow) drives it against random rewrites. It is the
/// thin shell of `FollowedFileMachine` (the decisions; this class makes the system calls it asks for), and
/// the two depend on nothing else in the package, so that target compiles these two files alone.
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
    package enum Output: Sendable, Hashable {
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
    private var machine: FollowedFileMachine
    private var fd: Int32 = -1
    private var chunk: [UInt8]

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
        machine = FollowedFileMachine(maxLineLength: self.maxLineLength, window: self.window)
        chunk = [UInt8](repeating: 0, count: self.chunkSize)
    }

    deinit { if fd >= 0 { close(fd) } }

    /// One wake-up: follows a replace, a removal, a truncation or a rewrite, opens the file when it
    /// appears, and reads what is new (stopping early when `shouldStop` says so).
    package func check(shouldStop: () -> Bool = { false }) {
        var st = stat()
        let path = stat(self.path, &st) == 0 ? Self.status(st) : nil
        var now = stat()
        let open = fd >= 0 && fstat(fd, &now) == 0 ? Self.status(now) : nil
        drive(.wake(path: path, open: open), shouldStop: shouldStop)
    }

    /// The last read before shutdown: what was appended just before still counts, up to 16 reads (a file
    /// that keeps growing does not hold shutdown up); then the file is closed.
    package func finish() { drive(.finish, shouldStop: { false }) }

    /// Feeds the machine `first`, performs its actions in order, and feeds it each request's answer until
    /// it asks for nothing more.
    private func drive(_ first: FollowedFileMachine.Event, shouldStop: () -> Bool) {
        var next: FollowedFileMachine.Event? = first
        while let event = next {
            next = nil
            for action in machine.event(event) {
                switch action {
                case .emit(let output): emit(output)
                case .open: next = open()
                case .close:
                    if fd >= 0 { close(fd) }
                    fd = -1
                case .read(let offset, let first, let final):
                    if !final && shouldStop() {
                        next = .stopped
                    } else {
                        if !first { betweenReads?() }
                        next = read(at: offset)
                    }
                case .readBack(let headCount, let tailOffset, let tailCount):
                    next = .readBack(head: read(headCount, at: 0), tail: read(tailCount, at: tailOffset))
                }
            }
        }
    }

    /// O_NONBLOCK: the path may become a FIFO after the stat.
    private func open() -> FollowedFileMachine.Event {
        fd = Glibc.open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return .openFailed }
        var opened = stat()
        return .opened(fstat(fd, &opened) == 0 ? Self.status(opened) : nil)
    }

    private func read(at offset: Int) -> FollowedFileMachine.Event {
        var n: Int
        repeat {
            n = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(offset)) }
        } while n < 0 && errno == EINTR
        guard n > 0 else {
            var st = stat()
            return .endOfFile(fstat(fd, &st) == 0 ? Self.status(st) : nil)
        }
        return .read(Array(chunk[..<n]))
    }

    /// Up to `count` bytes at `offset`: fewer when the file is shorter; nil on a read error.
    private func read(_ count: Int, at offset: Int) -> [UInt8]? {
        guard count > 0 else { return [] }
        var bytes = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + got, count - got, off_t(offset + got)) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { return nil }
            if n == 0 { break }
            got += n
        }
        return Array(bytes[..<got])
    }

    private static func status(_ st: stat) -> FollowedFileMachine.FileStatus {
        FollowedFileMachine.FileStatus(
            device: UInt(st.st_dev), inode: UInt(st.st_ino), size: Int(st.st_size),
            modified: .init(seconds: Int(st.st_mtim.tv_sec), nanoseconds: Int(st.st_mtim.tv_nsec)),
            isRegular: (st.st_mode & S_IFMT) == S_IFREG)
    }
}
