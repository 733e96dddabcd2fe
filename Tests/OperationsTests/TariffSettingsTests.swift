import DemandResponse
import Foundation
import MiningKernels
import Operations
import TestSupport
import Testing

@Suite("run: tariff and schedule settings")
struct TariffSettingsTests {
    let georgia = Fixtures.directory.appendingPathComponent(
        "urdb/georgia_power_TOU-GSD-10_5d55886c5457a3221535a087.json"
    ).path
    let schedule = Fixtures.directory.deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("docs/ercot-4cp-schedule.json").path

    func resolve(_ edit: (inout RunConfig) -> Void, file: RunConfig? = nil) throws(ConfigError) -> RunSettings {
        var flags = RunFlags()
        flags.values.benchmarkWork = true
        edit(&flags.values)
        return try RunSettings.resolve(flags, file: file, environment: [:], isTerminal: false) { _ in
            try! Kernel.named(.scalar)
        }
    }

    @Test func tariffAndScheduleSourcesAreReadAtStart() throws {
        let s = try resolve {
            $0.signals = ["tariff:\(georgia)", "schedule:\(schedule)"]
            $0.timezone = "America/New_York"
        }
        #expect(s.specs.isEmpty && s.hasSignalSources)
        #expect(s.calendar?.tariff?.tariff.label == "5d55886c5457a3221535a087")
        #expect(s.calendar?.schedule?.windows.first?.id == "ercot-4cp")
        #expect(s.calendarName == "tariff:\(georgia)+schedule:\(schedule)")
        // The month-to-date peak follows the peak watch's calendar.
        #expect(s.policy.config.peakTimeZone.identifier == "America/Chicago")
    }

    @Test func aPolicysOwnPeakTimezoneIsKept() throws {
        let dir = scratchDirectory()
        let policy = dir + "/policy.json"
        try #"{"breakeven_usd_per_mwh": 50, "peak_timezone": "America/Denver"}"#.write(
            toFile: policy, atomically: true, encoding: .utf8)
        let s = try resolve {
            $0.signals = ["schedule:\(schedule)"]
            $0.policyFile = policy
        }
        #expect(s.policy.config.peakTimeZone.identifier == "America/Denver")
    }

    @Test func theConfigFileKeysDoTheSame() throws {
        let file = try RunConfig(
            json: Data(#"{"tariff": "\#(georgia)", "timezone": "America/New_York", "schedule": "\#(schedule)"}"#.utf8))
        let s = try resolve({ _ in }, file: file)
        #expect(s.calendar?.tariff != nil && s.calendar?.schedule != nil)
    }

    @Test func badTariffSettingsNameTheFlagOrField() {
        func refusal(_ edit: (inout RunConfig) -> Void) -> String {
            do {
                _ = try resolve(edit)
                return "accepted"
            } catch {
                return error.message
            }
        }
        #expect(refusal { $0.signals = ["tariff:\(georgia)"] }.contains("--timezone"))
        #expect(
            refusal {
                $0.signals = ["tariff:\(georgia)"]
                $0.timezone = "Atlantis/Capital"
            }.contains("Atlantis/Capital"))
        #expect(refusal { $0.timezone = "America/Chicago" }.contains("tariff"))
        #expect(
            refusal {
                $0.signals = ["tariff:/nonexistent/rate.json"]
                $0.timezone = "America/Chicago"
            }.contains("/nonexistent/rate.json"))
    }
}
