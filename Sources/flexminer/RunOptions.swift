import ArgumentParser
import Logging
import Mining
import MiningKernels
import Operations

/// `flexminer run`'s flags: each is a key of the configuration file (`RunConfig`, the key with `_` for
/// `-`) and overrides it; `flags` hands them over as given, and `RunSettings` merges them over the file
/// in one place (`RunConfig.merged`).
struct RunOptions: ParsableArguments {
    @Option(help: "Configuration file (JSON) with any of these options; flags given here override it.")
    var config: String?

    @Flag(inversion: .prefixedNo, help: "Hash a synthetic job at full speed (no node, no blocks).")
    var benchmarkWork: Bool?

    @Option(help: "A getblocktemplate result file to mine (blocks are written to --out).")
    var template: String?

    @OptionGroup var node: NodeOptions

    @OptionGroup var pool: PoolOptions

    @Option(help: "Journal of solved blocks (with --rpc; default flexminer-journal.jsonl).")
    var journal: String?

    @Option(help: "Payout address or scriptPubKey hex (with --template or --rpc).")
    var payout: String?

    @Option(help: "Network of the payout address when the template does not imply one.")
    var network: String?

    @Option(
        help:
            "Blocks to write before the miner stops writing blocks (default: unlimited with --rpc, 1 with --template).")
    var blocks: Int?

    @Option(help: "Directory for solved blocks (with --template; default blocks).")
    var out: String?

    @Option(help: "Short message for the coinbase scriptSig.")
    var coinbaseMessage: String?

    @Option(
        name: .customLong("signals"), parsing: .upToNextOption,
        help:
            "Signal sources: unix:PATH, tcp:HOST:PORT, file:PATH, openadr3:URL, openadr2b:URL, tariff:PATH (URDB JSON), schedule:PATH (none: mine at full capacity, fail-safe unarmed)."
    )
    var signals: [String] = []

    @Option(help: "IANA time zone of a tariff:PATH source's hours (e.g. America/New_York).")
    var timezone: String?

    @Option(help: "Dates (YYYY-MM-DD, one a line) on which a tariff's weekend schedule applies.")
    var holidays: String?

    @Option(help: "Policy file (JSON): power, break-even or hashprice, hysteresis, dwell, hard price, ramp, fail-safe.")
    var policy: String?

    @Option(help: "Break-even price in USD/MWh (overrides the policy's).")
    var breakeven: Double?

    @Option(help: "Decision log: JSON lines, appended.")
    var decisionLog: String?

    @Option(
        help:
            "State file (JSON, mode 0600): active curtailments are kept there and restored at start, so a restarted miner stays curtailed."
    )
    var stateFile: String?

    @Flag(inversion: .prefixedNo, help: "Start with every worker halted until a signal allows mining.")
    var startHalted: Bool?

    @Flag(
        inversion: .prefixedNo, help: "Allow binding TCP signal sources and --http beyond loopback (requires a token).")
    var allowRemote: Bool?

    @Flag(
        inversion: .prefixedNo,
        help: "Unix signal sockets mode 0660 instead of 0600: members of this process's group may send signals.")
    var socketGroupAccess: Bool?

    @Option(
        help:
            "File holding the shared token: once set, every TCP source (loopback too) needs \"token\" in each message and HTTP POSTs a Bearer header."
    )
    var tokenFile: String?

    @Option(help: "Worker threads (default: one per CPU).")
    var threads: Int?

    @Option(help: "Kernel: auto or a kernel name (not all: run mines with one kernel).")
    var kernel: String?

    @Option(help: "Worker scheduling priority: idle (SCHED_IDLE, default), low (nice 19) or normal.")
    var priority: WorkerPriority?

    @Option(help: "Stop after this many seconds (drills, tests).")
    var seconds: Double?

    @Option(help: "Serve GET /status, GET /metrics, POST /pause, POST /resume on HOST:PORT (e.g. 127.0.0.1:9105).")
    var http: String?

    @Option(help: "Log format on stderr: human or json.")
    var logFormat: FlexLogHandler.Format?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level?

    @Flag(inversion: .prefixedNo, help: "Show a status line on a terminal (default: on when stdout is a terminal).")
    var statusLine: Bool?

    @Flag(help: "Print the summary as one JSON object.")
    var json = false

    @Option(
        help:
            "Measured power source: rapl (Linux powercap), sunspec:HOST:PORT[/UNIT] (a SunSpec meter over Modbus TCP), or model (--power-watts alone)."
    )
    var power: String?

    @Option(help: "The model's draw with every worker halted, in W (default 0; with --power-watts).")
    var idleWatts: Double?

    @Option(help: "Seconds between power samples (0.25...60, default 1).")
    var powerInterval: Double?

    @Option(help: "Seconds after which the last power reading is stale, never shown as current (default 5).")
    var powerStale: Double?

    @Option(help: "Telemetry file: one JSON line per power source per sample (mode 0600, rotated to PATH.1).")
    var telemetry: String?

    @Option(help: "Size of the telemetry file before it is rotated, in MB (default 100).")
    var telemetryMaxMb: Double?

    @Option(help: "The telemetry's host name (default: this host's name).")
    var hostName: String?

    @OptionGroup(title: "OpenADR 3 and 2.0b (with --signals openadr3:URL or openadr2b:URL)") var openADR: OpenADROptions

    /// A `--kernel` name (nil: `auto`) as the one kernel `run` mines with.
    static func resolveKernel(_ name: String?) throws(ConfigError) -> Kernel {
        guard let selection = KernelSelection(argument: name ?? "auto") else {
            throw ConfigError("--kernel: unknown kernel \"\(name ?? "")\"")
        }
        do { return try selection.single() } catch { throw ConfigError("\(error)") }
    }

    /// The flags as given (nil: not given), as the config file's fields.
    var flags: RunFlags {
        var f = RunFlags()
        f.config = config
        f.json = json
        var v = RunConfig()
        v.benchmarkWork = benchmarkWork
        v.template = template
        v.rpc = node.rpc
        v.rpcCookie = node.rpcCookie
        v.rpcUser = node.rpcUser
        v.rpcPassword = node.rpcPassword
        v.journal = journal
        v.payout = payout
        v.network = network
        v.blocks = blocks
        v.out = out
        v.coinbaseMessage = coinbaseMessage
        v.signals = signals.isEmpty ? nil : signals
        v.timezone = timezone
        v.holidays = holidays
        v.policyFile = policy
        v.breakeven = breakeven
        v.decisionLog = decisionLog
        v.stateFile = stateFile
        v.startHalted = startHalted
        v.allowRemote = allowRemote
        v.tokenFile = tokenFile
        v.threads = threads
        v.kernel = kernel
        v.priority = priority?.rawValue
        v.seconds = seconds
        v.http = http
        v.logFormat = logFormat?.rawValue
        v.logLevel = logLevel?.rawValue
        v.statusLine = statusLine
        v.openADR3 = openADR.config
        v.openADR2b = openADR.config2b
        v.pool = pool.pools.isEmpty ? nil : pool.pools
        v.user = pool.user
        v.password = pool.password
        v.suggestDifficulty = pool.suggestDifficulty
        v.allowRedirect = pool.allowRedirect
        v.socketGroupAccess = socketGroupAccess
        v.power = power
        v.idleWatts = idleWatts
        v.powerInterval = powerInterval
        v.powerStale = powerStale
        v.telemetry = telemetry
        v.telemetryMaxMB = telemetryMaxMb
        v.hostName = hostName
        f.values = v
        return f
    }
}
