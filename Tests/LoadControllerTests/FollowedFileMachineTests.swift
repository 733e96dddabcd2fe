import LoadController
import Testing

/// The followed-file reader's state machine, fed tables of events; no files, no system calls, no sleeps.
/// The file system's answers are written in each table, so every timing of a rewrite is exact.
@Suite struct FollowedFileMachineTests {
    typealias Machine = FollowedFileMachine
    typealias Status = FollowedFileMachine.FileStatus

    func status(inode: UInt = 1, size: Int, time: Int = 100, regular: Bool = true) -> Status {
        Status(device: 1, inode: inode, size: size, modified: .init(seconds: time), isRegular: regular)
    }

    func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    /// Takes the events in order and describes every action.
    func take(_ m: inout Machine, _ events: [Machine.Event]) -> [String] {
        events.flatMap { m.event($0) }.map(describe)
    }

    func describe(_ a: Machine.Action) -> String {
        switch a {
        case .emit(.lines(let lines, let replay)):
            "lines \(lines.map { String(decoding: $0, as: UTF8.self) })\(replay ? " (history)" : "")"
        case .emit(.discarded(let why, let n)): "discard \(n): \(why)"
        case .emit(.note(let text, let refused)): "note: \(text)\(refused ? " (refused)" : "")"
        case .open: "open"
        case .close: "close"
        case .read(let offset, let first, let final):
            "read at \(offset)\(first ? "" : " (between)")\(final ? " final" : "")"
        case .readBack(let h, let at, let t): "read back \(h) at 0, \(t) at \(at)"
        }
    }

    /// A machine with "a\nb\n" (4 bytes, inode 1) opened and read, and the read's end seen at time 100.
    func opened(maxLine: Int = 64, window: Int = 64) -> Machine {
        var m = Machine(maxLineLength: maxLine, window: window)
        _ = take(
            &m,
            [
                .wake(path: status(size: 4), open: nil), .opened(status(size: 4)), .read(bytes("a\nb\n")),
                .endOfFile(status(size: 4)),
            ])
        return m
    }

    @Test func missingThenOpenedReadsTheWholeFileAsHistory() {
        var m = Machine(maxLineLength: 64, window: 64)
        let table: [(Machine.Event, [String])] = [
            (.wake(path: nil, open: nil), ["note: does not exist (yet); waiting for it"]),
            (.wake(path: nil, open: nil), []),
            (.wake(path: status(size: 7), open: nil), ["open"]),
            (.opened(status(size: 7)), ["read at 0 final"]),
            (.read(bytes("x\r\n\ny\npa")), ["lines [\"x\", \"y\"] (history)", "read at 8 (between) final"]),
            (.endOfFile(status(size: 8)), []),
        ]
        for (event, expected) in table { #expect(take(&m, [event]) == expected, "\(event)") }
        #expect(m.isOpen)
    }

    @Test func appendsAreCheckedThenReadAsLive() {
        var m = opened()
        let table: [(Machine.Event, [String])] = [
            (.wake(path: status(size: 6), open: status(size: 6, time: 101)), ["read back 4 at 0, 4 at 0"]),
            (.readBack(head: bytes("a\nb\n"), tail: bytes("a\nb\n")), ["read at 4"]),
            (.read(bytes("c\n")), ["read back 4 at 0, 4 at 0"]),
            (.readBack(head: bytes("a\nb\n"), tail: bytes("a\nb\n")), ["lines [\"c\"]", "read at 6 (between)"]),
            (.endOfFile(status(size: 6, time: 101)), []),
        ]
        for (event, expected) in table { #expect(take(&m, [event]) == expected, "\(event)") }
    }

    @Test func truncatedRewrittenAndRewrittenAtTheSameLength() {
        var truncated = opened()
        #expect(
            take(&truncated, [.wake(path: status(size: 2), open: status(size: 2))]) == [
                "note: truncated; reading from the start", "read at 0",
            ])
        #expect(take(&truncated, [.read(bytes("z\n"))]) == ["lines [\"z\"] (history)", "read at 2 (between)"])

        var rewritten = opened()
        _ = take(&rewritten, [.wake(path: status(size: 4), open: status(size: 4))])
        #expect(
            take(&rewritten, [.readBack(head: bytes("q\nb\n"), tail: bytes("q\nb\n"))]) == [
                "note: rewritten in place; reading from the start", "read at 0",
            ])

        var sameLength = opened()
        _ = take(&sameLength, [.wake(path: status(size: 4), open: status(size: 4, time: 105))])
        #expect(
            take(&sameLength, [.readBack(head: bytes("a\nb\n"), tail: bytes("a\nb\n"))]) == [
                "note: rewritten in place (same length); reading from the start", "read at 0",
            ])

