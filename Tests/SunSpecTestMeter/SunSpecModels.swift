/// The SunSpec models the test meter serves, transcribed from the SunSpec model definitions (the
/// `sunspec/models` JSON files: model 1 "common", and 201/202/203/204 "ac_meter", which share one list of
/// points): each point's name, size in registers and type, in order. Offsets are summed here, by this
/// code, never taken from the client under test.
package enum SunSpecModels {
    package enum Kind: Sendable { case int16, uint16, sunssf, acc32, bitfield32, string, pad }

    package struct Point: Sendable {
        package let name: String
        package let size: Int
        package let kind: Kind
    }

    /// Model 1 (common): Mn, Md, Opt, Vr, SN, DA, Pad; length 66.
    package static let common: [Point] = [
        Point(name: "Mn", size: 16, kind: .string), Point(name: "Md", size: 16, kind: .string),
        Point(name: "Opt", size: 8, kind: .string), Point(name: "Vr", size: 8, kind: .string),
        Point(name: "SN", size: 16, kind: .string), Point(name: "DA", size: 1, kind: .uint16),
        Point(name: "Pad", size: 1, kind: .pad),
    ]

    /// Models 201-204 (ac_meter) after ID and L; length 105.
    package static let meter: [Point] = {
        var p: [Point] = []
        func i(_ names: String...) { for n in names { p.append(Point(name: n, size: 1, kind: .int16)) } }
        func sf(_ n: String) { p.append(Point(name: n, size: 1, kind: .sunssf)) }
        func acc(_ names: String...) { for n in names { p.append(Point(name: n, size: 2, kind: .acc32)) } }
        i("A", "AphA", "AphB", "AphC")
        sf("A_SF")
        i("PhV", "PhVphA", "PhVphB", "PhVphC", "PPV", "PhVphAB", "PhVphBC", "PhVphCA")
        sf("V_SF")
        i("Hz")
        sf("Hz_SF")
        i("W", "WphA", "WphB", "WphC")
        sf("W_SF")
        i("VA", "VAphA", "VAphB", "VAphC")
        sf("VA_SF")
        i("VAR", "VARphA", "VARphB", "VARphC")
        sf("VAR_SF")
        i("PF", "PFphA", "PFphB", "PFphC")
        sf("PF_SF")
        acc("TotWhExp", "TotWhExpPhA", "TotWhExpPhB", "TotWhExpPhC")
        acc("TotWhImp", "TotWhImpPhA", "TotWhImpPhB", "TotWhImpPhC")
        sf("TotWh_SF")
        acc("TotVAhExp", "TotVAhExpPhA", "TotVAhExpPhB", "TotVAhExpPhC")
        acc("TotVAhImp", "TotVAhImpPhA", "TotVAhImpPhB", "TotVAhImpPhC")
        sf("TotVAh_SF")
        for q in ["ImpQ1", "ImpQ2", "ExpQ3", "ExpQ4"] {
            acc("TotVArh\(q)", "TotVArh\(q)PhA", "TotVArh\(q)PhB", "TotVArh\(q)PhC")
        }
        sf("TotVArh_SF")
        p.append(Point(name: "Evt", size: 2, kind: .bitfield32))
        return p
    }()

    /// A model's length (registers after ID and L).
    package static func length(_ points: [Point]) -> Int { points.reduce(0) { $0 + $1.size } }

    /// Each point's offset from the model's ID register (ID at 0, L at 1).
    package static func offsets(_ points: [Point]) -> [String: Int] {
        var o: [String: Int] = [:]
        var at = 2
        for p in points {
            o[p.name] = at
            at += p.size
        }
        return o
    }

    /// The registers of a model whose points are all "not implemented" (int16 and sunssf 0x8000, uint16
    /// 0xFFFF, acc32 0, strings and bitfields 0), ready for values to be set.
    package static func blank(id: UInt16, _ points: [Point]) -> [UInt16] {
        var r: [UInt16] = [id, UInt16(length(points))]
        for p in points {
            switch p.kind {
            case .int16, .sunssf: r += [0x8000]
            case .uint16: r += [0xFFFF]
            case .acc32, .bitfield32, .string, .pad: r += Array(repeating: 0, count: p.size)
            }
        }
        return r
    }
}
