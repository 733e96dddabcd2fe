import Synchronization

/// The modelled draw: idle watts plus watts per active worker, calibrated by the operator from the draw at
/// full capacity (`--power-watts`) and with every worker halted (`--idle-watts`, default 0, which makes the
/// model the old `power_watts × capacity` estimate). Always labelled modelled: it is what the host should
/// draw, not what it drew.
package final class ModelPower: PowerSource {
    package let kind = "model"
    package let modelled = true
    package let fullWatts: Double
    package let idleWatts: Double
    package let threads: Int
    /// Workers hashing now, as a fraction of `threads` may be (capacity × threads: a duty cycle of one half
    /// on four workers counts two).
    private let activeWorkers: @Sendable () -> Double
    private let integral = Mutex<(energy: Double, last: (at: Double, watts: Double)?)>((0, nil))

    /// - Parameters:
    ///   - fullWatts: the draw with every worker hashing (> `idleWatts`).
    ///   - idleWatts: the draw with every worker halted (≥ 0).
    ///   - threads: the number of workers (≥ 1).
    ///   - activeWorkers: how many workers hash now (0...threads, fractions allowed).
    /// - Throws: `PowerError` ("spec") naming the flag when a figure is out of range.
    package init(
        fullWatts: Double, idleWatts: Double, threads: Int, activeWorkers: @escaping @Sendable () -> Double
    ) throws(PowerError) {
        guard fullWatts.isFinite, fullWatts > 0, fullWatts <= 1e9 else {
            throw PowerError("spec", "--power-watts must be in (0, 1e9], got \(fullWatts)")
        }
        guard idleWatts.isFinite, idleWatts >= 0, idleWatts < fullWatts else {
            throw PowerError(
                "spec", "--idle-watts must be at least 0 and below --power-watts (\(fullWatts)), got \(idleWatts)")
        }
        guard threads >= 1 else { throw PowerError("spec", "the model needs at least one worker, got \(threads)") }
        self.fullWatts = fullWatts
        self.idleWatts = idleWatts
        self.threads = threads
        self.activeWorkers = activeWorkers
    }

    /// Watts per active worker.
    package var perWorkerWatts: Double { (fullWatts - idleWatts) / Double(threads) }

    /// The modelled draw with `active` workers hashing (clamped to 0...threads).
    package func watts(active: Double) -> Double {
        let a = active.isFinite ? min(max(active, 0), Double(threads)) : 0
        return idleWatts + perWorkerWatts * a
    }

    /// The draw now; the energy integrates the previous sample's draw over the time since it (a step in
    /// capacity counts from the sample that saw it).
    package func sample(at now: Double) -> Result<PowerReading, PowerError> {
        let w = watts(active: activeWorkers())
        let energy = integral.withLock { i in
            if let last = i.last, now > last.at { i.energy += last.watts * (now - last.at) }
            i.last = (now, w)
            return i.energy
        }
        return .success(PowerReading(watts: w, energyJoules: energy))
    }
}
