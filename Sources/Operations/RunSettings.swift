import DemandResponse
import FlexSupport
import Foundation
import LoadController
import Logging
import Mining
import MiningKernels
import NodeRPC
import OpenADR
import OpenADR2bSignals
import OpenADRSignals
import PowerSources

/// `flexminer run`'s flags as given, before they are merged over the config file: the same keys as
/// the file (nil: not given), plus the file's path and `--json`.
package struct RunFlags: Sendable {
    package var config: String?
    /// The flags' values; `policyFile` is `--policy`, `kernel` a name as given (`auto` or a kernel).
    package var values = RunConfig()
    /// `--json`: the summary is printed as JSON (and the status line is off unless asked for).
    package var json = false

    package init() {}
}

/// The run options after merging flags over the config file, checked. Precedence: a flag given on the
/// command line wins over the file; a flag choosing a work source replaces the file's choice entirely;
/// `--policy` replaces the file's policy; `--breakeven` and `--start-halted` override any policy.
package struct RunSettings: Sendable {
    package enum Work: Sendable {
        case benchmark
        case template(path: String)
        case node(url: String, credentials: NodeCredentials)
        /// Stratum v1 pools, tried in order; the password is never logged.
        case pool(urls: [String], user: String, password: String)
    }

    package var work: Work
    package var payout: String?
    package var network: String?
    package var blocks: Int?
    package var out: String
    package var coinbaseMessage: String
    package var journal: String
    package var specs: [SignalSourceSpec]
    package var signalTexts: [String]
    package var policy: PolicyFile
    package var breakevenGiven: Bool
    package var decisionLog: String?
    /// Where the active curtailments are kept across restarts (`--state-file`); none by default.
    package var stateFile: String?
    package var token: String?
    package var allowRemote: Bool
    package var threads: Int
    package var kernel: Kernel
    package var priority: WorkerPriority
    package var seconds: Double?
    package var http: HostPort?
    package var logFormat: FlexLogHandler.Format
    package var logLevel: Logger.Level
    package var statusLine: Bool
    /// The OpenADR 3 VEN, when `--signals` has an `openadr3:` source.
    package var openADR: OpenADRSource.Configuration? = nil
    /// The OpenADR 2.0b VEN, when `--signals` has an `openadr2b:` source.
    package var openADR2b: OpenADR2bSource.Configuration? = nil
    /// With `--pool`: the difficulty to suggest, and whether `client.reconnect` may move to another host.
    package var suggestDifficulty: Double?
    package var allowRedirect = false
    /// The `tariff:` and `schedule:` sources (one timer for both, so a schedule's price window and the
    /// tariff's hourly price never race), and their name in the decision log.
    package var calendar: CalendarSignals? = nil
    package var calendarName = ""
    /// Unix signal sockets are mode 0660 instead of 0600: the process's group may send signals.
    package var socketGroupAccess = false
    /// The power sources, their sampling and the telemetry file.
    package var power = PowerSettings()
    /// The flags and the config file as given at start, for `reloadedPolicy()`.
    var origin: (flags: RunFlags, file: RunConfig)

    /// Whether any signal source is configured: without one, nothing can go stale, so the fail-safe is
    /// unarmed (HTTP pause/resume still works).
    package var hasSignalSources: Bool { !specs.isEmpty || calendar != nil }

    /// - Parameters:
    ///   - file: the config file's contents (read from `flags.config` when nil).
    ///   - environment: where `FLEXMINER_SIGNAL_TOKEN` is read.
    ///   - isTerminal: whether stdout is a terminal (the status line's default).
    ///   - kernel: resolves a kernel name (`auto` when nil); throws for an unknown one.
    /// - Throws: `ConfigError` naming the flag or key.
    package static func resolve(
        _ c: RunFlags, file given: RunConfig? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        isTerminal: Bool = isatty(STDOUT_FILENO) == 1, kernel: (String?) throws(ConfigError) -> Kernel
    ) throws(ConfigError) -> RunSettings {
        var file = given ?? RunConfig()
        if given == nil, let path = c.config { file = try RunConfig(contentsOf: path) }
        return try RunSettings(c, file: file, environment: environment, isTerminal: isTerminal, kernel: kernel)
    }

    init(
        _ flags: RunFlags, file: RunConfig, environment: [String: String], isTerminal: Bool,
        kernel resolveKernel: (String?) throws(ConfigError) -> Kernel
    ) throws(ConfigError) {
        let m = try RunConfig.merged(flags: flags.values, file: file)
        origin = (flags, file)
        (work, payout) = try Self.work(m)
        network = m.network
        blocks = m.blocks
        out = m.out ?? "blocks"
        coinbaseMessage = m.coinbaseMessage ?? ""
        journal = m.journal ?? "flexminer-journal.jsonl"
        signalTexts = m.signals ?? []
        let calendarTexts = signalTexts.filter { $0.hasPrefix("tariff:") || $0.hasPrefix("schedule:") }
        specs = try signalTexts.filter { !calendarTexts.contains($0) }.map { s throws(ConfigError) in
            do { return try SignalSourceSpec(s) } catch { throw ConfigError("--signals: \(error)") }
        }
        allowRemote = m.allowRemote ?? false
        token = try Self.loadToken(m.tokenFile, environment: environment)
        try Self.checkRemote(specs, allowRemote: allowRemote, token: token)
        if let text = m.http { http = try Self.httpAddress(text, allowRemote: allowRemote, token: token) }
        (policy, breakevenGiven) = try Self.policy(m)
        decisionLog = m.decisionLog
        stateFile = m.stateFile
        threads = m.threads ?? ThreadCount.default
        kernel = try resolveKernel(m.kernel)
        priority = m.priority.flatMap(WorkerPriority.init(rawValue:)) ?? .idle
        seconds = m.seconds
        logFormat = m.logFormat.flatMap(FlexLogHandler.Format.init(rawValue:)) ?? .human
        logLevel = m.logLevel.flatMap(Logger.Level.init(rawValue:)) ?? .info
        statusLine = m.statusLine ?? (isTerminal && !flags.json)
        openADR = try Self.openADR(specs: specs, merged: m.openADR3, flags: flags.values.openADR3, policy: policy)
        openADR2b = try Self.openADR2b(
            specs: specs, merged: m.openADR2b, flags: flags.values.openADR2b,
            powerWatts: m.powerWatts ?? policy.powerWatts, openADR3State: openADR?.statePath)
        suggestDifficulty = m.suggestDifficulty
        allowRedirect = m.allowRedirect ?? false
        try loadCalendar(calendarTexts, merged: m)
        socketGroupAccess = m.socketGroupAccess ?? false
        power = try Self.power(m, policy: policy)
    }

    /// The work source (exactly one) and the payout address it needs.
    static func work(_ m: RunConfig) throws(ConfigError) -> (Work, payout: String?) {
        let benchmark = m.benchmarkWork == true
        guard [benchmark, m.template != nil, m.rpc != nil, m.pool != nil].filter({ $0 }).count == 1 else {
            throw ConfigError(
                "give exactly one work source: --benchmark-work, --template, --rpc or --pool (or benchmark_work/template/rpc/pool in --config)"
            )
        }
        if let t = m.template {
            guard m.payout != nil else { throw ConfigError("--template needs --payout ADDRESS") }
            return (.template(path: t), m.payout)
        } else if let url = m.rpc {
            guard m.payout != nil else { throw ConfigError("--rpc needs --payout ADDRESS") }
            guard let credentials = NodeCredentials(cookie: m.rpcCookie, user: m.rpcUser, password: m.rpcPassword)
            else { throw ConfigError("give --rpc-cookie PATH, or --rpc-user and --rpc-password") }
            return (.node(url: url, credentials: credentials), m.payout)
        } else if let pools = m.pool {
            guard !pools.isEmpty else { throw ConfigError("--pool: give at least one stratum+tcp://HOST:PORT") }
            guard let user = m.user, !user.isEmpty else { throw ConfigError("--pool needs --user NAME") }
            return (.pool(urls: pools, user: user, password: m.password ?? "x"), m.payout)
        }
        return (.benchmark, m.payout)
    }

    /// Refuses a source beyond loopback without `--allow-remote` and a token.
    static func checkRemote(_ specs: [SignalSourceSpec], allowRemote: Bool, token: String?) throws(ConfigError) {
        for spec in specs where !spec.isLocal {
            guard allowRemote else {
                throw ConfigError("--signals \(spec): binding beyond loopback needs --allow-remote (and --token-file)")
            }
            guard token != nil else {
                throw ConfigError(
                    "--signals \(spec): a remote source needs a shared token (--token-file or FLEXMINER_SIGNAL_TOKEN)")
            }
        }
    }

    /// `--http HOST:PORT`: beyond loopback only with `--allow-remote` and a token.
    static func httpAddress(_ text: String, allowRemote: Bool, token: String?) throws(ConfigError) -> HostPort {
        let address: HostPort
        do { address = try HostPort(text) } catch { throw ConfigError("--http \(text): \(error.message)") }
        if !address.isLoopback {
            guard allowRemote, token != nil else {
                throw ConfigError("--http \(text): beyond loopback needs --allow-remote and a token (--token-file)")
            }
        }
        return address
    }

    /// The policy: a --policy file replaces the config's; --breakeven and --start-halted override both.
    /// - Returns: the policy and whether `--breakeven` (or `"breakeven"`) was given.
    static func policy(_ m: RunConfig) throws(ConfigError) -> (PolicyFile, Bool) {
        var policy: PolicyFile
        if let path = m.policyFile {
            do { policy = try PolicyFile(contentsOf: path) } catch { throw ConfigError(error.message) }
        } else {
            policy = m.policy ?? PolicyFile()
        }
        if let b = m.breakeven {
            do { policy = try PolicyOverrides(breakeven: b).apply(to: policy) } catch {
                throw ConfigError(error.message)
            }
        }
        if let halted = m.startHalted { policy.config.initialCapacity = halted ? 0 : 1 }
        if policy.needsHashRate && policy.config.initialCapacity == 0 {
            throw ConfigError(
                "--start-halted with a hashprice-based policy needs \"hashrate_hs\" in the policy (nothing may hash to measure it)"
            )
        }
        return (policy, m.breakeven != nil)
    }

    /// The policy read again as at start (`systemctl reload`, SIGHUP): the config file when one was named
    /// (its `"policy"`, `"policy_file"` and `"breakeven"`), the policy file it or `--policy` names, and the
    /// flags given at start, which still win. Only the policy is taken; the other keys need a restart.
    /// - Throws: `ConfigError` naming the file and the key; the caller keeps the policy it has.
    package func reloadedPolicy() throws(ConfigError) -> (policy: PolicyFile, breakevenGiven: Bool) {
        var file = origin.file
        if let path = origin.flags.config { file = try RunConfig(contentsOf: path) }
        let keys: Set = ["policy", "policy_file", "breakeven", "start_halted"]
        return try Self.policy(RunConfig.merged(flags: origin.flags.values, file: file, keys: keys))
    }

    /// The shared token from `path`, else from `FLEXMINER_SIGNAL_TOKEN`; at least 16 bytes wherever it
    /// comes from (an empty token would open the remote sources to anyone who sends an empty one).
    static func loadToken(_ path: String?, environment: [String: String]) throws(ConfigError) -> String? {
        let minimum = 16
        if let path {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ConfigError("--token-file \(path): cannot read it")
            }
            let t = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard t.utf8.count >= minimum else {
                throw ConfigError("--token-file \(path): the token must be at least \(minimum) characters")
            }
            return t
        }
        guard let t = environment["FLEXMINER_SIGNAL_TOKEN"] else { return nil }
        guard t.utf8.count >= minimum else {
            throw ConfigError("FLEXMINER_SIGNAL_TOKEN: the token must be at least \(minimum) characters")
        }
        return t
    }
}

