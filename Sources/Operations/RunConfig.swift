import DemandResponse
import FlexSupport
import Foundation

/// The `flexminer run` configuration file (JSON). Every key is a `run` flag with `-` written `_`; a flag
/// given on the command line overrides the file. Unknown keys and values of the wrong type or range
/// are refused with the key's name.
///
/// ```json
/// {
///   "benchmark_work": true,
///   "signals": ["unix:/run/flexminer/signals.sock", "file:/var/lib/flexminer/prices.jsonl"],
///   "policy": {"breakeven_usd_per_mwh": 45, "hysteresis_usd_per_mwh": 3, "min_on_seconds": 300},
///   "decision_log": "/var/log/flexminer/decisions.jsonl",
///   "http": "127.0.0.1:9105",
///   "threads": 2,
///   "log_format": "json"
/// }
/// ```
package struct RunConfig: Sendable, Equatable {
    package var benchmarkWork: Bool?
    package var template: String?
    package var rpc: String?
    package var rpcCookie: String?
    package var rpcUser: String?
    package var rpcPassword: String?
    package var journal: String?
    package var payout: String?
    package var network: String?
    package var blocks: Int?
    package var out: String?
    package var coinbaseMessage: String?
    package var signals: [String]?
    /// `"policy"`: an inline policy object (the policy file's keys) …
    package var policy: PolicyFile?
    /// … or `"policy_file"`: a path to one.
    package var policyFile: String?
    package var breakeven: Double?
    package var decisionLog: String?
    /// `"state_file"`: where active curtailments are kept across restarts.
    package var stateFile: String?
    package var startHalted: Bool?
    package var allowRemote: Bool?
    package var tokenFile: String?
    package var threads: Int?
    package var kernel: String?
    package var priority: String?
    package var seconds: Double?
    package var http: String?
    package var logFormat: String?
    package var logLevel: String?
    package var statusLine: Bool?
    /// `"openadr3"`: the OpenADR 3 VEN's settings (see `OpenADR3Config`).
    package var openADR3: OpenADR3Config?
    /// `"openadr2b"`: the OpenADR 2.0b VEN's settings (see `OpenADR2bConfig`).
    package var openADR2b: OpenADR2bConfig?
    /// `"pool"`: stratum+tcp URLs, tried in order; with `"user"` and `"password"`.
    package var pool: [String]?
    package var user: String?
    package var password: String?
    /// `"suggest_difficulty"`: asked of the pool (`mining.suggest_difficulty`); positive.
    package var suggestDifficulty: Double?
    /// `"allow_redirect"`: follow a pool's `client.reconnect` to another host.
    package var allowRedirect: Bool?
    /// `"tariff"`: a URDB rate (JSON), as `--signals tariff:PATH`; `"schedule"`: a schedule file, as
    /// `--signals schedule:PATH`; `"timezone"`: the tariff's IANA zone; `"holidays"`: dates read as weekends.
    package var tariff: String?
    package var schedule: String?
    package var timezone: String?
    package var holidays: String?
    /// `"socket_group_access"`: Unix signal sockets are mode 0660 (the process's group may send signals).
    package var socketGroupAccess: Bool?
    /// `"power"`: the measured power source (`rapl`, `sunspec:HOST:PORT[/UNIT]`) or `model`.
    package var power: String?
    /// `"power_watts"`: the draw at full capacity, for the model (also `--power-watts`, the OpenADR
    /// figure; the policy's `power_watts` when neither is given).
    package var powerWatts: Double?
    /// `"idle_watts"`: the model's draw with every worker halted (default 0).
    package var idleWatts: Double?
    /// `"power_interval"`, `"power_stale"`: seconds between samples, and after which a value is stale.
    package var powerInterval: Double?
    package var powerStale: Double?
    /// `"telemetry"`: the telemetry file (JSON lines); `"telemetry_max_mb"`: its size before rotation.
    package var telemetry: String?
    package var telemetryMaxMB: Double?
    /// `"host_name"`: the telemetry's `host` (default: the host's name).
    package var hostName: String?

    package init() {}

    /// The bounds of `power_interval`, `power_stale` (seconds), `telemetry_max_mb` and `suggest_difficulty`:
    /// one home for the file and the flags (this file stands alone in the fuzz build, so they live here).
    package static let powerIntervalRange = 0.25...60.0
    package static let powerStaleRange = 0.5...3600.0
    package static let telemetryMaxMBRange = 1.0...100_000.0
    package static let suggestDifficultyRange = 1e-12...1e18

    /// `--suggest-difficulty`'s refusal, for `run` and `mine --pool` alike; nil when `d` is in range.
    package static func suggestDifficultyProblem(_ d: Double) -> String? {
        suggestDifficultyRange.contains(d)
            ? nil : "--suggest-difficulty must be a positive number (1e-12...1e18), got \(d)"
    }

    /// The file's keys, in the table's order.
    package static var keys: [String] { options.map(\.key) }

    /// Reads a configuration file.
    /// - Throws: `ConfigError` naming the file and the key.
    package init(contentsOf path: String) throws(ConfigError) {
        do throws(InputError) {
            try self.init(fields: JSONFields(json: InputFile.data(path), what: "the configuration"))
        } catch {
            throw ConfigError("config \(error.message.hasPrefix(path) ? "" : "\(path): ")\(error.message)")
        }
    }

    package init(json data: Data) throws(ConfigError) {
        do throws(InputError) {
            try self.init(fields: JSONFields(json: data, what: "the configuration"))
        } catch {
            throw ConfigError(error.message)
        }
    }

    /// Every key of the table, read with its checks.
    init(fields f: JSONFields) throws(InputError) {
        try f.onlyKeys(Self.keys)
        for option in Self.options { try option.read(f, &self) }
    }

    /// The one merge of `run`'s options: each flag given over the file's key (defaults are the reader's,
    /// for a nil), then every merged value checked against its declaration's range, the error naming the
    /// flag. Groups that go together are merged together: a flag choosing a work source replaces the
    /// file's choice entirely, `--rpc-cookie` and `--rpc-user` replace each other, `--policy` replaces the
    /// file's `"policy"`, and the `"openadr3"` block merges field by field.
    /// - Throws: `ConfigError` naming the flag.
    /// - Parameter keys: merge only these keys (the policy's, on a reload); every key when nil.
    package static func merged(flags: RunConfig, file: RunConfig, keys: Set<String>? = nil) throws(ConfigError)
        -> RunConfig
    {
        var m = RunConfig()
        for option in options where keys?.contains(option.key) ?? true {
            option.merge(flags, file, &m)
            if let problem = option.check(m) { throw ConfigError(problem) }
        }
        return m
    }
}

