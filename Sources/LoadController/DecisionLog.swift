import DemandResponse
import FlexSupport
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The decision log: one JSON object per line for every signal received and every action taken, written
/// straight to the file (no user-space buffering) so a crash loses nothing already decided. A site uses
/// it to prove compliance.
public final class DecisionLog: Sendable {
    public let path: String
    private let fd: Mutex<Int32>

    /// Opens (creating or appending to) the log.
    /// - Throws: `SignalError` naming the path and the OS error.
    public init(path: String) throws(SignalError) {
        let d = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard d >= 0 else {
            throw SignalError("decision log \(path): cannot open it (\(String(cString: strerror(errno))))")
        }
        self.path = path
        fd = Mutex(d)
    }

    deinit {
        fd.withLock { if $0 >= 0 { Glibc.close($0) } }
    }

    /// Appends one entry; `time` (ISO 8601, UTC, milliseconds) is added first.
    public func write(_ fields: [String: Any], time: Date = Date()) {
        var object = fields
        object["time"] = ISO8601.format(time)
        guard var data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return }
        data.append(UInt8(ascii: "\n"))
        fd.withLock { d in
            guard d >= 0 else { return }
            // One write(2) per entry with O_APPEND: entries never interleave, even across processes.
            data.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let n = Glibc.write(d, raw.baseAddress! + offset, raw.count - offset)
                    if n < 0 && errno == EINTR { continue }
                    if n <= 0 { return }
                    offset += n
                }
            }
        }
    }

    /// Flushes to stable storage and closes (at shutdown).
    public func close() {
        fd.withLock { d in
            guard d >= 0 else { return }
            fsync(d)
            Glibc.close(d)
            d = -1
        }
    }
}
