import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import SHA256
import Synchronization

/// The VTN certificate fingerprint as the OpenADR Alliance defines it (and openleadr computes it): the last
/// 10 bytes of the SHA-256 of the DER certificate, as upper-case hex pairs joined by colons.
package enum OADRFingerprint {
    /// The fingerprint of a DER certificate, `AB:CD:…` (10 pairs).
    package static func of(der: [UInt8]) -> String {
        SHA256.hash(der).bytes.suffix(10).map { String(format: "%02X", $0) }.joined(separator: ":")
    }

    /// `text` in the canonical form (colons or none, any case, surrounding space), or nil when it is not 10
    /// bytes of hex.
    package static func normalized(_ text: String) -> String? {
        let hex = text.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: ":", with: "").uppercased()
        guard hex.count == 20, hex.allSatisfy({ $0.isASCII && $0.isHexDigit }) else { return nil }
        var pairs: [String] = []
        var rest = Substring(hex)
        while !rest.isEmpty {
            pairs.append(String(rest.prefix(2)))
            rest = rest.dropFirst(2)
        }
        return pairs.joined(separator: ":")
    }
}

/// A 2.0b transport setting or TLS failure, worded for `/status`: it names the file or the fingerprint,
/// never a key's contents.
struct OADRTransportError: Error, CustomStringConvertible {
    let description: String
    /// The VTN is away (nothing listening, as while it restarts, or no answer in time) rather than refusing
    /// this VEN: the ordinary backoff, not the long one for a setting to fix.
    let away: Bool
    init(_ description: String, away: Bool = false) {
        self.description = description
        self.away = away
    }
}

/// HTTPS with a client certificate for OpenADR 2.0b (the profile's mutual TLS), with the VTN's certificate
/// fingerprint checked during the handshake when one is configured. One connection per request: a VEN
/// sends a few requests a minute, and a fresh handshake checks the VTN's certificate every time.
/// AsyncHTTPClient has no hook for the peer certificate, hence this small client on NIO.
struct OADRTLSTransport: Sendable {
    let context: NIOSSLContext
    let fingerprint: String?
    let certificatePath: String?
    /// The PEM key and certificate messages are signed with (the TLS ones, as 2.0b requires), when set.
    let signing: (key: [UInt8], cert: [UInt8])?

    /// The transport for these settings, or nil when none is set (plain AsyncHTTPClient then).
    static func make(_ c: OpenADR2bSource.Configuration) throws(OADRTransportError) -> OADRTLSTransport? {
        guard c.certificatePath != nil || c.privateKeyPath != nil || c.caPath != nil || c.vtnFingerprint != nil
        else { return nil }
        guard c.baseURL.lowercased().hasPrefix("https://") else {
            throw OADRTransportError("the certificate settings need an https:// VTN URL, not \(c.baseURL)")
        }
        guard (c.certificatePath == nil) == (c.privateKeyPath == nil) else {
            throw OADRTransportError("--openadr-cert and --openadr-key go together (one of them is missing)")
        }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        var signing: (key: [UInt8], cert: [UInt8])?
        if let path = c.certificatePath, let keyPath = c.privateKeyPath {
            let chain: [NIOSSLCertificate]
            do { chain = try NIOSSLCertificate.fromPEMFile(path) } catch {
                throw OADRTransportError("cannot read the client certificate \(path) (\(error))")
            }
            guard !chain.isEmpty else { throw OADRTransportError("no certificate in \(path)") }
            let key: NIOSSLPrivateKey
            // The error is NIOSSL's code, never the file's contents.
            do { key = try NIOSSLPrivateKey(file: keyPath, format: .pem) } catch {
                throw OADRTransportError("cannot read the private key \(keyPath) (\(error))")
            }
            tls.certificateChain = chain.map { .certificate($0) }
            tls.privateKey = .privateKey(key)
            // Read again as bytes for xmlsec1 (it takes PEM); the files were just readable.
            guard let k = FileManager.default.contents(atPath: keyPath), k.count <= 1 << 20,
                let c = FileManager.default.contents(atPath: path), c.count <= 1 << 20
            else { throw OADRTransportError("cannot read \(keyPath) or \(path) for signing (or over 1 MiB)") }
            signing = (Array(k), Array(c))
        }
        if let ca = c.caPath {
            let roots: [NIOSSLCertificate]
            do { roots = try NIOSSLCertificate.fromPEMFile(ca) } catch {
                throw OADRTransportError("cannot read the CA certificates \(ca) (\(error))")
            }
            guard !roots.isEmpty else { throw OADRTransportError("no certificate in \(ca)") }
            tls.trustRoots = .certificates(roots)
        }
        var fingerprint: String?
        if let fp = c.vtnFingerprint {
            guard let n = OADRFingerprint.normalized(fp) else {
                throw OADRTransportError("the VTN fingerprint \(fp) is not 10 bytes of hex (AB:CD:…)")
            }
            fingerprint = n
        }
        do {
            let context = try NIOSSLContext(configuration: tls)
            return OADRTLSTransport(
                context: context, fingerprint: fingerprint, certificatePath: c.certificatePath, signing: signing)
        } catch {
            throw OADRTransportError(
                "cannot use the key \(c.privateKeyPath ?? "-") with the certificate \(c.certificatePath ?? "-") (\(error))"
            )
        }
    }

