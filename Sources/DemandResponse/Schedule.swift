import FlexSupport
import Foundation

/// One window of a schedule file: on the named months and weekdays, from `start` to `end` local time.
public struct ScheduleWindow: Sendable, Hashable {
    public enum Action: Sendable, Hashable {
        /// Shed `level` of capacity for the window (or, with `peakWatch`, only under the peak rule).
        case curtail(level: Double, reason: String?)
        /// The energy price for the window, USD/MWh.
        case price(usdPerMWh: Double)
    }

    public let id: String
    /// 1...12.
    public let months: Set<Int>
    /// 1 = Sunday ... 7 = Saturday.
    public let weekdays: Set<Int>
    /// Minutes after local midnight; an end at or before the start ends the next day ("24:00" is 1440).
    public let startMinutes: Int
    public let endMinutes: Int
    public let clock: LocalClock
    public let action: Action
    /// Curtails only under the peak rule (`Policy`), not for its whole length.
    public let peakWatch: Bool

    static let dayNames = ["sun": 1, "mon": 2, "tue": 3, "wed": 4, "thu": 5, "fri": 6, "sat": 7]

    /// The window's occurrence that starts on this local date, if the date is one of its months and weekdays.
    /// Start and end are instants: across a DST change a 15:00–18:00 window still opens at 15:00 and closes at
    /// 18:00 on the wall clock, and a window over a skipped hour opens when the clock jumps.
    public func occurrence(year: Int, month: Int, day: Int) -> (start: Date, end: Date)? {
        let days = ISO8601.daysFromCivil(year, month, day)
        let weekday = ((days % 7) + 7 + 4) % 7 + 1
        guard months.contains(month), weekdays.contains(weekday) else { return nil }
        let start = clock.firstInstant(
            year: year, month: month, day: day, hour: startMinutes / 60, minute: startMinutes % 60)
        let endDay = endMinutes <= startMinutes || endMinutes == 1440 ? days + 1 : days
        let (ey, em, ed) = ISO8601.civilFromDays(endDay)
        let e = endMinutes % 1440
        let end = clock.firstInstant(year: ey, month: em, day: ed, hour: e / 60, minute: e % 60)
        return end > start ? (start, end) : nil
    }

    /// Occurrences starting on local dates from `days` before `date`'s local date to `days` after.
    func occurrences(around date: Date, before: Int, after: Int) -> [(start: Date, end: Date)] {
        let l = clock.local(date)
        let today = ISO8601.daysFromCivil(l.year, l.month, l.day)
        return ((today - before)...(today + after)).compactMap { d in
            let (y, m, dd) = ISO8601.civilFromDays(d)
            return occurrence(year: y, month: m, day: dd)
        }
    }
}

/// A schedule file (`--signals schedule:PATH`, `simulate --schedule PATH`): windows of curtailment or
/// price on the local calendar.
///
/// ```json
/// {"windows": [{"id": "ercot-4cp", "months": [6,7,8,9], "weekdays": ["mon","tue","wed","thu","fri"],
///               "start": "15:00", "end": "18:00", "timezone": "America/Chicago",
///               "action": "curtail", "level": 1.0, "reason": "ERCOT 4CP peak watch", "peak_watch": true}]}
/// ```
/// Overlapping windows: each curtailment is its own (by id), so the most restrictive one wins, as with
/// every source; of overlapping price windows the highest price holds.
public struct Schedule: Sendable, Hashable {
    public let windows: [ScheduleWindow]

    public static let maxWindows = 256

    public init(windows: [ScheduleWindow]) { self.windows = windows }

    /// - Throws: `InputError` naming the file, the window and the field.
    public init(contentsOf path: String) throws(InputError) {
        do throws(InputError) { try self.init(json: InputFile.data(path)) } catch {
            throw InputError("schedule \(path): \(error.message)")
        }
    }

    public init(json data: Data) throws(InputError) {
        let f = try JSONFields(json: data, what: "a schedule")
        guard let list = try f.array("windows") else { throw InputError("missing field \"windows\"") }
        guard list.count <= Self.maxWindows else {
            throw InputError("field \"windows\" has \(list.count) windows; the limit is \(Self.maxWindows)")
        }
        var windows: [ScheduleWindow] = []
        for (i, item) in list.enumerated() {
            guard let o = item as? [String: Any] else { throw InputError("field \"windows[\(i)]\" must be an object") }
            let window = try Self.window(JSONFields(o, path: "windows[\(i)]."))
            guard !windows.contains(where: { $0.id == window.id }) else {
                throw InputError("field \"windows[\(i)].id\": \"\(window.id)\" is used twice")
            }
            windows.append(window)
        }
        self.windows = windows
    }

