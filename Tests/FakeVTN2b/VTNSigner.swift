import Foundation

/// The fake VTN's own XML signatures: its own template string, signed and verified by the xmlsec1 CLI
/// (never the module under test), with the test's EC key (ECDSA-SHA256).
enum VTNSigner {
    static let xmlsec1 = ["/usr/bin/xmlsec1", "/usr/local/bin/xmlsec1"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }
    static let idAttributes = [
        "--id-attr:Id", "http://openadr.org/oadr-2.0b/2012/07:oadrSignedObject",
        "--id-attr:Id", "http://www.w3.org/2000/09/xmldsig#:SignatureProperty",
    ]

    static func reference(_ uri: String, type: String? = nil) -> String {
        let t = type.map { " Type=\"\($0)\"" } ?? ""
        return """
            <ds:Reference URI="\(uri)"\(t)><ds:Transforms>\
            <ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms>\
            <ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference>
            """
    }

    /// The signature template, placed first in `oadrPayload` (whose signed object has Id `x`).
    static func template(timestamp: String, nonce: String) -> String {
        """
        <ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Id="vtnSignature"><ds:SignedInfo>\
        <ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>\
        <ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"/>\
        \(reference("#x"))\
        \(reference("#vtnReplay", type: "http://www.w3.org/2000/09/xmldsig#SignatureProperties"))\
        </ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data><ds:X509Certificate/></ds:X509Data>\
        </ds:KeyInfo><ds:Object><ds:SignatureProperties><ds:SignatureProperty Id="vtnReplay" Target="#vtnSignature">\
        <dsp:ReplayProtect xmlns:dsp="http://openadr.org/oadr-2.0b/2012/07/xmldsig-properties">\
        <dsp:timestamp>\(timestamp)</dsp:timestamp><dsp:nonce>\(nonce)</dsp:nonce></dsp:ReplayProtect>\
        </ds:SignatureProperty></ds:SignatureProperties></ds:Object></ds:Signature>
        """
    }

    /// `payload` (from `VTNXML.payload`) signed with the key and certificate; nil when xmlsec1 fails.
    static func sign(_ payload: String, key: String, cert: String, now: Date = Date()) -> String? {
        guard let start = payload.range(of: "<p:oadrPayload"),
            let close = payload[start.upperBound...].firstIndex(of: ">")
        else { return nil }
        let stamp = ISO8601DateFormatter().string(from: now)
        let nonce = UUID().uuidString
        var doc = payload
        doc.insert(contentsOf: template(timestamp: stamp, nonce: nonce), at: doc.index(after: close))
        return run(["--sign", "--privkey-pem", "\(key),\(cert)"] + idAttributes, doc)
    }

    /// Whether `payload` carries a signature xmlsec1 verifies with a certificate from `ca`.
    static func verify(_ payload: Data, ca: String) -> Bool {
        run(
            ["--verify", "--enabled-reference-uris", "same-doc", "--trusted-pem", ca] + idAttributes,
            String(decoding: payload, as: UTF8.self)) != nil
    }

    /// Runs xmlsec1 on `input` (through a temporary file); its output, or nil when it fails.
    static func run(_ args: [String], _ input: String) -> String? {
        guard let tool = xmlsec1 else { return nil }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("fakevtn-\(UUID().uuidString).xml")
        defer { try? FileManager.default.removeItem(at: file) }
        guard (try? input.write(to: file, atomically: true, encoding: .utf8)) != nil else { return nil }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = args + ["--output", "-", file.path]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return p.terminationStatus == 0 ? String(decoding: data, as: UTF8.self) : nil
    }
}
