import ArgumentParser
import FlexSupport
import Operations
import Stratum
import WorkSources

/// `--pool stratum+tcp://HOST:PORT [--pool URL2 ...] --user NAME [--password P]`, shared by `mine` and
/// `run`.
struct PoolOptions: ParsableArguments {
    @Option(
        name: .customLong("pool"),
        help: "A stratum v1 pool, stratum+tcp://HOST:PORT; repeat for failover pools, tried in order.")
    var pools: [String] = []

    @Option(help: "Pool worker name, usually ADDRESS.worker or ACCOUNT.worker (with --pool).")
    var user: String?

    @Option(help: "Pool worker password (default x). Never printed or logged.")
    var password: String?

    @Option(help: "Ask the pool for this share difficulty (mining.suggest_difficulty).")
    var suggestDifficulty: Double?

    @Flag(
        inversion: .prefixedNo,
        help: "Follow a pool's client.reconnect to another host (default: the same host only).")
    var allowRedirect: Bool?

    /// The pools' URLs, checked.
    /// - Throws: `ValidationError` naming `--pool`.
    func urls() throws -> [StratumURL] {
        try pools.map { text in
            do throws(StratumError) { return try StratumURL(text) } catch {
                throw ValidationError("--pool \(error.message)")
            }
        }
    }

    /// The work source's options for these flags.
    func workOptions(version: String) throws -> PoolWork.Options {
        guard let user, !user.isEmpty else { throw ValidationError("--pool needs --user NAME") }
        if let problem = suggestDifficulty.flatMap({ RunConfig.suggestDifficultyProblem($0) }) {
            throw ValidationError(problem)
        }
        var o = PoolWork.Options(pools: try urls(), user: user)
        o.password = password ?? "x"
        o.userAgent = "flexminer/\(version)"
        o.suggestDifficulty = suggestDifficulty
        o.allowRedirect = allowRedirect ?? false
        return o
    }
}

/// `mine --pool`'s stopping rules: at most one of `--blocks`, `--shares`, `--seconds`.
enum PoolLimits {
    static func check(blocks: Int?, shares: Int?, seconds: Double?) throws {
        guard [blocks != nil, shares != nil, seconds != nil].filter({ $0 }).count <= 1 else {
            throw ValidationError("give at most one of --blocks, --shares or --seconds")
        }
        if let b = blocks, !(1...1_000_000).contains(b) {
            throw ValidationError("--blocks must be 1...1000000, got \(b)")
        }
        if let n = shares, !(1...100_000_000).contains(n) {
            throw ValidationError("--shares must be 1...100000000, got \(n)")
        }
        if let s = seconds, !(s > 0 && s <= 31_536_000) {
            throw ValidationError("--seconds must be positive and at most a year, got \(s)")
        }
    }

    static func apply(blocks: Int?, shares: Int?, seconds: Double?, to o: inout PoolWork.Options) {
        o.blocks = blocks
        o.shares = shares
        o.duration = seconds.flatMap { Duration.checked(seconds: $0) }
    }
}
