import Foundation

extension TestPool {
    public struct Share: Sendable, Hashable {
        public let user: String
        public let jobID: String
        public let extranonce2: String
        public let ntime: String
        public let nonce: String
        public let versionBits: String?
        public let version: UInt32
        public let difficulty: Double
        public let shareDifficulty: Double
        public let header: String
        public let hash: String
        public let isBlock: Bool
        /// The previous block's hash (display order).
        public let parent: String
        /// A block that extended the chain (its parent was the tip when it came).
        public let landed: Bool
    }

    public struct Stats: Sendable {
        public var accepted: [Share] = []
        public var rejected: [String] = []
        public var connections = 0
        public var subscribes: [[String]] = []
        public var authorizes: [String] = []
        public var pongs = 0
        public var configureRequests: [String] = []
        /// Blocks that extended the chain, oldest first (display order hashes).
        public var chain: [String] = []
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
