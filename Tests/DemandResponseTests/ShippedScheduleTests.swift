import DemandResponse
import Foundation
import TestSupport
import Testing

@Suite("Shipped schedule")
struct ShippedScheduleTests {
    @Test func theShippedFourCPScheduleIsTheIssuesWindow() throws {
        let path = Fixtures.directory.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/ercot-4cp-schedule.json").path
        let s = try Schedule(contentsOf: path)
        let w = try #require(s.windows.first)
        #expect(s.windows.count == 1 && w.id == "ercot-4cp" && w.peakWatch)
        #expect(w.months == [6, 7, 8, 9] && w.weekdays == [2, 3, 4, 5, 6])
        #expect(w.startMinutes == 15 * 60 && w.endMinutes == 18 * 60 && w.clock.identifier == "America/Chicago")
        #expect(w.action == .curtail(level: 1, reason: "ERCOT 4CP peak watch"))
    }
}
