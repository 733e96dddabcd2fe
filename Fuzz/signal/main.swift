import DemandResponse
import Foundation

// The signal line parser sees bytes from anyone who can reach a socket or write a followed file: any
// input must give an envelope or a SignalError, never a trap.
let now = Date(timeIntervalSince1970: 1_717_250_400)

/// Traps (so libFuzzer saves the input) when an accepted message breaks what the parser promises.
func check(_ condition: Bool, _ line: UnsafeBufferPointer<UInt8>) {
    if !condition { fatalError("accepted but invalid: \(String(decoding: line, as: UTF8.self))") }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let line = UnsafeBufferPointer(start: data, count: size)
    guard let envelope = try? SignalMessage.parse(line, now: now) else { return 0 }
    // What the parser promises the policy about an accepted message; the policy does not check again.
    switch envelope.message {
    case .price(let p):
        check(p.usdPerMWh.isFinite && (p.intervalMinutes.map { $0 > 0 && $0.isFinite } ?? true), line)
    case .curtail(let c):
        check((0...1).contains(c.level) && (c.until.map { $0 > now } ?? true), line)
    case .systemLoad(let mw):
        check(mw.isFinite && (0...1e7).contains(mw), line)
    case .peakWatch(let w):
        check((0...1).contains(w.level) && w.until > now, line)
    case .release, .heartbeat, .status: break
    }
    _ = envelope.message.type
    return 0
}
