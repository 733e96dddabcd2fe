import FlexSupport
import Foundation
import OpenADR

// What a VTN sends (programs, events, one object or an array of them) and its ISO 8601 durations: any
// input must give a model or an InputError naming the field, never a trap; an accepted event can be
// placed in time, and written back (the VEN's state file) it reads again as the same event.

/// Traps (so libFuzzer saves the input) when an accepted object breaks what the parser promises.
func check(_ condition: Bool, _ what: String, _ data: Data) {
    if !condition { fatalError("accepted but invalid (\(what)): \(String(decoding: data, as: UTF8.self))") }
}

func event(_ fields: JSONFields, _ data: Data) {
    guard let e = try? Event(fields: fields) else { return }
    _ = e.schedule(offset: 0)
    _ = e.schedule(offset: 3600)
    for interval in e.intervals {
        for payload in interval.payloads { check(payload.numbers.allSatisfy { !$0.isNaN }, "a NaN payload", data) }
    }
    if let d = e.intervalPeriod?.duration { check(!d.isNaN, "a NaN duration", data) }
    // Written back and read again: the same identity and the same intervals.
    guard let written = try? JSONSerialization.data(withJSONObject: e.object),
        let again = try? JSONSerialization.jsonObject(with: written) as? [String: Any]
    else {
        check(false, "an accepted event cannot be written back", data)
        return
    }
    do {
        let back = try Event(fields: JSONFields(again))
        check(back.id == e.id && back.programID == e.programID, "identity changed when written back", data)
        check(back.intervals.count == e.intervals.count, "intervals lost when written back", data)
    } catch {
        check(false, "written back, it no longer reads: \(error)", data)
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ bytes: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let data = Data(bytes: bytes, count: size)
    if size < 64 { _ = ISODuration.seconds(String(decoding: data, as: UTF8.self)) }
    guard let json = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else { return 0 }
    let objects = (json as? [Any] ?? [json]).prefix(100).compactMap { $0 as? [String: Any] }
    for (i, o) in objects.enumerated() {
        let fields = JSONFields(o, path: "[\(i)].")
        _ = try? Program(fields: fields)
        _ = try? IntervalPeriod(fields: fields)
        event(fields, data)
    }
    return 0
}
