import DemandResponse
import FlexSupport
import Foundation

extension TariffScenario {
    /// The report's `tariff` and `four_cp` sections and their summary lines.
    public func report(meter: TariffMeter, powerWatts: Double) -> (sections: [String: Any], lines: [String]) {
        var sections: [String: Any] = [:]
        var lines: [String] = []
        func f(_ x: Double, _ d: Int = 2) -> String { String(format: "%.\(d)f", x) }
        let months = meter.monthKWh.keys.sorted()
        let demand = meter.demand()
        if let tc = tariff {
            let t = tc.tariff
            var periods: [[String: Any]] = []
            for p in meter.periodKWh.keys.sorted() {
                let kWh = meter.periodKWh[p] ?? 0
                let usd = meter.periodUSD[p] ?? 0
                var o: [String: Any] = ["kwh": kWh, "usd": usd]
                if p >= 0 {
                    // 0-based as in the JSON; OpenEI's page numbers the same period one higher.
                    o["period"] = p
                    o["openei_period"] = p + 1
                    o["usd_per_mwh_first_tier"] = t.usdPerMWh(period: p, monthKWh: 0)
                } else {
                    o["period"] = "schedule price window"
                }
                periods.append(o)
                lines.append(
                    "  TOU \(p >= 0 ? "period \(p) (OpenEI \(p + 1))" : "schedule price windows"): \(f(kWh, 1)) kWh, \(f(usd)) USD"
                        + (kWh > 0 ? " (\(f(usd / kWh * 1000)) USD/MWh)" : ""))
            }
            let fixed = (t.fixedMonthlyUSD ?? 0) * Double(months.count)
            let demandUSD = demand.reduce(0) { $0 + $1.flatUSD + $1.touUSD }
            sections["tariff"] =
                [
                    "name": t.name ?? NSNull(), "utility": t.utility ?? NSNull(), "label": t.label ?? NSNull(),
                    "timezone": tc.clock.identifier, "holidays": tc.holidays.dates.count,
                    "energy_by_period": periods,
                    "fixed_monthly_usd": t.fixedMonthlyUSD ?? NSNull(), "billing_months": months.count,
                    "fixed_usd": fixed,
                    "demand": demand.map { d -> [String: Any] in
                        [
                            "month": monthName(d.month), "max_kw_15min": d.maxKW, "flat_usd": d.flatUSD,
                            "tou_usd": d.touUSD,
                            "max_kw_by_period": Dictionary(
                                uniqueKeysWithValues: d.maxKWByPeriod.map { ("\($0.key)", $0.value) }),
                        ]
                    },
                    "demand_usd": demandUSD,
                ] as [String: Any]
            lines.insert(
                "tariff: \(t.name ?? t.label ?? "URDB rate") (\(t.utility ?? "")), \(tc.clock.identifier); energy by TOU period:",
                at: 0)
            lines.append(
                "  demand charges \(f(demandUSD)) USD over \(demand.count) month(s) (15-minute maximum demand"
                    + (demand.map { d in " \(monthName(d.month)): \(f(d.maxKW, 1)) kW" }.prefix(3).joined(
                        separator: ","))
                    + (demand.count > 3 ? ", …" : "")
                    + "); fixed \(f(fixed)) USD (\(months.count) × \(f(t.fixedMonthlyUSD ?? 0)))")
        }
        if let load = systemLoad {
            let (json, more) = fourCP(load: load, meter: meter, powerWatts: powerWatts)
            sections["four_cp"] = json
            lines += more
        }
        return (sections, lines)
    }

    /// Per summer month (June–September, local) of the load series: its interval of maximum system load,
    /// whether the miner was curtailed in it, the hours curtailed that month, and the charge avoided.
    func fourCP(load: SystemLoadSeries, meter: TariffMeter, powerWatts: Double) -> ([String: Any], [String]) {
        var peaks: [Int: SystemLoadSeries.Point] = [:]
        for p in load.points {
            let l = clock.local(Date(timeIntervalSince1970: p.start))
            guard (6...9).contains(l.month) else { continue }
            if let best = peaks[l.monthIndex], best.mw >= p.mw { continue }
            peaks[l.monthIndex] = p
        }
        var months: [[String: Any]] = []
        var lines = ["4CP (\(load.path), \(clock.identifier)):"]
        var avoidedTotal = 0.0
        var caught = 0
        var simulated = 0
        let kW = powerWatts / 1000
        for m in peaks.keys.sorted() {
            let p = peaks[m]!
            let capacity = meter.meanCapacity(start: p.start, end: p.end)
            let curtailed = capacity.map { $0 < 0.999 }
            let hours = (meter.curtailedSecondsByMonth[m] ?? 0) / 3600
            // The 4CP charge is the rate times the mean of the four peaks' demand: each month's share is a quarter.
            let avoided = transmissionUSDPerKWYear.flatMap { rate in capacity.map { rate * kW * (1 - $0) / 4 } }
            if let c = curtailed {
                simulated += 1
                if c { caught += 1 }
            }
            avoidedTotal += avoided ?? 0
            let start = localText(p.start)
            months.append([
                "month": monthName(m), "peak_interval_start": start, "peak_interval_end": localText(p.end),
                "peak_interval_start_utc": ISO8601.format(Date(timeIntervalSince1970: p.start)), "peak_mw": p.mw,
                "capacity_in_interval": capacity ?? NSNull(), "curtailed": curtailed ?? NSNull(),
                "hours_curtailed": hours, "transmission_avoided_usd": avoided ?? NSNull(),
            ])
            let state =
                curtailed.map { $0 ? "curtailed (capacity \(String(format: "%.2f", capacity!)))" : "MINING" }
                ?? "not simulated"
            lines.append(
                "  \(monthName(m)) peak \(String(format: "%.0f", p.mw)) MW at \(start) (hour starting): \(state); "
                    + "\(String(format: "%.1f", hours)) h curtailed that month"
                    + (avoided.map { ", avoided \(String(format: "%.2f", $0)) USD" } ?? ""))
        }
        lines.append(
            "  caught \(caught) of \(simulated) summer peaks"
                + (transmissionUSDPerKWYear.map {
                    "; transmission avoided \(String(format: "%.2f", avoidedTotal)) USD at \(String(format: "%.2f", $0)) USD/kW-year"
                } ?? ""))
        let json: [String: Any] = [
            "transmission_usd_per_kw_year": transmissionUSDPerKWYear ?? NSNull(), "months": months,
            "peaks_caught": caught, "peaks_simulated": simulated,
            "transmission_avoided_usd": transmissionUSDPerKWYear == nil ? NSNull() : avoidedTotal,
        ]
        return (json, lines)
    }

    /// Local wall-clock time with its offset, e.g. `2023-08-10T16:00-05:00`.
    func localText(_ t: Double) -> String {
        let l = clock.local(Date(timeIntervalSince1970: t))
        let off = l.offsetSeconds
        let sign = off < 0 ? "-" : "+"
        let h = abs(off) / 3600
        let mm = abs(off) / 60 % 60
        func p2(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(l.dateKey)T\(p2(l.hour)):\(p2(l.minute))\(sign)\(p2(h)):\(p2(mm))"
    }
}
