import CLibXML2
import Foundation

/// One XML element as OpenADR 2.0b reads it: its namespace URI (never the prefix, which each VTN
/// chooses), local name, attributes, child elements and the text directly inside it. A plain value:
/// libxml2's tree is copied into it and freed at once, so nothing outside `XMLReader.parse` touches C.
package struct ReadElement: Sendable, Hashable {
    /// The namespace URI ("" when the element has none).
    package let namespace: String
    package let name: String
    /// Attributes by local name (OpenADR's `ei:schemaVersion` and `oadr:Id` are told apart by name alone).
    package let attributes: [String: String]
    package let children: [ReadElement]
    /// Text and CDATA directly inside this element, concatenated (whitespace kept).
    package let text: String

    package init(
        namespace: String, name: String, attributes: [String: String] = [:], children: [ReadElement] = [],
        text: String = ""
    ) {
        self.namespace = namespace
        self.name = name
        self.attributes = attributes
        self.children = children
        self.text = text
    }

    /// The first child named `name` in `namespace`.
    package func child(_ namespace: String, _ name: String) -> ReadElement? {
        children.first { $0.namespace == namespace && $0.name == name }
    }

    /// Every child named `name` in `namespace`, in document order.
    package func children(_ namespace: String, _ name: String) -> [ReadElement] {
        children.filter { $0.namespace == namespace && $0.name == name }
    }

    /// The element reached by following `path` from here (each step a namespace and a local name).
    package func descendant(_ path: [(String, String)]) -> ReadElement? {
        var e = self
        for (ns, name) in path {
            guard let next = e.child(ns, name) else { return nil }
            e = next
        }
        return e
    }

    /// The text with surrounding whitespace removed.
    package var trimmedText: String { text.trimmingCharacters(in: .whitespacesAndNewlines) }
}

/// Parsing untrusted XML with libxml2: a size limit before parsing, no DTD at all (so no entity can be
/// declared, expanded or fetched: "billion laughs" and external entities are refused before libxml2 sees
/// them), no network (`XML_PARSE_NONET`), no entity substitution (`XML_PARSE_NOENT` is never set), and a
/// depth limit while the tree is copied out.
package enum XMLReader {
    /// The largest document read (an oadrDistributeEvent with many events is tens of kilobytes).
    package static let maximumBytes = 1 << 20
    /// The deepest element nesting read (OpenADR 2.0b messages nest about 14 deep).
    package static let maximumDepth = 48

    /// The document's root element.
    /// - Throws: `OpenADR2bError` `.xml` naming what is wrong (size, DOCTYPE, syntax, depth).
    package static func parse(_ data: [UInt8]) throws(OpenADR2bError) -> ReadElement {
        guard data.count <= maximumBytes else {
            throw OpenADR2bError(.xml, "document of \(data.count) bytes is over the limit of \(maximumBytes)")
        }
        guard !data.isEmpty else { throw OpenADR2bError(.xml, "empty document") }
        // OpenADR 2.0b messages never carry a DTD; refusing one outright leaves libxml2 no entity to expand.
        if contains(data, Array("<!DOCTYPE".utf8)) || contains(data, Array("<!ENTITY".utf8)) {
            throw OpenADR2bError(.xml, "document has a DOCTYPE or ENTITY declaration (not allowed)")
        }
        _ = initialize
        guard let ctxt = xmlNewParserCtxt() else { throw OpenADR2bError(.xml, "cannot create an XML parser") }
        defer { xmlFreeParserCtxt(ctxt) }
        let options = Int32(
            bitPattern: XML_PARSE_NONET.rawValue | XML_PARSE_NOERROR.rawValue | XML_PARSE_NOWARNING.rawValue)
        let doc = data.withUnsafeBufferPointer { buf in
            buf.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buf.count) {
                xmlCtxtReadMemory(ctxt, $0, Int32(buf.count), "oadr.xml", "UTF-8", options)
            }
        }
        guard let doc else {
            let detail = xmlCtxtGetLastError(ctxt).flatMap { err in
                err.pointee.message.map { String(cString: $0).trimmingCharacters(in: .whitespacesAndNewlines) }
                    .map { "line \(err.pointee.line): \($0)" }
            }
            throw OpenADR2bError(.xml, "not well-formed XML (\(detail ?? "no detail"))")
        }
        defer { xmlFreeDoc(doc) }
        guard doc.pointee.intSubset == nil, doc.pointee.extSubset == nil else {
            throw OpenADR2bError(.xml, "document has a DTD (not allowed)")
        }
        guard let root = xmlDocGetRootElement(doc) else { throw OpenADR2bError(.xml, "document has no root element") }
        return try element(root, depth: 1)
    }

    /// As `parse`, from a string (tests and the fake VTN).
    package static func parse(_ text: String) throws(OpenADR2bError) -> ReadElement {
        try parse(Array(text.utf8))
    }

    /// libxml2 sets up its globals once, before any thread parses.
    private static let initialize: Void = { xmlInitParser() }()

    private static func element(_ node: xmlNodePtr, depth: Int) throws(OpenADR2bError) -> ReadElement {
        guard depth <= maximumDepth else {
            throw OpenADR2bError(.xml, "elements nested deeper than \(maximumDepth)")
        }
        var children: [ReadElement] = []
        var text = ""
        var child = node.pointee.children
        while let c = child {
            switch c.pointee.type {
            case XML_ELEMENT_NODE:
                children.append(try element(c, depth: depth + 1))
            case XML_TEXT_NODE, XML_CDATA_SECTION_NODE:
                if let content = c.pointee.content { text += String(cString: content) }
            case XML_ENTITY_REF_NODE, XML_ENTITY_NODE, XML_ENTITY_DECL:
                throw OpenADR2bError(.xml, "entity reference in \(string(node.pointee.name)) (not allowed)")
            default:
                break  // comments, processing instructions
            }
            child = c.pointee.next
        }
        var attributes: [String: String] = [:]
        var attr = node.pointee.properties
        while let a = attr {
            var value = ""
            var v = a.pointee.children
            while let t = v {
                if let content = t.pointee.content { value += String(cString: content) }
                v = t.pointee.next
            }
            attributes[string(a.pointee.name)] = value
            attr = a.pointee.next
        }
        return ReadElement(
            namespace: string(node.pointee.ns?.pointee.href), name: string(node.pointee.name),
            attributes: attributes, children: children, text: text)
    }

    private static func string(_ p: UnsafePointer<xmlChar>?) -> String {
        p.map { String(cString: $0) } ?? ""
    }

    private static func contains(_ data: [UInt8], _ needle: [UInt8]) -> Bool {
        guard data.count >= needle.count else { return false }
        var i = 0
        while i + needle.count <= data.count {
            if data[i] == needle[0], data[i..<(i + needle.count)].elementsEqual(needle) { return true }
            i += 1
        }
        return false
    }
}
