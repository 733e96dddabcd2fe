import FlexSupport
import Foundation
import LoadController
import OpenADR2b

extension OpenADR2bSource {
    /// Brings the controller in line with the schedule at this moment: cheap and synchronous (the
    /// controller's calls do not wait on anything).
    func reconcile() {
        guard let controller else { return }
        let now = Date()
        var lines: [String] = []
        state.withLock { s in
            let planned = Dictionary(s.plan.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            for (id, a) in s.applied {
                if a.end <= now {
                    s.applied[id] = nil
                } else if planned[id] != a {
                    // Cancelled (or changed) under way: lift it now (a changed one is sent again below).
                    s.applied[id] = nil
                    lines.append(JSONLine.encode(["type": "release", "id": id]))
                    s.releasesSent += 1
                }
            }
            s.pricesSent = s.pricesSent.filter { planned[$0] != nil }
            for p in s.plan where p.start <= now && now < p.end {
                switch p.action {
                case .curtail(let level):
                    guard s.applied[p.id] == nil else { continue }
                    lines.append(
                        JSONLine.encode([
                            "type": "curtail", "level": level, "id": p.id, "until": ISO8601.format(p.end),
                            "reason": "OpenADR 2.0b \(p.reason)",
                        ]))
                    s.applied[p.id] = p
                    s.curtailsSent += 1
                case .price(let usd):
                    guard !s.pricesSent.contains(p.id) else { continue }
                    s.pricesSent.insert(p.id)
                    lines.append(
                        JSONLine.encode([
                            "type": "price", "usd_per_mwh": usd, "interval_start": ISO8601.format(p.start),
                            "interval_minutes": p.end.timeIntervalSince(p.start) / 60,
                        ]))
                }
            }
        }
        for line in lines {
            let reply = controller.handle(line: Array(line.utf8), origin: origin)
            if !reply.ok { note("openadr2b: the controller refused \(line): \(reply.line)") }
        }
    }

    func scheduleLoop() async {
        while !Task.isCancelled {
            reconcile()
            // Sleep to the next start or end, at most 250 ms (so a wall-clock step is noticed soon).
            let now = Date()
            let next = state.withLock { s in
                (s.plan.map(\.start) + s.applied.values.map(\.end)).filter { $0 > now }.min()
            }
            let wait = min(0.25, max(0.001, next?.timeIntervalSince(now) ?? 1))
            try? await Task.sleep(for: .milliseconds(Int64(wait * 1000) + 1))
        }
    }
}

/// The 2.0b state file: the registration, the events known and the answers given (`VENMachine.Snapshot`
/// as JSON), written 0600 through a temporary file and a rename so a crash leaves the old or the new one.
enum OADRStateFile {
    static func load(_ path: String?, note: (String) -> Void) -> VENMachine.Snapshot? {
        guard let path, FileManager.default.fileExists(atPath: path) else { return nil }
        do { return try read(path) } catch {
            note("openadr2b: \(error); starting without it")
            return nil
        }
    }

    /// The snapshot in `path`.
    /// - Throws: `OpenADR2bError` (`.state`) naming the file: over 16 MiB, unreadable or not a snapshot.
    static func read(_ path: String) throws(OpenADR2bError) -> VENMachine.Snapshot {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw OpenADR2bError(.state, "state file \(path) is unreadable (\(error))")
        }
        guard data.count <= 16 << 20 else { throw OpenADR2bError(.state, "state file \(path) is over 16 MiB") }
        do { return try JSONDecoder().decode(VENMachine.Snapshot.self, from: data) } catch {
            throw OpenADR2bError(.state, "state file \(path) is unreadable (\(error))")
        }
    }

    static func save(_ s: VENMachine.Snapshot, _ path: String?, note: (String) -> Void) {
        guard let path else { return }
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let data = try encoder.encode(s)
            let tmp = path + ".tmp"
            guard FileManager.default.createFile(atPath: tmp, contents: data, attributes: [.posixPermissions: 0o600])
            else { throw CocoaError(.fileWriteUnknown) }
            _ = rename(tmp, path)
        } catch {
            note("openadr2b: cannot write the state file \(path): \(error)")
        }
    }

    static func remove(_ path: String?) {
        guard let path else { return }
        try? FileManager.default.removeItem(atPath: path)
    }
}
