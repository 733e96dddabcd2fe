import Foundation
import OpenADR2b
import Testing

/// Every message FlexMiner sends, checked by `xmllint` against the official `oadr_20b.xsd` (fetched by
/// `scripts/oadr2b-schema`, never committed). Skipped, saying why, when the schema or xmllint is absent.
@Suite("OpenADR 2.0b messages against the official schema")
struct SchemaTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static var schema: String? {
        let dir =
            ProcessInfo.processInfo.environment["FLEXMINER_OADR2B_SCHEMA_DIR"]
            ?? root.appendingPathComponent(".build/oadr2b-schema").path
        let path = dir + "/openleadr-0.5.36/openleadr/schema/oadr_20b.xsd"
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }

    static var xmllint: String? {
        let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":")
        return dirs.map { "\($0)/xmllint" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static var ready: Bool { schema != nil && xmllint != nil }

    @Test(
        "every message validates against oadr_20b.xsd",
        .enabled(if: ready, "needs xmllint (libxml2-utils) and the schema: run scripts/oadr2b-schema"))
    func validates() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("oadr2b-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        for (i, (name, xml)) in MessageTests.all.enumerated() {
            let file = scratch.appendingPathComponent("\(i)-\(name).xml")
            try xml.write(to: file, atomically: true, encoding: .utf8)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: Self.xmllint!)
            p.arguments = ["--noout", "--nonet", "--schema", Self.schema!, file.path]
            let err = Pipe()
            p.standardError = err
            p.standardOutput = FileHandle.nullDevice
            try p.run()
            let output = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            #expect(p.terminationStatus == 0, "\(name) does not validate:\n\(output)\n\(xml)")
        }
    }
}
