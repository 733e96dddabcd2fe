import Foundation

/// Real block headers with their hashes (Tests/Fixtures/block-headers.json, taken from Bitcoin Core's
/// test data and mainnet block 413567), shared by the test targets.
public struct HeaderFixture: Decodable, Sendable, CustomStringConvertible {
    public let name: String
    /// 160 hex digits, serialized byte order.
    public let header: String
    /// Bitcoin display order.
    public let hash: String
    public var description: String { name }

    public static let all: [HeaderFixture] = {
        struct File: Decodable { let headers: [HeaderFixture] }
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/block-headers.json")
        // A missing fixture is a broken checkout: fail loudly.
        return try! JSONDecoder().decode(File.self, from: Data(contentsOf: url)).headers
    }()
}
