/// The namespace URIs of OpenADR 2.0b messages. Elements are matched by these, never by prefix: each VTN
/// picks its own prefixes (or none).
package enum OADRNamespace {
    package static let oadr = "http://openadr.org/oadr-2.0b/2012/07"
    package static let ei = "http://docs.oasis-open.org/ns/energyinterop/201110"
    package static let pyld = "http://docs.oasis-open.org/ns/energyinterop/201110/payloads"
    package static let emix = "http://docs.oasis-open.org/ns/emix/2011/06"
    package static let xcal = "urn:ietf:params:xml:ns:icalendar-2.0"
    package static let strm = "urn:ietf:params:xml:ns:icalendar-2.0:stream"
    package static let power = "http://docs.oasis-open.org/ns/emix/2011/06/power"
    package static let scale = "http://docs.oasis-open.org/ns/emix/2011/06/siscale"

    /// The prefixes FlexMiner writes, declared once on each message's root.
    static let declarations: [(prefix: String, uri: String)] = [
        ("oadr", oadr), ("ei", ei), ("pyld", pyld), ("emix", emix), ("xcal", xcal), ("strm", strm),
        ("power", power), ("scale", scale),
    ]
}
