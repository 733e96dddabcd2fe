import DemandResponse
import FlexSupport
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Sends signal lines to a running FlexMiner and reads the replies: what `flexminer signal` and test
/// scripts use. Blocking and small on purpose: one connection, one line out, one line back.
package final class SignalClient {
    private var fd: Int32
    private var buffered: [UInt8] = []
    package let spec: SignalSourceSpec

    /// Connects to a `unix:` or `tcp:` source.
    /// - Throws: `SignalError` naming the source and the OS error.
    /// - Parameter timeout: seconds to wait for a reply, within (0, 86400].
    /// - Throws: `SignalError` for a timeout out of range, or naming what failed on the socket.
    package init(_ spec: SignalSourceSpec, timeout: Double = 5) throws(SignalError) {
        // Checked before the socket exists: converted to a timeval below, 1e30 or NaN would trap.
        guard timeout.isFinite, timeout > 0, timeout <= 86_400 else {
            throw SignalError("timeout must be a number of seconds in (0, 86400], got \(timeout)")
        }
        self.spec = spec
        switch spec {
        case .unix(let path):
            fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw Self.osError(spec, "socket") }
            var addr = Self.unixAddress(path)
            let rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            guard rc == 0 else {
                let e = Self.osError(spec, "connect")
                close(fd)
                throw e
            }
        case .tcp(let host, let port):
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var result: UnsafeMutablePointer<addrinfo>?
            guard getaddrinfo(host, String(port), &hints, &result) == 0, let first = result else {
                throw SignalError("\(spec): cannot resolve \(host)")
            }
            defer { freeaddrinfo(result) }
            fd = socket(first.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw Self.osError(spec, "socket") }
            guard connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
                let e = Self.osError(spec, "connect")
                close(fd)
                throw e
            }
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        case .file, .openadr3, .registered:
            throw SignalError("\(spec): not a socket source (a file takes lines by appending: SignalClient.append)")
        }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    /// Sends raw bytes (tests use this for partial lines and garbage).
    package func sendRaw(_ bytes: [UInt8]) throws(SignalError) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw Self.osError(spec, "send") }
            offset += n
        }
    }

    /// Sends one line (a newline is appended) and returns the reply line.
    package func request(_ line: String) throws(SignalError) -> String {
        try sendRaw(Array(line.utf8) + [UInt8(ascii: "\n")])
        return try readLine()
    }

    /// The next reply line (without the newline).
    /// - Throws: `SignalError` on timeout or when the server closed the connection first.
    package func readLine() throws(SignalError) -> String {
        while true {
            if let nl = buffered.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffered[..<nl], as: UTF8.self)
                buffered.removeSubrange(...nl)
                return line
            }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw Self.osError(spec, "no reply (receive") }
            if n == 0 { throw SignalError("\(spec): the connection was closed before a reply") }
            buffered.append(contentsOf: chunk[..<n])
        }
    }

    /// Appends one line to a `file:` source in a single write (O_APPEND), so concurrent writers never
    /// interleave within a line.
    package static func append(_ line: String, toFile path: String) throws(SignalError) {
        let d = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard d >= 0 else { throw osError(.file(path: path), "open") }
        defer { close(d) }
        let bytes = Array(line.utf8) + [UInt8(ascii: "\n")]
        let n = bytes.withUnsafeBytes { write(d, $0.baseAddress, $0.count) }
        guard n == bytes.count else { throw osError(.file(path: path), "write") }
    }

    /// The shared token kept in `path` (`flexminer signal --token-file`), trimmed of surrounding white space:
    /// at least 16 characters, as the miner requires of its own. The token is never part of an error.
    /// - Returns: the token, and a warning when the file is readable by its group or by others.
    /// - Throws: `SignalError` naming the file when it is missing, unreadable, empty or too short.
    package static func readToken(path: String) throws(SignalError) -> (token: String, warning: String?) {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw SignalError("--token-file \(path): cannot read it (\(String(cString: strerror(errno))))")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw SignalError("--token-file \(path): not a regular file")
        }
        // A token file is small; anything large is not one (and is not read whole).
        guard st.st_size <= 4096, let data = FileManager.default.contents(atPath: path) else {
            throw SignalError("--token-file \(path): cannot read it (larger than 4096 bytes, or unreadable)")
        }
        let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty else { throw SignalError("--token-file \(path): the file is empty") }
        guard token.utf8.count >= 16 else {
            throw SignalError("--token-file \(path): the token must be at least 16 characters")
        }
        let mode = st.st_mode & 0o777
        let warning =
            mode & 0o077 != 0
            ? "--token-file \(path): readable by its group or others (mode \(String(mode, radix: 8))); chmod 600 it"
            : nil
        return (token, warning)
    }

    /// `line` with the shared token in its `"token"` field (replacing any), how a socket source takes it.
    /// A line that is not a JSON object is returned unchanged: the miner answers it with its own error.
    package static func line(_ line: String, withToken token: String) -> String {
        guard var object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else {
            return line
        }
        object["token"] = token
        return JSONLine.encoded(object) ?? line
    }

    /// Whether something accepts connections on the Unix socket at `path`.
    static func canConnect(unixPath path: String) -> Bool {
        (try? SignalClient(.unix(path: path), timeout: 1)) != nil
    }

    static func unixAddress(_ path: String) -> sockaddr_un {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            let bytes = Array(path.utf8.prefix(raw.count - 1))
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return addr
    }

    static func osError(_ spec: SignalSourceSpec, _ what: String) -> SignalError {
        SignalError("\(spec): \(what) failed (\(String(cString: strerror(errno))))")
    }
}
