import Foundation
import Stratum

// Every line a pool sends is read here first: any input must give a message and an event, or a
// StratumError naming the field, never a trap; and what is accepted keeps the promises the miner relies
// on (sizes, ranges) without checking again.
let requestedMask: UInt32 = 0x1fff_e000

/// Traps (so libFuzzer saves the input) when an accepted message breaks what the parser promises.
func check(_ condition: Bool, _ line: UnsafeBufferPointer<UInt8>, _ what: String) {
    if !condition { fatalError("accepted but invalid (\(what)): \(String(decoding: line, as: UTF8.self))") }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let line = UnsafeBufferPointer(start: data, count: size)
    guard let inbound = try? StratumInbound.parse(line) else { return 0 }
    switch inbound {
    case .notification(let method, let params, _):
        guard let event = try? StratumInbound.event(method: method, params: params, requestedMask: requestedMask)
        else { return 0 }
        switch event {
        case .job(let j):
            check(j.previousHashWords.count == 32, line, "prevhash")
            check(j.merkleBranch.count <= 32 && j.merkleBranch.allSatisfy { $0.count == 32 }, line, "branch")
            check(j.coinbase1.count <= 65_536 && j.coinbase2.count <= 65_536, line, "coinbase")
            check(j.jobID.utf8.count <= 128, line, "job id")
        case .difficulty(let d): check(d > 0 && d.isFinite, line, "difficulty")
        case .versionMask(let m): check(m & ~requestedMask == 0, line, "mask")
        case .extranonce(let e1, let size):
            check(e1.count <= 32 && StratumSubscription.extranonce2Sizes.contains(size), line, "extranonce")
        case .reconnect(let host, let port, let wait):
            check((host?.utf8.count ?? 0) <= 253, line, "host")
            check(port.map { (1...65_535).contains($0) } ?? true, line, "port")
            check((0...600).contains(wait), line, "wait")
        case .message(let text): check(text.count <= 500, line, "message")
        case .subscribed, .authorized: check(false, line, "not a notification's event")
        }
    case .reply(_, let result, let error):
        check((error?.count ?? 0) <= 200, line, "error text")
        // A reply may be the one to mining.subscribe.
        if let sub = try? StratumSubscription(result: result) {
            check(sub.extranonce1.count <= 32, line, "extranonce1")
            check(StratumSubscription.extranonce2Sizes.contains(sub.extranonce2Size), line, "extranonce2 size")
            check((sub.sessionID?.utf8.count ?? 0) <= 128, line, "session id")
        }
    }
    return 0
}
