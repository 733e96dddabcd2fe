import Foundation
import Simulation
import Testing

/// Inputs that crashed the `prices` fuzz target (Fuzz/prices), fed byte for byte: each must now be
/// refused with an error, not trap the process.
@Suite("Fuzz regressions: price files")
struct SimulationFuzzRegressionTests {
    /// ERCOT's layout with a 17-digit DeliveryDate year: `ISO8601.daysFromCivil` overflowed (arithmetic
    /// overflow trap in Sources/FlexSupport/TimeCodec.swift, called from `PriceSeries.ercotTime`).
    @Test(arguments: ["01/01/99999999999999999", "01/01/-99999999999999999", "12/31/10000", "01/01/0"])
    func ercotYearOutOfRange(date: String) {
        let csv = "DeliveryDate,DeliveryHour,DeliveryInterval,SettlementPointPrice\n\(date),1,1,5\n"
        do {
            let s = try PriceSeries.parse(Data(csv.utf8), path: "fuzz.csv")
            Issue.record("accepted \(date) as \(s.points.map(\.time))")
        } catch {
            #expect(error.message.contains("line 2: DeliveryDate \"\(date.prefix(20))\" is not MM/DD/YYYY"), "\(error)")
        }
    }

    /// The same rows with years at the ends of the range are still read.
    @Test func ercotYearsAtTheEndsOfTheRange() throws {
        let csv =
            "DeliveryDate,DeliveryHour,DeliveryInterval,SettlementPointPrice\n01/01/0001,1,1,5\n12/31/9999,24,4,6\n"
        let s = try PriceSeries.parse(Data(csv.utf8), path: "fuzz.csv")
        #expect(s.points.map(\.usdPerMWh) == [5, 6])
        #expect(TimeText.format(s.points[1].time) == "9999-12-31T23:45:00")
    }
}
