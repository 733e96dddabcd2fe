import AsyncHTTPClient
import DemandResponse
import FakeVTN
import FlexSupport
import Foundation
import LoadController
import NIOCore
import OpenADR
import OpenADRSignals
import Synchronization
import TestSupport
import Testing

/// One event object as a VTN's admin would post it: SIMPLE values, one interval each, `duration` s long,
/// starting `start` s from now.
func simpleEvent(_ values: [Int], start: Double, duration: Double, program: String = "program-1") -> [String: Any] {
    [
        "programID": program, "eventName": "drill",
        "intervalPeriod": ["start": ISO8601.format(Date().addingTimeInterval(start)), "duration": "PT\(duration)S"],
        "intervals": values.enumerated().map { i, v in ["id": i, "payloads": [["type": "SIMPLE", "values": [v]]]] },
    ]
}

struct Rig {
    let vtn: FakeVTN
    let load: FakeLoad
    let controller: LoadController
    let source: OpenADRSource
    let task: Task<Void, Never>
    let secretFile: String
    let notes: NotesBox
    let decisionLog: String

    /// The decision log's accepted curtailments from this source: their ids.
    var curtailIDs: [String] {
        readLines(decisionLog).filter { $0["type"] as? String == "curtail" && $0["ok"] as? Bool == true }
            .compactMap { $0["id"] as? String }
    }

    func stop() async {
        task.cancel()
        await task.value
    }
}

final class NotesBox: Sendable {
    let lines = Mutex<[String]>([])
    func add(_ s: String) { lines.withLock { $0.append(s) } }
    var all: [String] { lines.withLock { $0 } }
}

func makeRig(
    vtn existing: FakeVTN? = nil, options: FakeVTN.Options = FakeVTN.Options(), poll: Double = 60,
    callback: Bool = false, stale: Double = 60, statePath: String? = nil, powerWatts: Double? = 2000,
    configure: (inout OpenADRSource.Configuration) -> Void = { _ in },
    measuredEnergy: (@Sendable () -> Double?)? = nil
) async throws -> Rig {
    let vtn: FakeVTN
    if let existing { vtn = existing } else { vtn = try await FakeVTN.start(options: options) }
    let dir = scratchDirectory()
    let secretFile = dir + "/secret"
    try vtn.options.clientSecret.write(toFile: secretFile, atomically: true, encoding: .utf8)
    let load = FakeLoad()
    var policy = PolicyConfig(breakEvenUSDPerMWh: 100)
    policy.staleAfterSeconds = stale
    let decisionLog = dir + "/decisions.jsonl"
    let controller = LoadController(actuator: load, config: policy, log: try DecisionLog(path: decisionLog))
    controller.start()
    var c = OpenADRSource.Configuration(baseURL: vtn.baseURL)
    c.credentials = vtn.options.clientID.map { OpenADRCredentials(clientID: $0, secretFile: secretFile) }
    c.program = "flexminer-dr"
    c.venName = "ven-\(UUID().uuidString.prefix(6))"
    c.pollSeconds = poll
    c.callback = callback ? HostPort(host: "127.0.0.1", port: 0) : nil
    c.powerWatts = powerWatts
    c.statePath = statePath
    c.retryInitial = 0.2
    c.retryMax = 0.5
    configure(&c)
    let notes = NotesBox()
    // Alerts (the log's `error` level in `flexminer run`) are kept marked, so tests can tell them apart.
    let source = try OpenADRSource(
        configuration: c, controller: controller, note: { notes.add($0) }, alert: { notes.add("ERROR " + $0) },
        measuredEnergy: measuredEnergy)
    let task = Task { await source.run() }
    return Rig(
        vtn: vtn, load: load, controller: controller, source: source, task: task, secretFile: secretFile, notes: notes,
        decisionLog: decisionLog)
}

