/// What a decision commands: the mining engine live, a fake in tests, the engine paced by the simulator
/// in `simulate --live`. The policy decides a capacity; `apply(capacity:)` is the one way it reaches a
/// miner.
public protocol LoadActuator: AnyObject, Sendable {
    /// Stops all hashing; returns once every worker is blocked, with the measured latency.
    func halt() -> Duration
    /// Lets workers hash again; returns once every wanted worker runs, with the measured latency.
    func resume() -> Duration
    func setCapacity(_ fraction: Double)
    var isHalted: Bool { get }
    var threadCount: Int { get }
    /// Workers the current capacity lets hash (0 when halted).
    var activeWorkerCount: Int { get }
    /// Recent hash rate (H/s).
    var hashRate: Double { get }
}

/// What applying a capacity did to the miner.
public enum LoadChange: Sendable, Hashable {
    /// Nothing to do, or only the number of active workers changed.
    case none
    /// Every worker was running and is now blocked, after this long.
    case halted(Duration)
    /// The miner was halted and its workers run again, after this long.
    case resumed(Duration)

    public var haltLatency: Duration? {
        if case .halted(let d) = self { return d }
        return nil
    }

    public var resumeLatency: Duration? {
        if case .resumed(let d) = self { return d }
        return nil
    }
}

extension LoadActuator {
    /// Makes the miner match `capacity` (0 halts every worker; otherwise the capacity is set first, so
    /// that a resume starts only the workers wanted).
    public func apply(capacity: Double) -> LoadChange {
        if capacity <= 0 {
            return isHalted ? .none : .halted(halt())
        }
        setCapacity(capacity)
        return isHalted ? .resumed(resume()) : .none
    }
}

/// The one definition of the effective capacity, for every report of it (`/status`, the metrics, the
/// dashboard, signal replies): a halted load draws nothing, whatever duty fraction it keeps for its resume.
public func effectiveCapacity(setting: Double, halted: Bool) -> Double { halted ? 0 : setting }
