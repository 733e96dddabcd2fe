import FlexSupport
import Foundation

// The assembler's arithmetic: per host-event figures (baseline, during, shed, response, energy,
// compliance), the fleet's sums, and the windows and samples they are computed from.
extension ReportAssembler {
    /// Measured before modelled; a revenue meter (SunSpec) before the CPU package counters (RAPL).
    static func rank(_ source: String, modelled: Bool) -> Int {
        if modelled { return 3 }
        switch source {
        case "sunspec": return 0
        case "rapl": return 1
        default: return 2
        }
    }

    func figuresFor(_ e: LoggedEvent, host: String, all: [LoggedEvent]) -> HostEventFigures {
        let m = options.baselineMinutes * 60
        let streams = hosts[host]?.streams ?? [:]
        let ordered = streams.sorted { a, b in
            let ra = Self.rank(a.key, modelled: a.value.modelled)
            let rb = Self.rank(b.key, modelled: b.value.modelled)
            return ra != rb ? ra < rb : a.key < b.key
        }
        var notes = e.notes
        let end = eventEnd(e, streams: ordered.map(\.value), notes: &notes)
        let days = options.baseline == .meanOfDays ? Self.candidateDays(e, all: all, options: options, end: end) : []
        func hasSamples(_ s: Stream, _ a: Double, _ b: Double) -> Bool { !Self.slice(s.points, a, b).isEmpty }
        let chosen =
            ordered.first { _, s in
                hasSamples(s, e.start, end)
                    && (options.baseline == .meterBefore
                        ? hasSamples(s, e.start - m, e.start) : days.contains { hasSamples(s, $0.start, $0.end) })
            } ?? ordered.first { hasSamples($0.value, e.start, end) } ?? ordered.first

        var f = HostEventFigures(
            host: host, event: e, end: end, powerSource: chosen?.key, modelled: chosen?.value.modelled ?? false,
            baselineKW: nil, baselineStart: nil, baselineEnd: nil, baselineSamples: 0, baselineDays: [], eventKW: nil,
            eventSamples: 0, requestedShedKW: nil, shedKW: nil, shedPercentOfRequested: nil, responseSeconds: nil,
            energyAvoidedKWh: nil, compliant: nil, gaps: [], notes: notes, chartPoints: [],
            chartStart: e.start - m, chartEnd: end + m)
        guard let chosen else {
            f.notes.append("no telemetry for host \(host)")
            return f
        }
        let source = chosen.key
        let stream = chosen.value
        if let other = ordered.first(where: { $0.key != source && hasSamples($0.value, e.start, end) }) {
            f.notes.append("also measured by \(other.key)\(other.value.modelled ? " (modelled)" : ""), not used")
        }
        if stream.truncated {
            f.notes.append("more than \(ReportOptions.maxSamplesPerStream) samples in the windows: later ones dropped")
        }
        let median = Self.median(stream.histogram)
        switch options.baseline {
        case .meterBefore: Self.meterBefore(&f, stream.points, from: e.start - m, median: median)
        case .meanOfDays: Self.meanOfDays(&f, stream.points, days: days, median: median)
        }
        if f.baselineKW == nil { f.notes.append("no baseline: no samples in the baseline window") }
        duringEvent(&f, stream.points, median: median)
        if f.modelled { f.notes.append("figures are modelled (\(source)), not measured") }

        // The chart's points, thinned to min/max pairs per bucket.
        let window = Self.slice(stream.points, f.chartStart, f.chartEnd)
        f.chartPoints = ReportChart.thinned(
            window.map { ($0.time, $0.watts / 1000) }, start: f.chartStart, end: f.chartEnd)
        return f
    }

    /// The end of the figures: logged, or (still open) the data's end, at most `to`; noted when not logged.
    private func eventEnd(_ e: LoggedEvent, streams: [Stream], notes: inout [String]) -> Double {
        var end = e.end ?? .infinity
        if e.end == nil {
            let last = streams.compactMap { $0.points.last?.time }.max() ?? e.start
            end = min(max(last, e.start), options.to ?? .infinity)
            notes.append("still active at the end of the decision log: figures up to the last sample")
        }
        if let to = options.to, end > to {
            notes.append("cut at --to")
            end = to
        }
        return end
    }

    /// The meter-before baseline: the mean load from `a` to the event's start.
    private static func meterBefore(_ f: inout HostEventFigures, _ points: [Point], from a: Double, median: Double?) {
        let b = f.event.start
        f.baselineStart = a
        f.baselineEnd = b
        let s = slice(points, a, b)
        f.baselineSamples = s.count
        if !s.isEmpty { f.baselineKW = mean(s) / 1000 }
        f.gaps += gaps(points, a, b, median: median, window: "baseline")
    }

