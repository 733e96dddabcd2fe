import FlexSupport
import Foundation
import NIOCore
import OpenADR2b

extension OpenADR2bSource {
    /// How far a signed answer's ReplayProtect timestamp may be from this host's clock (both ways, for
    /// clock skew), seconds; within it a nonce is accepted once.
    static let replayWindowSeconds: TimeInterval = 300

    /// One exchange over mutual TLS: the request signed when the VEN has a key, the answer's signature
    /// checked (the VTN's TLS certificate, a fresh ReplayProtect) before the machine sees it.
    func postTLS(_ t: OADRTLSTransport, _ service: VENMachine.Service, _ body: String) async -> VENMachine.Input {
        var payload = body
        if let s = t.signing {
            do { payload = try OADRXMLSignature.sign(payload: body, keyPEM: s.key, certPEM: s.cert) } catch {
                return .failed("\(service.rawValue): \(error)", now: Date(), refused: true)
            }
        }
        let answer: OADRTLSTransport.Answer
        do {
            answer = try await t.post(
                url: configuration.baseURL + "/" + service.rawValue, body: payload,
                timeout: .seconds(configuration.requestTimeoutSeconds), limit: XMLReader.maximumBytes)
        } catch {
            // A TLS refusal or a fingerprint mismatch is a setting to fix, not the VTN being busy; a VTN that is
            // not listening (restarting) or not answering is away, retried with the ordinary backoff.
            let away = (error as? OADRTransportError)?.away ?? false
            return .failed(
                "\(service.rawValue): \(String(describing: error).prefix(300))", now: Date(), refused: !away)
        }
        if t.signing != nil, (200...299).contains(answer.status) {
            if let problem = signatureProblem(answer) {
                return .failed("\(service.rawValue): \(problem)", now: Date(), refused: true)
            }
        }
        return self.answer(service, code: answer.status, bytes: answer.body)
    }

    /// Why a signed exchange's answer is refused, or nil when its signature is the VTN's and fresh.
    func signatureProblem(_ a: OADRTLSTransport.Answer) -> String? {
        let v: OADRXMLSignature.Verified
        do {
            guard let found = try OADRXMLSignature.verify(payload: a.body) else {
                return "the VTN's answer is not signed (XML signatures are on with --openadr-cert)"
            }
            v = found
        } catch {
            return "the VTN's signature is refused: \(error)"
        }
        guard let peer = a.peerDER, v.signerDER == peer else {
            let tls = a.peerDER.map { OADRFingerprint.of(der: $0) } ?? "none"
            return "the VTN's answer is signed by certificate \(OADRFingerprint.of(der: v.signerDER)), "
                + "not its TLS certificate \(tls)"
        }
        let now = Date()
        guard abs(v.timestamp.timeIntervalSince(now)) <= Self.replayWindowSeconds else {
            return "the VTN's answer was signed at \(ISO8601.format(v.timestamp)), outside the "
                + "\(Int(Self.replayWindowSeconds)) s replay window"
        }
        let replayed = state.withLock { s -> Bool in
            s.nonces = s.nonces.filter { abs($0.value.timeIntervalSince(now)) <= Self.replayWindowSeconds }
            guard s.nonces[v.nonce] == nil else { return true }
            // Bounded: a VTN answering thousands of times in the window only loses replay memory.
            if s.nonces.count < 4096 { s.nonces[v.nonce] = v.timestamp }
            return false
        }
        return replayed ? "the VTN's answer repeats ReplayProtect nonce \(v.nonce.prefix(64)): a replay" : nil
    }
}
