import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A SunSpec meter of the project's own, for tests and `flexminer-testmeter`: a real Modbus TCP server
/// (function 3 only; plain sockets, a thread per connection, at most `maxConnections`) over a register map
/// built by `SunSpecModels` from the SunSpec model definitions: `SunS` at `base`, model 1, a model the
/// client must skip, the meter model, the end marker. It holds a client to the register map: a request
/// outside it, or for more than 125 registers, gets exception 2 or 3 as a real meter answers.
///
/// Its reading comes from `watts` (a closure: a test's value, or the miner's `/status` capacity), and it
/// counts `TotWhImp` from it. Misbehaviours on demand: `exception`, `notImplemented`, `delay`, `refuse`,
/// `silentOutsideMap`, `disconnect()`.
package final class SunSpecTestMeter: Sendable {
    package struct Misbehaviour: Sendable {
        /// Every request is answered with this exception code.
        package var exception: UInt8? = nil
        /// `W` reads 0x8000 (not implemented).
        package var notImplemented = false
        /// Seconds to wait before each reply.
        package var delay = 0.0
        /// Connections are closed as soon as they are accepted.
        package var refuse = false
        /// A request outside the register map gets no reply at all (as many devices and gateways do),
        /// instead of exception 2; the connection stays open.
        package var silentOutsideMap = false
        /// Added to the transaction id of every reply (0: the request's).
        package var transactionDelta: UInt16 = 0
        /// Every reply comes from this unit id instead of the request's.
        package var replyUnit: UInt8? = nil
        package init() {}
    }

    package static let maxConnections = 8
    package let base: Int
    package let modelID: UInt16
    /// The meter model's ID register address.
    package let meterAddress: Int
    package let port: Int
    package let misbehaviour = Mutex(Misbehaviour())
    /// Requests answered (any reply), for tests.
    package let requests = Atomic<Int>(0)
    /// Requests received (answered or not yet), for tests.
    package let received = Atomic<Int>(0)
    private let listener: Int32
    private let watts: @Sendable () -> Double
    private let offsets = SunSpecModels.offsets(SunSpecModels.meter)
    private let map: Mutex<(registers: [UInt16], importedWh: Double, last: Double?)>
    private let connections = Mutex<Set<Int32>>([])
    private let stopped = Atomic<Bool>(false)

    /// A vendor model between common and the meter: the client must walk past it by its length.
    package static let defaultVendorModels: [[UInt16]] = [[64001, 4, 1, 2, 3, 4]]

    /// Starts listening on 127.0.0.1:`port` (0: any free port; see `port`).
    /// - Parameter vendorModels: the registers between common and the meter model, each block from its ID
    ///   (a hostile map: a header whose length runs off the map, or more models than a client walks).
    package init(
        port: Int = 0, base: Int = 40000, model: UInt16 = 203, vendorModels: [[UInt16]] = defaultVendorModels,
        watts: @escaping @Sendable () -> Double
    ) throws {
        self.base = base
        modelID = model
        self.watts = watts
        var r: [UInt16] = [0x5375, 0x6E53]
        r += SunSpecModels.blank(id: 1, SunSpecModels.common)
        for block in vendorModels { r += block }
        meterAddress = base + r.count
        r += SunSpecModels.blank(id: model, SunSpecModels.meter)
        r += [0xFFFF, 0]
        // A meter with a history: TotWhImp 0 would read as "not implemented".
        map = Mutex((r, 1000, nil))

        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            let e = String(cString: strerror(errno))
            close(fd)
            throw TestMeterError("test meter: cannot listen on 127.0.0.1:\(port): \(e)")
        }
        var actual = sockaddr_in()
        var size = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &size) }
        }
        self.port = Int(UInt16(bigEndian: actual.sin_port))
        listener = fd
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    /// Stops listening and closes every connection.
    package func stop() {
        guard !stopped.exchange(true, ordering: .relaxed) else { return }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        disconnect()
    }

    /// Closes every open connection (the meter "disappears" for its clients until they reconnect).
    package func disconnect() {
        connections.withLock { set in
            for fd in set { shutdown(fd, Int32(SHUT_RDWR)) }
        }
    }

    /// The registers as a client would read them now (the reading refreshed from `watts`).
    package func registers(address: Int, count: Int) -> [UInt16]? {
        refresh()
        return map.withLock { m in
            let start = address - base
            guard start >= 0, count >= 0, start + count <= m.registers.count else { return nil }
            return Array(m.registers[start..<(start + count)])
        }
    }

    /// Puts the present reading into the map: `W` with a scale factor that fits it in an int16, and
    /// `TotWhImp` (TotWh_SF 0) integrated from the previous reading.
    private func refresh() {
        // A reading from a file may be anything: what does not fit is served as 0, never a trap.
        let given = watts()
        let w = given.isFinite && abs(given) < 1e12 ? given : 0
        let now = Double(DispatchTime.now().uptimeNanoseconds) / 1e9
        let broken = misbehaviour.withLock { $0.notImplemented }
        map.withLock { m in
            if let last = m.last { m.importedWh += max(0, w) * (now - last) / 3600 }
            m.last = now
            let start = meterAddress - base
            func set(_ name: String, _ v: UInt16) { m.registers[start + offsets[name]!] = v }
            var sf = -2
            while sf < 4 && abs(w * pow(10, Double(-sf))) > 32767 { sf += 1 }
            let raw = Int16(clamping: Int((w * pow(10, Double(-sf))).rounded()))
            set("W", broken ? 0x8000 : UInt16(bitPattern: raw))
            set("W_SF", UInt16(bitPattern: Int16(sf)))
            let wh = UInt32(min(m.importedWh.rounded(.down), Double(UInt32.max)))
            set("TotWhImp", UInt16(wh >> 16))
            m.registers[start + offsets["TotWhImp"]! + 1] = UInt16(wh & 0xFFFF)
            set("TotWh_SF", 0)
        }
    }

    private func acceptLoop() {
        while !stopped.load(ordering: .relaxed) {
            let fd = accept(listener, nil, nil)
            guard fd >= 0 else {
                if errno == EINTR || errno == ECONNABORTED { continue }
                return
            }
            let admitted = connections.withLock { set in
                guard set.count < Self.maxConnections else { return false }
                set.insert(fd)
                return true
            }
            if !admitted || misbehaviour.withLock({ $0.refuse }) {
                if admitted { connections.withLock { _ = $0.remove(fd) } }
                close(fd)
                continue
            }
            Thread.detachNewThread { [self] in serve(fd) }
        }
    }

    private func serve(_ fd: Int32) {
        defer {
            connections.withLock { _ = $0.remove(fd) }
            close(fd)
        }
        while let header = receive(fd, 7) {
            let length = Int(header[4]) << 8 | Int(header[5])
            guard header[2] == 0, header[3] == 0, (2...254).contains(length), let pdu = receive(fd, length - 1) else {
                return
            }
            received.add(1, ordering: .relaxed)
            let m = misbehaviour.withLock { $0 }
            guard let reply = answer(pdu, silentOutsideMap: m.silentOutsideMap) else { continue }
            if m.delay > 0 { usleep(UInt32(min(m.delay, 60) * 1e6)) }
            let transaction = (UInt16(header[0]) << 8 | UInt16(header[1])) &+ m.transactionDelta
            let out =
                [UInt8(transaction >> 8), UInt8(transaction & 0xFF), header[2], header[3]]
                + [UInt8((reply.count + 1) >> 8), UInt8((reply.count + 1) & 0xFF), m.replyUnit ?? header[6]]
                + reply
            requests.add(1, ordering: .relaxed)
            guard sendAll(fd, out) else { return }
        }
    }

    /// The reply PDU for a request PDU (nil: no reply, for an address outside the map when silent).
    func answer(_ pdu: [UInt8], silentOutsideMap: Bool = false) -> [UInt8]? {
        if let code = misbehaviour.withLock({ $0.exception }) { return [(pdu.first ?? 0) | 0x80, code] }
        guard pdu.first == 3 else { return [(pdu.first ?? 0) | 0x80, 1] }
        guard pdu.count == 5 else { return [0x83, 3] }
        let address = Int(pdu[1]) << 8 | Int(pdu[2])
        let count = Int(pdu[3]) << 8 | Int(pdu[4])
        guard (1...125).contains(count) else { return [0x83, 3] }
        guard let r = registers(address: address, count: count) else { return silentOutsideMap ? nil : [0x83, 2] }
        return [3, UInt8(count * 2)] + r.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
    }

    private func receive(_ fd: Int32, _ count: Int) -> [UInt8]? {
        var b = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let n = b.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + got, count - got, 0) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return nil }
            got += n
        }
        return b
    }

    private func sendAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            sent += n
        }
        return true
    }
}

package struct TestMeterError: Error, CustomStringConvertible {
    package let description: String
    package init(_ d: String) { description = d }
}
