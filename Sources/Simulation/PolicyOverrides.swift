import DemandResponse
import FlexSupport
import Foundation

extension PolicyOverrides {
    /// `file` with the overrides applied (DemandResponse's one override path and bounds), checked for what a
    /// simulation needs.
    /// - Parameter calibrating: whether the hash rate will be measured (then a hashprice needs no
    ///   `hashrate`).
    /// - Throws: `SimulationError` naming the flag that is missing or out of range.
    public func apply(to base: PolicyFile, calibrating: Bool) throws(SimulationError) -> (PolicyFile, watts: Double) {
        let file: PolicyFile
        do { file = try apply(to: base) } catch { throw SimulationError(error.message) }
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
