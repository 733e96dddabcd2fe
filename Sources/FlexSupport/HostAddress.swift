import Foundation

/// `HOST:PORT` as flags and configs write it (`127.0.0.1:9105`, `[::1]:9105`, `localhost:9105`).
public struct HostPort: Sendable, Hashable, CustomStringConvertible {
    public let host: String
    public let port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// - Throws: `InputError` saying what is wrong (the caller names the flag).
    public init(_ text: String) throws(InputError) {
        guard let colon = text.lastIndex(of: ":") else {
            throw InputError("expected HOST:PORT, e.g. 127.0.0.1:9105")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw InputError("empty host") }
        guard let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw InputError("port must be a number 0...65535")
        }
        self.init(host: host, port: port)
    }

    /// `host:port`, with IPv6 hosts in brackets.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Whether only this machine can reach the address (see `Loopback.contains`).
    public var isLoopback: Bool { Loopback.contains(host: host) }
}

/// Whether an address is this machine's loopback, decided on the parsed address (never on a prefix of
/// the text: "127.example.com" is not loopback).
public enum Loopback {
    /// True for `localhost`, 127.0.0.0/8, `::1` and IPv4-mapped `::ffff:127.x.y.z`.
    public static func contains(host: String) -> Bool {
        if host == "localhost" { return true }
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 {
            return UInt32(bigEndian: v4.s_addr) >> 24 == 127
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, host, &v6) == 1 else { return false }
        let b = withUnsafeBytes(of: v6) { Array($0) }
        if b[0..<15].allSatisfy({ $0 == 0 }) && b[15] == 1 { return true }  // ::1
        // ::ffff:a.b.c.d (IPv4-mapped)
        return b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xff && b[11] == 0xff && b[12] == 127
    }
}

/// Comparing secrets in time that does not depend on where they first differ.
public enum ConstantTime {
    /// Whether `given` equals `expected`; the time depends only on the lengths.
    public static func equal(_ given: String?, _ expected: String) -> Bool {
        guard let given else { return false }
        let a = Array(given.utf8)
        let b = Array(expected.utf8)
        var diff = UInt8(a.count == b.count ? 0 : 1)
        for i in 0..<b.count { diff |= (i < a.count ? a[i] : 0) ^ b[i] }
        return diff == 0
    }
}

/// Worker thread counts: one range for every flag and config key that sets one.
public enum ThreadCount {
    public static let range: ClosedRange<Int> = 1...1024

    /// One per CPU.
    public static var `default`: Int { ProcessInfo.processInfo.activeProcessorCount }

    /// - Returns: an error message naming `flag`, or nil when `n` is within `range`.
    public static func problem(_ n: Int, flag: String = "--threads") -> String? {
        range.contains(n) ? nil : "\(flag) must be \(range.lowerBound)...\(range.upperBound), got \(n)"
    }
}
