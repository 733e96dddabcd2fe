import Foundation
import Simulation

// Price CSVs come from market downloads of any shape. Each input is parsed with the default options and
// with the options that change the code path (a named settlement point, skipping bad rows, explicit
// columns), since they select different columns and branches.
let variants: [PriceSeries.Options] = {
    var plain = PriceSeries.Options()
    plain.skipBadRows = false
    var skipping = PriceSeries.Options()
    skipping.skipBadRows = true
    skipping.settlementPoint = "HB_SOUTH"
    var named = PriceSeries.Options()
    named.timeColumn = "a"
    named.priceColumn = "b"
    named.skipBadRows = true
    return [plain, skipping, named]
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Data(bytes: data, count: size)
    for options in variants {
        guard let series = try? PriceSeries.parse(bytes, path: "fuzz.csv", options: options) else { continue }
        // What the simulator relies on: rows in time order, finite prices, a positive spacing.
        let ordered = zip(series.points, series.points.dropFirst()).allSatisfy { $0.time <= $1.time }
        guard !series.points.isEmpty, ordered, series.points.allSatisfy({ $0.usdPerMWh.isFinite }),
            series.intervalSeconds > 0, series.intervalSeconds.isFinite
        else { fatalError("accepted a series the simulator cannot use") }
        // Accepted series are printed in reports: format their times.
        for point in series.points.prefix(4) { _ = TimeText.format(point.time) }
    }
    return 0
}
