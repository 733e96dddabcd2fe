import Foundation

/// The peak rule: inside a `peak_watch` window, curtail while the system load is near the month's peak.
///
/// A coincident-peak charge (ERCOT's 4CP: the four 15-minute intervals of highest system load in June to
/// September set next year's transmission charge) is avoided only by being off in the peak interval,
/// which nobody knows in advance. The rule therefore uses what is known at each moment: the latest
/// `system_load` reading and the highest reading so far this calendar month (in
/// `PolicyConfig.peakTimeZone`), the latest one included. It curtails by the window's level when
///
///     load ≥ peak_threshold × month-to-date peak,  or  load ≥ peak_mw (when set),
///
/// and releases when the load is below `peak_release` × the month-to-date peak (and below `peak_mw`), or
/// when the window ends (the curtailment carries the window's end as its `until`). A new month starts a
/// new peak with its first reading. Readings outside any window still count towards the month's peak.
extension Policy {
    /// The key prefix of curtailments the peak rule sets (`peak-rule#SOURCE#ID`).
    public static let peakRuleSource = "peak-rule"

    static func recordSystemLoad(_ mw: Double, state: inout PolicyState, now: PolicyTime, config: PolicyConfig) {
        let clock = LocalClock(zone: config.peakTimeZone)
        let month = clock.local(now.wall).monthIndex
        if state.loadMonth != month {
            state.loadMonth = month
            state.monthPeakMW = mw
        } else {
            state.monthPeakMW = max(state.monthPeakMW ?? mw, mw)
        }
        state.systemLoadMW = mw
    }

    /// A release lifts watches as it lifts curtailments: by id from anyone, without one only the source's.
    static func releaseWatches(id: String?, source: String, state: inout PolicyState) {
        if let id {
            state.peakWatches = state.peakWatches.filter { $0.value.id != id }
        } else {
            state.peakWatches = state.peakWatches.filter { $0.key != "\(source)#\($0.value.id ?? "")" }
        }
    }

    static func applyPeakRule(
        _ state: inout PolicyState, now: PolicyTime, config: PolicyConfig, reasons: inout [String]
    ) {
        for (key, w) in state.peakWatches where w.until <= now.wall {
            state.peakWatches[key] = nil
            state.curtailments["\(peakRuleSource)#\(key)"] = nil
            reasons.append("peak watch \(w.id ?? key) ended")
        }
        guard !state.peakWatches.isEmpty, let load = state.systemLoadMW, let peak = state.monthPeakMW else { return }
        let near = load >= config.peakThreshold * peak || (config.peakMW.map { load >= $0 } ?? false)
        let below = load < config.peakRelease * peak && (config.peakMW.map { load < $0 } ?? true)
        for (key, w) in state.peakWatches {
            let curtailKey = "\(peakRuleSource)#\(key)"
            if state.curtailments[curtailKey] == nil && near {
                guard state.curtailments.count < maxCurtailments else { continue }
                let why =
                    "peak rule: system load \(format(load)) MW ≥ \(format(config.peakThreshold * 100))% of month peak \(format(peak)) MW"
                    + (config.peakMW.map { load >= $0 ? " or ≥ \(format($0)) MW" : "" } ?? "")
                state.curtailments[curtailKey] = CurtailSignal(
                    level: w.level, id: w.id, until: w.until, reason: w.reason.map { "\($0); \(why)" } ?? why)
                reasons.append("curtail \(format(w.level))\(w.id.map { " (\($0))" } ?? ""): \(why)")
            } else if state.curtailments[curtailKey] != nil && below {
                state.curtailments[curtailKey] = nil
                reasons.append(
                    "peak rule released\(w.id.map { " (\($0))" } ?? ""): system load \(format(load)) MW < \(format(config.peakRelease * 100))% of month peak \(format(peak)) MW"
                )
            }
        }
    }
}
