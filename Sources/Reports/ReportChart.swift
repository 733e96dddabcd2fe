import FlexSupport
import Foundation

/// SVG drawing helpers shared by the project's charts (the event report's and the simulation's): round
/// axis ticks, escaping, compact numbers.
public enum SVGPlot {
    /// Round tick values covering [lo, hi].
    public static func niceTicks(_ lo: Double, _ hi: Double) -> [Double] {
        let raw = (hi - lo) / 6
        let magnitude = pow(10, (log10(max(raw, 1e-9))).rounded(.down))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? magnitude * 10
        let start = (lo / step).rounded(.down) * step
        let end = (hi / step).rounded(.up) * step
        return stride(from: start, through: end + step / 2, by: step).map { $0 }
    }

    /// Text made safe for SVG content and attributes.
    public static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// A coordinate with one decimal.
    public static func f(_ v: Double) -> String { String(format: "%.1f", v) }
}

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
        let width = 960.0
        let height = 420.0
        let left = 64.0
        let right = 20.0
        let top = 64.0
        let bottom = 56.0
        let plotW = width - left - right
        let plotH = height - top - bottom
        let t0 = e.chartStart
        let t1 = max(e.chartEnd, t0 + 1)
        let f = SVGPlot.f
        let esc = SVGPlot.escape
        let loads = e.chartPoints.map(\.kw)
        let yMax = max(loads.max() ?? 0, e.baselineKW ?? 0, 0.001) * 1.15
        let ticks = SVGPlot.niceTicks(0, yMax)
        let yHi = ticks.last ?? yMax
        func x(_ t: Double) -> Double { left + (min(max(t, t0), t1) - t0) / (t1 - t0) * plotW }
        func y(_ kw: Double) -> Double { top + (yHi - min(max(kw, 0), yHi)) / yHi * plotH }

        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="Helvetica, Arial, sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>

            """
        let source = e.powerSource.map { "\($0)\(e.modelled ? ", MODELLED" : ", measured")" } ?? "no telemetry"
        let heading =
            "\(e.host) · \(e.event.kind == .price ? "price halt" : "curtailment \(e.event.id)") · level \(Int((e.event.level * 100).rounded())) % · \(source)"
        svg += "<text x=\"\(f(left))\" y=\"24\" font-size=\"16\" font-weight=\"bold\">\(esc(heading))</text>\n"
        svg +=
            "<text x=\"\(f(left))\" y=\"44\" fill=\"#444\">\(esc(ReportText.summaryLine(e, options: options)))</text>\n"

        // Windows: baseline (meter-before) and event.
        if let a = e.baselineStart, let b = e.baselineEnd {
            svg +=
                "<rect id=\"baseline-window\" x=\"\(f(x(a)))\" y=\"\(f(top))\" width=\"\(f(max(x(b) - x(a), 0.5)))\" height=\"\(f(plotH))\" fill=\"#1f4e9c\" fill-opacity=\"0.07\"/>\n"
        }
        svg +=
            "<rect id=\"event-window\" x=\"\(f(x(e.event.start)))\" y=\"\(f(top))\" width=\"\(f(max(x(e.end) - x(e.event.start), 0.5)))\" height=\"\(f(plotH))\" fill=\"#b00020\" fill-opacity=\"0.10\"/>\n"
        for g in e.gaps {
            svg +=
                "<rect class=\"gap\" x=\"\(f(x(g.start)))\" y=\"\(f(top))\" width=\"\(f(max(x(g.end) - x(g.start), 1)))\" height=\"\(f(plotH))\" fill=\"#888\" fill-opacity=\"0.25\"/>\n"
        }

        // Axes.
        svg += "<g id=\"axes\" stroke=\"#ddd\" stroke-width=\"1\">\n"
        for v in ticks {
            svg += "<line x1=\"\(f(left))\" x2=\"\(f(left + plotW))\" y1=\"\(f(y(v)))\" y2=\"\(f(y(v)))\"/>\n"
        }
        svg += "</g>\n<g id=\"labels\" fill=\"#333\">\n"
        for v in ticks {
            svg +=
                "<text x=\"\(f(left - 6))\" y=\"\(f(y(v) + 4))\" text-anchor=\"end\">\(String(format: v < 10 ? "%.2f" : "%.0f", v))</text>\n"
        }
        svg +=
            "<text x=\"16\" y=\"\(f(top + plotH / 2))\" transform=\"rotate(-90 16 \(f(top + plotH / 2)))\" text-anchor=\"middle\">kW</text>\n"
        let span = t1 - t0
        // At most about ten ticks whatever the span: an event whose `until` lies centuries ahead (a
        // mistyped year) must not draw a tick per day of it (the fuzzer's find: 740,000 ticks).
        let step =
            [60.0, 120, 300, 600, 900, 1800, 3600, 7200, 14_400, 21_600, 43_200, 86_400].first { span / $0 <= 10 }
            ?? (span / 10 / 86_400).rounded(.up) * 86_400
        let days = step >= 86_400
        var tick = (t0 / step).rounded(.up) * step
        while tick <= t1 {
            let stamp = ISO8601.format(Date(timeIntervalSince1970: tick))
            let label = String(days ? stamp.prefix(10) : stamp.dropFirst(11).prefix(5))
            svg +=
                "<line x1=\"\(f(x(tick)))\" x2=\"\(f(x(tick)))\" y1=\"\(f(top + plotH))\" y2=\"\(f(top + plotH + 5))\" stroke=\"#999\"/>\n"
            svg += "<text x=\"\(f(x(tick)))\" y=\"\(f(top + plotH + 18))\" text-anchor=\"middle\">\(label)</text>\n"
            tick += step
        }
        svg += "<text x=\"\(f(left + plotW))\" y=\"\(f(top + plotH + 34))\" text-anchor=\"end\">UTC</text>\n"
        svg += "</g>\n"

        // Baseline and the load the level asks for.
        if let base = e.baselineKW {
            svg +=
                "<line id=\"baseline\" x1=\"\(f(left))\" x2=\"\(f(left + plotW))\" y1=\"\(f(y(base)))\" y2=\"\(f(y(base)))\" stroke=\"#e07000\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>\n"
            svg +=
                "<text x=\"\(f(left + 4))\" y=\"\(f(y(base) - 5))\" fill=\"#e07000\">baseline \(String(format: "%.3f", base)) kW</text>\n"
            if let requested = e.requestedShedKW {
                let target = base - requested
                svg +=
                    "<line id=\"target\" x1=\"\(f(x(e.event.start)))\" x2=\"\(f(x(e.end)))\" y1=\"\(f(y(target)))\" y2=\"\(f(y(target)))\" stroke=\"#2e7d32\" stroke-width=\"1\" stroke-dasharray=\"2 3\"/>\n"
            }
        }

        // The load; the line is broken across gaps (never drawn through them).
        var path = ""
        var previous: Double?
        for p in e.chartPoints {
            let broken = previous.map { prev in e.gaps.contains { $0.start >= prev && $0.end <= p.time } } ?? true
            path += "\(broken ? "M" : "L")\(f(x(p.time))),\(f(y(p.kw))) "
            previous = p.time
        }
        svg += "<path id=\"load\" d=\"\(path)\" fill=\"none\" stroke=\"#1f4e9c\" stroke-width=\"1.2\"/>\n"

        svg +=
            "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotW))\" height=\"\(f(plotH))\" fill=\"none\" stroke=\"#666\"/>\n"
        let ly = height - 12
        svg += """
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
        return svg
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
