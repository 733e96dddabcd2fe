import Foundation
import PowerSources
import TestSupport
import Testing

/// A powercap tree laid out as the kernel does: `intel-rapl` (the control type), packages `intel-rapl:N`
/// with subzones `intel-rapl:N:M` beside them (sysfs shows both at the top), and an `intel-rapl-mmio:0`
/// that repeats package 0.
struct PowercapTree {
    let root = scratchDirectory() + "/powercap"

    init(packages: [(energy: UInt64, range: UInt64)]) {
        let fm = FileManager.default
        try! fm.createDirectory(atPath: root + "/intel-rapl", withIntermediateDirectories: true)
        try! "1\n".write(toFile: root + "/intel-rapl/enabled", atomically: true, encoding: .utf8)
        for (i, p) in packages.enumerated() {
            zone("intel-rapl:\(i)", name: "package-\(i)", energy: p.energy, range: p.range)
            zone("intel-rapl:\(i):0", name: "core", energy: 5, range: p.range)
            zone("intel-rapl:\(i):1", name: "uncore", energy: 7, range: p.range)
        }
        zone("intel-rapl-mmio:0", name: "package-0", energy: 99_000_000, range: 262_143_328_850)
    }

    func zone(_ dir: String, name: String, energy: UInt64, range: UInt64) {
        let d = root + "/" + dir
        try! FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        try! "\(name)\n".write(toFile: d + "/name", atomically: true, encoding: .utf8)
        try! "\(range)\n".write(toFile: d + "/max_energy_range_uj", atomically: true, encoding: .utf8)
        set(dir, energy)
    }

    func set(_ dir: String, _ energy: UInt64) {
        try! "\(energy)\n".write(toFile: root + "/" + dir + "/energy_uj", atomically: true, encoding: .utf8)
    }

    var environment: [String: String] { [RAPLPower.rootVariable: root] }
}

@Suite struct RAPLPowerTests {
    @Test func twoPackagesAreSummedAndSubzonesAndMMIOLeftOut() throws {
        let tree = PowercapTree(packages: [(1_000_000, 262_143_328_850), (2_000_000, 262_143_328_850)])
        let rapl = try RAPLPower(environment: tree.environment, now: 100)
        #expect(rapl.zones.map(\.name) == ["package-0", "package-1"])
        // Package 0 draws 30 J and package 1 20 J over 2 s: 25 W. Subzones moving must not count.
        tree.set("intel-rapl:0", 31_000_000)
        tree.set("intel-rapl:1", 22_000_000)
        tree.set("intel-rapl:0:0", 20_000_000)
        tree.set("intel-rapl-mmio:0", 500_000_000)
        let r = try rapl.sample(at: 102).get()
        #expect(abs(r.watts - 25) < 1e-9)
        #expect(abs(r.energyJoules! - 50) < 1e-9)
        tree.set("intel-rapl:0", 41_000_000)
        let s = try rapl.sample(at: 103).get()
        #expect(abs(s.watts - 10) < 1e-9)
        #expect(abs(s.energyJoules! - 60) < 1e-9)
    }

    /// The counters move between the source's making and the start of sampling (the miner starting up):
    /// that energy is not the first sample's, which covers only the time since begin(at:).
    @Test func theFirstSampleCountsFromTheStartOfSampling() throws {
        let tree = PowercapTree(packages: [(1_000_000, 262_143_328_850)])
        let rapl = try RAPLPower(environment: tree.environment, now: 0)
        tree.set("intel-rapl:0", 90_000_000)
        rapl.begin(at: 50)
        // 4 J over the 2 s since begin: 2 W; the 89 J before it are not counted.
        tree.set("intel-rapl:0", 94_000_000)
        let r = try rapl.sample(at: 52).get()
        #expect(abs(r.watts - 2) < 1e-9)
        #expect(abs(r.energyJoules! - 4) < 1e-9)
    }

