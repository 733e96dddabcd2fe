import FlexSupport
import Foundation

/// One event's chart: the host's load against time, the baseline line, the level asked for, the
/// baseline and event windows shaded, gaps marked.
public enum ReportChart {
    /// Points drawn per chart at most (min and max per horizontal bucket beyond it).
    public static let maxPoints = 2400

    /// `points` (time-sorted) thinned to at most `maxPoints`: the minimum and maximum of each of
    /// `maxPoints / 2` time buckets, in time order, so spikes and dips survive.
    public static func thinned(_ points: [(Double, Double)], start: Double, end: Double) -> [(time: Double, kw: Double)]
    {
        guard points.count > maxPoints, end > start else { return points.map { (time: $0.0, kw: $0.1) } }
        let buckets = maxPoints / 2
        var out: [(time: Double, kw: Double)] = []
        out.reserveCapacity(maxPoints)
        var current = -1
        var lo: (Double, Double) = (0, 0)
        var hi: (Double, Double) = (0, 0)
        func flush() {
            guard current >= 0 else { return }
            let pair = lo.0 <= hi.0 ? [lo, hi] : [hi, lo]
            for p in pair where out.last.map({ $0.time != p.0 || $0.kw != p.1 }) ?? true {
                out.append((time: p.0, kw: p.1))
            }
        }
        for p in points {
            let b = min(buckets - 1, max(0, Int((p.0 - start) / (end - start) * Double(buckets))))
            if b != current {
                flush()
                current = b
                lo = p
                hi = p
            } else {
                if p.1 < lo.1 { lo = p }
                if p.1 > hi.1 { hi = p }
            }
        }
        flush()
        return out
    }

    /// The chart as an SVG document.
    public static func svg(_ e: HostEventFigures, options: ReportOptions) -> String {
        let plot = frame(e)
        let source = e.powerSource.map { "\($0)\(e.modelled ? ", MODELLED" : ", measured")" } ?? "no telemetry"
        let heading =
            "\(e.host) · \(e.event.kind == .price ? "price halt" : "curtailment \(e.event.id)") · level \(Int((e.event.level * 100).rounded())) % · \(source)"
        return plot.start + plot.title(heading, ReportText.summaryLine(e, options: options)) + windows(e, plot)
            + axes(plot) + baseline(e, plot) + load(e, plot) + plot.frame + legend(e, plot, options: options)
    }

    /// The plot: 960 × 420, the event's chart window, from 0 kW to above the highest load and the baseline.
    private static func frame(_ e: HostEventFigures) -> SVGPlot {
        let t0 = e.chartStart
        let loads = e.chartPoints.map(\.kw)
        let yMax = max(loads.max() ?? 0, e.baselineKW ?? 0, 0.001) * 1.15
        let ticks = SVGPlot.niceTicks(0, yMax)
        return SVGPlot(
            width: 960, height: 420, margins: (left: 64, right: 20, top: 64, bottom: 56),
            time: (t0, max(e.chartEnd, t0 + 1)), ticks: ticks, yRange: (0, ticks.last ?? yMax), clampsTime: true)
    }

    /// The windows shaded: baseline (meter-before), event, gaps in the telemetry.
    private static func windows(_ e: HostEventFigures, _ p: SVGPlot) -> String {
        let f = SVGPlot.f
        var svg = ""
        if let a = e.baselineStart, let b = e.baselineEnd {
            svg +=
                "<rect id=\"baseline-window\" x=\"\(f(p.x(a)))\" y=\"\(f(p.top))\" width=\"\(f(max(p.x(b) - p.x(a), 0.5)))\" height=\"\(f(p.plotH))\" fill=\"#1f4e9c\" fill-opacity=\"0.07\"/>\n"
        }
        svg +=
            "<rect id=\"event-window\" x=\"\(f(p.x(e.event.start)))\" y=\"\(f(p.top))\" width=\"\(f(max(p.x(e.end) - p.x(e.event.start), 0.5)))\" height=\"\(f(p.plotH))\" fill=\"#b00020\" fill-opacity=\"0.10\"/>\n"
        for g in e.gaps {
            svg +=
                "<rect class=\"gap\" x=\"\(f(p.x(g.start)))\" y=\"\(f(p.top))\" width=\"\(f(max(p.x(g.end) - p.x(g.start), 1)))\" height=\"\(f(p.plotH))\" fill=\"#888\" fill-opacity=\"0.25\"/>\n"
        }
        return svg
    }

