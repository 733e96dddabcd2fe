import CXMLSec
import FlexSupport
import Foundation

/// XML Signature for OpenADR 2.0b payloads, through xmlsec1 (Sources/CXMLSec): the canonicalization and
/// cryptography are the library's, never hand-written. The signature is the profile's: `ds:Signature` first
/// in `oadrPayload`, exclusive C14N, SHA-256, RSA-SHA256 or ECDSA-SHA256 by the key, the certificate in
/// KeyInfo, and a signed `dsp:ReplayProtect` (timestamp, nonce).
package enum OADRXMLSignature {
    /// A signature that is missing, broken or not the VTN's, worded for `/status`.
    package struct Failure: Error, CustomStringConvertible {
        package let description: String
    }

    /// What a valid signature carries: its signer's certificate (DER) and the replay protection.
    package struct Verified: Sendable {
        package let signerDER: [UInt8]
        package let timestamp: Date
        package let nonce: String
    }

    /// The largest payload signed or verified (the XML reader's limit).
    static let maximumBytes = 4 << 20

    private static let initialized: Int32 = fm_xmlsec_init()

    /// `payload` (an `oadrPayload` document) signed with `keyPEM` and its `certPEM`.
    package static func sign(
        payload: String, keyPEM: [UInt8], certPEM: [UInt8], now: Date = Date(), nonce: String = newNonce()
    ) throws(Failure) -> String {
        guard initialized == 0 else { throw Failure(description: "xmlsec1 did not start (\(initialized))") }
        let bytes = Array(payload.utf8)
        guard bytes.count <= maximumBytes else { throw Failure(description: "payload over \(maximumBytes) bytes") }
        var out: UnsafeMutablePointer<xmlChar>?
        var outLen: Int32 = 0
        var err = [CChar](repeating: 0, count: 256)
        let rc = bytes.withUnsafeBufferPointer { b in
            b.withMemoryRebound(to: CChar.self) { x in
                fm_xmldsig_sign(
                    x.baseAddress, Int32(x.count), keyPEM, Int32(keyPEM.count), certPEM, Int32(certPEM.count),
                    ISO8601.format(now), nonce, &out, &outLen, &err, Int32(err.count))
            }
        }
        defer { if let out { fm_free(out) } }
        guard rc == 0, let out else { throw Failure(description: "cannot sign: \(text(err))") }
        return String(decoding: UnsafeBufferPointer(start: out, count: Int(outLen)), as: UTF8.self)
    }

    /// Checks `payload`'s signature against the certificate in its KeyInfo; nil when it carries none. The
    /// caller decides whether that certificate is the VTN's and whether the timestamp is fresh.
    package static func verify(payload: [UInt8]) throws(Failure) -> Verified? {
        guard initialized == 0 else { throw Failure(description: "xmlsec1 did not start (\(initialized))") }
        guard payload.count <= maximumBytes else { throw Failure(description: "payload over \(maximumBytes) bytes") }
        var cert = [UInt8](repeating: 0, count: 16384)
        var stampBuffer = [CChar](repeating: 0, count: 64)
        var nonceBuffer = [CChar](repeating: 0, count: 256)
        var err = [CChar](repeating: 0, count: 256)
        var certLen: Int32 = 0
        let rc = cert.withUnsafeMutableBufferPointer { c in
            stampBuffer.withUnsafeMutableBufferPointer { t in
                nonceBuffer.withUnsafeMutableBufferPointer { n in
                    var found = fm_verified(
                        cert: c.baseAddress, certCap: Int32(c.count), certLen: 0, timestamp: t.baseAddress,
                        timestampCap: Int32(t.count), nonce: n.baseAddress, nonceCap: Int32(n.count))
                    let rc = payload.withUnsafeBufferPointer { b in
                        b.withMemoryRebound(to: CChar.self) { x in
                            fm_xmldsig_verify(x.baseAddress, Int32(x.count), &found, &err, Int32(err.count))
                        }
                    }
                    certLen = found.certLen
                    return rc
                }
            }
        }
        if rc == -2 { return nil }
        guard rc == 0 else { throw Failure(description: text(err)) }
        let der = Array(cert.prefix(Int(max(0, min(certLen, 16384)))))
        let stamp = text(stampBuffer)
        let nonce = text(nonceBuffer)
        guard let time = ISO8601.parse(stamp) else {
            throw Failure(description: "the ReplayProtect timestamp \(stamp.prefix(40)) is not a date-time")
        }
        guard !nonce.isEmpty else { throw Failure(description: "the ReplayProtect has no nonce") }
        return Verified(signerDER: der, timestamp: time, nonce: nonce)
    }

    static func text(_ c: [CChar]) -> String {
        String(decoding: c.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// 16 random bytes as hex.
    package static func newNonce() -> String {
        (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }
}
