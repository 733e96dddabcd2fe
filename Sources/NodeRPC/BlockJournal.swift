import Foundation

/// An append-only journal of solved blocks, so that no block is lost to a crash or an unreachable
/// node. Each solved block is appended (and fsync'd) *before* it is submitted; the node's verdict is
/// appended afterwards. Blocks without a verdict are "pending" and `flexminer submit --journal`
/// submits them again.
///
/// Format: JSON lines, `{"event":"solved","hash":…,"height":…,"hex":…,"time":…}` and
/// `{"event":"submitted","hash":…,"result":…,"time":…}`.
public final class BlockJournal: Sendable {
    public let path: String

    public struct Entry: Sendable, Hashable {
        public let hash: String
        public let height: Int
        public let hex: String
    }

    public init(path: String) {
        self.path = path
    }

    /// Appends the solved block and fsyncs before returning.
    /// - Throws: `JournalError` naming the path when it cannot write.
    public func recordSolved(hash: String, height: Int, hex: String) throws(JournalError) {
        try append([
            "event": "solved", "hash": hash, "height": height, "hex": hex, "time": Date().timeIntervalSince1970,
        ])
    }

    /// Appends the node's verdict for `hash`.
    public func recordSubmitted(hash: String, result: SubmitResult) throws(JournalError) {
        try append([
            "event": "submitted", "hash": hash, "result": result.description, "time": Date().timeIntervalSince1970,
        ])
    }

    /// Solved blocks without a verdict, in the order they were solved. Lines that cannot be parsed (a
    /// write cut short by a crash) are skipped and counted.
    public func pending() throws(JournalError) -> (blocks: [Entry], skippedLines: Int) {
        guard FileManager.default.fileExists(atPath: path) else { return ([], 0) }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw JournalError("cannot read the journal \(path)")
        }
        var solved: [Entry] = []
        var done = Set<String>()
        var skipped = 0
        for line in data.split(separator: UInt8(ascii: "\n")) where !line.isEmpty {
            guard let o = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any],
                let event = o["event"] as? String, let hash = o["hash"] as? String
            else {
                skipped += 1
                continue
            }
            if event == "solved", let height = (o["height"] as? NSNumber)?.intValue, let hex = o["hex"] as? String {
                solved.append(Entry(hash: hash, height: height, hex: hex))
            } else if event == "submitted" {
                done.insert(hash)
            } else {
                skipped += 1
            }
        }
        return (solved.filter { !done.contains($0.hash) }, skipped)
    }

    private func append(_ object: [String: Any]) throws(JournalError) {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else {
            throw JournalError("cannot encode a journal line")
        }
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        guard fd >= 0 else {
            throw JournalError("cannot open the journal \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        let bytes = Array(data) + [UInt8(ascii: "\n")]
        let written = bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count, fsync(fd) == 0 else {
            throw JournalError("cannot write the journal \(path): \(String(cString: strerror(errno)))")
        }
    }
}

public struct JournalError: Error, Hashable, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
