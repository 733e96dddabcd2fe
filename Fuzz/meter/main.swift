import PowerSources

// Every byte a meter sends is read here first: a Modbus TCP reply (its header, then the PDU the header
// announces) must give registers, an exception or a PowerError, never a trap; the registers then go
// through the SunSpec chain walk and the meter decoding, and what is accepted keeps its promises. The same
// bytes as text are a `--power` value.
func check(_ condition: Bool, _ what: String, _ bytes: [UInt8]) {
    if !condition { fatalError("accepted but invalid (\(what)): \(bytes)") }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if bytes.count >= ModbusFrame.headerLength {
        let header = Array(bytes[0..<ModbusFrame.headerLength])
        let transaction = UInt16(bytes[0]) << 8 | UInt16(bytes[1])
        if case .success(let length) = ModbusFrame.bodyLength(header: header, transaction: transaction, unit: bytes[6])
        {
            check((2...253).contains(length), "length", bytes)
            let pdu = Array(bytes.dropFirst(ModbusFrame.headerLength).prefix(length))
            for count in [2, SunSpecMap.Meter.span] {
                guard case .success(let r) = ModbusFrame.registers(pdu: pdu, count: count) else { continue }
                check(r.count == count, "register count", bytes)
                if count == 2 {
                    let address = Int(bytes[2]) << 8 | Int(bytes[3])
                    if case .readHeader(let next) = SunSpecMap.step(header: r, address: address, walked: Int(bytes[4]))
                    {
                        check(next > address && next + 2 <= 0x10000, "next model", bytes)
                    }
                } else if case .success(let v) = SunSpecMap.decode(r) {
                    check(v.watts.isFinite && (v.importedWh ?? 0).isFinite, "values", bytes)
                }
            }
        }
    }
    _ = try? PowerSourceSpec(String(decoding: bytes, as: UTF8.self))
    return 0
}
