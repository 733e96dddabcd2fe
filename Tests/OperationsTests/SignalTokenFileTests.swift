import DemandResponse
import Foundation
import LoadController
import NIOPosix
import TestSupport
import Testing

/// `flexminer signal --token-file PATH`: the command sends the shared token the way a `tcp:` source with a
/// token expects it (the message's `"token"` field), read from a file and never printed.
@Suite("signal --token-file", .serialized)
struct SignalTokenFileTests {
    static let token = "s3cret-token-0123456789"

    func signal(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: flexminerBinary())
        p.arguments = ["signal"] + arguments
        let out = Pipe()
        let err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, stdout, stderr)
    }

    func tokenFile(_ dir: String, _ name: String, _ text: String, mode: Int = 0o600) throws -> String {
        let path = "\(dir)/\(name)"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
        return path
    }

    @Test func theTokenFromTheFileOpensATCPSourceWithAToken() async throws {
        let load = FakeLoad()
        let c = LoadController(actuator: load, config: PolicyConfig(breakEvenUSDPerMWh: 50))
        c.start()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = try await SignalSocketServer.start(
            .tcp(host: "127.0.0.1", port: 0), controller: c, token: Self.token, group: group)
        let target = "tcp:127.0.0.1:\(try #require(server.port))"
        let dir = scratchDirectory()
        let good = try tokenFile(dir, "token", Self.token + "\n")

        // Without the token, the listener refuses the line (exit 1, its reason printed).
        let refused = try signal([target, #"{"type":"curtail","level":1,"id":"t1"}"#])
        #expect(refused.status == 1)
        #expect(refused.stdout.contains("missing or wrong"), "\(refused.stdout)")
        #expect(!load.isHalted)

        // With it, the curtailment is obeyed; the token shows up nowhere in the output.
        let sent = try signal([target, #"{"type":"curtail","level":1,"id":"t1"}"#, "--token-file", good])
        #expect(sent.status == 0, "\(sent.stdout) \(sent.stderr)")
        #expect(decode(sent.stdout)["halted"] as? Bool == true)
        #expect(load.isHalted)
        #expect(!sent.stdout.contains(Self.token) && !sent.stderr.contains(Self.token))
        #expect(sent.stderr.isEmpty, "\(sent.stderr)")

        // A file others can read still works, with a warning that names it (not the token).
        let loose = try tokenFile(dir, "loose", Self.token, mode: 0o644)
        let warned = try signal([target, #"{"type":"release","id":"t1"}"#, "--token-file", loose])
        #expect(warned.status == 0)
        #expect(warned.stderr.contains("readable by its group or others"), "\(warned.stderr)")
        #expect(!warned.stderr.contains(Self.token))
        #expect(!load.isHalted)

        // A wrong token is refused by the listener, and not echoed.
        let wrong = try tokenFile(dir, "wrong", "not-the-token-0123456789")
        let bad = try signal([target, #"{"type":"status"}"#, "--token-file", wrong])
        #expect(bad.status == 1)
        #expect(!bad.stdout.contains("not-the-token"))

        // A missing, empty or short file is refused before anything is sent (exit 2), naming the file.
        let cases: [(String, String)] = [
            ("\(dir)/absent", "cannot read it"),
            (try tokenFile(dir, "empty", " \n"), "the file is empty"),
            (try tokenFile(dir, "short", "short"), "at least 16 characters"),
        ]
        for (path, reason) in cases {
            let r = try signal([target, #"{"type":"status"}"#, "--token-file", path])
            #expect(r.status == 2, "\(path): \(r.stdout) \(r.stderr)")
            #expect(r.stderr.contains("--token-file \(path)") && r.stderr.contains(reason), "\(r.stderr)")
        }
        await server.close()
        try await group.shutdownGracefully()
    }

    @Test func theTokenIsAddedAsAField() {
        let line = SignalClient.line(#"{"type":"curtail","level":1,"token":"old"}"#, withToken: "new-token")
        #expect(decode(line)["token"] as? String == "new-token")
        #expect(decode(line)["type"] as? String == "curtail")
        // Not a JSON object: sent as it is, for the miner to refuse with its own reason.
        #expect(SignalClient.line("nonsense", withToken: "x") == "nonsense")
    }
}
