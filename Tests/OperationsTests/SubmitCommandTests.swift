import FlexSupport
import Foundation
import TestSupport
import Testing

/// Issue 23, class 5: `flexminer submit` to a node that refuses connections took about 38 s per block
/// (each refused connect retried inside the HTTP client until its 5 s connect timeout, six times). A
/// refused connection now fails at once, the retry schedule sets the pace, and the blocks after the
/// first are not retried: the command answers in about 8 s and lists what is pending.
@Suite("submit: a node that refuses connections", .serialized)
struct SubmitCommandTests {
    /// A loopback port with nothing listening: bound, then closed (the kernel answers RST to a connect).
    func closedPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #expect(fd >= 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { p -> Bool in
                bind(fd, p, length) == 0 && getsockname(fd, p, &length) == 0
            }
        }
        #expect(bound)
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Two solved blocks without a verdict, written the way the journal's format says (JSON lines).
    func journal(in dir: String) throws -> (path: String, hashes: [String]) {
        let hashes = [String(repeating: "1a", count: 32), String(repeating: "2b", count: 32)]
        let lines = hashes.enumerated().map { i, h in
            #"{"event":"solved","hash":"\#(h)","height":\#(106 + i),"hex":"00ff","time":1}"#
        }
        let path = "\(dir)/journal.jsonl"
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return (path, hashes)
    }

    func submit(_ arguments: [String]) throws -> (status: Int32, stdout: String, seconds: Double) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: flexminerBinary())
        p.arguments = ["submit"] + arguments
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        let start = ContinuousClock.now
        try p.run()
        let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        let elapsed = ContinuousClock.now - start
        return (p.terminationStatus, stdout, elapsed.seconds)
    }

    @Test func answersSoonAndListsWhatIsPending() throws {
        let dir = scratchDirectory()
        let (path, hashes) = try journal(in: dir)
        let port = try closedPort()
        let common = [
            "--journal", path, "--rpc", "http://127.0.0.1:\(port)", "--rpc-user", "u", "--rpc-password", "p",
        ]

        let json = try submit(common + ["--json"])
        print("submit --json to a refused port, 2 pending blocks: \(String(format: "%.2f", json.seconds)) s")
        #expect(json.status == 1)
        let lines = json.stdout.split(separator: "\n").map { decode(String($0)) }
        #expect(lines.map { $0["hash"] as? String } == hashes)
        #expect(lines.allSatisfy { $0["pending"] as? Bool == true }, "\(json.stdout)")
        #expect(lines.allSatisfy { ($0["result"] as? String)?.hasPrefix("unsubmitted") == true }, "\(json.stdout)")
        // Not a timing test (the figure is printed above): before, each block took ~38 s.
        #expect(json.seconds < 30, "took \(json.seconds) s")

        let text = try submit(common)
        print("submit to a refused port, 2 pending blocks: \(String(format: "%.2f", text.seconds)) s")
        #expect(text.status == 1)
        #expect(text.stdout.contains("2 block(s) still pending in \(path)"), "\(text.stdout)")
        for h in hashes { #expect(text.stdout.contains("pending: block") && text.stdout.contains(h)) }
        // Nothing was lost: both are still pending in the journal (read as plain JSON lines).
        let records = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map {
            decode(String($0))
        }
        #expect(records.filter { $0["event"] as? String == "submitted" }.isEmpty)
        #expect(records.filter { $0["event"] as? String == "solved" }.count == 2)
    }
}
