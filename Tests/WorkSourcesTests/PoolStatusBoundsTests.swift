import Testing
import WorkSources

/// The pool names the reasons of its rejections: the table of reasons (and the metric labels made from
/// it) stays bounded whatever the pool writes.
@Suite("Pool status: reasons are bounded")
struct PoolStatusBoundsTests {
    @Test func aPoolThatNamesEveryRejectionDifferentlyCannotGrowTheTable() {
        var status = PoolStatus(url: "stratum+tcp://pool.example:3333")
        for i in 0..<1000 { status.count(reason: "duplicate share \(i)") }
        for _ in 0..<5 { status.count(reason: "stale: job replaced by the pool") }
        #expect(status.reasons.count == PoolStatus.maxReasons + 1)
        #expect(status.reasons.values.reduce(0, +) == 1005)
        // The first reasons keep their own counts; the rest (new ones included) go to "other".
        #expect(status.reasons["duplicate share 0"] == 1)
        #expect(status.reasons["duplicate share 99"] == 1)
        #expect(status.reasons["duplicate share 100"] == nil)
        #expect(status.reasons["other"] == 905)
        // A reason already counted keeps being counted under its name.
        status.count(reason: "duplicate share 7")
        #expect(status.reasons["duplicate share 7"] == 2)
    }

    @Test func aLongReasonIsCut() {
        var status = PoolStatus(url: "stratum+tcp://pool.example:3333")
        status.count(reason: String(repeating: "é", count: 500))
        let key = status.reasons.keys.first ?? ""
        #expect(key.utf8.count <= PoolStatus.maxReasonBytes)
        #expect(key.hasPrefix("éé"))
        status.count(reason: String(repeating: "é", count: 600))
        #expect(status.reasons.count == 1)
        #expect(status.reasons[key] == 2)
    }
}
