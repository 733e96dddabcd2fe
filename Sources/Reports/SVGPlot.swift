import FlexSupport
import Foundation

/// The frame of the project's charts (the event report's and the simulation's): the canvas, the plot
/// area inside its margins, a y scale over round ticks and a time scale, and the pieces every chart draws
/// the same way (the document's start, the title, the y grid and its labels, x ticks, a level line, the
/// frame). One home, so the two charts cannot drift apart; what each chart plots stays with it.
public struct SVGPlot: Sendable {
    /// The canvas, in pixels.
    public let width: Double
    public let height: Double
    /// The plot area: its left and top edges, its width and height.
    public let left: Double
    public let top: Double
    public let plotW: Double
    public let plotH: Double
    /// The time range drawn, in seconds since 1970.
    public let t0: Double
    public let t1: Double
    /// The y grid's values; the y range is `yLo...yHi`.
    public let ticks: [Double]
    public let yLo: Double
    public let yHi: Double
    /// Whether times outside [t0, t1] are drawn at its edges (the report: an event's `until` may lie far
    /// ahead) rather than outside the plot.
    public let clampsTime: Bool

    /// A plot of `width` × `height` with the given margins.
    public init(
        width: Double, height: Double, margins: (left: Double, right: Double, top: Double, bottom: Double),
        time: (start: Double, end: Double), ticks: [Double], yRange: (lo: Double, hi: Double), clampsTime: Bool
    ) {
        self.width = width
        self.height = height
        left = margins.left
        top = margins.top
        plotW = width - margins.left - margins.right
        plotH = height - margins.top - margins.bottom
        t0 = time.start
        t1 = time.end
        self.ticks = ticks
        yLo = yRange.lo
        yHi = yRange.hi
        self.clampsTime = clampsTime
    }

    /// The x coordinate of time `t`.
    public func x(_ t: Double) -> Double {
        left + ((clampsTime ? min(max(t, t0), t1) : t) - t0) / max(t1 - t0, 1) * plotW
    }

    /// The y coordinate of value `v`, held inside the y range.
    public func y(_ v: Double) -> Double { top + (yHi - min(max(v, yLo), yHi)) / (yHi - yLo) * plotH }

    /// The document's start: the `<svg>` element and a white background.
    public var start: String {
        """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="Helvetica, Arial, sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>

        """
    }

    /// The title and the line under it, both escaped.
    public func title(_ heading: String, _ subtitle: String) -> String {
        let f = Self.f
        return "<text x=\"\(f(left))\" y=\"24\" font-size=\"16\" font-weight=\"bold\">\(Self.escape(heading))</text>\n"
            + "<text x=\"\(f(left))\" y=\"44\" fill=\"#444\">\(Self.escape(subtitle))</text>\n"
    }

    /// The y grid (group `axes`), then the opened group `labels` with the tick labels and the rotated
    /// `unit`: x ticks follow, and the caller closes the group.
    public func yAxis(grid: String, unit: String, label: (Double) -> String) -> String {
        let f = Self.f
        var svg = "<g id=\"axes\" stroke=\"\(grid)\" stroke-width=\"1\">\n"
        for v in ticks {
            svg += "<line x1=\"\(f(left))\" x2=\"\(f(left + plotW))\" y1=\"\(f(y(v)))\" y2=\"\(f(y(v)))\"/>\n"
        }
        svg += "</g>\n<g id=\"labels\" fill=\"#333\">\n"
        for v in ticks {
            svg += "<text x=\"\(f(left - 6))\" y=\"\(f(y(v) + 4))\" text-anchor=\"end\">\(label(v))</text>\n"
        }
        svg +=
            "<text x=\"16\" y=\"\(f(top + plotH / 2))\" transform=\"rotate(-90 16 \(f(top + plotH / 2)))\" text-anchor=\"middle\">\(unit)</text>\n"
        return svg
    }

    /// One tick under the plot at time `t`, with its label.
    public func xTick(_ t: Double, label: String, anchor: String = "middle") -> String {
        let f = Self.f
        return
            "<line x1=\"\(f(x(t)))\" x2=\"\(f(x(t)))\" y1=\"\(f(top + plotH))\" y2=\"\(f(top + plotH + 5))\" stroke=\"#999\"/>\n"
            + "<text x=\"\(f(x(t)))\" y=\"\(f(top + plotH + 18))\" text-anchor=\"\(anchor)\">\(label)</text>\n"
    }

    /// A dashed orange line across the plot at value `v` (the break-even, the baseline).
    public func levelLine(id: String, at v: Double) -> String {
        let f = Self.f
        return
            "<line id=\"\(id)\" x1=\"\(f(left))\" x2=\"\(f(left + plotW))\" y1=\"\(f(y(v)))\" y2=\"\(f(y(v)))\" stroke=\"#e07000\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>\n"
    }

    /// The plot area's outline.
    public var frame: String {
        let f = Self.f
        return
            "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotW))\" height=\"\(f(plotH))\" fill=\"none\" stroke=\"#666\"/>\n"
    }

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
