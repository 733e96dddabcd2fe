import DemandResponse
import Foundation

// The signal line parser sees bytes from anyone who can reach a socket or write a followed file: any
// input must give an envelope or a SignalError, never a trap.
let now = Date(timeIntervalSince1970: 1_717_250_400)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let line = UnsafeBufferPointer(start: data, count: size)
    if let envelope = try? SignalMessage.parse(line, now: now) {
        // What the controller does next with an accepted message: its type goes into the reply.
        _ = envelope.message.type
    }
    return 0
}
