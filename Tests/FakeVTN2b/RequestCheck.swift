import Foundation

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// The fake VTN's own minimal reading of a VEN's request, with Foundation's `XMLParser` (never the
/// OpenADR2b module under test): the message's name, checked to be `oadrPayload` › `oadrSignedObject` ›
/// an OpenADR 2.0b message in the 2.0b namespace, and the text of every element by local name.
package struct RequestCheck: Sendable {
    package let message: String
    /// Local name → the texts of every element with that name, in document order.
    package let texts: [String: [String]]

    package func first(_ name: String) -> String? { texts[name]?.first }

    static let oadr = "http://openadr.org/oadr-2.0b/2012/07"

    /// Nil when the body is not well-formed or not shaped as a 2.0b message.
    package static func read(_ body: Data) -> RequestCheck? {
        let d = Delegate()
        let p = XMLParser(data: body)
        p.shouldProcessNamespaces = true
        p.shouldResolveExternalEntities = false
        p.delegate = d
        guard p.parse(), d.path.isEmpty, let m = d.message else { return nil }
        return RequestCheck(message: m, texts: d.texts)
    }

    final class Delegate: NSObject, XMLParserDelegate, @unchecked Sendable {
        // @unchecked: used by one parse on one thread.
        var path: [(ns: String, name: String)] = []
        var message: String?
        var shapeOK = true
        var texts: [String: [String]] = [:]
        var text = ""

        func parser(
            _ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
            attributes: [String: String] = [:]
        ) {
            let ns = namespaceURI ?? ""
            // The XML signature before oadrSignedObject is xmlsec1's to check (FakeVTN2b.handle), not read.
            if path.count >= 2, path[1].name == "Signature" {
                path.append((ns, name))
                return
            }
            if path.count == 1, ns == "http://www.w3.org/2000/09/xmldsig#", name == "Signature" {
                path.append((ns, name))
                return
            }
            switch path.count {
            case 0: shapeOK = shapeOK && ns == RequestCheck.oadr && name == "oadrPayload"
            case 1: shapeOK = shapeOK && ns == RequestCheck.oadr && name == "oadrSignedObject"
            case 2:
                shapeOK = shapeOK && ns == RequestCheck.oadr
                if shapeOK { message = name }
            default: break
            }
            path.append((ns, name))
            text = ""
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }

        func parser(
            _ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?
        ) {
            if path.count >= 2, path[1].name == "Signature" {
                path.removeLast()
                text = ""
                return
            }
            texts[name, default: []].append(text.trimmingCharacters(in: .whitespacesAndNewlines))
            text = ""
            path.removeLast()
            if !shapeOK { message = nil }
        }
    }
}
