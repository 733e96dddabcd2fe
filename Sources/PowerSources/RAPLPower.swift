import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Linux powercap's RAPL package zones (`/sys/class/powercap/intel-rapl:N`, `name` = `package-N`; AMD
/// too since Linux 5.8): the `energy_uj` counters of every package, summed. Subzones (`intel-rapl:N:M`,
/// core and uncore and dram) are inside their package's count and are left out; `intel-rapl-mmio` zones
/// repeat the packages and are left out too. A counter that wraps (at `max_energy_range_uj`) is counted
/// across the wrap.
///
/// Missing or unreadable counters are errors, never a zero: at start (`init` throws) and at each sample.
package final class RAPLPower: PowerSource {
    package let kind = "rapl"
    package let modelled = false
    /// Where powercap is (`FLEXMINER_POWERCAP_ROOT` overrides it for tests).
    package let root: String

    /// One package zone.
    package struct Zone: Sendable, Hashable {
        package let name: String
        package let directory: String
        /// Where the counter wraps, in µJ.
        package let maxRange: UInt64
    }

    package let zones: [Zone]
    /// Each zone's last counter and the time it was read; energy since the start.
    private let counters: Mutex<(values: [UInt64], at: Double, energy: Double)>

    package static let defaultRoot = "/sys/class/powercap"
    package static let rootVariable = "FLEXMINER_POWERCAP_ROOT"

    /// Finds the package zones and reads their counters once (so a host without them is refused at start);
    /// `begin(at:)` takes them again when sampling starts.
    /// - Throws: `PowerError` ("missing" or "unreadable") saying what is missing or how to grant access.
    package init(
        environment: [String: String] = ProcessInfo.processInfo.environment, now: Double = Monotonic.seconds()
    ) throws(PowerError) {
        let root = environment[Self.rootVariable] ?? Self.defaultRoot
        self.root = root
        zones = try Self.packages(root: root)
        var values: [UInt64] = []
        for z in zones { values.append(try Self.read(z.directory + "/energy_uj")) }
        counters = Mutex((values, now, 0))
    }

    /// The package zones under `root`, in index order.
    static func packages(root: String) throws(PowerError) -> [Zone] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: root) else {
            throw PowerError(
                "missing",
                "rapl: \(root) does not exist: this host has no powercap interface (a virtual machine, or a kernel without CONFIG_POWERCAP / the intel_rapl_common module)"
            )
        }
        // intel-rapl:N is a package; intel-rapl:N:M a subzone.
        let names = entries.filter { e in
            let parts = e.split(separator: ":", omittingEmptySubsequences: false)
            return parts.count == 2 && parts[0] == "intel-rapl" && UInt(parts[1]) != nil
        }.sorted { UInt($0.split(separator: ":")[1])! < UInt($1.split(separator: ":")[1])! }
        var zones: [Zone] = []
        for n in names {
            let dir = root + "/" + n
            // A zone whose name cannot be read might be a package: an error, never a zone left out silently.
            let name: String
            do throws(PowerError) {
                name = try readText(dir + "/name").trimmingCharacters(in: .whitespacesAndNewlines)
            } catch {
                throw PowerError("unreadable", error.message)
            }
            guard name.hasPrefix("package-") else { continue }
            let range = try read(dir + "/max_energy_range_uj")
            guard range > 0 else {
                throw PowerError("unreadable", "rapl: \(dir)/max_energy_range_uj is 0: cannot count across a wrap")
            }
            zones.append(Zone(name: name, directory: dir, maxRange: range))
        }
        guard !zones.isEmpty else {
            throw PowerError(
                "missing",
                "rapl: no package zone under \(root) (intel-rapl:N with name package-N): this CPU or kernel exposes no RAPL package energy"
            )
        }
        return zones
    }

    /// Takes the starting counters again, now (the sampler's thread, one interval before the first sample):
    /// the first sample's watts and energy then cover that interval, not the start-up. A counter that
    /// cannot be read keeps the starting point of `init`; the sample will name the error.
    package func begin(at now: Double) {
        var values: [UInt64] = []
        for z in zones {
            guard let v = try? Self.read(z.directory + "/energy_uj") else { return }
            values.append(v)
        }
        counters.withLock { c in
            c.values = values
            c.at = now
        }
    }

    package func sample(at now: Double) -> Result<PowerReading, PowerError> {
        var values: [UInt64] = []
        for z in zones {
            do { values.append(try Self.read(z.directory + "/energy_uj")) } catch { return .failure(error) }
        }
        return counters.withLock { c in
            var microjoules = 0.0
            for (i, z) in zones.enumerated() {
                microjoules += Double(Self.delta(from: c.values[i], to: values[i], range: z.maxRange))
            }
            let dt = now - c.at
            guard dt > 0 else { return .failure(PowerError("unreadable", "rapl: no time between two samples")) }
            c.values = values
            c.at = now
            c.energy += microjoules / 1e6
            return .success(PowerReading(watts: microjoules / 1e6 / dt, energyJoules: c.energy))
        }
    }

    /// The energy between two readings of a counter that wraps past `range` back to 0.
    package static func delta(from old: UInt64, to new: UInt64, range: UInt64) -> UInt64 {
        new >= old ? new - old : (range >= old ? range - old : 0) + new
    }

    /// A counter file's value.
    static func read(_ path: String) throws(PowerError) -> UInt64 {
        let text = try readText(path).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let v = UInt64(text) else {
            throw PowerError("unreadable", "rapl: \(path): not a counter: \"\(text.prefix(40))\"")
        }
        return v
    }

    /// A sysfs file's text, with the errno's meaning when it cannot be read.
    static func readText(_ path: String) throws(PowerError) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            let e = errno
            if e == EACCES || e == EPERM {
                throw PowerError(
                    "unreadable",
                    "rapl: \(path): permission denied. energy_uj is readable by root only since Linux 5.10 (CVE-2020-8694); grant the miner's group read access at boot, e.g. a systemd-tmpfiles line `z /sys/class/powercap/intel-rapl:*/energy_uj 0440 root flexminer`, or run with --power model"
                )
            }
            throw PowerError(e == ENOENT ? "missing" : "unreadable", "rapl: \(path): \(String(cString: strerror(e)))")
        }
        defer { Glibc.close(fd) }
        var buffer = [UInt8](repeating: 0, count: 64)
        let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        guard n >= 0 else { throw PowerError("unreadable", "rapl: \(path): \(String(cString: strerror(errno)))") }
        return String(decoding: buffer[0..<n], as: UTF8.self)
    }
}
