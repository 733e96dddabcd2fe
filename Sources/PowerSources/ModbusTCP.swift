import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Modbus TCP framing for function 3 (read holding registers), pure: the request's bytes and the reply's
/// registers, with every way a reply can be wrong named. The socket is `ModbusTCPConnection`'s.
///
/// A frame is the MBAP header (transaction id, protocol id 0, the length of what follows, the unit id)
/// and the PDU (function code, then for a request the first register and the count; for a reply the byte
/// count and the registers, big-endian; for an exception the function code | 0x80 and the exception code).
package enum ModbusFrame {
    /// The most registers one request may ask for (the Modbus application protocol's limit).
    package static let maxRegisters = 125
    package static let headerLength = 7

    /// The request for `count` registers from `address`.
    package static func readHoldingRegisters(transaction: UInt16, unit: UInt8, address: UInt16, count: UInt16)
        -> [UInt8]
    {
        [
            UInt8(transaction >> 8), UInt8(transaction & 0xFF), 0, 0, 0, 6, unit, 3,
            UInt8(address >> 8), UInt8(address & 0xFF), UInt8(count >> 8), UInt8(count & 0xFF),
        ]
    }

    /// The PDU length the header announces (what follows the unit id), or an error for a header that
    /// cannot be ours.
    package static func bodyLength(header h: [UInt8], transaction: UInt16, unit: UInt8) -> Result<Int, PowerError> {
        guard h.count == headerLength else { return .failure(PowerError("protocol", "modbus: short header")) }
        let tid = UInt16(h[0]) << 8 | UInt16(h[1])
        let protocolID = UInt16(h[2]) << 8 | UInt16(h[3])
        let length = Int(h[4]) << 8 | Int(h[5])
        guard protocolID == 0 else {
            return .failure(PowerError("protocol", "modbus: protocol id \(protocolID), expected 0"))
        }
        guard tid == transaction else {
            return .failure(PowerError("protocol", "modbus: reply to transaction \(tid), expected \(transaction)"))
        }
        guard h[6] == unit else {
            return .failure(PowerError("protocol", "modbus: reply from unit \(h[6]), expected \(unit)"))
        }
        // The unit id counts in the length; a PDU is at most 253 bytes.
        guard (3...254).contains(length) else {
            return .failure(PowerError("protocol", "modbus: length \(length) out of range"))
        }
        return .success(length - 1)
    }

    /// The registers of a function 3 reply's PDU, or its exception.
    package static func registers(pdu p: [UInt8], count: Int) -> Result<[UInt16], PowerError> {
        guard let function = p.first else { return .failure(PowerError("protocol", "modbus: empty reply")) }
        if function == 0x83 {
            guard p.count == 2 else { return .failure(PowerError("protocol", "modbus: malformed exception reply")) }
            return .failure(
                PowerError(PowerError.exceptionReason(p[1]), "modbus: exception \(p[1]) (\(exceptionName(p[1])))"))
        }
        guard function == 3 else {
            return .failure(PowerError("protocol", "modbus: reply with function \(function), expected 3"))
        }
        guard p.count >= 2, Int(p[1]) == count * 2, p.count == 2 + count * 2 else {
            return .failure(PowerError("protocol", "modbus: reply has the wrong byte count for \(count) registers"))
        }
        return .success((0..<count).map { i in UInt16(p[2 + 2 * i]) << 8 | UInt16(p[3 + 2 * i]) })
    }

    static func exceptionName(_ code: UInt8) -> String {
        switch code {
        case 1: "illegal function"
        case 2: "illegal data address"
        case 3: "illegal data value"
        case 4: "server device failure"
        case 5: "acknowledge"
        case 6: "server device busy"
        case 8: "memory parity error"
        case 10: "gateway path unavailable"
        case 11: "gateway target device failed to respond"
        default: "unknown"
        }
    }
}

/// Lets another thread wake a connection's blocked connect or request (`SunSpecPower.interrupt()`, when
/// the sampler stops): `fire()` shuts the registered socket down, so its poll returns and the request fails
/// as "disconnected" at once. Once fired it stays fired: no new connection starts.
final class ConnectionInterrupt: Sendable {
    // The socket is shut down under the lock, and unregistered under it before it is closed: never a
    // descriptor number that was reused.
    private let state = Mutex<(fd: Int32, fired: Bool)>((-1, false))

    /// Registers `fd` as the socket to wake; false when already fired (the connection must not start).
    func register(_ fd: Int32) -> Bool {
        state.withLock { s in
            guard !s.fired else { return false }
            s.fd = fd
            return true
        }
    }

    func unregister(_ fd: Int32) { state.withLock { s in if s.fd == fd { s.fd = -1 } } }

    func fire() {
        state.withLock { s in
            s.fired = true
            if s.fd >= 0 { shutdown(s.fd, Int32(SHUT_RDWR)) }
        }
    }

    var fired: Bool { state.withLock { $0.fired } }
}

/// One Modbus TCP connection on a blocking socket, used from the power sampler's thread only. Every wait
/// (connect, send, receive) is bounded by `timeout` and by the caller's deadline; one request is
/// outstanding at a time, so a reply is matched by its transaction id.
final class ModbusTCPConnection {
    private var fd: Int32
    private var transaction: UInt16 = 0
    let unit: UInt8
    let timeout: Double
    private let interrupt: ConnectionInterrupt?

