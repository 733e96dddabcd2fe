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
public final class OpenADR2bSource: Sendable {
    /// The `--openadr-*` settings for 2.0b.
    public struct Configuration: Sendable {
        /// `http[s]://HOST[:PORT]/PREFIX` (the services are `<base>/EiRegisterParty`, …).
        public var baseURL: String
        public var venName: String
        public var vtnID: String?
        /// `--openadr-market-context`: follow only this program's events.
        public var marketContext: String?
        /// `--openadr-poll`: poll at least this often.
        public var pollSeconds: Double = 10
        public var statePath: String?
        public var powerWatts: Double?
        public var simpleLevels: [Int: Double] = OpenADRPlanner.defaultSimpleLevels
        public var actOnTestEvents = false
        public var retryInitial: Double = 1
        public var retryMax: Double = 60
        /// The longest wait for one answer, seconds.
        public var requestTimeoutSeconds: Int64 = 10
        /// `--openadr-cert`, `--openadr-key`: the client certificate and its key (PEM) for mutual TLS and
        /// message signatures; `--openadr-ca`: the CA bundle the VTN's certificate is checked against;
        /// `--openadr-vtn-fingerprint`: the VTN certificate's fingerprint (last 10 bytes of its SHA-256).
        public var certificatePath: String?
        public var privateKeyPath: String?
        public var caPath: String?
        public var vtnFingerprint: String?

        public init(baseURL: String, venName: String) {
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
    }

    public let configuration: Configuration
    public let origin: SignalOrigin
    let controller: LoadController
    let http: HTTPClient
    let note: @Sendable (String) -> Void
    let alert: @Sendable (String) -> Void
    /// What the load draws now for reports (measured, else the model); nil: not known.
    let reading: @Sendable () -> OADRReport.Reading?
    let state = Mutex(Inner())

    /// - Parameters:
    ///   - note: operator messages (`info` and `warning`); `alert`: errors the operator must act on.
    ///   - reading: the current power for reports; it must not wait (the sampler's last value).
    public init(
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
    }

    /// What `/status` shows.
    public var status: VENMachine.Status { state.withLock { $0.status } }
    /// The intervals known, by start.
    public var plan: [ScheduledInterval] { state.withLock { $0.plan.sorted { ($0.start, $0.id) < ($1.start, $1.id) } } }
    public var curtailsSent: Int { state.withLock { $0.curtailsSent } }

    /// Runs until cancelled.
    public func run() async {
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
                requestPrefix: "fm-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)))
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
        var request = HTTPClientRequest(url: configuration.baseURL + "/" + service.rawValue)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/xml")
        request.body = .bytes(ByteBuffer(string: body))
        do {
            let response = try await http.execute(request, timeout: .seconds(configuration.requestTimeoutSeconds))
            var buffer = try await response.body.collect(upTo: XMLReader.maximumBytes)
            let code = Int(response.status.code)
            guard (200...299).contains(code) else {
                // 408 and 429 are the VTN busy, not a refusal.
                let refused = (400...499).contains(code) && code != 408 && code != 429
                return .failed("HTTP \(code) from \(service.rawValue)", now: Date(), refused: refused)
            }
            return .reply(buffer.readBytes(length: buffer.readableBytes) ?? [], now: Date())
        } catch {
            return .failed("\(service.rawValue): \(String(describing: error).prefix(200))", now: Date())
        }
    }
}
