import FlexSupport
import LoadController
import OpenADR2bSignals

extension RunSettings {
    /// The `openadr2b:` URLs among the signal sources.
    static func openADR2bURLs(_ specs: [SignalSourceSpec]) -> [String] {
        specs.compactMap { spec -> String? in
            if case .registered("openadr2b", let url) = spec { return url }
            return nil
        }
    }

    /// The OpenADR 2.0b source's settings from the merged `"openadr2b"` block (each `--openadr-*` flag over
    /// the file's key); its own flags given without an `openadr2b:` source are refused.
    /// - Parameter powerWatts: the model's draw at full capacity (`--power-watts`, else the policy's).
    /// - Throws: `ConfigError` naming the flag.
    static func openADR2b(
        specs: [SignalSourceSpec], merged: OpenADR2bConfig?, flags: OpenADR2bConfig?, powerWatts: Double?,
        openADR3State: String?
    ) throws(ConfigError) -> OpenADR2bSource.Configuration? {
        let urls = openADR2bURLs(specs)
        guard let url = urls.first else {
            if let own = flags?.ownFlags, !own.isEmpty {
                throw ConfigError(
                    "\(own.joined(separator: ", ")): give the VTN as --signals openadr2b:http[s]://HOST[:PORT]/PREFIX")
            }
            return nil
        }
        guard urls.count == 1 else { throw ConfigError("--signals: one openadr2b: source at most") }
        let https = url.hasPrefix("https://")
        guard https || url.hasPrefix("http://"), url.count > 8 else {
            throw ConfigError("--signals openadr2b:\(url): expected openadr2b:http[s]://HOST[:PORT]/PREFIX")
        }
        let m = merged ?? OpenADR2bConfig()
        guard let ven = m.ven, !ven.isEmpty, ven.utf8.count <= 256 else {
            throw ConfigError("--signals openadr2b:\(url) needs --openadr-ven NAME (1...256 bytes)")
        }
        var c = OpenADR2bSource.Configuration(baseURL: url, venName: ven)
        c.vtnID = m.vtnID
        c.marketContext = m.marketContext
        if let poll = m.poll {
            guard OpenADR2bConfig.pollRange.contains(poll) else {
                throw ConfigError("--openadr-poll must be 1...86400 seconds, got \(poll)")
            }
            c.pollSeconds = poll
        }
        c.statePath = m.state ?? "flexminer-openadr2b.json"
        if let s = c.statePath, s.isEmpty { throw ConfigError("--openadr-state: empty path") }
        if c.statePath == openADR3State {
            throw ConfigError(
                "--openadr-state \(c.statePath ?? ""): the openadr3: and openadr2b: sources need state files of their own (give \"state\" in the config file's \"openadr3\" and \"openadr2b\" blocks)"
            )
        }
        c.powerWatts = powerWatts
        let tlsFlags = [
            m.cert.map { _ in "--openadr-cert" }, m.key.map { _ in "--openadr-key" }, m.ca.map { _ in "--openadr-ca" },
            m.vtnFingerprint.map { _ in "--openadr-vtn-fingerprint" },
        ].compactMap { $0 }
        // The certificates are TLS settings: over plain HTTP they would be silently unused.
        if !https, !tlsFlags.isEmpty {
            throw ConfigError(
                "\(tlsFlags.joined(separator: ", ")): need an https:// VTN (--signals openadr2b:https://HOST/PREFIX), not \(url)"
            )
        }
        switch (m.cert, m.key) {
        case (let cert?, let key?):
            c.certificatePath = cert
            c.privateKeyPath = key
        case (nil, nil):
            // A 2.0b VTN requires a client certificate over TLS: without one the VTN refuses every request.
            if https {
                throw ConfigError(
                    "--signals openadr2b:\(url): https needs --openadr-cert PEM and --openadr-key PEM (a 2.0b VTN requires a client certificate)"
                )
            }
        default: throw ConfigError("--openadr-cert and --openadr-key go together")
        }
        c.caPath = m.ca
        if let fp = m.vtnFingerprint {
            c.vtnFingerprint = try fingerprint(fp)
        }
        return c
    }

    /// The settings of `flexminer openadr2b-leave`: the VTN's URL (with or without `openadr2b:`) and the
    /// flags, checked as `run` checks them; the state file must be named (the registration is in it).
    /// - Throws: `ConfigError` naming the flag.
    package static func openADR2bLeave(url: String, flags: OpenADR2bConfig) throws(ConfigError)
        -> OpenADR2bSource.Configuration
    {
        guard let state = flags.state, !state.isEmpty else {
            throw ConfigError("--openadr-state PATH is required: the registration to cancel is in it")
        }
        let bare = url.hasPrefix("openadr2b:") ? String(url.dropFirst("openadr2b:".count)) : url
        let spec = SignalSourceSpec.registered(scheme: "openadr2b", address: bare)
        let made: OpenADR2bSource.Configuration?
        // The same checks as `run`'s; their errors name `--signals`, where this command has `--vtn`.
        do {
            made = try openADR2b(specs: [spec], merged: flags, flags: flags, powerWatts: nil, openADR3State: nil)
        } catch {
            throw ConfigError(error.message.replacingOccurrences(of: "--signals openadr2b:", with: "--vtn openadr2b:"))
        }
        guard let made else {
            throw ConfigError("openadr2b-leave: no VTN given (--vtn openadr2b:http[s]://HOST[:PORT]/PREFIX)")
        }
        return made
    }

    /// `--openadr-vtn-fingerprint`: 10 bytes as hex, with or without `:` between them (as the OpenADR
    /// Alliance's tools print them), kept as lowercase hex pairs joined by `:`.
    static func fingerprint(_ text: String) throws(ConfigError) -> String {
        guard let canonical = OADRFingerprint.normalized(text) else {
            throw ConfigError(
                "--openadr-vtn-fingerprint \(text): expected 10 bytes as hex (the last 10 bytes of the SHA-256 of the VTN's certificate)"
            )
        }
        return canonical
    }
}
