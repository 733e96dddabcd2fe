import AsyncHTTPClient
import FlexSupport
import Foundation
import LoadController
import NIOCore
import OpenADR2b
import OpenADRSignals
import Synchronization

/// FlexMiner as an OpenADR 2.0b VEN (simple HTTP pull): the thin shell of `VENMachine`. The network task
/// performs the machine's actions (POSTs `application/xml` to `<base>/<service>`, sleeps until its wake
/// time, writes the 0600 state file); the schedule task sends a `curtail` with `until` = the interval's end
/// and id `openadr2b:<event>:<interval>` when an interval starts (the controller lifts it by itself at the
/// end, whatever happens to the network), a `release` when an interval is cancelled under way, and the
/// price at a price interval's start: the same shape as the OpenADR 3 source. Neither task is on the
/// control path.
package final class OpenADR2bSource: Sendable {
    /// The `--openadr-*` settings for 2.0b.
    package struct Configuration: Sendable {
        /// `http[s]://HOST[:PORT]/PREFIX` (the services are `<base>/EiRegisterParty`, …).
        package var baseURL: String
        package var venName: String
        package var vtnID: String?
        /// `--openadr-market-context`: follow only this program's events.
        package var marketContext: String?
        /// `--openadr-poll`: poll at least this often.
        package var pollSeconds: Double = 10
        package var statePath: String?
        package var powerWatts: Double?
        package var simpleLevels: [Int: Double] = OpenADRPlanner.defaultSimpleLevels
        package var actOnTestEvents = false
        package var retryInitial: Double = 1
        package var retryMax: Double = 60
        /// The longest wait for one answer, seconds.
        package var requestTimeoutSeconds: Int64 = 10
        /// `--openadr-cert`: the VEN's client certificate chain (PEM) for mutual TLS; with `privateKeyPath`.
        package var certificatePath: String?
        /// `--openadr-key`: the private key (PEM) of `certificatePath`.
        package var privateKeyPath: String?
        /// `--openadr-ca`: the roots (PEM) the VTN's certificate must chain to; nil: the system's.
        package var caPath: String?
        /// `--openadr-vtn-fingerprint`: the VTN certificate's OpenADR fingerprint (last 10 bytes of the SHA-256
        /// of its DER form, `AB:CD:…`); checked in every handshake when set.
        package var vtnFingerprint: String?

        package init(baseURL: String, venName: String) {
            self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
            self.venName = venName
        }
    }

    struct Inner {
        var plan: [ScheduledInterval] = []
        var applied: [String: ScheduledInterval] = [:]
        var pricesSent: Set<String> = []
        var status = VENMachine.Status()
        var curtailsSent = 0
        var releasesSent = 0
        /// The VTN's ReplayProtect nonces seen within the replay window, with their timestamps.
        var nonces: [String: Date] = [:]
    }

    package let configuration: Configuration
    package let origin: SignalOrigin
    /// Nil for a one-shot exchange (`leave`), which follows no schedule.
    let controller: LoadController?
    let http: HTTPClient
    let note: @Sendable (String) -> Void
    let alert: @Sendable (String) -> Void
    /// What the load draws now for reports (measured, else the model); nil: not known.
    let reading: @Sendable () -> OADRReport.Reading?
    let state = Mutex(Inner())
    /// Mutual TLS when any certificate setting is given (else AsyncHTTPClient); a setting error is kept and
    /// shown in `/status` on every attempt instead of trapping.
    let tls: Result<OADRTLSTransport?, OADRTransportError>

    /// - Parameters:
    ///   - note: operator messages (`info` and `warning`); `alert`: errors the operator must act on.
    ///   - reading: the current power for reports; it must not wait (the sampler's last value).
    package init(
        configuration: Configuration, controller: LoadController, httpClient: HTTPClient = .shared,
        note: @escaping @Sendable (String) -> Void = { _ in }, alert: (@Sendable (String) -> Void)? = nil,
        reading: @escaping @Sendable () -> OADRReport.Reading? = { nil }
    ) {
        self.configuration = configuration
        self.controller = controller
        http = httpClient
        self.note = note
        self.alert = alert ?? note
        self.reading = reading
        origin = SignalOrigin(name: "openadr2b:\(configuration.baseURL)")
        tls = Result { () throws(OADRTransportError) in try OADRTLSTransport.make(configuration) }
    }

    /// A source for one exchange outside `run` (`leave`): the same transport, TLS and signature checks,
    /// no controller to command.
    init(exchangeOnly configuration: Configuration, httpClient: HTTPClient) {
        self.configuration = configuration
        controller = nil
        http = httpClient
        note = { _ in }
        alert = { _ in }
        reading = { nil }
        origin = SignalOrigin(name: "openadr2b:\(configuration.baseURL)")
        tls = Result { () throws(OADRTransportError) in try OADRTLSTransport.make(configuration) }
    }

    /// What `/status` shows.
    package var status: VENMachine.Status { state.withLock { $0.status } }
    /// The intervals known, by start.
    package var plan: [ScheduledInterval] {
        state.withLock { $0.plan.sorted { ($0.start, $0.id) < ($1.start, $1.id) } }
    }
    package var curtailsSent: Int { state.withLock { $0.curtailsSent } }

    /// Runs until cancelled.
    package func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.networkLoop() }
            group.addTask { await self.scheduleLoop() }
            await group.waitForAll()
        }
    }

    func machine() -> VENMachine {
        let name = configuration.venName
        let planner = EventPlanner(
            simpleLevels: configuration.simpleLevels, powerWatts: configuration.powerWatts,
            actOnTestEvents: configuration.actOnTestEvents,
            startAfterFraction: { eventID in Self.fraction(name + "\u{0}" + eventID) })
        return VENMachine(
            .init(
                venName: name, vtnID: configuration.vtnID, marketContext: configuration.marketContext,
                pollLimitSeconds: configuration.pollSeconds,
                planner: planner, retryInitial: configuration.retryInitial, retryMax: configuration.retryMax,
                requestPrefix: "fm-" + String(UInt32.random(in: 0...UInt32.max), radix: 16),
                xmlSignature: configuration.certificatePath != nil && configuration.privateKeyPath != nil))
    }

    /// A stable draw in [0, 1) from `text` (FNV-1a), so a fleet spreads within `startafter` and a restart
    /// keeps the same place.
    static func fraction(_ text: String) -> Double {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in text.utf8 {
            h ^= UInt64(b)
            h &*= 0x0000_0100_0000_01b3
        }
        return Double(h >> 11) / Double(1 << 53)
    }

    func networkLoop() async {
        var m = machine()
        var actions = m.event(.start(now: Date(), restoring: OADRStateFile.load(configuration.statePath, note: note)))
        while !Task.isCancelled {
            var next: VENMachine.Input?
            var wake: Date?
            for a in actions {
                switch a {
                case .send(let service, let body):
                    next = await post(service, body)
                case .wake(let at): wake = at
                case .schedule(let s):
                    state.withLock { $0.plan = s }
                    reconcile()
                case .save(let s): OADRStateFile.save(s, configuration.statePath, note: note)
                case .forget: OADRStateFile.remove(configuration.statePath)
                case .log(let level, let text): level == .error ? alert(text) : note(text)
                }
            }
            state.withLock { $0.status = m.status }
            if next == nil {
                // At most a second at a time, so cancellation and a wall-clock step are noticed soon.
                let seconds = min(1, max(0.005, (wake ?? Date().addingTimeInterval(1)).timeIntervalSinceNow))
                try? await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))
                guard !Task.isCancelled else { break }
                next = .tick(now: Date(), reading: reading())
            }
            if let next { actions = m.event(next) }
        }
    }

    func post(_ service: VENMachine.Service, _ body: String) async -> VENMachine.Input {
        switch tls {
        case .failure(let error):
            return .failed(error.description, now: Date(), refused: true)
        case .success(let transport?):
            return await postTLS(transport, service, body)
        case .success(nil):
            break
        }
        var request = HTTPClientRequest(url: configuration.baseURL + "/" + service.rawValue)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/xml")
        request.body = .bytes(ByteBuffer(string: body))
        do {
            let response = try await http.execute(request, timeout: .seconds(configuration.requestTimeoutSeconds))
            var buffer = try await response.body.collect(upTo: XMLReader.maximumBytes)
            return answer(
                service, code: Int(response.status.code), bytes: buffer.readBytes(length: buffer.readableBytes) ?? [])
        } catch {
            return .failed("\(service.rawValue): \(String(describing: error).prefix(200))", now: Date())
        }
    }

    func answer(_ service: VENMachine.Service, code: Int, bytes: [UInt8]) -> VENMachine.Input {
        guard (200...299).contains(code) else {
            // 408 and 429 are the VTN busy, not a refusal.
            let refused = (400...499).contains(code) && code != 408 && code != 429
            return .failed("HTTP \(code) from \(service.rawValue)", now: Date(), refused: refused)
        }
        return .reply(bytes, now: Date())
    }
}
