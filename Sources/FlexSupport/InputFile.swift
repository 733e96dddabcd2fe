import Foundation

/// Reading an input file given by the operator (a config, a policy, a template, a price series, an
/// events file): only regular files, at most `limit` bytes, so `/dev/zero`, a FIFO or a directory named
/// by mistake is an error naming the file instead of a hang or an unbounded allocation.
public enum InputFile {
    /// Small inputs (configs, policies, templates, events): 16 MiB.
    public static let smallLimit = 16 << 20
    /// Large inputs (years of 5-minute prices): 512 MiB.
    public static let largeLimit = 512 << 20

    /// The file's bytes.
    /// - Throws: `InputError` naming `path`: missing, unreadable, not a regular file, or too large.
    public static func data(_ path: String, limit: Int = smallLimit) throws(InputError) -> Data {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw InputError("\(path): cannot read it (\(String(cString: strerror(errno))))")
        }
        guard st.st_mode & S_IFMT == S_IFREG else { throw InputError("\(path): not a regular file") }
        guard st.st_size <= off_t(limit) else {
            throw InputError("\(path): \(st.st_size) bytes is more than the limit of \(limit)")
        }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw InputError("\(path): cannot read it (\(String(cString: strerror(errno))))")
        }
        defer { try? handle.close() }
        // Read at most limit + 1 bytes: a file that grew after stat still cannot exceed the limit.
        let data: Data
        do { data = try handle.read(upToCount: limit + 1) ?? Data() } catch {
            throw InputError("\(path): cannot read it (\(error.localizedDescription))")
        }
        guard data.count <= limit else { throw InputError("\(path): more than the limit of \(limit) bytes") }
        return data
    }

    /// The file as UTF-8 text (invalid sequences replaced).
    public static func text(_ path: String, limit: Int = smallLimit) throws(InputError) -> String {
        String(decoding: try data(path, limit: limit), as: UTF8.self)
    }
}
