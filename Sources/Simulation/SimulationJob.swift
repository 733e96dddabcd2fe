import DemandResponse
import FlexSupport
import Foundation

/// One `flexminer simulate` run, from the flags as given to the report written: the policy (a file with
/// the flags over it), the inputs read, the simulator run, the report, chart and summary. The command
/// only parses and composes; the steps are split where the command plugs in what this module cannot
/// own (measuring the hash rate, driving the real engine with `--live`).
public struct SimulationJob {
    /// `--policy`: the policy file the overrides apply to.
    public var policyPath: String?
    /// `--power-watts`, `--breakeven`, `--hashprice`, … (DemandResponse's one override path).
    public var overrides = PolicyOverrides()
    /// `--calibrate`: the hash rate is measured (so a hashprice needs no `--hashrate`).
    public var calibrating = false
    /// `--response-deadline` in seconds.
    public var responseDeadlineSeconds = 1.0
    /// The inputs' paths and options; `from`/`to` are taken from `fromText`/`toText`.
    public var files = SimulationInputs.Files()
    /// `--from`, `--to` as given (the report's `inputs` echoes them as typed).
    public var fromText: String?
    public var toText: String?
    /// `--live`: milliseconds per interval (nil: the model).
    public var liveIntervalMs: Double?

    public init() {}

    /// The policy and the inputs, ready to simulate.
    public struct Prepared {
        public let config: PolicyConfig
        public let site: SiteModel
        public let watts: Double
        public let inputs: SimulationInputs
        /// Wall-clock seconds spent reading the inputs.
        public let loadSeconds: Double
    }

    /// The policy file with the flags applied, checked for what a simulation needs. The hash rate, when
    /// measured, is set on the result before `prepare`.
    /// - Throws: `SimulationError` naming the file or the flag.
    public func policy() throws(SimulationError) -> (file: PolicyFile, watts: Double) {
        var base = PolicyFile()
        if let p = policyPath {
            do { base = try PolicyFile(contentsOf: p) } catch { throw SimulationError(error.message) }
        }
        let (file, watts) = try overrides.apply(to: base, calibrating: calibrating)
        return (file, watts)
    }

    /// Resolves the policy and reads the inputs.
    /// - Parameter measured: the calibrated hash rate (H/s), when `calibrating`.
    /// - Throws: `SimulationError` naming the flag, the file and the field.
    public func prepare(file: PolicyFile, watts: Double, measured: Double?) throws(SimulationError) -> Prepared {
        var config: PolicyConfig
        do { config = try file.resolved(measuredHashRate: measured) } catch { throw SimulationError(error.message) }
        var site = SiteModel(powerWatts: watts, hashRate: file.hashrateHS, usdPerHash: file.usdPerHash)
        site.responseDeadlineSeconds = responseDeadlineSeconds
        var f = files
        (f.from, f.to) = (fromText.flatMap { ISO8601.parse($0) }, toText.flatMap { ISO8601.parse($0) })
        let loadStart = ContinuousClock.now
        let loaded = try SimulationInputs.load(f, powerWatts: watts)
        config = loaded.adjusted(config, keepZone: file.peakTimeZoneGiven)
        return Prepared(
            config: config, site: site, watts: watts, inputs: loaded,
            loadSeconds: (ContinuousClock.now - loadStart).seconds)
    }

    /// Runs the simulation and assembles its report (with `live`, the real engine `--live` drives).
    public func simulate(_ p: Prepared, live: (any LiveLoad)? = nil, progress: ((Double) -> Void)? = nil)
        -> SimulationReport
    {
        let started = ContinuousClock.now
        let result = Simulator.run(
            series: p.inputs.series, events: p.inputs.events, config: p.config, site: p.site, live: live,
            meter: p.inputs.meter, progress: progress)
        let elapsed = (ContinuousClock.now - started).seconds
        var report = SimulationReport(
            series: p.inputs.series, config: p.config, site: p.site, result: result, inputs: reportInputs,
            mode: live != nil ? "live" : "model", elapsedSeconds: elapsed)
        report.loadSeconds = p.loadSeconds
        if let scenario = p.inputs.scenario, let meter = p.inputs.meter {
            (report.sections, report.sectionLines) = scenario.report(meter: meter, powerWatts: p.watts)
        }
        return report
    }

    /// The report's `inputs`: every path and choice as given, for the record.
    var reportInputs: [String: Any] {
        var inputs: [String: Any] = ["events": files.events ?? NSNull(), "policy_file": policyPath ?? NSNull()]
        for (key, value) in [
            ("tariff", files.tariff), ("timezone", files.timezone), ("holidays", files.holidays),
            ("schedule", files.schedule), ("system_load", files.systemLoad), ("from", fromText), ("to", toText),
        ] where value != nil {
            inputs[key] = value
        }
        if let ms = liveIntervalMs { inputs["live_interval_ms"] = ms }
        if calibrating { inputs["hashrate_calibrated"] = true }
        return inputs
    }

    /// Writes the JSON report (`--report`) and the SVG chart (`--chart`) where asked.
    /// - Throws: `SimulationError` naming the flag and the path.
    public static func write(_ report: SimulationReport, report path: String?, chart: String?)
        throws(SimulationError)
    {
        if let path {
            do { try report.jsonData().write(to: URL(fileURLWithPath: path)) } catch {
                throw SimulationError("--report \(path): cannot write (\(error.localizedDescription))")
            }
        }
        if let path = chart {
            do { try SimulationChart.svg(report).write(toFile: path, atomically: true, encoding: .utf8) } catch {
                throw SimulationError("--chart \(path): cannot write (\(error.localizedDescription))")
            }
        }
    }

    /// What `simulate` prints without `--json`: the summary, the live latencies, where the files went.
    public static func summaryText(_ report: SimulationReport, reportPath: String?, chartPath: String?) -> String {
        var lines = [report.summary]
        if report.mode == "live" {
            for (name, samples) in [
                ("halt", report.result.haltLatencies), ("resume", report.result.resumeLatencies),
            ] {
                lines.append("live \(name) latency (real workers): \(LatencySummary(samples))")
            }
        }
        if let r = reportPath { lines.append("report: \(r)") }
        if let c = chartPath { lines.append("chart: \(c)") }
        return lines.joined(separator: "\n")
    }

    /// A progress line on stderr when it is a terminal (`simulating N intervals: P%`), nil otherwise.
    public static func terminalProgress(intervals: Int) -> ((Double) -> Void)? {
        guard isatty(STDERR_FILENO) == 1 else { return nil }
        var lastShown = -1
        return { fraction in
            let percent = Int(fraction * 100)
            guard percent != lastShown else { return }
            lastShown = percent
            FileHandle.standardError.write(Data("\rsimulating \(intervals) intervals: \(percent)%".utf8))
            if percent == 100 { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        }
    }
}
