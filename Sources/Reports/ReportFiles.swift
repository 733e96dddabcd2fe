import FlexSupport
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The report's one shell around the pure core: reads the decision logs, works out which host each
/// belongs to, streams the telemetry line by line through `ReportAssembler`, and names every file, line
/// and field that could not be used.
public enum ReportFiles {
    /// Bytes read per `read(2)`.
    static let chunk = 1 << 20

    /// Calls `body` with each line of the file (without its newline or a trailing CR) and its number,
    /// never holding more than one chunk and one line: a telemetry file of any size is read in bounded
    /// memory. A line longer than `maxLine` is passed as nil (its number still counts).
    /// With `maxBytes`, reading stops after the chunk that reaches it (a line cut there is not passed).
    /// - Throws: `InputError` naming the file when it is missing, not a regular file or unreadable.
    public static func forEachLine(
        _ path: String, maxLine: Int = TelemetryLine.maxLineBytes, maxBytes: Int = .max,
        _ body: (UnsafeBufferPointer<UInt8>?, Int) throws(InputError) -> Void
    ) throws(InputError) {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw InputError("\(path): cannot read it (\(String(cString: strerror(errno))))")
        }
        guard st.st_mode & S_IFMT == S_IFREG else { throw InputError("\(path): not a regular file") }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw InputError("\(path): cannot read it (\(String(cString: strerror(errno))))") }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: chunk)
        var lines = LineSplitter(maxLine: maxLine)
        var total = 0
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, chunk) }
            if n < 0 {
                if errno == EINTR { continue }
                throw InputError("\(path): cannot read it (\(String(cString: strerror(errno))))")
            }
            if n == 0 { break }
            total += n
            try buffer.withUnsafeBufferPointer { b throws(InputError) in
                try lines.feed(UnsafeBufferPointer(rebasing: b[..<n]), body)
            }
            // A peek at the start of the file: the rest (and a line cut at the chunk's end) is not read.
            if total >= maxBytes { return }
        }
        try lines.finish(body)
    }

    /// Cuts chunks of a file into lines: a line that spans chunks is carried over (up to `maxLine` bytes;
    /// a longer one is passed as nil), lines are numbered from 1, and empty lines count but are not passed.
    private struct LineSplitter {
        typealias Body = (UnsafeBufferPointer<UInt8>?, Int) throws(InputError) -> Void
        let maxLine: Int
        /// The start of a line that the next chunk ends.
        var carry: [UInt8] = []
        /// Whether that line is already longer than `maxLine` (and so not kept).
        var tooLong = false
        var number = 0

        /// Passes every line `chunk` ends; keeps the rest for the next chunk.
        mutating func feed(_ chunk: UnsafeBufferPointer<UInt8>, _ body: Body) throws(InputError) {
            let n = chunk.count
            var start = 0
            while start < n {
                let from = chunk.baseAddress! + start
                guard let hit = memchr(from, 0x0A, n - start) else {
                    // The rest belongs to the next chunk's first line.
                    if !tooLong {
                        carry.append(contentsOf: chunk[start..<n])
                        if carry.count > maxLine {
                            tooLong = true
                            carry = []
                        }
                    }
                    return
                }
                let nl = start + (UnsafeRawPointer(hit) - UnsafeRawPointer(from))
                if tooLong {
                    number += 1
                    try body(nil, number)
                    tooLong = false
                } else if carry.isEmpty {
                    if nl - start > maxLine {
                        number += 1
                        try body(nil, number)
                    } else {
                        try emit(UnsafeBufferPointer(rebasing: chunk[start..<nl]), body)
                    }
                } else {
                    carry.append(contentsOf: chunk[start..<nl])
                    try emitCarry(body)
                }
                start = nl + 1
            }
        }

        /// At the end of the file: the last line, when it has no newline.
        mutating func finish(_ body: Body) throws(InputError) {
            if tooLong {
                number += 1
                try body(nil, number)
            } else if !carry.isEmpty {
                try emitCarry(body)
            }
        }

        /// The carried line, complete: passed (nil when too long), and the carry emptied.
        private mutating func emitCarry(_ body: Body) throws(InputError) {
            let line = carry
            carry = []
            if line.count > maxLine {
                number += 1
                try body(nil, number)
            } else {
                try line.withUnsafeBufferPointer { c throws(InputError) in try emit(c, body) }
            }
        }

        /// One line, without a trailing CR; an empty line is counted, not passed.
        private mutating func emit(_ line: UnsafeBufferPointer<UInt8>, _ body: Body) throws(InputError) {
            number += 1
            var l = line
            if let last = l.last, last == 0x0D { l = UnsafeBufferPointer(rebasing: l.dropLast()) }
            if l.isEmpty { return }
            try body(l, number)
        }
    }

    /// What the command asks for.
    public struct Request: Sendable {
        /// Decision logs: `PATH`, or `HOST=PATH` to name the host.
        public var decisionLogs: [String]
        public var telemetry: [String]
        public var options: ReportOptions

        public init(decisionLogs: [String], telemetry: [String], options: ReportOptions) {
            self.decisionLogs = decisionLogs
            self.telemetry = telemetry
            self.options = options
        }
    }

    /// Reads the files and builds the report.
    /// - Throws: `InputError` naming the file (and line and field) when nothing usable remains, a file is
    ///   missing, or the host of a decision log cannot be told.
    public static func report(_ request: Request) throws(InputError) -> EventReport {
        var bad = BadLines()
        var inputs: [InputSummary] = []
        let telemetryHosts = try hostsOfTelemetry(request.telemetry)
        let logs = try hostsOfDecisionLogs(request, telemetryHosts: telemetryHosts)
        var eventsByHost: [String: [LoggedEvent]] = [:]
        let entriesByHost = try readDecisionLogs(logs, bad: &bad, inputs: &inputs)
        for (host, entries) in entriesByHost { eventsByHost[host] = LoggedEvent.extract(from: entries) }
        for log in logs where eventsByHost[log.host] == nil { eventsByHost[log.host] = [] }

        var assembler = ReportAssembler(options: request.options, eventsByHost: eventsByHost)
        var samples = 0
        for (i, path) in request.telemetry.enumerated() {
            var summary = InputSummary(path: path, kind: "telemetry", host: telemetryHosts[i])
            try forEachLine(path) { line, number throws(InputError) in
                summary.lines = number
                guard let line else {
                    summary.badLines += 1
                    bad.add(path, number, "line longer than \(TelemetryLine.maxLineBytes) bytes")
                    return
                }
                do throws(InputError) {
                    assembler.add(try TelemetryLine.parse(line))
                    samples += 1
                } catch {
                    summary.badLines += 1
                    bad.add(path, number, error.message)
                }
            }
            inputs.append(summary)
        }
        guard samples > 0 else {
            throw InputError("no usable telemetry line in \(request.telemetry.joined(separator: ", "))")
        }
        return assembler.finish(inputs: inputs, badLines: bad.listed, badLineCount: bad.count)
    }

    /// Which host each telemetry file holds (its first usable line says).
    /// - Throws: `InputError` when no file has a usable line in its first 4 MiB.
    private static func hostsOfTelemetry(_ paths: [String]) throws(InputError) -> [String?] {
        var telemetryHosts: [String?] = []
        for path in paths {
            var host: String?
            var looked = 0
            // The first 4 MiB hold thousands of lines: enough to find one usable, without reading the
            // whole file twice.
            try forEachLine(path, maxBytes: 4 << 20) { line, _ throws(InputError) in
                guard host == nil, looked < 1000, let line else { return }
                looked += 1
                host = try? TelemetryLine.parse(line).host
            }
            telemetryHosts.append(host)
        }
        guard telemetryHosts.contains(where: { $0 != nil }) else {
            throw InputError(
                "no usable telemetry line in \(paths.joined(separator: ", ")) (expected the format of run --telemetry; docs/report.md)"
            )
        }
        return telemetryHosts
    }

    /// The host of each decision log: named (HOST=PATH), the only host, or the telemetry file in the
    /// same position.
    /// - Throws: `InputError` naming the log when none of these tells.
    private static func hostsOfDecisionLogs(_ request: Request, telemetryHosts: [String?]) throws(InputError) -> [(
        path: String, host: String
    )] {
        let known = Array(Set(telemetryHosts.compactMap { $0 })).sorted()
        var logs: [(path: String, host: String)] = []
        for (i, spec) in request.decisionLogs.enumerated() {
            if !FileManager.default.fileExists(atPath: spec), let eq = spec.firstIndex(of: "="), eq != spec.startIndex {
                logs.append((String(spec[spec.index(after: eq)...]), String(spec[..<eq])))
            } else if known.count == 1 {
                logs.append((spec, known[0]))
            } else if request.decisionLogs.count == request.telemetry.count, let h = telemetryHosts[i] {
                logs.append((spec, h))
            } else {
                throw InputError(
                    "\(spec): cannot tell which host this decision log belongs to (\(request.decisionLogs.count) decision logs, telemetry of hosts \(known.joined(separator: ", ")) in \(request.telemetry.count) files); give one telemetry file per decision log in the same order, or name it: --decision-log HOST=\(spec)"
                )
            }
        }
        return logs
    }

    /// The entries of every decision log, by host; bad lines counted and kept in `bad`.
    /// - Throws: `InputError` when a log cannot be read, or no log has a usable line.
    private static func readDecisionLogs(
        _ logs: [(path: String, host: String)], bad: inout BadLines, inputs: inout [InputSummary]
    ) throws(InputError) -> [String: [DecisionEntry]] {
        var entriesByHost: [String: [DecisionEntry]] = [:]
        var usableDecisionLines = 0
        for (index, log) in logs.enumerated() {
            var summary = InputSummary(path: log.path, kind: "decision-log", host: log.host)
            try forEachLine(log.path) { line, number throws(InputError) in
                summary.lines = number
                guard let line else {
                    summary.badLines += 1
                    bad.add(log.path, number, "line longer than \(TelemetryLine.maxLineBytes) bytes")
                    return
                }
                do throws(InputError) {
                    if let e = try DecisionEntry.parse(Data(line), file: index, lineNumber: number) {
                        entriesByHost[log.host, default: []].append(e)
                    }
                    usableDecisionLines += 1
                } catch {
                    summary.badLines += 1
                    bad.add(log.path, number, error.message)
                }
            }
            inputs.append(summary)
        }
        guard usableDecisionLines > 0 else {
            throw InputError("no usable line in the decision log(s) \(logs.map(\.path).joined(separator: ", "))")
        }
        return entriesByHost
    }

    /// Bad lines: all counted, the first `ReportOptions.badLinesListed` kept.
    struct BadLines {
        var listed: [BadLine] = []
        var count = 0

        mutating func add(_ file: String, _ line: Int, _ error: String) {
            count += 1
            if listed.count < ReportOptions.badLinesListed {
                listed.append(BadLine(file: file, line: line, error: error))
            }
        }
    }

    /// Writes one chart per host-event into `directory` (created if missing).
    /// - Returns: the paths written.
    public static func writeCharts(_ report: EventReport, directory: String) throws(InputError) -> [String] {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw InputError("--svg \(directory): cannot create the directory (\(error.localizedDescription))")
        }
        var written: [String] = []
        for e in report.events {
            let path = (directory as NSString).appendingPathComponent(ReportChart.fileName(e))
            do {
                try Data(ReportChart.svg(e, options: report.options).utf8).write(to: URL(fileURLWithPath: path))
            } catch {
                throw InputError("\(path): cannot write the chart (\(error.localizedDescription))")
            }
            written.append(path)
        }
        return written
    }
}
