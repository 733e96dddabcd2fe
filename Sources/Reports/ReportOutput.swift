import FlexSupport
import Foundation

/// The report as text for people: a table per section, every constant stated.
public enum ReportText {
    static func time(_ t: Double) -> String { ISO8601.format(Date(timeIntervalSince1970: t)) }
    static func num(_ v: Double?, _ digits: Int) -> String {
        guard let v else { return "-" }
        return String(format: "%.\(digits)f", v)
    }
    static func pct(_ v: Double?) -> String { v.map { String(format: "%.1f %%", $0) } ?? "-" }
    static func yesNo(_ b: Bool?) -> String { b.map { $0 ? "yes" : "NO" } ?? "-" }

    /// The figures of one event on one line (the chart's subtitle).
    public static func summaryLine(_ e: HostEventFigures, options: ReportOptions) -> String {
        "baseline \(num(e.baselineKW, 3)) kW · during \(num(e.eventKW, 3)) kW · shed \(num(e.shedKW, 3)) kW = \(pct(e.shedPercentOfRequested)) of requested · response \(e.responseSeconds.map { String(format: "%.1f s", $0) } ?? "-") · \(num(e.energyAvoidedKWh, 3)) kWh avoided · compliant \(yesNo(e.compliant))"
    }

    static func table(_ header: [String], _ rows: [[String]]) -> String {
        var widths = header.map(\.count)
        for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n") + "\n"
    }

    /// The whole report: the events (see `events`), then the inputs, streams and bad lines.
    public static func render(_ r: EventReport) -> String {
        var out = events(r)
        out += "\ninputs\n"
        for i in r.inputs {
            out +=
                "  \(i.kind) \(i.path)\(i.host.map { " (host \($0))" } ?? ""): \(i.lines) lines, \(i.badLines) bad\n"
        }
        for s in r.streams {
            out +=
                "  host \(s.host) \(s.source)\(s.modelled ? " (modelled)" : ""): \(s.samples) samples, \(s.failed) failed, median interval \(s.medianIntervalSeconds.map { num($0, 3) + " s" } ?? "-")\n"
        }
        if r.badLineCount > 0 {
            out += "\n\(r.badLineCount) bad line\(r.badLineCount == 1 ? "" : "s") skipped"
            out += r.badLineCount > r.badLines.count ? " (first \(r.badLines.count) listed)\n" : "\n"
            for b in r.badLines { out += "  \(b.description)\n" }
        }
        return out
    }

