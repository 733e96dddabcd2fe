import AsyncHTTPClient
import DemandResponse
import Foundation
import LoadController
import NIOPosix
import Operations
import Synchronization
import TestSupport
import Testing

/// `POST /pause` (a level-1 curtailment) is answered only once the state file holds it, like a `curtail`
/// on a socket: the halt does not wait for the disk, the response does.
@Suite("HTTP pause is acknowledged durable", .serialized)
struct DurablePauseTests {
    final class Flag: Sendable {
        let value = Atomic<Bool>(false)
        var isSet: Bool { value.load(ordering: .relaxed) }
        func set() { value.store(true, ordering: .relaxed) }
    }

    @Test func aPauseIsAnsweredOnceTheStateFileHoldsIt() async throws {
        let gate = Flag()
        let path = scratchDirectory() + "/state.json"
        let state = try CurtailmentStateFile(
            path: path, beforeWrite: { while !gate.isSet { usleep(1000) } })
        let load = FakeLoad()
        let controller = LoadController(
            actuator: load, config: PolicyConfig(breakEvenUSDPerMWh: 50), stateFile: state)
        controller.start()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let routes = StatusServer.Routes(
            status: { #"{"halted":\#(controller.status.halted)}"# }, metrics: { "" },
            signalReply: { controller.handle(line: Array($0.utf8), origin: SignalOrigin(name: "http")) })
        let server = try await StatusServer.start(host: "127.0.0.1", port: 0, token: nil, routes: routes, group: group)
        let base = "http://127.0.0.1:\(server.port)"
        let answered = Flag()
        let pause = Task {
            let r = try await request(.POST, base + "/pause")
            answered.set()
            return r
        }
        #expect(await polled(within: 10) { load.isHalted })
        // Another connection is served meanwhile (the wait blocks nothing), and sees the halt.
        #expect(decode(try await request(.GET, base + "/status").body)["halted"] as? Bool == true)
        try await Task.sleep(for: .milliseconds(200))
        #expect(!answered.isSet, "POST /pause answered before the state file held the curtailment")
        gate.set()
        let response = try await pause.value
        #expect(response.status == 200)
        let body = decode(response.body)
        #expect(body["halted"] as? Bool == true)
        #expect(body["state_durable"] as? Bool == true)
        let saved = try String(contentsOfFile: path, encoding: .utf8)
        #expect(saved.contains(#""id":"http-pause""#), "\(saved)")
        let resume = decode(try await request(.POST, base + "/resume").body)
        #expect(resume["state_durable"] as? Bool == true)
        #expect(!load.isHalted)
        await server.close()
        try await group.shutdownGracefully()
        state.close()
    }
}
