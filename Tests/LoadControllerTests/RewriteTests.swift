import DemandResponse
import Foundation
import LoadController
import Testing

/// A followed file rewritten in place (`echo '{…}' > file`: truncated, then written) is read again from
/// its start and its current lines applied (as history, the replay rule), whatever the new length, with
/// or without a trailing newline, however the rewrite falls between the follower's reads.
@Suite("Followed files rewritten in place", .serialized)
struct RewriteTests {
    /// How the new content gets into the file.
    enum Style: String, CaseIterable, CustomStringConvertible {
        /// Written over the old bytes from offset 0, then cut to length (`dd conv=notrunc`, editors that
        /// save in place): the file is never shorter than what was read unless the new content is.
        case overwrite
        /// What the shell's `>` does: truncate, then write.
        case truncateThenWrite
        var description: String { rawValue }
    }

    static func rewrite(_ path: String, _ text: String, _ style: Style) {
        let bytes = Array(text.utf8)
        let fd = open(path, O_WRONLY | (style == .truncateThenWrite ? O_TRUNC : 0))
        precondition(fd >= 0, "open \(path): \(String(cString: strerror(errno)))")
        defer { close(fd) }
        let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        precondition(n == bytes.count)
        precondition(ftruncate(fd, off_t(bytes.count)) == 0)
    }

    /// A signal line of exactly `length` bytes with its newline (padded through an ignored field).
    static func line(_ json: String, length: Int, newline: Bool = true) -> String {
        let open = String(json.dropLast()) + #","pad":""#
        let fixed = open.utf8.count + 2 + (newline ? 1 : 0)
        precondition(length >= fixed, "\(json) cannot be \(length) bytes")
        return open + String(repeating: "p", count: length - fixed) + "\"}" + (newline ? "\n" : "")
    }

    struct Setup {
        let dir: String
        let path: String
        let log: DecisionLog
        let controller: LoadController
        let load: FakeLoad
        let follower: SignalFileFollower
        let notes: NoteCollector

        /// Decision log entries that refused a line (a splice of old and new content would be one); a
        /// partial line dropped with its file is reported too, but is no refused line.
        func refusals() -> [[String: Any]] {
            log.flush()
            return readLines(dir + "/d.jsonl").filter {
                $0["event"] as? String == "signal" && $0["ok"] as? Bool == false && $0["line"] != nil
            }
        }
    }

    func setup(initial: String) throws -> Setup {
        let dir = scratchDirectory()
        let path = dir + "/signals.jsonl"
        try Data(initial.utf8).write(to: URL(fileURLWithPath: path))
        let log = try DecisionLog(path: dir + "/d.jsonl")
        let load = FakeLoad()
        let c = LoadController(actuator: load, config: PolicyConfig(breakEvenUSDPerMWh: 50), log: log)
        c.start()
        let notes = NoteCollector()
        let f = try SignalFileFollower(path: path, controller: c, note: { notes.add($0) })
        return Setup(dir: dir, path: path, log: log, controller: c, load: load, follower: f, notes: notes)
    }