@Suite("OpenADR 3 VEN against the fake VTN", .serialized)
struct VENTests {
    @Test func authTokenIsRenewedBeforeExpiryAndOnceAfterA401() async throws {
        var o = FakeVTN.Options()
        o.tokenLifetime = 6  // renewed 5 s before the end: after about 1 s
        let vtn = try await FakeVTN.start(options: o)
        defer { Task { await vtn.close() } }
        let dir = scratchDirectory()
        try o.clientSecret.write(toFile: dir + "/s", atomically: true, encoding: .utf8)
        let client = try OpenADRClient(
            baseURL: vtn.baseURL, credentials: OpenADRCredentials(clientID: o.clientID!, secretFile: dir + "/s"))
        _ = try await client.events(programID: "program-1")
        #expect(vtn.stats["tokens"] == 1)
        _ = try await client.events(programID: "program-1")
        #expect(vtn.stats["tokens"] == 1)  // still fresh
        try await Task.sleep(for: .milliseconds(1300))
        _ = try await client.events(programID: "program-1")
        #expect(vtn.stats["tokens"] == 2)  // renewed before it ran out, without a 401
        vtn.misbehave(unauthorizedOnce: true)
        _ = try await client.events(programID: "program-1")
        #expect(vtn.stats["tokens"] == 3)  // a 401, a new token, the request again
        await client.shutdown()
    }

    @Test func missingExpiresInAndScopeArrayAreTolerated_wrongSecretNeverShown() async throws {
        var o = FakeVTN.Options()
        o.tokenLifetime = nil
        o.scopeAsArray = true
        let vtn = try await FakeVTN.start(options: o)
        defer { Task { await vtn.close() } }
        let dir = scratchDirectory()
        try o.clientSecret.write(toFile: dir + "/s", atomically: true, encoding: .utf8)
        let client = try OpenADRClient(
            baseURL: vtn.baseURL, credentials: OpenADRCredentials(clientID: o.clientID!, secretFile: dir + "/s"))
        #expect(try await client.program("flexminer-dr").id == "program-1")
        await client.shutdown()

        try "not-the-secret-xyz".write(toFile: dir + "/bad", atomically: true, encoding: .utf8)
        let bad = try OpenADRClient(
            baseURL: vtn.baseURL, credentials: OpenADRCredentials(clientID: o.clientID!, secretFile: dir + "/bad"))
        do {
            _ = try await bad.events(programID: nil)
            Issue.record("a wrong secret was accepted")
        } catch {
            #expect(error.kind == .unauthorized)
            #expect(!error.message.contains("not-the-secret-xyz"))
            #expect(error.message.contains("flexminer-ven"))
        }
        await bad.shutdown()
    }

    @Test func eventsArePagedAndFilteredByProgramEvenWhenTheServerIgnoresTheFilter() async throws {
        var o = FakeVTN.Options()
        o.clientID = nil
        let vtn = try await FakeVTN.start(options: o)
        defer { Task { await vtn.close() } }
        for i in 0..<120 { vtn.createEvent(simpleEvent([1], start: 3600 + Double(i), duration: 60)) }
        for _ in 0..<5 { vtn.createEvent(simpleEvent([3], start: 10, duration: 60, program: "other")) }
        vtn.misbehave(ignoreFilter: true)
        let client = try OpenADRClient(baseURL: vtn.baseURL, credentials: nil)
        let events = try await client.events(programID: "program-1")
        #expect(events.count == 120)
        #expect(Set(events.map(\.id)).count == 120)
        #expect(vtn.stats["GET /events"] == 3)  // 50 + 50 + 20
        // A server that ignores `skip` as well: the repeated page ends the read.
        vtn.misbehave(ignoreSkip: true)
        let again = try await client.events(programID: "program-1")
        #expect(again.count == 50)
        #expect(vtn.stats["GET /events"] == 5)
        await client.shutdown()
    }

