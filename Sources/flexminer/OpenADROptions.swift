import ArgumentParser
import Operations

/// `run`'s OpenADR 3 flags (with `--signals openadr3:URL`). The client secret has no flag: it is read
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

    @Option(name: .customLong("openadr-poll"), help: "Seconds between event reads (default 15).")
    var poll: Double?

    @Option(
        name: .customLong("openadr-callback"),
        help: "Serve the notification callback on HOST:PORT and subscribe to event changes.")
    var callback: String?

    @Option(
        name: .customLong("openadr-state"), help: "State file for the known schedule (default flexminer-openadr.json).")
    var state: String?

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
}