    /// The kW grid and labels, and UTC time ticks under the plot.
    private static func axes(_ p: SVGPlot) -> String {
        var svg = p.yAxis(grid: "#ddd", unit: "kW") { String(format: $0 < 10 ? "%.2f" : "%.0f", $0) }
        let span = p.t1 - p.t0
        // At most about ten ticks whatever the span: an event whose `until` lies centuries ahead (a
        // mistyped year) must not draw a tick per day of it (the fuzzer's find: 740,000 ticks).
        let step =
            [60.0, 120, 300, 600, 900, 1800, 3600, 7200, 14_400, 21_600, 43_200, 86_400].first { span / $0 <= 10 }
            ?? (span / 10 / 86_400).rounded(.up) * 86_400
        let days = step >= 86_400
        var tick = (p.t0 / step).rounded(.up) * step
        while tick <= p.t1 {
            let stamp = ISO8601.format(Date(timeIntervalSince1970: tick))
            svg += p.xTick(tick, label: String(days ? stamp.prefix(10) : stamp.dropFirst(11).prefix(5)))
            tick += step
        }
        svg +=
            "<text x=\"\(SVGPlot.f(p.left + p.plotW))\" y=\"\(SVGPlot.f(p.top + p.plotH + 34))\" text-anchor=\"end\">UTC</text>\n"
        return svg + "</g>\n"
    }

    /// The baseline and the load the level asks for.
    private static func baseline(_ e: HostEventFigures, _ p: SVGPlot) -> String {
        guard let base = e.baselineKW else { return "" }
        let f = SVGPlot.f
        var svg = p.levelLine(id: "baseline", at: base)
        svg +=
            "<text x=\"\(f(p.left + 4))\" y=\"\(f(p.y(base) - 5))\" fill=\"#e07000\">baseline \(String(format: "%.3f", base)) kW</text>\n"
        if let requested = e.requestedShedKW {
            let target = base - requested
            svg +=
                "<line id=\"target\" x1=\"\(f(p.x(e.event.start)))\" x2=\"\(f(p.x(e.end)))\" y1=\"\(f(p.y(target)))\" y2=\"\(f(p.y(target)))\" stroke=\"#2e7d32\" stroke-width=\"1\" stroke-dasharray=\"2 3\"/>\n"
        }
        return svg
    }

    /// The load; the line is broken across gaps (never drawn through them).
    private static func load(_ e: HostEventFigures, _ p: SVGPlot) -> String {
        let f = SVGPlot.f
        var path = ""
        var previous: Double?
        for point in e.chartPoints {
            let broken = previous.map { prev in e.gaps.contains { $0.start >= prev && $0.end <= point.time } } ?? true
            path += "\(broken ? "M" : "L")\(f(p.x(point.time))),\(f(p.y(point.kw))) "
            previous = point.time
        }
        return "<path id=\"load\" d=\"\(path)\" fill=\"none\" stroke=\"#1f4e9c\" stroke-width=\"1.2\"/>\n"
    }

    private static func legend(_ e: HostEventFigures, _ p: SVGPlot, options: ReportOptions) -> String {
        let f = SVGPlot.f
        let left = p.left
        let ly = p.height - 12
        return """
            <g id="legend" font-size="11">
            <line x1="\(f(left))" x2="\(f(left + 24))" y1="\(f(ly - 4))" y2="\(f(ly - 4))" stroke="#1f4e9c"/><text x="\(f(left + 28))" y="\(f(ly))">load\(e.modelled ? " (modelled)" : "")</text>
            <line x1="\(f(left + 130))" x2="\(f(left + 154))" y1="\(f(ly - 4))" y2="\(f(ly - 4))" stroke="#e07000" stroke-dasharray="6 4"/><text x="\(f(left + 158))" y="\(f(ly))">baseline (\(options.baseline.rawValue))</text>
            <line x1="\(f(left + 320))" x2="\(f(left + 344))" y1="\(f(ly - 4))" y2="\(f(ly - 4))" stroke="#2e7d32" stroke-dasharray="2 3"/><text x="\(f(left + 348))" y="\(f(ly))">load asked for</text>
            <rect x="\(f(left + 450))" y="\(f(ly - 9))" width="14" height="10" fill="#b00020" fill-opacity="0.2"/><text x="\(f(left + 468))" y="\(f(ly))">event</text>
            <rect x="\(f(left + 520))" y="\(f(ly - 9))" width="14" height="10" fill="#1f4e9c" fill-opacity="0.15"/><text x="\(f(left + 538))" y="\(f(ly))">baseline window</text>
            <rect x="\(f(left + 650))" y="\(f(ly - 9))" width="14" height="10" fill="#888" fill-opacity="0.4"/><text x="\(f(left + 668))" y="\(f(ly))">gap in telemetry</text>
            </g>
            </svg>

            """
    }

    /// A file name for the event's chart: host, id and start, with anything but letters, digits, '-',
    /// '_' and '.' replaced.
    public static func fileName(_ e: HostEventFigures) -> String {
        let raw = "\(e.host)-\(e.event.id)-\(ISO8601.format(Date(timeIntervalSince1970: e.event.start)))"
        let safe = String(
            raw.unicodeScalars.map { c -> Character in
                (c.properties.isAlphabetic && c.isASCII) || ("0"..."9").contains(c) || c == "-" || c == "_" || c == "."
                    ? Character(c) : "_"
            })
        return String(safe.prefix(200)) + ".svg"
    }
}
