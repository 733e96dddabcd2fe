import FlexSupport
import Foundation
import Reports

/// The simulation as an SVG picture: price over time, the break-even line, the periods mined shaded
/// (darker = more capacity), curtailment events marked, spikes above the plotted range flagged.
public enum SimulationChart {
    public static func svg(_ report: SimulationReport, title: String? = nil) -> String {
        let plot = frame(report)
        let heading =
            title
            ?? "FlexMiner simulation: \(report.series.settlementPoint ?? (report.series.path as NSString).lastPathComponent)"
        let t = report.result.totals
        let sub = String(
            format:
                "%@ to %@ · mined %.1f of %.1f h · %.0f kWh · cost %.2f USD · revenue %.2f USD · net %.2f USD · %d transitions",
            TimeText.format(plot.t0), TimeText.format(plot.t1), t.secondsMined / 3600, t.simulatedSeconds / 3600,
            t.energyKWh, t.energyCostUSD, t.revenueUSD, t.revenueUSD - t.energyCostUSD, t.transitions)
        return plot.start + plot.title(heading, sub) + mined(report, plot) + axes(plot) + price(report, plot)
            + spikes(report, plot) + breakEven(report, plot) + events(report, plot) + plot.frame + legend(plot)
    }

    /// The plot: 1200 × 520, the series' whole time, a price range that shows the bulk of the prices and
    /// the break-even line. Rare spikes would flatten everything else, so they are clipped (and labelled
    /// by `spikes`) instead.
    private static func frame(_ report: SimulationReport) -> SVGPlot {
        let points = report.series.points
        let breakEven = report.config.breakEvenUSDPerMWh
        let sorted = points.map(\.usdPerMWh).sorted()
        let p99 = sorted[min(sorted.count - 1, sorted.count * 99 / 100)]
        var yMax = max(p99 * 1.15, breakEvenVisible(breakEven) ? breakEven * 1.25 : 0, 10)
        if sorted.last! <= yMax * 1.3 { yMax = max(yMax, sorted.last! * 1.05) }
        let yMin = min(0, sorted.first! * 1.1)
        let ticks = SVGPlot.niceTicks(yMin, yMax)
        return SVGPlot(
            width: 1200, height: 520, margins: (left: 70, right: 20, top: 60, bottom: 60),
            time: (points.first!.time, points.last!.time + report.series.intervalSeconds), ticks: ticks,
            yRange: (ticks.first!, ticks.last!), clampsTime: false)
    }

    private static func breakEvenVisible(_ breakEven: Double) -> Bool { breakEven.isFinite && breakEven < 1e6 }

    /// The periods mined, shaded darker for more capacity.
    private static func mined(_ report: SimulationReport, _ p: SVGPlot) -> String {
        let f = SVGPlot.f
        var svg = "<g id=\"mined\" fill=\"#2e9d4a\">\n"
        for s in report.result.spans where s.capacity > 0 {
            let x0 = p.x(max(s.start, p.t0))
            let x1 = p.x(min(s.end, p.t1))
            guard x1 > x0 else { continue }
            svg +=
                "<rect x=\"\(f(x0))\" y=\"\(f(p.top))\" width=\"\(f(max(x1 - x0, 0.3)))\" height=\"\(f(p.plotH))\" fill-opacity=\"\(String(format: "%.2f", 0.08 + 0.17 * s.capacity))\"/>\n"
        }
        return svg + "</g>\n"
    }

    /// The price grid and labels, and date ticks every quarter day, day, week or month by the span.
    private static func axes(_ p: SVGPlot) -> String {
        var svg = p.yAxis(grid: "#ccc", unit: "USD/MWh") { "\(Int($0.rounded()))" }
        let span = p.t1 - p.t0
        let dayStep = span <= 3 * 86_400 ? 0.25 : span <= 20 * 86_400 ? 1 : span <= 120 * 86_400 ? 7 : 30
        var tick = (p.t0 / 86_400).rounded(.up) * 86_400
        while tick <= p.t1 {
            let label =
                dayStep < 1
                ? String(TimeText.format(tick).dropFirst(5).prefix(11))
                : String(TimeText.format(tick).dropFirst(5).prefix(5))
            let anchor = p.x(tick) > p.left + p.plotW - 40 ? "end" : p.x(tick) < p.left + 40 ? "start" : "middle"
            svg += p.xTick(tick, label: label, anchor: anchor)
            tick += dayStep * 86_400
        }
        return svg + "</g>\n"
    }

    /// The price line: at most two points (min and max) per horizontal pixel.
    private static func price(_ report: SimulationReport, _ p: SVGPlot) -> String {
        let f = SVGPlot.f
        let points = report.series.points
        var path = ""
        let columns = Int(p.plotW)
        if points.count <= columns * 2 {
            for (i, point) in points.enumerated() {
                path += "\(i == 0 ? "M" : "L")\(f(p.x(point.time))),\(f(p.y(point.usdPerMWh))) "
            }
        } else {
            var bucket = -1
            var lo = 0.0
            var hi = 0.0
            var first = true
            func flush() {
                guard bucket >= 0 else { return }
                let px = p.left + Double(bucket) + 0.5
                path += "\(first ? "M" : "L")\(f(px)),\(f(p.y(hi))) L\(f(px)),\(f(p.y(lo))) "
                first = false
            }
            for point in points {
                let b = min(columns - 1, Int((p.x(point.time) - p.left)))
                if b != bucket {
                    flush()
                    bucket = b
                    lo = point.usdPerMWh
                    hi = point.usdPerMWh
                } else {
                    lo = min(lo, point.usdPerMWh)
                    hi = max(hi, point.usdPerMWh)
                }
            }
            flush()
        }
        return "<path id=\"price\" d=\"\(path)\" fill=\"none\" stroke=\"#1f4e9c\" stroke-width=\"1\"/>\n"
    }

