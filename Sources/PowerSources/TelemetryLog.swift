import FlexSupport
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// `--telemetry PATH`: one JSON line per power source per sample (docs/power.md has the fields), for
/// `flexminer report`. Lines are queued (bounded: `queueLimit`, default 1024; when the disk does not keep up the oldest
/// are dropped and counted) and written by a thread of the log's own, so neither the sampler nor the
/// control path waits for the disk. The file is mode 0600; when a line would take it past `maxBytes` it is
/// renamed to `PATH.1` (replacing the previous one) and a new file is started: the telemetry on disk stays
/// under twice `maxBytes`. When the rename fails (PATH.1 is a directory, the disk is read-only) the line is
/// not written but counted in `errors`, and the rotation is tried again with the next one: PATH never grows
/// past `maxBytes`. A line the disk takes only in part (disk full) is cut off again (`ftruncate` to the last
/// line's end): the file holds whole lines only.
package final class TelemetryLog: Sendable {
    package let path: String
    package let maxBytes: Int
    /// Lines waiting for the writer, at most (by default).
    package static let defaultQueueLimit = 1024
    package let queueLimit: Int

    private struct File {
        var fd: Int32
        var size: Int
    }

    private let writer: BoundedLineWriter
    private let file: Mutex<File>
    private let errorCount = Atomic<Int>(0)
    private let reported = Atomic<Bool>(false)
    private let report: @Sendable (String) -> Void

    /// Lines dropped because the queue was full, since the start.
    package var dropped: Int { writer.dropped }
    /// Lines that could not be written (disk full, I/O error), since the start.
    package var errors: Int { errorCount.load(ordering: .relaxed) }

    /// Opens (creating mode 0600, or appending to) the telemetry file and starts its writer.
    /// - Parameter report: told once, on the first failed write, what failed.
    /// - Throws: `PowerError` ("telemetry") naming the path and the OS error.
    package init(
        path: String, maxBytes: Int, queueLimit: Int = defaultQueueLimit,
        report: @escaping @Sendable (String) -> Void = { _ in }
    ) throws(PowerError) {
        self.path = path
        self.maxBytes = maxBytes
        self.queueLimit = max(1, queueLimit)
        self.report = report
        writer = BoundedLineWriter(limit: queueLimit)
        file = Mutex(try Self.open(path))
        do throws(ThreadStartError) {
            try writer.start(
                name: "flexminer-telem",
                BoundedLineWriter.Sink(write: { [self] in append($0) }, finish: { [self] in closeFile() }))
        } catch {
            throw PowerError("telemetry", "--telemetry \(path): \(error)")
        }
    }

    deinit {
        file.withLock { if $0.fd >= 0 { Glibc.close($0.fd) } }
    }

    private static func open(_ path: String) throws(PowerError) -> File {
        let fd = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw PowerError("telemetry", "--telemetry \(path): cannot open it (\(String(cString: strerror(errno))))")
        }
        // The umask can only remove bits; an existing file keeps no wider mode either.
        fchmod(fd, 0o600)
        var st = stat()
        let size = fstat(fd, &st) == 0 ? Int(st.st_size) : 0
        return File(fd: fd, size: size)
    }

    /// Queues one line (a JSON object); never waits for the disk.
    package func write(_ object: [String: Any]) {
        var bytes = Array(JSONLine.encode(object).utf8)
        bytes.append(UInt8(ascii: "\n"))
        writer.enqueue(bytes)
    }

    /// Waits (at most `timeout`) until every queued line is written (tests).
    @discardableResult
    package func flush(timeout: Duration = .seconds(5)) -> Bool { writer.flush(timeout: timeout) }

    /// Writes what is queued and closes; waits at most `timeout` for the disk.
    package func close(timeout: Duration = .seconds(2)) {
        if writer.close(timeout: timeout) != nil {
            report("telemetry \(path): the disk did not take the last lines within \(timeout.seconds) s")
        }
    }

    /// The writer's last step: what was written reaches the disk, and the file is closed.
    private func closeFile() {
        file.withLock { f in
            fsync(f.fd)
            Glibc.close(f.fd)
            f.fd = -1
        }
    }

    private func append(_ line: [UInt8]) {
        file.withLock { f in
            if f.fd < 0 {
                // The last rotation could not open a new PATH: try again.
                do throws(PowerError) { f = try Self.open(path) } catch { return failed(error.message) }
            }
            if f.size > 0 && f.size + line.count > maxBytes {
                if let why = rotate(&f) { return failed(why) }
            }
            var offset = 0
            while offset < line.count {
                let n = line.withUnsafeBytes { Glibc.write(f.fd, $0.baseAddress! + offset, line.count - offset) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else {
                    let why = n == 0 ? "the disk took no bytes" : String(cString: strerror(errno))
                    // Half a line would corrupt the one after it: back to the last whole line.
                    if offset > 0 && ftruncate(f.fd, off_t(f.size)) != 0 { f.size += offset }
                    return failed(why)
                }
                offset += n
            }
            f.size += line.count
        }
    }

    /// PATH → PATH.1 (the previous PATH.1 goes), and a new PATH; nil when done, else why not. The rename
    /// comes first: when it fails PATH stays open as it was (and is not written to: the caller drops the
    /// line), never reopened and appended to past `maxBytes`.
    private func rotate(_ f: inout File) -> String? {
        if rename(path, path + ".1") != 0 { return "cannot rotate to \(path).1: \(String(cString: strerror(errno)))" }
        fsync(f.fd)
        Glibc.close(f.fd)
        f.fd = -1
        do { f = try Self.open(path) } catch { return error.message }
        return nil
    }

    private func failed(_ why: String) {
        errorCount.add(1, ordering: .relaxed)
        if !reported.exchange(true, ordering: .relaxed) {
            report("telemetry \(path): cannot write a line (\(why)); lines are being lost")
        }
    }
}

extension TelemetryLog {
    /// One telemetry line (the shared contract with `flexminer report`; docs/power.md):
    /// `time` (ISO 8601 UTC, ms), `mono_s`, `host`, `source`, `modelled`, `watts` (null when the sample
    /// failed, with `error`), `energy_j` (since the run started; null if unknown), `capacity` (effective: 0
    /// when halted), `state` (as in /status), `curtailments` (active ids).
    package static func line(
        _ sample: PowerSampler.Sample, host: String, capacity: Double, state: String, curtailments: [String]
    ) -> [String: Any] {
        var o: [String: Any] = [
            "time": ISO8601.format(sample.time), "mono_s": (sample.monotonic * 1000).rounded() / 1000, "host": host,
            "source": sample.source, "modelled": sample.modelled, "capacity": capacity, "state": state,
            "curtailments": curtailments,
        ]
        switch sample.result {
        case .success(let r):
            o["watts"] = r.watts.isFinite ? r.watts : NSNull()
            o["energy_j"] = r.energyJoules.flatMap { $0.isFinite ? $0 : nil } ?? NSNull()
        case .failure(let e):
            o["watts"] = NSNull()
            o["energy_j"] = NSNull()
            o["error"] = PowerError.label(e.reason)
        }
        return o
    }

    /// The host name for the telemetry (gethostname; "unknown" if it fails).
    package static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "unknown" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
