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
public struct RunConfig: Sendable, Equatable {
    public var benchmarkWork: Bool?
    public var template: String?
    public var rpc: String?
    public var rpcCookie: String?
    public var rpcUser: String?
    public var rpcPassword: String?
    public var journal: String?
    public var payout: String?
    public var network: String?
    public var blocks: Int?
    public var out: String?
    public var coinbaseMessage: String?
    public var signals: [String]?
    /// `"policy"`: an inline policy object (the policy file's keys) …
    public var policy: PolicyFile?
    /// … or `"policy_file"`: a path to one.
    public var policyFile: String?
    public var breakeven: Double?
    public var decisionLog: String?
    /// `"state_file"`: where active curtailments are kept across restarts.
    public var stateFile: String?
    public var startHalted: Bool?
    public var allowRemote: Bool?
    public var tokenFile: String?
    public var threads: Int?
    public var kernel: String?
    public var priority: String?
    public var seconds: Double?
    public var http: String?
    public var logFormat: String?
    public var logLevel: String?
    public var statusLine: Bool?
    /// `"openadr3"`: the OpenADR 3 VEN's settings (see `OpenADR3Config`).
    public var openADR3: OpenADR3Config?
    /// `"pool"`: stratum+tcp URLs, tried in order; with `"user"` and `"password"`.
    public var pool: [String]?
    public var user: String?
    public var password: String?
    /// `"suggest_difficulty"`: asked of the pool (`mining.suggest_difficulty`); positive.
    public var suggestDifficulty: Double?
    /// `"allow_redirect"`: follow a pool's `client.reconnect` to another host.
    public var allowRedirect: Bool?
    /// `"tariff"`: a URDB rate (JSON), as `--signals tariff:PATH`; `"schedule"`: a schedule file, as
    /// `--signals schedule:PATH`; `"timezone"`: the tariff's IANA zone; `"holidays"`: dates read as weekends.
    public var tariff: String?
    public var schedule: String?
    public var timezone: String?
    public var holidays: String?
    /// `"socket_group_access"`: Unix signal sockets are mode 0660 (the process's group may send signals).
    public var socketGroupAccess: Bool?
    /// `"power"`: the measured power source (`rapl`, `sunspec:HOST:PORT[/UNIT]`) or `model`.
    public var power: String?
    /// `"power_watts"`: the draw at full capacity, for the model (also `--power-watts`, the OpenADR
    /// figure; the policy's `power_watts` when neither is given).
    public var powerWatts: Double?
    /// `"idle_watts"`: the model's draw with every worker halted (default 0).
    public var idleWatts: Double?
    /// `"power_interval"`, `"power_stale"`: seconds between samples, and after which a value is stale.
    public var powerInterval: Double?
    public var powerStale: Double?
    /// `"telemetry"`: the telemetry file (JSON lines); `"telemetry_max_mb"`: its size before rotation.
    public var telemetry: String?
    public var telemetryMaxMB: Double?
    /// `"host_name"`: the telemetry's `host` (default: the host's name).
    public var hostName: String?

    public init() {}

    /// The bounds of `power_interval`, `power_stale` (seconds) and `telemetry_max_mb`: one home for the file
    /// and the flags (this file stands alone in the fuzz build, so they live here).
    public static let powerIntervalRange = 0.25...60.0
    public static let powerStaleRange = 0.5...3600.0
    public static let telemetryMaxMBRange = 1.0...100_000.0

    public static let keys: [String] = [
        "benchmark_work", "template", "rpc", "rpc_cookie", "rpc_user", "rpc_password", "journal", "payout",
        "network", "blocks", "out", "coinbase_message", "signals", "policy", "policy_file", "breakeven",
        "decision_log", "state_file", "start_halted", "allow_remote", "token_file", "threads", "kernel", "priority",
        "seconds", "http", "log_format", "log_level", "status_line", "openadr3", "pool", "user", "password",
        "suggest_difficulty", "allow_redirect", "tariff", "schedule", "timezone", "holidays",
        "socket_group_access", "power", "power_watts", "idle_watts", "power_interval", "power_stale", "telemetry",
        "telemetry_max_mb", "host_name",
    ]

