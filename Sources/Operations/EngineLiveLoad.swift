import DemandResponse
import FlexSupport
import Foundation
import LoadController
import Mining
import Simulation

/// The real engine for `simulate --live`: hashing an unsolvable job, commanded by the simulated policy,
/// with one interval per `intervalMs` of wall-clock time.
package final class EngineLiveLoad: LiveLoad {
    let engine: MiningEngine
    let intervalMs: Double
    var start: ContinuousClock.Instant?

    package init(threads: Int, intervalMs: Double) throws(EngineError) {
        engine = try MiningEngine(threads: threads)
        let job = MiningJob.unsolvable(seed: 11)
        engine.setJob(job)
        self.intervalMs = intervalMs
    }

    package var load: any LoadActuator { engine }

    package func pace(interval index: Int) {
        let now = ContinuousClock.now
        guard let start else {
            start = now
            return
        }
        let due = start + .milliseconds(intervalMs * Double(index))
        if due > now { Thread.sleep(forTimeInterval: (due - now).seconds) }
    }

    package func stop() { engine.stop() }
}
