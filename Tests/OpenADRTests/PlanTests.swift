import FlexSupport
import Foundation
import OpenADR
import OpenADRSignals
import Testing

/// Events read from JSON as a VTN writes them, and the plan they make. Expected times are written out
/// by hand (epoch seconds of the ISO strings), not computed with the code under test.
@Suite("OpenADR 3 events and the plan")
struct PlanTests {
    func event(_ json: String) throws -> Event {
        try Event(fields: JSONFields(json: Data(json.utf8)))
    }

    // 2026-12-01T12:00:00Z
    let noon = Date(timeIntervalSince1970: 1_796_126_400)

    @Test func intervalsInheritTheEventPeriodConsecutively() throws {
        let e = try event(
            """
            {"id":"e1","programID":"p","intervalPeriod":{"start":"2026-12-01T12:00:00Z","duration":"PT15M"},
             "intervals":[{"id":0,"payloads":[{"type":"SIMPLE","values":[3]}]},
                          {"id":1,"payloads":[{"type":"SIMPLE","values":[1]}]},
                          {"id":2,"intervalPeriod":{"start":"2026-12-01T14:00:00Z","duration":"PT1H"},
                           "payloads":[{"type":"SIMPLE","values":[2]}]},
                          {"id":3,"payloads":[{"type":"SIMPLE","values":[0]}]}]}
            """)
        let plan = OpenADRPlanner().plan([e]).intervals.sorted { $0.start < $1.start }
        #expect(plan.map(\.id) == ["openadr:e1:0", "openadr:e1:1", "openadr:e1:2"])  // SIMPLE 0 sheds nothing
        #expect(plan.map { $0.start.timeIntervalSince(noon) } == [0, 900, 7200])
        #expect(plan.map { $0.end.timeIntervalSince(noon) } == [900, 1800, 10800])
        #expect(plan.map(\.action) == [.curtail(level: 1), .curtail(level: 0.5), .curtail(level: 1)])
    }

    @Test func timestampsWithoutZoneOrWithASpaceAreUTC() throws {
        for start in [
            "2026-12-01T12:00:00", "2026-12-01 12:00:00", "2026-12-01T12:00:00.000Z", "2026-12-01T13:00:00+01:00",
        ] {
            let e = try event(
                #"{"id":"e","programID":"p","intervalPeriod":{"start":"\#(start)","duration":"PT1M"},"intervals":[{"id":7,"payloads":[{"type":"SIMPLE","values":[2]}]}]}"#
            )
            #expect(OpenADRPlanner().plan([e]).intervals.first?.start == noon, "\(start)")
        }
    }

    @Test func randomizeStartShiftsWithinItsWindowAndIsStablePerVEN() throws {
        let e = try event(
            #"{"id":"e","programID":"p","intervalPeriod":{"start":"2026-12-01T12:00:00Z","duration":"PT10M","randomizeStart":"PT5M"},"intervals":[{"id":0,"payloads":[{"type":"SIMPLE","values":[3]}]},{"id":1,"payloads":[{"type":"SIMPLE","values":[3]}]}]}"#
        )
        var offsets = Set<Double>()
        for name in ["ven-a", "ven-b", "ven-c", "ven-d"] {
            let p = OpenADRPlanner(venName: name).plan([e]).intervals.sorted { $0.start < $1.start }
            let shift = p[0].start.timeIntervalSince(noon)
            #expect(shift >= 0 && shift < 300)
            #expect(p[1].start.timeIntervalSince(noon) == shift + 600)  // the whole event moves together
            #expect(OpenADRPlanner(venName: name).plan([e]).intervals.map(\.start).min() == p[0].start)
            offsets.insert(shift)
        }
        #expect(offsets.count > 1)
    }

    /// A SIMPLE value from a VTN that is whole but huge (or negative, or fractional) is ignored and
    /// said so; converting it would trap.
    @Test func outOfRangeSimpleValuesAreIgnoredNotTrapped() throws {
        for value in ["1e300", "-1e300", "-1", "1.5", "4"] {
            let e = try event(
                #"{"id":"x","programID":"p","intervalPeriod":{"start":"2026-12-01T12:00:00Z","duration":"PT1H"},"intervals":[{"id":0,"payloads":[{"type":"SIMPLE","values":[\#(value)]}]}]}"#
            )
            let (plan, ignored) = OpenADRPlanner().plan([e])
            #expect(plan.isEmpty, "\(value)")
            #expect(ignored.contains { $0.contains("not in the level map") }, "\(value)")
        }
    }