    /// What one exchange returned: the HTTP status, up to `limit` bytes of the answer, and the VTN's TLS
    /// certificate (DER) on that connection, which a signed answer's signer must be.
    struct Answer {
        let status: Int
        let body: [UInt8]
        let peerDER: [UInt8]?
    }

    /// POSTs `body` to `url`.
    func post(url: String, body: String, timeout: TimeAmount, limit: Int) async throws -> Answer {
        guard let u = URL(string: url), let host = u.host, !host.isEmpty else {
            throw OADRTransportError("not a URL: \(url)")
        }
        let port = u.port ?? 443
        guard (1...65535).contains(port) else { throw OADRTransportError("port \(port) out of range in \(url)") }
        let path = u.path.isEmpty ? "/" : u.path
        let mismatch = MismatchBox()
        let seconds = Int64(max(1, timeout.nanoseconds / 1_000_000_000))
        do {
            let (status, answer) = try await withDeadline(seconds: seconds) {
                try await self.exchange(
                    host: host, port: port, path: path, body: body, limit: limit, mismatch: mismatch)
            }
            return Answer(status: status, body: answer, peerDER: mismatch.peer.withLock { $0 })
        } catch {
            if let m = mismatch.value.withLock({ $0 }) { throw OADRTransportError(m) }
            let cert = certificatePath.map { " (client certificate \($0))" } ?? ""
            let away = error is NIOConnectionError || (error as? OADRTransportError)?.away == true
            throw OADRTransportError("TLS exchange with \(host):\(port) failed\(cert): \(error)", away: away)
        }
    }

    private func exchange(
        host: String, port: Int, path: String, body: String, limit: Int, mismatch: MismatchBox
    ) async throws -> (Int, [UInt8]) {
        let context = self.context
        let expected = fingerprint
        // SNI takes a name only; an address is checked against the certificate's IP entries by NIOSSL.
        let sni = host.allSatisfy { $0.isNumber || $0 == "." || $0 == ":" } ? nil : host
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(10))
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = try NIOSSLClientHandler._makeSSLClientHandler(
                        context: context, serverHostname: sni,
                        additionalPeerCertificateVerificationCallback: { cert, ch in
                            Self.check(cert, expected: expected, on: ch.eventLoop, mismatch: mismatch)
                        })
                    try channel.pipeline.syncOperations.addHandler(handler)
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(
                        wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: path)
            let bytes = ByteBuffer(string: body)
            head.headers.add(name: "Host", value: port == 443 ? host : "\(host):\(port)")
            head.headers.add(name: "Content-Type", value: "application/xml")
            head.headers.add(name: "Content-Length", value: String(bytes.readableBytes))
            head.headers.add(name: "Connection", value: "close")
            try await outbound.write(contentsOf: [.head(head), .body(.byteBuffer(bytes)), .end(nil)])
            var status: Int?
            var answer: [UInt8] = []
            for try await part in inbound {
                switch part {
                case .head(let h): status = Int(h.status.code)
                case .body(var b):
                    guard answer.count + b.readableBytes <= limit else {
                        throw OADRTransportError("the answer from \(host):\(port) is over \(limit) bytes")
                    }
                    answer += b.readBytes(length: b.readableBytes) ?? []
                case .end:
                    guard let status else { throw OADRTransportError("no HTTP status from \(host):\(port)") }
                    return (status, answer)
                }
            }
            throw OADRTransportError("\(host):\(port) closed the connection before the end of the answer")
        }
    }

    /// The fingerprint check inside the handshake: a mismatch ends it before any request is sent.
    private static func check(
        _ cert: NIOSSLCertificate, expected: String?, on loop: any EventLoop, mismatch: MismatchBox
    ) -> EventLoopFuture<Void> {
        do {
            let der = try cert.toDERBytes()
            mismatch.peer.withLock { $0 = der }
            guard let expected else { return loop.makeSucceededVoidFuture() }
            let got = OADRFingerprint.of(der: der)
            guard got == expected else {
                let m = "the VTN's certificate fingerprint is \(got), not the configured \(expected)"
                mismatch.value.withLock { $0 = m }
                return loop.makeFailedFuture(OADRTransportError(m))
            }
            return loop.makeSucceededVoidFuture()
        } catch {
            return loop.makeFailedFuture(OADRTransportError("cannot read the VTN's certificate (\(error))"))
        }
    }
}

/// Where the handshake's check leaves its findings: the mismatch (so the error shown is it, not the TLS
/// layer's rewording of it) and the VTN's certificate.
final class MismatchBox: Sendable {
    let value = Mutex<String?>(nil)
    let peer = Mutex<[UInt8]?>(nil)
}

/// Runs `body`, or throws when it takes longer than `seconds` (the task is cancelled).
private func withDeadline<T: Sendable>(
    seconds: Int64, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            throw OADRTransportError("no answer within \(seconds) s", away: true)
        }
        defer { group.cancelAll() }
        guard let first = try await group.next() else { throw CancellationError() }
        return first
    }
}
