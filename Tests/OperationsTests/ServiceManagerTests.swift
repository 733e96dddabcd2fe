import FlexSupport
import Foundation
import LoadController
import Logging
import MiningKernels
import Operations
import Synchronization
import TestSupport
import Testing

/// Plays systemd's side of `$NOTIFY_SOCKET`: a datagram socket bound at a path (or an abstract name) that
/// collects what the miner sends, parsed here on its own (`KEY=value` lines). Read it often, as systemd
/// does: a full queue makes the sender's non-blocking sends fail.
final class NotifyListener: Sendable {
    let name: String
    private let fd: Int32
    private let received = Mutex<[String]>([])

    /// - Parameter abstract: bind `@name` in the abstract namespace instead of a path in `directory`.
    init(directory: String, abstract: Bool = false) throws {
        name = abstract ? "@flexminer-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))" : directory + "/notify"
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(name.utf8)
        if abstract { bytes[0] = 0 }
        withUnsafeMutableBytes(of: &addr.sun_path) { p in
            for (i, b) in bytes.enumerated() { p[i] = b }
        }
        let length = MemoryLayout<sa_family_t>.size + bytes.count + (abstract ? 0 : 1)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(length)) }
        }
        guard rc == 0 else { throw ConfigError("bind \(name): errno \(errno)") }
    }

    deinit { close(fd) }

    /// Every datagram received so far.
    var messages: [String] {
        received.withLock { received in
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
                guard n > 0 else { break }
                received.append(String(decoding: buffer[0..<n], as: UTF8.self))
            }
            return received
        }
    }

    /// The values of `key` in the datagrams so far, in order.
    func values(_ key: String) -> [String] {
        messages.flatMap { $0.split(separator: "\n") }.compactMap { line in
            line.hasPrefix(key + "=") ? String(line.dropFirst(key.count + 1)) : nil
        }
    }
}

