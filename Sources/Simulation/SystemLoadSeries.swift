import DemandResponse
import FlexSupport
import Foundation

/// A system (grid) load series for the peak rule and the 4CP report (`simulate --system-load CSV`).
///
/// Two layouts: ERCOT's Native Load export (`HourEnding,COAST,…,ERCOT`: `MM/DD/YYYY HH:00` hour ending in
/// Central Prevailing Time, `24:00` for midnight, the spring-forward hour absent, the repeated fall-back
/// hour tagged ` DST`, MW with thousands separators, the `ERCOT` column the system total), and a table
/// whose first column is an ISO 8601 time (interval start; without a zone, local time in the given zone)
/// and whose load is the `mw`, `system_load_mw` or `ERCOT` column (15-minute series and the like).
public struct SystemLoadSeries: Sendable {
    public struct Point: Sendable, Hashable {
        /// Interval start and end, seconds since 1970 (real instants).
        public let start: Double
        public let end: Double
        public let mw: Double
    }

    public let points: [Point]
    public let path: String
    public let layout: String

    /// - Throws: `SimulationError` naming the file, the line and the field.
    public static func load(path: String, clock: LocalClock) throws(SimulationError) -> SystemLoadSeries {
        let text: String
        do { text = try InputFile.text(path, limit: InputFile.largeLimit) } catch {
            throw SimulationError(error.message)
        }
        return try parse(text, path: path, clock: clock)
    }

    public static func parse(_ text: String, path: String, clock: LocalClock) throws(SimulationError)
        -> SystemLoadSeries
    {
        var lines = text.split(omittingEmptySubsequences: true) { $0 == "\n" || $0 == "\r\n" }.map(String.init)
        guard !lines.isEmpty else { throw SimulationError("\(path): empty") }
        // A UTF-8 byte-order mark (ERCOT's exports carry one) is not part of the first column's name.
        if lines[0].hasPrefix("\u{FEFF}") { lines[0].removeFirst() }
        let header = fields(lines[0]).map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        let ercot = ["HourEnding", "Hour Ending"].contains(header.first ?? "")
        let names = ercot ? ["ERCOT"] : ["mw", "system_load_mw", "ERCOT"]
        guard let column = names.lazy.compactMap({ header.firstIndex(of: $0) }).first else {
            throw SimulationError("\(path): no load column (expected one of \(names.joined(separator: ", ")))")
        }
        var points: [Point] = []
        var previousNaive: String? = nil
        for (n, line) in lines.enumerated().dropFirst() {
            let f = fields(line)
            let where_ = "\(path): line \(n + 1)"
            guard f.count > column else {
                throw SimulationError("\(where_): \(f.count) fields, expected \(header.count)")
            }
            let numberText = f[column].replacingOccurrences(of: ",", with: "").trimmingCharacters(in: .whitespaces)
            guard let mw = Double(numberText), mw.isFinite, (0...1e7).contains(mw) else {
                throw SimulationError(
                    "\(where_): field \"\(header[column])\" is not a load in MW: \"\(f[column].prefix(30))\"")
            }
            let time = f[0].trimmingCharacters(in: .whitespaces)
            let start: Double
            if ercot {
                start = try hourEnding(time, clock: clock, where: where_)
            } else if let t = ISO8601.parseSeconds(time) {
                start = t
            } else if let naive = ISO8601.parseSeconds(time, noZone: .utc) {
                // Local time: the earlier instant of a repeated one, the later when the same time comes again.
                let days = Int((naive / 86_400).rounded(.down))
                let (y, m, d) = ISO8601.civilFromDays(days)
                let rest = Int(naive - Double(days) * 86_400)
                let all = clock.instants(year: y, month: m, day: d, hour: rest / 3600, minute: rest / 60 % 60)
                guard let first = all.first else {
                    throw SimulationError(
                        "\(where_): \"\(time)\" does not exist in \(clock.identifier) (skipped by DST)")
                }
                start = (previousNaive == time ? all.last! : first).timeIntervalSince1970 + Double(rest % 60)
                previousNaive = time
            } else {
                throw SimulationError("\(where_): the time \"\(time.prefix(40))\" is not ISO 8601")
            }
            points.append(Point(start: start, end: start + 3600, mw: mw))
        }
        guard !points.isEmpty else { throw SimulationError("\(path): no rows") }
        points.sort { $0.start < $1.start }
        if !ercot {
            // A table's intervals run to the next row (the last one as long as the one before it).
            var fixed: [Point] = []
            for (i, p) in points.enumerated() {
                let next = i + 1 < points.count ? points[i + 1].start : nil
                let length = next.map { $0 - p.start } ?? (fixed.last.map { $0.end - $0.start } ?? 3600)
                fixed.append(Point(start: p.start, end: p.start + (length > 0 ? length : 3600), mw: p.mw))
            }
            points = fixed
        }
        return SystemLoadSeries(points: points, path: path, layout: ercot ? "ercot-native-load" : "table")
    }

    /// `MM/DD/YYYY HH:00[ DST]` (or `M/D/YY H:00`), hour ending 01:00...24:00 → the interval's start.
    static func hourEnding(_ text: String, clock: LocalClock, where: String) throws(SimulationError) -> Double {
        let repeated = text.hasSuffix(" DST")
        let core = repeated ? String(text.dropLast(4)) : text
        let parts = core.split(separator: " ")
        let date = parts.first?.split(separator: "/") ?? []
        // The real 2022 export has one row written "12/1/22 1:00" (a spreadsheet's short date): two-digit
        // years are this century.
        guard parts.count == 2, date.count == 3, let month = Int(date[0]), let day = Int(date[1]),
            let y = Int(date[2]), case let year = y < 100 ? 2000 + y : y,
            (1...12).contains(month), (1...31).contains(day), (1900...9999).contains(year),
            let hourEnding = Int(parts[1].split(separator: ":").first ?? ""), (1...24).contains(hourEnding)
        else {
            throw SimulationError("\(`where`): \"\(text.prefix(40))\" is not MM/DD/YYYY HH:00 (hour ending)")
        }
        let all = clock.instants(year: year, month: month, day: day, hour: hourEnding - 1)
        guard let first = all.first else {
            throw SimulationError(
                "\(`where`): hour ending \(text) does not exist in \(clock.identifier) (skipped by DST)")
        }
        return (repeated ? all.last! : first).timeIntervalSince1970
    }

    /// A CSV line's fields: commas outside double quotes separate.
    static func fields(_ line: String) -> [String] {
        var out: [String] = []
        var current = ""
        var quoted = false
        for c in line {
            if c == "\"" {
                quoted.toggle()
            } else if c == "," && !quoted {
                out.append(current)
                current = ""
            } else if c != "\r" {
                current.append(c)
            }
        }
        out.append(current)
        return out
    }

    /// The messages a live feed would have sent: each interval's load once it is known, at its end.
    public func messages() -> [CurtailmentEvent] {
        points.enumerated().map { i, p in CurtailmentEvent(time: p.end, message: .systemLoad(mw: p.mw), line: i + 2) }
    }
}
