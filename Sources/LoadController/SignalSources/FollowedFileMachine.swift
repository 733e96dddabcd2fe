#if canImport(Glibc)
    import Glibc
#endif

/// The followed signal file's reading logic as a pure state machine (the shape of AsyncHTTPClient's
/// `HTTPConnectionPool.StateMachine`): `FollowedFileReader` feeds it what the file system said (the
/// path's and the open file's status, the bytes a read returned, the bytes read back to check them) and
/// performs the actions it returns, in order. The machine makes no system call (memcmp is the one libc
/// function it uses), so what it does on an append, a truncation, a rotation, a rewrite in place (before
/// a wake-up or overtaking a read), a removal, a line too long or a partial last line is tested with
/// tables of events and actions.
///
/// One request is outstanding at a time: `.open` is answered by `.opened` or `.openFailed`, `.read` by
/// `.read`, `.endOfFile` or `.stopped`, `.readBack` by `.readBack`. Like the reader, it depends on nothing
/// else in the package (the fuzz target compiles the two files alone).
package struct FollowedFileMachine: Sendable {
    /// What `stat`/`fstat` said about a file.
    package struct FileStatus: Sendable, Hashable {
        package var device: UInt
        package var inode: UInt
        package var size: Int
        /// The modification time (seconds, nanoseconds).
        package var modified: FileTime
        package var isRegular: Bool

        package init(device: UInt, inode: UInt, size: Int, modified: FileTime, isRegular: Bool = true) {
            self.device = device
            self.inode = inode
            self.size = size
            self.modified = modified
            self.isRegular = isRegular
        }
    }

    package struct FileTime: Sendable, Hashable {
        package var seconds: Int
        package var nanoseconds: Int

        package init(seconds: Int, nanoseconds: Int = 0) {
            self.seconds = seconds
            self.nanoseconds = nanoseconds
        }
    }

    /// What the reader tells the machine.
    package enum Event: Sendable, Hashable {
        /// A wake-up: `stat` of the path (nil: it does not exist) and `fstat` of the open file (nil: none
        /// open, or the call failed).
        case wake(path: FileStatus?, open: FileStatus?)
        /// The path was opened; `fstat` of the new descriptor (nil: the call failed).
        case opened(FileStatus?)
        /// The path could not be opened.
        case openFailed
        /// The bytes a `.read` returned (never empty).
        case read([UInt8])
        /// A `.read` returned nothing (the end, or an error); `fstat` of the open file after it.
        case endOfFile(FileStatus?)
        /// The reader was asked to stop before a `.read` that may stop.
        case stopped
        /// What a `.readBack` found at the two places (nil: the read failed, which cannot tell; fewer
        /// bytes than asked: the file is shorter).
        case readBack(head: [UInt8]?, tail: [UInt8]?)
        /// Shutdown: a last read, then the file is closed.
        case finish
    }

    /// What the reader does, in order.
    package enum Action: Sendable, Hashable {
        /// Hand this on (lines, discarded bytes, a note).
        case emit(FollowedFileReader.Output)
        /// Open the path (read-only, non-blocking) and feed `.opened` or `.openFailed`.
        case open
        /// Close the open file.
        case close
        /// Read up to a chunk at `offset`; feed `.read` or `.endOfFile`. Unless `final`, first ask whether
        /// to stop (then feed `.stopped`); unless `first`, run `betweenReads` before it.
        case read(at: Int, first: Bool, final: Bool)
        /// Read `headCount` bytes at 0 and `tailCount` at `tailOffset`; feed `.readBack`.
        case readBack(headCount: Int, tailOffset: Int, tailCount: Int)
    }

    /// The file being read.
    struct Open: Sendable, Hashable {
        var device: UInt
        var inode: UInt
        var offset = 0
        /// The first bytes read (up to `window`).
        var head: [UInt8] = []
        /// The last bytes read, ending at `offset` (up to `window`).
        var tail: [UInt8] = []
        /// The modification time seen when the file was exactly `offset` long, all of it read; nil if unknown.
        var settled: FileTime?
    }

    /// Reads in a row on one wake-up, and what comes after the last.
    struct Drain: Sendable, Hashable {
        enum Then: Sendable, Hashable {
            case nothing
            /// The path now names another file (`path`), or none: close this one and follow.
            case replaced(FileStatus?)
            case finish
        }
        var limit = Int.max
        var final = false
        var then = Then.nothing
        var reads = 0
    }

    /// What the machine waits for.
    enum Step: Sendable, Hashable {
        case idle
        case opening
        /// The wake-up's check that the file still holds what was read, with its `fstat`.
        case checking(FileStatus)
        case reading(Drain)
        /// The check after a read that the read was not overtaken by a rewrite.
        case verifying(Drain, [UInt8])
    }

    package let maxLineLength: Int
    package let window: Int
    var file: Open?
    var step = Step.idle
    var partial: [UInt8] = []
    var skippingLongLine = false
    var reportedMissing = false
    var reportedIrregular = false
    /// Set while reading from a file's start; cleared at its end.
    var replaying = false

    package init(maxLineLength: Int, window: Int) {
        self.maxLineLength = max(1, maxLineLength)
        self.window = max(1, window)
    }

    /// Whether a file is open.
    package var isOpen: Bool { file != nil }

    /// Takes one event and returns what to do about it, in order.
    package mutating func event(_ e: Event) -> [Action] {
        switch (e, step) {
        case (.wake(let path, let open), .idle): return wake(path: path, open: open)
        case (.opened(let status), .opening): return opened(status)
        case (.openFailed, .opening):
            step = .idle
            return []
        case (.read(let bytes), .reading(let drain)):
            // Checked after the read: if the file still holds what came before, these bytes continue it;
            // otherwise a rewrite overtook the read, and they must not be spliced onto the old content.
            guard let f = file, f.offset > 0 else { return accept(bytes) + nextRead(drain) }
            step = .verifying(drain, bytes)
            return [readBack(f)]
        case (.endOfFile(let status), .reading(let drain)):
            // The modification time is kept only when the file is exactly as long as what was read: a later
            // write of the same length is then seen by its new time.
            let offset = file?.offset
            file?.settled = status.flatMap { $0.size == offset ? $0.modified : nil }
            replaying = false
            return endDrain(drain)
        case (.stopped, .reading(let drain)): return endDrain(drain)
        case (.readBack(let head, let tail), .checking(let status)):
            var actions: [Action]
            if !holds(head: head, tail: tail) {
                actions = restart("rewritten in place")
            } else if let f = file, status.size == f.offset, let settled = f.settled, settled != status.modified {
                // The same length and the same bytes where they are compared, but written again.
                actions = restart("rewritten in place (same length)")
            } else {
                actions = []
            }
            return actions + nextRead(Drain())
        case (.readBack(let head, let tail), .verifying(let drain, let bytes)):
            if holds(head: head, tail: tail) { return accept(bytes) + nextRead(drain) }
            return restart("rewritten in place while it was read") + nextRead(drain)
        case (.finish, .idle):
            guard file != nil else { return dropPartial("partial last line at shutdown") }
            return nextRead(Drain(limit: 16, final: true, then: .finish))
        default:
            // An answer to nothing asked: the reader's mistake, ignored rather than trapped on.
            return []
        }
    }

    // MARK: Wake-ups

    /// Follows a replace, a removal, a truncation or a rewrite, opens the file when it appears, and reads
    /// what is new.
    mutating func wake(path: FileStatus?, open: FileStatus?) -> [Action] {
        guard let f = file else { return follow(path) }
        guard let path, path.device == f.device, path.inode == f.inode else {
            // Lines written to the old file before it was renamed or deleted still count.
            return nextRead(Drain(then: .replaced(path)))
        }
        guard let open else { return nextRead(Drain()) }
        if open.size < f.offset { return restart("truncated") + nextRead(Drain()) }
        guard f.offset > 0 else { return nextRead(Drain()) }
        step = .checking(open)
        return [readBack(f)]
    }

    /// No file open: wait for the path, or open it. Only a regular file is followed: a FIFO would block
    /// the open and the reads, /dev/zero never ends a line, a directory cannot be read.
    mutating func follow(_ path: FileStatus?) -> [Action] {
        step = .idle
        guard let path else {
            guard !reportedMissing else { return [] }
            reportedMissing = true
            return [.emit(.note("does not exist (yet); waiting for it", refused: false))]
        }
        guard path.isRegular else {
            guard !reportedIrregular else { return [] }
            reportedIrregular = true
            return [
                .emit(.note("not a regular file (a directory, device, FIFO or socket); not followed", refused: true))
            ]
        }
        step = .opening
        return [.open]
    }

    /// The whole file is read when it is opened (as history), whatever the stop flag says.
    mutating func opened(_ status: FileStatus?) -> [Action] {
        step = .idle
        guard let status, status.isRegular else { return [.close] }
        reportedIrregular = false
        reportedMissing = false
        file = Open(device: status.device, inode: status.inode)
        replaying = true
        return nextRead(Drain(final: true))
    }

    // MARK: Reads

    mutating func nextRead(_ drain: Drain) -> [Action] {
        guard let f = file, drain.reads < drain.limit else { return endDrain(drain) }
        var d = drain
        d.reads += 1
        step = .reading(d)
        return [.read(at: f.offset, first: d.reads == 1, final: d.final)]
    }

    mutating func endDrain(_ drain: Drain) -> [Action] {
        step = .idle
        switch drain.then {
        case .nothing: return []
        case .replaced(let path):
            file = nil
            let note = path == nil ? "removed; waiting for it" : "replaced (rotation or atomic rename)"
            reportedMissing = path == nil
            return [.close] + dropPartial("partial last line of a file that was replaced or removed")
                + [.emit(.note(note, refused: false))] + follow(path)
        case .finish:
            file = nil
            return [.close] + dropPartial("partial last line at shutdown")
        }
    }

    /// Takes the bytes of one read: remembered for the checks, split into lines (handed on as one batch),
    /// a partial last line kept.
    mutating func accept(_ bytes: [UInt8]) -> [Action] {
        guard var f = file else { return [] }
        file = nil  // `f` alone holds the windows: appending to them copies nothing
        f.offset += bytes.count
        if f.head.count < window { f.head.append(contentsOf: bytes.prefix(window - f.head.count)) }
        f.tail.append(contentsOf: bytes.suffix(window))
        if f.tail.count > window { f.tail.removeFirst(f.tail.count - window) }
        file = f
        var lines: [ArraySlice<UInt8>] = []
        var start = 0
        for i in bytes.indices where bytes[i] == UInt8(ascii: "\n") {
            if skippingLongLine {
                skippingLongLine = false
            } else {
                partial.append(contentsOf: bytes[start..<i])
                var line = partial[...]
                if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
                if !line.isEmpty { lines.append(line) }
            }
            partial.removeAll(keepingCapacity: true)
            start = i + 1
        }
        if !skippingLongLine { partial.append(contentsOf: bytes[start...]) }
        var actions: [Action] = lines.isEmpty ? [] : [.emit(.lines(lines, replay: replaying))]
        if partial.count > maxLineLength {
            let why = "line over \(maxLineLength) bytes without a newline; skipped to the next line"
            actions.append(.emit(.discarded(why, bytes: partial.count)))
            partial.removeAll()
            skippingLongLine = true
        }
        return actions
    }

    // MARK: Checks

    func readBack(_ f: Open) -> Action {
        .readBack(headCount: f.head.count, tailOffset: f.offset - f.tail.count, tailCount: f.tail.count)
    }

    /// Whether the file still holds, at the same places, the first and the last bytes read from it. A read
    /// error cannot tell: it counts as yes (the next wake-up checks again).
    func holds(head: [UInt8]?, tail: [UInt8]?) -> Bool {
        guard let f = file else { return true }
        func same(_ got: [UInt8]?, _ expected: [UInt8]) -> Bool {
            guard let got else { return true }
            guard got.count >= expected.count else { return false }
            // memcmp: a byte-wise loop over two 64 KiB windows per read is slow in a debug build.
            return got.withUnsafeBytes { g in
                expected.withUnsafeBytes { e in e.isEmpty || memcmp(g.baseAddress!, e.baseAddress!, e.count) == 0 }
            }
        }
        return same(head, f.head) && same(tail, f.tail)
    }

    /// Reads the file again from its start, as history.
    mutating func restart(_ what: String) -> [Action] {
        file?.offset = 0
        file?.head.removeAll(keepingCapacity: true)
        file?.tail.removeAll(keepingCapacity: true)
        file?.settled = nil
        replaying = true
        return dropPartial("partial last line of a file that was \(what)")
            + [.emit(.note("\(what); reading from the start", refused: false))]
    }

    mutating func dropPartial(_ why: String) -> [Action] {
        defer {
            partial.removeAll()
            skippingLongLine = false
        }
        return partial.isEmpty ? [] : [.emit(.discarded(why, bytes: partial.count))]
    }
}