    @Test func aMalformedReplyIsAnErrorNamingTheFieldNeverATrap() async throws {
        var o = FakeVTN.Options()
        o.clientID = nil
        let vtn = try await FakeVTN.start(options: o)
        defer { Task { await vtn.close() } }
        vtn.createEvent([
            "id": "bad-1", "programID": "program-1", "intervalPeriod": ["start": "yesterday", "duration": "PT1M"],
        ])
        let client = try OpenADRClient(baseURL: vtn.baseURL, credentials: nil)
        // The fake holds its own answers to the specification: it will not send this one (a 500, recorded).
        await #expect(throws: OpenADRError.self) { _ = try await client.events(programID: "program-1") }
        #expect(vtn.responseViolations.contains { $0.contains("intervalPeriod.start") }, "\(vtn.responseViolations)")
        // Served as is, on purpose: what a non-conformant VTN sends.
        vtn.misbehave(uncheckedResponses: true)
        do {
            _ = try await client.events(programID: "program-1")
            Issue.record("accepted a malformed event")
        } catch {
            #expect(error.kind == .malformed)
            #expect(error.message.contains("bad-1") && error.message.contains("intervalPeriod.start"), "\(error)")
        }
        await client.shutdown()
    }

    /// With a measured source (a meter or RAPL in `run`), the USAGE report is the energy it measured over
    /// the interval, not the model's: here a meter that reads a constant 5 kW whatever the miner does (the
    /// model, halted, would say about 0).
    @Test func usageIsMeasuredWhenAMeterIsThere() async throws {
        let t0 = ContinuousClock.now
        let meter: @Sendable () -> Double? = { 5000 * (ContinuousClock.now - t0).seconds }
        let rig = try await makeRig(poll: 0.5, measuredEnergy: meter)
        defer { Task { await rig.vtn.close() } }
        let id = rig.vtn.createEvent(simpleEvent([3], start: 2, duration: 1.5))
        #expect(await waitUntil(within: 8, every: .milliseconds(20), tick: rig.controller.tick) { rig.load.isHalted })
        #expect(
            await waitUntil(within: 10, every: .milliseconds(20), tick: rig.controller.tick) {
                rig.vtn.reportCount == 1
            }
        )
        let report = decode(try #require(rig.vtn.reportsJSON.first))
        #expect(report["eventID"] as? String == id)
        let resources = report["resources"] as? [[String: Any]]
        let payloads =
            (resources?.first?["intervals"] as? [[String: Any]])?.first?["payloads"] as? [[String: Any]] ?? []
        let usage = try #require(payloads.first { $0["type"] as? String == "USAGE" }?["values"] as? [Double])
        // 5 kW over the 1.5 s interval is 2.08e-3 kWh; the schedule notices a start or end within 0.25 s.
        #expect(usage.count == 1 && usage[0] >= 5.0 * 1.0 / 3600 && usage[0] <= 5.0 * 2.5 / 3600, "\(usage)")
        await rig.stop()
    }

