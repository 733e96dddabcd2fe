import Foundation
import LoadController
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The followed-file reader driven by hand, so that each timing of a rewrite is exact: between two
/// wake-ups, in the middle of a read, several between two wake-ups, the same bytes written again.
@Suite("Followed-file reader: every timing of a rewrite", .serialized)
struct FollowedFileReaderTests {
    /// What the reader handed on.
    final class Seen {
        var batches: [(lines: [String], replay: Bool)] = []
        var notes: [String] = []
        var discarded: [String] = []
        /// Every line, in order, with whether it came as history.
        var lines: [(String, Bool)] { batches.flatMap { b in b.lines.map { ($0, b.replay) } } }
        func reset() {
            batches = []
            notes = []
            discarded = []
        }
    }

    func reader(_ path: String, chunkSize: Int = 64 * 1024, window: Int? = nil) -> (FollowedFileReader, Seen) {
        let seen = Seen()
        let r = FollowedFileReader(path: path, maxLineLength: 64 * 1024, chunkSize: chunkSize, window: window) {
            switch $0 {
            case .lines(let lines, let replay):
                seen.batches.append((lines.map { String(decoding: $0, as: UTF8.self) }, replay))
            case .discarded(let why, _): seen.discarded.append(why)
            case .note(let text, _): seen.notes.append(text)
            }
        }
        return (r, seen)
    }

    func write(_ path: String, _ text: String, truncate: Bool = true) {
        let fd = open(path, O_WRONLY | O_CREAT | (truncate ? O_TRUNC : 0), 0o600)
        precondition(fd >= 0)
        _ = Array(text.utf8).withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    func append(_ path: String, _ text: String) {
        let fd = open(path, O_WRONLY | O_APPEND)
        precondition(fd >= 0)
        _ = Array(text.utf8).withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    @Test func appendsAreNeverTakenForRewrites() {
        let path = scratchDirectory() + "/f"
        write(path, "a0\n")
        let (r, seen) = reader(path)
        r.check()
        #expect(seen.lines.map(\.0) == ["a0"])
        #expect(seen.lines.allSatisfy { $0.1 })  // read from the start: history
        seen.reset()
        for i in 1...300 {
            append(path, "a\(i)\n")
            if i % 3 == 0 { r.check() }
            if i % 7 == 0 { append(path, "part") }  // a partial line, finished by the next append
            if i % 7 == 0 { r.check() }
        }
        r.check()
        #expect(seen.notes.isEmpty, "\(seen.notes)")
        #expect(seen.lines.allSatisfy { !$0.1 }, "appended lines are live, never history")
        #expect(seen.lines.count == 300)
    }

    @Test(arguments: [2, 5, 9])
    func aRewriteBetweenTwoWakeUpsIsReadFromTheStart(newLength: Int) {
        // The old content is 5 bytes; the new one is shorter, as long, or longer.
        let path = scratchDirectory() + "/f"
        write(path, "old1\n")
        let (r, seen) = reader(path)
        r.check()
        seen.reset()
        let new = String(repeating: "n", count: newLength - 1) + "\n"
        write(path, new)  // truncate, then write: in one go between two wake-ups
        r.check()
        #expect(seen.lines.map(\.0) == [String(new.dropLast())])
        #expect(seen.lines.allSatisfy { $0.1 }, "a rewritten file is history")
    }

    @Test func aRewriteWithoutTrailingNewlineWaitsForItsNewline() {
        let path = scratchDirectory() + "/f"
        write(path, "old-partial")
        let (r, seen) = reader(path)
        r.check()
        #expect(seen.lines.isEmpty)
        write(path, "new-partial-longer")
        r.check()
        #expect(seen.lines.isEmpty)
        #expect(seen.discarded.contains { $0.contains("rewritten in place") }, "\(seen.discarded)")
        append(path, "\n")
        r.check()
        #expect(seen.lines.map(\.0) == ["new-partial-longer"])
    }

    @Test func severalRewritesBetweenTwoWakeUpsLeaveTheLastContent() {
        let path = scratchDirectory() + "/f"
        write(path, "first line\n")
        let (r, seen) = reader(path)
        r.check()
        seen.reset()
        for text in ["a much longer second content\n", "short\n", "equal len\n", "last one\nand two\n"] {
            write(path, text)
        }
        r.check()
        #expect(seen.lines.map(\.0) == ["last one", "and two"])
        #expect(seen.lines.allSatisfy { $0.1 })
    }

    @Test func aRewriteDuringAReadIsNeverSplicedOntoTheOldContent() {
        // Small reads, and the file rewritten after the second: the bytes read so far are thrown away
        // unless they were complete lines, and the new content is read from its start.
        let path = scratchDirectory() + "/f"
        let old = (0..<20).map { "old-\($0)\n" }.joined()
        write(path, old)
        let (r, seen) = reader(path, chunkSize: 8, window: 64)
        var reads = 0
        let new = (0..<30).map { "new-line-\($0)\n" }.joined()
        r.betweenReads = {
            reads += 1
            if reads == 2 { write(path, new) }
        }
        r.check()
        let oldLines = Set(old.split(separator: "\n").map(String.init))
        let newLines = new.split(separator: "\n").map(String.init)
        for (line, _) in seen.lines {
            #expect(oldLines.contains(line) || newLines.contains(line), "a spliced line: \(line)")
        }
        // It ends with the whole new content, as history, in order.
        let tail = Array(seen.lines.suffix(newLines.count))
        #expect(tail.map(\.0) == newLines)
        #expect(tail.allSatisfy { $0.1 })
        #expect(seen.notes.contains { $0.contains("while it was read") }, "\(seen.notes)")
    }

    @Test func theSameBytesWrittenAgainAreReadAgain() {
        let path = scratchDirectory() + "/f"
        write(path, "price 10\n")
        let (r, seen) = reader(path)
        r.check()
        seen.reset()
        r.check()
        #expect(seen.lines.isEmpty, "nothing changed, nothing read")
        usleep(20_000)  // a later tick of the file system's clock
        write(path, "price 10\n")
        r.check()
        #expect(seen.lines.map(\.0) == ["price 10"])
        #expect(seen.lines.allSatisfy { $0.1 })
    }

    @Test func aTruncationSeenBeforeTheWriteStillGetsTheNewLine() {
        let path = scratchDirectory() + "/f"
        write(path, "old line\n")
        let (r, seen) = reader(path)
        r.check()
        seen.reset()
        write(path, "")
        r.check()  // between the truncation and the write
        write(path, "new line\n", truncate: false)
        r.check()
        #expect(seen.lines.map(\.0) == ["new line"])
    }

    @Test func aRewriteBeyondTheWindowsInTheMiddleOnlyIsSeenByItsTime() {
        // A long file whose middle changes, length and both ends kept: the window cannot see it, the time can.
        let path = scratchDirectory() + "/f"
        let lines = (0..<200).map { "line-\(String(format: "%03d", $0))\n" }
        write(path, lines.joined())
        let (r, seen) = reader(path, window: 64)
        r.check()
        seen.reset()
        usleep(20_000)
        var changed = lines
        changed[100] = "LINE-100\n"
        write(path, changed.joined())
        r.check()
        #expect(seen.lines.map(\.0).contains("LINE-100"))
    }
}
