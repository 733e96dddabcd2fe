import Foundation

/// Writes solved blocks to disk before anything else happens to them.
public enum BlockFiles {
    /// Writes `hex` to `directory/<height>-<hash>.hex`, fsyncs the file and the directory, and returns
    /// the path.
    /// - Throws: `WorkError` naming the path when the directory cannot be created or written.
    public static func write(hex: String, height: Int, hash: String, to directory: String) throws(WorkError) -> String {
        let fm = FileManager.default
        do { try fm.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw WorkError(.disk, "cannot create directory \(directory): \(error.localizedDescription)")
        }
        let path = (directory as NSString).appendingPathComponent("\(height)-\(hash).hex")
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw WorkError(.disk, "cannot write \(path): \(String(cString: strerror(errno)))") }
        let bytes = Array((hex + "\n").utf8)
        let written = bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd)
        close(fd)
        guard written == bytes.count, synced == 0 else {
            throw WorkError(.disk, "cannot write \(path): \(String(cString: strerror(errno)))")
        }
        let dirfd = open(directory, O_RDONLY)
        if dirfd >= 0 {
            _ = fsync(dirfd)
            close(dirfd)
        }
        return path
    }
}
