import Foundation

/// Real block headers with their hashes (Tests/Fixtures/block-headers.json, taken from Bitcoin Core's
/// test data and mainnet block 413567).
struct HeaderFixture: Decodable, Sendable, CustomStringConvertible {
    let name: String
    let header: String
    let hash: String
    var description: String { name }

    static let all: [HeaderFixture] = {
        struct File: Decodable { let headers: [HeaderFixture] }
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/block-headers.json")
        // A missing fixture is a broken checkout: fail loudly.
        return try! JSONDecoder().decode(File.self, from: Data(contentsOf: url)).headers
    }()
}
