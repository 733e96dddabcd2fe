import FlexSupport

#if canImport(Glibc)
    import Glibc
#endif

/// One sample of a power source: the mean power since the previous sample and the energy counted since
/// the source was opened.
package struct PowerReading: Sendable, Hashable {
    /// Mean power over the sample, in W.
    package var watts: Double
    /// Energy since the source was opened, in J (nil when the source cannot count it).
    package var energyJoules: Double?

    package init(watts: Double, energyJoules: Double?) {
        self.watts = watts
        self.energyJoules = energyJoules
    }
}

/// Why a sample failed. `reason` is short and from a fixed set (`PowerError.reasons`: "timeout",
/// "exception 2", "not implemented", "unreadable", "missing", "disconnected", "protocol", …): it is a metric
/// label and the telemetry's `error`; `message` says what and where, for `/status` and the log. Nothing a
/// meter sends may become a reason of its own: `PowerError.exception(_:)` and `label(_:)` keep the set fixed.
package struct PowerError: Error, Sendable, Hashable, CustomStringConvertible {
    package let reason: String
    package let message: String

    package init(_ reason: String, _ message: String) {
        self.reason = reason
        self.message = message
    }

    package var description: String { message }

    /// The Modbus exception codes with a reason of their own (the Modbus application protocol's: 1-6, 8, 10
    /// and 11); any other code a meter sends is "exception other", its number kept in the message.
    package static let standardExceptionCodes: [UInt8] = [1, 2, 3, 4, 5, 6, 8, 10, 11]

    /// Every reason that may reach a metric label or the telemetry: the one allow-list.
    package static let reasons: Set<String> = Set(
        [
            "timeout", "not implemented", "unreadable", "missing", "disconnected", "protocol", "stale", "spec",
            "telemetry", "exception other", "other",
        ] + standardExceptionCodes.map { "exception \($0)" })

    /// The reason for a Modbus exception `code`: "exception N" for a standard code, else "exception other".
    package static func exceptionReason(_ code: UInt8) -> String {
        standardExceptionCodes.contains(code) ? "exception \(code)" : "exception other"
    }

    /// `reason` when it is in `reasons`, else "other": what a label or a count by reason may carry.
    package static func label(_ reason: String) -> String { reasons.contains(reason) ? reason : "other" }
}

/// A way to know what the host draws: one file per kind in this module (`ModelPower`, `RAPLPower`,
/// `SunSpecPower`). The `PowerSampler` calls `sample(at:)` from its own thread only, never from the control
/// path, so a source may block (up to its own timeout) on a file or a socket.
package protocol PowerSource: AnyObject, Sendable {
    /// "model", "rapl" or "sunspec": the `source` label of the metrics and the telemetry.
    var kind: String { get }
    /// True only for an estimate (the model): shown as modelled wherever it appears.
    var modelled: Bool { get }
    /// Called once on the sampler's thread when sampling starts, one interval before the first sample: a
    /// source that measures between samples (RAPL's counters) takes its starting point here, so the first
    /// sample covers that interval and not the time since the source was made.
    func begin(at now: Double)
    /// Takes one sample. `now` is the sampler's monotonic time in seconds (see `Monotonic`).
    func sample(at now: Double) -> Result<PowerReading, PowerError>
    /// Releases what the source holds (a socket); called once, from the sampler's thread, at the end.
    func close()
    /// Wakes a sample in progress, from any thread (the sampler is stopping): it ends at once with an
    /// error instead of at its timeout, and later samples fail at once.
    func interrupt()
}

extension PowerSource {
    package func begin(at now: Double) {}
    package func close() {}
    package func interrupt() {}
}

/// `--power SOURCE` as given: `model`, `rapl` or `sunspec:HOST:PORT[/UNIT]`.
package enum PowerSourceSpec: Sendable, Hashable, CustomStringConvertible {
    case model
    case rapl
    /// A SunSpec meter over Modbus TCP; `unit` is the Modbus unit id (default 1).
    case sunspec(host: String, port: Int, unit: UInt8)

    /// - Throws: `PowerError` ("spec") naming `--power` and what is wrong.
    package init(_ text: String) throws(PowerError) {
        switch text {
        case "model": self = .model
        case "rapl": self = .rapl
        default:
            guard text.hasPrefix("sunspec:") else {
                throw PowerError("spec", "--power: give model, rapl or sunspec:HOST:PORT[/UNIT], got \(text)")
            }
            var rest = Substring(text.dropFirst("sunspec:".count))
            var unit: UInt8 = 1
            if let slash = rest.lastIndex(of: "/") {
                let u = rest[rest.index(after: slash)...]
                guard let n = Int(u), (0...255).contains(n) else {
                    throw PowerError("spec", "--power \(text): the unit id must be 0...255, got \(u)")
                }
                unit = UInt8(n)
                rest = rest[..<slash]
            }
            let address: HostPort
            do { address = try HostPort(String(rest)) } catch {
                throw PowerError("spec", "--power \(text): \(error.message)")
            }
            guard address.port > 0 else { throw PowerError("spec", "--power \(text): the port must be 1...65535") }
            self = .sunspec(host: address.host, port: address.port, unit: unit)
        }
    }

    package var description: String {
        switch self {
        case .model: "model"
        case .rapl: "rapl"
        case .sunspec(let host, let port, let unit):
            "sunspec:\(host.contains(":") ? "[\(host)]" : host):\(port)/\(unit)"
        }
    }
}

/// The monotonic clock as seconds (CLOCK_MONOTONIC): the telemetry's `mono_s`, the sampler's schedule and
/// the staleness of a reading. Differences are durations; the origin means nothing.
package enum Monotonic {
    package static func seconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }
}
