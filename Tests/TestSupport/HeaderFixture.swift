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

/// Files under Tests/Fixtures.
public enum Fixtures {
    public static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures")

    public static func data(_ path: String) throws -> Data {
        try Data(contentsOf: directory.appendingPathComponent(path))
    }

    public static func json(_ path: String) throws -> Any {
        try JSONSerialization.jsonObject(with: data(path))
    }

    public static func text(_ path: String) throws -> String {
        String(decoding: try data(path), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// `../shared` beside the checkout (real data sets too large to copy into Tests/Fixtures), or nil when
/// this checkout has none. Tests that need it use `.enabled(if: SharedData.available)`, so the skip is
/// reported.
public enum SharedData {
    public static let directory = Fixtures.directory.deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("shared")

    public static var available: Bool { FileManager.default.fileExists(atPath: directory.path) }

    public static func path(_ relative: String) -> String { directory.appendingPathComponent(relative).path }
}
