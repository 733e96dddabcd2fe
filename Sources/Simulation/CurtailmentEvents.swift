import DemandResponse
import FlexSupport
import Foundation

/// A timestamped `curtail` or `release` message from an events file.
public struct CurtailmentEvent: Sendable, Hashable {
    /// Seconds since 1970, same convention as the price file's times.
    public let time: Double
    public let message: SignalMessage
    public let line: Int

    /// Reads JSON lines: the signal protocol's `curtail` / `release` / `system_load` messages, each with a `"time"`
    /// (ISO 8601; without a zone it is read like the price file's times), e.g.
    /// `{"time":"2024-06-20T17:00:00","type":"curtail","level":1.0,"id":"EEA-1","until":"2024-06-20T19:00:00"}`.
    /// - Throws: `SimulationError` naming the file, the line and the problem.
    public static func load(path: String) throws(SimulationError) -> [CurtailmentEvent] {
        let text: String
        do { text = try InputFile.text(path) } catch { throw SimulationError(error.message) }
        var events: [CurtailmentEvent] = []
        for (n, raw) in text.utf8.split(separator: 10, omittingEmptySubsequences: false).map(Substring.init)
            .enumerated()
        {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            do throws(SimulationError) {
                events.append(try parse(line, line: n + 1))
            } catch {
                throw SimulationError("\(path): line \(n + 1): \(error.message)")
            }
        }
        return events.sorted { ($0.time, $0.line) < ($1.time, $1.line) }
    }

    static func parse(_ line: String, line number: Int) throws(SimulationError) -> CurtailmentEvent {
        do throws(InputError) {
            let f = try JSONFields(json: Data(line.utf8), what: "an event")
            // Times without a zone are read like the price file's (the market's clock).
            let timeText = try f.requiredString("time")
            guard let time = ISO8601.parseSeconds(timeText, noZone: .utc) else {
                throw InputError("field \"time\" is not an ISO 8601 date-time: \"\(timeText.prefix(40))\"")
            }
            var rest = f.object
            rest["time"] = nil
            var until: Double? = nil
            if let u = try f.string("until") {
                guard let t = ISO8601.parseSeconds(u, noZone: .utc) else {
                    throw InputError("field \"until\" is not an ISO 8601 date-time")
                }
                guard t > time else { throw InputError("field \"until\" is not after \"time\"") }
                until = t
                rest["until"] = nil
            }
            let envelope = try SignalMessage.parse(fields: JSONFields(rest), now: Date(timeIntervalSince1970: time))
            return try event(envelope, time: time, until: until, line: number)
        } catch {
            throw SimulationError(error.message)
        }
    }

    static func event(_ envelope: SignalEnvelope, time: Double, until: Double?, line number: Int)
        throws(InputError) -> CurtailmentEvent
    {
        switch envelope.message {
        case .curtail(let c):
            return CurtailmentEvent(
                time: time,
                message: .curtail(
                    CurtailSignal(
                        level: c.level, id: c.id, until: until.map { Date(timeIntervalSince1970: $0) },
                        reason: c.reason)),
                line: number)
        case .release, .systemLoad:
            // A system load reading is an event too: a forecast service's or a meter's, replayed for the peak rule.
            return CurtailmentEvent(time: time, message: envelope.message, line: number)
        default:
            throw InputError(
                "only \"curtail\" and \"release\" messages (and \"system_load\" readings) belong in an events file")
        }
    }
}
