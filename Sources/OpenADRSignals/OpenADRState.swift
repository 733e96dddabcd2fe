import FlexSupport
import Foundation
import OpenADR

#if canImport(Glibc)
    import Glibc
#endif

/// What the VEN knows and must keep across a restart: the program, the last events read (so the
/// schedule still runs while the VTN is unreachable), the live subscription (to remove a stale one)
/// and the intervals already reported. JSON, written atomically (temp file, fsync, rename), mode 0600.
package struct OpenADRState: Sendable, Hashable {
    package var programID: String?
    package var venID: String?
    package var subscriptionID: String?
    package var events: [Event] = []
    /// Ids of intervals already reported (bounded: the latest 1,000).
    package var reported: [String] = []

    package init() {}

    /// Reads the state file; a missing file is an empty state.
    /// - Throws: `InputError` naming the file and the field.
    package static func load(path: String) throws(InputError) -> OpenADRState {
        guard FileManager.default.fileExists(atPath: path) else { return OpenADRState() }
        do throws(InputError) {
            let f = try JSONFields(json: InputFile.data(path), what: "the OpenADR state")
            var s = OpenADRState()
            s.programID = try f.string("program_id")
            s.venID = try f.string("ven_id")
            s.subscriptionID = try f.string("subscription_id")
            s.reported = try f.strings("reported") ?? []
            for (i, item) in (try f.array("events") ?? []).enumerated() {
                guard let o = item as? [String: Any] else {
                    throw InputError("field \"events[\(i)]\" must be an object")
                }
                s.events.append(try Event(fields: JSONFields(o, path: "events[\(i)].")))
            }
            return s
        } catch {
            throw InputError("\(path): \(error.message)")
        }
    }

    /// Writes the state atomically with mode 0600.
    /// - Throws: `InputError` naming the file and the system's reason.
    package func save(path: String) throws(InputError) {
        var o: [String: Any] = [
            "version": 1, "events": events.map(\.object), "reported": Array(reported.suffix(1000)),
            "saved": ISO8601.format(Date()),
        ]
        if let programID { o["program_id"] = programID }
        if let venID { o["ven_id"] = venID }
        if let subscriptionID { o["subscription_id"] = subscriptionID }
        guard let data = try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys, .prettyPrinted]) else {
            throw InputError("\(path): the state cannot be encoded")
        }
        let temp = "\(path).tmp.\(getpid())"
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw InputError("\(path): cannot write \(temp) (\(String(cString: strerror(errno))))") }
        // An existing temp file keeps its mode through O_CREAT: set it.
        _ = fchmod(fd, 0o600)
        let ok = data.withUnsafeBytes { buffer -> Bool in
            var done = 0
            while done < buffer.count {
                let n = write(fd, buffer.baseAddress! + done, buffer.count - done)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return false }
                done += n
            }
            return true
        }
        let synced = fsync(fd) == 0
        close(fd)
        guard ok, synced, rename(temp, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temp)
            throw InputError("\(path): cannot write the state (\(reason))")
        }
    }
}
