import LoadController

/// `openadr3:URL` is one kind of signal source: an outbound client (it listens nowhere but for its
/// callback, which checks a bearer token of its own).
extension OpenADRService: SignalSource {
    package var scheme: String { "openadr3" }
    package var name: String { "openadr3:\(source.configuration.baseURL)" }
}
