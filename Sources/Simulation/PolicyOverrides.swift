import DemandResponse
import FlexSupport
import Foundation

/// `simulate`'s policy flags laid over a policy file: the same precedence as `run` (a flag wins over
/// the file; a break-even replaces a hashprice and the other way round).
public struct PolicyOverrides: Sendable {
    public var powerWatts: Double?
    public var breakeven: Double?
    public var hashprice: Double?
    public var hashrate: Double?
    public var hysteresis: Double?
    public var minOnSeconds: Double?
    public var minOffSeconds: Double?
    public var hardPrice: Double?

    public init() {}

    /// `file` with the overrides applied, checked for what a simulation needs.
    /// - Parameter calibrating: whether the hash rate will be measured (then a hashprice needs no
    ///   `hashrate`).
    /// - Throws: `SimulationError` naming the flag that is missing or out of range.
    public func apply(to file: PolicyFile, calibrating: Bool) throws(SimulationError) -> (PolicyFile, watts: Double) {
        for (name, v) in [
            ("--power-watts", powerWatts), ("--hashprice", hashprice), ("--hashrate", hashrate),
            ("--hysteresis", hysteresis), ("--breakeven", breakeven), ("--hard-price", hardPrice),
        ] {
            if let v, !(v.isFinite && abs(v) <= 1e15) {
                throw SimulationError("\(name) must be a finite number (at most 1e15 in size)")
            }
        }
        var file = file
        if let w = powerWatts {
            guard w > 0 else { throw SimulationError("--power-watts must be positive") }
            file.powerWatts = w
        }
        if let b = breakeven {
            file.breakEvenUSDPerMWh = b
            file.hashpriceUSDPerPHDay = nil
            file.btcUSD = nil
        }
        if let h = hashprice {
            file.hashpriceUSDPerPHDay = h
            file.breakEvenUSDPerMWh = nil
            file.btcUSD = nil
        }
        if let h = hashrate {
            guard h > 0 else { throw SimulationError("--hashrate must be positive") }
            file.hashrateHS = h
        }
        if let h = hysteresis { file.config.hysteresisUSDPerMWh = h }
        if let m = minOnSeconds { file.config.minOnSeconds = m }
        if let m = minOffSeconds { file.config.minOffSeconds = m }
        if let h = hardPrice { file.config.hardPriceUSDPerMWh = h }
        guard let watts = file.powerWatts else {
            throw SimulationError("--power-watts is needed (or \"power_watts\" in --policy)")
        }
        guard file.hasBreakEven else {
            throw SimulationError(
                "give --breakeven, or --hashprice with --hashrate/--calibrate (or a --policy that has them)")
        }
        if file.needsHashRate && !calibrating {
            throw SimulationError("revenue per hash needs the hash rate: give --hashrate H/s or --calibrate")
        }
        return (file, watts)
    }
}
