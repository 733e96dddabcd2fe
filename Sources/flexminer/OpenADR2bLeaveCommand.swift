import ArgumentParser
import OpenADR2b
import OpenADR2bSignals
import Operations

/// `flexminer openadr2b-leave`: the operator leaves an OpenADR 2.0b program. The work is
/// `OpenADR2bSource.leave`; this only reads the flags `run` takes for the VTN.
struct OpenADR2bLeaveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "openadr2b-leave",
        abstract: "Leave an OpenADR 2.0b program (cancel this VEN's registration).",
        discussion: """
            Sends oadrCancelPartyRegistration for the registration kept in --openadr-state, checks the VTN's oadrCanceledPartyRegistration (responseCode 200), then removes the state file. Give the VTN and the flags given to run (over https: --openadr-cert and --openadr-key, and --openadr-ca and --openadr-vtn-fingerprint as there). Stop the host's run first: a running VEN would register again.

            Exit status 0 when the VTN cancelled the registration; 1 otherwise, with the error on one line and the state file unchanged (64 for a flag error, before anything is sent).

            Example:
              flexminer openadr2b-leave --vtn openadr2b:https://vtn.example/OpenADR2/Simple/2.0b --openadr-ven host-1 --openadr-state /var/lib/flexminer/openadr2b.json --openadr-cert ven.pem --openadr-key ven.key
            """
    )

    @Argument(help: "The VTN: openadr2b:http[s]://HOST[:PORT]/PREFIX (or give --vtn).")
    var url: String?

    @Option(help: "The VTN: openadr2b:http[s]://HOST[:PORT]/PREFIX, as in run's --signals.")
    var vtn: String?

    @Option(name: .customLong("openadr-ven"), help: "The VEN's name, as given to run.")
    var ven: String?

    @Option(name: .customLong("openadr-state"), help: "The 2.0b state file run kept (the registration is in it).")
    var state: String?

    @Option(name: .customLong("openadr-cert"), help: "Client certificate (PEM), for https.")
    var cert: String?

    @Option(name: .customLong("openadr-key"), help: "The client certificate's private key (PEM).")
    var key: String?

    @Option(name: .customLong("openadr-ca"), help: "CA bundle (PEM) the VTN's certificate is checked against.")
    var ca: String?

    @Option(
        name: .customLong("openadr-vtn-fingerprint"),
        help: "The VTN certificate's fingerprint (last 10 bytes of its SHA-256, hex).")
    var vtnFingerprint: String?

    func validate() throws { _ = try settings() }

    func run() async throws {
        let configuration = try settings()
        do { print(try await OpenADR2bSource.leave(configuration)) } catch {
            CommandLog.bootstrap().error("flexminer openadr2b-leave: \(error.message)")
            throw ExitCode(1)
        }
    }

    /// The VTN and the flags, checked as `run` checks them.
    func settings() throws -> OpenADR2bSource.Configuration {
        let target: String
        switch (url, vtn) {
        case (let u?, nil): target = u
        case (nil, let v?): target = v
        case (nil, nil): throw ValidationError("give the VTN: --vtn openadr2b:http[s]://HOST[:PORT]/PREFIX")
        case (_?, _?): throw ValidationError("give the VTN once: a URL argument or --vtn, not both")
        }
        var flags = OpenADR2bConfig()
        flags.ven = ven
        flags.state = state
        flags.cert = cert
        flags.key = key
        flags.ca = ca
        flags.vtnFingerprint = vtnFingerprint
        do { return try RunSettings.openADR2bLeave(url: target, flags: flags) } catch {
            throw ValidationError(error.message)
        }
    }
}