/// One key of the configuration file and the `run` flag that overrides it, declared once: the file's
/// key and reader (type and range), how a flag merges over it, and the merged value's check, whose
/// message names the flag. Adding an option: a stored property of `RunConfig`, an entry in
/// `RunConfig.options`, the flag in `flexminer run`, and its use.
struct RunOption {
    /// The file's key, e.g. `allow_redirect`.
    let key: String
    /// Reads the key from the file, refusing a wrong type or range with the key's name.
    let read: (JSONFields, inout RunConfig) throws(InputError) -> Void
    /// Sets the merged value from the flags' and the file's.
    var merge: (_ flags: RunConfig, _ file: RunConfig, _ merged: inout RunConfig) -> Void
    /// The merged value's problem, naming the flag; nil when fine.
    var check: (RunConfig) -> String? = { _ in nil }

    /// A key whose flag, when given, wins over the file.
    static func value<T>(
        _ key: String, _ field: WritableKeyPath<RunConfig, T?>,
        read: @escaping (JSONFields, String) throws(InputError) -> T?
    ) -> RunOption {
        RunOption(
            key: key, read: { f, c throws(InputError) in c[keyPath: field] = try read(f, key) },
            merge: { flags, file, m in m[keyPath: field] = flags[keyPath: field] ?? file[keyPath: field] })
    }

