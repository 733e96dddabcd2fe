import Foundation

/// The one date-time codec of FlexMiner: ISO 8601 as signal sources, events, price series and OpenADR
/// servers write it, and the form every log and report writes.
public enum ISO8601 {
    /// How to read a date-time that carries no zone.
    public enum NoZone: Sendable {
        /// Refuse it (signals: an `until` must say which zone it is in).
        case refuse
        /// Read it as UTC.
        case utc
    }

    /// Parses `YYYY-MM-DD[T ]HH:MM[:SS[.fff…]][Z|±HH[:]MM]`.
    /// Years outside 1...9999 are refused (they would not survive conversion).
    /// - Returns: nil when `text` is not such a date-time.
    public static func parse(_ text: String, noZone: NoZone = .refuse) -> Date? {
        parseSeconds(text, noZone: noZone).map { Date(timeIntervalSince1970: $0) }
    }

    /// As `parse`, in seconds since 1970.
    public static func parseSeconds(_ text: String, noZone: NoZone = .refuse) -> Double? {
        var copy = text
        return copy.withUTF8 { parseSeconds(bytes: $0, noZone: noZone) }
    }

    /// As `parse`, on UTF-8 bytes, without allocating: a year of 5-minute price rows loads in a fraction
    /// of a second.
    public static func parseSeconds(bytes u: UnsafeBufferPointer<UInt8>, noZone: NoZone = .refuse) -> Double? {
        var i = 0
        func digits(_ n: Int) -> Int? {
            guard i + n <= u.count else { return nil }
            var v = 0
            for k in i..<(i + n) {
                guard u[k] >= 48 && u[k] <= 57 else { return nil }
                v = v * 10 + Int(u[k] - 48)
            }
            i += n
            return v
        }
        func expect(_ c: UInt8) -> Bool {
            guard i < u.count, u[i] == c else { return false }
            i += 1
            return true
        }
        guard let year = digits(4), expect(0x2D), let month = digits(2), expect(0x2D), let day = digits(2),
            (1...9999).contains(year), (1...12).contains(month), (1...31).contains(day)
        else { return nil }
        var seconds = Double(daysFromCivil(year, month, day)) * 86_400
        // "T", "t" or a space between date and time (some servers write SQL-style timestamps).
        guard expect(0x54) || expect(0x74) || expect(0x20), let hour = digits(2), expect(0x3A), let minute = digits(2),
            hour <= 23, minute <= 59
        else { return nil }
        seconds += Double(hour * 3600 + minute * 60)
        if expect(0x3A) {
            guard let s = digits(2), s <= 60 else { return nil }
            seconds += Double(s)
            if expect(0x2E) || expect(0x2C) {
                var scale = 0.1
                var any = false
                while i < u.count, u[i] >= 48 && u[i] <= 57 {
                    seconds += Double(u[i] - 48) * scale
                    scale /= 10
                    i += 1
                    any = true
                }
                guard any else { return nil }
            }
        }
        if i == u.count { return noZone == .utc ? seconds : nil }
        if expect(0x5A) || expect(0x7A) { return i == u.count ? seconds : nil }
        let sign: Double
        if expect(0x2B) {
            sign = 1
        } else if expect(0x2D) {
            sign = -1
        } else {
            return nil
        }
        guard let oh = digits(2), oh <= 23 else { return nil }
        var om = 0
        if i < u.count {
            _ = expect(0x3A)
            guard let m = digits(2), m <= 59 else { return nil }
            om = m
        }
        guard i == u.count else { return nil }
        return seconds - sign * Double(oh * 3600 + om * 60)
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC). Written by hand: it runs for every decision-log entry, on the
    /// signal path, where building a date formatter per call would cost a large part of a millisecond.
    public static func format(_ date: Date) -> String {
        let t = date.timeIntervalSince1970
        guard t.isFinite, abs(t) < 253_402_300_800 else { return "invalid-date" }
        var seconds = time_t(t.rounded(.down))
        var millis = Int(((t - Double(seconds)) * 1000).rounded(.down))
        if millis >= 1000 {
            seconds += 1
            millis -= 1000
        }
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return "\(pad(Int(parts.tm_year) + 1900, 4))-\(pad(Int(parts.tm_mon) + 1, 2))-\(pad(Int(parts.tm_mday), 2))T"
            + "\(pad(Int(parts.tm_hour), 2)):\(pad(Int(parts.tm_min), 2)):\(pad(Int(parts.tm_sec), 2)).\(pad(millis, 3))Z"
    }

    /// `YYYY-MM-DDTHH:MM:SS` without a zone, for seconds since 1970 read as local market time (price
    /// series keep the market's own clock).
    public static func formatLocal(_ t: Double) -> String {
        guard t.isFinite, abs(t) < 253_402_300_800 else { return "invalid-date" }
        let days = Int((t / 86_400).rounded(.down))
        let rest = Int(t - Double(days) * 86_400)
        let (y, m, d) = civilFromDays(days)
        return
            "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(rest / 3600, 2)):\(pad(rest / 60 % 60, 2)):\(pad(rest % 60, 2))"
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). Callers check
    /// the year's range (1...9999 for every input FlexMiner reads); outside it the result is meaningless
    /// but the arithmetic wraps instead of trapping.
    public static func daysFromCivil(_ year: Int, _ month: Int, _ day: Int) -> Int {
        let y = month <= 2 ? year &- 1 : year
        let era = (y >= 0 ? y : y &- 399) / 400
        let yoe = y &- era &* 400
        let mp = (month &+ 9) % 12
        let doy = (153 &* mp &+ 2) / 5 &+ day &- 1
        let doe = yoe &* 365 &+ yoe / 4 &- yoe / 100 &+ doy
        return era &* 146_097 &+ doe &- 719_468
    }

    /// The date of a day number since 1970-01-01.
    public static func civilFromDays(_ z0: Int) -> (year: Int, month: Int, day: Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    private static func pad(_ v: Int, _ width: Int) -> String {
        let s = String(v)
        return String(repeating: "0", count: Swift.max(0, width - s.count)) + s
    }
}