@Suite("systemd: notifications, watchdog, reload", .serialized)
struct ServiceManagerTests {
    @Test func sendsToAPathAndToAnAbstractName() throws {
        let dir = scratchDirectory()
        for abstract in [false, true] {
            let listener = try NotifyListener(directory: dir, abstract: abstract)
            let n = try #require(try SystemdNotifier.fromEnvironment(["NOTIFY_SOCKET": listener.name]))
            n.ready(status: "mining: capacity 100% · start\nsecond line")
            n.status("curtailed: capacity 0% · grid")
            n.stopping()
            #expect(listener.messages.count == 3)
            #expect(listener.values("READY") == ["1"])
            // One line: a newline in a status would start a new KEY=value.
            #expect(
                listener.values("STATUS") == [
                    "mining: capacity 100% · start second line", "curtailed: capacity 0% · grid",
                ])
            #expect(listener.values("STOPPING") == ["1"])
            #expect(n.sent == 3 && n.failures == 0)
        }
    }

    @Test func aSocketNobodyListensOnIsCountedNotFatal() throws {
        let n = try SystemdNotifier(socket: scratchDirectory() + "/nobody", watchdog: nil)
        #expect(!n.send("READY=1"))
        n.stopping()
        #expect(n.failures == 2 && n.sent == 0)
    }

    @Test func badEnvironmentIsRefusedByName() throws {
        #expect(try SystemdNotifier.fromEnvironment([:]) == nil)
        #expect(try SystemdNotifier.fromEnvironment(["NOTIFY_SOCKET": ""]) == nil)
        #expect(throws: ConfigError.self) { try SystemdNotifier.fromEnvironment(["NOTIFY_SOCKET": "relative/x"]) }
        let long = "/" + String(repeating: "x", count: 200)
        #expect(throws: ConfigError("NOTIFY_SOCKET: longer than 107 bytes")) {
            try SystemdNotifier.fromEnvironment(["NOTIFY_SOCKET": long])
        }
        for bad in ["", "-5", "abc", "99999999999999999999", "0"] {
            do {
                _ = try SystemdNotifier.fromEnvironment(["NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": bad])
                Issue.record("WATCHDOG_USEC=\(bad) accepted")
            } catch { #expect(error.message.hasPrefix("WATCHDOG_USEC:")) }
        }
        let mine = try SystemdNotifier.fromEnvironment(
            ["NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "3000000", "WATCHDOG_PID": "\(getpid())"])
        #expect(mine?.watchdogInterval == .seconds(3))
        // Meant for another process (the one systemd started, when this is its child): not ours to pet.
        let other = try SystemdNotifier.fromEnvironment(
            ["NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "3000000", "WATCHDOG_PID": "1"])
        #expect(other?.watchdogInterval == nil)
    }

    @Test func theWatchdogIsPettedAtHalfItsInterval() throws {
        let listener = try NotifyListener(directory: scratchDirectory())
        let n = try SystemdNotifier(socket: listener.name, watchdog: .seconds(2))
        let t0 = ContinuousClock.now
        for ms in stride(from: 0, through: 3000, by: 100) { n.petWatchdog(now: t0 + .milliseconds(ms)) }
        // At 0, 1 s, 2 s and 3 s: half of the 2 s interval apart.
        #expect(listener.values("WATCHDOG") == ["1", "1", "1", "1"])
        let none = try SystemdNotifier(socket: listener.name, watchdog: nil)
        none.petWatchdog()
        #expect(listener.values("WATCHDOG").count == 4)
    }

    func settings(_ flags: RunFlags) throws -> RunSettings {
        try RunSettings.resolve(flags, environment: [:], isTerminal: false) { _ in try! Kernel.named(.scalar) }
    }

    func logger() -> (Logger, LogSink) {
        let sink = LogSink.capturing()
        return (Logger(label: "test") { FlexLogHandler(label: $0, format: .human, level: .info, output: sink) }, sink)
    }

    /// The whole run under a fake systemd: READY=1 once the source listens and work has started, STATUS=
    /// when the state changes (a curtailment), WATCHDOG=1 from the ticker, STOPPING=1 at the end.
    @Test func aRunTellsSystemdItIsReadyWhatItDoesAndThatItStops() async throws {
        let dir = scratchDirectory()
        let listener = try NotifyListener(directory: dir)
        var flags = RunFlags()
        flags.values.benchmarkWork = true
        flags.values.threads = 1
        flags.values.seconds = 6
        flags.values.signals = ["unix:\(dir)/s.sock"]
        flags.values.socketGroupAccess = true
        let notifier = try SystemdNotifier(socket: listener.name, watchdog: .milliseconds(400))
        let (log, _) = logger()
        let run = MinerRun(settings: try settings(flags), version: "test", logger: log, notifier: notifier)
        let task = Task { try await run.run() }
        // The start calibrates the kernels once per machine (seconds on a loaded one).
        #expect(eventually(within: 60) { listener.values("READY") == ["1"] })
        // Ready means listening: the socket answers at once; its group (operators) may write to it.
        var st = stat()
        #expect(stat(dir + "/s.sock", &st) == 0 && st.st_mode & 0o777 == 0o660)
        let client = try SignalClient(SignalSourceSpec("unix:\(dir)/s.sock"))
        #expect(
            decode(try client.request(#"{"type":"curtail","level":1.0,"id":"grid","reason":"EEA"}"#))["halted"] as? Bool
                == true)
        #expect(
            eventually(within: 5) { listener.values("STATUS").last?.hasPrefix("curtailed: capacity 0%") == true },
            "STATUS= lines: \(listener.values("STATUS"))")
        #expect(listener.values("STATUS").first?.hasPrefix("mining: capacity 100%") == true)
        let drain = Task {
            while !Task.isCancelled {
                _ = listener.messages
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
        _ = try await task.value
        drain.cancel()
        // Once, at the shutdown (the ticker may still pet the watchdog until it stops).
        #expect(listener.values("STOPPING") == ["1"])
        #expect(
            listener.messages.firstIndex(of: "STOPPING=1")! > listener.messages.firstIndex { $0.hasPrefix("READY=1") }!)
        // Petted every 200 ms (half of 400 ms) for about 6 s.
        #expect(listener.values("WATCHDOG").count >= 10)
        #expect(notifier.failures == 0)
    }

    /// `systemctl reload` while curtailed: a changed policy file applies, the config's inline policy applies,
    /// a bad file is refused and the policy in force stays; the curtailment is never lifted.
    @Test func reloadKeepsTheCurtailmentAndRefusesABadFile() async throws {
        let dir = scratchDirectory()
        let policy = dir + "/policy.json"
        let config = dir + "/config.json"
        func write(_ text: String, _ path: String) throws { try Data(text.utf8).write(to: URL(fileURLWithPath: path)) }
        try write(#"{"breakeven_usd_per_mwh": 40}"#, policy)
        try write(
            #"{"benchmark_work": true, "threads": 1, "policy_file": "\#(policy)", "signals": ["unix:\#(dir)/s.sock"]}"#,
            config)
        var flags = RunFlags()
        flags.config = config
        flags.values.seconds = 6
        let (log, sink) = logger()
        let run = MinerRun(settings: try settings(flags), version: "test", logger: log)
        #expect(throws: ConfigError("reload: the run is not on")) { try run.reloadPolicy() }
        let task = Task { try await run.run() }
        #expect(eventually(within: 60) { FileManager.default.fileExists(atPath: dir + "/s.sock") })
        let client = try SignalClient(SignalSourceSpec("unix:\(dir)/s.sock"))
        func status() throws -> [String: Any] { decode(try client.request(#"{"type":"status"}"#)) }
        _ = try client.request(#"{"type":"curtail","level":1.0,"id":"grid"}"#)
        #expect(try status()["breakeven_usd_per_mwh"] as? Double == 40)
        #expect(try status()["halted"] as? Bool == true)

        try write(#"{"breakeven_usd_per_mwh": 70, "hysteresis_usd_per_mwh": 2}"#, policy)
        let reason = try run.reloadPolicy()
        #expect(reason.hasPrefix("policy reloaded"))
        var s = try status()
        #expect(s["breakeven_usd_per_mwh"] as? Double == 70)
        #expect(s["halted"] as? Bool == true && s["curtailment"] as? Double == 1)

        try write(#"{"breakeven_usd_per_mwh": "seventy"}"#, policy)
        do {
            try run.reloadPolicy()
            Issue.record("a bad policy file was accepted")
        } catch { #expect(error.message.contains("breakeven_usd_per_mwh")) }
        s = try status()
        #expect(s["breakeven_usd_per_mwh"] as? Double == 70)
        #expect(s["halted"] as? Bool == true)

        // The config's own policy fields: an inline policy replaces the file it named.
        try write(
            #"{"benchmark_work": true, "threads": 1, "policy": {"breakeven_usd_per_mwh": 55}, "signals": ["unix:\#(dir)/s.sock"]}"#,
            config)
        try run.reloadPolicy()
        s = try status()
        #expect(s["breakeven_usd_per_mwh"] as? Double == 55)
        #expect(s["halted"] as? Bool == true && s["curtailment"] as? Double == 1)
        _ = try await task.value
        #expect(sink.lines.contains { $0.contains("policy reloaded (1 active curtailment(s) kept)") })
    }
}
