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
    // A resolved config is what the policy runs on: drive it through prices either side of the break-even,
    // a full curtailment, its release and time passing (dwell, ramp, staleness). Capacity must stay
    // within [0, 1] and be 0 while the curtailment holds, whatever the file's numbers.
    for rate in [nil, 1.1e14] {
        guard let config = try? file.resolved(measuredHashRate: rate) else { continue }
        let start = Date(timeIntervalSince1970: 1_717_250_400)
        var state = PolicyState(config: config, now: start)
        let b = config.breakEvenUSDPerMWh
        let low = b.isFinite ? b - 1_000 : 0
        let high = b.isFinite ? b + 1_000 : 0
        let steps: [(PolicyInput, Double)] = [
            (.signal(.price(PriceSignal(usdPerMWh: high)), source: "fuzz"), 1),
            (.tick, 400_000),
            (.signal(.price(PriceSignal(usdPerMWh: low)), source: "fuzz"), 400_001),
            (.signal(.curtail(CurtailSignal(level: 1, id: "c")), source: "fuzz"), 400_002),
            (.tick, 40_000_000),
            (.signal(.release(id: "c"), source: "fuzz"), 40_000_001),
            (.tick, 80_000_000),
        ]
        for (input, seconds) in steps {
            let decision = Policy.step(&state, input, now: start + seconds, config: config)
            guard (0...1).contains(decision.capacity) else { fatalError("capacity \(decision.capacity)") }
            if state.curtailments["c"] != nil, decision.capacity != 0 {
                fatalError("capacity \(decision.capacity) under a full curtailment")
            }
        }
    }
    _ = file.usdPerHash
    _ = file.needsHashRate
    return 0
}
