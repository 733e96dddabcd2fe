import FlexSupport

/// `"openadr2b": {...}` in the config file, and the `--openadr-*` flags of an `openadr2b:` source: the same
/// names as the flags (`_` for `-`, e.g. `"openadr_vtn_id"`; the short forms without `openadr_` are accepted
/// too, as in the `"openadr3"` block). The VTN's URL is the `openadr2b:` entry of `signals`. `--openadr-ven`,
/// `--openadr-poll` and `--openadr-state` are shared with OpenADR 3: given as flags, they set both blocks.
package struct OpenADR2bConfig: Sendable, Equatable {
    package var ven: String?
    package var vtnID: String?
    package var marketContext: String?
    package var poll: Double?
    /// Where the registration and the known events are kept (default `flexminer-openadr2b.json`).
    package var state: String?
    /// The client certificate, its key, the CA bundle (PEM paths) and the VTN's fingerprint.
    package var cert: String?
    package var key: String?
    package var ca: String?
    package var vtnFingerprint: String?

    package init() {}

    static let names = ["ven", "vtn_id", "market_context", "poll", "state", "cert", "key", "ca", "vtn_fingerprint"]

    /// The seconds `--openadr-poll` and `"poll"` take.
    static let pollRange = 1.0...86_400.0

    init(fields f: JSONFields) throws(InputError) {
        try f.onlyKeys(Self.names.flatMap { [$0, "openadr_\($0)"] })
        // `??` would rethrow as `any Error`: the long name first, then the short one.
        func text(_ k: String) throws(InputError) -> String? {
            if let v = try f.string("openadr_\(k)") { return v }
            return try f.string(k)
        }
        ven = try text("ven")
        vtnID = try text("vtn_id")
        marketContext = try text("market_context")
        state = try text("state")
        cert = try text("cert")
        key = try text("key")
        ca = try text("ca")
        vtnFingerprint = try text("vtn_fingerprint")
        poll = try f.number("openadr_poll", in: Self.pollRange)
        if poll == nil { poll = try f.number("poll", in: Self.pollRange) }
    }

    /// Whether any setting is given.
    package var isEmpty: Bool { self == OpenADR2bConfig() }

    /// The settings only a 2.0b VTN takes (not the ones shared with OpenADR 3), by flag, for the error when
    /// they are given without an `openadr2b:` source.
    var ownFlags: [String] {
        [
            vtnID.map { _ in "--openadr-vtn-id" }, marketContext.map { _ in "--openadr-market-context" },
            cert.map { _ in "--openadr-cert" }, key.map { _ in "--openadr-key" }, ca.map { _ in "--openadr-ca" },
            vtnFingerprint.map { _ in "--openadr-vtn-fingerprint" },
        ].compactMap { $0 }
    }

    /// Each of these settings over `file`'s.
    func merged(over file: OpenADR2bConfig) -> OpenADR2bConfig {
        var m = self
        m.ven = ven ?? file.ven
        m.vtnID = vtnID ?? file.vtnID
        m.marketContext = marketContext ?? file.marketContext
        m.poll = poll ?? file.poll
        m.state = state ?? file.state
        m.cert = cert ?? file.cert
        m.key = key ?? file.key
        m.ca = ca ?? file.ca
        m.vtnFingerprint = vtnFingerprint ?? file.vtnFingerprint
        return m
    }
}

extension RunConfig {
    /// `"openadr2b"`: the 2.0b VEN's block, merged field by field under the `--openadr-*` flags.
    static var openADR2bOption: RunOption {
        RunOption(
            key: "openadr2b",
            read: { f, c throws(InputError) in
                c.openADR2b = try f.fields("openadr2b").map { o throws(InputError) in try OpenADR2bConfig(fields: o) }
            },
            merge: { c, f, m in
                guard let flags = c.openADR2b else { return m.openADR2b = f.openADR2b }
                m.openADR2b = flags.merged(over: f.openADR2b ?? OpenADR2bConfig())
            })
    }
}
