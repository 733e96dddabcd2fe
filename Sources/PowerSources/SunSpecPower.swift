import Synchronization

/// `--power sunspec:HOST:PORT[/UNIT]`: a revenue-style meter over Modbus TCP speaking SunSpec. On the first
/// sample (and after every loss) it connects, finds `SunS` at 40000, 0 or 50000, walks the model chain to
/// the first meter model (201-204) and keeps its address; each sample then reads `W` … `TotWh_SF` in one
/// request. `W` is the reading; the energy is `TotWhImp`'s increase since the first sample (nil while the
/// meter does not implement it).
///
/// A meter that disappears is retried with a bounded backoff (0.5 s doubling to 30 s): samples meanwhile
/// fail at once with "disconnected", so a dead meter costs the sampler nothing. The whole discovery (the
/// connect, the three bases, the chain) has one deadline, `discoveryTimeout`; `interrupt()` and `close()`
/// wake a request in progress from any thread.
package final class SunSpecPower: PowerSource {
    package let kind = "sunspec"
    package let modelled = false
    package let host: String
    package let port: Int
    package let unit: UInt8
    package let timeout: Double
    /// Seconds the whole discovery may take.
    package let discoveryTimeout: Double

    private struct State {
        var connection: ModbusTCPConnection? = nil
        var model: SunSpecMap.Model? = nil
        var failures = 0
        var retryAt = 0.0
        /// The first and the last TotWhImp accumulator seen, and the energy counted from it, in Wh.
        var lastImport: Double? = nil
        var importedWh = 0.0
    }

    // The sampler's thread is the only caller; the lock only satisfies Sendable.
    private let state = Mutex(State())
    private let interruption = ConnectionInterrupt()
    static let maxBackoff = 30.0

    /// - Parameters:
    ///   - timeout: seconds each connect or request may take.
    ///   - discoveryTimeout: seconds the whole discovery may take (default: five requests' worth).
    package init(host: String, port: Int, unit: UInt8, timeout: Double = 1, discoveryTimeout: Double? = nil) {
        self.host = host
        self.port = port
        self.unit = unit
        self.timeout = timeout
        self.discoveryTimeout = discoveryTimeout ?? 5 * timeout
    }

    /// Where the meter model was found (nil until then): for `/status` and the tests.
    package var meterModel: SunSpecMap.Model? { state.withLock { $0.model } }

    package func sample(at now: Double) -> Result<PowerReading, PowerError> {
        state.withLock { s in
            if s.connection == nil || s.model == nil {
                guard now >= s.retryAt else {
                    return .failure(PowerError("disconnected", "sunspec: \(host):\(port) is down; retrying"))
                }
                do throws(PowerError) {
                    let (host, port, unit, timeout, interruption) = (host, port, unit, timeout, interruption)
                    let (c, model) = try Self.discover(deadline: Monotonic.seconds() + discoveryTimeout) {
                        deadline throws(PowerError) in
                        try ModbusTCPConnection(
                            host: host, port: port, unit: unit, timeout: timeout, interrupt: interruption,
                            deadline: deadline)
                    }
                    s.connection = c
                    s.model = model
                } catch {
                    // Whatever stopped the discovery (no marker, no meter model, an exception), it is
                    // tried again from the start after the backoff.
                    return .failure(fail(&s, error, now: now, drop: true))
                }
            }
            guard let c = s.connection, let model = s.model else {
                return .failure(PowerError("disconnected", "sunspec: not connected"))
            }
            let values: SunSpecMap.Values
            do throws(PowerError) {
                let registers = try c.read(address: model.address + SunSpecMap.Meter.w, count: SunSpecMap.Meter.span)
                values = try SunSpecMap.decode(registers).get()
            } catch {
                return .failure(fail(&s, error, now: now))
            }
            s.failures = 0
            var energy: Double? = nil
            if let wh = values.importedWh {
                // A meter reset or an accumulator that wrapped: count from the new value on.
                if let last = s.lastImport, wh >= last { s.importedWh += wh - last }
                s.lastImport = wh
                energy = s.importedWh * 3600
            }
            return .success(PowerReading(watts: values.watts, energyJoules: energy))
        }
    }

    /// Drops the connection after a loss (not after an exception or an unimplemented value, which the
    /// meter answered) and schedules the next attempt.
    private func fail(_ s: inout State, _ error: PowerError, now: Double, drop: Bool = false) -> PowerError {
        if drop || ["disconnected", "timeout", "protocol"].contains(error.reason) {
            s.connection?.close()
            s.connection = nil
            // A map that is rebuilt (another meter behind the address) is found again.
            s.model = nil
            s.failures += 1
            let delay = min(Self.maxBackoff, 0.5 * Double(1 << min(s.failures - 1, 10)))
            s.retryAt = now + delay
        }
        return error
    }

    /// Connects, finds the map's base and walks the chain to the first meter model, all by `deadline`
    /// (monotonic). An exception at a base, or no answer at all (many devices and gateways say nothing about
    /// an address they do not map), means "not here": the next base is tried, on a new connection after a
    /// timeout (the old one was closed: a late reply would answer the next request).
    static func discover(
        deadline: Double, connect: (Double) throws(PowerError) -> ModbusTCPConnection
    ) throws(PowerError) -> (ModbusTCPConnection, SunSpecMap.Model) {
        func late(_ error: PowerError) -> PowerError {
            guard error.reason == "timeout", Monotonic.seconds() >= deadline else { return error }
            return PowerError("timeout", "sunspec: the discovery did not end within its deadline (\(error.message))")
        }
        var c = try connect(deadline)
        var base: Int? = nil
        var tried: [String] = []
        for b in SunSpecMap.bases {
            do throws(PowerError) {
                if !c.isOpen { c = try connect(deadline) }
                if try c.read(address: b, count: 2, deadline: deadline) == SunSpecMap.marker {
                    base = b
                    break
                }
                tried.append("\(b): no marker")
            } catch {
                if error.reason.hasPrefix("exception") {
                    tried.append("\(b): \(error.reason)")
                } else if error.reason == "timeout" && Monotonic.seconds() < deadline {
                    tried.append("\(b): no answer")
                } else {
                    throw late(error)
                }
            }
        }
        guard let base else {
            // Silence everywhere is a meter that does not answer, not a map that is missing.
            if tried.allSatisfy({ $0.hasSuffix("no answer") }) {
                throw PowerError("timeout", "sunspec: no answer at 40000, 0 or 50000 within \(c.timeout) s")
            }
            throw PowerError(
                "not implemented", "sunspec: no SunS marker at 40000, 0 or 50000 (\(tried.joined(separator: "; ")))")
        }
        if !c.isOpen { c = try connect(deadline) }
        var address = base + 2
        var walked = 0
        while true {
            let header: [UInt16]
            do { header = try c.read(address: address, count: 2, deadline: deadline) } catch { throw late(error) }
            switch SunSpecMap.step(header: header, address: address, walked: walked) {
            case .found(let model): return (c, model)
            case .failed(let error): throw error
            case .readHeader(let next):
                address = next
                walked += 1
            }
        }
    }

    /// Wakes a request in progress (from any thread: the sampler is stopping); it and every later sample
    /// fail at once as "disconnected".
    package func interrupt() { interruption.fire() }

    package func close() {
        // First wake a request in progress, which holds the state: the lock is then free at once.
        interruption.fire()
        state.withLock { s in
            s.connection?.close()
            s.connection = nil
        }
    }
}