    @Test func eachPayloadType() throws {
        let e = try event(
            """
            {"id":"e","programID":"p","intervalPeriod":{"start":"2026-12-01T12:00:00Z","duration":"PT1H"},
             "payloadDescriptors":[{"objectType":"EVENT_PAYLOAD_DESCRIPTOR","payloadType":"PRICE","units":"KWH","currency":"USD"},
                                   {"payloadType":"IMPORT_CAPACITY_LIMIT","units":"KW"}],
             "intervals":[{"id":0,"payloads":[{"type":"PRICE","values":[0.25]}]},
                          {"id":1,"payloads":[{"type":"IMPORT_CAPACITY_LIMIT","values":[0.8]}]},
                          {"id":2,"payloads":[{"type":"GHG","values":[400]},{"type":"SIMPLE","values":[1]}]}]}
            """)
        let (plan, ignored) = OpenADRPlanner(powerWatts: 3200, venName: "v").plan([e])
        let byInterval = Dictionary(grouping: plan, by: \.intervalID)
        #expect(byInterval[0]?.map(\.action) == [.price(usdPerMWh: 250)])
        #expect(byInterval[1]?.map(\.action) == [.curtail(level: 0.75)])  // 1 - 800 W / 3200 W
        #expect(byInterval[2]?.map(\.action) == [.curtail(level: 0.5)])
        #expect(ignored.contains { $0.contains("GHG") })

        let mwh = try event(
            #"{"id":"m","programID":"p","payloadDescriptors":[{"payloadType":"PRICE","units":"MWH","currency":"USD"}],"intervalPeriod":{"start":"2026-12-01T12:00:00Z","duration":"PT1H"},"intervals":[{"id":0,"payloads":[{"type":"PRICE","values":[-12.5]}]}]}"#
        )
        #expect(OpenADRPlanner().plan([mwh]).intervals.map(\.action) == [.price(usdPerMWh: -12.5)])
        // Without a power draw a capacity limit cannot be turned into a level: ignored, and said why.
        let (none, why) = OpenADRPlanner().plan([e])
        #expect(!none.contains { $0.intervalID == 1 })
        #expect(why.contains { $0.contains("--power-watts") })
        // A configurable SIMPLE map.
        let custom = OpenADRPlanner(simpleLevels: [0: 0, 1: 0.2, 2: 0.6, 3: 1]).plan([e]).intervals
        #expect(custom.first { $0.intervalID == 2 }?.action == .curtail(level: 0.2))
    }

    @Test func malformedEventsNameTheField() {
        let cases: [(String, String)] = [
            (#"{"programID":"p"}"#, #""id""#),
            (#"{"id":"e","programID":"p","intervalPeriod":{"start":"noon"}}"#, #""intervalPeriod.start""#),
            (#"{"id":"e","programID":"p","intervalPeriod":{"duration":"15 minutes"}}"#, #""intervalPeriod.duration""#),
            (
                #"{"id":"e","programID":"p","intervals":[{"id":0,"payloads":[{"values":[1]}]}]}"#,
                #""intervals[0].payloads[0].type""#
            ),
            (#"{"id":"e","programID":"p","intervals":[{"id":"zero","payloads":[]}]}"#, #""intervals[0].id""#),
            (#"{"id":"e","programID":"p","intervals":[5]}"#, #""intervals[0]""#),
            (#"{"id":"e","programID":3}"#, #""programID""#),
        ]
        for (json, field) in cases {
            #expect(throws: InputError.self) { try event(json) }
            do {
                _ = try event(json)
            } catch {
                #expect("\(error)".contains(field), "\(json): \(error)")
            }
        }
    }

    @Test func isoDurations() {
        #expect(ISODuration.seconds("PT15M") == 900)
        #expect(ISODuration.seconds("PT1H30M") == 5400)
        #expect(ISODuration.seconds("P1D") == 86_400)
        #expect(ISODuration.seconds("PT0.5S") == 0.5)
        #expect(ISODuration.seconds("P1W") == 604_800)
        #expect(ISODuration.seconds("P9999Y") == .infinity)
        for bad in ["", "P", "PT", "15M", "PT15", "P1H", "PTM"] { #expect(ISODuration.seconds(bad) == nil, "\(bad)") }
    }

    /// A VTN may send a duration of any size; writing it back (the state file) must not trap and must read
    /// back as the same value (the fuzzer found `Int(9.007e15 × 86400)` trapping).
    @Test func anyDurationIsWrittenBackAndReadsTheSame() {
        let sizes: [Double] = [0, 1, 900, 0.5, 9_007_199_254_740_993 * 86_400, 1e300, .greatestFiniteMagnitude]
        for s in sizes {
            let text = ISODuration.format(seconds: s)
            #expect(ISODuration.seconds(text) == s, "\(s) → \(text)")
        }
        #expect(ISODuration.format(seconds: .infinity) == "P9999Y")
        #expect(ISODuration.format(seconds: .nan) == "PT0S")
        #expect(ISODuration.format(seconds: -5) == "PT0S")
    }
}