extension RunSettings {
    /// The OpenADR 3 source's settings from the merged `"openadr3"` block (each `--openadr-*` flag over
    /// the file's key); `flags` alone, given without a VTN, are refused.
    /// - Throws: `ConfigError` naming the flag.
    static func openADR(
        specs: [SignalSourceSpec], merged: OpenADR3Config?, flags: OpenADR3Config?, policy: PolicyFile
    ) throws(ConfigError) -> OpenADRSource.Configuration? {
        let urls = specs.compactMap { spec -> String? in
            if case .openadr3(let url) = spec { return url }
            return nil
        }
        let m = merged ?? OpenADR3Config()
        guard let url = urls.first else {
            // --power-watts is also the power model's figure: it stands without a VTN.
            var others = flags ?? OpenADR3Config()
            others.powerWatts = nil
            if !openADR2bURLs(specs).isEmpty {
                // Shared with the 2.0b VEN.
                (others.ven, others.poll, others.state) = (nil, nil, nil)
            }
            if !others.isEmpty {
                throw ConfigError("--openadr-*: give the VTN as --signals openadr3:http[s]://HOST/BASE_PATH")
            }
            return nil
        }
        guard urls.count == 1 else { throw ConfigError("--signals: one openadr3: source at most") }
        var c = OpenADRSource.Configuration(baseURL: url)
        let clientID = m.clientID
        let secretFile = m.secretFile
        switch (clientID, secretFile) {
        case (let id?, let path?): c.credentials = OpenADRCredentials(clientID: id, secretFile: path)
        case (nil, nil): break
        default: throw ConfigError("--openadr-client-id and --openadr-secret-file go together")
        }
        c.program = m.program
        c.venName = m.ven
        c.resourceName = m.resource
        if let poll = m.poll {
            guard poll >= 1 && poll <= 86_400 else { throw ConfigError("--openadr-poll must be 1...86400 seconds") }
            c.pollSeconds = poll
        }
        if let text = m.callback {
            do { c.callback = try HostPort(text) } catch {
                throw ConfigError("--openadr-callback \(text): \(error.message)")
            }
        }
        c.powerWatts = m.powerWatts ?? policy.powerWatts
        if let w = c.powerWatts, !(w > 0 && w <= 1e9) { throw ConfigError("--power-watts must be positive") }
        c.statePath = m.state ?? "flexminer-openadr.json"
        if let levels = m.simpleLevels {
            c.simpleLevels = OpenADRPlanner.defaultSimpleLevels.merging(levels) { _, new in new }
        }
        return c
    }
}

