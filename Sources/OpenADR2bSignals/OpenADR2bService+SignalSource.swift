import LoadController

/// `openadr2b:URL` is one kind of signal source: an outbound client that listens nowhere (it polls).
extension OpenADR2bService: SignalSource {
    package var scheme: String { "openadr2b" }
    package var name: String { "openadr2b:\(source.configuration.baseURL)" }
}
