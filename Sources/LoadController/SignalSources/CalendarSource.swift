import DemandResponse
import FlexSupport
import Foundation
import Synchronization

/// The live `tariff:PATH` and `schedule:PATH` sources: a timer aligned on local wall-clock hour
/// boundaries and window edges, which hands the controller the messages `CalendarSignals` says are due.
/// It runs on its own task and only ever calls `LoadController.handle`, like any source: the control path
/// never waits for it.
package final class CalendarSource: Sendable {
    /// The name in the decision log (`tariff:PATH`, `schedule:PATH`, or both joined by `+`).
    package let name: String
    /// The tariff read, for the operator's notes.
    package let tariff: TariffClock?
    private let plan: Mutex<CalendarSignals>
    private let controller: LoadController
    private let powerWatts: Double?
    /// The model's energy this billing month (kWh), for tiers: power × the controller's capacity.
    private let energy = Mutex<(month: Int?, kWh: Double, at: Date?)>((nil, 0, nil))
    private let clock: @Sendable () -> Date

    /// - Parameters:
    ///   - powerWatts: the miner's draw at full capacity (for tiers by the month's kWh); without it tiers
    ///     start from 0 kWh each month.
    ///   - clock: wall-clock time (a fake in tests).
    package init(
        name: String, signals: CalendarSignals, controller: LoadController, powerWatts: Double?,
        clock: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.name = name
        self.plan = Mutex(signals)
        self.tariff = signals.tariff
        self.controller = controller
        self.powerWatts = powerWatts
        self.clock = clock
    }

    /// Sends what is due now; returns when to look again.
    @discardableResult
    package func poll() -> Date {
        let now = clock()
        let kWh = meter(now)
        let (messages, wake) = plan.withLock { p in (p.due(at: now, monthKWh: kWh), p.nextWake(after: now)) }
        let origin = SignalOrigin(name: name)
        for m in messages {
            _ = controller.handle(line: Array(Self.line(m).utf8), origin: origin)
        }
        return wake
    }

    /// Polls until the task is cancelled, sleeping (on the monotonic clock) until each next wake; a wake
    /// that comes early (the wall clock stepped) just sleeps again.
    package func run() async {
        while !Task.isCancelled {
            let wake = poll()
            var left = wake.timeIntervalSince(clock())
            while left > 0 && !Task.isCancelled {
                guard let d = Duration.checked(seconds: min(left, 60)) else { break }
                try? await Task.sleep(for: d)
                left = wake.timeIntervalSince(clock())
            }
        }
    }

    /// Integrates power × capacity since the last call, restarting at each billing month.
    private func meter(_ now: Date) -> Double {
        guard let watts = powerWatts, let clock = plan.withLock({ $0.tariff?.clock }) else { return 0 }
        let month = clock.local(now).monthIndex
        let capacity = controller.status.capacity
        return energy.withLock { e in
            if e.month != month {
                e = (month, 0, now)
                return 0
            }
            if let at = e.at, now > at { e.kWh += watts / 1000 * capacity * now.timeIntervalSince(at) / 3600 }
            e.at = now
            return e.kWh
        }
    }

    /// A message as the protocol line any source would send.
    static func line(_ m: SignalMessage) -> String {
        var f: [String: Any] = ["type": m.type]
        switch m {
        case .price(let p):
            f["usd_per_mwh"] = p.usdPerMWh
            if let s = p.intervalStart { f["interval_start"] = ISO8601.format(s) }
            if let minutes = p.intervalMinutes { f["interval_minutes"] = minutes }
        case .curtail(let c):
            f["level"] = c.level
            if let id = c.id { f["id"] = id }
            if let u = c.until { f["until"] = ISO8601.format(u) }
            if let r = c.reason { f["reason"] = r }
        case .peakWatch(let w):
            f["level"] = w.level
            if let id = w.id { f["id"] = id }
            f["until"] = ISO8601.format(w.until)
            if let r = w.reason { f["reason"] = r }
        case .release(let id):
            if let id { f["id"] = id }
        case .systemLoad(let mw):
            f["mw"] = mw
        case .heartbeat, .status:
            break
        }
        return JSONLine.encode(f)
    }
}
