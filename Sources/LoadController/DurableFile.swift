import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Small helpers for files that must survive a crash: the decision log and the state file.
enum DurableFile {
    /// Flushes the directory holding `path`, so a file just created (or renamed into place) is still there
    /// after a power cut, not only its contents.
    static func syncDirectory(of path: String) {
        let directory = (path as NSString).deletingLastPathComponent
        let d = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard d >= 0 else { return }
        fsync(d)
        close(d)
    }

    /// Writes all of `bytes` to `fd`, retrying short writes and EINTR.
    /// - Returns: nil when everything was written, else how many bytes were and the OS error.
    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> (written: Int, error: String)? {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return (offset, n == 0 ? "nothing written" : String(cString: strerror(errno))) }
            offset += n
        }
        return nil
    }

    /// Replaces `path` with `bytes` atomically: a temporary file in the same directory (mode 0600),
    /// fsync'd, renamed over the old one, then the directory fsync'd. A crash leaves the old file or the
    /// new one, never a mix.
    /// - Throws: `SignalError` naming the path and the OS error.
    static func replace(_ path: String, with bytes: [UInt8]) throws(SignalErrorBox) {
        let temporary = path + ".tmp"
        let d = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard d >= 0 else {
            throw SignalErrorBox("\(temporary): cannot create it (\(String(cString: strerror(errno))))")
        }
        // An existing temporary file (from a crash) keeps its mode through O_CREAT: make it private.
        fchmod(d, 0o600)
        if let failure = writeAll(d, bytes) {
            close(d)
            unlink(temporary)
            throw SignalErrorBox("\(temporary): cannot write it (\(failure.error))")
        }
        guard fsync(d) == 0 else {
            let e = String(cString: strerror(errno))
            close(d)
            unlink(temporary)
            throw SignalErrorBox("\(temporary): cannot sync it (\(e))")
        }
        close(d)
        guard rename(temporary, path) == 0 else {
            let e = String(cString: strerror(errno))
            unlink(temporary)
            throw SignalErrorBox("\(path): cannot rename \(temporary) over it (\(e))")
        }
        syncDirectory(of: path)
    }
}

/// A message-only error of this module's helpers (nobody branches on it).
struct SignalErrorBox: Error {
    let message: String
    init(_ message: String) { self.message = message }
}
