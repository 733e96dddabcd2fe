import FlexSupport
import Foundation

/// A wall-clock reading in a time zone: what tariffs and schedules are written in.
public struct LocalTime: Sendable, Hashable {
    public let year: Int
    /// 1...12.
    public let month: Int
    public let day: Int
    /// 0...23.
    public let hour: Int
    public let minute: Int
    /// 1 = Sunday ... 7 = Saturday (Foundation's numbering).
    public let weekday: Int
    /// The UTC offset in force, seconds.
    public let offsetSeconds: Int

    /// `YYYY-MM-DD`, as holiday files write dates.
    public var dateKey: String {
        func pad(_ v: Int, _ n: Int) -> String {
            String(repeating: "0", count: max(0, n - String(v).count)) + String(v)
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))"
    }

    /// Saturday or Sunday.
    public var isWeekend: Bool { weekday == 1 || weekday == 7 }

    /// Months since year 0: one number per billing month.
    public var monthIndex: Int { year * 12 + month - 1 }
}

/// Local wall-clock arithmetic in one IANA time zone, by the zone's own offsets (Foundation's
/// `TimeZone`), without `Calendar`: the skipped and the repeated hour of a DST change are explicit.
public struct LocalClock: Sendable, Hashable {
    public let zone: TimeZone

    /// - Throws: `InputError` when `identifier` is not a time zone this system knows (IANA names only:
    ///   `America/Chicago`, `UTC`; an abbreviation such as `CST` is refused because it has no DST rule).
    public init(identifier: String, field: String = "timezone") throws(InputError) {
        guard identifier.contains("/") || identifier == "UTC" || identifier == "GMT",
            let zone = TimeZone(identifier: identifier)
        else {
            throw InputError(
                "field \"\(field)\": unknown time zone \"\(identifier.prefix(60))\" (give an IANA name such as America/Chicago)"
            )
        }
        self.zone = zone
    }

    public init(zone: TimeZone) { self.zone = zone }

    public var identifier: String { zone.identifier }

    /// The wall-clock reading at `date`.
    public func local(_ date: Date) -> LocalTime {
        let t = date.timeIntervalSince1970
        let offset = zone.secondsFromGMT(for: date)
        let local = (t + Double(offset)).rounded(.down)
        let days = Int((local / 86_400).rounded(.down))
        let rest = Int(local - Double(days) * 86_400)
        let (y, m, d) = ISO8601.civilFromDays(days)
        // 1970-01-01 was a Thursday (weekday 5).
        let weekday = ((days % 7) + 7 + 4) % 7 + 1
        return LocalTime(
            year: y, month: m, day: d, hour: rest / 3600, minute: rest / 60 % 60, weekday: weekday,
            offsetSeconds: offset)
    }

    /// Every instant at which the wall clock reads this date and time: one normally, two in the hour
    /// repeated when clocks go back (earlier first), none in the hour skipped when they go forward.
    public func instants(year: Int, month: Int, day: Int, hour: Int, minute: Int = 0) -> [Date] {
        let naive = Double(ISO8601.daysFromCivil(year, month, day)) * 86_400 + Double(hour * 3600 + minute * 60)
        var found: [Double] = []
        // The offsets in force a day either side cover every change (zones change at most once a day).
        for probe in [naive - 86_400, naive, naive + 86_400] {
            let offset = Double(zone.secondsFromGMT(for: Date(timeIntervalSince1970: probe)))
            let t = naive - offset
            if Double(zone.secondsFromGMT(for: Date(timeIntervalSince1970: t))) == offset, !found.contains(t) {
                found.append(t)
            }
        }
        return found.sorted().map { Date(timeIntervalSince1970: $0) }
    }

    /// The first instant at or after this wall-clock time: the time itself, the earlier of a repeated
    /// one, or, inside a skipped hour, the moment the clock jumps (02:30 on a spring-forward day in
    /// America/Chicago is 03:00 CDT).
    public func firstInstant(year: Int, month: Int, day: Int, hour: Int, minute: Int = 0) -> Date {
        if let first = instants(year: year, month: month, day: day, hour: hour, minute: minute).first { return first }
        let naive = Double(ISO8601.daysFromCivil(year, month, day)) * 86_400 + Double(hour * 3600 + minute * 60)
        // Skipped: with the offset before the change, the time lands after the jump; the jump is the
        // last instant whose offset is still the earlier one, found by bisection (to the second).
        let before = Double(zone.secondsFromGMT(for: Date(timeIntervalSince1970: naive - 86_400)))
        var lo = naive - before - 86_400
        var hi = naive - before
        while hi - lo > 1 {
            let mid = ((lo + hi) / 2).rounded(.down)
            if Double(zone.secondsFromGMT(for: Date(timeIntervalSince1970: mid))) == before {
                lo = mid
            } else {
                hi = mid
            }
        }
        return Date(timeIntervalSince1970: hi)
    }

    /// The next instant after `date` at which the local hour changes (a wall-clock hour boundary,
    /// including the jumps of a DST change).
    public func nextHourBoundary(after date: Date) -> Date {
        let t = date.timeIntervalSince1970
        let offset = Double(zone.secondsFromGMT(for: date))
        // Whole-hour and half-hour offsets alike: the boundary is where local seconds reach a multiple of 3600.
        var next = ((t + offset) / 3600).rounded(.down) * 3600 + 3600 - offset
        // A change of offset in between (by less than an hour, as on Lord Howe Island) moves the boundary.
        let after = Double(zone.secondsFromGMT(for: Date(timeIntervalSince1970: next)))
        if after != offset {
            let shifted = ((t + after) / 3600).rounded(.down) * 3600 + 3600 - after
            if shifted > t { next = min(next, shifted) }
        }
        return Date(timeIntervalSince1970: next)
    }
}

/// Dates treated as weekend days (`--holidays PATH`): one `YYYY-MM-DD` a line; blank lines and
/// `#` comments ignored.
public struct HolidayList: Sendable, Hashable {
    public let dates: Set<String>

    public init(dates: Set<String> = []) { self.dates = dates }

    /// - Throws: `InputError` naming the file and the line that is not a date.
    public init(contentsOf path: String) throws(InputError) {
        try self.init(text: InputFile.text(path), name: path)
    }

    public init(text: String, name: String = "holidays") throws(InputError) {
        var dates: Set<String> = []
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty { continue }
            guard trimmed.utf8.count == 10, ISO8601.parseSeconds(trimmed + "T00:00Z") != nil else {
                throw InputError("\(name): line \(n + 1): not a date YYYY-MM-DD: \"\(trimmed.prefix(40))\"")
            }
            dates.insert(trimmed)
        }
        self.dates = dates
    }

    public func contains(_ local: LocalTime) -> Bool { dates.contains(local.dateKey) }
}