    static func bool(_ key: String, _ field: WritableKeyPath<RunConfig, Bool?>) -> RunOption {
        value(key, field) { f, k throws(InputError) in try f.bool(k) }
    }

    static func string(_ key: String, _ field: WritableKeyPath<RunConfig, String?>) -> RunOption {
        value(key, field) { f, k throws(InputError) in try f.string(k) }
    }

    static func strings(_ key: String, _ field: WritableKeyPath<RunConfig, [String]?>) -> RunOption {
        value(key, field) { f, k throws(InputError) in try f.strings(k) }
    }

    /// A string from `allowed`; `refusal` names the flag for a merged value outside it.
    static func oneOf(
        _ key: String, _ field: WritableKeyPath<RunConfig, String?>, _ allowed: [String],
        refusal: ((String) -> String)? = nil
    ) -> RunOption {
        var o = value(key, field) { f, k throws(InputError) in try f.oneOf(k, allowed) }
        if let refusal { o.check = { c in c[keyPath: field].flatMap { allowed.contains($0) ? nil : refusal($0) } } }
        return o
    }

    /// A number within `range`, in the file and (with `refusal`, naming the flag) as merged.
    static func number(
        _ key: String, _ field: WritableKeyPath<RunConfig, Double?>, in range: ClosedRange<Double>,
        refusal: ((Double) -> String)? = nil
    ) -> RunOption {
        var o = value(key, field) { f, k throws(InputError) in try f.number(k, in: range) }
        if let refusal { o.check = { c in c[keyPath: field].flatMap { range.contains($0) ? nil : refusal($0) } } }
        return o
    }

    /// A whole number within `range`, in the file and (with `refusal`, naming the flag) as merged.
    static func integer(
        _ key: String, _ field: WritableKeyPath<RunConfig, Int?>, in range: ClosedRange<Int>,
        refusal: ((Int) -> String)? = nil
    ) -> RunOption {
        var o = value(key, field) { f, k throws(InputError) in try f.integer(k, in: range) }
        if let refusal { o.check = { c in c[keyPath: field].flatMap { range.contains($0) ? nil : refusal($0) } } }
        return o
    }

    /// This option merged by `merge` instead (a group whose keys go together).
    func merging(_ merge: @escaping (_ flags: RunConfig, _ file: RunConfig, _ merged: inout RunConfig) -> Void)
        -> RunOption
    {
        var o = self
        o.merge = merge
        return o
    }

    /// This option with `check` on the merged value (a problem naming the flag, or nil).
    func checking(_ check: @escaping (RunConfig) -> String?) -> RunOption {
        var o = self
        o.check = check
        return o
    }
}

extension RunConfig {
    /// Every key of the file in the order it is read: its type and range, its merge and its check.
    static var options: [RunOption] { workAndPolicyOptions + runOptions }

    /// The work source, the blocks, the signals and the policy.
    static var workAndPolicyOptions: [RunOption] {
        [
            .bool("benchmark_work", \.benchmarkWork).merging(work(\.benchmarkWork)),
            .string("template", \.template).merging(work(\.template)),
            .string("rpc", \.rpc).merging(work(\.rpc)),
            // A cookie and a user/password pair replace each other: the file's half never joins the flag's.
            .string("rpc_cookie", \.rpcCookie).merging { c, f, m in
                m.rpcCookie = c.rpcCookie ?? (c.rpcUser == nil ? f.rpcCookie : nil)
            },
            .string("rpc_user", \.rpcUser).merging { c, f, m in
                m.rpcUser = c.rpcUser ?? (c.rpcCookie == nil ? f.rpcUser : nil)
            },
            .string("rpc_password", \.rpcPassword).merging { c, f, m in
                m.rpcPassword = c.rpcPassword ?? (c.rpcCookie == nil ? f.rpcPassword : nil)
            },
            .string("journal", \.journal),
            .string("payout", \.payout),
            .oneOf("network", \.network, ["main", "test", "signet", "regtest"]) {
                "--network must be main, test, signet or regtest, got \($0)"
            },
            .integer("blocks", \.blocks, in: 1...Int(Int32.max)) { "--blocks must be 1...\(Int32.max), got \($0)" },
            .string("out", \.out),
            .string("coinbase_message", \.coinbaseMessage),
            .strings("signals", \.signals),
            policyOption,
            RunOption(
                key: "policy_file",
                read: { f, c throws(InputError) in
                    c.policyFile = try f.string("policy_file")
                    if c.policy != nil && c.policyFile != nil {
                        throw InputError("give \"policy\" or \"policy_file\", not both")
                    }
                },
                merge: { c, f, m in m.policyFile = c.policyFile ?? (f.policy == nil ? f.policyFile : nil) }),
            .number("breakeven", \.breakeven, in: PolicyFile.Bounds.price),
        ]
    }

