import Chain
import Foundation
import Logging
import Mining
import NodeRPC
import SHA256
import Synchronization
import TestSupport
import Testing
import WorkSources

func permissions(_ path: String) throws -> Int {
    try #require(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
}

@Suite("Faults: node hiccups are retried, no solved block is lost", .serialized)
struct FaultTests {
    /// Before: the next record was appended right after the torn bytes, on the same line, and was lost
    /// with them.
    @Test func tornLastLineDoesNotSwallowTheNextRecord() throws {
        let journal = BlockJournal(path: tempPath("journal"))
        try journal.recordSolved(hash: "aa", height: 1, hex: "00ff")
        try appendRaw(#"{"event":"solved","hash":"bb","height":2,"hex":"00"#, to: journal.path)  // crash mid-write
        try journal.recordSolved(hash: "cc", height: 3, hex: "abcd")
        var (blocks, skipped) = try journal.pending()
        #expect(blocks.map(\.hash) == ["aa", "cc"])
        #expect(blocks.last?.hex == "abcd" && blocks.last?.height == 3)
        #expect(skipped == 1)
        // A verdict after a torn line counts too.
        try appendRaw(#"{"event":"submitted","hash":"a"#, to: journal.path)
        try journal.recordSubmitted(hash: "aa", result: .accepted)
        (blocks, skipped) = try journal.pending()
        #expect(blocks.map(\.hash) == ["cc"])
        #expect(skipped == 2)
        // A damaged number is skipped (range-checked), never trapped on.
        try appendRaw(#"{"event":"solved","hash":"dd","height":1e300,"hex":"00"}"# + "\n", to: journal.path)
        #expect(try journal.pending().skippedLines == 3)
    }

    /// Cut a journal at any byte (a crash, a full disk), append a record: the record and every line
    /// completed before the cut are read back, and at most the one torn line is skipped.
    @Test func journalCutAtAnyByteKeepsTheNextRecord() throws {
        var rng = SeededRNG()
        let whole = BlockJournal(path: tempPath("journal"))
        for i in 0..<4 { try whole.recordSolved(hash: "h\(i)", height: i, hex: "00ff\(i)\(i)") }
        let bytes = try #require(FileManager.default.contents(atPath: whole.path))
        let ends = bytes.indices.filter { bytes[$0] == UInt8(ascii: "\n") }  // end of each record's JSON
        for _ in 0..<40 {
            let cut = Int.random(in: 0...bytes.count, using: &rng)
            let journal = BlockJournal(path: tempPath("journal"))
            #expect(FileManager.default.createFile(atPath: journal.path, contents: bytes.prefix(cut)))
            try journal.recordSolved(hash: "new", height: 9, hex: "beef")
            let (blocks, skipped) = try journal.pending()
            let complete = ends.filter { $0 <= cut }.count
            let starts = [0] + ends.map { $0 + 1 }
            let torn = zip(starts, ends).contains { start, end in cut > start && cut < end }
            #expect(blocks.map(\.hash) == (0..<complete).map { "h\($0)" } + ["new"], "cut at \(cut), seed \(rng.seed)")
            #expect(skipped == (torn ? 1 : 0), "cut at \(cut), seed \(rng.seed)")
        }
    }

    @Test func journalAndRescueFilesAreMode0600() throws {
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let journal = BlockJournal(path: dir + "/sub/journal.jsonl", rescueDirectory: dir + "/rescue")
        try journal.recordSolved(hash: "aa", height: 1, hex: "00")
        #expect(try permissions(journal.path) == 0o600)
        let rescued = try journal.rescue(hash: "aa", height: 1, hex: "00")
        #expect(try permissions(rescued) == 0o600)
        #expect(try BlockJournal(path: rescued).pending().blocks.map(\.hex) == ["00"])
    }
}

func appendRaw(_ text: String, to path: String) throws {
    let handle = try #require(FileHandle(forWritingAtPath: path))
    handle.seekToEndOfFile()
    handle.write(Data(text.utf8))
    try handle.close()
}
