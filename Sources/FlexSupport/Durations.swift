import Foundation

/// Durations as the rest of FlexMiner reads and writes them: seconds as `Double` for reports, and
/// checked conversions from outside numbers (a `1e30` timeout must be an error, not a trap).
extension Duration {
    /// The duration in seconds.
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }

    /// The duration in milliseconds.
    public var milliseconds: Double { Double(components.seconds) * 1e3 + Double(components.attoseconds) * 1e-15 }

    /// A duration from seconds given from outside, or nil when `seconds` is not finite, negative, or
    /// beyond `limit` (default 100 years): converting such a value would trap.
    public static func checked(seconds: Double, limit: Double = 3_155_760_000) -> Duration? {
        guard seconds.isFinite, seconds >= 0, seconds <= limit else { return nil }
        let whole = seconds.rounded(.down)
        return .seconds(Int64(whole)) + .nanoseconds(Int64(((seconds - whole) * 1e9).rounded()))
    }
}

/// Durations written as text on the command line and in files: `300`, `300s`, `5m`, `1h`, `1h30m`,
/// `250ms`, `2d`.
public enum DurationText {
    /// - Returns: seconds, or nil when `text` is not such a duration or is out of range (over 100 years).
    public static func seconds(_ text: String) -> Double? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86_400)]
        var rest = Substring(text.trimmingCharacters(in: .whitespaces))
        if let plain = Double(rest) { return plain.isFinite && plain >= 0 && plain <= 3_155_760_000 ? plain : nil }
        var total = 0.0
        var any = false
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isNumber || $0 == "." }
            guard let value = Double(digits) else { break }
            rest = rest.dropFirst(digits.count)
            guard let (unit, scale) = units.first(where: { rest.hasPrefix($0.0) }) else { break }
            total += value * scale
            rest = rest.dropFirst(unit.count)
            any = true
        }
        guard any, rest.isEmpty, total.isFinite, total <= 3_155_760_000 else { return nil }
        return total
    }
}

extension Duration {
    /// The duration in microseconds.
    public var microseconds: Double { seconds * 1e6 }
}

/// Percentiles of a set of latencies: the one way FlexMiner summarises halt and resume times (bench,
/// demo, the run summary).
public struct LatencySummary: Sendable, CustomStringConvertible {
    public let count: Int
    public let p50: Duration
    public let p99: Duration
    public let max: Duration

    public init(_ samples: [Duration]) {
        let s = samples.sorted()
        count = s.count
        func at(_ q: Double) -> Duration {
            s.isEmpty ? .zero : s[Swift.min(s.count - 1, Int((Double(s.count) * q).rounded(.down)))]
        }
        p50 = at(0.5)
        p99 = at(0.99)
        max = s.last ?? .zero
    }

    /// `{"count","p50_us","p99_us","max_us"}`, as `bench --json` prints it.
    public var json: [String: Any] {
        ["count": count, "p50_us": p50.microseconds, "p99_us": p99.microseconds, "max_us": max.microseconds]
    }

    public var description: String {
        func us(_ d: Duration) -> String { String(format: "%.0f µs", d.microseconds) }
        return "n=\(count) p50 \(us(p50)) p99 \(us(p99)) max \(us(max))"
    }
}
