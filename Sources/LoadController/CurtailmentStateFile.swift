import DemandResponse
import FlexSupport
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The active curtailments, kept across restarts (`run --state-file PATH`), so a miner restarted during a
/// curtailment (a crash, an upgrade, a reboot) comes back curtailed.
///
/// ```json
/// {"version":1,"curtailments":[{"key":"unix:/run/f.sock#3#evt-7","level":1,"id":"evt-7",
///   "until":"2026-11-29T05:00:00.000Z","reason":"ERCOT EEA"}]}
/// ```
/// Every change of the set is written off the control path (a thread of the file's own; only the latest
/// set is written when changes come faster than the disk), atomically: a temporary file (mode 0600),
/// fsync, rename over, fsync of the directory. A crash leaves the previous set or the new one.
///
/// At start, curtailments whose `until` has passed are dropped. A file that exists but cannot be read or
/// parsed is reported, kept aside as `PATH.corrupt`, and replaced by one curtailment at level 1 with id
/// `state-file-unreadable`: a grid operator's curtailment may be in it, so the safe reading is "halted"
/// until someone looks and sends `{"type":"release","id":"state-file-unreadable"}`.
public final class CurtailmentStateFile: Sendable {
    public let path: String
    /// The id of the curtailment that stands in for a state file that cannot be read.
    public static let unreadableID = "state-file-unreadable"

    private let pending = Mutex<(set: [String: CurtailSignal]?, writing: Bool, closing: Bool)>((nil, false, false))
    private let wake = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private let report: @Sendable (String) -> Void
    private let errorCount = Atomic<Int>(0)
    private let closed = Atomic<Bool>(false)

    /// Writes that failed since the start (each also reported).
    public var errors: Int { errorCount.load(ordering: .relaxed) }

    /// - Parameter report: told about a file that cannot be read, and about each failed write.
    /// - Throws: `SignalError` when the OS refuses the writer thread: curtailments that would silently not
    ///   be kept across a restart are refused at start instead.
    public init(path: String, report: @escaping @Sendable (String) -> Void = { _ in }) throws(SignalError) {
        self.path = path
        self.report = report
        do throws(ThreadStartError) {
            try JoinableThread.detach(name: "flexminer-state") { [self] in self.run() }
        } catch {
            throw SignalError("state file \(path): \(error)")
        }
    }

    /// What the file holds, by policy key; an unreadable file gives the stand-in curtailment (see above).
    /// Curtailments set by a socket connection come back under the source `restored:…`: no connection of
    /// this run can lift them with an id-less release; their id (an id-less one has its connection's name)
    /// and their `until` still do.
    public func load(now: Date) -> [String: CurtailSignal] {
        guard let data = FileManager.default.contents(atPath: path) else {
            if access(path, F_OK) != 0 && errno == ENOENT { return [:] }
            return unreadable("cannot read it (\(String(cString: strerror(errno))))", now: now)
        }
        do throws(InputError) {
            let top = try JSONFields(json: data, what: "the state file")
            try top.onlyKeys(["version", "curtailments"])
            _ = try top.requiredInteger("version", in: 1...1)
            var out: [String: CurtailSignal] = [:]
            let list = try top.array("curtailments") ?? []
            for (i, item) in list.prefix(Policy.maxCurtailments).enumerated() {
                guard let object = item as? [String: Any] else {
                    throw InputError("curtailments[\(i)] must be an object")
                }
                let f = JSONFields(object, path: "curtailments[\(i)].")
                let key = try f.requiredString("key")
                let level = try f.requiredNumber("level")
                guard (0...1).contains(level) else {
                    throw InputError("field \"curtailments[\(i)].level\" must be within [0, 1], got \(level)")
                }
                let c = CurtailSignal(
                    level: level, id: try f.string("id"), until: try f.date("until"), reason: try f.string("reason"))
                if let until = c.until, until <= now { continue }
                out[Self.restoredKey(key)] = c
            }
            return out
        } catch {
            return unreadable(error.message, now: now)
        }
    }

    /// Queues `curtailments` to be written (replacing any set not yet written). Never waits for the disk.
    public func save(_ curtailments: [String: CurtailSignal]) {
        let queued = pending.withLock { p in
            guard !p.closing else { return false }
            p.set = curtailments
            return true
        }
        if queued { wake.signal() }
    }

    /// Writes the last queued set and stops (at shutdown); waits at most `timeout` for the disk.
    public func close(timeout: Duration = .seconds(5)) {
        guard !closed.exchange(true, ordering: .relaxed) else { return }
        pending.withLock { $0.closing = true }
        wake.signal()
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) * 1e-18
        if finished.wait(timeout: .now() + seconds) == .timedOut {
            report("state file \(path): the disk did not take the last curtailments within \(seconds) s")
        }
    }

    /// Waits (at most `timeout`) until the queued set is on disk (tests).
    @discardableResult
    public func flush(timeout: Duration = .seconds(5)) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if pending.withLock({ $0.set == nil && !$0.writing }) { return true }
            usleep(500)
        }
        return false
    }

    // MARK: Internals

    private func unreadable(_ why: String, now: Date) -> [String: CurtailSignal] {
        let aside = path + ".corrupt"
        let moved = rename(path, aside) == 0
        report(
            "state file \(path): \(why); starting curtailed (level 1, id \(Self.unreadableID)) until released"
                + (moved ? "; the file was moved to \(aside)" : ""))
        return [
            "state-file#\(Self.unreadableID)": CurtailSignal(
                level: 1, id: Self.unreadableID, reason: "state file \(path) unreadable: \(why)")
        ]
    }

    /// A socket connection's key ("unix:/p#3#id") under a source no connection of this run can have.
    static func restoredKey(_ key: String) -> String {
        guard key.hasPrefix("unix:") || key.hasPrefix("tcp:") else { return key }
        return "restored:" + key
    }

    static func encode(_ set: [String: CurtailSignal]) -> [UInt8] {
        let list: [[String: Any]] = set.sorted { $0.key < $1.key }.map { key, c in
            var o: [String: Any] = ["key": key, "level": c.level]
            if let id = c.id { o["id"] = id }
            if let u = c.until { o["until"] = ISO8601.format(u) }
            if let r = c.reason { o["reason"] = r }
            return o
        }
        let object: [String: Any] = ["version": 1, "curtailments": list]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return [UInt8](data) + [UInt8(ascii: "\n")]
    }

    private func run() {
        while true {
            wake.wait()
            let (set, closing) = pending.withLock { p in
                let s = p.set
                p.set = nil
                p.writing = s != nil
                return (s, p.closing)
            }
            if let set {
                do throws(SignalErrorBox) {
                    try DurableFile.replace(path, with: Self.encode(set))
                } catch {
                    errorCount.add(1, ordering: .relaxed)
                    report("state file \(error.message); a restart now would not restore the latest curtailments")
                }
                pending.withLock { $0.writing = false }
            }
            if closing && pending.withLock({ $0.set == nil }) {
                finished.signal()
                return
            }
        }
    }
}
