import DemandResponse
import Foundation
import MiningKernels
import Operations
import Testing

/// `run`'s options have one home (`RunConfig.options`): each one flows from the file, from a flag, and a
/// flag over the file into `RunSettings`, and a bad value is refused naming the key or the flag.
@Suite struct RunOptionTests {
    @Test func allowRedirectFlowsFromFileFlagAndFlagOverFile() throws {
        #expect(try resolveRunSettings().allowRedirect == false)
        #expect(try resolveRunSettings(file: #"{"allow_redirect": true}"#).allowRedirect == true)
        #expect(try resolveRunSettings { $0.allowRedirect = true }.allowRedirect == true)
        #expect(
            try resolveRunSettings(file: #"{"allow_redirect": true}"#) { $0.allowRedirect = false }.allowRedirect
                == false)
        #expect(runSettingsRefusal(file: #"{"allow_redirect": "yes"}"#).contains(#""allow_redirect""#))
    }

    @Test func breakevenFlowsFromFileFlagAndFlagOverFile() throws {
        let policy = #""policy": {"power_watts": 1000, "breakeven_usd_per_mwh": 45}"#
        let fromPolicy = try resolveRunSettings(file: "{\(policy)}")
        #expect(fromPolicy.policy.breakEvenUSDPerMWh == 45 && !fromPolicy.breakevenGiven)
        let fromFile = try resolveRunSettings(file: #"{\#(policy), "breakeven": 30}"#)
        #expect(fromFile.policy.breakEvenUSDPerMWh == 30 && fromFile.breakevenGiven)
        let fromFlag = try resolveRunSettings { $0.breakeven = 20 }
        #expect(fromFlag.policy.breakEvenUSDPerMWh == 20 && fromFlag.breakevenGiven)
        let flagOverFile = try resolveRunSettings(file: #"{\#(policy), "breakeven": 30}"#) { $0.breakeven = 25 }
        #expect(flagOverFile.policy.breakEvenUSDPerMWh == 25)
        #expect(runSettingsRefusal(file: #"{"breakeven": 1e12}"#).contains(#""breakeven""#))
        #expect(runSettingsRefusal { $0.breakeven = 1e12 }.contains("--breakeven"))
    }

    @Test func mergedValuesAreCheckedNamingTheFlag() throws {
        #expect(try resolveRunSettings(file: #"{"seconds": 60}"#) { $0.seconds = 5 }.seconds == 5)
        #expect(runSettingsRefusal(file: #"{"seconds": 0}"#).contains(#""seconds""#))
        #expect(runSettingsRefusal { $0.seconds = 0 } == "--seconds must be positive and at most a year, got 0.0")
        #expect(runSettingsRefusal { $0.blocks = 0 } == "--blocks must be 1...2147483647, got 0")
        #expect(
            runSettingsRefusal { $0.network = "moon" } == "--network must be main, test, signet or regtest, got moon")
        #expect(runSettingsRefusal { $0.stateFile = "" } == "--state-file: empty path")
        #expect(runSettingsRefusal { $0.powerInterval = 0.1 } == "--power-interval must be 0.25...60 seconds, got 0.1")
        #expect(runSettingsRefusal { $0.telemetryMaxMB = 0 } == "--telemetry-max-mb must be 1...100000, got 0.0")
        #expect(runSettingsRefusal { $0.threads = 0 }.contains("--threads"))
    }

    /// The file's keys are a contract (configs in the field use them): the table keeps exactly these.
    @Test func theFileKeysAreKept() {
        let keys = [
            "benchmark_work", "template", "rpc", "rpc_cookie", "rpc_user", "rpc_password", "journal", "payout",
            "network", "blocks", "out", "coinbase_message", "signals", "policy", "policy_file", "breakeven",
            "decision_log", "state_file", "start_halted", "allow_remote", "token_file", "threads", "kernel",
            "priority", "seconds", "http", "log_format", "log_level", "status_line", "openadr3", "openadr2b", "pool",
            "user", "password", "suggest_difficulty", "allow_redirect", "tariff", "schedule", "timezone", "holidays",
            "socket_group_access", "power", "power_watts", "idle_watts", "power_interval", "power_stale",
            "telemetry", "telemetry_max_mb", "host_name",
        ]
        #expect(RunConfig.keys.sorted() == keys.sorted())
        #expect(Set(RunConfig.keys).count == RunConfig.keys.count)
    }

    /// A work source given by a flag replaces the file's choice entirely; the file's credentials never join
    /// a flag's of the other kind.
    @Test func groupsMergeTogether() throws {
        let file = #"{"template": "t.json", "payout": "bcrt1qexample", "rpc_user": "u", "rpc_password": "p"}"#
        guard case .benchmark = try resolveRunSettings(file: file).work else {
            Issue.record("the flag's --benchmark-work did not replace the file's template")
            return
        }
        let node = try resolveRunSettings(file: file) {
            $0.benchmarkWork = nil
            $0.rpc = "http://127.0.0.1:18443"
            $0.rpcCookie = "/tmp/.cookie"
        }
        guard case .node(_, .cookie(let path)) = node.work else {
            Issue.record("expected the flag's cookie alone, got \(node.work)")
            return
        }
        #expect(path == "/tmp/.cookie")
    }

    /// Each key has its flag (the key with `-` for `_`) and each flag its key, so a key added without a flag
    /// (or the other way round) fails here. Exceptions: the inline `policy` object and the `openadr3` and
    /// `openadr2b` blocks (the `--openadr-*` flags), `policy_file` is `--policy`, and `tariff`/`schedule` are `--signals`
    /// sources on the command line.
    @Test func everyKeyHasItsFlagAndEveryFlagItsKey() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: flexminerBinary())
        p.arguments = ["run", "--help"]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let help = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        let flags = Set(help.matches(of: #/--[a-z][a-z0-9-]*[a-z0-9]/#).map { String(help[$0.range]) })
        let special: [String: String?] = [
            "policy": nil, "openadr3": nil, "openadr2b": nil, "tariff": nil, "schedule": nil, "policy_file": "--policy",
        ]
        var expected: Set<String> = []
        for key in RunConfig.keys {
            let flag = special[key] ?? "--" + key.replacingOccurrences(of: "_", with: "-")
            guard let flag else { continue }
            expected.insert(flag)
            #expect(flags.contains(flag), "the key \(key) has no flag \(flag) in run --help")
        }
        for flag in flags where !flag.hasPrefix("--no-") && !flag.hasPrefix("--openadr-") {
            let own = ["--config", "--json", "--help", "--version"].contains(flag)
            #expect(own || expected.contains(flag), "\(flag) has no key in the configuration file")
        }
    }

    /// `systemctl reload`: the file's policy keys are read again, the flags given at start still win, and
    /// a file gone bad is refused naming it (the caller keeps its policy).
    @Test func aReloadReadsTheFilesPolicyUnderTheFlags() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("runopt-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/flexminer.json"
        func write(_ breakeven: Double, extra: String = "") throws {
            try
                #"{"benchmark_work": true, "policy": {"power_watts": 1000, "breakeven_usd_per_mwh": \#(breakeven)}\#(extra)}"#
                .write(toFile: path, atomically: true, encoding: .utf8)
        }
        func settings(_ edit: (inout RunConfig) -> Void = { _ in }) throws -> RunSettings {
            var flags = RunFlags()
            flags.config = path
            edit(&flags.values)
            return try RunSettings.resolve(flags, environment: [:], isTerminal: false) { _ in
                try! Kernel.named(.scalar)
            }
        }
        try write(45)
        let plain = try settings()
        let flagged = try settings { $0.breakeven = 30 }
        #expect(plain.policy.breakEvenUSDPerMWh == 45)
        try write(50)
        #expect(try plain.reloadedPolicy().policy.breakEvenUSDPerMWh == 50)
        let kept = try flagged.reloadedPolicy()
        #expect(kept.policy.breakEvenUSDPerMWh == 30 && kept.breakevenGiven)
        try write(50, extra: #", "treads": 2"#)
        #expect(throws: ConfigError("config \(path): unknown key \"treads\"")) { try plain.reloadedPolicy() }
    }
}