    @Test func anIntervalCurtailsAtItsStartAndLiftsAtItsEnd_thenIsReported() async throws {
        let rig = try await makeRig(poll: 0.5)
        defer { Task { await rig.vtn.close() } }
        let id = rig.vtn.createEvent(simpleEvent([3, 0], start: 3, duration: 1.5))
        // Known before it starts, and nothing happens early.
        let created = Date()
        #expect(
            await waitUntil(within: 12, every: .milliseconds(20), tick: rig.controller.tick) {
                !rig.source.plan.isEmpty
            })
        #expect(!rig.load.isHalted)
        #expect(await waitUntil(within: 6, every: .milliseconds(20), tick: rig.controller.tick) { rig.load.isHalted })
        #expect(Date().timeIntervalSince(created) > 2)  // at the start, not on receipt
        // The halt comes before its decision is logged (the control path never waits on the log).
        #expect(await waitUntil(within: 5, every: .milliseconds(20)) { rig.curtailIDs == ["openadr:\(id):0"] })
        #expect(await waitUntil(within: 15, every: .milliseconds(20), tick: rig.controller.tick) { !rig.load.isHalted })
        // The report: read as raw JSON, the fake VTN's own record.
        #expect(
            await waitUntil(within: 5, every: .milliseconds(20), tick: rig.controller.tick) { rig.vtn.reportCount == 1 }
        )
        let report = decode(try #require(rig.vtn.reportsJSON.first))
        #expect(report["eventID"] as? String == id)
        let resources = report["resources"] as? [[String: Any]]
        let intervals = resources?.first?["intervals"] as? [[String: Any]]
        #expect(intervals?.first?["id"] as? Int == 0)
        let payloads = intervals?.first?["payloads"] as? [[String: Any]] ?? []
        let usage = payloads.first { $0["type"] as? String == "USAGE" }?["values"] as? [Double]
        // Halted through the interval: at most the response latency's worth of 2 kW.
        #expect(usage.map { $0.count == 1 && $0[0] >= 0 && $0[0] < 2.0 * 0.5 / 3600 } == true, "\(payloads)")
        let latency = payloads.first { $0["type"] as? String == "X_RESPONSE_LATENCY" }?["values"] as? [Double]
        #expect(latency.map { $0.count == 1 && $0[0] >= 0 && $0[0] < 1000 } == true)
        await rig.stop()
    }

    @Test func aModifiedOrDeletedEventUpdatesTheSchedule() async throws {
        let rig = try await makeRig(poll: 0.3)
        defer { Task { await rig.vtn.close() } }
        let id = rig.vtn.createEvent(simpleEvent([3], start: 0, duration: 30))
        #expect(await waitUntil(within: 12, every: .milliseconds(20), tick: rig.controller.tick) { rig.load.isHalted })
        // Changed while active: SIMPLE 3 → SIMPLE 1 (0.5 by the default map).
        rig.vtn.updateEvent(id: id, simpleEvent([1], start: -1, duration: 30))
        #expect(
            await waitUntil(within: 12, every: .milliseconds(20), tick: rig.controller.tick) {
                !rig.load.isHalted && rig.load.effective == 0.5
            })
        rig.vtn.deleteEvent(id: id)
        #expect(
            await waitUntil(within: 12, every: .milliseconds(20), tick: rig.controller.tick) { rig.load.effective == 1 }
        )
        #expect(rig.controller.status.activeCurtailments == 0)
        await rig.stop()
    }

    @Test func aNotificationMakesTheVENReadEventsAtOnce_doublyEncoded() async throws {
        let rig = try await makeRig(poll: 60, callback: true)
        defer { Task { await rig.vtn.close() } }
        // Subscribed and past the first poll: with a 60 s interval, only the notification can bring the event.
        #expect(
            await waitUntil(within: 5, every: .milliseconds(20)) {
                rig.vtn.subscriptionCount == 1 && rig.source.counters.polls >= 1
            })
        rig.vtn.misbehave(notification: .double)
        let t0 = Date()
        rig.vtn.createEvent(simpleEvent([3], start: 0, duration: 20))
        #expect(await waitUntil(within: 12, every: .milliseconds(20), tick: rig.controller.tick) { rig.load.isHalted })
        #expect(Date().timeIntervalSince(t0) < 5)  // the poll interval is 60 s (the drill measures the latency)
        #expect(rig.source.counters.notifications >= 1)
        rig.vtn.misbehave(notification: .snake)
        for e in rig.source.plan { rig.vtn.deleteEvent(id: e.eventID) }
        #expect(await waitUntil(within: 12, every: .milliseconds(20), tick: rig.controller.tick) { !rig.load.isHalted })
        // The echo challenge, and a notification without the bearer token refused.
        let port = try #require(rig.source.callbackPort)
        let http = HTTPClient.shared
        let echo = try await http.execute(
            HTTPClientRequest(url: "http://127.0.0.1:\(port)/openadr/callback/echo?echo=abc123"), timeout: .seconds(5))
        #expect(echo.status.code == 200)
        #expect(String(buffer: try await echo.body.collect(upTo: 1024)) == "abc123")
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/openadr/callback")
        request.method = .POST
        request.body = .bytes(ByteBuffer(string: "{}"))
        let refused = try await http.execute(request, timeout: .seconds(5))
        #expect(refused.status.code == 401)
        await rig.stop()
        #expect(rig.vtn.subscriptionCount == 0)  // removed on shutdown
    }

    @Test func withoutACallbackTheVENPollsAndRetriesThrough500s() async throws {
        let rig = try await makeRig(poll: 1)
        defer { Task { await rig.vtn.close() } }
        #expect(await waitUntil(within: 5, every: .milliseconds(20)) { rig.source.counters.polls >= 1 })
        rig.vtn.misbehave(fail500: 2)
        rig.vtn.createEvent(simpleEvent([2], start: 0, duration: 20))
        #expect(await waitUntil(within: 5, every: .milliseconds(20), tick: rig.controller.tick) { rig.load.isHalted })
        #expect(rig.source.counters.pollFailures >= 1)
        await rig.stop()
    }

    @Test func aVTNThatGoesAwayLeavesTheSourceSilentAndTheFailSafeActs() async throws {
        let rig = try await makeRig(poll: 0.3, stale: 1.5)
        defer { Task { await rig.vtn.close() } }
        #expect(
            await waitUntil(within: 5, every: .milliseconds(20), tick: rig.controller.tick) {
                rig.source.counters.polls >= 2
            })
        #expect(!rig.load.isHalted)
        rig.vtn.misbehave(down: true)
        #expect(
            await waitUntil(within: 5, every: .milliseconds(20), tick: rig.controller.tick) {
                rig.controller.status.stale && rig.load.isHalted
            })
        rig.vtn.misbehave(down: false)
        #expect(
            await waitUntil(within: 5, every: .milliseconds(20), tick: rig.controller.tick) {
                !rig.controller.status.stale && !rig.load.isHalted
            })
        await rig.stop()
    }

    @Test func aRestartKeepsTheKnownScheduleEvenWithTheVTNDown() async throws {
        let dir = scratchDirectory()
        let path = dir + "/openadr.json"
        let first = try await makeRig(poll: 0.3, statePath: path)
        defer { Task { await first.vtn.close() } }
        let id = first.vtn.createEvent(simpleEvent([3], start: 2.5, duration: 10))
        #expect(
            await waitUntil(within: 12, every: .milliseconds(20)) {
                FileManager.default.fileExists(atPath: path) && !first.source.plan.isEmpty
            })
        await first.stop()
        let mode = (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue
        #expect(mode == 0o600)
        // The VTN goes down; a new VEN process starts with the same state file.
        first.vtn.misbehave(down: true)
        let second = try await makeRig(vtn: first.vtn, poll: 0.3, statePath: path)
        #expect(
            await waitUntil(within: 10, every: .milliseconds(20)) { second.source.plan.contains { $0.eventID == id } })
        #expect(
            await waitUntil(within: 5, every: .milliseconds(20), tick: second.controller.tick) { second.load.isHalted })
        #expect(await waitUntil(within: 5, every: .milliseconds(20)) { second.curtailIDs == ["openadr:\(id):0"] })
        await second.stop()
    }

    @Test func venIsRegisteredOnceAndReusedByName() async throws {
        let rig = try await makeRig(poll: 0.3) { $0.venName = "site-7" }
        defer { Task { await rig.vtn.close() } }
        #expect(await waitUntil(within: 5, every: .milliseconds(20)) { rig.source.counters.polls >= 1 })
        await rig.stop()
        let again = try await makeRig(vtn: rig.vtn, poll: 0.3) { $0.venName = "site-7" }
        #expect(await waitUntil(within: 5, every: .milliseconds(20)) { again.source.counters.polls >= 1 })
        await again.stop()
        #expect(rig.vtn.venNames == ["site-7"])
    }
}

