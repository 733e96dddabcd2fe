import DemandResponse
import FlexSupport
import Foundation
import Reports

/// The simulation report: what `--report PATH` writes and `--json` prints.
public struct SimulationReport {
    public let series: PriceSeries
    public let config: PolicyConfig
    public let site: SiteModel
    public let result: SimulationResult
    /// Everything the run was given, for the record (paths, flags, where numbers came from).
    public let inputs: [String: Any]
    public let mode: String
    /// Wall-clock seconds the simulation took, and reading the inputs before it.
    public let elapsedSeconds: Double
    public var loadSeconds: Double = 0
    /// More top-level sections (a tariff's TOU costs and demand charges, the 4CP season) and their lines
    /// in the summary.
    public var sections: [String: Any] = [:]
    public var sectionLines: [String] = []

    public init(
        series: PriceSeries, config: PolicyConfig, site: SiteModel, result: SimulationResult, inputs: [String: Any],
        mode: String, elapsedSeconds: Double
    ) {
        self.series = series
        self.config = config
        self.site = site
        self.result = result
        self.inputs = inputs
        self.mode = mode
        self.elapsedSeconds = elapsedSeconds
    }

    var t: SimulationTotals { result.totals }

    /// Time below full capacity, whatever the cause.
    var curtailedSeconds: Double {
        t.secondsCurtailedByPrice + t.secondsCurtailedByEvents + t.secondsCurtailedByFailSafe
    }

    /// The report as a JSON object (keys are a contract: see docs/simulation.md).
    public var json: [String: Any] {
        let prices = series.points.map(\.usdPerMWh)
        let hours = { (s: Double) in s / 3600 }
        var report: [String: Any] = [
            "mode": mode,
            "intervals": t.intervals,
            "interval_minutes": series.intervalSeconds / 60,
            "start": TimeText.format(series.points.first!.time),
            "end": TimeText.format(series.points.last!.time + series.intervalSeconds),
            "hours_total": hours(t.simulatedSeconds),
            "hours_mined": hours(t.secondsMined),
            "hours_full_capacity_equivalent": hours(t.fullCapacitySeconds),
            "hours_curtailed": hours(curtailedSeconds),
            "hours_curtailed_price": hours(t.secondsCurtailedByPrice),
            "hours_curtailed_events": hours(t.secondsCurtailedByEvents),
            "hours_curtailed_fail_safe": hours(t.secondsCurtailedByFailSafe),
            "energy_kwh": t.energyKWh,
            "energy_cost_usd": t.energyCostUSD,
            "revenue_usd": t.revenueUSD,
            "net_usd": t.revenueUSD - t.energyCostUSD,
            "average_price_paid_usd_per_mwh": t.energyKWh > 0 ? t.energyCostUSD / (t.energyKWh / 1000) : NSNull(),
            "transitions": t.transitions,
            "capacity_changes": t.capacityChanges,
            "breakeven_usd_per_mwh": config.breakEvenUSDPerMWh,
            "elapsed_seconds": elapsedSeconds,
            "load_seconds": loadSeconds,
        ]
        report["data"] =
            [
                "gaps": series.gaps.count,
                "gap_hours": series.gaps.reduce(0) { $0 + $1.seconds } / 3600,
                "gap_list": series.gaps.prefix(100).map {
                    ["start": TimeText.format($0.start), "hours": $0.seconds / 3600]
                },
                "duplicate_timestamps": series.duplicateTimestamps,
                "reordered": series.reordered,
                "skipped_rows": series.skippedRows,
                "negative_price_intervals": prices.filter { $0 < 0 }.count,
                "intervals_at_or_above_1000_usd": prices.filter { $0 >= 1000 }.count,
                "min_price_usd_per_mwh": prices.min()!,
                "max_price_usd_per_mwh": prices.max()!,
                "mean_price_usd_per_mwh": prices.reduce(0, +) / Double(prices.count),
            ] as [String: Any]
        report["events"] = result.events.map { e -> [String: Any] in
            var o: [String: Any] = [
                "time": TimeText.format(e.time), "level": e.level, "required_capacity": e.requiredCapacity,
                "capacity_after": e.capacityAfter, "response_ms": e.responseSeconds * 1000, "met": e.met,
                "late_by_ms": e.lateBySeconds * 1000, "deadline_ms": site.responseDeadlineSeconds * 1000,
                "line": e.line,
            ]
            if let id = e.id { o["id"] = id }
            return o
        }
        report["events_met"] = result.events.filter(\.met).count
        report["events_missed"] = result.events.filter { !$0.met }.count
        report["events_outside_series_lines"] = result.eventsOutsideSeries
        if mode == "live" {
            func summary(_ d: [Duration]) -> [String: Any] {
                let ms = d.map { Double($0.components.seconds) * 1e3 + Double($0.components.attoseconds) * 1e-15 }
                    .sorted()
                guard !ms.isEmpty else { return ["count": 0] }
                return [
                    "count": ms.count, "p50_ms": ms[ms.count / 2], "p99_ms": ms[min(ms.count - 1, ms.count * 99 / 100)],
                    "max_ms": ms.last!,
                ]
            }
            report["live"] = [
                "halt_latency": summary(result.haltLatencies), "resume_latency": summary(result.resumeLatencies),
            ]
        }
        var policy: [String: Any] = [
            "breakeven_usd_per_mwh": config.breakEvenUSDPerMWh, "hysteresis_usd_per_mwh": config.hysteresisUSDPerMWh,
            "min_on_seconds": config.minOnSeconds, "min_off_seconds": config.minOffSeconds,
            "ramp_steps": config.rampSteps, "ramp_step_seconds": config.rampStepSeconds,
            "stale_after_seconds": config.staleAfterSeconds, "safe_capacity": config.safeCapacity,
        ]
        policy["hard_price_usd_per_mwh"] = config.hardPriceUSDPerMWh ?? NSNull()
        var used = inputs
        used["policy"] = policy
        used["power_watts"] = site.powerWatts
        used["hashrate_hs"] = site.hashRate ?? NSNull()
        used["usd_per_hash"] = site.usdPerHash ?? NSNull()
        used["prices"] = series.path
        used["time_column"] = series.timeColumn
        used["price_column"] = series.priceColumn
        used["settlement_point"] = series.settlementPoint ?? NSNull()
        used["layout"] = series.layout.rawValue
        used["response_deadline_ms"] = site.responseDeadlineSeconds * 1000
        report["inputs"] = used
        report.merge(sections) { _, new in new }
        // The replayed events as `flexminer report` reports a live one (schema flexminer-report/1).
        if let events = eventReport() { report["event_report"] = ReportData.object(events) }
        return report
    }