    @Test func aCounterThatWrapsIsCountedAcrossTheWrap() throws {
        // The range is small so the wrap is easy to follow by hand: 900 → (wrap at 1000) → 300 is 400 µJ.
        let tree = PowercapTree(packages: [(900, 1000), (0, 1000)])
        let rapl = try RAPLPower(environment: tree.environment, now: 0)
        tree.set("intel-rapl:0", 300)
        tree.set("intel-rapl:1", 100)
        let r = try rapl.sample(at: 1).get()
        #expect(abs(r.watts - 500e-6) < 1e-12)
        #expect(RAPLPower.delta(from: 262_143_328_000, to: 150, range: 262_143_328_850) == 1000)
        #expect(RAPLPower.delta(from: 10, to: 25, range: 100) == 15)
    }

    @Test func aMissingTreeIsAnErrorThatSaysSoNeverAZero() {
        let env = [RAPLPower.rootVariable: scratchDirectory() + "/nothing-here"]
        #expect {
            _ = try RAPLPower(environment: env)
        } throws: { e in
            let e = e as! PowerError
            return e.reason == "missing" && e.message.contains("no powercap interface")
        }
        // A tree with only subzones and mmio has no package to count.
        let tree = PowercapTree(packages: [])
        #expect {
            _ = try RAPLPower(environment: tree.environment)
        } throws: { e in (e as! PowerError).message.contains("no package zone") }
    }

    @Test func aCounterThatDisappearsMidRunIsASampleError() throws {
        let tree = PowercapTree(packages: [(1, 1000)])
        let rapl = try RAPLPower(environment: tree.environment, now: 0)
        try FileManager.default.removeItem(atPath: tree.root + "/intel-rapl:0/energy_uj")
        guard case .failure(let e) = rapl.sample(at: 1) else {
            Issue.record("a missing counter gave a reading")
            return
        }
        #expect(e.reason == "missing")
        try "garbage\n".write(toFile: tree.root + "/intel-rapl:0/energy_uj", atomically: true, encoding: .utf8)
        guard case .failure(let g) = rapl.sample(at: 2) else {
            Issue.record("a garbled counter gave a reading")
            return
        }
        #expect(g.reason == "unreadable")
    }

    @Test func aZoneWhoseNameCannotBeReadIsAnErrorNotLeftOut() throws {
        let tree = PowercapTree(packages: [(1, 1000), (2, 1000)])
        try FileManager.default.removeItem(atPath: tree.root + "/intel-rapl:1/name")
        #expect {
            _ = try RAPLPower(environment: tree.environment)
        } throws: { e in
            let e = e as! PowerError
            return e.reason == "unreadable" && e.message.contains("intel-rapl:1/name")
        }
    }

    /// The counter readable by root only (Linux 5.10 and later): the message says how to grant access.
    /// Root reads it anyway, so this runs for a developer, not as root (CI).
    @Test(.enabled(if: getuid() != 0, "root reads a mode-000 file"))
    func aCounterWithoutPermissionSaysHowToGrantIt() throws {
        let tree = PowercapTree(packages: [(1, 1000)])
        #expect(chmod(tree.root + "/intel-rapl:0/energy_uj", 0) == 0)
        #expect {
            _ = try RAPLPower(environment: tree.environment)
        } throws: { e in
            let e = e as! PowerError
            return e.reason == "unreadable" && e.message.contains("permission denied")
                && e.message.contains("systemd-tmpfiles") && e.message.contains("--power model")
        }
    }

    @Test func thisHostsRealSysfsGivesAClearError() {
        // This VM has no RAPL; on a host that has it and lets us read, the reading must be positive.
        do {
            let rapl = try RAPLPower(environment: [:])
            usleep(200_000)
            let r = try rapl.sample(at: Monotonic.seconds()).get()
            #expect(r.watts > 0)
        } catch {
            print("rapl on this host: \(error.message)")
            #expect(!error.message.isEmpty)
            #expect(["missing", "unreadable"].contains(error.reason))
        }
    }
}
