import FlexSupport
import Foundation
import OpenADR
import Synchronization

/// An OpenADR 2.0b VTN of the project's own (simple HTTP, pull), for tests: its XML comes from its own
/// string templates (`VTNXML`) and requests are read with Foundation's parser (`RequestCheck`), never with
/// the module under test. It misbehaves as real VTNs do: `eventStatus` stays `far`, report requests come
/// inside `oadrRegisteredReport`, polled events carry a literal `None` request id, `text/xml` is refused,
/// it can ask for re-registration, and it can vanish (`close`) mid-event.
package final class FakeVTN2b: Sendable {
    package static let prefix = "/OpenADR2/Simple/2.0b"

    struct Inner {
        var nextVEN = 1
        var vens: [String: String] = [:]  // venID → registrationID
        /// Events as XML, by id, in order; `version` changes with every edit.
        var events: [(id: String, xml: String)] = []
        var version = 0
        var delivered: [String: Int] = [:]  // venID → the version last distributed to it
        var queued: [String: [String]] = [:]  // venID → messages for its next polls
        /// What was asked: "service message".
        var requests: [String] = []
        var optIns: [String] = []  // "eventID:modification:optType"
        var updateReports = 0
        /// venID → the polls received from it (since this process started).
        var polls: [String: Int] = [:]
        var refusedContentType = 0
        /// Gone: every request answered 503, as a VTN behind a load balancer while it is down.
        var away = false
        var signing = Signing.none
        var firstSigned: Data?
        var verifiedSignatures = 0
        var badSignatures = 0
    }

    let state = Mutex(Inner())
    private let server = Mutex<TinyHTTPServer?>(nil)
    private let front = Mutex<TLSFront?>(nil)
    private let portBox = Atomic<Int>(0)
    private let tlsPortBox = Atomic<Int>(0)
    /// The plain HTTP port (with TLS: the port behind the TLS side, for tests that bypass it).
    package var port: Int { portBox.load(ordering: .relaxed) }
    package typealias TLSSettings = TLSFront.Settings
    /// The poll frequency the VTN asks for.
    package let pollFrequency: String

    let tlsSettings: TLSSettings?

    init(pollFrequency: String, tls: TLSSettings?) {
        self.pollFrequency = pollFrequency
        tlsSettings = tls
    }

    /// Starts serving on 127.0.0.1 (`port` 0: a free one); with `tls`, HTTPS requiring a client certificate
    /// on `tlsPort` (0: a free one; `baseURL` is then the HTTPS one).
    package static func start(
        port: Int = 0, pollFrequency: String = "PT1S", tls: TLSSettings? = nil, tlsPort: Int = 0
    ) async throws -> FakeVTN2b {
        let vtn = FakeVTN2b(pollFrequency: pollFrequency, tls: tls)
        let s = try await TinyHTTPServer.start(host: "127.0.0.1", port: port, maxConnections: 64) { [vtn] in
            vtn.handle($0)
        }
        vtn.portBox.store(s.port, ordering: .relaxed)
        vtn.server.withLock { $0 = s }
        if let tls {
            let f = try await TLSFront.start(tls, port: tlsPort, backendPort: s.port)
            vtn.tlsPortBox.store(f.port, ordering: .relaxed)
            vtn.front.withLock { $0 = f }
        }
        return vtn
    }

    /// `http://127.0.0.1:PORT/OpenADR2/Simple/2.0b`, or `https://…` with TLS.
    package var baseURL: String {
        let tlsPort = tlsPortBox.load(ordering: .relaxed)
        return tlsPort == 0
            ? "http://127.0.0.1:\(port)\(Self.prefix)" : "https://127.0.0.1:\(tlsPort)\(Self.prefix)"
    }

    /// Stops listening (open keep-alive connections stay until the client drops them).
    package func close() async {
        await front.withLock { $0 }?.close()
        await server.withLock { $0 }?.close()
    }

    /// The VTN vanishes (`true`: every request gets 503) or comes back.
    package func setAway(_ away: Bool) { state.withLock { $0.away = away } }

    /// Publishes (or replaces) an event whose status stays `far` whatever the time.
    package func setEvent(id: String, modification: Int = 0, start: Date, seconds: Int, level: Int = 2) {
        let xml = VTNXML.event(
            id: id, modification: modification, status: "far", start: ISO8601.format(start),
            duration: "PT\(seconds)S", signals: [VTNXML.Signal(intervals: [("PT\(seconds)S", String(level))])])
        state.withLock { s in
            s.events.removeAll { $0.id == id }
            s.events.append((id, xml))
            s.version += 1
        }
    }

    /// Drops an event (a VEN learns of it by its absence from the next distribution).
    package func removeEvent(id: String) {
        state.withLock { s in
            s.events.removeAll { $0.id == id }
            s.version += 1
        }
    }

    /// Every registered VEN is asked to register again on its next poll.
    package func requestReregistration() {
        state.withLock { s in for ven in s.vens.keys { s.queued[ven, default: []].append(VTNXML.requestReregistration) }
        }
    }

    package var requests: [String] { state.withLock { $0.requests } }
    package var optIns: [String] { state.withLock { $0.optIns } }
    package var updateReports: Int { state.withLock { $0.updateReports } }
    /// venID → the polls received from it since this instance started.
    package var polls: [String: Int] { state.withLock { $0.polls } }
    package var refusedContentType: Int { state.withLock { $0.refusedContentType } }
    package var venIDs: [String] { state.withLock { Array($0.vens.keys) } }

    static func xml(_ s: String) -> TinyHTTPServer.Response {
        TinyHTTPServer.Response(status: 200, contentType: "application/xml", body: Data(s.utf8))
    }

    /// How the VTN signs its answers (with TLS): not at all, properly, or signed and then altered.
    package enum Signing: Sendable, Equatable {
        case none, sign, tamper
        /// Signed an hour ago (outside any replay window).
        case stale
        /// The first signed answer, sent again for every request (the same nonce: a replay).
        case replay
        /// Signed properly, but with another key and certificate than the TLS ones.
        case otherKey(key: String, cert: String)
    }

    /// Whether the xmlsec1 CLI the fake signs and verifies with is installed.
    package static var canSign: Bool { VTNSigner.xmlsec1 != nil }

    /// Sets how answers are signed (with the TLS certificate and key; the xmlsec1 CLI).
    package func setSigning(_ mode: Signing) { state.withLock { $0.signing = mode } }
    /// Requests whose XML signature xmlsec1 verified against the client CA, and those it did not.
    package var signatures: (verified: Int, refused: Int) {
        state.withLock { ($0.verifiedSignatures, $0.badSignatures) }
    }

    func handle(_ r: TinyHTTPServer.Request) -> TinyHTTPServer.Response {
        var response = respond(r)
        guard let tls = tlsSettings else { return response }
        let mode = state.withLock { $0.signing }
        if r.method == "POST", !r.body.isEmpty, mode != .none {
            let ok = VTNSigner.verify(r.body, ca: tls.clientCAPath)
            state.withLock { ok ? ($0.verifiedSignatures += 1) : ($0.badSignatures += 1) }
        }
        guard response.status == 200, mode != .none else { return response }
        var signer = (key: tls.keyPath, cert: tls.certificatePath)
        if case .otherKey(let key, let cert) = mode { signer = (key, cert) }
        if mode == .replay, let first = state.withLock({ $0.firstSigned }) {
            response.body = first
            return response
        }
        let when = mode == .stale ? Date().addingTimeInterval(-3600) : Date()
        guard
            var signed = VTNSigner.sign(
                String(decoding: response.body, as: UTF8.self), key: signer.key, cert: signer.cert, now: when)
        else { return .problem(500, "the fake VTN cannot sign (is the xmlsec1 CLI installed?)") }
        if mode == .tamper, let end = signed.range(of: "</p:oadrSignedObject>") {
            signed.insert(contentsOf: " ", at: end.lowerBound)
        }
        response.body = Data(signed.utf8)
        state.withLock { $0.firstSigned = $0.firstSigned ?? response.body }
        return response
    }

    func respond(_ r: TinyHTTPServer.Request) -> TinyHTTPServer.Response {
        guard !state.withLock({ $0.away }) else { return .problem(503, "VTN unavailable") }
        guard r.method == "POST" else { return .problem(405, "POST only") }
        guard r.path.hasPrefix(Self.prefix + "/") else { return .problem(404, "not under \(Self.prefix)") }
        let service = String(r.path.dropFirst(Self.prefix.count + 1))
        // Real VTNs refuse anything but application/xml (text/xml included).
        guard
            r.header("Content-Type")?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces)
                == "application/xml"
        else {
            state.withLock { $0.refusedContentType += 1 }
            return .problem(415, "Content-Type must be application/xml")
        }
        guard let check = RequestCheck.read(r.body) else { return .problem(400, "not an OpenADR 2.0b payload") }
        state.withLock { $0.requests.append("\(service) \(check.message)") }
        switch (service, check.message) {
        case ("EiRegisterParty", "oadrQueryRegistration"):
            return Self.xml(VTNXML.createdPartyRegistration(poll: pollFrequency))
        case ("EiRegisterParty", "oadrCreatePartyRegistration"):
            let ids = state.withLock { s -> (String, String) in
                if let ven = check.first("venID"), let reg = s.vens[ven] { return (ven, reg) }
                let ven = "ven-\(s.nextVEN)"
                s.nextVEN += 1
                s.vens[ven] = "reg-\(ven)"
                return (ven, "reg-\(ven)")
            }
            return Self.xml(
                VTNXML.createdPartyRegistration(venID: ids.0, registrationID: ids.1, poll: pollFrequency))
        case ("EiRegisterParty", "oadrCancelPartyRegistration"):
            return Self.xml(cancel(check))
        case ("EiReport", "oadrRegisterReport"):
            // The report requests inside oadrRegisteredReport, as some VTNs send them: the VEN's usage report.
            let specifier = check.texts["reportSpecifierID"]?.first ?? ""
            let rID = check.texts["rID"]?.first ?? ""
            return Self.xml(
                VTNXML.registeredReport([VTNXML.reportRequest(id: "RR-1", specifier: specifier, back: "PT1S", rID: rID)]
                ))
        case ("EiReport", "oadrUpdateReport"):
            state.withLock { $0.updateReports += 1 }
            return Self.xml(VTNXML.response())
        case ("EiEvent", "oadrRequestEvent"):
            return Self.xml(distribution(to: check.first("venID") ?? ""))
        case ("EiEvent", "oadrCreatedEvent"):
            let ids = check.texts["eventID"] ?? []
            let mods = check.texts["modificationNumber"] ?? []
            let opts = check.texts["optType"] ?? []
            state.withLock { s in
                for (i, id) in ids.enumerated() where i < mods.count && i < opts.count {
                    s.optIns.append("\(id):\(mods[i]):\(opts[i])")
                }
            }
            return Self.xml(VTNXML.response())
        case ("OadrPoll", "oadrPoll"):
            let ven = check.first("venID") ?? ""
            let queued = state.withLock { s -> String? in
                if s.polls[ven] != nil || s.polls.count < 10_000 { s.polls[ven, default: 0] += 1 }
                guard var q = s.queued[ven], !q.isEmpty else { return nil }
                let first = q.removeFirst()
                s.queued[ven] = q
                return first
            }
            if let queued { return Self.xml(queued) }
            let changed = state.withLock { $0.delivered[ven] != $0.version }
            return Self.xml(changed ? distribution(to: ven) : VTNXML.response())
        default:
            return Self.xml(VTNXML.response())
        }
    }

    /// A VEN leaves: the registration it names must be the one this VTN gave that VEN (else 452, as real
    /// VTNs answer an unknown id); the VEN is then dropped, so it is no longer registered anywhere here.
    func cancel(_ check: RequestCheck) -> String {
        let ven = check.first("venID") ?? ""
        let reg = check.first("registrationID") ?? ""
        let known = state.withLock { s -> Bool in
            guard !ven.isEmpty, s.vens[ven] == reg else { return false }
            s.vens[ven] = nil
            s.delivered[ven] = nil
            s.queued[ven] = nil
            return true
        }
        return known
            ? VTNXML.canceledPartyRegistration(registrationID: reg, venID: ven)
            : VTNXML.canceledPartyRegistration(
                code: 452, description: "Invalid ID", registrationID: reg, venID: ven)
    }

    /// Every event, with the literal `None` request id some VTNs send on polled events.
    func distribution(to ven: String) -> String {
        let (events, version) = state.withLock { ($0.events.map(\.xml), $0.version) }
        state.withLock { $0.delivered[ven] = version }
        return VTNXML.distribute(events, requestID: "None")
    }
}
