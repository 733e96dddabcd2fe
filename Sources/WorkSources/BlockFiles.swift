import Foundation
import NodeRPC

/// Writes solved blocks to disk before anything else happens to them.
package enum BlockFiles {
    /// Writes `hex` to `directory/<height>-<hash>.hex` (mode 0600), fsyncs the file and the directory,
    /// and returns the path. A file cut short (a full disk) is removed, so that no truncated block is
    /// ever taken for a whole one; the caller still has the hex and must keep it elsewhere.
    /// - Throws: `WorkError.disk` naming the path when the directory cannot be created or written.
    package static func write(hex: String, height: Int, hash: String, to directory: String) throws(WorkError) -> String
    {
        let fm = FileManager.default
        do { try fm.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            // Foundation's message here is a bare "error 512": ask the system, whose reason names the
            // cause (and which may yet succeed, if the directory's parent appeared meanwhile).
            if mkdir(directory, 0o700) != 0 && errno != EEXIST {
                throw WorkError(.disk, "cannot create directory \(directory): \(DurableWrite.lastError())")
            }
        }
        let path = (directory as NSString).appendingPathComponent("\(height)-\(hash).hex")
        // Written under a temporary name, fsync'd, then renamed into place: a crash (kill -9, power) at any
        // moment leaves either no file under the block's name or the whole block, never an empty or torn
        // one (scripts/crash-drill found an empty file when the kill fell between create and write).
        let temporary = (directory as NSString).appendingPathComponent(".\(height)-\(hash).hex.tmp")
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw WorkError(.disk, "cannot write \(path): \(DurableWrite.lastError())") }
        var failure: String?
        do { try DurableWrite.all(fd: fd, Array((hex + "\n").utf8)) } catch { failure = error.description }
        if failure == nil, fsync(fd) != 0 { failure = DurableWrite.lastError() }
        close(fd)
        if failure == nil, rename(temporary, path) != 0 { failure = DurableWrite.lastError() }
        if let failure {
            unlink(temporary)
            throw WorkError(.disk, "cannot write \(path): \(failure)")
        }
        guard DurableWrite.syncDirectory(directory) else {
            throw WorkError(.disk, "cannot fsync the directory \(directory): \(DurableWrite.lastError())")
        }
        return path
    }
}