extension RunSettings {
    /// Reads the tariff, schedule and holidays at start, so a bad file is an error naming its field before
    /// anything runs.
    mutating func loadCalendar(_ texts: [String], merged m: RunConfig) throws(ConfigError) {
        func path(_ prefix: String, _ key: String?) throws(ConfigError) -> String? {
            let given = texts.filter { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }
            guard given.count <= 1 else { throw ConfigError("--signals: one \(prefix) source at most") }
            if let p = given.first, p.isEmpty { throw ConfigError("--signals \(prefix): empty path") }
            return given.first ?? key
        }
        let tariffPath = try path("tariff:", m.tariff)
        let schedulePath = try path("schedule:", m.schedule)
        let zone = m.timezone
        let holidaysPath = m.holidays
        guard tariffPath != nil || schedulePath != nil else {
            if zone != nil || holidaysPath != nil {
                throw ConfigError("--timezone and --holidays go with --signals tariff:PATH")
            }
            return
        }
        do throws(InputError) {
            var tariff: TariffClock? = nil
            if let p = tariffPath {
                guard let zone else {
                    throw InputError("--signals tariff:\(p) needs --timezone IANA (the tariff's local time)")
                }
                let clock = try LocalClock(identifier: zone, field: "--timezone")
                let holidays =
                    try holidaysPath.map { h throws(InputError) in try HolidayList(contentsOf: h) } ?? HolidayList()
                tariff = TariffClock(tariff: try URDBTariff(contentsOf: p), clock: clock, holidays: holidays)
            }
            let schedule = try schedulePath.map { p throws(InputError) in try Schedule(contentsOf: p) }
            if let z = schedule?.peakTimeZone, !policy.peakTimeZoneGiven { policy.config.peakTimeZone = z }
            calendar = CalendarSignals(tariff: tariff, schedule: schedule)
            calendarName = [tariffPath.map { "tariff:\($0)" }, schedulePath.map { "schedule:\($0)" }].compactMap { $0 }
                .joined(separator: "+")
        } catch {
            throw ConfigError(error.message)
        }
    }
}

