import FlexSupport
import Foundation
import Reports

// `flexminer report` reads files from many hosts: every line must give a sample, a decision entry, or an
// InputError naming the field — never a trap — and whatever is accepted must give a report whose figures
// are finite (a NaN or an infinity in a settlement is worse than an error), written out as text, JSON,
// CSV and SVG without trapping. Input: lines; those starting with "D" are decision-log lines, the others
// telemetry.

func check(_ condition: Bool, _ what: String, _ data: Data) {
    if !condition { fatalError("accepted but invalid (\(what)): \(String(decoding: data, as: UTF8.self))") }
}

func finite(_ x: Double?) -> Bool { x.map(\.isFinite) ?? true }

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ bytes: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let data = Data(bytes: bytes, count: size)
    var entries: [DecisionEntry] = []
    var samples: [TelemetrySample] = []
    for (n, line) in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true).prefix(200).enumerated()
    {
        if line.first == UInt8(ascii: "D") {
            if let e = try? DecisionEntry.parse(Data(line.dropFirst()), lineNumber: n + 1) {
                check(e.time.isFinite, "a decision time that is not finite", data)
                entries.append(e)
            }
        } else {
            let parsed = Array(line).withUnsafeBufferPointer { try? TelemetryLine.parse($0) }
            if let s = parsed {
                check(finite(s.watts) && s.time.isFinite, "a sample that is not finite", data)
                samples.append(s)
            }
        }
    }
    guard !samples.isEmpty else { return 0 }
    let host = samples[0].host
    var assembler = ReportAssembler(
        options: ReportOptions(baselineMinutes: 1), eventsByHost: [host: LoggedEvent.extract(from: entries)])
    for s in samples { assembler.add(s) }
    let report = assembler.finish()
    for e in report.events {
        for x in [e.baselineKW, e.eventKW, e.shedKW, e.requestedShedKW, e.responseSeconds, e.energyAvoidedKWh] {
            check(finite(x), "a figure that is not finite", data)
        }
        if let b = e.baselineKW, let d = e.eventKW, let shed = e.shedKW {
            check(abs(shed - (b - d)) <= 1e-6 * max(1, abs(b) + abs(d)), "shed ≠ baseline − during", data)
        }
    }
    for f in report.fleet { check(f.baselineKW.isFinite && f.shedKW.isFinite, "a fleet figure", data) }
    _ = ReportText.render(report)
    _ = ReportData.json(report)
    _ = ReportData.csv(report)
    for e in report.events { _ = ReportChart.svg(e, options: report.options) }
    return 0
}
