import Foundation

/// The policy's idea of "now": two readings taken together.
///
/// Durations (fail-safe staleness, dwell times, ramp steps) are measured on `monotonic`, which never
/// jumps; `wall` is only compared with wall-clock dates that come from outside (a curtailment's `until`)
/// and stamped on log entries. An NTP correction or a VM resume that steps the wall clock by an hour
/// therefore neither fires nor delays the fail-safe, nor shortens or stretches a dwell.
public struct PolicyTime: Sendable, Hashable {
    /// Seconds since an arbitrary origin on a clock that only moves forward. Only differences mean
    /// anything.
    public var monotonic: Double
    /// Wall-clock time, for `until` and timestamps.
    public var wall: Date

    public init(monotonic: Double, wall: Date) {
        self.monotonic = monotonic
        self.wall = wall
    }

    /// One virtual clock for both readings (the simulator, tests, time-compressed drills): the monotonic
    /// reading is the date's seconds since 1970.
    public init(_ date: Date) {
        self.init(monotonic: date.timeIntervalSince1970, wall: date)
    }

    /// Both readings moved on by `seconds`.
    public func advanced(by seconds: Double) -> PolicyTime {
        PolicyTime(monotonic: monotonic + seconds, wall: wall.addingTimeInterval(seconds))
    }

    /// Monotonic seconds from `earlier` to this time; never negative, so nothing derived from it (an
    /// array index, a dwell) can go below zero even if a caller mixes up clocks.
    public func seconds(since earlier: PolicyTime) -> Double {
        Swift.max(0, monotonic - earlier.monotonic)
    }
}

/// Where the live controller reads the time. Injectable so tests can step the wall clock while the
/// monotonic clock moves normally.
public struct PolicyClock: Sendable {
    /// Reads both clocks.
    public let now: @Sendable () -> PolicyTime

    public init(now: @escaping @Sendable () -> PolicyTime) {
        self.now = now
    }

    /// The machine's clocks: `ContinuousClock` (monotonic; on Linux it keeps counting while the machine is
    /// suspended, so a controller that slept through its signals' deadline fails safe on waking) and
    /// `Date()`.
    public static var system: PolicyClock {
        let origin = ContinuousClock.now
        return PolicyClock {
            let elapsed = (ContinuousClock.now - origin).components
            return PolicyTime(
                monotonic: Double(elapsed.seconds) + Double(elapsed.attoseconds) * 1e-18, wall: Date())
        }
    }

    /// A single virtual clock read for both (see `PolicyTime.init(_:)`).
    public static func virtual(_ read: @escaping @Sendable () -> Date) -> PolicyClock {
        PolicyClock { PolicyTime(read()) }
    }
}
