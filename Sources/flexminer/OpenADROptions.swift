import ArgumentParser
import Operations

/// `run`'s OpenADR flags (with `--signals openadr3:URL` or `openadr2b:URL`). The client secret has no flag: it is read
/// from `--openadr-secret-file`, so it never shows in `ps` or a shell history.
struct OpenADROptions: ParsableArguments {
    @Option(name: .customLong("openadr-client-id"), help: "OAuth 2 client id at the VTN (with --openadr-secret-file).")
    var clientID: String?

    @Option(name: .customLong("openadr-secret-file"), help: "File holding the OAuth 2 client secret.")
    var secretFile: String?

    @Option(name: .customLong("openadr-program"), help: "The program's name or id (default: every event shown).")
    var program: String?

    @Option(name: .customLong("openadr-ven"), help: "Register (or reuse) a VEN with this name.")
    var ven: String?

    @Option(name: .customLong("openadr-resource"), help: "Resource name in reports (default: the VEN's name).")
    var resource: String?

    @Option(
        name: .customLong("openadr-poll"),
        help: "Seconds between event reads (default 15; OpenADR 2.0b: poll at least this often, default 10).")
    var poll: Double?

    @Option(
        name: .customLong("openadr-callback"),
        help: "Serve the notification callback on HOST:PORT and subscribe to event changes.")
    var callback: String?

    @Option(
        name: .customLong("openadr-state"),
        help: "State file for the known schedule (default flexminer-openadr.json; 2.0b: flexminer-openadr2b.json).")
    var state: String?

    @Option(name: .customLong("openadr-vtn-id"), help: "OpenADR 2.0b: the VTN's id (its messages must carry it).")
    var vtnID: String?

    @Option(
        name: .customLong("openadr-market-context"),
        help: "OpenADR 2.0b: follow only this program's events (others are opted out of).")
    var marketContext: String?

    @Option(name: .customLong("openadr-cert"), help: "OpenADR 2.0b: client certificate (PEM), for https.")
    var cert: String?

    @Option(name: .customLong("openadr-key"), help: "OpenADR 2.0b: the client certificate's private key (PEM).")
    var key: String?

    @Option(
        name: .customLong("openadr-ca"), help: "OpenADR 2.0b: CA bundle (PEM) the VTN's certificate is checked against."
    )
    var ca: String?

    @Option(
        name: .customLong("openadr-vtn-fingerprint"),
        help: "OpenADR 2.0b: the VTN certificate's fingerprint (last 10 bytes of its SHA-256, hex).")
    var vtnFingerprint: String?

    @Option(
        name: .customLong("power-watts"),
        help: "The miner's draw at full capacity in W: the power model, OpenADR reports' USAGE, IMPORT_CAPACITY_LIMIT.")
    var powerWatts: Double?

    /// The flags as a config block; nil when none is given.
    var config: OpenADR3Config? {
        var c = OpenADR3Config()
        c.clientID = clientID
        c.secretFile = secretFile
        c.program = program
        c.ven = ven
        c.resource = resource
        c.poll = poll
        c.callback = callback
        c.state = state
        c.powerWatts = powerWatts
        return c.isEmpty ? nil : c
    }

    /// The 2.0b block: its own flags and the ones shared with OpenADR 3 (`--openadr-ven`, `--openadr-poll`,
    /// `--openadr-state`); nil when none is given.
    var config2b: OpenADR2bConfig? {
        var c = OpenADR2bConfig()
        c.ven = ven
        c.poll = poll
        c.state = state
        c.vtnID = vtnID
        c.marketContext = marketContext
        c.cert = cert
        c.key = key
        c.ca = ca
        c.vtnFingerprint = vtnFingerprint
        return c.isEmpty ? nil : c
    }
}
