import DemandResponse
import Foundation

// The policy file is operator input, but a typo must give an error naming the key, not a trap, and an
// accepted file must resolve to a config without trapping either.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Data(bytes: data, count: size)
    guard let file = try? PolicyFile(json: bytes) else { return 0 }
    // An accepted file is used next: the break-even price is computed from it, with and without a
    // measured hash rate.
    // A resolved config is what the policy runs on: it must pass its own validation.
    for rate in [nil, 1.1e14] {
        if let config = try? file.resolved(measuredHashRate: rate) {
            do { try config.validate() } catch { fatalError("resolved a config that does not validate: \(error)") }
        }
    }
    _ = file.usdPerHash
    _ = file.needsHashRate
    return 0
}