    /// The constants, the table of host-events with their gaps and notes, and the fleet table (what
    /// `simulate` prints for its replayed events).
    public static func events(_ r: EventReport) -> String {
        let o = r.options
        var out = "FlexMiner event report: \(r.events.count) event\(r.events.count == 1 ? "" : "s") on "
        let hosts = Set(r.events.map(\.host)).count
        out += "\(hosts) host\(hosts == 1 ? "" : "s")"
        if o.from != nil || o.to != nil {
            out += ", signals in [\(o.from.map(time) ?? "start"), \(o.to.map(time) ?? "end"))"
        }
        out += "\n"
        switch o.baseline {
        case .meterBefore:
            out += "baseline: meter-before, mean load over the \(num(o.baselineMinutes, 0)) min before the signal\n"
        case .meanOfDays:
            out +=
                "baseline: mean-of-days, the event's clock window on the previous \(ReportOptions.baselineDays) un-curtailed days of the same kind (weekday/weekend), zone \(o.timeZoneName)\n"
        }
        out +=
            "response: signal received until the load reached \(Int(ReportOptions.responseFraction * 100)) % of the requested shed; compliant: shed >= requested x (1 - \(num(o.tolerance * 100, 0)) % tolerance)\n"
        out += "times UTC; kW; figures from measured sources unless marked MODELLED\n\n"

        if r.events.isEmpty {
            out += "no events in the decision log(s)\(o.from != nil || o.to != nil ? " within the window" : "")\n"
        } else {
            let header = [
                "host", "source", "id", "level", "signal received", "halted ms", "response s", "end", "baseline",
                "during", "shed", "% req", "kWh", "compliant", "power",
            ]
            let rows = r.events.map { e in
                [
                    e.host, e.event.source, e.event.id, "\(Int((e.event.level * 100).rounded())) %",
                    time(e.event.start),
                    num(e.event.haltLatencyMS, 3), num(e.responseSeconds, 1),
                    "\(time(e.end)) (\(e.event.endReason))", num(e.baselineKW, 3), num(e.eventKW, 3), num(e.shedKW, 3),
                    pct(e.shedPercentOfRequested), num(e.energyAvoidedKWh, 3), yesNo(e.compliant),
                    e.powerSource.map { e.modelled ? "\($0) MODELLED" : $0 } ?? "none",
                ]
            }
            out += table(header, rows)
            var details = ""
            for e in r.events where !e.gaps.isEmpty || !e.notes.isEmpty || !e.baselineDays.isEmpty {
                details += "\(e.host) \(e.event.id):\n"
                if !e.baselineDays.isEmpty { details += "  baseline days: \(e.baselineDays.joined(separator: ", "))\n" }
                for g in e.gaps.prefix(10) {
                    details +=
                        "  gap in the \(g.window) window: \(time(g.start)) to \(time(g.end)) (\(num(g.seconds, 1)) s), not interpolated\n"
                }
                if e.gaps.count > 10 { details += "  … \(e.gaps.count - 10) more gaps\n" }
                for n in e.notes { details += "  note: \(n)\n" }
            }
            if !details.isEmpty { out += "\n" + details }
        }
        if !r.fleet.isEmpty {
            out += "\nfleet (sums over hosts per event id)\n"
            let header = [
                "id", "hosts", "baseline", "shed", "requested", "% req", "kWh", "compliant", "slowest host",
                "response s",
            ]
            let rows = r.fleet.map { f in
                [
                    f.id,
                    "\(f.hosts.count)\(f.hostsWithoutFigures.isEmpty ? "" : " (\(f.hostsWithoutFigures.count) without figures)")",
                    num(f.baselineKW, 3), num(f.shedKW, 3), num(f.requestedShedKW, 3), pct(f.shedPercentOfRequested),
                    num(f.energyAvoidedKWh, 3), yesNo(f.compliant) + (f.anyModelled ? " (partly MODELLED)" : ""),
                    f.slowestHost ?? "-", f.slowestResponseSeconds.map { num($0, 1) } ?? "not reached",
                ]
            }
            out += table(header, rows)
        }
        return out
    }
}

/// The report as JSON (schema `flexminer-report/1`, docs/report.md) and as CSV (one row per host-event).
public enum ReportData {
    public static let schema = "flexminer-report/1"

    static func r(_ v: Double?, _ digits: Int) -> Any {
        guard let v, v.isFinite else { return NSNull() }
        let scale = pow(10, Double(digits))
        return (v * scale).rounded() / scale
    }
    static func t(_ v: Double?) -> Any { v.map { ISO8601.format(Date(timeIntervalSince1970: $0)) } ?? NSNull() }
    static func opt(_ v: Any?) -> Any { v ?? NSNull() }

    static func eventObject(_ e: HostEventFigures) -> [String: Any] {
        [
            "host": e.host, "kind": e.event.kind.rawValue, "source": e.event.source, "id": e.event.id,
            "requested_level": r(e.event.level, 4), "signal_received": t(e.event.start),
            "workers_halted": t(e.event.haltedAt), "workers_halted_ms": r(e.event.haltLatencyMS, 3),
            "response_seconds": r(e.responseSeconds, 3), "end": t(e.end), "end_reason": e.event.endReason,
            "duration_seconds": r(e.duration, 3), "power_source": opt(e.powerSource), "modelled": e.modelled,
            "baseline_kw": r(e.baselineKW, 4), "baseline_window_start": t(e.baselineStart),
            "baseline_window_end": t(e.baselineEnd), "baseline_samples": e.baselineSamples,
            "baseline_days": e.baselineDays, "event_kw": r(e.eventKW, 4), "event_samples": e.eventSamples,
            "shed_kw": r(e.shedKW, 4), "requested_shed_kw": r(e.requestedShedKW, 4),
            "shed_percent_of_requested": r(e.shedPercentOfRequested, 2), "energy_avoided_kwh": r(e.energyAvoidedKWh, 4),
            "compliant": opt(e.compliant),
            "gaps": e.gaps.map { g in
                ["start": t(g.start), "end": t(g.end), "seconds": r(g.seconds, 3), "window": g.window] as [String: Any]
            },
            "notes": e.notes, "decision_log_line": e.event.line,
        ]
    }

