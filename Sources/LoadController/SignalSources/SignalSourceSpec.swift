import DemandResponse
import FlexSupport

/// Where signals come from, as written on the command line: `unix:PATH`, `tcp:HOST:PORT`, `file:PATH`,
/// `openadr3:URL`, or a kind registered beyond these (`registeredSchemes`).
package enum SignalSourceSpec: Sendable, Hashable, CustomStringConvertible {
    case unix(path: String)
    case tcp(host: String, port: Int)
    case file(path: String)
    /// An OpenADR 3 VTN (`openadr3:http[s]://HOST[:PORT]/BASE_PATH`), read by `OpenADRSource`.
    case openadr3(url: String)
    /// A source of a kind in `registeredSchemes`: its scheme and the text after `scheme:`, which its own
    /// `SignalSource` type reads.
    case registered(scheme: String, address: String)

    /// The kinds beyond the four built in, each an outbound client served by a `SignalSource` type in a
    /// module of its own and made by its line in Operations' `SignalSourceRegistry`: the scheme, and its
    /// usage for the error that lists what `--signals` takes ("openadr2b:http[s]://HOST/PATH").
    package static let registeredSchemes: [(scheme: String, usage: String)] = [
        ("openadr2b", "openadr2b:http[s]://HOST/PATH")
    ]

    /// What `--signals` takes, in the order the error for an unknown source lists it.
    static var usages: [String] {
        ["unix:PATH", "tcp:HOST:PORT", "file:PATH", "openadr3:http[s]://HOST/BASE_PATH"]
            + registeredSchemes.map(\.usage)
    }

    /// Parses `unix:PATH`, `tcp:HOST:PORT` (IPv6 as `tcp:[::1]:PORT`), `file:PATH`, `openadr3:URL` or a
    /// registered `scheme:ADDRESS`.
    /// - Throws: `SignalError` naming the source text and what is wrong with it.
    package init(_ text: String) throws(SignalError) {
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            guard !path.isEmpty else { throw SignalError("signal source \(text): empty socket path") }
            // sockaddr_un.sun_path holds 108 bytes including the terminating NUL.
            guard path.utf8.count <= 107 else {
                throw SignalError("signal source \(text): socket path longer than 107 bytes")
            }
            self = .unix(path: path)
        } else if text.hasPrefix("file:") {
            let path = String(text.dropFirst(5))
            guard !path.isEmpty else { throw SignalError("signal source \(text): empty file path") }
            self = .file(path: path)
        } else if text.hasPrefix("tcp:") {
            do {
                let address = try HostPort(String(text.dropFirst(4)))
                self = .tcp(host: address.host, port: address.port)
            } catch {
                throw SignalError("signal source \(text): \(error.message) (expected tcp:HOST:PORT)")
            }
        } else if text.hasPrefix("openadr3:") {
            let url = String(text.dropFirst(9))
            guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
                throw SignalError("signal source \(text): expected openadr3:http[s]://HOST[:PORT]/BASE_PATH")
            }
            self = .openadr3(url: url)
        } else if let kind = Self.registeredSchemes.first(where: { text.hasPrefix($0.scheme + ":") }) {
            let address = String(text.dropFirst(kind.scheme.count + 1))
            guard !address.isEmpty else { throw SignalError("signal source \(text): expected \(kind.usage)") }
            self = .registered(scheme: kind.scheme, address: address)
        } else {
            let usages = Self.usages
            let list = usages.dropLast().joined(separator: ", ") + " or " + (usages.last ?? "")
            throw SignalError("signal source \(text): expected \(list)")
        }
    }

    package var description: String {
        switch self {
        case .unix(let p): "unix:\(p)"
        case .file(let p): "file:\(p)"
        case .tcp(let h, let port): "tcp:\(HostPort(host: h, port: port))"
        case .openadr3(let url): "openadr3:\(url)"
        case .registered(let scheme, let address): "\(scheme):\(address)"
        }
    }

    /// The text before the first colon: the key of the source's kind in Operations' `SignalSourceRegistry`.
    package var scheme: String {
        switch self {
        case .unix: "unix"
        case .tcp: "tcp"
        case .file: "file"
        case .openadr3: "openadr3"
        case .registered(let scheme, _): scheme
        }
    }

    /// Whether only this machine can reach the source (Unix sockets, files, loopback TCP).
    /// A Unix or TCP socket served by `SignalSocketServer` (on an event loop of its own in `run`).
    package var isSocket: Bool {
        switch self {
        case .unix, .tcp: true
        case .file, .openadr3, .registered: false
        }
    }

    /// Whether a configured shared token is required on this source: every TCP listener, loopback included
    /// (any local process, or a web page in a local browser, can reach a loopback port). A Unix socket keeps
    /// the trust of its file mode (0600); a followed file that of its permissions.
    package var requiresConfiguredToken: Bool {
        if case .tcp = self { true } else { false }
    }

    package var isLocal: Bool {
        switch self {
        case .unix, .file: true
        // Outbound clients: they listen nowhere, and a callback checks a bearer token of its own.
        case .openadr3, .registered: true
        case .tcp(let host, _): Loopback.contains(host: host)
        }
    }
}
