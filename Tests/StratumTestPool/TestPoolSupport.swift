import Foundation

extension TestPool {
    package struct Share: Sendable, Hashable {
        package let user: String
        package let jobID: String
        package let extranonce2: String
        package let ntime: String
        package let nonce: String
        package let versionBits: String?
        package let version: UInt32
        package let difficulty: Double
        package let shareDifficulty: Double
        package let header: String
        package let hash: String
        package let isBlock: Bool
        /// The previous block's hash (display order).
        package let parent: String
        /// A block that extended the chain (its parent was the tip when it came).
        package let landed: Bool
    }

    package struct Stats: Sendable {
        package var accepted: [Share] = []
        package var rejected: [String] = []
        package var connections = 0
        package var subscribes: [[String]] = []
        package var authorizes: [String] = []
        package var pongs = 0
        package var configureRequests: [String] = []
        /// Blocks that extended the chain, oldest first (display order hashes).
        package var chain: [String] = []
    }

    /// Whether the journal at `path` has a `pool-block` record of this hash and header (read with
    /// Foundation's JSON parser, not the miner's code).
    func journaled(hash: String, header: String, in path: String) -> Bool {
        guard let data = FileManager.default.contents(atPath: path) else { return false }
        return data.split(separator: UInt8(ascii: "\n")).contains { line in
            guard let o = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else { return false }
            return o["event"] as? String == "pool-block" && o["hash"] as? String == hash
                && o["header"] as? String == header
        }
    }

    func create(_ path: String) -> FileHandle? {
        FileManager.default.createFile(atPath: path, contents: nil)
        return FileHandle(forWritingAtPath: path)
    }
}