    /// The whole report as one pretty-printed JSON document, keys sorted.
    public static func json(_ report: EventReport) -> String {
        guard
            let data = try? JSONSerialization.data(
                withJSONObject: object(report), options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
        else { return "{}" }
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// The report as a JSON object (what `json` prints; `simulate` embeds it as `event_report`).
    public static func object(_ report: EventReport) -> [String: Any] {
        let o = report.options
        return [
            "schema": schema,
            "window": ["from": t(o.from), "to": t(o.to)],
            "baseline": [
                "method": o.baseline.rawValue, "minutes": o.baselineMinutes, "days": ReportOptions.baselineDays,
                "time_zone": o.timeZoneName,
            ],
            "tolerance_percent": r(o.tolerance * 100, 3),
            "response_threshold_percent": ReportOptions.responseFraction * 100,
            "gap_factor": ReportOptions.gapFactor,
            "events": report.events.map(eventObject),
            "fleet": report.fleet.map { f in
                [
                    "id": f.id, "hosts": f.hosts, "baseline_kw": r(f.baselineKW, 4), "shed_kw": r(f.shedKW, 4),
                    "requested_shed_kw": r(f.requestedShedKW, 4),
                    "shed_percent_of_requested": r(f.shedPercentOfRequested, 2),
                    "energy_avoided_kwh": r(f.energyAvoidedKWh, 4), "compliant": opt(f.compliant),
                    "slowest_host": opt(f.slowestHost), "slowest_response_seconds": r(f.slowestResponseSeconds, 3),
                    "hosts_without_figures": f.hostsWithoutFigures, "modelled": f.anyModelled,
                ] as [String: Any]
            },
            "inputs": report.inputs.map { i in
                ["path": i.path, "kind": i.kind, "host": opt(i.host), "lines": i.lines, "bad_lines": i.badLines]
                    as [String: Any]
            },
            "streams": report.streams.map { s in
                [
                    "host": s.host, "source": s.source, "modelled": s.modelled, "samples": s.samples,
                    "failed": s.failed, "median_interval_seconds": r(s.medianIntervalSeconds, 4), "first": t(s.first),
                    "last": t(s.last),
                ] as [String: Any]
            },
            "bad_lines": report.badLines.map {
                ["file": $0.file, "line": $0.line, "error": $0.error] as [String: Any]
            },
            "bad_line_count": report.badLineCount,
        ]
    }

    /// The columns of the CSV, in order.
    public static let csvColumns = [
        "host", "kind", "source", "id", "requested_level", "signal_received", "workers_halted_ms", "response_seconds",
        "end", "end_reason", "duration_seconds", "power_source", "modelled", "baseline_method", "baseline_kw",
        "event_kw", "shed_kw", "requested_shed_kw", "shed_percent_of_requested", "energy_avoided_kwh", "compliant",
        "tolerance_percent", "gaps", "gap_seconds",
    ]

    /// One header line and one row per host-event (RFC 4180 quoting).
    public static func csv(_ report: EventReport) -> String {
        func cell(_ v: Any) -> String {
            let s: String
            switch v {
            case is NSNull: s = ""
            case let b as Bool: s = b ? "true" : "false"
            case let d as Double: s = d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
            default: s = "\(v)"
            }
            guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return s }
            return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        var out = csvColumns.joined(separator: ",") + "\n"
        for e in report.events {
            var o = eventObject(e)
            o["baseline_method"] = report.options.baseline.rawValue
            o["tolerance_percent"] = r(report.options.tolerance * 100, 3)
            o["gap_seconds"] = r(e.gaps.reduce(0) { $0 + $1.seconds }, 3)
            o["gaps"] = e.gaps.count
            out += csvColumns.map { cell(o[$0] ?? NSNull()) }.joined(separator: ",") + "\n"
        }
        return out
    }
}
