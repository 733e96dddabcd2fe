import FlexSupport
import Foundation
import SHA256

/// An append-only journal of solved blocks, so that no block is lost to a crash or an unreachable
/// node. Each solved block is appended (and fsync'd) *before* it is submitted; the node's verdict is
/// appended afterwards. Blocks without a verdict are "pending" and `flexminer submit --journal`
/// submits them again.
///
/// Format: JSON lines, `{"event":"solved","hash":…,"height":…,"hex":…,"time":…}` and
/// `{"event":"submitted","hash":…,"result":…,"time":…}`; a block found as a pool share is a
/// `{"event":"pool-block",…}` record (see `PoolBlock`), followed by the pool's verdict.
///
/// Durability: the file is created mode 0600 and its directory fsync'd on creation (so the file
/// itself survives a power cut); every record is fsync'd. A record cut short by a crash or a full disk
/// leaves a torn last line: the next append starts on a new line, so the torn one is skipped on
/// reading and never swallows the record after it.
package final class BlockJournal: Sendable {
    package let path: String
    /// Where `rescue` writes a block when the journal itself cannot be written: `$TMPDIR` (or `/tmp`)
    /// by default, which is often another file system than a full or read-only journal's.
    package let rescueDirectory: String

    package struct Entry: Sendable, Hashable {
        package let hash: String
        package let height: Int
        package let hex: String
    }

    package init(path: String, rescueDirectory: String = BlockJournal.defaultRescueDirectory) {
        self.path = path
        self.rescueDirectory = rescueDirectory
    }

    /// `$TMPDIR` when set, else `/tmp`.
    package static var defaultRescueDirectory: String {
        let tmp = ProcessInfo.processInfo.environment["TMPDIR"] ?? ""
        return tmp.isEmpty ? "/tmp" : tmp
    }

    /// Opens (creating if needed) the journal without writing to it, so that a path that cannot be
    /// a journal (a missing or read-only directory, a path under a regular file) is refused before
    /// any work is done.
    /// - Throws: `JournalError` naming the path.
    package func prepare() throws(JournalError) {
        let fd = try openForAppend()
        close(fd)
    }

    /// Appends the solved block and fsyncs before returning.
    /// - Throws: `JournalError` naming the path when it cannot write.
    package func recordSolved(hash: String, height: Int, hex: String) throws(JournalError) {
        try append(Self.solvedRecord(hash: hash, height: height, hex: hex))
    }

    /// Appends the node's verdict for `hash`.
    package func recordSubmitted(hash: String, result: SubmitResult) throws(JournalError) {
        try append([
            "event": "submitted", "hash": hash, "result": result.description, "time": Date().timeIntervalSince1970,
        ])
    }

    /// A block found as a pool share: what the miner holds of it. The pool holds the other transactions,
    /// so it cannot be resubmitted to a node; the record is the evidence (header, coinbase, branch) and
    /// the pool's verdict follows as a `submitted` record.
    package struct PoolBlock: Sendable, Hashable {
        package var hash: String
        /// From the coinbase's BIP34 push; nil when it cannot be read.
        package var height: Int?
        package var header: [UInt8]
        package var coinbase: [UInt8]
        package var merkleBranch: [[UInt8]]
        package var pool: String
        package var jobID: String
        package var extranonce2: [UInt8]

        package init(
            hash: String, height: Int?, header: [UInt8], coinbase: [UInt8], merkleBranch: [[UInt8]], pool: String,
            jobID: String, extranonce2: [UInt8]
        ) {
            self.hash = hash
            self.height = height
            self.header = header
            self.coinbase = coinbase
            self.merkleBranch = merkleBranch
            self.pool = pool
            self.jobID = jobID
            self.extranonce2 = extranonce2
        }

        /// `{"event":"pool-block","hash","height","header","coinbase","merkle_branch","pool","job_id",
        /// "extranonce2","time"}` (hex strings).
        var record: [String: Any] {
            [
                "event": "pool-block", "hash": hash, "height": height ?? NSNull(), "header": Hex.encode(header),
                "coinbase": Hex.encode(coinbase), "merkle_branch": merkleBranch.map { Hex.encode($0) }, "pool": pool,
                "job_id": jobID, "extranonce2": Hex.encode(extranonce2), "time": Date().timeIntervalSince1970,
            ]
        }
    }

    /// Appends a block found as a pool share and fsyncs before returning (before the share is sent).
    /// - Throws: `JournalError` naming the path when it cannot write.
    package func recordPoolBlock(_ block: PoolBlock) throws(JournalError) {
        try append(block.record)
    }

    /// Saves a pool block that the journal could not take, in `flexminer-rescued-pool-<hash>.jsonl` in
    /// `rescueDirectory` (mode 0600, fsync'd).
    /// - Returns: the rescue file's path.
    /// - Throws: `JournalError` naming the rescue file (the caller then logs the record in full).
    package func rescue(_ block: PoolBlock) throws(JournalError) -> String {
        let file = rescueFile(name: "flexminer-rescued-pool-\(Self.fileSafe(block.hash)).jsonl")
        try file.recordPoolBlock(block)
        return file.path
    }

    private func rescueFile(name: String) -> BlockJournal {
        BlockJournal(path: (rescueDirectory as NSString).appendingPathComponent(name), rescueDirectory: rescueDirectory)
    }

    /// Only the letters and digits of a hash go into a file name.
    private static func fileSafe(_ hash: String) -> String {
        String(hash.filter { $0.isASCII && ($0.isLetter || $0.isNumber) }.prefix(64))
    }

    /// Saves a solved block that the journal could not take: a one-block journal
    /// `flexminer-rescued-<height>-<hash>.jsonl` in `rescueDirectory` (mode 0600, fsync'd), which
    /// `flexminer submit --journal PATH` submits like any journal.
    /// - Returns: the rescue file's path.
    /// - Throws: `JournalError` naming the rescue file when it cannot be written either (the caller
    ///   then prints the hex in full: it is the last copy).
    package func rescue(hash: String, height: Int, hex: String) throws(JournalError) -> String {
        let file = rescueFile(name: "flexminer-rescued-\(height)-\(Self.fileSafe(hash)).jsonl")
        try file.recordSolved(hash: hash, height: height, hex: hex)
        return file.path
    }

    /// Solved blocks without a verdict, in the order they were solved (each hash once). Lines that
    /// cannot be parsed (a write cut short by a crash or a full disk) are skipped and counted.
    package func pending() throws(JournalError) -> (blocks: [Entry], skippedLines: Int) {
        var info = stat()
        guard stat(path, &info) == 0 else {
            if errno == ENOENT { return ([], 0) }
            throw JournalError("cannot read the journal \(path): \(DurableWrite.lastError())")
        }
        // Only a regular file holds blocks; reading a device such as /dev/full or /dev/zero never ends.
        switch info.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFCHR: return ([], 0)
        default: throw JournalError("the journal \(path) is not a regular file")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw JournalError("cannot read the journal \(path)")
        }
        var solved: [Entry] = []
        var seen = Set<String>()
        var done = Set<String>()
        var skipped = 0
        for line in data.split(separator: UInt8(ascii: "\n")) where !line.isEmpty {
            guard let record = Self.parse(line) else {
                skipped += 1
                continue
            }
            switch record {
            case .poolBlock:
                continue  // not the node's to take: the pool holds its transactions
            case .solved(let entry):
                if seen.insert(entry.hash).inserted { solved.append(entry) }
            case .submitted(let hash):
                done.insert(hash)
            }
        }
        return (solved.filter { !done.contains($0.hash) }, skipped)
    }

    enum Record {
        case solved(Entry)
        case poolBlock(hash: String)
        case submitted(hash: String)
    }

    /// One journal line, or nil when it is not a complete record (torn, or not ours).
    static func parse(_ line: some DataProtocol) -> Record? {
        guard let f = try? JSONFields(json: line, what: "journal line"),
            let event = try? f.requiredString("event"), let hash = try? f.requiredString("hash"), !hash.isEmpty
        else { return nil }
        switch event {
        case "solved":
            // Range-checked: a damaged height must not trap the resubmission of the other blocks.
            guard let height = try? f.requiredInteger("height", in: 0...Int(Int32.max)),
                let hex = try? f.requiredString("hex"), !hex.isEmpty, hex.utf8.count.isMultiple(of: 2),
                hex.allSatisfy(\.isHexDigit)
            else { return nil }
            return .solved(Entry(hash: hash, height: height, hex: hex))
        case "submitted":
            return .submitted(hash: hash)
        case "pool-block":
            return .poolBlock(hash: hash)
        default:
            return nil
        }
    }

    static func solvedRecord(hash: String, height: Int, hex: String) -> [String: Any] {
        ["event": "solved", "hash": hash, "height": height, "hex": hex, "time": Date().timeIntervalSince1970]
    }

    private func append(_ object: [String: Any]) throws(JournalError) {
        guard let line = JSONLine.fileLine(object) else { throw JournalError("cannot encode a journal line") }
        let fd = try openForAppend()
        defer { close(fd) }
        var bytes = line
        // A torn last line (a crash or a full disk mid-write) must not swallow this record: start a
        // new line. Reading one byte keeps this cheap whatever the journal's size.
        var info = stat()
        if fstat(fd, &info) == 0, info.st_size > 0 {
            var last: UInt8 = 0
            if pread(fd, &last, 1, off_t(info.st_size - 1)) == 1, last != UInt8(ascii: "\n") {
                bytes.insert(UInt8(ascii: "\n"), at: 0)
            }
        }
        do { try DurableWrite.all(fd: fd, bytes) } catch {
            throw JournalError("cannot write the journal \(path): \(error)")
        }
        // EINVAL: a special file that cannot be synced (a character device); the write itself succeeded.
        guard fsync(fd) == 0 || errno == EINVAL else {
            throw JournalError("cannot fsync the journal \(path): \(DurableWrite.lastError())")
        }
    }

    /// Opens the journal for appending; when this creates it, mode 0600 and its directory fsync'd.
    private func openForAppend() throws(JournalError) -> Int32 {
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        // O_RDWR: the last byte is read to detect a torn line.
        var fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC)
        if fd < 0 && errno == ENOENT {
            fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            if fd >= 0 {
                // The file's directory entry is only durable once the directory is synced.
                if !DurableWrite.syncDirectory(of: path) {
                    let reason = DurableWrite.lastError()
                    close(fd)
                    throw JournalError("cannot fsync the directory of the journal \(path): \(reason)")
                }
            } else if errno == EEXIST {
                fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC)  // created meanwhile by another writer
            }
        }
        guard fd >= 0 else { throw JournalError("cannot open the journal \(path): \(DurableWrite.lastError())") }
        // A FIFO would block once its buffer is full, with a solved block in hand: refuse it up front.
        // (A character device is let through: /dev/full fails its writes, which the caller handles.)
        var info = stat()
        if fstat(fd, &info) == 0, info.st_mode & S_IFMT != S_IFREG, info.st_mode & S_IFMT != S_IFCHR {
            close(fd)
            throw JournalError("the journal \(path) is not a regular file")
        }
        return fd
    }
}

package struct JournalError: Error, Hashable, Sendable, CustomStringConvertible {
    package let message: String
    package init(_ message: String) { self.message = message }
    package var description: String { message }
}

/// Whole writes and directory syncs for the files that hold solved blocks (the journal, block files).
package enum DurableWrite {
    /// Why a write stopped (`strerror`, e.g. "No space left on device").
    package struct Failure: Error, CustomStringConvertible {
        package let description: String
    }

    /// Writes every byte, resuming after short writes and EINTR.
    package static func all(fd: Int32, _ bytes: [UInt8]) throws(Failure) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw Failure(description: n == 0 ? "nothing written" : lastError()) }
            offset += n
        }
    }

    /// fsyncs the directory holding `path`. Returns false when it cannot be opened or synced.
    package static func syncDirectory(of path: String) -> Bool {
        let dir = (path as NSString).deletingLastPathComponent
        return syncDirectory(dir.isEmpty ? "." : dir)
    }

    /// fsyncs `directory`. Returns false when it cannot be opened or synced.
    package static func syncDirectory(_ directory: String) -> Bool {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return fsync(fd) == 0 || errno == EINVAL  // some file systems cannot sync a directory
    }

    package static func lastError() -> String { String(cString: strerror(errno)) }
}
