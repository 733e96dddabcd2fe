import Foundation
import SunSpecTestMeter

#if canImport(Glibc)
    import Glibc
#endif

// flexminer-testmeter: the project's SunSpec test meter on 127.0.0.1:PORT, for end-to-end checks.
//   flexminer-testmeter --port N [--base 40000] [--model 203] (--watts W | --follow HOST:PORT --full-watts W
//                       [--idle-watts W] | --watts-file PATH)
// --follow reads the miner's GET /status every 200 ms: watts = idle + (full - idle) × capacity, so the load
// falls when the miner is curtailed. --watts-file reads a number from a file at each request.
// Prints "listening PORT" on stdout once ready.

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("flexminer-testmeter: \(message)\n".utf8))
    exit(2)
}

let options: [String: String] = {
    var o: [String: String] = [:]
    var args = CommandLine.arguments.dropFirst()
    while let flag = args.popFirst() {
        guard flag.hasPrefix("--"), let value = args.popFirst() else { fail("expected --flag VALUE, got \(flag)") }
        o[String(flag.dropFirst(2))] = value
    }
    return o
}()
nonisolated func number(_ key: String, default d: Double? = nil) -> Double? {
    guard let text = options[key] else { return d }
    guard let v = Double(text), v.isFinite else { fail("--\(key) must be a number, got \(text)") }
    return v
}
/// A whole number in `range`, checked before it is converted (Int(1e300) would trap).
nonisolated func integer(_ key: String, default d: Double, in range: ClosedRange<Int>) -> Int {
    let v = number(key, default: d)!
    guard v.rounded() == v, v >= Double(range.lowerBound), v <= Double(range.upperBound) else {
        fail("--port 0...65535, --base 0|40000|50000, --model 201...204 (got --\(key) \(v))")
    }
    return Int(v)
}
let port = integer("port", default: 0, in: 0...65535)
let base = integer("base", default: 40000, in: 0...50000)
let model = UInt16(integer("model", default: 203, in: 201...204))
guard [0, 40000, 50000].contains(base) else { fail("--port 0...65535, --base 0|40000|50000, --model 201...204") }

/// The miner's capacity from its /status, read over a plain socket (no HTTP library: a test tool).
final class StatusFollower: @unchecked Sendable {
    let host: String
    let port: UInt16
    let lock = NSLock()
    var capacity = 1.0
    init(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let p = UInt16(text[text.index(after: colon)...]) else {
            fail("--follow HOST:PORT")
        }
        host = String(text[..<colon])
        port = p
        Thread.detachNewThread { [self] in
            while true {
                if let c = fetch() {
                    lock.lock()
                    capacity = c
                    lock.unlock()
                }
                usleep(200_000)
            }
        }
    }
    var current: Double {
        lock.lock()
        defer { lock.unlock() }
        return capacity
    }
    func fetch() -> Double? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var tv = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = inet_addr(host)
        let ok = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard ok == 0 else { return nil }
        let request = Array("GET /status HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while data.count < 1 << 20 {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { break }
            data += chunk[..<n]
        }
        let text = String(decoding: data, as: UTF8.self)
        guard let body = text.range(of: "\r\n\r\n").map({ text[$0.upperBound...] }),
            let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
        else { return nil }
        return (object["capacity"] as? NSNumber)?.doubleValue
    }
}

let watts: @Sendable () -> Double
if let w = number("watts") {
    watts = { w }
} else if let follow = options["follow"] {
    guard let full = number("full-watts") else { fail("--follow needs --full-watts W") }
    let idle = number("idle-watts", default: 0)!
    let follower = StatusFollower(follow)
    watts = { idle + (full - idle) * follower.current }
} else if let path = options["watts-file"] {
    watts = {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return Double(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }
} else {
    fail("give --watts W, --follow HOST:PORT --full-watts W, or --watts-file PATH")
}

do {
    let meter = try SunSpecTestMeter(port: port, base: base, model: model, watts: watts)
    FileHandle.standardOutput.write(Data("listening \(meter.port)\n".utf8))
    while true { sleep(3600) }
} catch {
    fail("\(error)")
}
