import FlexSupport
import Foundation
import OpenADR2b

// What an OpenADR 2.0b VTN sends (any bytes): XML read through libxml2 with its limits, then a VTN
// message, then the planner and the VEN machine. Any input must give a message or an OpenADR2bError,
// never a trap; what is accepted must plan into intervals that make sense.

/// Traps (so libFuzzer saves the input) when an accepted message breaks what the parser promises.
func check(_ condition: Bool, _ what: String, _ data: [UInt8]) {
    if !condition { fatalError("accepted but invalid (\(what)): \(String(decoding: data, as: UTF8.self))") }
}

let now = Date(timeIntervalSince1970: 1_893_499_200)  // 2030-01-01T12:00:00Z
let planner = EventPlanner(simpleLevels: [0: 0, 1: 0.5, 2: 1, 3: 1], powerWatts: 2000, actOnTestEvents: true)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    if case .distributeEvent(let d) = try? VTNMessage.parse(bytes) {
        for e in d.events {
            check(e.durationSeconds >= 0 && e.startAfterSeconds >= 0, "a negative duration", bytes)
            for i in planner.plan(e, now: now).intervals {
                check(i.end > i.start && i.end > now, "an empty or past interval", bytes)
                if case .curtail(let level) = i.action {
                    check(level > 0 && level <= 1, "a level outside (0, 1]", bytes)
                }
                if case .price(let p) = i.action { check(p.isFinite, "a price that is not finite", bytes) }
            }
        }
    }
    // The same bytes as the reply to a registered VEN's poll: actions, never a trap.
    let snapshot = VENMachine.Snapshot(
        venID: "V1", registrationID: "R1", vtnID: "VTN", pollSeconds: 10, events: [], responded: [:],
        reportRequests: [])
    var m = VENMachine(.init(venName: "fuzz", planner: planner))
    _ = m.event(.start(now: now, restoring: snapshot))
    _ = m.event(.reply(bytes, now: now))
    _ = m.event(.tick(now: now.addingTimeInterval(30), reading: .init(watts: 1, measured: true, online: true)))
    return 0
}
