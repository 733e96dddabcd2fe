import Foundation

/// What a tariff and a schedule say, turned into signal messages at the right moments: the live
/// `tariff:`/`schedule:` sources send what `due(at:monthKWh:)` returns and sleep until `nextWake(after:)`.
/// Pure (no clock of its own, no I/O): tested on a virtual clock.
///
/// - The price (a schedule price window's, else the tariff's for the local hour and the month's tier)
///   is sent when it changes and at every local hour boundary.
/// - A curtail window sends its curtailment when it opens (`until` its end, so it lifts itself); a
///   `peak_watch` window sends a peak watch instead. A window already open at start is sent at once.
/// - A heartbeat keeps the policy's fail-safe from counting a quiet calendar as a lost source.
public struct CalendarSignals: Sendable {
    public let tariff: TariffClock?
    public let schedule: Schedule?
    /// Longest sleep: tiers and heartbeats are checked at least this often.
    public var maxSleepSeconds = 15.0
    /// With nothing else sent for this long, a heartbeat.
    public var heartbeatSeconds = 15.0

    private var lastPrice: Double?
    private var lastPriceHour: Date?
    private var lastSent: Date?
    /// Window occurrences already sent ("id@start" → end), pruned once they end: bounded by the windows open.
    private var sent: [String: Date] = [:]

    public init(tariff: TariffClock?, schedule: Schedule?) {
        self.tariff = tariff
        self.schedule = schedule
    }

    /// The start of the local hour containing `date` (the instant the current price took effect).
    func hourStart(_ date: Date) -> Date? {
        guard let clock = tariff?.clock else { return nil }
        // Boundaries are at most an hour apart: the first one after `date - 1 h` is the last one at or before it.
        let candidate = clock.nextHourBoundary(after: date.addingTimeInterval(-3600))
        return candidate <= date ? candidate : candidate.addingTimeInterval(-3600)
    }

    /// The messages due at `now`, in order; `monthKWh` is the energy used so far in the billing month.
    public mutating func due(at now: Date, monthKWh: Double = 0) -> [SignalMessage] {
        var out: [SignalMessage] = []
        sent = sent.filter { $0.value > now }
        if let schedule {
            for a in schedule.active(at: now) {
                if case .price = a.window.action { continue }
                let key = "\(a.window.id)@\(a.start.timeIntervalSince1970)"
                guard sent[key] == nil else { continue }
                sent[key] = a.end
                out.append(Schedule.message(a.window, start: a.start, end: a.end))
            }
        }
        let windowPrice = schedule?.price(at: now)
        if let price = windowPrice ?? tariff?.usdPerMWh(at: now, monthKWh: monthKWh) {
            let hour = hourStart(now)
            if price != lastPrice || hour != lastPriceHour {
                lastPrice = price
                lastPriceHour = hour
                let start = windowPrice == nil ? hour : nil
                out.append(
                    .price(PriceSignal(usdPerMWh: price, intervalStart: start, intervalMinutes: start.map { _ in 60 })))
            }
        }
        if out.isEmpty, let last = lastSent, now.timeIntervalSince(last) < heartbeatSeconds {
            return []
        }
        if out.isEmpty { out.append(.heartbeat) }
        lastSent = now
        return out
    }

    /// When to look again: the next local hour boundary (tariff), window opening or closing (schedule),
    /// or `maxSleepSeconds` from now, whichever is first.
    public func nextWake(after now: Date) -> Date {
        var next = now.addingTimeInterval(maxSleepSeconds)
        if let clock = tariff?.clock { next = min(next, clock.nextHourBoundary(after: now)) }
        if let b = schedule?.nextBoundary(after: now) { next = min(next, b) }
        return next
    }
}