@Suite("OpenADR 3 payloads through the VEN", .serialized)
struct PayloadThroughVENTests {
    @Test func priceAndCapacityLimitReachTheController_unknownTypesLoggedOnce() async throws {
        let rig = try await makeRig(poll: 0.3, powerWatts: 4000)
        defer { Task { await rig.vtn.close() } }
        rig.vtn.createEvent([
            "programID": "program-1",
            "payloadDescriptors": [
                ["objectType": "EVENT_PAYLOAD_DESCRIPTOR", "payloadType": "PRICE", "units": "KWH", "currency": "USD"],
                ["objectType": "EVENT_PAYLOAD_DESCRIPTOR", "payloadType": "IMPORT_CAPACITY_LIMIT", "units": "KW"],
            ],
            "intervalPeriod": ["start": ISO8601.format(Date().addingTimeInterval(-1)), "duration": "PT30S"],
            "intervals": [
                [
                    "id": 0,
                    "payloads": [
                        ["type": "PRICE", "values": [0.042]], ["type": "IMPORT_CAPACITY_LIMIT", "values": [1]],
                        ["type": "GHG", "values": [300]],
                    ],
                ]
            ],
        ])
        // 0.042 USD/kWh = 42 USD/MWh; a 1 kW limit on a 4 kW miner sheds 0.75.
        #expect(
            await waitUntil(within: 5, every: .milliseconds(20), tick: rig.controller.tick) {
                rig.controller.status.price == 42
            })
        #expect(
            await waitUntil(within: 5, every: .milliseconds(20), tick: rig.controller.tick) {
                rig.controller.status.curtailment == 0.75
            })
        #expect(rig.load.effective == 0.25)
        // Polled several times more: still one note about GHG.
        let polls = rig.source.counters.polls
        // Generous: a loaded CI machine.
        #expect(await waitUntil(within: 30, every: .milliseconds(20)) { rig.source.counters.polls >= polls + 3 })
        #expect(rig.notes.all.filter { $0.contains("GHG") }.count == 1)
        await rig.stop()
    }

    @Test func theSecretNeverReachesNotesOrTheStateFile() async throws {
        var o = FakeVTN.Options()
        o.clientSecret = "zz-very-secret-value-zz"
        let dir = scratchDirectory()
        let state = dir + "/state.json"
        let rig = try await makeRig(options: o, poll: 0.3, statePath: state)
        defer { Task { await rig.vtn.close() } }
        #expect(await waitUntil(within: 5, every: .milliseconds(20)) { rig.source.counters.polls >= 1 })
        // A wrong secret now: token renewals fail and are noted.
        try "wrong-secret-value".write(toFile: rig.secretFile, atomically: true, encoding: .utf8)
        rig.vtn.misbehave(unauthorizedOnce: true)
        #expect(await waitUntil(within: 5, every: .milliseconds(20)) { rig.source.counters.pollFailures >= 1 })
        await rig.stop()
        let everything = rig.notes.all.joined(separator: "\n") + (try String(contentsOfFile: state, encoding: .utf8))
        #expect(!everything.contains("zz-very-secret-value-zz"))
        #expect(!everything.contains("wrong-secret-value"))
        #expect(everything.contains("refused"))
    }
}

