import Chain
import Foundation

// JSON-RPC replies from bitcoind. `NodeRPCClient.callRaw` reads the body inside its HTTP exchange (on
// AsyncHTTPClient), so it cannot be called without a server; what the client does with a body after
// that is reachable without NIO and is fuzzed here:
// - `getBlockTemplate` hands the whole reply body to `BlockTemplate(json:)`, which unwraps the
//   `{"result":…,"error":…,"id":…}` envelope itself (the real code, not a copy);
// - the envelope reads `callRaw` and `submitBlock` make, written out as they are in NodeRPCClient.swift
//   (the error object's code through NSNumber, its message, "result" present, a string or null result),
//   to catch a Foundation conversion that traps on hostile numbers. Keep them in step with that file.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let body = Data(bytes: data, count: size)
    _ = try? BlockTemplate(json: body)
    guard let object = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] else { return 0 }
    if let err = object["error"] as? [String: Any] {
        let code = (err["code"] as? NSNumber)?.intValue ?? 0
        let message = err["message"] as? String ?? "unknown error"
        _ = "node error \(code): \(message)"
        return 0
    }
    guard object.keys.contains("result") else { return 0 }
    switch object["result"] {
    case nil, is NSNull: break
    case let reason as String: _ = reason
    case let info as [String: Any]: _ = info["chain"] as? String
    default: break
    }
    return 0
}