extension RunSettings {
    /// What the host draws: a measured source (`--power rapl` or `sunspec:…`) and the model (whenever
    /// `--power-watts` is known), sampled every `interval` seconds off the control path.
    package struct PowerSettings: Sendable {
        /// `rapl` or `sunspec:…`; nil for none (the model alone, or no power at all).
        package var measured: PowerSourceSpec? = nil
        /// The draw at full capacity: the model runs whenever this is known.
        package var modelWatts: Double? = nil
        package var idleWatts = 0.0
        package var interval = PowerSampler.defaultInterval
        package var stale = PowerSampler.defaultStale
        package var telemetry: String? = nil
        package var telemetryMaxBytes = 100 << 20
        /// The telemetry's `host`.
        package var hostName = ""

        package init() {}

        /// Whether any source runs.
        package var isEmpty: Bool { measured == nil && modelWatts == nil }
    }

    /// `--power`, `--power-watts`, `--idle-watts`, `--power-interval`, `--power-stale`, `--telemetry`,
    /// `--telemetry-max-mb`, `--host-name`, as merged over the file's keys (their ranges checked there); the
    /// checks across them here.
    /// - Throws: `ConfigError` naming the flag.
    static func power(_ m: RunConfig, policy: PolicyFile) throws(ConfigError) -> PowerSettings {
        var p = PowerSettings()
        let text = m.power
        p.modelWatts = m.powerWatts ?? policy.powerWatts
        if let w = p.modelWatts, !(w.isFinite && w > 0 && w <= 1e9) {
            throw ConfigError("--power-watts must be in (0, 1e9], got \(w)")
        }
        if let text {
            let spec: PowerSourceSpec
            do { spec = try PowerSourceSpec(text) } catch { throw ConfigError(error.message) }
            if spec == .model {
                guard p.modelWatts != nil else {
                    throw ConfigError("--power model needs --power-watts W (the draw at full capacity)")
                }
            } else {
                p.measured = spec
            }
        }
        if let idle = m.idleWatts {
            guard let full = p.modelWatts else { throw ConfigError("--idle-watts goes with --power-watts") }
            guard idle.isFinite, idle >= 0, idle < full else {
                throw ConfigError("--idle-watts must be at least 0 and below --power-watts (\(full)), got \(idle)")
            }
            p.idleWatts = idle
        }
        if let i = m.powerInterval { p.interval = i }
        // A value older than three intervals is stale by default: one late sample is not yet an outage.
        p.stale = max(PowerSampler.defaultStale, 3 * p.interval)
        if let s = m.powerStale {
            guard RunConfig.powerStaleRange.contains(s), s >= p.interval else {
                throw ConfigError(
                    "--power-stale must be 0.5...3600 seconds and at least --power-interval (\(p.interval)), got \(s)")
            }
            p.stale = s
        }
        p.telemetry = m.telemetry
        if let t = p.telemetry {
            guard !t.isEmpty else { throw ConfigError("--telemetry: empty path") }
            guard !p.isEmpty else {
                throw ConfigError("--telemetry needs a power source: --power rapl|sunspec:HOST:PORT or --power-watts W")
            }
        }
        // Range-checked in the merge (1...100000), so the conversion cannot trap.
        if let mb = m.telemetryMaxMB { p.telemetryMaxBytes = Int(mb * 1_048_576) }
        p.hostName = m.hostName ?? TelemetryLog.hostName()
        guard !p.hostName.isEmpty, p.hostName.utf8.count <= 255 else {
            throw ConfigError("--host-name must be 1...255 bytes")
        }
        return p
    }
}
