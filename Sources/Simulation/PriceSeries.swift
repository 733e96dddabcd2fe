import DemandResponse
import FlexSupport
import Foundation

/// Why a simulation input was refused: the file, the line (when there is one) and what is wrong.
public struct SimulationError: Error, Hashable, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// One price interval.
public struct PricePoint: Sendable, Hashable {
    /// Start of the interval, seconds since 1970. Times without a zone (market-local, as ERCOT publishes
    /// them) are taken as written, i.e. labelled UTC; events must use the same convention.
    public let time: Double
    public let usdPerMWh: Double
    /// 1-based line in the file.
    public let line: Int
}

/// A price time series read from CSV.
///
/// Two layouts: a plain table with a time column and a price column chosen by name (defaults
/// `interval_start` and `rtm_usd_per_mwh`, FlexMiner's shared ERCOT extract), and ERCOT's published
/// real-time layout `DeliveryDate,DeliveryHour,DeliveryInterval,SettlementPointName,
/// SettlementPointType,SettlementPointPrice,DSTFlag`, recognised by its header.
public struct PriceSeries: Sendable {
    public var points: [PricePoint]
    /// The usual spacing of the series (the most common gap between consecutive rows), seconds.
    public let intervalSeconds: Double
    /// Stretches with no row, as (start, seconds), in order.
    public let gaps: [(start: Double, seconds: Double)]
    /// Rows sharing the previous row's time (DST's repeated hour): kept, each a full interval.
    public let duplicateTimestamps: Int
    /// Rows skipped with `skipBadRows`, as "line N: reason".
    public let skippedRows: [String]
    /// Whether rows were out of order in the file (they are sorted by time).
    public let reordered: Bool
    public let path: String
    public let timeColumn: String
    public let priceColumn: String
    public let settlementPoint: String?
    public let layout: Layout

    public enum Layout: String, Sendable { case table, ercot }

    public struct Options: Sendable {
        public var timeColumn: String?
        public var priceColumn: String?
        /// Keep only rows of this settlement point (column `settlement_point` or `SettlementPointName`).
        public var settlementPoint: String?
        /// Report malformed rows and go on, instead of stopping at the first.
        public var skipBadRows = false
        public init() {}
    }

    /// Reads and checks a CSV file.
    /// - Throws: `SimulationError` naming the file, the line and the problem.
    public static func load(path: String, options: Options = Options()) throws(SimulationError) -> PriceSeries {
        let data: Data
        do { data = try InputFile.data(path, limit: InputFile.largeLimit) } catch {
            throw SimulationError(error.message)
        }
        return try parse(data, path: path, options: options)
    }

    public static func parse(_ data: Data, path: String, options: Options = Options()) throws(SimulationError)
        -> PriceSeries
    {
        // Bytes throughout: a year of 5-minute rows must load in a small fraction of a second, and
        // String/NSString searching per field would take most of it.
        let bytes = [UInt8](data)
        guard String(validating: bytes, as: UTF8.self) != nil else { throw SimulationError("\(path): not UTF-8 text") }
        let lineRanges = lines(bytes)
        guard let headerRange = lineRanges.first, !headerRange.isEmpty else {
            throw SimulationError("\(path): empty file")
        }
        var fieldBuffer: [Range<Int>] = []
        CSV.fields(bytes, headerRange, into: &fieldBuffer)
        let columns = try Columns(header: fieldBuffer.map { CSV.text(bytes, $0) }, path: path, options: options)
        var points: [PricePoint] = []
        points.reserveCapacity(lineRanges.count)
        var skipped: [String] = []
        var dstRepeat: [Bool] = []
        for n in 1..<lineRanges.count {
            let range = lineRanges[n]
            if bytes[range].allSatisfy({ $0 == 32 || $0 == 44 }) { continue }  // blank lines
            let lineNumber = n + 1
            CSV.fields(bytes, range, into: &fieldBuffer)
            do throws(SimulationError) {
                guard let row = try columns.row(bytes, fieldBuffer, line: lineNumber) else { continue }
                points.append(PricePoint(time: row.time, usdPerMWh: row.price, line: lineNumber))
                dstRepeat.append(row.repeated)
            } catch {
                if options.skipBadRows {
                    skipped.append(error.message)
                } else {
                    throw SimulationError("\(path): \(error.message)")
                }
            }
        }
        return try finish(
            points, dstRepeat: dstRepeat, skipped: skipped, path: path, options: options,
            timeName: columns.timeName, priceName: columns.priceName, layout: columns.layout)
    }

