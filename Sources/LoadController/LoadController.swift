import DemandResponse
import FlexSupport
import Foundation
import Synchronization

/// The live demand-response controller: feeds signals and clock ticks through the pure `Policy`, applies
/// each decision to the miner at once (halting synchronously, so the reply can carry the measured
/// latency), logs every signal and action, and answers each message.
///
/// Calls are serialized by one lock: decisions reach the miner in the order the signals arrived.
package final class LoadController: Sendable {
    /// A reply line for the sender (without the newline) and whether the message was accepted.
    package struct Reply: Sendable {
        package let ok: Bool
        /// The reply as it is when nothing waits for the disk (without `state_durable`).
        package let line: String
        /// Set (only with a state file) when the reply acknowledges a curtailment or a release, or a change
        /// of the curtailments kept: a server sends `line(durable:)` once it is settled (see
        /// `StateDurability`), so the client hears of it only once a restart would keep it.
        package var durability: StateDurability? = nil

        /// The reply saying whether the state file holds what it acknowledges (`"state_durable"`).
        package func line(durable: Bool) -> String { Self.line(line, durable: durable) }

        /// `line` (a JSON object) with `"state_durable"` added.
        package static func line(_ line: String, durable: Bool) -> String {
            guard line.hasSuffix("}"), line.count > 2 else { return line }
            return String(line.dropLast()) + #","state_durable":\#(durable)}"#
        }
    }

    /// The controller's state as `status`, `/status` and metrics show it.
    package struct Status: Sendable {
        /// What the miner is doing: 0 while halted, else the policy's capacity (see
        /// `effectiveCapacity(setting:halted:)`, the one definition).
        package let capacity: Double
        package let halted: Bool
        package let activeWorkers: Int
        package let threads: Int
        package let price: Double?
        package let breakEven: Double?
        /// The largest active curtailment level (0 when none).
        package let curtailment: Double
        package let activeCurtailments: Int
        package let stale: Bool
        package let reason: String
        package let lastHaltLatency: Duration?
        package let lastResumeLatency: Duration?
        package let hashRate: Double
        /// Messages by source name and result ("ok" / "error").
        package let messages: [String: [String: Int]]
        /// The active curtailments, by source and id (at most the policy's bound), for the dashboard.
        package var curtailments: [ActiveCurtailment] = []
    }

    /// One active curtailment: who set it, its id, level, `until` and reason.
    package struct ActiveCurtailment: Sendable, Hashable {
        package let source: String
        package let id: String?
        package let level: Double
        package let until: Date?
        package let reason: String?
    }

    struct Inner {
        var policy: PolicyState
        var reason = "start"
        var lastHaltLatency: Duration?
        var lastResumeLatency: Duration?
        var messages: [String: [String: Int]] = [:]
        /// The curtailments last handed to the state file, and their generation there.
        var saved: [String: CurtailSignal] = [:]
        var savedGeneration: UInt64 = 0
        /// The policy's thresholds; `reload` replaces them while curtailments and prices stay.
        var config: PolicyConfig
        var priceActive: Bool
    }

    /// The policy's thresholds in force (the start's, or the last `reload`'s).
    package var config: PolicyConfig { inner.withLock { $0.config } }
    /// Whether a break-even price is configured (otherwise prices are recorded but never curtail).
    package var priceActive: Bool { inner.withLock { $0.priceActive } }
    private let actuator: any LoadActuator
    private let log: DecisionLog?
    private let stateFile: CurtailmentStateFile?
    private let clock: PolicyClock
    private let message: @Sendable (String) -> Void
    private let observer: (@Sendable (ControllerEvent) -> Void)?
    private let inner: Mutex<Inner>

    /// - Parameters:
    ///   - clock: the policy's time: the machine's monotonic and wall clocks live (durations on the first,
    ///     `until` and log timestamps on the second); a fake in tests.
    ///   - message: human-readable notes for the operator (stderr by default in the CLI).
    ///   - stateFile: where the active curtailments are kept across restarts; `start()` restores them.
    package init(
        actuator: any LoadActuator, config: PolicyConfig, priceActive: Bool = true, log: DecisionLog? = nil,
        clock: PolicyClock = .system, message: @escaping @Sendable (String) -> Void = { _ in },
        observer: (@Sendable (ControllerEvent) -> Void)? = nil, stateFile: CurtailmentStateFile? = nil
    ) {
        self.observer = observer
        self.actuator = actuator
        self.log = log
        self.stateFile = stateFile
        self.clock = clock
        self.message = message
        inner = Mutex(
            Inner(policy: PolicyState(config: config, now: clock.now()), config: config, priceActive: priceActive))
        warmUp()
    }

    /// Lines of every kind, for the warm-up at construction (each must parse, or its path stays cold).
    package static let warmUpLines = [
        #"{"type":"price","usd_per_mwh":42.5,"interval_start":"2024-06-01T14:00:00Z","interval_minutes":15}"#,
        #"{"type":"curtail","level":1.0,"id":"warm-up","until":"2999-06-01T15:00:00Z","reason":"warm-up"}"#,
        #"{"type":"release","id":"warm-up"}"#, #"{"type":"heartbeat"}"#, #"{"type":"status"}"#,
    ]

    /// Runs the decision path once per kind of line on a scratch copy of the state: parsing, the policy,
    /// the reply's and the log's encoding. Nothing is acted on, logged or persisted. Measured on a 2-vCPU VM
    /// (`bench --signal-latency`): without this, the first curtailment after start took 0.7–2.2 ms from
    /// receipt to `halt()`, against 0.02–0.1 ms for the others. That time went to about 20 page faults
    /// on code run for the first time and to ICU's collator set-up (sorted JSON keys). It is paid here, at
    /// start, instead of by the first curtailment. This runs on the constructing thread, not on a signal
    /// thread, so per-thread state (a thread's malloc arena) stays cold; measured, that is not what
    /// cost the time: 1 slow first curtailment in 610 runs afterwards.
    private func warmUp() {
        let now = clock.now()
        let origin = SignalOrigin(source: "warm-up", connection: 0)
        var scratch = inner.withLock { $0 }
        for line in Self.warmUpLines {
            guard let envelope = try? Self.parse(Array(line.utf8), origin: origin, now: now.wall) else { continue }
            let message = Self.scoped(envelope.message, to: origin)
            _ = Policy.refusal(message, source: origin.name, group: origin.source, state: scratch.policy)
            let input: PolicyInput = message == .status ? .tick : .signal(message, source: origin.name)
            let d = Policy.step(&scratch.policy, input, now: now, config: Self.effective(scratch))
            scratch.reason = d.reason
            var reply = statusFields(scratch)
            reply["ok"] = true
            reply["type"] = message.type
            reply["receipt_to_halted_ms"] = Duration.microseconds(1).milliseconds
            reply.merge(Self.fields(of: message)) { a, _ in a }
            _ = Self.json(reply)
        }
    }

    /// With one virtual clock for durations and dates (time-compressed drills, tests).
    package convenience init(
        actuator: any LoadActuator, config: PolicyConfig, priceActive: Bool = true, log: DecisionLog? = nil,
        clock: @escaping @Sendable () -> Date, message: @escaping @Sendable (String) -> Void = { _ in },
        observer: (@Sendable (ControllerEvent) -> Void)? = nil
    ) {
        self.init(
            actuator: actuator, config: config, priceActive: priceActive, log: log, clock: .virtual(clock),
            message: message, observer: observer)
    }

    /// Restores the curtailments kept in the state file, applies the initial capacity (full, halted with
    /// `--start-halted`, or what the restored curtailments allow) and logs the start.
    /// - Parameter restored: curtailments already read from the state file (by a caller that needed them
    ///   before the start); nil reads the state file here.
    package func start(restoring restored: [String: CurtailSignal]? = nil) {
        let now = clock.now()
        let restored = restored ?? stateFile?.load(now: now.wall) ?? [:]
        inner.withLock { s in
            var reason =
                s.config.initialCapacity == 0 ? "start halted (--start-halted)" : "start: no signal yet, full capacity"
            if !restored.isEmpty {
                let n = s.policy.restore(restored, now: now.wall)
                // A tick applies them: capacity is capped by the restored curtailments from the first moment.
                let d = Policy.step(&s.policy, .tick, now: now, config: Self.effective(s))
                let reasons = restored.values.sorted { $0.level > $1.level }.prefix(3).map {
                    "\($0.id ?? "curtail") \($0.level)\($0.reason.map { ": \($0)" } ?? "")"
                }
                reason =
                    (s.config.initialCapacity == 0 ? "start halted (--start-halted); " : "start: ")
                    + "restored \(n) curtailment\(n == 1 ? "" : "s") from the state file ("
                    + reasons.joined(separator: ", ") + "); \(d.reason)"
                // Written back at once: a stand-in for an unreadable file (moved aside) must survive a crash too.
                persist(&s)
            }
            let d = Decision(
                capacity: s.policy.capacity, previousCapacity: actuator.isHalted ? 0 : 1, reason: reason)
            s.reason = d.reason
            let (halt, _) = apply(d, inner: &s)
            var fields: [String: Any] = [
                "event": "action", "action": "start", "capacity_after": d.capacity, "reason": d.reason,
            ]
            if let h = halt { fields["halt_latency_ms"] = h.milliseconds }
            log?.write(fields)
            message("\(d.reason) (capacity \(Int((d.capacity * 100).rounded()))%)")
        }
    }

    /// Handles one line from `origin` and returns the one reply it gets.
    /// - Parameter receivedAt: when the line arrived (for the receipt-to-halted latency).
    package func handle(
        line: some Collection<UInt8>, origin: SignalOrigin, receivedAt: ContinuousClock.Instant = .now
    ) -> Reply {
        let now = clock.now()
        let envelope: SignalEnvelope
        do { envelope = try Self.parse(line, origin: origin, now: now.wall) } catch {
            return reject(error.message, origin: origin, line: line)
        }
        let message = Self.scoped(envelope.message, to: origin)
        return inner.withLock { s in
            if let refusal = Policy.refusal(message, source: origin.name, group: origin.source, state: s.policy) {
                observer?(.message(source: origin.source, ok: false))
                s.messages[origin.source, default: [:]]["error", default: 0] += 1
                logRejection(refusal, origin: origin, line: line)
                return Reply(ok: false, line: Self.json(["ok": false, "error": refusal]))
            }
            observer?(.message(source: origin.source, ok: true))
            s.messages[origin.source, default: [:]]["ok", default: 0] += 1
            let input: PolicyInput = message == .status ? .tick : .signal(message, source: origin.name)
            let d = Policy.step(&s.policy, input, now: now, config: Self.effective(s))
            s.reason = d.reason
            let generation = s.savedGeneration
            persist(&s)
            // Act first, write the log after: the log must not delay the halt.
            let (halt, resume) = apply(d, inner: &s)
            let receiptToHalted = halt != nil ? ContinuousClock.now - receivedAt : nil
            logSignal(message, d, origin: origin, time: now.wall)
            if d.changed { logAction(d, halt: halt, resume: resume, received: receiptToHalted) }
            var reply = statusFields(s)
            reply["ok"] = true
            reply["type"] = message.type
            // The id a later `release` can name (on a socket, an id-less curtailment's is its connection's).
            if case .curtail(let c) = message, let id = c.id { reply["id"] = id }
            if let h = halt { reply["halt_latency_ms"] = h.milliseconds }
            if let r = receiptToHalted { reply["receipt_to_halted_ms"] = r.milliseconds }
            if let r = resume { reply["resume_latency_ms"] = r.milliseconds }
            var answer = Reply(ok: true, line: Self.json(reply))
            // A curtailment (or its release) is acknowledged once the state file holds it: the reply waits
            // for the set that holds it, or for the write still pending of the same set (a repeated message).
            if let stateFile, s.savedGeneration != generation || message.changesCurtailments {
                answer.durability = StateDurability(file: stateFile, generation: s.savedGeneration)
            }
            return answer
        }
    }

    /// Handles lines that arrived together (what a followed file had when it was opened, or a burst
    /// appended at once): each goes through the policy and into the decision log in order, but the
    /// miner is commanded once, with the decision after the last line. Replaying a long file at start
    /// therefore does not flap the workers through its history. Nobody waits for replies here.
    /// - Parameter replay: the lines are history (a file read from its start): they update the price and
    ///   curtailments without counting as fresh starts or stops against the dwell times; the latest price
    ///   then decides once, held only by the miner's real dwell.
    package func handle(batch lines: [ArraySlice<UInt8>], origin: SignalOrigin, replay: Bool = false) {
        guard lines.count > 1 || replay else {
            if let only = lines.first { _ = handle(line: only, origin: origin) }
            return
        }
        guard !lines.isEmpty else { return }
        let now = clock.now()
        let parsed = lines.map { line in
            Result { () throws(SignalError) in try Self.parse(line, origin: origin, now: now.wall) }
        }
        inner.withLock { s in
            let before = s.policy.capacity
            for (line, p) in zip(lines, parsed) {
                switch p {
                case .failure(let error):
                    observer?(.message(source: origin.source, ok: false))
                    s.messages[origin.source, default: [:]]["error", default: 0] += 1
                    logRejection(error.message, origin: origin, line: line)
                case .success(let envelope):
                    let message = Self.scoped(envelope.message, to: origin)
                    if let refusal = Policy.refusal(
                        message, source: origin.name, group: origin.source, state: s.policy)
                    {
                        observer?(.message(source: origin.source, ok: false))
                        s.messages[origin.source, default: [:]]["error", default: 0] += 1
                        logRejection(refusal, origin: origin, line: line)
                        continue
                    }
                    observer?(.message(source: origin.source, ok: true))
                    s.messages[origin.source, default: [:]]["ok", default: 0] += 1
                    let d: Decision
                    if message == .status && replay {
                        // A tick here would let a price in the middle of the history start or stop the miner.
                        d = Decision(capacity: s.policy.capacity, previousCapacity: s.policy.capacity, reason: s.reason)
                    } else {
                        let input: PolicyInput =
                            message == .status
                            ? .tick
                            : replay
                                ? .replayed(message, source: origin.name)
                                : .signal(message, source: origin.name)
                        d = Policy.step(&s.policy, input, now: now, config: Self.effective(s))
                    }
                    s.reason = d.reason
                    logSignal(message, d, origin: origin, time: now.wall, batch: lines.count, replay: replay)
                }
            }
            if replay {
                // History applied: now the latest price decides, as a fresh decision.
                let d = Policy.step(&s.policy, .tick, now: now, config: Self.effective(s))
                s.reason = "replayed \(lines.count) line\(lines.count == 1 ? "" : "s") of history; \(d.reason)"
            }
            let d = Decision(capacity: s.policy.capacity, previousCapacity: before, reason: s.reason)
            let (halt, resume) = apply(d, inner: &s)
            persist(&s)
            if d.changed { logAction(d, halt: halt, resume: resume, received: nil) }
        }
    }

    /// Records a line that could not be answered (a partial line at EOF or on disconnect).
    package func discarded(_ what: String, origin: SignalOrigin, bytes: Int) {
        observer?(.message(source: origin.source, ok: false))
        inner.withLock { $0.messages[origin.source, default: [:]]["error", default: 0] += 1 }
        var fields: [String: Any] = [
            "event": "signal", "source": origin.source, "ok": false, "error": "\(what) (\(bytes) bytes discarded)",
        ]
        if let c = origin.connection { fields["connection"] = c }
        log?.write(fields)
        message("\(origin.name): \(what) (\(bytes) bytes discarded)")
    }

    /// Lets time act: curtailments expiring, dwell times ending, ramp steps, stale signals. Call it often
    /// (the CLI does every 100 ms).
    package func tick() {
        inner.withLock { s in
            let d = Policy.step(&s.policy, .tick, now: clock.now(), config: Self.effective(s))
            persist(&s)
            guard d.changed || d.reason != s.reason else { return }
            let wasStale = s.reason.contains("fail-safe")
            s.reason = d.reason
            if d.changed {
                let (halt, resume) = apply(d, inner: &s)
                logAction(d, halt: halt, resume: resume, received: nil)
            } else if d.reason.contains("fail-safe") != wasStale {
                logAction(d, halt: nil, resume: nil, received: nil)
            }
        }
    }

    /// Replaces the policy's thresholds (a reloaded policy file or config: break-even, hysteresis, dwell,
    /// hard price, ramp, fail-safe) without a restart. Active curtailments, the last price and the dwell
    /// clocks stay: a reload never lifts a curtailment. The new thresholds decide at once (one tick), and
    /// the reload goes into the decision log.
    package func reload(config new: PolicyConfig, priceActive active: Bool) {
        let now = clock.now()
        inner.withLock { s in
            let before = s.policy.capacity
            var kept = new
            kept.initialCapacity = s.config.initialCapacity  // the start is over; keep what it was
            s.config = kept
            s.priceActive = active
            let step = Policy.step(&s.policy, .tick, now: now, config: Self.effective(s))
            let d = Decision(
                capacity: step.capacity, previousCapacity: before, reason: "policy reloaded; \(step.reason)")
            s.reason = d.reason
            let (halt, resume) = apply(d, inner: &s)
            persist(&s)
            var fields: [String: Any] = [
                "event": "reload", "capacity_after": d.capacity, "reason": d.reason,
                "curtailments": s.policy.curtailments.count,
            ]
            if active { fields["breakeven_usd_per_mwh"] = kept.breakEvenUSDPerMWh }
            log?.write(fields)
            if d.changed { logAction(d, halt: halt, resume: resume, received: nil) }
            message("policy reloaded (\(s.policy.curtailments.count) active curtailment(s) kept): \(d.reason)")
        }
    }

    package var status: Status {
        inner.withLock { s in
            Status(
                capacity: effectiveCapacity(setting: s.policy.capacity, halted: actuator.isHalted),
                halted: actuator.isHalted, activeWorkers: actuator.activeWorkerCount,
                threads: actuator.threadCount, price: s.policy.price,
                breakEven: s.priceActive ? s.config.breakEvenUSDPerMWh : nil,
                curtailment: s.policy.curtailments.values.map(\.level).max() ?? 0,
                activeCurtailments: s.policy.curtailments.count, stale: s.policy.stale, reason: s.reason,
                lastHaltLatency: s.lastHaltLatency, lastResumeLatency: s.lastResumeLatency, hashRate: actuator.hashRate,
                messages: s.messages,
                curtailments: s.policy.curtailments.sorted { $0.key < $1.key }.map { key, c in
                    // Keys are "source#id"; a source name may itself hold a '#' (a connection).
                    let source = key.lastIndex(of: "#").map { String(key[..<$0]) } ?? key
                    return ActiveCurtailment(source: source, id: c.id, level: c.level, until: c.until, reason: c.reason)
                })
        }
    }

    /// What the power telemetry reads each sample, under one short lock (not `status`: no messages, no
    /// latencies): fail-safe or not, the highest curtailment level, and the active curtailments' ids (the
    /// source's name for one without an id), in key order.
    package var curtailmentBrief: (stale: Bool, curtailment: Double, ids: [String]) {
        inner.withLock { s in
            (
                s.policy.stale, s.policy.curtailments.values.map(\.level).max() ?? 0,
                s.policy.curtailments.sorted { $0.key < $1.key }.map { key, c in
                    c.id ?? key.lastIndex(of: "#").map { String(key[..<$0]) } ?? key
                }
            )
        }
    }

    /// The current state as a one-line JSON object (what a `status` message gets, plus `"ok"`).
    package var statusJSON: String { inner.withLock { Self.json(statusFields($0)) } }

    // MARK: Internals

    /// Without a break-even price, prices never curtail.
    private static func effective(_ s: Inner) -> PolicyConfig {
        if s.priceActive { return s.config }
        var c = s.config
        c.breakEvenUSDPerMWh = .greatestFiniteMagnitude
        c.hardPriceUSDPerMWh = nil
        return c
    }

    private func reject(_ error: String, origin: SignalOrigin, line: some Collection<UInt8>) -> Reply {
        observer?(.message(source: origin.source, ok: false))
        inner.withLock { $0.messages[origin.source, default: [:]]["error", default: 0] += 1 }
        logRejection(error, origin: origin, line: line)
        return Reply(ok: false, line: Self.json(["ok": false, "error": error]))
    }

    /// The decision log's entry for an accepted line.
    private func logSignal(
        _ message: SignalMessage, _ d: Decision, origin: SignalOrigin, time: Date, batch: Int? = nil,
        replay: Bool = false
    ) {
        var fields: [String: Any] = [
            "event": "signal", "source": origin.source, "type": message.type, "ok": true,
            "capacity_before": d.previousCapacity, "capacity_after": d.capacity, "reason": d.reason,
        ]
        if let c = origin.connection { fields["connection"] = c }
        if let batch { fields["batch"] = batch }
        if replay { fields["replay"] = true }
        fields.merge(Self.fields(of: message)) { a, _ in a }
        log?.write(fields, time: time)
    }

    /// The decision log's entry (and the operator's note) for a refused line: its first 200 bytes, with the
    /// `token` field's value redacted (a line refused for another reason may carry the right token).
    private func logRejection(_ error: String, origin: SignalOrigin, line: some Collection<UInt8>) {
        var fields: [String: Any] = [
            "event": "signal", "source": origin.source, "ok": false, "error": error,
            "line": Redaction.preview(line, limit: 200),
        ]
        if let c = origin.connection { fields["connection"] = c }
        log?.write(fields)
        message("\(origin.name): rejected a line: \(error)")
    }

    /// Hands the curtailments to the state file when they changed (queued: the disk is written by the
    /// state file's own thread).
    private func persist(_ s: inout Inner) {
        guard let stateFile, s.policy.curtailments != s.saved else { return }
        s.saved = s.policy.curtailments
        s.savedGeneration = stateFile.save(s.saved)
    }

    /// Makes the miner match the decision. Returns the measured halt/resume latency when it halted or resumed.
    private func apply(_ d: Decision, inner s: inout Inner) -> (Duration?, Duration?) {
        let change = actuator.apply(capacity: d.capacity)
        switch change {
        case .halted(let h):
            s.lastHaltLatency = h
            observer?(.halted(latency: h))
        case .resumed(let r):
            s.lastResumeLatency = r
            observer?(.resumed(latency: r))
        case .none: break
        }
        return (change.haltLatency, change.resumeLatency)
    }

    private func logAction(_ d: Decision, halt: Duration?, resume: Duration?, received: Duration?) {
        var fields: [String: Any] = [
            "event": "action", "action": d.halt ? "halt" : (d.previousCapacity == 0 ? "resume" : "capacity"),
            "capacity_before": d.previousCapacity, "capacity_after": d.capacity, "reason": d.reason,
        ]
        if let h = halt { fields["halt_latency_ms"] = h.milliseconds }
        if let r = received { fields["receipt_to_halted_ms"] = r.milliseconds }
        if let r = resume { fields["resume_latency_ms"] = r.milliseconds }
        log?.write(fields)
        var note =
            "capacity \(Int((d.previousCapacity * 100).rounded()))% -> \(Int((d.capacity * 100).rounded()))%: \(d.reason)"
        if let r = received ?? halt { note += String(format: " (halted in %.3f ms)", r.milliseconds) }
        message(note)
    }

    private func statusFields(_ s: Inner) -> [String: Any] {
        var f: [String: Any] = [
            "capacity": effectiveCapacity(setting: s.policy.capacity, halted: actuator.isHalted),
            "halted": actuator.isHalted, "active_workers": actuator.activeWorkerCount,
            "threads": actuator.threadCount, "curtailment": s.policy.curtailments.values.map(\.level).max() ?? 0,
            "stale": s.policy.stale, "reason": s.reason,
        ]
        if let p = s.policy.price { f["price_usd_per_mwh"] = p }
        if s.priceActive { f["breakeven_usd_per_mwh"] = s.config.breakEvenUSDPerMWh }
        return f
    }
}