    /// The mean-of-days baseline: the mean of the first `baselineDays` candidate days with data and no gaps.
    private static func meanOfDays(_ f: inout HostEventFigures, _ points: [Point], days: [Day], median: Double?) {
        var means: [Double] = []
        var skipped = 0
        for d in days where means.count < ReportOptions.baselineDays {
            let s = slice(points, d.start, d.end)
            let g = gaps(points, d.start, d.end, median: median, window: "day")
            if s.isEmpty || !g.isEmpty {
                skipped += 1
                continue
            }
            means.append(mean(s))
            f.baselineSamples += s.count
            f.baselineDays.append(d.label)
        }
        if !means.isEmpty { f.baselineKW = means.reduce(0, +) / Double(means.count) / 1000 }
        if means.count < ReportOptions.baselineDays {
            f.notes.append(
                "mean-of-days: \(means.count) of \(ReportOptions.baselineDays) days found in the \(ReportOptions.daysSearched) days before (\(skipped) skipped for missing data or gaps)"
            )
        }
    }

    /// The load during the event against the baseline: shed, energy avoided, compliance, response.
    private func duringEvent(_ f: inout HostEventFigures, _ points: [Point], median: Double?) {
        let e = f.event
        let during = Self.slice(points, e.start, f.end)
        f.eventSamples = during.count
        if !during.isEmpty { f.eventKW = Self.mean(during) / 1000 }
        let eventGaps = Self.gaps(points, e.start, f.end, median: median, window: "event")
        f.gaps += eventGaps
        guard let base = f.baselineKW, let load = f.eventKW else { return }
        let requested = e.level * base
        let shed = base - load
        f.requestedShedKW = requested
        f.shedKW = shed
        if requested > 0 { f.shedPercentOfRequested = shed / requested * 100 }
        let measured = max(0, f.duration - eventGaps.reduce(0) { $0 + $1.seconds })
        f.energyAvoidedKWh = shed * measured / 3600
        guard requested > 0 else {
            // Nothing was asked to go away: compliance would be vacuous, so it is not judged, and there is
            // no response to time.
            f.notes.append("the baseline is 0 kW: nothing to shed, compliance not judged")
            return
        }
        f.compliant = shed >= requested * (1 - options.tolerance)
        // Response: the first sample at or below baseline − 90 % of the requested shed.
        let threshold = (base - ReportOptions.responseFraction * requested) * 1000
        guard let reach = during.first(where: { $0.watts <= threshold }) else {
            f.notes.append("the load never reached 90 % of the requested shed")
            return
        }
        let anchor = Self.slice(points, -.infinity, e.start).last
        if let anchor, !anchor.mono.isNaN, !reach.mono.isNaN, reach.mono >= anchor.mono {
            // Within one run the monotonic clock measures it; a wall-clock step cannot.
            f.responseSeconds = max(0, (reach.mono - anchor.mono) - (e.start - anchor.time))
        } else {
            f.responseSeconds = max(0, reach.time - e.start)
        }
    }

    static func fleet(_ figures: [HostEventFigures], options: ReportOptions) -> [FleetFigures] {
        let hosts = Set(figures.map(\.host))
        guard hosts.count > 1 else { return [] }
        var byID: [String: [HostEventFigures]] = [:]
        var order: [String] = []
        for f in figures where f.event.kind == .curtailment {
            if byID[f.event.id] == nil { order.append(f.event.id) }
            byID[f.event.id, default: []].append(f)
        }
        return order.map { id in
            let fs = byID[id]!
            let with = fs.filter { $0.shedKW != nil && $0.baselineKW != nil }
            let base = with.reduce(0) { $0 + $1.baselineKW! }
            let shed = with.reduce(0) { $0 + $1.shedKW! }
            let requested = with.reduce(0) { $0 + ($1.requestedShedKW ?? 0) }
            let slow = fs.max { a, b in (a.responseSeconds ?? .infinity) < (b.responseSeconds ?? .infinity) }
            return FleetFigures(
                id: id, hosts: fs.map(\.host), baselineKW: base, shedKW: shed, requestedShedKW: requested,
                shedPercentOfRequested: requested > 0 ? shed / requested * 100 : nil,
                energyAvoidedKWh: with.reduce(0) { $0 + ($1.energyAvoidedKWh ?? 0) },
                compliant: with.isEmpty || requested <= 0 ? nil : shed >= requested * (1 - options.tolerance),
                slowestHost: slow?.host,
                slowestResponseSeconds: slow?.responseSeconds,
                hostsWithoutFigures: fs.filter { $0.shedKW == nil || $0.baselineKW == nil }.map(\.host),
                anyModelled: fs.contains { $0.modelled })
        }
    }

    // MARK: Windows and samples

    struct Day: Sendable {
        var start: Double
        var end: Double
        var label: String
    }

