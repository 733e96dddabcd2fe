import ArgumentParser
import FlexSupport
import Foundation
import Reports

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "The event report: baseline, shed, response time and compliance of every curtailment, from the logs.",
        discussion: """
            Reads decision logs (run --decision-log) and telemetry (run --telemetry) and reports, for every \
            curtailment and price-driven halt: the baseline before it, the load during it, how fast it fell and \
            how much was shed, per host and summed over a fleet. docs/report.md describes every figure. Example:
              flexminer report --decision-log decisions.jsonl --telemetry telemetry.jsonl --svg charts/
            With several hosts, give one telemetry file per decision log in the same order, or name the host:
              --decision-log miner-07=decisions-07.jsonl
            """
    )

    @Option(name: .customLong("decision-log"), help: "A decision log (PATH or HOST=PATH); repeat for several.")
    var decisionLogs: [String] = []

    @Option(
        name: .customLong("telemetry"), help: "A telemetry log (JSON lines of run --telemetry); repeat for several.")
    var telemetry: [String] = []

    @Option(help: "Only events whose signal arrived at or after this time (ISO 8601 with a zone).")
    var from: String?

    @Option(help: "Only events whose signal arrived before this time (ISO 8601 with a zone).")
    var to: String?

    @Option(help: "Baseline method: meter-before or mean-of-days.")
    var baseline: String = BaselineMethod.meterBefore.rawValue

    @Option(help: "Minutes before the signal averaged by meter-before.")
    var baselineMinutes: Double = 15

    @Option(help: "IANA time zone of mean-of-days' clock window and weekdays (default UTC).")
    var timezone: String?

    @Option(help: "Compliance tolerance, percent: shed >= requested x (1 - tolerance).")
    var tolerancePercent: Double = 5

    @Flag(help: "Print the report as JSON (schema flexminer-report/1).")
    var json = false

    @Flag(help: "Print one CSV row per host and event.")
    var csv = false

    @Option(help: "Write one SVG chart per host and event into this directory.")
    var svg: String?

    func validate() throws {
        if decisionLogs.isEmpty { throw ValidationError("--decision-log: give at least one decision log") }
        if telemetry.isEmpty { throw ValidationError("--telemetry: give at least one telemetry file") }
        if json && csv { throw ValidationError("--json and --csv: choose one") }
        guard BaselineMethod(rawValue: baseline) != nil else {
            throw ValidationError("--baseline: \"\(baseline)\" is not meter-before or mean-of-days")
        }
        guard baselineMinutes.isFinite, baselineMinutes >= 1, baselineMinutes <= 1440 else {
            throw ValidationError("--baseline-minutes must be within 1...1440")
        }
        guard tolerancePercent.isFinite, tolerancePercent >= 0, tolerancePercent < 100 else {
            throw ValidationError("--tolerance-percent must be within [0, 100)")
        }
    }

    func run() throws {
        func time(_ text: String?, _ flag: String) throws -> Double? {
            guard let text else { return nil }
            guard let t = ISO8601.parseSeconds(text, noZone: .refuse) else {
                throw ValidationError("\(flag): \"\(text)\" is not an ISO 8601 date-time with a zone (Z or ±HH:MM)")
            }
            return t
        }
        var options = ReportOptions(
            from: try time(from, "--from"), to: try time(to, "--to"), baseline: BaselineMethod(rawValue: baseline)!,
            baselineMinutes: baselineMinutes, tolerance: tolerancePercent / 100)
        if let timezone {
            guard let zone = TimeZone(identifier: timezone) else {
                throw ValidationError("--timezone: \"\(timezone)\" is not an IANA time zone")
            }
            options.timeZone = zone
        }
        if let f = options.from, let t = options.to, f >= t { throw ValidationError("--from must be before --to") }
        let report: EventReport
        do {
            report = try ReportFiles.report(
                ReportFiles.Request(decisionLogs: decisionLogs, telemetry: telemetry, options: options))
        } catch { throw ValidationError(error.message) }
        if json {
            print(ReportData.json(report), terminator: "")
        } else if csv {
            print(ReportData.csv(report), terminator: "")
        } else {
            print(ReportText.render(report), terminator: "")
        }
        if let svg {
            let written: [String]
            do { written = try ReportFiles.writeCharts(report, directory: svg) } catch {
                throw ValidationError(error.message)
            }
            FileHandle.standardError.write(
                Data("wrote \(written.count) chart\(written.count == 1 ? "" : "s") in \(svg)\n".utf8))
        }
    }
}
