/// The SunSpec register map, pure: where the map starts, the model chain, and a meter model's total real
/// power and imported energy with their scale factors. No I/O: `SunSpecPower` reads the registers.
///
/// Offsets are from the SunSpec model definitions (models 201, 202, 203 and 204 share one layout, the
/// `ac_meter` group of length 105): counted from the model's `ID` register, `W` is at 18, `W_SF` at 22,
/// `TotWhImp` (acc32, two registers) at 46 and `TotWh_SF` at 54.
package enum SunSpecMap {
    /// "SunS" in two registers.
    package static let marker: [UInt16] = [0x5375, 0x6E53]
    /// Where a map may start, in the order they are tried.
    package static let bases = [40000, 0, 50000]
    /// The model id that ends the chain.
    package static let endModel: UInt16 = 0xFFFF
    package static let meterModels: Set<UInt16> = [201, 202, 203, 204]
    /// The model that must follow the marker (common: manufacturer, model, serial number).
    package static let commonModel: UInt16 = 1

    /// Offsets within a meter model, from its `ID` register.
    package enum Meter {
        package static let w = 18
        package static let wSF = 22
        package static let totWhImp = 46
        package static let totWhSF = 54
        /// The registers read each sample: `W` through `TotWh_SF`.
        package static let span = totWhSF - w + 1
        /// The shortest model length (L) that holds `TotWh_SF` (L counts from the register after L).
        package static let minimumLength = totWhSF - 1
    }

    /// Not-implemented values, by SunSpec type.
    package static let notImplementedInt16: UInt16 = 0x8000
    package static let notImplementedUInt16: UInt16 = 0xFFFF
    package static let notImplementedSunSSF: UInt16 = 0x8000
    package static let notImplementedAcc32: UInt32 = 0

    /// A model header in the chain: its id, length (registers after the header) and the address of `ID`.
    package struct Model: Sendable, Hashable {
        package let id: UInt16
        package let length: Int
        package let address: Int

        package init(id: UInt16, length: Int, address: Int) {
            self.id = id
            self.length = length
            self.address = address
        }
    }

    /// What walking the chain needs next: the header at `address`, or the answer.
    package enum Walk: Sendable, Hashable {
        case readHeader(address: Int)
        case found(Model)
        case failed(PowerError)
    }

    /// The bounded number of models walked before giving up (a loop or a broken map).
    package static let maxModels = 64

    /// The next step after reading the header `(id, length)` at `address`, `walked` models in (the first,
    /// `walked` 0, must be model 1).
    package static func step(header: [UInt16], address: Int, walked: Int) -> Walk {
        guard header.count == 2 else { return .failed(PowerError("protocol", "sunspec: short model header")) }
        let id = header[0]
        let length = Int(header[1])
        // The map's first model is common (1): anything else is not a SunSpec map (or not ours to trust).
        if walked == 0 && id != commonModel {
            return .failed(
                PowerError("protocol", "sunspec: the first model at \(address) is \(id), expected 1 (common)"))
        }
        if id == endModel {
            return .failed(PowerError("not implemented", "sunspec: no meter model (201-204) in the map"))
        }
        if meterModels.contains(id) {
            guard length >= Meter.minimumLength else {
                return .failed(
                    PowerError(
                        "protocol",
                        "sunspec: meter model \(id) at \(address) has length \(length), too short for TotWh_SF"))
            }
            return .found(Model(id: id, length: length, address: address))
        }
        let next = address + 2 + length
        guard walked + 1 < maxModels, next + 2 <= 0x10000 else {
            return .failed(PowerError("protocol", "sunspec: the model chain does not end within \(maxModels) models"))
        }
        return .readHeader(address: next)
    }

    /// One meter reading, from the registers `W` … `TotWh_SF` (`Meter.span` of them).
    package struct Values: Sendable, Hashable {
        package let watts: Double
        /// Imported energy in Wh, nil when not implemented.
        package let importedWh: Double?
    }

    /// Decodes `W`, `W_SF`, `TotWhImp` and `TotWh_SF`.
    package static func decode(_ r: [UInt16]) -> Result<Values, PowerError> {
        guard r.count == Meter.span else { return .failure(PowerError("protocol", "sunspec: short meter block")) }
        func at(_ offset: Int) -> UInt16 { r[offset - Meter.w] }
        let w = at(Meter.w)
        let wsf = at(Meter.wSF)
        guard w != notImplementedInt16 else {
            return .failure(PowerError("not implemented", "sunspec: W is not implemented (0x8000)"))
        }
        guard wsf != notImplementedSunSSF else {
            return .failure(PowerError("not implemented", "sunspec: W_SF is not implemented (0x8000)"))
        }
        guard let watts = scaled(Double(Int16(bitPattern: w)), wsf) else {
            return .failure(PowerError("protocol", "sunspec: W_SF \(Int16(bitPattern: wsf)) is outside -10...10"))
        }
        let acc = UInt32(at(Meter.totWhImp)) << 16 | UInt32(at(Meter.totWhImp + 1))
        let esf = at(Meter.totWhSF)
        var imported: Double? = nil
        if acc != notImplementedAcc32, esf != notImplementedSunSSF { imported = scaled(Double(acc), esf) }
        return .success(Values(watts: watts, importedWh: imported))
    }

    /// value × 10^sf for a scale factor within the spec's -10...10 (a division for negative ones: 4125 with
    /// -1 is exactly 412.5, where × 0.1 need not be).
    static func scaled(_ value: Double, _ raw: UInt16) -> Double? {
        let sf = Int(Int16(bitPattern: raw))
        guard (-10...10).contains(sf) else { return nil }
        var p = 1.0
        for _ in 0..<abs(sf) { p *= 10 }
        return sf < 0 ? value / p : value * p
    }
}