    /// The same clock window on earlier days of the same kind (weekday or weekend) in the zone, most
    /// recent first, that no event of the host overlapped.
    static func candidateDays(_ e: LoggedEvent, all: [LoggedEvent], options: ReportOptions, end: Double? = nil)
        -> [Day]
    {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = options.timeZone
        let start = Date(timeIntervalSince1970: e.start)
        let midnight = calendar.startOfDay(for: start)
        let intoDay = e.start - midnight.timeIntervalSince1970
        let length = min(
            (end ?? e.end ?? (e.start + ReportOptions.openEventDaySeconds)) - e.start, ReportOptions.openEventDaySeconds
        )
        let weekend = calendar.isDateInWeekend(start)
        var days: [Day] = []
        for k in 1...ReportOptions.daysSearched {
            guard let day = calendar.date(byAdding: .day, value: -k, to: midnight) else { continue }
            guard calendar.isDateInWeekend(day.addingTimeInterval(43_200)) == weekend else { continue }
            let a = day.timeIntervalSince1970 + intoDay
            let b = a + max(0, length)
            let curtailed = all.contains { o in o.start < b && (o.end ?? .infinity) > a }
            if curtailed { continue }
            let c = calendar.dateComponents([.year, .month, .day], from: day.addingTimeInterval(43_200))
            let label = String(format: "%04d-%02d-%02d", c.year ?? 0, c.month ?? 0, c.day ?? 0)
            days.append(Day(start: a, end: b, label: label))
        }
        return days
    }

    /// The points with time in [a, b) (binary search on the sorted points).
    static func slice(_ p: [Point], _ a: Double, _ b: Double) -> ArraySlice<Point> {
        func lowerBound(_ t: Double) -> Int {
            var lo = 0
            var hi = p.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if p[mid].time < t { lo = mid + 1 } else { hi = mid }
            }
            return lo
        }
        let i = lowerBound(a)
        let j = max(i, lowerBound(b))
        return p[i..<j]
    }

    static func mean(_ s: ArraySlice<Point>) -> Double { s.reduce(0) { $0 + $1.watts } / Double(s.count) }

    /// Stretches of [a, b) without a sample: between consecutive samples further apart than
    /// `gapFactor` × median, and at the window's edges. A window without any sample is one gap.
    static func gaps(_ p: [Point], _ a: Double, _ b: Double, median: Double?, window: String) -> [TelemetryGap] {
        guard b > a else { return [] }
        let inside = slice(p, a, b)
        guard let first = inside.first?.time, let last = inside.last?.time else {
            return [TelemetryGap(start: a, end: b, window: window)]
        }
        guard let median else { return [] }
        let limit = ReportOptions.gapFactor * median
        var out: [TelemetryGap] = []
        // The sample kept just before the window (samples are kept with slack around every window) and the
        // one just after close its edges; without one, the window's own edge does.
        let before = inside.startIndex > 0 ? p[inside.startIndex - 1].time : nil
        if first - (before ?? a) > limit {
            out.append(TelemetryGap(start: max(a, before ?? a), end: first, window: window))
        }
        var previous = first
        for q in inside.dropFirst() {
            if q.time - previous > limit { out.append(TelemetryGap(start: previous, end: q.time, window: window)) }
            previous = q.time
        }
        let after = inside.endIndex < p.count ? p[inside.endIndex].time : nil
        if (after ?? b) - last > limit {
            out.append(TelemetryGap(start: last, end: min(b, after ?? b), window: window))
        }
        return out
    }

    static func bucket(_ dt: Double) -> Int32 { Int32((log(min(max(dt, 1e-3), 1e7)) / log(1.01)).rounded()) }

    static func median(_ h: [Int32: Spacing]) -> Double? {
        let total = h.values.reduce(0) { $0 + $1.count }
        guard total > 0 else { return nil }
        var seen = 0
        for (_, b) in h.sorted(by: { $0.key < $1.key }) {
            seen += b.count
            if seen * 2 >= total { return b.sum / Double(b.count) }
        }
        return nil
    }
}

extension ReportAssembler.HostStreams {
    func keeps(_ t: Double) -> Bool {
        var lo = 0
        var hi = windows.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if windows[mid].1 < t { lo = mid + 1 } else { hi = mid }
        }
        return lo < windows.count && windows[lo].0 <= t
    }

    mutating func add(_ s: TelemetrySample) {
        var stream = streams.removeValue(forKey: s.source) ?? ReportAssembler.Stream(modelled: s.modelled)
        defer { streams[s.source] = stream }
        guard let w = s.watts else {
            stream.failed += 1
            return
        }
        stream.samples += 1
        stream.first = min(stream.first ?? s.time, s.time)
        stream.last = max(stream.last ?? s.time, s.time)
        if let last = stream.lastTime, s.time > last {
            let dt = s.time - last
            stream.histogram[ReportAssembler.bucket(dt), default: ReportAssembler.Spacing()].count += 1
            stream.histogram[ReportAssembler.bucket(dt), default: ReportAssembler.Spacing()].sum += dt
        }
        stream.lastTime = s.time
        guard keeps(s.time) else { return }
        guard stream.points.count < ReportOptions.maxSamplesPerStream else {
            stream.truncated = true
            return
        }
        let p = ReportAssembler.Point(time: s.time, mono: s.mono ?? .nan, watts: w)
        if let last = stream.points.last, last.time > s.time { stream.unsorted = true }
        stream.points.append(p)
    }
}
