import LoadController

/// `openadr2b:URL` is one kind of signal source: an outbound client that listens nowhere (it polls).
extension OpenADR2bService: SignalSource {
    public var scheme: String { "openadr2b" }
    public var name: String { "openadr2b:\(source.configuration.baseURL)" }
}
