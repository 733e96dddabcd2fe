import Foundation
import Simulation

// An events file goes through `CurtailmentEvent.load(path:)`, the only public way in: each input is
// written to a scratch file (per process, so parallel fuzzers do not collide) and loaded. Written with
// POSIX calls, in /dev/shm when there is one: FileManager.createFile writes atomically (a temporary
// file and a rename), and ext4 flushes a truncated-and-rewritten file on close; either made this
// target a hundred times slower than the others.
let directory = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm/" : NSTemporaryDirectory()
let path = directory + "flexminer-fuzz-events-\(getpid()).jsonl"
// libFuzzer ends with exit(): leave no scratch file behind.
let cleanup: Void = { atexit { unlink(path) } }()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    _ = cleanup
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    guard fd >= 0, write(fd, data, size) == size, close(fd) == 0 else {
        fatalError("cannot write the scratch file \(path)")
    }
    guard let events = try? CurtailmentEvent.load(path: path) else { return 0 }
    // What the simulator relies on: events in time order, only curtailments and releases.
    for (a, b) in zip(events, events.dropFirst()) where a.time > b.time { fatalError("events out of order") }
    for e in events {
        switch e.message {
        case .curtail(let c):
            guard (0...1).contains(c.level), c.until.map({ $0.timeIntervalSince1970 > e.time }) ?? true else {
                fatalError("accepted a curtailment the simulator cannot use")
            }
        case .release: break
        default: fatalError("accepted a \(e.message.type) message in an events file")
        }
    }
    return 0
}
