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
/// Each set handed to `save` gets a generation (1, 2, …). A reply that acknowledges a curtailment waits
/// (asynchronously, see `StateDurability`) until the file holds that generation or a later one, so a
/// client told "halted" is not told so about a curtailment a `kill -9` could still lose. The halt itself
/// never waits for the file.
///
/// At start, curtailments whose `until` has passed are dropped. A file that exists but cannot be read or
/// parsed is reported, kept aside as `PATH.corrupt`, and replaced by one curtailment at level 1 with id
/// `state-file-unreadable`: a grid operator's curtailment may be in it, so the safe reading is "halted"
/// until someone looks and sends `{"type":"release","id":"state-file-unreadable"}`.
package final class CurtailmentStateFile: Sendable {
    package let path: String
    /// The id of the curtailment that stands in for a state file that cannot be read.
    package static let unreadableID = "state-file-unreadable"

    /// The writer's queue and progress, and who waits for it.
    struct Pending {
        /// The set to write next (nil when there is none), and its generation.
        var set: [String: CurtailSignal]?
        var setGeneration: UInt64 = 0
        var writing = false
        var closing = false
        /// The generation of the last set handed to `save`.
        var queued: UInt64 = 0
        /// The generation of the last set whose write has ended (on disk or failed).
        var attempted: UInt64 = 0
        /// The generation of the last set written and fsync'd (later sets supersede earlier ones: once
        /// generation g is on disk, every earlier one is settled too).
        var written: UInt64 = 0
        var waiters: [Int: (generation: UInt64, done: @Sendable (Bool) -> Void)] = [:]
        var nextWaiter = 0
    }

    /// Callbacks waiting for a write at once, at most. Each waiting reply holds one (a connection has at
    /// most one at a time, an HTTP request one); beyond this bound a waiter is answered "not durable" at
    /// once, so a disk that hangs cannot grow the table.
    package static let maxWaiters = 4096

    private let pending = Mutex<Pending>(Pending())
    /// Called on the writer's thread before each write (tests hold the disk back with it).
    private let beforeWrite: @Sendable () -> Void
    private let wake = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private let report: @Sendable (String) -> Void
    private let errorCount = Atomic<Int>(0)
    private let closed = Atomic<Bool>(false)

    /// Writes that failed since the start (each also reported).
    package var errors: Int { errorCount.load(ordering: .relaxed) }

    /// - Parameter report: told about a file that cannot be read, and about each failed write.
    /// - Throws: `SignalError` when the OS refuses the writer thread: curtailments that would silently not
    ///   be kept across a restart are refused at start instead.
    package convenience init(path: String, report: @escaping @Sendable (String) -> Void = { _ in }) throws(SignalError)
    {
        try self.init(path: path, report: report, beforeWrite: {})
    }

    /// - Parameter beforeWrite: called on the writer's thread before each write (tests make the disk slow).
    package init(
        path: String, report: @escaping @Sendable (String) -> Void = { _ in },
        beforeWrite: @escaping @Sendable () -> Void
    ) throws(SignalError) {
        self.path = path
        self.report = report
        self.beforeWrite = beforeWrite
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
    package func load(now: Date) -> [String: CurtailSignal] {
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
    /// - Returns: the set's generation, for `settled(_:)` and `whenSettled(_:_:)`; after `close`, the last
    ///   generation queued (the set is not written).
    @discardableResult
    package func save(_ curtailments: [String: CurtailSignal]) -> UInt64 {
        let (queued, generation) = pending.withLock { p in
            guard !p.closing else { return (false, p.queued) }
            p.queued += 1
            p.set = curtailments
            p.setGeneration = p.queued
            return (true, p.queued)
        }
        if queued { wake.signal() }
        return generation
    }

    /// Whether the set of `generation` (or a later one) is on disk: true when written and fsync'd, false
    /// when its write failed, nil while it is still queued or being written.
    package func settled(_ generation: UInt64) -> Bool? {
        pending.withLock { p in Self.settled(generation, p) }
    }

    private static func settled(_ generation: UInt64, _ p: Pending) -> Bool? {
        if p.written >= generation { return true }
        if p.attempted >= generation { return false }
        return nil
    }

    /// Calls `done` once the set of `generation` is settled (see `settled(_:)`): at once (on this thread)
    /// when it already is, or when `maxWaiters` are waiting (with false), else on the writer's thread.
    /// - Returns: a handle for `cancelWait(_:)`, or nil when `done` was called already.
    @discardableResult
    package func whenSettled(_ generation: UInt64, _ done: @escaping @Sendable (Bool) -> Void) -> Int? {
        let (now, id): (Bool?, Int?) = pending.withLock { p in
            if let s = Self.settled(generation, p) { return (s, nil) }
            guard p.waiters.count < Self.maxWaiters else { return (false, nil) }
            p.nextWaiter &+= 1
            p.waiters[p.nextWaiter] = (generation, done)
            return (nil, p.nextWaiter)
        }
        if let now { done(now) }
        return id
    }

    /// Forgets a waiter that no longer needs its answer (its reply went out on a timeout).
    package func cancelWait(_ id: Int) {
        _ = pending.withLock { $0.waiters.removeValue(forKey: id) }
    }

    /// Waiters registered now (tests: the table must drain).
    package var waiting: Int { pending.withLock { $0.waiters.count } }

    /// Writes the last queued set and stops (at shutdown); waits at most `timeout` for the disk.
    package func close(timeout: Duration = .seconds(5)) {
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
    package func flush(timeout: Duration = .seconds(5)) -> Bool {
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
        return JSONLine.fileLine(object) ?? [UInt8(ascii: "\n")]
    }

    private func run() {
        while true {
            wake.wait()
            let (set, generation, closing) = pending.withLock { p in
                let s = p.set
                p.set = nil
                p.writing = s != nil
                return (s, p.setGeneration, p.closing)
            }
            if let set {
                beforeWrite()
                var ok = true
                do throws(SignalErrorBox) {
                    try DurableFile.replace(path, with: Self.encode(set))
                } catch {
                    ok = false
                    errorCount.add(1, ordering: .relaxed)
                    report("state file \(error.message); a restart now would not restore the latest curtailments")
                }
                // Everyone waiting for this generation or an earlier one is answered, outside the lock.
                let answered: [@Sendable (Bool) -> Void] = pending.withLock { p in
                    p.writing = false
                    p.attempted = generation
                    if ok { p.written = generation }
                    let due = p.waiters.filter { $0.value.generation <= generation }
                    for id in due.keys { p.waiters.removeValue(forKey: id) }
                    return due.values.map(\.done)
                }
                for done in answered { done(ok) }
            }
            if closing && pending.withLock({ $0.set == nil }) {
                finished.signal()
                return
            }
        }
    }
}
