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
    /// `"pool"`: stratum+tcp URLs, tried in order; with `"user"` and `"password"`.
    public var pool: [String]?
    public var user: String?
    public var password: String?

    public init() {}

    public static let keys: [String] = [
        "benchmark_work", "template", "rpc", "rpc_cookie", "rpc_user", "rpc_password", "journal", "payout",
        "network", "blocks", "out", "coinbase_message", "signals", "policy", "policy_file", "breakeven",
        "decision_log", "start_halted", "allow_remote", "token_file", "threads", "kernel", "priority", "seconds",
        "http", "log_format", "log_level", "status_line", "pool", "user", "password",
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
        breakeven = try f.number("breakeven", in: -1e9...1e9)
        decisionLog = try f.string("decision_log")
        startHalted = try f.bool("start_halted")
        allowRemote = try f.bool("allow_remote")
        tokenFile = try f.string("token_file")
        threads = try f.integer("threads", in: ThreadCount.range)
        kernel = try f.string("kernel")
        priority = try f.oneOf("priority", ["idle", "low", "normal"])
        seconds = try f.number("seconds", in: 0.001...31_536_000)
        http = try f.string("http")
        logFormat = try f.oneOf("log_format", ["human", "json"])
        logLevel = try f.oneOf("log_level", ["trace", "debug", "info", "notice", "warning", "error", "critical"])
        statusLine = try f.bool("status_line")
        pool = try f.strings("pool")
        user = try f.string("user")
        password = try f.string("password")
    }
}

/// Why a configuration was refused.
public struct ConfigError: Error, Hashable, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
