import AsyncHTTPClient
import DemandResponse
import FakeVTN2b
import FlexSupport
import Foundation
import LoadController
import Mining
import MiningKernels
import NIOCore
import NIOHTTP1
import OpenADR2b
import OpenADR2bSignals
import TestSupport
import Testing

/// The 2.0b source over HTTP against the project's fake VTN, halting a real mining engine.
@Suite("OpenADR 2.0b source against the fake VTN", .serialized)
struct SourceTests {
    struct Rig {
        let vtn: FakeVTN2b
        let engine: MiningEngine
        let controller: LoadController
        let source: OpenADR2bSource
        let task: Task<Void, Never>
        let statePath: String

        func stop() async {
            task.cancel()
            await task.value
        }
    }

    static func rig(
        vtn existing: FakeVTN2b? = nil, engine existingEngine: MiningEngine? = nil,
        controller existingController: LoadController? = nil, statePath: String? = nil
    ) async throws -> Rig {
        let vtn: FakeVTN2b
        if let existing { vtn = existing } else { vtn = try await FakeVTN2b.start(pollFrequency: "PT1S") }
        let engine: MiningEngine
        if let existingEngine {
            engine = existingEngine
        } else {
            // The scalar kernel: no dispatch self-test to wait for (the halt path is the same for every kernel).
            engine = try MiningEngine(kernel: try Kernel.named(.scalar), threads: 1)
            engine.setJob(.unsolvable(seed: 7))
        }
        let controller: LoadController
        if let existingController {
            controller = existingController
        } else {
            controller = LoadController(actuator: engine, config: PolicyConfig(breakEvenUSDPerMWh: 50))
            controller.start()
        }
        var c = OpenADR2bSource.Configuration(baseURL: vtn.baseURL, venName: "host-1")
        c.pollSeconds = 1
        c.statePath = statePath ?? scratchDirectory() + "/openadr2b.json"
        c.retryInitial = 0.2
        c.retryMax = 0.5
        let source = OpenADR2bSource(
            configuration: c, controller: controller, reading: { .init(watts: 95, measured: false, online: true) })
        let task = Task { await source.run() }
        return Rig(
            vtn: vtn, engine: engine, controller: controller, source: source, task: task, statePath: c.statePath!)
    }

