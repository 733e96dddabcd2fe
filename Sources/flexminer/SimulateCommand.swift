import ArgumentParser
import DemandResponse
import FlexSupport
import Foundation
import KernelBench
import Mining
import MiningKernels
import Operations
import Simulation

struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract:
            "Replay a price series (and curtailment events) through the live policy; report energy, cost, revenue.",
        discussion: """
            Runs the same policy code as `flexminer run` on a virtual clock. With --breakeven (and no hysteresis \
            or dwell) it mines in an interval iff the interval's price is below break-even. Revenue is priced per \
            hash with --hashprice and --hashrate (or --calibrate), otherwise valued at the break-even price per \
            MWh used. Example:
              flexminer simulate --prices ../shared/data/ercot-hb-south-rtm-2024-06-07.csv \\
                --power-watts 3250 --breakeven 45 --hysteresis 3 --min-on 30m --min-off 15m \\
                --report report.json --chart chart.svg
            A tariff and the ERCOT 4CP season (docs/tariffs.md):
              flexminer simulate --tariff rate.json --timezone America/New_York \\
                --from 2024-07-01T00:00:00-04:00 --to 2024-08-01T00:00:00-04:00 --power-watts 3250 --breakeven 100
              flexminer simulate --schedule docs/ercot-4cp-schedule.json --system-load Native_Load_2023.csv \\
                --timezone America/Chicago --transmission-usd-per-kw-year 100 --power-watts 1000000 --breakeven 1000
            """
    )

    @Option(help: "Price CSV: a table with time and price columns, or ERCOT's real-time layout.")
    var prices: String?

    @Option(help: "A URDB rate (JSON): its energy price for each local hour replaces the series' (with --timezone).")
    var tariff: String?

    @Option(help: "IANA time zone of the tariff's hours, the system load's and a zone-less price file's times.")
    var timezone: String?

    @Option(help: "Dates (YYYY-MM-DD, one a line) on which the tariff's weekend schedule applies.")
    var holidays: String?

    @Option(help: "Schedule file (JSON windows: curtail, price, peak_watch).")
    var schedule: String?

    @Option(help: "System load CSV (ERCOT Native Load layout or a time,mw table), fed as system_load messages.")
    var systemLoad: String?

    @Option(help: "Transmission charge per 4CP kW, USD/kW-year (with --system-load): the 4CP charge avoided.")
    var transmissionUsdPerKwYear: Double?

    @Option(help: "Start of the span, ISO 8601 with an offset or Z (with --to).")
    var from: String?

    @Option(help: "End of the span, ISO 8601 with an offset or Z (with --from).")
    var to: String?

    @Option(help: "Time column (ISO 8601) of a table (default: interval_start).")
    var timeColumn: String?

    @Option(help: "Price column, USD/MWh (default: rtm_usd_per_mwh, or SettlementPointPrice for ERCOT's layout).")
    var priceColumn: String?

    @Option(help: "Keep only rows of this settlement point (SettlementPointName or settlement_point column).")
    var settlementPoint: String?

    @Flag(help: "Report malformed rows and go on instead of stopping at the first.")
    var skipBadRows = false

    @Option(help: "Policy file (JSON, as for `run`); flags override it.")
    var policy: String?

    @Option(help: "Power draw at full capacity, W.")
    var powerWatts: Double?

    @Option(help: "Break-even price, USD/MWh.")
    var breakeven: Double?

    @Option(help: "Hashprice, USD per PH/s per day (with --hashrate or --calibrate).")
    var hashprice: Double?

    @Option(help: "Hash rate at full capacity, H/s.")
    var hashrate: Double?

    @Flag(help: "Measure this machine's hash rate (2 s, all threads) and use it.")
    var calibrate = false

    @Option(help: "Hysteresis half-band, USD/MWh.")
    var hysteresis: Double?

    @Option(help: "Minimum time on before a price-driven stop (e.g. 300, 5m, 1h).")
    var minOn: String?

    @Option(help: "Minimum time off before a price-driven start (e.g. 900, 15m).")
    var minOff: String?

    @Option(help: "Halt at once at or above this price, USD/MWh.")
    var hardPrice: Double?

    @Option(help: "Curtailment events: JSON lines of curtail/release messages, each with a \"time\".")
    var events: String?

    @Option(help: "A curtailment is met if the miner is there within this time (default 1s).")
    var responseDeadline: String = "1s"

    @Option(help: "Write the JSON report here.")
    var report: String?

    @Option(help: "Write the SVG chart here.")
    var chart: String?

    @Flag(help: "Print the JSON report on stdout instead of the summary.")
    var json = false

    @Flag(help: "Drive the real engine, one interval per --live-interval-ms, and report real halt/resume latencies.")
    var live = false

    @Option(help: "Wall-clock milliseconds per interval with --live.")
    var liveIntervalMs: Double = 50

    @Option(help: "Worker threads with --live or --calibrate (default: one per CPU).")
    var threads: Int = ThreadCount.default

    func validate() throws {
        if breakeven != nil && hashprice != nil { throw ValidationError("give --breakeven or --hashprice, not both") }
        if hashrate != nil && calibrate { throw ValidationError("give --hashrate or --calibrate, not both") }
        guard liveIntervalMs >= 1 && liveIntervalMs <= 60_000 else {
            throw ValidationError("--live-interval-ms must be 1...60000")
        }
        if let problem = ThreadCount.problem(threads) { throw ValidationError(problem) }
        let calendar = tariff != nil || schedule != nil || systemLoad != nil
        if prices == nil && !calendar {
            throw ValidationError("give --prices, or --tariff/--schedule/--system-load")
        }
        if !calendar && (from != nil || to != nil || timezone != nil || holidays != nil) {
            throw ValidationError(
                "--from, --to, --timezone and --holidays go with --tariff, --schedule or --system-load")
        }
        for (flag, text) in [("--from", from), ("--to", to)] {
            if let text, ISO8601.parse(text) == nil {
                throw ValidationError("\(flag) \(text): not an ISO 8601 date-time with an offset or Z")
            }
        }
        for (flag, text) in [("--min-on", minOn), ("--min-off", minOff), ("--response-deadline", responseDeadline)] {
            if let text { _ = try parseDuration(text, flag: flag) }
        }
    }

    func run() throws {
        var job = SimulationJob()
        job.policyPath = policy
        job.overrides.powerWatts = powerWatts
        job.overrides.breakeven = breakeven
        job.overrides.hashprice = hashprice
        job.overrides.hashrate = hashrate
        job.overrides.hysteresis = hysteresis
        job.overrides.minOnSeconds = try minOn.map { try parseDuration($0, flag: "--min-on") }
        job.overrides.minOffSeconds = try minOff.map { try parseDuration($0, flag: "--min-off") }
        job.overrides.hardPrice = hardPrice
        job.calibrating = calibrate
        job.responseDeadlineSeconds = try parseDuration(responseDeadline, flag: "--response-deadline")
        job.files = files
        (job.fromText, job.toText) = (from, to)
        job.liveIntervalMs = live ? liveIntervalMs : nil
        var (file, watts) = try validated { () throws(SimulationError) in try job.policy() }
        var measured: Double? = nil
        if calibrate {
            let r = try KernelBench.measure(.engine(Kernel.best), threads: threads, seconds: 2)
            measured = r.hashesPerSecond
            CommandLog.bootstrap().info(
                "\(String(format: "calibrated %.2f MH/s", r.hashesPerSecond / 1e6)) (\(Kernel.best), \(threads) threads)"
            )
            file.hashrateHS = measured
        }
        let prepared = try validated { () throws(SimulationError) in
            try job.prepare(file: file, watts: watts, measured: measured)
        }
        let progress = SimulationJob.terminalProgress(intervals: prepared.inputs.series.points.count)
        let result: SimulationReport
        if live {
            let load = try EngineLiveLoad(threads: threads, intervalMs: liveIntervalMs)
            defer { load.stop() }
            result = job.simulate(prepared, live: load, progress: progress)
        } else {
            result = job.simulate(prepared, progress: progress)
        }
        try validated { () throws(SimulationError) in try SimulationJob.write(result, report: report, chart: chart) }
        if json {
            print(String(decoding: result.jsonData(), as: UTF8.self))
        } else {
            print(SimulationJob.summaryText(result, reportPath: report, chartPath: chart))
        }
    }

    /// The inputs' paths and the price table's options, as given.
    var files: SimulationInputs.Files {
        var options = PriceSeries.Options()
        options.timeColumn = timeColumn
        options.priceColumn = priceColumn
        options.settlementPoint = settlementPoint
        options.skipBadRows = skipBadRows
        var f = SimulationInputs.Files()
        (f.prices, f.priceOptions, f.events) = (prices, options, events)
        (f.tariff, f.timezone, f.holidays) = (tariff, timezone, holidays)
        (f.schedule, f.systemLoad, f.transmissionUSDPerKWYear) = (schedule, systemLoad, transmissionUsdPerKwYear)
        return f
    }
}

/// A library's refusal as the command's own: ArgumentParser prints a `ValidationError` with the usage.
func validated<T>(_ body: () throws(SimulationError) -> T) throws -> T {
    do { return try body() } catch { throw ValidationError(error.message) }
}
