import FlexSupport
import Foundation
import Reports

/// The simulation as an SVG picture: price over time, the break-even line, the periods mined shaded
/// (darker = more capacity), curtailment events marked, spikes above the plotted range flagged.
public enum SimulationChart {
    public static func svg(_ report: SimulationReport, title: String? = nil) -> String {
        let width = 1200.0
        let height = 520.0
        let left = 70.0
        let right = 20.0
        let top = 60.0
        let bottom = 60.0
        let plotW = width - left - right
        let plotH = height - top - bottom
        let points = report.series.points
        let t0 = points.first!.time
        let t1 = points.last!.time + report.series.intervalSeconds
        let breakEven = report.config.breakEvenUSDPerMWh
        let prices = points.map(\.usdPerMWh)
        // The range shows the bulk of the prices and the break-even line; rare spikes would flatten
        // everything else, so they are clipped and labelled instead.
        let sorted = prices.sorted()
        let p99 = sorted[min(sorted.count - 1, sorted.count * 99 / 100)]
        let beVisible = breakEven.isFinite && breakEven < 1e6
        var yMax = max(p99 * 1.15, beVisible ? breakEven * 1.25 : 0, 10)
        if sorted.last! <= yMax * 1.3 { yMax = max(yMax, sorted.last! * 1.05) }
        let yMin = min(0, sorted.first! * 1.1)
        let ticks = SVGPlot.niceTicks(yMin, yMax)
        let yLo = ticks.first!
        let yHi = ticks.last!
        func x(_ t: Double) -> Double { left + (t - t0) / max(t1 - t0, 1) * plotW }
        func y(_ p: Double) -> Double { top + (yHi - min(max(p, yLo), yHi)) / (yHi - yLo) * plotH }
        let f = SVGPlot.f
        let esc = SVGPlot.escape

        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="Helvetica, Arial, sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>

            """
        let t = report.result.totals
        let heading =
            title
            ?? "FlexMiner simulation: \(report.series.settlementPoint ?? (report.series.path as NSString).lastPathComponent)"
        svg += "<text x=\"\(f(left))\" y=\"24\" font-size=\"16\" font-weight=\"bold\">\(esc(heading))</text>\n"
        let sub = String(
            format:
                "%@ to %@ · mined %.1f of %.1f h · %.0f kWh · cost %.2f USD · revenue %.2f USD · net %.2f USD · %d transitions",
            TimeText.format(t0), TimeText.format(t1), t.secondsMined / 3600, t.simulatedSeconds / 3600, t.energyKWh,
            t.energyCostUSD, t.revenueUSD, t.revenueUSD - t.energyCostUSD, t.transitions)
        svg += "<text x=\"\(f(left))\" y=\"44\" fill=\"#444\">\(esc(sub))</text>\n"

        // Mined periods.
        svg += "<g id=\"mined\" fill=\"#2e9d4a\">\n"
        for s in report.result.spans where s.capacity > 0 {
            let x0 = x(max(s.start, t0))
            let x1 = x(min(s.end, t1))
            guard x1 > x0 else { continue }
            svg +=
                "<rect x=\"\(f(x0))\" y=\"\(f(top))\" width=\"\(f(max(x1 - x0, 0.3)))\" height=\"\(f(plotH))\" fill-opacity=\"\(String(format: "%.2f", 0.08 + 0.17 * s.capacity))\"/>\n"
        }
        svg += "</g>\n"

        // Axes and grid.
        svg += "<g id=\"axes\" stroke=\"#ccc\" stroke-width=\"1\">\n"
        for v in ticks {
            svg += "<line x1=\"\(f(left))\" x2=\"\(f(left + plotW))\" y1=\"\(f(y(v)))\" y2=\"\(f(y(v)))\"/>\n"
        }
        svg += "</g>\n<g id=\"labels\" fill=\"#333\">\n"
        for v in ticks {
            svg += "<text x=\"\(f(left - 6))\" y=\"\(f(y(v) + 4))\" text-anchor=\"end\">\(Int(v.rounded()))</text>\n"
        }
        svg +=
            "<text x=\"16\" y=\"\(f(top + plotH / 2))\" transform=\"rotate(-90 16 \(f(top + plotH / 2)))\" text-anchor=\"middle\">USD/MWh</text>\n"
        let span = t1 - t0
        let dayStep = span <= 3 * 86_400 ? 0.25 : span <= 20 * 86_400 ? 1 : span <= 120 * 86_400 ? 7 : 30
        var tick = (t0 / 86_400).rounded(.up) * 86_400
        while tick <= t1 {
            let label =
                dayStep < 1
                ? String(TimeText.format(tick).dropFirst(5).prefix(11))
                : String(TimeText.format(tick).dropFirst(5).prefix(5))
            svg +=
                "<line x1=\"\(f(x(tick)))\" x2=\"\(f(x(tick)))\" y1=\"\(f(top + plotH))\" y2=\"\(f(top + plotH + 5))\" stroke=\"#999\"/>\n"
            let anchor = x(tick) > left + plotW - 40 ? "end" : x(tick) < left + 40 ? "start" : "middle"
            svg += "<text x=\"\(f(x(tick)))\" y=\"\(f(top + plotH + 18))\" text-anchor=\"\(anchor)\">\(label)</text>\n"
            tick += dayStep * 86_400
        }
        svg += "</g>\n"

        // Price: at most two points (min and max) per horizontal pixel.
        var path = ""
        let columns = Int(plotW)
        if points.count <= columns * 2 {
            for (i, p) in points.enumerated() {
                path += "\(i == 0 ? "M" : "L")\(f(x(p.time))),\(f(y(p.usdPerMWh))) "
            }
        } else {
            var bucket = -1
            var lo = 0.0
            var hi = 0.0
            var first = true
            func flush() {
                guard bucket >= 0 else { return }
                let px = left + Double(bucket) + 0.5
                path += "\(first ? "M" : "L")\(f(px)),\(f(y(hi))) L\(f(px)),\(f(y(lo))) "
                first = false
            }
            for p in points {
                let b = min(columns - 1, Int((x(p.time) - left)))
                if b != bucket {
                    flush()
                    bucket = b
                    lo = p.usdPerMWh
                    hi = p.usdPerMWh
                } else {
                    lo = min(lo, p.usdPerMWh)
                    hi = max(hi, p.usdPerMWh)
                }
            }
            flush()
        }
        svg += "<path id=\"price\" d=\"\(path)\" fill=\"none\" stroke=\"#1f4e9c\" stroke-width=\"1\"/>\n"

        // Spikes above the range.
        let spikes = points.filter { $0.usdPerMWh > yHi }
        if !spikes.isEmpty {
            svg += "<g id=\"spikes\" fill=\"#b00020\">\n"
            // Highest first; a spike within 40 px of a labelled one gets a marker but no label.
            var labelled: [Double] = []
            for s in spikes.sorted(by: { $0.usdPerMWh > $1.usdPerMWh }) {
                let sx = x(s.time)
                if labelled.contains(where: { abs($0 - sx) < 4 }) { continue }
                svg += "<path d=\"M\(f(sx - 4)),\(f(top + 8)) L\(f(sx + 4)),\(f(top + 8)) L\(f(sx)),\(f(top)) Z\"/>\n"
                if !labelled.contains(where: { abs($0 - sx) < 40 }) {
                    svg +=
                        "<text x=\"\(f(sx + 5))\" y=\"\(f(top + 10))\" font-size=\"10\">\(Int(s.usdPerMWh.rounded()))</text>\n"
                }
                labelled.append(sx)
            }
            svg += "</g>\n"
        }

        // Break-even.
        if beVisible && breakEven >= yLo && breakEven <= yHi {
            svg +=
                "<line id=\"breakeven\" x1=\"\(f(left))\" x2=\"\(f(left + plotW))\" y1=\"\(f(y(breakEven)))\" y2=\"\(f(y(breakEven)))\" stroke=\"#e07000\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>\n"
            svg +=
                "<text x=\"\(f(left + plotW - 4))\" y=\"\(f(y(breakEven) - 5))\" text-anchor=\"end\" fill=\"#e07000\">break-even \(String(format: "%.2f", breakEven))</text>\n"
        }

        // Events.
        if !report.result.events.isEmpty {
            svg += "<g id=\"events\">\n"
            for e in report.result.events {
                let ex = x(e.time)
                let color = e.met ? "#b00020" : "#ff00aa"
                svg +=
                    "<rect x=\"\(f(ex))\" y=\"\(f(top))\" width=\"\(f(max(x(min(e.end, t1)) - ex, 1)))\" height=\"\(f(plotH))\" fill=\"\(color)\" fill-opacity=\"0.12\"/>\n"
                svg +=
                    "<line x1=\"\(f(ex))\" x2=\"\(f(ex))\" y1=\"\(f(top))\" y2=\"\(f(top + plotH))\" stroke=\"\(color)\" stroke-width=\"1.5\"/>\n"
                svg +=
                    "<text x=\"\(f(ex + 3))\" y=\"\(f(top + plotH - 6))\" fill=\"\(color)\" font-size=\"10\">\(esc(e.id ?? "event")) \(Int((e.level * 100).rounded()))%\(e.met ? "" : " MISSED")</text>\n"
            }
            svg += "</g>\n"
        }

        // Frame and legend.
        svg +=
            "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotW))\" height=\"\(f(plotH))\" fill=\"none\" stroke=\"#666\"/>\n"
        let ly = height - 16
        svg += """
            <g id="legend" font-size="11">
            <rect x="\(f(left))" y="\(f(ly - 9))" width="14" height="10" fill="#2e9d4a" fill-opacity="0.25"/><text x="\(f(left + 18))" y="\(f(ly))">mined (darker = more capacity)</text>
            <line x1="\(f(left + 210))" x2="\(f(left + 234))" y1="\(f(ly - 4))" y2="\(f(ly - 4))" stroke="#1f4e9c"/><text x="\(f(left + 238))" y="\(f(ly))">price</text>
            <line x1="\(f(left + 290))" x2="\(f(left + 314))" y1="\(f(ly - 4))" y2="\(f(ly - 4))" stroke="#e07000" stroke-dasharray="6 4"/><text x="\(f(left + 318))" y="\(f(ly))">break-even</text>
            <line x1="\(f(left + 400))" x2="\(f(left + 400))" y1="\(f(ly - 10))" y2="\(f(ly + 1))" stroke="#b00020"/><text x="\(f(left + 406))" y="\(f(ly))">curtailment event (band: until release)</text>
            <path d="M\(f(left + 660)),\(f(ly)) L\(f(left + 668)),\(f(ly)) L\(f(left + 664)),\(f(ly - 8)) Z" fill="#b00020"/><text x="\(f(left + 672))" y="\(f(ly))">price above the plotted range</text>
            </g>
            </svg>

            """
        return svg
    }
}