    /// The lines of `bytes` (after a UTF-8 byte order mark), without their CR LF or LF.
    private static func lines(_ bytes: [UInt8]) -> [Range<Int>] {
        var lineRanges: [Range<Int>] = []
        lineRanges.reserveCapacity(bytes.count / 24)
        var start = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
        for i in bytes.indices where bytes[i] == 10 {
            lineRanges.append(start..<(i > start && bytes[i - 1] == 13 ? i - 1 : i))
            start = i + 1
        }
        if start < bytes.count { lineRanges.append(start..<(bytes.last == 13 ? bytes.count - 1 : bytes.count)) }
        return lineRanges
    }

    /// Where a file's fields are, from its header and the options: its layout, the price and time columns
    /// (or ERCOT's date, hour, interval and DST flag), the settlement point's.
    private struct Columns {
        let header: [String]
        let layout: Layout
        let priceName: String
        let timeName: String
        let priceIndex: Int
        let timeIndex: Int
        let ercot: (date: Int, hour: Int, interval: Int, dst: Int?)?
        var pointIndex: Int? = nil
        let wantedPoint: [UInt8]?
        /// Fields a row needs at least.
        let needed: Int

        init(header: [String], path: String, options: Options) throws(SimulationError) {
            func column(_ name: String) -> Int? { header.firstIndex(of: name) }
            func require(_ name: String, _ flag: String) throws(SimulationError) -> Int {
                guard let i = column(name) else {
                    throw SimulationError(
                        "\(path): no column \"\(name)\" (\(flag)); the header has: \(header.joined(separator: ", "))")
                }
                return i
            }
            self.header = header
            let ercot = ["DeliveryDate", "DeliveryHour", "DeliveryInterval"].allSatisfy { column($0) != nil }
            layout = ercot && options.timeColumn == nil ? .ercot : .table
            priceName = options.priceColumn ?? (layout == .ercot ? "SettlementPointPrice" : "rtm_usd_per_mwh")
            timeName =
                options.timeColumn
                ?? (layout == .ercot ? "DeliveryDate+DeliveryHour+DeliveryInterval" : "interval_start")
            priceIndex = try require(priceName, "--price-column")
            timeIndex = layout == .table ? try require(timeName, "--time-column") : 0
            self.ercot =
                layout == .ercot
                ? (column("DeliveryDate")!, column("DeliveryHour")!, column("DeliveryInterval")!, column("DSTFlag"))
                : nil
            wantedPoint = options.settlementPoint.map { Array($0.utf8) }
            if let sp = options.settlementPoint {
                guard let i = column("SettlementPointName") ?? column("settlement_point") else {
                    throw SimulationError(
                        "\(path): --settlement-point \(sp) given, but there is no SettlementPointName or settlement_point column"
                    )
                }
                pointIndex = i
            }
            needed = max(priceIndex, timeIndex, pointIndex ?? 0)
        }