    /// Connects to `host:port` (resolved here: the sampler's thread may block on DNS, nothing else waits).
    /// - Parameters:
    ///   - interrupt: wakes a blocked connect or request from another thread.
    ///   - deadline: the monotonic time (`Monotonic`) the connect must end by, besides `timeout`.
    init(
        host: String, port: Int, unit: UInt8, timeout: Double, interrupt: ConnectionInterrupt? = nil,
        deadline: Double = .infinity
    ) throws(PowerError) {
        self.unit = unit
        self.timeout = timeout
        self.interrupt = interrupt
        fd = -1
        let deadline = min(deadline, Monotonic.seconds() + timeout)
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>? = nil
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let first = list else {
            throw PowerError("disconnected", "sunspec: cannot resolve \(host): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(list) }
        var lastError = "no address"
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let a = entry {
            entry = a.pointee.ai_next
            let s = socket(
                a.pointee.ai_family, a.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), a.pointee.ai_protocol)
            guard s >= 0 else { continue }
            guard interrupt?.register(s) ?? true else {
                Glibc.close(s)
                throw PowerError("disconnected", "sunspec: stopping")
            }
            let flags = fcntl(s, F_GETFL)
            _ = fcntl(s, F_SETFL, flags | O_NONBLOCK)
            var r = connect(s, a.pointee.ai_addr, a.pointee.ai_addrlen)
            if r != 0 && errno == EINPROGRESS {
                if Self.wait(s, events: Int16(POLLOUT), timeout: deadline - Monotonic.seconds()) {
                    var error: Int32 = 0
                    var size = socklen_t(MemoryLayout<Int32>.size)
                    getsockopt(s, SOL_SOCKET, SO_ERROR, &error, &size)
                    r = error == 0 ? 0 : -1
                    errno = error
                } else {
                    errno = ETIMEDOUT
                }
            }
            if r == 0 {
                var one: Int32 = 1
                setsockopt(s, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                fd = s
                return
            }
            lastError = String(cString: strerror(errno))
            interrupt?.unregister(s)
            Glibc.close(s)
        }
        throw PowerError("disconnected", "sunspec: cannot connect to \(host):\(port): \(lastError)")
    }

    deinit { close() }

    func close() {
        if fd >= 0 {
            interrupt?.unregister(fd)
            Glibc.close(fd)
        }
        fd = -1
    }

    var isOpen: Bool { fd >= 0 }

    /// Reads `count` registers from `address`.
    /// - Throws: `PowerError`: "timeout", "disconnected", "protocol" or "exception …". After any error but
    ///   an exception the connection is closed (a late reply would answer the next request).
    /// Waits until `timeout` or `deadline` (monotonic), whichever is first.
    func read(address: Int, count: Int, deadline limit: Double = .infinity) throws(PowerError) -> [UInt16] {
        guard fd >= 0 else { throw PowerError("disconnected", "sunspec: not connected") }
        guard (0...0xFFFF).contains(address), (1...ModbusFrame.maxRegisters).contains(count),
            address + count <= 0x10000
        else { throw PowerError("protocol", "modbus: cannot read \(count) registers at \(address)") }
        transaction &+= 1
        let deadline = min(limit, Monotonic.seconds() + timeout)
        let request = ModbusFrame.readHoldingRegisters(
            transaction: transaction, unit: unit, address: UInt16(address), count: UInt16(count))
        do throws(PowerError) {
            try send(request, deadline: deadline)
            let header = try receive(ModbusFrame.headerLength, deadline: deadline)
            let length = try ModbusFrame.bodyLength(header: header, transaction: transaction, unit: unit).get()
            let pdu = try receive(length, deadline: deadline)
            return try ModbusFrame.registers(pdu: pdu, count: count).get()
        } catch {
            if !error.reason.hasPrefix("exception") { close() }
            throw error
        }
    }

    private func send(_ bytes: [UInt8], deadline: Double) throws(PowerError) {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n > 0 {
                sent += n
                continue
            }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                guard Self.wait(fd, events: Int16(POLLOUT), timeout: deadline - Monotonic.seconds()) else {
                    throw PowerError("timeout", "sunspec: the meter took no request within \(timeout) s")
                }
                continue
            }
            throw PowerError("disconnected", "sunspec: send: \(String(cString: strerror(errno)))")
        }
    }

    private func receive(_ count: Int, deadline: Double) throws(PowerError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let n = buffer.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress! + got, count - got, 0) }
            if n > 0 {
                got += n
                continue
            }
            if n == 0 {
                if interrupt?.fired == true { throw PowerError("disconnected", "sunspec: stopping") }
                throw PowerError("disconnected", "sunspec: the meter closed the connection")
            }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK {
                guard Self.wait(fd, events: Int16(POLLIN), timeout: deadline - Monotonic.seconds()) else {
                    throw PowerError("timeout", "sunspec: no reply within \(timeout) s")
                }
                continue
            }
            throw PowerError("disconnected", "sunspec: receive: \(String(cString: strerror(errno)))")
        }
        return buffer
    }

    /// Waits until `fd` is ready for `events` or `timeout` seconds pass.
    static func wait(_ fd: Int32, events: Int16, timeout: Double) -> Bool {
        guard timeout > 0 else { return false }
        var p = pollfd(fd: fd, events: events, revents: 0)
        let ms = Int32(min(timeout * 1000, 3_600_000).rounded(.up))
        while true {
            let r = poll(&p, 1, ms)
            if r < 0 && errno == EINTR { continue }
            return r > 0
        }
    }
}
