/// Delays between retries after failures: `start`, doubled after each failure up to `max`, with an
/// optional jitter (±`jitter` of the delay) so that a fleet of hosts does not retry in step. FlexMiner's
/// one backoff formula (the node's RPC, pool failover, OpenADR), so that the work sources and the grid
/// programs cannot drift apart.
public struct Backoff: Sendable, Equatable {
    /// The first delay, and the one after `reset()`.
    public let start: Duration
    /// The longest delay.
    public let max: Duration
    /// The relative jitter, within [0, 0.5].
    public let jitter: Double
    /// The delay the next failure waits, before jitter.
    public private(set) var current: Duration

    /// - Parameters: `start` and `max` are clamped to be non-negative and `max ≥ start`; a jitter that is
    ///   not finite counts as 0, and it is clamped to [0, 0.5].
    public init(start: Duration, max: Duration, jitter: Double = 0) {
        self.start = Swift.max(.zero, start)
        self.max = Swift.max(self.start, max)
        self.jitter = jitter.isFinite ? Swift.min(Swift.max(jitter, 0), 0.5) : 0
        current = self.start
    }

    /// Seconds as the OpenADR configuration gives them (already range-checked there; a value that is
    /// not a duration counts as zero rather than trapping).
    public init(startSeconds: Double, maxSeconds: Double, jitter: Double = 0) {
        self.init(
            start: Duration.checked(seconds: startSeconds) ?? .zero,
            max: Duration.checked(seconds: maxSeconds) ?? .zero, jitter: jitter)
    }

    /// The delay to wait after a failure; the following one is doubled, at most `max` (compared before
    /// doubling, so that it cannot overflow).
    public mutating func next() -> Duration {
        var rng = SystemRandomNumberGenerator()
        return next(using: &rng)
    }

    /// `next()` with the jitter drawn from `rng` (tests give a seeded one).
    public mutating func next<R: RandomNumberGenerator>(using rng: inout R) -> Duration {
        let delay = current
        current = current >= max / 2 ? max : current * 2
        guard jitter > 0, delay > .zero else { return delay }
        let factor = Double.random(in: (1 - jitter)...(1 + jitter), using: &rng)
        return Duration.checked(seconds: delay.seconds * factor) ?? delay
    }

    /// Advances as `n` failures would have (a caller that counts its failures itself); bounded, since the
    /// delay reaches `max` long before 64 doublings.
    public mutating func skip(_ n: Int) {
        for _ in 0..<Swift.min(Swift.max(n, 0), 64) where current < max {
            current = current >= max / 2 ? max : current * 2
        }
    }

    /// After a success: the next failure waits `start` again.
    public mutating func reset() { current = start }

    /// After a failure that will not mend soon (settings the server refuses): wait the longest from now on.
    public mutating func saturate() { current = max }
}
