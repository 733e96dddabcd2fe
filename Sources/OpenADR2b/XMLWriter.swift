/// An element to write: a prefixed name (one of `OADRNamespace.declarations`' prefixes), attributes, and
/// either text or children. Messages are built from these values, so every piece of text a VEN or VTN
/// supplies goes through the one escaping function.
package struct WriteElement: Sendable {
    package let name: String
    package let attributes: [(String, String)]
    package let content: Content

    package enum Content: Sendable {
        case text(String)
        case children([WriteElement])
    }

    /// An element with text (escaped when written).
    package init(_ name: String, _ text: String, attributes: [(String, String)] = []) {
        self.name = name
        self.attributes = attributes
        content = .text(text)
    }

    /// An element with children.
    package init(_ name: String, attributes: [(String, String)] = [], _ children: [WriteElement]) {
        self.name = name
        self.attributes = attributes
        content = .children(children)
    }

    /// The element as XML, without a declaration; `declareNamespaces` adds every OpenADR prefix to it.
    package func xml(declareNamespaces: Bool = false) -> String {
        var out = ""
        write(to: &out, declareNamespaces: declareNamespaces)
        return out
    }

    private func write(to out: inout String, declareNamespaces: Bool) {
        out += "<" + name
        if declareNamespaces {
            for (prefix, uri) in OADRNamespace.declarations { out += " xmlns:\(prefix)=\"\(XMLEscape.text(uri))\"" }
        }
        for (k, v) in attributes { out += " \(k)=\"\(XMLEscape.text(v))\"" }
        switch content {
        case .text(let t) where t.isEmpty:
            out += "/>"
        case .text(let t):
            out += ">" + XMLEscape.text(t) + "</" + name + ">"
        case .children(let c) where c.isEmpty:
            out += "/>"
        case .children(let c):
            out += ">"
            for child in c { child.write(to: &out, declareNamespaces: false) }
            out += "</" + name + ">"
        }
    }
}

/// The one escaping of text and attribute values in OpenADR 2.0b output.
package enum XMLEscape {
    /// `s` with `& < > " '` escaped, and characters XML 1.0 cannot carry (controls other than tab, CR and
    /// LF, lone surrogates, U+FFFE/FFFF) replaced by U+FFFD, so that any string gives a well-formed
    /// document.
    package static func text(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\t", "\n", "\r": out.unicodeScalars.append(scalar)
            default:
                let v = scalar.value
                let allowed = (0x20...0xD7FF).contains(v) || (0xE000...0xFFFD).contains(v) || v >= 0x10000
                out.unicodeScalars.append(allowed ? scalar : "\u{FFFD}")
            }
        }
        return out
    }
}