    static func window(_ f: JSONFields) throws(InputError) -> ScheduleWindow {
        let id = try f.requiredString("id")
        guard !id.isEmpty, id.utf8.count <= Policy.maxTextBytes else {
            throw InputError("field \"\(f.path)id\" must be 1 to \(Policy.maxTextBytes) bytes")
        }
        var months: Set<Int> = Set(1...12)
        if let list = try f.array("months") {
            months = []
            for (k, v) in list.enumerated() {
                guard let m = JSONScalar.integer(v, in: 1...12) else {
                    throw InputError("field \"\(f.path)months[\(k)]\" must be a month 1...12")
                }
                months.insert(m)
            }
        }
        var weekdays: Set<Int> = Set(1...7)
        if let list = try f.strings("weekdays") {
            weekdays = []
            for (k, name) in list.enumerated() {
                guard let d = ScheduleWindow.dayNames[name.lowercased()] else {
                    throw InputError(
                        "field \"\(f.path)weekdays[\(k)]\" must be one of mon, tue, wed, thu, fri, sat, sun")
                }
                weekdays.insert(d)
            }
        }
        let start = try minutes(f, "start", allow24: false)
        let end = try minutes(f, "end", allow24: true)
        guard start != end else { throw InputError("field \"\(f.path)end\" must differ from \"start\"") }
        let clock = try LocalClock(identifier: try f.requiredString("timezone"), field: "\(f.path)timezone")
        let action: ScheduleWindow.Action
        switch try f.oneOf("action", ["curtail", "price"]) ?? "" {
        case "price":
            action = .price(usdPerMWh: try f.requiredNumber("usd_per_mwh", in: -1e9...1e9))
        case "curtail":
            action = .curtail(level: try f.number("level", in: 0...1) ?? 1, reason: try f.string("reason"))
        default:
            throw InputError("missing field \"\(f.path)action\" (curtail or price)")
        }
        let peakWatch = try f.bool("peak_watch") ?? false
        if peakWatch, case .price = action {
            throw InputError("field \"\(f.path)peak_watch\" applies to curtail windows only")
        }
        return ScheduleWindow(
            id: id, months: months, weekdays: weekdays, startMinutes: start, endMinutes: end, clock: clock,
            action: action, peakWatch: peakWatch)
    }

    /// `HH:MM` as minutes after midnight.
    static func minutes(_ f: JSONFields, _ key: String, allow24: Bool) throws(InputError) -> Int {
        let text = try f.requiredString(key)
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 2, parts[1].count == 2, let h = Int(parts[0]), let m = Int(parts[1]),
            (0...23).contains(h) && (0...59).contains(m) || (allow24 && h == 24 && m == 0)
        else {
            throw InputError(
                "field \"\(f.path)\(key)\" must be HH:MM (00:00 to \(allow24 ? "24:00" : "23:59")), got \"\(text.prefix(20))\""
            )
        }
        return h * 60 + m
    }

    /// The windows open at `date`, each with the end of its current occurrence.
    public func active(at date: Date) -> [(window: ScheduleWindow, start: Date, end: Date)] {
        windows.flatMap { w in
            w.occurrences(around: date, before: 1, after: 0).filter { $0.start <= date && date < $0.end }
                .map { (w, $0.start, $0.end) }
        }
    }

    /// The next time after `date` at which a window opens or closes (within 8 days), or nil.
    public func nextBoundary(after date: Date) -> Date? {
        var best: Date? = nil
        for w in windows {
            for o in w.occurrences(around: date, before: 1, after: 8) {
                for t in [o.start, o.end] where t > date && t < (best ?? .distantFuture) { best = t }
            }
        }
        return best
    }

    /// Every occurrence that overlaps [from, to), sorted by start.
    public func occurrences(from: Date, to: Date) -> [(window: ScheduleWindow, start: Date, end: Date)] {
        var out: [(window: ScheduleWindow, start: Date, end: Date)] = []
        let days = Int(max(0, to.timeIntervalSince(from)) / 86_400) + 2
        for w in windows {
            for o in w.occurrences(around: from, before: 1, after: days) where o.end > from && o.start < to {
                out.append((w, o.start, o.end))
            }
        }
        return out.sorted { ($0.start, $0.window.id) < ($1.start, $1.window.id) }
    }

    /// The message a window's occurrence sends when it opens: a curtailment until its end, a peak watch
    /// until its end, or its price.
    public static func message(_ w: ScheduleWindow, start: Date, end: Date) -> SignalMessage {
        switch w.action {
        case .curtail(let level, let reason):
            if w.peakWatch {
                return .peakWatch(PeakWatchSignal(level: level, id: w.id, until: end, reason: reason))
            }
            return .curtail(CurtailSignal(level: level, id: w.id, until: end, reason: reason))
        case .price(let usd):
            return .price(
                PriceSignal(usdPerMWh: usd, intervalStart: start, intervalMinutes: end.timeIntervalSince(start) / 60))
        }
    }

    /// The price the open price windows set at `date` (the highest of them), or nil.
    public func price(at date: Date) -> Double? {
        active(at: date).compactMap { a -> Double? in
            if case .price(let usd) = a.window.action { return usd }
            return nil
        }.max()
    }

    /// The zone of the first peak-watch window (the month-to-date peak follows its calendar).
    public var peakTimeZone: TimeZone? { windows.first { $0.peakWatch }?.clock.zone }
}