        /// One row's time, price and DST flag; nil for another settlement point's row.
        /// - Throws: `SimulationError` naming the line and the field.
        func row(_ bytes: [UInt8], _ f: [Range<Int>], line lineNumber: Int) throws(SimulationError) -> (
            time: Double, price: Double, repeated: Bool
        )? {
            guard needed < f.count else {
                throw SimulationError("line \(lineNumber): \(f.count) fields, the header has \(header.count)")
            }
            if let pi = pointIndex, let want = wantedPoint, !bytes[CSV.trimmed(bytes, f[pi])].elementsEqual(want) {
                return nil
            }
            let priceRange = CSV.trimmed(bytes, f[priceIndex])
            guard let price = CSV.double(bytes, priceRange), price.isFinite else {
                throw SimulationError(
                    "line \(lineNumber): price \"\(CSV.text(bytes, priceRange).prefix(40))\" is not a number")
            }
            guard let (d, h, i, dst) = ercot else {
                let timeRange = CSV.trimmed(bytes, f[timeIndex])
                guard let parsed = bytes[timeRange].withUnsafeBufferPointer({ TimeText.parse(bytes: $0) }) else {
                    throw SimulationError(
                        "line \(lineNumber): time \"\(CSV.text(bytes, timeRange).prefix(40))\" is not an ISO 8601 date-time"
                    )
                }
                return (parsed, price, false)
            }
            guard d < f.count, h < f.count, i < f.count else {
                throw SimulationError("line \(lineNumber): \(f.count) fields, the header has \(header.count)")
            }
            let time = try ercotTime(
                date: CSV.text(bytes, f[d]), hour: CSV.text(bytes, f[h]), interval: CSV.text(bytes, f[i]),
                line: lineNumber)
            var repeated = false
            if let dst, dst < f.count { repeated = CSV.text(bytes, CSV.trimmed(bytes, f[dst])) == "Y" }
            return (time, price, repeated)
        }
    }

    private static func finish(
        _ rows: [PricePoint], dstRepeat: [Bool], skipped: [String], path: String, options: Options, timeName: String,
        priceName: String, layout: Layout
    ) throws(SimulationError) -> PriceSeries {
        var points = rows
        guard points.count >= 1 else {
            throw SimulationError(
                "\(path): no price rows\(options.settlementPoint.map { " for settlement point \($0)" } ?? "")")
        }
        // Sort by time; ERCOT's repeated DST hour (DSTFlag=Y) goes after the first one.
        let sorted = zip(points, points.dropFirst()).allSatisfy { $0.time <= $1.time }
        if !sorted || dstRepeat.contains(true) {
            var order = Array(points.indices)
            order.sort {
                (points[$0].time, dstRepeat[$0] ? 1 : 0, $0) < (points[$1].time, dstRepeat[$1] ? 1 : 0, $1)
            }
            points = order.map { points[$0] }
        }
        // The usual spacing: the most common positive difference.
        var counts: [Double: Int] = [:]
        for (a, b) in zip(points, points.dropFirst()) where b.time > a.time { counts[b.time - a.time, default: 0] += 1 }
        let interval = counts.max { ($0.value, -$0.key) < ($1.value, -$1.key) }?.key ?? 900
        var gaps: [(Double, Double)] = []
        var duplicates = 0
        for (a, b) in zip(points, points.dropFirst()) {
            if b.time == a.time { duplicates += 1 }
            if b.time - a.time > interval { gaps.append((a.time + interval, b.time - a.time - interval)) }
        }
        return PriceSeries(
            points: points, intervalSeconds: interval, gaps: gaps, duplicateTimestamps: duplicates,
            skippedRows: skipped, reordered: !sorted, path: path, timeColumn: timeName, priceColumn: priceName,
            settlementPoint: options.settlementPoint, layout: layout)
    }