    /// Prices above the range: a marker each, highest first; a spike within 40 px of a labelled one gets a
    /// marker but no label.
    private static func spikes(_ report: SimulationReport, _ p: SVGPlot) -> String {
        let f = SVGPlot.f
        let spikes = report.series.points.filter { $0.usdPerMWh > p.yHi }
        guard !spikes.isEmpty else { return "" }
        var svg = "<g id=\"spikes\" fill=\"#b00020\">\n"
        var labelled: [Double] = []
        for s in spikes.sorted(by: { $0.usdPerMWh > $1.usdPerMWh }) {
            let sx = p.x(s.time)
            if labelled.contains(where: { abs($0 - sx) < 4 }) { continue }
            svg += "<path d=\"M\(f(sx - 4)),\(f(p.top + 8)) L\(f(sx + 4)),\(f(p.top + 8)) L\(f(sx)),\(f(p.top)) Z\"/>\n"
            if !labelled.contains(where: { abs($0 - sx) < 40 }) {
                svg +=
                    "<text x=\"\(f(sx + 5))\" y=\"\(f(p.top + 10))\" font-size=\"10\">\(Int(s.usdPerMWh.rounded()))</text>\n"
            }
            labelled.append(sx)
        }
        return svg + "</g>\n"
    }

    private static func breakEven(_ report: SimulationReport, _ p: SVGPlot) -> String {
        let breakEven = report.config.breakEvenUSDPerMWh
        guard breakEvenVisible(breakEven) && breakEven >= p.yLo && breakEven <= p.yHi else { return "" }
        return p.levelLine(id: "breakeven", at: breakEven)
            + "<text x=\"\(SVGPlot.f(p.left + p.plotW - 4))\" y=\"\(SVGPlot.f(p.y(breakEven) - 5))\" text-anchor=\"end\" fill=\"#e07000\">break-even \(String(format: "%.2f", breakEven))</text>\n"
    }

    /// Curtailment events: a band until their end, a line at their start, their id and level.
    private static func events(_ report: SimulationReport, _ p: SVGPlot) -> String {
        guard !report.result.events.isEmpty else { return "" }
        let f = SVGPlot.f
        var svg = "<g id=\"events\">\n"
        for e in report.result.events {
            let ex = p.x(e.time)
            let color = e.met ? "#b00020" : "#ff00aa"
            svg +=
                "<rect x=\"\(f(ex))\" y=\"\(f(p.top))\" width=\"\(f(max(p.x(min(e.end, p.t1)) - ex, 1)))\" height=\"\(f(p.plotH))\" fill=\"\(color)\" fill-opacity=\"0.12\"/>\n"
            svg +=
                "<line x1=\"\(f(ex))\" x2=\"\(f(ex))\" y1=\"\(f(p.top))\" y2=\"\(f(p.top + p.plotH))\" stroke=\"\(color)\" stroke-width=\"1.5\"/>\n"
            svg +=
                "<text x=\"\(f(ex + 3))\" y=\"\(f(p.top + p.plotH - 6))\" fill=\"\(color)\" font-size=\"10\">\(SVGPlot.escape(e.id ?? "event")) \(Int((e.level * 100).rounded()))%\(e.met ? "" : " MISSED")</text>\n"
        }
        return svg + "</g>\n"
    }

    private static func legend(_ p: SVGPlot) -> String {
        let f = SVGPlot.f
        let left = p.left
        let ly = p.height - 16
        return """
            <g id="legend" font-size="11">
            <rect x="\(f(left))" y="\(f(ly - 9))" width="14" height="10" fill="#2e9d4a" fill-opacity="0.25"/><text x="\(f(left + 18))" y="\(f(ly))">mined (darker = more capacity)</text>
            <line x1="\(f(left + 210))" x2="\(f(left + 234))" y1="\(f(ly - 4))" y2="\(f(ly - 4))" stroke="#1f4e9c"/><text x="\(f(left + 238))" y="\(f(ly))">price</text>
            <line x1="\(f(left + 290))" x2="\(f(left + 314))" y1="\(f(ly - 4))" y2="\(f(ly - 4))" stroke="#e07000" stroke-dasharray="6 4"/><text x="\(f(left + 318))" y="\(f(ly))">break-even</text>
            <line x1="\(f(left + 400))" x2="\(f(left + 400))" y1="\(f(ly - 10))" y2="\(f(ly + 1))" stroke="#b00020"/><text x="\(f(left + 406))" y="\(f(ly))">curtailment event (band: until release)</text>
            <path d="M\(f(left + 660)),\(f(ly)) L\(f(left + 668)),\(f(ly)) L\(f(left + 664)),\(f(ly - 8)) Z" fill="#b00020"/><text x="\(f(left + 672))" y="\(f(ly))">price above the plotted range</text>
            </g>
            </svg>

            """
    }
}
