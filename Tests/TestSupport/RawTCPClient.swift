import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// What a plain TCP client saw: everything it received, how the stream ended, and whether all it had to
/// send was taken.
public struct RawExchange: Sendable {
    /// The bytes received, as text.
    public var received: String
    /// "end of stream" (an orderly close), "reset", "timeout" or another OS error's text.
    public var ending: String
    /// Whether every byte was sent (a server that closes with unread input makes the send fail).
    public var sentAll: Bool
}

/// Connects to `127.0.0.1:port`, sends `bytes` (blocking), then reads until the server ends the stream
/// (at most `timeout` seconds). Written on the OS's sockets so that it depends on no code under test.
public func rawExchange(port: Int, bytes: [UInt8], timeout: Int = 5) -> RawExchange {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    precondition(fd >= 0, "socket: \(String(cString: strerror(errno)))")
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    guard connected == 0 else {
        return RawExchange(received: "", ending: "connect: \(String(cString: strerror(errno)))", sentAll: false)
    }
    var tv = timeval(tv_sec: timeout, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    var sent = 0
    while sent < bytes.count {
        let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { break }
        sent += n
    }
    var received: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65_536)
    while true {
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n > 0 {
            received += chunk[..<n]
            continue
        }
        if n < 0 && errno == EINTR { continue }
        let ending =
            n == 0
            ? "end of stream"
            : errno == ECONNRESET ? "reset" : errno == EAGAIN ? "timeout" : String(cString: strerror(errno))
        return RawExchange(
            received: String(decoding: received, as: UTF8.self), ending: ending, sentAll: sent == bytes.count)
    }
}