    @Test("registers, opts in, halts the engine at the interval's start and resumes at its end, reports")
    func haltAndResume() async throws {
        let rig = try await Self.rig()
        defer { rig.engine.stop() }
        #expect(await waitUntil(within: 10) { rig.source.status.registered })
        let start = Date().addingTimeInterval(2)
        rig.vtn.setEvent(id: "E1", start: start, seconds: 2)
        #expect(
            await waitUntil(within: 10, every: .milliseconds(10), tick: rig.controller.tick) { rig.engine.isHalted })
        #expect(Date() >= start.addingTimeInterval(-0.01), "halted before the interval's start")
        #expect(rig.vtn.optIns == ["E1:0:optIn"])
        #expect(
            await waitUntil(within: 10, every: .milliseconds(10), tick: rig.controller.tick) { !rig.engine.isHalted })
        #expect(Date() >= start.addingTimeInterval(1.99), "resumed before the interval's end")
        #expect(await waitUntil(within: 5) { rig.vtn.updateReports > 0 })
        #expect(rig.vtn.refusedContentType == 0)
        let requests = rig.vtn.requests
        for r in [
            "EiRegisterParty oadrQueryRegistration", "EiRegisterParty oadrCreatePartyRegistration",
            "EiReport oadrRegisterReport", "EiReport oadrCreatedReport", "EiEvent oadrRequestEvent",
            "OadrPoll oadrPoll",
            "EiEvent oadrCreatedEvent", "EiReport oadrUpdateReport",
        ] {
            #expect(requests.contains(r), "the VEN never sent \(r)")
        }
        let json = rig.source.statusJSON
        #expect(json["registered"] as? Bool == true && json["ven_id"] as? String == "ven-1")
        #expect(json["opted_in"] as? [String: Int] == ["E1": 0] && (json["curtails_sent"] as? Int ?? 0) >= 1)
        let mode = try FileManager.default.attributesOfItem(atPath: rig.statePath)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        await rig.stop()
        await rig.vtn.close()
    }

    @Test("the VTN vanishes mid-event: the interval is kept and ends on time; a restart keeps the registration")
    func vanishAndRestart() async throws {
        let rig = try await Self.rig()
        defer { rig.engine.stop() }
        #expect(await waitUntil(within: 10) { rig.source.status.registered })
        let start = Date().addingTimeInterval(1.5)
        rig.vtn.setEvent(id: "E2", start: start, seconds: 3)
        #expect(
            await waitUntil(within: 10, every: .milliseconds(10), tick: rig.controller.tick) { rig.engine.isHalted })
        rig.vtn.setAway(true)
        #expect(await waitUntil(within: 5) { rig.source.status.failures > 0 })
        #expect(rig.engine.isHalted, "the curtailment is kept while the VTN is away")
        #expect(
            await waitUntil(within: 10, every: .milliseconds(10), tick: rig.controller.tick) { !rig.engine.isHalted })
        #expect(Date() >= start.addingTimeInterval(2.99))
        await rig.stop()
        await rig.vtn.close()
        // A restart with the state file resumes the registration (no new query) and the schedule.
        let vtn = try await FakeVTN2b.start(pollFrequency: "PT1S")
        let second = try await Self.rig(
            vtn: vtn, engine: rig.engine, controller: rig.controller, statePath: rig.statePath)
        #expect(await waitUntil(within: 5) { second.source.status.registered })
        #expect(second.source.status.venID == rig.source.status.venID)
        #expect(!vtn.requests.contains("EiRegisterParty oadrQueryRegistration"))
        await second.stop()
        await vtn.close()
    }

    @Test("the fake VTN's --state: what it saves (as JSON) restores its VENs, events and counters in a new one")
    func fakeVTNSavedState() async throws {
        let rig = try await Self.rig()
        defer { rig.engine.stop() }
        #expect(await waitUntil(within: 10) { rig.source.status.registered })
        rig.vtn.setEvent(id: "E9", start: Date().addingTimeInterval(60), seconds: 5)
        #expect(await waitUntil(within: 10) { rig.vtn.optIns.contains("E9:0:optIn") })
        await rig.stop()
        await rig.vtn.close()
        let json = try JSONEncoder().encode(rig.vtn.saved)
        let restarted = try await FakeVTN2b.start(pollFrequency: "PT1S")
        restarted.restore(try JSONDecoder().decode(FakeVTN2b.Saved.self, from: json))
        #expect(restarted.venIDs == rig.vtn.venIDs && restarted.venIDs.count == 1)
        #expect(restarted.optIns == rig.vtn.optIns)
        #expect(restarted.saved.events.map(\.id) == ["E9"])
        #expect(restarted.saved == rig.vtn.saved)
        await restarted.close()
    }

    @Test("re-registration asked by the VTN: the VEN registers again with its ids")
    func reregistration() async throws {
        let rig = try await Self.rig()
        defer { rig.engine.stop() }
        #expect(await waitUntil(within: 10) { rig.source.status.registered })
        rig.vtn.requestReregistration()
        #expect(
            await waitUntil(within: 10) {
                rig.vtn.requests.filter { $0 == "EiRegisterParty oadrCreatePartyRegistration" }.count == 2
            })
        #expect(rig.vtn.venIDs.count == 1, "the same VEN, not a second one")
        await rig.stop()
        await rig.vtn.close()
    }

    @Test("the fake VTN refuses text/xml (415) and anything but POST, as real VTNs do")
    func contentType() async throws {
        let vtn = try await FakeVTN2b.start()
        for (method, type, expected) in [
            (HTTPMethod.POST, "text/xml", 415), (.POST, "application/xml", 200), (.GET, "application/xml", 405),
        ] {
            var request = HTTPClientRequest(url: vtn.baseURL + "/OadrPoll")
            request.method = method
            request.headers.add(name: "Content-Type", value: type)
            if method == .POST { request.body = .bytes(ByteBuffer(string: VTNXML.payload("<p:oadrPoll/>"))) }
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
            _ = try await response.body.collect(upTo: 1 << 20)
            #expect(Int(response.status.code) == expected, "\(method) \(type)")
        }
        #expect(vtn.refusedContentType == 1)
        await vtn.close()
    }
}
