import DemandResponse
import FlexSupport
import Foundation
import LoadController
import Synchronization
import Testing

@Suite("Live controller")
struct ControllerTests {
    func make(
        _ config: PolicyConfig = PolicyConfig(breakEvenUSDPerMWh: 50), clock: TestClock = TestClock(),
        log: DecisionLog? = nil, priceActive: Bool = true
    ) -> (LoadController, FakeLoad) {
        let load = FakeLoad()
        let c = LoadController(actuator: load, config: config, priceActive: priceActive, log: log, clock: clock.read)
        c.start()
        return (c, load)
    }

    func send(_ c: LoadController, _ line: String, from origin: String = "test", token: String? = nil)
        -> [String: Any]
    {
        decode(c.handle(line: Array(line.utf8), origin: SignalOrigin(name: origin, requiredToken: token)).line)
    }

    @Test func curtailHaltsAndReleaseResumesWithTheStateInEachReply() {
        let (c, load) = make()
        #expect(load.effective == 1)
        let r = send(c, #"{"type":"curtail","level":1.0,"id":"e1","reason":"EEA"}"#)
        #expect(r["ok"] as? Bool == true)
        #expect(r["halted"] as? Bool == true)
        #expect(r["capacity"] as? Double == 0)
        #expect(r["active_workers"] as? Int == 0)
        #expect(r["halt_latency_ms"] as? Double == 0.01)
        #expect(r["receipt_to_halted_ms"] != nil)
        #expect(load.isHalted)
        let partial = send(c, #"{"type":"curtail","level":0.3,"id":"e2"}"#)
        #expect(partial["capacity"] as? Double == 0)  // the most restrictive curtailment wins
        _ = send(c, #"{"type":"release","id":"e1"}"#)
        #expect(load.effective == 0.7)
        #expect(!load.isHalted)
        let released = send(c, #"{"type":"release"}"#)
        #expect(released["capacity"] as? Double == 1)
        #expect(load.effective == 1)
    }

    /// A new controller runs its decision path once on a scratch copy (so that the first real curtailment
    /// does not pay for code touched the first time): nothing of that may reach the miner, the decision
    /// log, the operator's notes or the state.
    @Test func theStartUpWarmUpActsOnNothing() throws {
        let dir = scratchDirectory()
        let log = try DecisionLog(path: dir + "/d.jsonl")
        let notes = Mutex<[String]>([])
        let events = Mutex(0)
        let stateFile = try CurtailmentStateFile(path: dir + "/state.json")
        let load = FakeLoad()
        let c = LoadController(
            actuator: load, config: PolicyConfig(breakEvenUSDPerMWh: 30), log: log, clock: .virtual(TestClock().read),
            message: { m in notes.withLock { $0.append(m) } }, observer: { _ in events.withLock { $0 += 1 } },
            stateFile: stateFile)
        #expect(load.state.withLock { $0.commands }.isEmpty)
        #expect(notes.withLock { $0 }.isEmpty)
        #expect(events.withLock { $0 } == 0, "the warm-up reached the observer")
        #expect(stateFile.flush())
        #expect(!FileManager.default.fileExists(atPath: dir + "/state.json"), "the warm-up persisted")
        #expect(log.flush())
        #expect(readLines(dir + "/d.jsonl").isEmpty)
        let s = c.status
        #expect(s.price == nil, "the warm-up's price line was kept")
        #expect(s.activeCurtailments == 0 && s.curtailment == 0, "the warm-up's curtailment was kept")
        #expect(s.messages.isEmpty)
        #expect(s.capacity == 1)
        // The warm-up's id names nothing afterwards, and the first real curtailment halts as usual.
        c.start()
        let r = send(c, #"{"type":"curtail","level":1.0,"id":"warm-up"}"#)
        #expect(r["halted"] as? Bool == true)
        #expect(load.state.withLock { $0.commands }.filter { $0 == "halt" }.count == 1)
        log.close()
        stateFile.close()
    }

    /// Every warm-up line must parse: one that did not would leave its path cold without a sound.
    @Test func everyWarmUpLineParses() throws {
        for line in LoadController.warmUpLines {
            #expect(throws: Never.self, "\(line)") { _ = try SignalMessage.parse(Array(line.utf8), now: Date()) }
        }
        #expect(LoadController.warmUpLines.count >= 5)
    }

    @Test func priceAboveBreakEvenHaltsAndNegativePricesMine() {
        let (c, load) = make()
        _ = send(c, #"{"type":"price","usd_per_mwh":80}"#)
        #expect(load.isHalted)
        let r = send(c, #"{"type":"price","usd_per_mwh":-70}"#)
        #expect(r["ok"] as? Bool == true)
        #expect(!load.isHalted)
        #expect(r["price_usd_per_mwh"] as? Double == -70)
    }

    @Test func curtailmentOverridesACheapPrice() {
        let (c, load) = make()
        _ = send(c, #"{"type":"price","usd_per_mwh":1}"#)
        _ = send(c, #"{"type":"curtail","level":1}"#, from: "grid")
        #expect(load.isHalted)
        _ = send(c, #"{"type":"price","usd_per_mwh":0}"#, from: "market")
        #expect(load.isHalted)
        _ = send(c, #"{"type":"release"}"#, from: "market")  // another source cannot release grid's curtailment
        #expect(load.isHalted)
        _ = send(c, #"{"type":"release"}"#, from: "grid")
        #expect(!load.isHalted)
    }

    @Test func withoutABreakEvenPricesAreRecordedButNeverCurtail() {
        let (c, load) = make(priceActive: false)
        let r = send(c, #"{"type":"price","usd_per_mwh":5000}"#)
        #expect(!load.isHalted)
        #expect(r["price_usd_per_mwh"] as? Double == 5000)
        #expect(r["breakeven_usd_per_mwh"] == nil)
    }

    @Test func staleSignalsFailSafeAndStatusIsNotAHeartbeat() {
        let clock = TestClock()
        var config = PolicyConfig(breakEvenUSDPerMWh: 50)
        config.staleAfterSeconds = 60
        let (c, load) = make(config, clock: clock)
        clock.advance(3600)
        c.tick()
        #expect(!load.isHalted)  // not armed before the first message
        _ = send(c, #"{"type":"status"}"#)
        clock.advance(120)
        c.tick()
        #expect(!load.isHalted)  // status queries do not arm the fail-safe
        _ = send(c, #"{"type":"heartbeat"}"#)
        clock.advance(59)
        c.tick()
        #expect(!load.isHalted)
        clock.advance(1)
        c.tick()
        #expect(load.isHalted)
        #expect(c.status.stale)
        #expect(c.status.reason.contains("fail-safe"))
        _ = send(c, #"{"type":"heartbeat"}"#)
        #expect(!load.isHalted)
    }

    @Test func curtailmentUntilLiftsItselfOnATick() {
        let clock = TestClock()
        let (c, load) = make(clock: clock)
        let until = ISO8601.format(clock.read().addingTimeInterval(30))
        _ = send(c, #"{"type":"curtail","level":1,"until":"\#(until)"}"#)
        #expect(load.isHalted)
        clock.advance(29)
        c.tick()
        #expect(load.isHalted)
        clock.advance(1)
        c.tick()
        #expect(!load.isHalted)
    }

    @Test func startHaltedWaitsForASignal() {
        var config = PolicyConfig(breakEvenUSDPerMWh: 50)
        config.initialCapacity = 0
        let (c, load) = make(config)
        #expect(load.isHalted)
        _ = send(c, #"{"type":"price","usd_per_mwh":20}"#)
        #expect(!load.isHalted)
    }

    @Test func remoteSourcesNeedTheToken() {
        let (c, load) = make()
        let token = "correct horse battery staple"
        let missing = send(c, #"{"type":"curtail","level":1}"#, token: token)
        #expect(missing["ok"] as? Bool == false)
        #expect((missing["error"] as? String)?.contains("token") == true)
        let wrong = send(c, #"{"type":"curtail","level":1,"token":"correct horse battery stapler"}"#, token: token)
        #expect(wrong["ok"] as? Bool == false)
        #expect(!load.isHalted)
        let right = send(c, #"{"type":"curtail","level":1,"token":"\#(token)"}"#, token: token)
        #expect(right["ok"] as? Bool == true)
        #expect(load.isHalted)
    }

    @Test(arguments: [
        ("{\"type\":\"curtail\",\"level\":", "malformed JSON"),
        ("{\"type\":\"curtail\",\"level\":\"1\"}", "\"level\" must be a number"),
        ("{\"type\":\"curtail\",\"level\":true}", "\"level\" must be a number"),
        ("{\"type\":\"curtail\",\"level\":1.5}", "within [0, 1]"),
        ("{\"type\":\"curtail\",\"level\":-0.1}", "within [0, 1]"),
        ("{\"type\":\"price\",\"usd_per_mwh\":NaN}", "finite"),
        ("{\"type\":\"price\",\"usd_per_mwh\":1e999}", "finite"),
        ("{\"type\":\"price\"}", "missing field \"usd_per_mwh\""),
        ("{\"type\":\"curtail\",\"level\":1,\"until\":\"2020-01-01T00:00:00Z\"}", "in the past"),
        ("{\"type\":\"curtail\",\"level\":1,\"until\":\"tomorrow\"}", "not an ISO 8601"),
        ("{\"type\":\"shutdown\"}", "unknown type \"shutdown\""),
        ("{\"level\":1}", "missing field \"type\""),
        ("[1,2,3]", "must be a JSON object"),
        ("\u{01}\u{02}\u{7f}garbage", "malformed JSON"),
    ])
    func badLinesGetAnErrorAndChangeNothing(line: String, error: String) {
        let (c, load) = make()
        let r = send(c, line)
        #expect(r["ok"] as? Bool == false)
        #expect((r["error"] as? String)?.contains(error) == true, "\(r)")
        #expect(!load.isHalted)
        #expect(load.effective == 1)
        #expect(c.status.messages["test"]?["error"] == 1)
    }

    @Test func invalidUTF8IsRejected() {
        let (c, load) = make()
        let r = decode(c.handle(line: [0xff, 0xfe, 0x7b], origin: SignalOrigin(name: "t")).line)
        #expect(r["error"] as? String == "line is not valid UTF-8")
        #expect(!load.isHalted)
    }

    @Test func decisionLogHasOneEntryPerSignalAndPerAction() throws {
        let dir = scratchDirectory()
        let path = dir + "/decisions.jsonl"
        let log = try DecisionLog(path: path)
        let (c, _) = make(log: log)
        _ = send(c, #"{"type":"curtail","level":1,"id":"x"}"#)
        _ = send(c, #"{"type":"heartbeat"}"#)
        _ = send(c, #"{"type":"nonsense"}"#)
        _ = send(c, #"{"type":"release","id":"x"}"#)
        log.close()
        let entries = readLines(path)
        let kinds = entries.map { "\($0["event"]!)/\($0["action"] ?? $0["type"] ?? "error")" }
        #expect(
            kinds == [
                "action/start", "signal/curtail", "action/halt", "signal/heartbeat", "signal/error",
                "signal/release", "action/resume",
            ])
        let halt = entries[2]
        #expect(halt["capacity_before"] as? Double == 1)
        #expect(halt["capacity_after"] as? Double == 0)
        #expect(halt["receipt_to_halted_ms"] is Double)
        #expect((halt["reason"] as? String)?.contains("curtail") == true)
        #expect(entries.allSatisfy { ($0["time"] as? String).flatMap { ISO8601.parse($0) } != nil })
    }
}