    public func jsonData() -> Data {
        (try? JSONSerialization.data(withJSONObject: json, options: [.sortedKeys, .prettyPrinted])) ?? Data()
    }

    /// A readable summary for the terminal.
    public var summary: String {
        func f(_ x: Double, _ d: Int = 1) -> String { String(format: "%.\(d)f", x) }
        let prices = series.points.map(\.usdPerMWh)
        var lines: [String] = []
        lines.append(
            "\(series.path): \(t.intervals) intervals of \(f(series.intervalSeconds / 60, 0)) min, "
                + "\(TimeText.format(series.points.first!.time)) to \(TimeText.format(series.points.last!.time)); "
                + "price \(f(prices.min()!, 2)) to \(f(prices.max()!, 2)) USD/MWh")
        if !series.gaps.isEmpty || series.duplicateTimestamps > 0 || !series.skippedRows.isEmpty {
            lines.append(
                "data: \(series.gaps.count) gap(s) (\(f(series.gaps.reduce(0) { $0 + $1.seconds } / 3600)) h), "
                    + "\(series.duplicateTimestamps) repeated timestamp(s), \(series.skippedRows.count) skipped row(s)")
        }
        lines.append(
            "policy: break-even \(abs(config.breakEvenUSDPerMWh) < 0.01 && config.breakEvenUSDPerMWh != 0 ? String(format: "%.3g", config.breakEvenUSDPerMWh) : f(config.breakEvenUSDPerMWh, 2)) USD/MWh, hysteresis \(f(config.hysteresisUSDPerMWh, 2)), "
                + "min on \(f(config.minOnSeconds, 0)) s, min off \(f(config.minOffSeconds, 0)) s"
                + (config.hardPriceUSDPerMWh.map { ", hard price \(f($0, 0))" } ?? "")
                + "; \(f(site.powerWatts, 0)) W")
        lines.append(
            "mined \(f(t.secondsMined / 3600)) of \(f(t.simulatedSeconds / 3600)) h "
                + "(\(f(100 * t.secondsMined / max(t.simulatedSeconds, 1))) %); curtailed \(f(curtailedSeconds / 3600)) h "
                + "(price \(f(t.secondsCurtailedByPrice / 3600)), events \(f(t.secondsCurtailedByEvents / 3600)), "
                + "fail-safe \(f(t.secondsCurtailedByFailSafe / 3600)))")
        lines.append(
            "energy \(f(t.energyKWh)) kWh, cost \(f(t.energyCostUSD, 2)) USD"
                + (t.energyKWh > 0 ? " (avg \(f(t.energyCostUSD / (t.energyKWh / 1000), 2)) USD/MWh)" : "")
                + ", revenue \(f(t.revenueUSD, 2)) USD, net \(f(t.revenueUSD - t.energyCostUSD, 2)) USD")
        lines.append("\(t.transitions) on/off transitions (\(t.capacityChanges) capacity changes)")
        if !result.events.isEmpty {
            let missed = result.events.filter { !$0.met }
            lines.append("events: \(result.events.count - missed.count) of \(result.events.count) met")
            for e in missed {
                lines.append(
                    "  missed \(e.id ?? "line \(e.line)") at \(TimeText.format(e.time)): capacity \(f(e.capacityAfter, 2)) "
                        + "(required ≤ \(f(e.requiredCapacity, 2))), response \(f(e.responseSeconds * 1000, 3)) ms")
            }
        }
        if !result.eventsOutsideSeries.isEmpty {
            lines.append("events outside the price series (not simulated): lines \(result.eventsOutsideSeries)")
        }
        lines += sectionLines
        if let events = eventReport() {
            lines.append("")
            lines.append(ReportText.events(events).trimmingCharacters(in: .newlines))
        }
        return lines.joined(separator: "\n")
    }
}