    /// ERCOT's DeliveryDate (MM/DD/YYYY), DeliveryHour (hour ending, 1-24) and DeliveryInterval (1-4).
    static func ercotTime(date: String, hour: String, interval: String, line: Int) throws(SimulationError) -> Double {
        let parts = date.trimmingCharacters(in: .whitespaces).split(separator: "/")
        // The year is bounded as ISO 8601 dates are: a 17-digit year overflowed the day count.
        guard parts.count == 3, let m = Int(parts[0]), let d = Int(parts[1]), let y = Int(parts[2]),
            (1...12).contains(m), (1...31).contains(d), (1...9999).contains(y)
        else { throw SimulationError("line \(line): DeliveryDate \"\(date.prefix(20))\" is not MM/DD/YYYY") }
        guard let h = Int(hour.trimmingCharacters(in: .whitespaces)), (1...24).contains(h) else {
            throw SimulationError("line \(line): DeliveryHour \"\(hour.prefix(10))\" is not 1-24")
        }
        guard let i = Int(interval.trimmingCharacters(in: .whitespaces)), (1...4).contains(i) else {
            throw SimulationError("line \(line): DeliveryInterval \"\(interval.prefix(10))\" is not 1-4")
        }
        return Double(ISO8601.daysFromCivil(y, m, d)) * 86_400 + Double(h - 1) * 3600 + Double(i - 1) * 900
    }
}

/// Minimal CSV on bytes: commas, double-quoted fields with "" escapes (no newlines inside fields).
enum CSV {
    /// The byte ranges of a line's fields (inside quotes for a quoted field), into a reused buffer.
    static func fields(_ b: [UInt8], _ line: Range<Int>, into out: inout [Range<Int>]) {
        out.removeAll(keepingCapacity: true)
        var i = line.lowerBound
        var start = i
        while i < line.upperBound {
            if b[i] == 34 && i == start {
                // Quoted: up to the closing quote; "" inside stays (rare in price files; `text` unescapes).
                var j = i + 1
                while j < line.upperBound {
                    if b[j] == 34 {
                        if j + 1 < line.upperBound && b[j + 1] == 34 { j += 2 } else { break }
                    } else {
                        j += 1
                    }
                }
                out.append((i + 1)..<min(j, line.upperBound))
                i = j + 1
                while i < line.upperBound && b[i] != 44 { i += 1 }
                i += 1
                start = i
                if i > line.upperBound { return }
                continue
            }
            if b[i] == 44 {
                out.append(start..<i)
                start = i + 1
            }
            i += 1
        }
        out.append(start..<max(start, line.upperBound))
    }

    static func trimmed(_ b: [UInt8], _ r: Range<Int>) -> Range<Int> {
        var lo = r.lowerBound
        var hi = r.upperBound
        while lo < hi && (b[lo] == 32 || b[lo] == 9) { lo += 1 }
        while hi > lo && (b[hi - 1] == 32 || b[hi - 1] == 9) { hi -= 1 }
        return lo..<hi
    }

    static func text(_ b: [UInt8], _ r: Range<Int>) -> String {
        String(decoding: b[r], as: UTF8.self).replacingOccurrences(of: "\"\"", with: "\"")
    }

    /// A decimal number (optional sign, digits, point, exponent), parsed by the standard library.
    static func double(_ b: [UInt8], _ r: Range<Int>) -> Double? {
        guard !r.isEmpty, r.count < 64 else { return nil }
        return Double(Substring(decoding: b[r], as: UTF8.self))
    }
}

/// Date-times in price files and event files: the project's one codec (`FlexSupport.ISO8601`), with
/// times that carry no zone read as written (the market's own clock, labelled UTC).
public enum TimeText {
    /// `YYYY-MM-DD[T| ]HH:MM[:SS[.fff]][Z|±HH:MM]` → seconds since 1970.
    public static func parse(_ text: String) -> Double? { ISO8601.parseSeconds(text, noZone: .utc) }

    /// The same, on UTF-8 bytes (no allocation: a year of 5-minute rows loads in a fraction of a second).
    public static func parse(bytes u: UnsafeBufferPointer<UInt8>) -> Double? {
        ISO8601.parseSeconds(bytes: u, noZone: .utc)
    }

    /// `YYYY-MM-DDTHH:MM:SS` (no zone, as the price files write it).
    public static func format(_ t: Double) -> String { ISO8601.formatLocal(t) }
}