        // A read error cannot tell: the bytes count as still there.
        var unknown = opened()
        _ = take(&unknown, [.wake(path: status(size: 4), open: status(size: 4))])
        #expect(take(&unknown, [.readBack(head: nil, tail: nil)]) == ["read at 4"])
    }

    /// A rewrite that lands between two reads of one wake-up: the second read's bytes are not spliced onto
    /// the old content; the file is read again from its start.
    @Test func rewriteOvertakingARead() {
        var m = opened()
        _ = take(
            &m,
            [
                .wake(path: status(size: 8), open: status(size: 8)),
                .readBack(head: bytes("a\nb\n"), tail: bytes("a\nb\n")),
            ])
        #expect(take(&m, [.read(bytes("XY\n\n"))]) == ["read back 4 at 0, 4 at 0"])
        #expect(
            take(&m, [.readBack(head: bytes("XY\n"), tail: [])]) == [
                "note: rewritten in place while it was read; reading from the start", "read at 0 (between)",
            ])
        #expect(take(&m, [.read(bytes("XY\n\n"))]) == ["lines [\"XY\"] (history)", "read at 4 (between)"])
    }

    @Test func replacedOrRemovedKeepsTheOldFilesLastLines() {
        var m = opened()
        #expect(take(&m, [.wake(path: status(inode: 2, size: 3), open: status(size: 9))]) == ["read at 4"])
        _ = take(&m, [.read(bytes("c\npart"))])
        #expect(
            take(&m, [.readBack(head: bytes("a\nb\n"), tail: bytes("a\nb\n"))]) == [
                "lines [\"c\"]", "read at 10 (between)",
            ])
        #expect(
            take(&m, [.endOfFile(status(size: 10))]) == [
                "close", "discard 4: partial last line of a file that was replaced or removed",
                "note: replaced (rotation or atomic rename)", "open",
            ])
        #expect(take(&m, [.opened(status(inode: 2, size: 3))]) == ["read at 0 final"])

        var removed = opened()
        #expect(take(&removed, [.wake(path: nil, open: status(size: 4))]) == ["read at 4"])
        #expect(take(&removed, [.endOfFile(status(size: 4))]) == ["close", "note: removed; waiting for it"])
        #expect(take(&removed, [.wake(path: nil, open: nil)]) == [])
    }

    @Test func lineTooLongIsSkippedToItsNewline() {
        var m = Machine(maxLineLength: 4, window: 8)
        _ = take(&m, [.wake(path: status(size: 12), open: nil), .opened(status(size: 12))])
        #expect(
            take(&m, [.read(bytes("ok\nlonger"))]) == [
                "lines [\"ok\"] (history)",
                "discard 6: line over 4 bytes without a newline; skipped to the next line", "read at 9 (between) final",
            ])
        #expect(take(&m, [.read(bytes("xx\nz\n"))]).first == "read back 8 at 0, 8 at 1")
        #expect(
            take(&m, [.readBack(head: bytes("ok\nlonge"), tail: bytes("k\nlonger"))]) == [
                "lines [\"z\"] (history)", "read at 14 (between) final",
            ])
    }

    @Test func notARegularFileIsRefusedOnce() {
        var m = Machine(maxLineLength: 64, window: 64)
        let fifo = status(size: 0, regular: false)
        #expect(
            take(&m, [.wake(path: fifo, open: nil)]) == [
                "note: not a regular file (a directory, device, FIFO or socket); not followed (refused)"
            ])
        #expect(take(&m, [.wake(path: fifo, open: nil)]) == [])
        // Replaced by a FIFO between the stat and the open: closed, not read.
        #expect(take(&m, [.wake(path: status(size: 1), open: nil), .opened(fifo)]) == ["open", "close"])
        #expect(!m.isOpen)
    }

    /// A stop asked for ends the wake-up's reads; shutdown reads at most 16 more times, then closes.
    @Test func stopAndFinish() {
        var m = opened()
        _ = take(
            &m,
            [
                .wake(path: status(size: 4), open: status(size: 4)),
                .readBack(head: bytes("a\nb\n"), tail: bytes("a\nb\n")),
            ])
        #expect(take(&m, [.stopped]) == [])
        #expect(take(&m, [.read(bytes("c"))]) == [])  // an answer to nothing asked: ignored
        #expect(take(&m, [.finish]) == ["read at 4 final"])
        // Unknown read-backs (nil) count as the file still holding what was read.
        for i in 0..<15 {
            let next = take(&m, [.read(bytes("x")), .readBack(head: nil, tail: nil)])
            #expect(next.last == "read at \(5 + i) (between) final", "\(next)")
        }
        #expect(
            take(&m, [.read(bytes("x")), .readBack(head: nil, tail: nil)]) == [
                "read back 19 at 0, 19 at 0", "close", "discard 16: partial last line at shutdown",
            ])
        #expect(!m.isOpen)
    }
}
