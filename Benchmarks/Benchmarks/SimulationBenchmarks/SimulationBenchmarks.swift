import Benchmark
import DemandResponse
import Foundation
import Simulation

/// A year of 5-minute prices (105,120 intervals) as CSV: a daily cycle, noise, negative prices and
/// spikes of thousands of USD/MWh.
func yearCSV() -> Data {
    var rng = SystemRandomNumberGenerator()
    var text = "interval_start,settlement_point,rtm_usd_per_mwh\n"
    text.reserveCapacity(105_120 * 40)
    let start = TimeText.parse("2024-01-01T00:00:00")!
    for i in 0..<105_120 {
        let hour = Double(i % 288) / 12
        var price = 25 + 20 * sin((hour - 9) / 24 * 2 * .pi) + Double.random(in: -5...5, using: &rng)
        let r = Double.random(in: 0..<1, using: &rng)
        if r < 0.002 { price = Double.random(in: 1000...5000, using: &rng) } else if r < 0.01 { price = -20 * r * 100 }
        text += "\(TimeText.format(start + Double(i * 300))),HB_TEST,\(String(format: "%.2f", price))\n"
    }
    return Data(text.utf8)
}

let benchmarks: @Sendable () -> Void = {
    let csv = yearCSV()
    var config = PolicyConfig(breakEvenUSDPerMWh: 45)
    config.hysteresisUSDPerMWh = 3
    config.minOnSeconds = 1800
    config.minOffSeconds = 900
    let site = SiteModel(powerWatts: 3250)
    let loaded = try! PriceSeries.parse(csv, path: "year.csv")

    Benchmark(
        "simulate.year-5min.load+run",
        configuration: .init(metrics: [.wallClock, .mallocCountTotal, .peakMemoryResident], maxIterations: 20)
    ) { benchmark in
        let series = try PriceSeries.parse(csv, path: "year.csv")
        blackHole(Simulator.run(series: series, config: config, site: site))
    }

    Benchmark(
        "simulate.year-5min.run", configuration: .init(metrics: [.wallClock, .mallocCountTotal], maxIterations: 20)
    ) { benchmark in
        blackHole(Simulator.run(series: loaded, config: config, site: site))
    }
}
