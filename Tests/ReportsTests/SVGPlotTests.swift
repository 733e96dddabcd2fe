import Foundation
import Reports
import Testing

/// The frame both charts draw on: where values and times land, and what each chart's choice of time
/// scale does with a time outside the range.
@Suite struct SVGPlotTests {
    let plot = SVGPlot(
        width: 1000, height: 500, margins: (left: 50, right: 50, top: 100, bottom: 100), time: (1000, 2000),
        ticks: [0, 10, 20], yRange: (0, 20), clampsTime: true)

    @Test func valuesMapIntoThePlotAreaAndAreHeldInsideIt() {
        #expect(plot.plotW == 900 && plot.plotH == 300)
        #expect(plot.y(20) == 100)
        #expect(plot.y(0) == 400)
        #expect(plot.y(10) == 250)
        #expect(plot.y(1e9) == 100 && plot.y(-5) == 400)
    }

    @Test(arguments: [
        (clamps: true, t: 500.0, x: 50.0), (clamps: false, t: 500.0, x: -400.0),
        (clamps: true, t: 1500.0, x: 500.0), (clamps: true, t: 9999.0, x: 950.0),
    ])
    func timesMapAcrossThePlot(clamps: Bool, t: Double, x: Double) {
        let p = SVGPlot(
            width: 1000, height: 500, margins: (left: 50, right: 50, top: 100, bottom: 100), time: (1000, 2000),
            ticks: [0, 20], yRange: (0, 20), clampsTime: clamps)
        #expect(p.x(t) == x)
    }

    @Test func theYAxisDrawsAGridLineAndALabelPerTick() {
        let svg = plot.yAxis(grid: "#ccc", unit: "kW") { "\(Int($0))" }
        #expect(svg.hasPrefix("<g id=\"axes\" stroke=\"#ccc\" stroke-width=\"1\">\n"))
        #expect(svg.components(separatedBy: "<line ").count - 1 == 3)
        #expect(svg.contains("<text x=\"44.0\" y=\"254.0\" text-anchor=\"end\">10</text>"))
        #expect(svg.hasSuffix("text-anchor=\"middle\">kW</text>\n"))
    }

    @Test func textIsEscaped() {
        #expect(plot.title("a<b & \"c\"", "x>y").contains("a&lt;b &amp; &quot;c&quot;"))
        #expect(plot.title("t", "x>y").contains(">x&gt;y</text>"))
    }
}