    @Test(arguments: [60, 80, 120], Style.allCases)
    func aRewriteBetweenTwoReadsIsApplied(newLength: Int, style: Style) throws {
        let s = try setup(initial: Self.line(#"{"type":"price","usd_per_mwh":10}"#, length: 80))
        defer { s.follower.stop() }
        #expect(eventually { s.follower.linesHandled == 1 })
        #expect(s.controller.status.price == 10)
        Self.rewrite(s.path, Self.line(#"{"type":"curtail","level":1,"id":"grid"}"#, length: newLength), style)
        #expect(eventually { s.load.isHalted }, "new content of \(newLength) bytes (the old had 80), \(style)")
        // Overwritten with shorter content, the file holds for a moment the new bytes and the old tail (a
        // reader then reads that file, refused line and all); otherwise it never holds a splice.
        if style == .truncateThenWrite || newLength >= 80 { #expect(s.refusals().isEmpty, "\(s.refusals())") }
    }

    @Test(arguments: Style.allCases)
    func aRewriteOfAFileWithoutItsLastNewlineIsApplied(style: Style) throws {
        // The old content is a partial line (no newline yet); the new one has its newline later.
        let s = try setup(initial: Self.line(#"{"type":"price","usd_per_mwh":10}"#, length: 50, newline: false))
        defer { s.follower.stop() }
        usleep(300_000)  // read, waiting for its newline
        Self.rewrite(s.path, Self.line(#"{"type":"curtail","level":1}"#, length: 70, newline: false), style)
        usleep(300_000)
        #expect(!s.load.isHalted, "a line without its newline waits for it")
        let fd = open(s.path, O_WRONLY | O_APPEND)
        #expect(write(fd, "\n", 1) == 1)
        close(fd)
        #expect(eventually { s.load.isHalted })
        #expect(s.refusals().isEmpty, "\(s.refusals())")
    }

    @Test(arguments: Style.allCases)
    func severalRewritesInARowEndWithTheLastContentApplied(style: Style) throws {
        let s = try setup(initial: Self.line(#"{"type":"price","usd_per_mwh":10}"#, length: 50))
        defer { s.follower.stop() }
        #expect(eventually { s.follower.linesHandled == 1 })
        // Twenty rewrites back to back, longer and shorter; the last holds two lines.
        for i in 0..<20 {
            Self.rewrite(
                s.path, Self.line(#"{"type":"price","usd_per_mwh":\#(20 + i)}"#, length: 45 + (i * 7) % 40), style)
        }
        Self.rewrite(
            s.path,
            Self.line(#"{"type":"price","usd_per_mwh":7}"#, length: 64)
                + Self.line(#"{"type":"curtail","level":0.5,"id":"last"}"#, length: 90), style)
        #expect(eventually { s.load.effective == 0.5 && s.controller.status.price == 7 })
        // Overwritten in place, the file holds for a moment the new content and the old one's tail (what a
        // reader then reads is that file); truncated first, it never holds a splice.
        if style == .truncateThenWrite { #expect(s.refusals().isEmpty, "\(s.refusals())") }
    }

    /// A long history being read when it is rewritten: whatever the moment, the new content is read from
    /// its start (its first line is applied) to its end (its last price and its curtailment).
    @Test func aRewriteDuringTheFirstReadOfALongFileIsApplied() throws {
        var old = ""
        for i in 0..<5_000 { old += Self.line(#"{"type":"price","usd_per_mwh":\#(i % 40)}"#, length: 48) }
        let s = try setup(initial: old)
        defer { s.follower.stop() }
        // The new content: a curtailment first (only a read from the start finds it), other line lengths,
        // a last price, then a curtailment straddling the old end.
        var new = Self.line(#"{"type":"curtail","level":0.5,"id":"head"}"#, length: 60)
        while new.utf8.count < old.utf8.count - 300 {
            new += Self.line(#"{"type":"price","usd_per_mwh":\#(new.utf8.count % 30)}"#, length: 51)
        }
        new += Self.line(#"{"type":"price","usd_per_mwh":12}"#, length: 51)
        new += Self.line(#"{"type":"curtail","level":1,"id":"late"}"#, length: 400)
        #expect(eventually { s.follower.linesHandled > 0 })
        Self.rewrite(s.path, new, .overwrite)
        // Debug builds on a loaded machine take seconds to replay the history twice.
        #expect(
            eventually(within: 60) {
                let status = s.controller.status
                return s.load.isHalted && status.price == 12 && status.curtailments.contains { $0.id == "head" }
            })
        print("rewrite during a read: notes \(s.notes.all), lines handled \(s.follower.linesHandled)")
        // No refusal is asserted here: a read that races the writer's own pwrite (a page at a time) can
        // take a torn line the file never held whole; the reader-level test covers splices exactly.
        print("rewrite during a read: \(s.refusals().count) refused lines")
    }

    /// The same bytes written again (a price re-sent as a heartbeat) count as a fresh read of the file.
    @Test(arguments: Style.allCases)
    func theSameContentWrittenAgainIsReadAgain(style: Style) throws {
        let text = Self.line(#"{"type":"price","usd_per_mwh":10}"#, length: 50)
        let s = try setup(initial: text)
        defer { s.follower.stop() }
        #expect(eventually { s.follower.linesHandled == 1 })
        usleep(20_000)  // a later tick of the file system's clock
        Self.rewrite(s.path, text, style)
        #expect(eventually { s.follower.linesHandled == 2 })
    }
}
