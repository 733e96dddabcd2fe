import DemandResponse
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

    public init() {}

    public static let keys: [String] = [
        "benchmark_work", "template", "rpc", "rpc_cookie", "rpc_user", "rpc_password", "journal", "payout",
        "network", "blocks", "out", "coinbase_message", "signals", "policy", "policy_file", "breakeven",
        "decision_log", "start_halted", "allow_remote", "token_file", "threads", "kernel", "priority", "seconds",
        "http", "log_format", "log_level", "status_line",
    ]

    /// Reads a configuration file.
    /// - Throws: `ConfigError` naming the file and the key.
    public init(contentsOf path: String) throws(ConfigError) {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ConfigError("config \(path): cannot read it (\(error.localizedDescription))")
        }
        do { try self.init(json: data) } catch { throw ConfigError("config \(path): \(error.message)") }
    }

    public init(json data: Data) throws(ConfigError) {
        guard let any = try? JSONSerialization.jsonObject(with: data) else { throw ConfigError("malformed JSON") }
        guard let o = any as? [String: Any] else { throw ConfigError("the configuration must be a JSON object") }
        if let unknown = o.keys.sorted().first(where: { !Self.keys.contains($0) }) {
            throw ConfigError("unknown key \"\(unknown)\"")
        }
        func string(_ k: String) throws(ConfigError) -> String? {
            guard let v = o[k], !(v is NSNull) else { return nil }
            guard let s = v as? String else { throw ConfigError("\"\(k)\" must be a string") }
            return s
        }
        func bool(_ k: String) throws(ConfigError) -> Bool? {
            guard let v = o[k], !(v is NSNull) else { return nil }
            guard let b = JSONScalar.bool(v) else { throw ConfigError("\"\(k)\" must be true or false") }
            return b
        }
        func number(_ k: String) throws(ConfigError) -> Double? {
            guard let v = o[k], !(v is NSNull) else { return nil }
            guard let d = JSONScalar.number(v), d.isFinite else {
                throw ConfigError("\"\(k)\" must be a finite number")
            }
            return d
        }
        func integer(_ k: String, _ range: ClosedRange<Int>) throws(ConfigError) -> Int? {
            guard let d = try number(k) else { return nil }
            guard d == d.rounded(), let i = Int(exactly: d), range.contains(i) else {
                throw ConfigError("\"\(k)\" must be a whole number in \(range.lowerBound)...\(range.upperBound)")
            }
            return i
        }
        func oneOf(_ k: String, _ allowed: [String]) throws(ConfigError) -> String? {
            guard let s = try string(k) else { return nil }
            guard allowed.contains(s) else {
                throw ConfigError("\"\(k)\" must be one of \(allowed.joined(separator: ", ")), got \"\(s)\"")
            }
            return s
        }
        benchmarkWork = try bool("benchmark_work")
        template = try string("template")
        rpc = try string("rpc")
        rpcCookie = try string("rpc_cookie")
        rpcUser = try string("rpc_user")
        rpcPassword = try string("rpc_password")
        journal = try string("journal")
        payout = try string("payout")
        network = try oneOf("network", ["main", "test", "signet", "regtest"])
        blocks = try integer("blocks", 1...Int(Int32.max))
        out = try string("out")
        coinbaseMessage = try string("coinbase_message")
        if let v = o["signals"], !(v is NSNull) {
            guard let list = v as? [Any], let strings = list as? [String], !strings.isEmpty else {
                throw ConfigError("\"signals\" must be a non-empty array of strings like \"unix:PATH\"")
            }
            signals = strings
        }
        if let v = o["policy"], !(v is NSNull) {
            guard let object = v as? [String: Any] else { throw ConfigError("\"policy\" must be an object") }
            do { policy = try PolicyFile(object: object) } catch { throw ConfigError("\"policy\": \(error.message)") }
        }
        policyFile = try string("policy_file")
        if policy != nil && policyFile != nil { throw ConfigError("give \"policy\" or \"policy_file\", not both") }
        breakeven = try number("breakeven")
        decisionLog = try string("decision_log")
        startHalted = try bool("start_halted")
        allowRemote = try bool("allow_remote")
        tokenFile = try string("token_file")
        threads = try integer("threads", 1...1024)
        kernel = try string("kernel")
        priority = try oneOf("priority", ["idle", "low", "normal"])
        seconds = try number("seconds")
        if let s = seconds, s <= 0 { throw ConfigError("\"seconds\" must be positive") }
        http = try string("http")
        logFormat = try oneOf("log_format", ["human", "json"])
        logLevel = try oneOf("log_level", ["trace", "debug", "info", "notice", "warning", "error", "critical"])
        statusLine = try bool("status_line")
    }
}

/// Why a configuration was refused.
public struct ConfigError: Error, Hashable, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
