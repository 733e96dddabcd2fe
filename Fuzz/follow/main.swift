import Foundation
import LoadController

#if canImport(Glibc)
    import Glibc
#endif

// The followed-file reader against random sequences of appends, rewrites (truncate then write, and
// overwrite in place), truncations and wake-ups, some rewrites landing between two reads of one wake-up.
// A small model says what must have been applied: after every quiet wake-up (nothing written during it),
// the lines handed on since the reader last said it reads from the start are exactly the complete lines
// the file holds; appends alone are never taken for a rewrite, and are never history. Any difference
// traps, so libFuzzer keeps the input.

let maxLine = 24
/// Files stay below the reader's window, so every byte read is checked: the model is exact.
let maxFile = 512
let directory: String = {
    var template = Array((FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : "/tmp").utf8)
    template += Array("/flexminer-fuzz-follow-XXXXXX".utf8) + [0]
    let made = template.withUnsafeMutableBufferPointer { p in
        p.baseAddress!.withMemoryRebound(to: CChar.self, capacity: p.count) { String(cString: mkdtemp($0)!) }
    }
    // Left clean when libFuzzer ends the run (a crash leaves it, with the input that made it).
    atexit {
        unlink(path)
        rmdir(directory)
    }
    return made
}()
let path = directory + "/signals"

/// The input, read a byte at a time (zeros once it runs out).
struct Bytes {
    let data: UnsafeBufferPointer<UInt8>
    var at = 0
    var done: Bool { at >= data.count }
    mutating func next() -> UInt8 {
        defer { at += 1 }
        return at < data.count ? data[at] : 0
    }
    /// Up to `n` bytes of file content from a small alphabet (lines, CRs, long runs).
    mutating func text(_ n: Int) -> [UInt8] {
        (0..<n).map { _ in [UInt8(ascii: "a"), UInt8(ascii: "b"), 10, 10, 13, UInt8(ascii: "c")][Int(next() % 6)] }
    }
}

func fail(_ why: String, _ ops: [String]) -> Never {
    fatalError("\(why)\nops: \(ops.joined(separator: "; "))")
}

/// The complete lines of `content` as the reader hands them on (one trailing CR dropped, empty lines
/// skipped); lines of `maxLine` bytes or more may or may not be handed on (it depends on where reads
/// end, and on a CR the limit counts), so they are left out on both sides.
func expectedLines(_ content: [UInt8]) -> [[UInt8]] {
    var lines: [[UInt8]] = []
    var current: [UInt8] = []
    for b in content {
        if b == 10 {
            if current.last == 13 { current.removeLast() }
            if !current.isEmpty && current.count < maxLine { lines.append(current) }
            current = []
        } else {
            current.append(b)
        }
    }
    return lines
}

func write(_ bytes: [UInt8], truncate: Bool) {
    let fd = open(path, O_WRONLY | (truncate ? O_TRUNC : 0))
    precondition(fd >= 0)
    _ = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
    if !truncate { _ = ftruncate(fd, off_t(bytes.count)) }
    close(fd)
}

final class Model {
    var content: [UInt8] = []
    /// Lines handed on since the reader last started over.
    var handed: [[UInt8]] = []
    var restarts = 0
    var history = 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var input = Bytes(data: UnsafeBufferPointer(start: data, count: size))
    unlink(path)
    let created = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    precondition(created >= 0)
    close(created)
    let model = Model()
    let reader = FollowedFileReader(
        path: path, maxLineLength: maxLine, chunkSize: 1 + Int(input.next() % 40), window: maxFile
    ) { output in
        switch output {
        case .lines(let lines, let replay):
            model.handed += lines.map(Array.init).filter { $0.count < maxLine }
            if replay { model.history += lines.count }
        case .note(let text, _):
            if text.hasSuffix("reading from the start") {
                model.handed = []
                model.restarts += 1
            }
        case .discarded: break
        }
    }
    var ops: [String] = []
    var onlyAppends = true
    var checked = false
    var ops0 = 0
    while !input.done && ops0 < 64 {
        ops0 += 1
        let op = input.next() % 6
        let n = Int(input.next() % 48)
        switch op {
        case 0:  // append
            let bytes = Array(input.text(n).prefix(maxFile - model.content.count))
            let fd = open(path, O_WRONLY | O_APPEND)
            _ = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            close(fd)
            model.content += bytes
            ops.append("append \(bytes.count)")
        case 1, 2:  // rewrite: truncate then write (the shell's >), or overwrite in place then cut to length
            let bytes = input.text(n)
            write(bytes, truncate: op == 1)
            model.content = bytes
            onlyAppends = false
            ops.append("\(op == 1 ? "rewrite" : "overwrite") \(bytes.count)")
        case 3:  // truncate
            let to = model.content.isEmpty ? 0 : n % (model.content.count + 1)
            _ = truncate(path, off_t(to))
            model.content = Array(model.content.prefix(to))
            onlyAppends = false
            ops.append("truncate \(to)")
        case 4:  // a quiet wake-up: afterwards, the model must hold
            let restartsBefore = model.restarts
            let historyBefore = model.history
            reader.check()
            ops.append("check")
            if model.handed != expectedLines(model.content) {
                fail(
                    "handed \(model.handed.map { String(decoding: $0, as: UTF8.self) }) but the file holds "
                        + "\(expectedLines(model.content).map { String(decoding: $0, as: UTF8.self) })", ops)
            }
            if onlyAppends && checked && (model.restarts != restartsBefore || model.history != historyBefore) {
                fail("appends only, yet read again from the start or as history", ops)
            }
            onlyAppends = true
            checked = true
        default:  // a rewrite between two reads of one wake-up (no check of the model: the next wake-up sees it)
            let bytes = input.text(n)
            let after = Int(input.next() % 4)
            var reads = 0
            reader.betweenReads = {
                reads += 1
                if reads == after + 1 { write(bytes, truncate: true) }
            }
            reader.check()
            reader.betweenReads = nil
            // The read ended first: rewritten now, between wake-ups.
            if reads < after + 1 { write(bytes, truncate: true) }
            model.content = bytes
            onlyAppends = false
            checked = true
            ops.append("rewrite \(bytes.count) after read \(after + 1)")
        }
    }
    reader.finish()
    return 0
}
