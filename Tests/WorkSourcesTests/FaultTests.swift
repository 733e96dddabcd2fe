import Chain
import Foundation
import Logging
import Mining
import NodeRPC
import SHA256
import Synchronization
import TestSupport
import Testing
import WorkSources

/// Log entries kept in memory, to check what reached the log (and at which level).
final class CapturedLog: Sendable {
    let entries = Mutex<[(level: Logger.Level, message: String)]>([])

    var logger: Logger { Logger(label: "test") { _ in CapturingHandler(log: self) } }

    func messages(at level: Logger.Level) -> [String] {
        entries.withLock { $0.filter { $0.level == level }.map(\.message) }
    }

    var all: [String] { entries.withLock { $0.map(\.message) } }
}

struct CapturingHandler: LogHandler {
    let log: CapturedLog
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        log.entries.withLock { $0.append((event.level, "\(event.message)")) }
    }
}

/// A regular file, so that `file/anything` can be neither created nor opened (root included).
func regularFile() throws -> String {
    let path = tempPath("plain-file")
    try "not a directory\n".write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

func permissions(_ path: String) throws -> Int {
    try #require(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
}

/// Mines `blocks` blocks from `node` with quick backoff; returns the reports and the error `run` threw.
func mineBlocks(
    _ node: FakeNode, journal: BlockJournal?, blocks: Int = 1, log: CapturedLog = CapturedLog()
) async throws -> (reports: [SolvedBlock], error: WorkError?) {
    let client = try NodeRPCClient(url: node.url, credentials: .userPassword(user: node.user, password: node.password))
    var options = NodeWork.Options(payout: regtestPayout)
    options.blocks = blocks
    options.backoffStart = .milliseconds(5)
    options.backoffMax = .milliseconds(40)
    let source = NodeWork(client: client, journal: journal, options: options, logger: log.logger)
    let engine = try MiningEngine(threads: 1, source: source.jobSource)
    let reports = Mutex<[SolvedBlock]>([])
    var failure: WorkError?
    do { try await source.run(engine: engine) { r in reports.withLock { $0.append(r) } } } catch { failure = error }
    engine.stop()
    await source.shutdown()
    return (reports.withLock { $0 }, failure)
}

@Suite("Faults: node hiccups are retried, no solved block is lost", .serialized)
struct FaultTests {
    /// Failures that a node (or a proxy in front of it) has for a while: each must be retried, with
    /// backoff, until mining goes on.
    static let transientFaults: [FakeNode.Mode] = [
        .overloaded, .htmlError, .malformed, .dropConnections, .dropMidBody, .internalError,
    ]

    /// Before: an HTTP 503 "Work queue depth exceeded", a 500 HTML page or a 200 non-JSON body was
    /// "malformed" and stopped mining for good.
    @Test(arguments: transientFaults)
    func transientNodeFailuresAreRetried(_ fault: FakeNode.Mode) async throws {
        try await withNode("empty-mempool") { node in
            node.fail(fault, times: 3, method: "getblocktemplate")
            // A JSON-RPC error from submitblock is a verdict, not a hiccup (checked below).
            if fault != .internalError { node.fail(fault, times: 2, method: "submitblock") }
            let journal = BlockJournal(path: tempPath("journal"))
            let log = CapturedLog()
            let (reports, error) = try await mineBlocks(node, journal: journal, log: log)
            #expect(error == nil, "\(fault): \(String(describing: error))")
            #expect(reports.map(\.outcome) == [.accepted], "\(fault)")
            #expect(node.calls("getblocktemplate") == 4, "\(fault): 3 failures, then the template")
            #expect(node.calls("submitblock") == (fault == .internalError ? 1 : 3), "\(fault)")
            #expect(node.state.withLock { $0.accepted.count } == 1)
            #expect(try journal.pending().blocks.isEmpty)
            // Not silent: each retry is logged.
            #expect(log.all.filter { $0.contains("getblocktemplate") && $0.contains("retrying") }.count == 3)
        }
    }

    /// Before: a block the node took before the connection dropped was reported as rejected
    /// ("duplicate") when the retry reached the node.
    @Test func aBlockWhoseAnswerWasLostIsAcceptedOnRetry() async throws {
        try await withNode("empty-mempool") { node in
            node.fail(.dropAfterHandling, times: 1, method: "submitblock")
            let journal = BlockJournal(path: tempPath("journal"))
            let (reports, error) = try await mineBlocks(node, journal: journal)
            #expect(error == nil)
            #expect(reports.map(\.outcome) == [.accepted])
            #expect(node.calls("submitblock") == 2)
            #expect(node.state.withLock { $0.accepted.count } == 1)
            #expect(try journal.pending().blocks.isEmpty)
        }
    }

    /// Before: bitcoind restarting (its cookie file gone for a moment) ended mining for good.
    @Test func aCookieRewrittenByARestartingNodeIsWaitedFor() async throws {
        try await withNode("empty-mempool") { node in
            let cookie = tempPath("cookie")
            let secret = "\(node.user):\(node.password)"
            try secret.write(toFile: cookie, atomically: true, encoding: .utf8)
            // The node restarts right after answering getblockchaininfo: the cookie is gone for 150 ms.
            node.hooks.withLock {
                $0["getblockchaininfo"] = {
                    try? FileManager.default.removeItem(atPath: cookie)
                    Task {
                        try await Task.sleep(for: .milliseconds(150))
                        try secret.write(toFile: cookie, atomically: true, encoding: .utf8)
                    }
                }
            }
            let client = try NodeRPCClient(url: node.url, credentials: .cookie(path: cookie))
            var options = NodeWork.Options(payout: regtestPayout)
            options.backoffStart = .milliseconds(5)
            options.backoffMax = .milliseconds(40)
            let log = CapturedLog()
            let source = NodeWork(client: client, journal: nil, options: options, logger: log.logger)
            let engine = try MiningEngine(threads: 1, source: source.jobSource)
            let reports = Mutex<[SolvedBlock]>([])
            try await source.run(engine: engine) { r in reports.withLock { $0.append(r) } }
            engine.stop()
            await source.shutdown()
            #expect(reports.withLock { $0.map(\.outcome) } == [.accepted])
            #expect(log.all.contains { $0.contains("cannot read the RPC cookie file") && $0.contains("retrying") })
            #expect(!log.all.contains { $0.contains(node.password) })
        }
    }

    /// Before: a 404 or an unknown answer would have been classified the same as a hiccup or not at
    /// all; a permanent refusal must end the source with a named reason after one call, not loop.
    @Test func permanentFailuresAreNotRetried() async throws {
        try await withNode("empty-mempool") { node in
            node.fail(.reply(status: 404, body: "<html>Not Found</html>"), times: 100, method: "getblocktemplate")
            let (reports, error) = try await mineBlocks(node, journal: nil)
            #expect(reports.isEmpty)
            #expect(error?.code == .node)
            #expect(error?.message.contains("HTTP 404") == true, "\(String(describing: error))")
            #expect(node.calls("getblocktemplate") == 1)
        }
    }

    /// How the client classifies each kind of answer, and that no message carries the password.
    @Test func answersAreClassified() async throws {
        try await withNode("empty-mempool") { node in
            let client = try NodeRPCClient(
                url: node.url, credentials: .userPassword(user: node.user, password: node.password))
            let cases: [(FakeNode.Mode, NodeRPCError.Kind, transient: Bool, mentions: String)] = [
                (.overloaded, .unavailable, true, "HTTP 503"),
                (.overloaded, .unavailable, true, "Work queue depth exceeded"),
                (.htmlError, .unavailable, true, "HTTP 500"),
                (.malformed, .unavailable, true, "HTTP 200"),
                (.dropConnections, .connection, true, "getbestblockhash"),
                (.dropMidBody, .connection, true, "getbestblockhash"),
                (.internalError, .rpc, true, "internal failure"),
                (.reply(status: 404, body: "<html>Not Found</html>"), .malformed, false, "HTTP 404"),
                (.reply(status: 200, body: "[1,2]"), .malformed, false, "not a JSON-RPC response"),
                (.reply(status: 200, body: #"{"id":"x"}"#), .malformed, false, "\"result\""),
                (.reply(status: 200, body: #"{"result":12,"error":null}"#), .malformed, false, "64 hex digits"),
                (
                    .reply(status: 500, body: #"{"result":null,"error":{"code":-8,"message":"bad"},"id":"x"}"#), .rpc,
                    false, "node error -8: bad"
                ),
                (.reply(status: 500, body: #"{"result":null,"error":null,"id":"x"}"#), .unavailable, true, "HTTP 500"),
                (.reply(status: 403, body: ""), .unauthorized, false, "rpcallowip"),
                // A page that echoes the request's credentials is not quoted.
                (.reply(status: 502, body: "<p>user alice:s3cret-pw</p>"), .unavailable, true, "HTTP 502"),
                (
                    .reply(status: 502, body: String(repeating: "x", count: 75) + " s3cret-pw"), .unavailable, true,
                    "502"
                ),
            ]
            for (mode, kind, transient, mentions) in cases {
                node.fail(mode, times: 1, method: "getbestblockhash")
                do throws(NodeRPCError) {
                    let hash = try await client.bestBlockHash()
                    Issue.record("\(mode): no error, got \(hash)")
                } catch {
                    #expect(error.kind == kind, "\(mode): \(error.message)")
                    #expect(error.isTransient == transient, "\(mode): \(error.message)")
                    #expect(error.message.contains(mentions), "\(mode): \(error.message)")
                    #expect(!error.message.contains(node.password))
                }
            }
            #expect(try await client.bestBlockHash().count == 64)  // and then it answers again
            await client.shutdown()
        }
    }

    /// Before: an error that was not an object (a string, a number) with a null result counted as
    /// "accepted" (the block's journal entry was closed and it was never resubmitted), and a code of
    /// 1e300 went through `intValue`.
    @Test func submitblockAcceptsOnlyNullWithNullError() async throws {
        try await withNode("empty-mempool") { node in
            let client = try NodeRPCClient(
                url: node.url, credentials: .userPassword(user: node.user, password: node.password))
            let verdicts: [(status: Int, body: String, expected: SubmitResult?)] = [
                (200, #"{"result":null,"error":null,"id":"x"}"#, .accepted),
                (200, #"{"result":"inconclusive","error":null,"id":"x"}"#, .rejected("inconclusive")),
                (
                    200, #"{"result":null,"error":"rejected by policy","id":"x"}"#,
                    .error(code: nil, message: "rejected by policy")
                ),
                (200, #"{"result":null,"error":42,"id":"x"}"#, .error(code: 42, message: "42")),
                (200, #"{"result":null,"error":true,"id":"x"}"#, .error(code: nil, message: "true")),
                (
                    500, #"{"result":null,"error":{"code":-25,"message":"bad-prevblk"},"id":"x"}"#,
                    .error(code: -25, message: "bad-prevblk")
                ),
                (
                    500, #"{"result":null,"error":{"code":1e300,"message":"huge"},"id":"x"}"#,
                    .error(code: nil, message: "huge")
                ),
                (
                    500, #"{"result":null,"error":{"message":"no code"},"id":"x"}"#,
                    .error(code: nil, message: "no code")
                ),
                (200, #"{"result":null,"error":[],"id":"x"}"#, .error(code: nil, message: "[]")),
                // No verdict at all: never taken as accepted.
                (200, #"{"result":1,"error":null,"id":"x"}"#, nil),
                (200, #"{"result":true,"error":null,"id":"x"}"#, nil),
                (200, #"{"result":{},"error":null,"id":"x"}"#, nil),
                (200, #"{"result":null,"id":"x"}"#, nil),
                (500, #"{"result":null,"error":null,"id":"x"}"#, nil),
                (503, "Work queue depth exceeded", nil),
            ]
            for (status, body, expected) in verdicts {
                node.fail(.reply(status: status, body: body), times: 1, method: "submitblock")
                do throws(NodeRPCError) {
                    let result = try await client.submitBlock(hex: "00")
                    #expect(result == expected, "HTTP \(status) \(body)")
                } catch {
                    #expect(expected == nil, "HTTP \(status) \(body): \(error.message)")
                    #expect(error.kind == .malformed || error.kind == .unavailable, "\(body): \(error.message)")
                }
            }
            await client.shutdown()
        }
    }

    /// Random envelopes (seeded): a reply is an acceptance exactly when it is HTTP 2xx with
    /// `"result":null` and `"error":null`; hostile numbers (1e300, -1e300, 2^64) never trap.
    @Test func onlyNullWithNullIsAnAcceptance() throws {
        var rng = SeededRNG()
        let values: [String?] = [
            nil, "null", "\"high-hash\"", "\"\"", "0", "42", "-1", "1e300", "-1e300", "18446744073709551616", "true",
            "false",
            "[]", "{}", #"{"code":-22,"message":"Block decode failed"}"#, #"{"code":1e300,"message":"x"}"#,
            #"{"code":-1e300}"#, #"{"code":"-5"}"#, #"{"message":7}"#,
        ]
        let statuses = [200, 204, 400, 404, 500, 502, 503]
        for _ in 0..<2000 {
            let result = values.randomElement(using: &rng)!
            let error = values.randomElement(using: &rng)!
            let status = statuses.randomElement(using: &rng)!
            var members = [#""id":"flexminer""#]
            if let result { members.append(#""result":"# + result) }
            if let error { members.append(#""error":"# + error) }
            let body = "{" + members.shuffled(using: &rng).joined(separator: ",") + "}"
            let accepted: Bool
            do {
                let fields = try NodeRPCClient.reply(
                    method: "submitblock", status: status, body: Data(body.utf8), url: "http://n")
                accepted = try NodeRPCClient.verdict(fields) == .accepted
            } catch {
                accepted = false
                if error.kind == .rpc {
                    #expect(error.code.map { abs($0) <= Int(Int32.max) } ?? true, "\(body)")  // range-checked
                }
            }
            let expected = (200..<300).contains(status) && result == "null" && error == "null"
            #expect(accepted == expected, "HTTP \(status) \(body), seed \(rng.seed)")
        }
    }

    /// Before: `"error":"…"` with a null result made `mine --rpc` print "accepted" and close the block's
    /// journal entry.
    @Test func anErrorStringFromSubmitblockIsARejection() async throws {
        try await withNode("empty-mempool") { node in
            node.fail(
                .reply(status: 200, body: #"{"result":null,"error":"block rejected: bad-txns","id":"x"}"#), times: 1,
                method: "submitblock")
            let journal = BlockJournal(path: tempPath("journal"))
            let (reports, error) = try await mineBlocks(node, journal: journal)
            #expect(error == nil)
            #expect(reports.map(\.outcome) == [.rejected(reason: "error: block rejected: bad-txns")])
            #expect(node.calls("submitblock") == 1)  // a verdict: not retried
            let lines = try String(contentsOfFile: journal.path, encoding: .utf8)
            #expect(lines.contains(#""result":"error: block rejected: bad-txns""#))
        }
    }

    /// Before: the next record was appended right after the torn bytes, on the same line, and was lost
    /// with them.
    @Test func tornLastLineDoesNotSwallowTheNextRecord() throws {
        let journal = BlockJournal(path: tempPath("journal"))
        try journal.recordSolved(hash: "aa", height: 1, hex: "00ff")
        try appendRaw(#"{"event":"solved","hash":"bb","height":2,"hex":"00"#, to: journal.path)  // crash mid-write
        try journal.recordSolved(hash: "cc", height: 3, hex: "abcd")
        var (blocks, skipped) = try journal.pending()
        #expect(blocks.map(\.hash) == ["aa", "cc"])
        #expect(blocks.last?.hex == "abcd" && blocks.last?.height == 3)
        #expect(skipped == 1)
        // A verdict after a torn line counts too.
        try appendRaw(#"{"event":"submitted","hash":"a"#, to: journal.path)
        try journal.recordSubmitted(hash: "aa", result: .accepted)
        (blocks, skipped) = try journal.pending()
        #expect(blocks.map(\.hash) == ["cc"])
        #expect(skipped == 2)
        // A damaged number is skipped (range-checked), never trapped on.
        try appendRaw(#"{"event":"solved","hash":"dd","height":1e300,"hex":"00"}"# + "\n", to: journal.path)
        #expect(try journal.pending().skippedLines == 3)
    }

    /// Cut a journal at any byte (a crash, a full disk), append a record: the record and every line
    /// completed before the cut are read back, and at most the one torn line is skipped.
    @Test func journalCutAtAnyByteKeepsTheNextRecord() throws {
        var rng = SeededRNG()
        let whole = BlockJournal(path: tempPath("journal"))
        for i in 0..<4 { try whole.recordSolved(hash: "h\(i)", height: i, hex: "00ff\(i)\(i)") }
        let bytes = try #require(FileManager.default.contents(atPath: whole.path))
        let ends = bytes.indices.filter { bytes[$0] == UInt8(ascii: "\n") }  // end of each record's JSON
        for _ in 0..<40 {
            let cut = Int.random(in: 0...bytes.count, using: &rng)
            let journal = BlockJournal(path: tempPath("journal"))
            #expect(FileManager.default.createFile(atPath: journal.path, contents: bytes.prefix(cut)))
            try journal.recordSolved(hash: "new", height: 9, hex: "beef")
            let (blocks, skipped) = try journal.pending()
            let complete = ends.filter { $0 <= cut }.count
            let starts = [0] + ends.map { $0 + 1 }
            let torn = zip(starts, ends).contains { start, end in cut > start && cut < end }
            #expect(blocks.map(\.hash) == (0..<complete).map { "h\($0)" } + ["new"], "cut at \(cut), seed \(rng.seed)")
            #expect(skipped == (torn ? 1 : 0), "cut at \(cut), seed \(rng.seed)")
        }
    }

    @Test func journalAndRescueFilesAreMode0600() throws {
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let journal = BlockJournal(path: dir + "/sub/journal.jsonl", rescueDirectory: dir + "/rescue")
        try journal.recordSolved(hash: "aa", height: 1, hex: "00")
        #expect(try permissions(journal.path) == 0o600)
        let rescued = try journal.rescue(hash: "aa", height: 1, hex: "00")
        #expect(try permissions(rescued) == 0o600)
        #expect(try BlockJournal(path: rescued).pending().blocks.map(\.hex) == ["00"])
    }

    /// Before: a journal write error was logged as a warning and mining went on: the block then existed
    /// only in memory and in an HTTP request that could fail.
    @Test func aFullDiskJournalRescuesTheBlockAndStopsMining() async throws {
        try await withNode("empty-mempool") { node in
            let rescueDir = scratchDirectory()
            defer { try? FileManager.default.removeItem(atPath: rescueDir) }
            let journal = BlockJournal(path: "/dev/full", rescueDirectory: rescueDir)
            let log = CapturedLog()
            let (reports, error) = try await mineBlocks(node, journal: journal, blocks: 3, log: log)
            // Mining stopped after the first block, with a named reason.
            #expect(reports.count == 1)
            let failure = try #require(error)
            #expect(failure.code == .disk)
            #expect(failure.message.contains("/dev/full") && failure.message.contains("No space left on device"))
            #expect(failure.message.contains("mining on this source stopped"))
            // The block is recoverable from the rescue file the message names, byte for byte.
            let files = try FileManager.default.contentsOfDirectory(atPath: rescueDir)
            #expect(files.count == 1)
            let rescuePath = rescueDir + "/" + (files.first ?? "")
            #expect(failure.message.contains(rescuePath))
            #expect(try permissions(rescuePath) == 0o600)
            let lines = try String(contentsOfFile: rescuePath, encoding: .utf8).split(separator: "\n")
            let solved = try #require(lines.first.map { decode(String($0)) })
            let accepted = node.state.withLock { $0.accepted }
            #expect(solved["event"] as? String == "solved" && solved["hash"] as? String == reports[0].hash)
            #expect((solved["hex"] as? String).map(bytes) == accepted[reports[0].hash])
            // And the node's verdict is recorded next to it: nothing is left pending there.
            #expect(lines.count == 2)
            #expect(try BlockJournal(path: rescuePath).pending().blocks.isEmpty)
            // It was still submitted.
            #expect(reports.map(\.outcome) == [.accepted])
            #expect(!log.messages(at: .error).isEmpty)
        }
    }

    /// When the rescue file cannot be written either, the log (stderr) at error level gets the hex in
    /// full.
    @Test func withNowhereToWriteTheHexIsLoggedInFull() async throws {
        try await withNode("empty-mempool") { node in
            node.set(.dropConnections)  // and the node is gone too: the log is the only copy
            node.fail(.normal, times: 10, method: "getblockchaininfo")
            node.fail(.normal, times: 10, method: "getblocktemplate")
            let journal = BlockJournal(path: "/dev/full", rescueDirectory: try regularFile() + "/rescue")
            let log = CapturedLog()
            let (reports, error) = try await mineBlocks(node, journal: journal, log: log)
            #expect(error?.code == .disk)
            #expect(error?.message.contains("in full in the log") == true, "\(String(describing: error))")
            #expect(reports.count == 1)
            guard case .unsubmitted = reports.first?.outcome else {
                Issue.record("expected unsubmitted, got \(String(describing: reports.first?.outcome))")
                return
            }
            // Found in the error log by the hash, decoded independently: a whole block, for the template.
            let line = try #require(log.messages(at: .error).first { $0.contains(reports[0].hash) })
            let hex = try #require(line.split(separator: " ").last.map(String.init))
            let block = try IndependentBlock(bytes(hex))
            #expect(block.hashHex == reports[0].hash)
            let template = try fixtureTemplate("empty-mempool")
            #expect(block.previousHashHex == template["previousblockhash"] as? String)
            #expect(block.meets(targetHex: template["target"] as! String))
        }
    }

    /// Before: a journal that could not be opened was only warned about, per block, while mining went
    /// on without one.
    @Test func aJournalThatCannotBeOpenedIsRefusedBeforeMining() async throws {
        try await withNode("empty-mempool") { node in
            let path = try regularFile() + "/journal.jsonl"
            let (reports, error) = try await mineBlocks(node, journal: BlockJournal(path: path))
            #expect(reports.isEmpty)
            #expect(error?.code == .disk)
            #expect(error?.message.contains(path) == true && error?.message.contains("Not a directory") == true)
            #expect(node.calls("getblocktemplate") == 0)
            // A FIFO would block a write with a block in hand.
            let fifo = tempPath("fifo")
            #expect(mkfifo(fifo, 0o600) == 0)
            let (none, refused) = try await mineBlocks(node, journal: BlockJournal(path: fifo))
            #expect(none.isEmpty)
            #expect(refused?.code == .disk && refused?.message.contains("not a regular file") == true)
        }
    }

    /// Before: the block files' write error was raised, and the block's hex went with it.
    @Test func aBlockFileThatCannotBeWrittenIsLoggedInFull() async throws {
        let out = try regularFile() + "/blocks"
        let work = try TemplateFileWork.prepare(
            json: Fixtures.data("regtest/empty-mempool.gbt.json"), name: "fixture", payout: regtestPayout,
            network: nil, message: "")
        let log = CapturedLog()
        let source = TemplateFileWork(
            work: work, origin: "fixture", blocks: 1, out: out, afterLimit: .stop, logger: log.logger)
        let engine = try MiningEngine(threads: 1, source: source.jobSource)
        var failure: WorkError?
        do { try await source.run(engine: engine) { _ in } } catch { failure = error }
        engine.stop()
        #expect(failure?.code == .disk)
        #expect(failure?.message.contains(out) == true, "\(String(describing: failure))")
        #expect(failure?.message.contains("Not a directory") == true, "\(String(describing: failure))")
        let line = try #require(log.messages(at: .error).first)
        let block = try IndependentBlock(bytes(try #require(line.split(separator: " ").last.map(String.init))))
        let template = try fixtureTemplate("empty-mempool")
        #expect(block.meets(targetHex: template["target"] as! String))
        #expect(block.previousHashHex == template["previousblockhash"] as? String)
    }

    /// Before: a request timeout beyond Int64 nanoseconds trapped in `Int64(seconds) * 1_000_000_000`.
    @Test func aHugeTimeoutDoesNotTrap() async throws {
        try await withNode("empty-mempool") { node in
            let client = try NodeRPCClient(
                url: node.url, credentials: .userPassword(user: node.user, password: node.password),
                requestTimeout: .seconds(Int64.max))
            #expect(try await client.network() == .regtest)
            #expect(try await client.bestBlockHash().count == 64)
            _ = try await client.callRaw("getbestblockhash", params: [], timeout: .seconds(Int64.max / 2))
            await client.shutdown()
        }
    }
}

func appendRaw(_ text: String, to path: String) throws {
    let handle = try #require(FileHandle(forWritingAtPath: path))
    handle.seekToEndOfFile()
    handle.write(Data(text.utf8))
    try handle.close()
}
