import Foundation
import OpenADR2b
import OpenADR2bSignals
import Testing

/// XML signatures made by the module, checked by the xmlsec1 CLI (an independent verifier), by xmllint
/// against the official schema, and by the module's verifier; tampering is refused.
@Suite("OpenADR 2.0b XML signatures")
struct SignatureTests {
    static let xmlsec1: String? = ["/usr/bin/xmlsec1", "/usr/local/bin/xmlsec1"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    static func signed(_ pki: TestPKI) throws -> String {
        let payload = OADRMessage.poll(venID: "ven-1")
        return try OADRXMLSignature.sign(
            payload: payload, keyPEM: Array(try Data(contentsOf: URL(fileURLWithPath: pki.venKey))),
            certPEM: Array(try Data(contentsOf: URL(fileURLWithPath: pki.venCert))))
    }

    @Test("a signed poll verifies with the module's verifier and names the signer's certificate")
    func roundTrip() throws {
        let pki = try TestPKI.make()
        let xml = try Self.signed(pki)
        #expect(xml.contains("<ds:Signature") && xml.contains("xml-exc-c14n") && xml.contains("dsp:ReplayProtect"))
        let v = try #require(try OADRXMLSignature.verify(payload: Array(xml.utf8)))
        let der = try TestPKI.run("/bin/sh", ["-c", "openssl x509 -in '\(pki.venCert)' -outform der | base64 -w0"])
        #expect(v.signerDER == [UInt8](Data(base64Encoded: der.trimmingCharacters(in: .whitespacesAndNewlines))!))
        #expect(abs(v.timestamp.timeIntervalSinceNow) < 60 && v.nonce.count == 32)
        #expect(try OADRXMLSignature.verify(payload: Array(OADRMessage.poll(venID: "v").utf8)) == nil)
    }

    @Test("a tampered signed payload is refused with a named error")
    func tampered() throws {
        let pki = try TestPKI.make()
        let xml = try Self.signed(pki).replacingOccurrences(of: "ven-1", with: "ven-2")
        #expect(throws: OADRXMLSignature.Failure.self) { try OADRXMLSignature.verify(payload: Array(xml.utf8)) }
        // A DTD (which could declare IDs or entities) is refused before any signature work.
        let signed = try Self.signed(pki)
        let withDTD = signed.replacingOccurrences(
            of: "?>", with: "?><!DOCTYPE oadr:oadrPayload [<!ENTITY e \"x\">]>", options: [], range: nil)
        #expect(throws: OADRXMLSignature.Failure.self) { try OADRXMLSignature.verify(payload: Array(withDTD.utf8)) }
    }

    @Test(
        "xmlsec1 (independent) verifies the module's signature against the CA",
        .enabled(if: xmlsec1 != nil, "needs the xmlsec1 CLI: scripts/ensure-deps --with-test-tools"))
    func independentVerify() throws {
        let pki = try TestPKI.make()
        let file = pki.dir + "/signed.xml"
        try Self.signed(pki).write(toFile: file, atomically: true, encoding: .utf8)
        try TestPKI.run(
            Self.xmlsec1!,
            [
                "--verify", "--enabled-reference-uris", "same-doc", "--trusted-pem", pki.ca,
                "--id-attr:Id", "http://openadr.org/oadr-2.0b/2012/07:oadrSignedObject",
                "--id-attr:Id", "http://www.w3.org/2000/09/xmldsig#:SignatureProperty", file,
            ])
    }
}

extension SignatureTests {
    @Test(
        "a signed message validates against oadr_20b.xsd (the ds:Signature and dsp:ReplayProtect schemas)",
        .enabled(if: SchemaTests.ready, "needs xmllint (libxml2-utils) and the schema: run scripts/oadr2b-schema"))
    func signedValidates() throws {
        let pki = try TestPKI.make()
        let file = pki.dir + "/signed-schema.xml"
        try Self.signed(pki).write(toFile: file, atomically: true, encoding: .utf8)
        try TestPKI.run(SchemaTests.xmllint!, ["--noout", "--nonet", "--schema", SchemaTests.schema!, file])
    }
}
