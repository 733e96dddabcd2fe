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
    _ = try? CurtailmentEvent.load(path: path)
    return 0
}
