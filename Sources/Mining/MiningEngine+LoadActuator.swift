import DemandResponse

/// The engine is what a demand-response decision commands: `halt()`, `resume()` and `setCapacity(_:)` are
/// its own; the controller reads the rest through the protocol, so it needs no knowledge of the engine.
extension MiningEngine: LoadActuator {
    package var activeWorkerCount: Int { snapshot().activeWorkers }
    package var hashRate: Double { snapshot().hashRate5s }
}