    /// The run itself: logs, state, threads, HTTP, OpenADR, the pool's options, the calendar, power.
    static var runOptions: [RunOption] {
        [
            .string("decision_log", \.decisionLog),
            .string("state_file", \.stateFile).checking { $0.stateFile == "" ? "--state-file: empty path" : nil },
            .bool("start_halted", \.startHalted),
            .bool("allow_remote", \.allowRemote),
            .string("token_file", \.tokenFile),
            .integer("threads", \.threads, in: ThreadCount.range).checking { c in
                c.threads.flatMap { ThreadCount.problem($0) }
            },
            .bool("socket_group_access", \.socketGroupAccess),
            .string("kernel", \.kernel),
            .oneOf("priority", \.priority, ["idle", "low", "normal"]),
            .number("seconds", \.seconds, in: 0.001...31_536_000) {
                "--seconds must be positive and at most a year, got \($0)"
            },
            .string("http", \.http),
            .oneOf("log_format", \.logFormat, ["human", "json"]),
            .oneOf("log_level", \.logLevel, ["trace", "debug", "info", "notice", "warning", "error", "critical"]),
            .bool("status_line", \.statusLine),
            openADR3Option,
            openADR2bOption,
            .strings("pool", \.pool).merging(work(\.pool)),
            .string("user", \.user),
            .string("password", \.password),
            .number("suggest_difficulty", \.suggestDifficulty, in: suggestDifficultyRange).checking { c in
                c.suggestDifficulty.flatMap { suggestDifficultyProblem($0) }
            },
            .bool("allow_redirect", \.allowRedirect),
            .string("tariff", \.tariff),
            .string("schedule", \.schedule),
            .string("timezone", \.timezone),
            .string("holidays", \.holidays),
            .string("power", \.power),
            // `--power-watts` is also the OpenADR block's figure: the flag, then the file's key, then the block's.
            .number("power_watts", \.powerWatts, in: 1...1e9).merging { c, f, m in
                m.powerWatts = c.openADR3?.powerWatts ?? c.powerWatts ?? f.powerWatts ?? f.openADR3?.powerWatts
            },
            .number("idle_watts", \.idleWatts, in: 0...1e9),
            .number("power_interval", \.powerInterval, in: powerIntervalRange) {
                "--power-interval must be 0.25...60 seconds, got \($0)"
            },
            .number("power_stale", \.powerStale, in: powerStaleRange),
            .string("telemetry", \.telemetry),
            .number("telemetry_max_mb", \.telemetryMaxMB, in: telemetryMaxMBRange) {
                "--telemetry-max-mb must be 1...100000, got \($0)"
            },
            .string("host_name", \.hostName),
        ]
    }

    /// Whether these options choose a work source (then the file's choice is replaced entirely).
    var choosesWork: Bool { benchmarkWork == true || template != nil || rpc != nil || pool != nil }

    /// The merge of a work source's key: the flags' choice when they make one, else the file's.
    static func work<T>(_ field: WritableKeyPath<RunConfig, T?>) -> (RunConfig, RunConfig, inout RunConfig) -> Void {
        { c, f, m in m[keyPath: field] = c.choosesWork ? c[keyPath: field] : f[keyPath: field] }
    }