    /// Reads a configuration file.
    /// - Throws: `ConfigError` naming the file and the key.
    public init(contentsOf path: String) throws(ConfigError) {
        do throws(InputError) {
            try self.init(fields: JSONFields(json: InputFile.data(path), what: "the configuration"))
        } catch {
            throw ConfigError("config \(error.message.hasPrefix(path) ? "" : "\(path): ")\(error.message)")
        }
    }

    public init(json data: Data) throws(ConfigError) {
        do throws(InputError) {
            try self.init(fields: JSONFields(json: data, what: "the configuration"))
        } catch {
            throw ConfigError(error.message)
        }
    }

    init(fields f: JSONFields) throws(InputError) {
        try f.onlyKeys(Self.keys)
        benchmarkWork = try f.bool("benchmark_work")
        template = try f.string("template")
        rpc = try f.string("rpc")
        rpcCookie = try f.string("rpc_cookie")
        rpcUser = try f.string("rpc_user")
        rpcPassword = try f.string("rpc_password")
        journal = try f.string("journal")
        payout = try f.string("payout")
        network = try f.oneOf("network", ["main", "test", "signet", "regtest"])
        blocks = try f.integer("blocks", in: 1...Int(Int32.max))
        out = try f.string("out")
        coinbaseMessage = try f.string("coinbase_message")
        signals = try f.strings("signals")
        if let p = try f.fields("policy") {
            do { policy = try PolicyFile(object: p.object) } catch {
                throw InputError("field \"policy\": \(error.message)")
            }
        }
        policyFile = try f.string("policy_file")
        if policy != nil && policyFile != nil { throw InputError("give \"policy\" or \"policy_file\", not both") }
        breakeven = try f.number("breakeven", in: PolicyFile.Bounds.price)
        decisionLog = try f.string("decision_log")
        stateFile = try f.string("state_file")
        startHalted = try f.bool("start_halted")
        allowRemote = try f.bool("allow_remote")
        tokenFile = try f.string("token_file")
        threads = try f.integer("threads", in: ThreadCount.range)
        socketGroupAccess = try f.bool("socket_group_access")
        kernel = try f.string("kernel")
        priority = try f.oneOf("priority", ["idle", "low", "normal"])
        seconds = try f.number("seconds", in: 0.001...31_536_000)
        http = try f.string("http")
        logFormat = try f.oneOf("log_format", ["human", "json"])
        logLevel = try f.oneOf("log_level", ["trace", "debug", "info", "notice", "warning", "error", "critical"])
        statusLine = try f.bool("status_line")
        openADR3 = try f.fields("openadr3").map { o throws(InputError) in try OpenADR3Config(fields: o) }
        pool = try f.strings("pool")
        user = try f.string("user")
        password = try f.string("password")
        suggestDifficulty = try f.number("suggest_difficulty", in: 1e-12...1e18)
        allowRedirect = try f.bool("allow_redirect")
        tariff = try f.string("tariff")
        schedule = try f.string("schedule")
        timezone = try f.string("timezone")
        holidays = try f.string("holidays")
        power = try f.string("power")
        powerWatts = try f.number("power_watts", in: 1...1e9)
        idleWatts = try f.number("idle_watts", in: 0...1e9)
        powerInterval = try f.number("power_interval", in: Self.powerIntervalRange)
        powerStale = try f.number("power_stale", in: Self.powerStaleRange)
        telemetry = try f.string("telemetry")
        telemetryMaxMB = try f.number("telemetry_max_mb", in: Self.telemetryMaxMBRange)
        hostName = try f.string("host_name")
    }
}

/// Why a configuration was refused.
public struct ConfigError: Error, Hashable, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// `"openadr3": {...}` in the config file, and the `--openadr-*` flags: the same names (flag names with
/// `_` for `-`, e.g. `"openadr_client_id"`; the short forms without `openadr_` are accepted too). The
/// VTN's URL is the `openadr3:` entry of `signals`; the secret is only ever read from a file.
public struct OpenADR3Config: Sendable, Equatable {
    public var clientID: String?
    public var secretFile: String?
    public var program: String?
    public var ven: String?
    public var resource: String?
    public var poll: Double?
    public var callback: String?
    public var powerWatts: Double?
    /// Where the known schedule is kept (default `flexminer-openadr.json`).
    public var state: String?
    /// SIMPLE value → curtail level, e.g. `{"0":0,"1":0.5,"2":1,"3":1}`.
    public var simpleLevels: [Int: Double]?

    public init() {}

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
    public var isEmpty: Bool { self == OpenADR3Config() }
}