@Suite("OpenADR 3 with other sources", .serialized)
struct CombinedSourcesTests {
    @Test func aLocalCurtailStillWinsAndOutlivesTheEvent() async throws {
        let rig = try await makeRig(poll: 0.3)
        defer { Task { await rig.vtn.close() } }
        let local = SignalOrigin(name: "unix:/tmp/local.sock")
        #expect(
            rig.controller.handle(
                line: Array(#"{"type":"curtail","level":1,"id":"site-maintenance"}"#.utf8), origin: local
            ).ok)
        // 0.5 by the default map; long enough that a loaded machine still sees it while it is active.
        rig.vtn.createEvent(simpleEvent([1], start: 0, duration: 6))
        #expect(
            await waitUntil(within: 10, every: .milliseconds(20), tick: rig.controller.tick) {
                rig.controller.status.activeCurtailments == 2
            })
        #expect(rig.load.isHalted)  // the largest level wins: the local 1.0
        // The event ends: its curtailment lifts, the local one stays.
        #expect(
            await waitUntil(within: 15, every: .milliseconds(20), tick: rig.controller.tick) {
                rig.controller.status.activeCurtailments == 1
            })
        #expect(rig.load.isHalted)
        #expect(
            rig.controller.handle(line: Array(#"{"type":"release","id":"site-maintenance"}"#.utf8), origin: local).ok)
        #expect(rig.load.effective == 1)
        await rig.stop()
    }
}