    /// `"policy"`: an inline policy object; `--policy` (a file) replaces it.
    static var policyOption: RunOption {
        RunOption(
            key: "policy",
            read: { f, c throws(InputError) in
                guard let p = try f.fields("policy") else { return }
                do throws(SignalError) { c.policy = try PolicyFile(object: p.object) } catch {
                    throw InputError("field \"policy\": \(error.message)")
                }
            },
            merge: { c, f, m in m.policy = c.policyFile == nil ? f.policy : nil })
    }

    /// `"openadr3"`: the VEN's block, merged field by field under the `--openadr-*` flags.
    static var openADR3Option: RunOption {
        RunOption(
            key: "openadr3",
            read: { f, c throws(InputError) in
                c.openADR3 = try f.fields("openadr3").map { o throws(InputError) in try OpenADR3Config(fields: o) }
            },
            merge: { c, f, m in
                guard let flags = c.openADR3 else { return m.openADR3 = f.openADR3 }
                m.openADR3 = flags.merged(over: f.openADR3 ?? OpenADR3Config())
            })
    }
}

/// Why a configuration was refused.
package struct ConfigError: Error, Hashable, Sendable, CustomStringConvertible {
    package let message: String
    package init(_ message: String) { self.message = message }
    package var description: String { message }
}

/// `"openadr3": {...}` in the config file, and the `--openadr-*` flags: the same names (flag names with
/// `_` for `-`, e.g. `"openadr_client_id"`; the short forms without `openadr_` are accepted too). The
/// VTN's URL is the `openadr3:` entry of `signals`; the secret is only ever read from a file.
package struct OpenADR3Config: Sendable, Equatable {
    package var clientID: String?
    package var secretFile: String?
    package var program: String?
    package var ven: String?
    package var resource: String?
    package var poll: Double?
    package var callback: String?
    package var powerWatts: Double?
    /// Where the known schedule is kept (default `flexminer-openadr.json`).
    package var state: String?
    /// SIMPLE value → curtail level, e.g. `{"0":0,"1":0.5,"2":1,"3":1}`.
    package var simpleLevels: [Int: Double]?

    package init() {}

    static let names = [
        "client_id", "secret_file", "program", "ven", "resource", "poll", "callback", "state", "simple_levels",
    ]

    init(fields f: JSONFields) throws(InputError) {
        try f.onlyKeys(Self.names.flatMap { [$0, "openadr_\($0)"] } + ["power_watts"])
        // `??` would rethrow as `any Error`: the long name first, then the short one.
        func text(_ k: String) throws(InputError) -> String? {
            if let v = try f.string("openadr_\(k)") { return v }
            return try f.string(k)
        }
        clientID = try text("client_id")
        secretFile = try text("secret_file")
        program = try text("program")
        ven = try text("ven")
        resource = try text("resource")
        callback = try text("callback")
        state = try text("state")
        poll = try f.number("openadr_poll", in: 1...86_400)
        if poll == nil { poll = try f.number("poll", in: 1...86_400) }
        powerWatts = try f.number("power_watts", in: 1...1e9)
        var map = try f.fields("openadr_simple_levels")
        if map == nil { map = try f.fields("simple_levels") }
        if let m = map {
            var levels: [Int: Double] = [:]
            for key in m.keys.sorted() {
                guard let k = Int(key), (0...3).contains(k) else {
                    throw InputError("field \"\(m.path)\(key)\": SIMPLE values are 0...3")
                }
                levels[k] = try m.requiredNumber(key, in: 0...1)
            }
            simpleLevels = levels
        }
    }

    /// Whether any setting is given.
    package var isEmpty: Bool { self == OpenADR3Config() }

    /// Each of these settings over `file`'s.
    func merged(over file: OpenADR3Config) -> OpenADR3Config {
        var m = self
        m.clientID = clientID ?? file.clientID
        m.secretFile = secretFile ?? file.secretFile
        m.program = program ?? file.program
        m.ven = ven ?? file.ven
        m.resource = resource ?? file.resource
        m.poll = poll ?? file.poll
        m.callback = callback ?? file.callback
        m.powerWatts = powerWatts ?? file.powerWatts
        m.state = state ?? file.state
        m.simpleLevels = simpleLevels ?? file.simpleLevels
        return m
    }
}
