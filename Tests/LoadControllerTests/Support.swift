import DemandResponse
import Foundation
import LoadController
import Synchronization

/// Records what the controller commands instead of hashing.
final class FakeLoad: LoadActuator {
    struct State {
        var halted = false
        var capacity = 1.0
        var halts = 0
        var resumes = 0
    }
    let state = Mutex(State())
    let threadCount = 4

    func halt() -> Duration {
        state.withLock {
            $0.halted = true
            $0.halts += 1
        }
        return .microseconds(10)
    }
    func resume() -> Duration {
        state.withLock {
            $0.halted = false
            $0.resumes += 1
        }
        return .microseconds(20)
    }
    func setCapacity(_ fraction: Double) { state.withLock { $0.capacity = fraction } }
    var isHalted: Bool { state.withLock { $0.halted } }
    var activeWorkerCount: Int { state.withLock { $0.halted ? 0 : Int(($0.capacity * 4).rounded(.up)) } }
    var hashRate: Double { 1e6 }
    /// The share of the machine hashing now.
    var effective: Double { state.withLock { $0.halted ? 0 : $0.capacity } }
}

/// A virtual clock tests move by hand.
final class TestClock: Sendable {
    let now = Mutex(Date(timeIntervalSince1970: 1_717_200_000))
    func advance(_ seconds: Double) { now.withLock { $0 += seconds } }
    var read: @Sendable () -> Date { { self.now.withLock { $0 } } }
}

/// A fresh directory under /tmp (short: Unix socket paths are limited to 107 bytes).
func scratchDirectory() -> String {
    let path = "/tmp/fmt-\(UUID().uuidString.prefix(8))"
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func decode(_ reply: String) -> [String: Any] {
    (try? JSONSerialization.jsonObject(with: Data(reply.utf8)) as? [String: Any]) ?? [:]
}

/// Polls `condition` every millisecond for up to `seconds`.
func eventually(within seconds: Double = 5, _ condition: () -> Bool) -> Bool {
    let deadline = Date(timeIntervalSinceNow: seconds)
    while Date() < deadline {
        if condition() { return true }
        usleep(1000)
    }
    return condition()
}

func readLines(_ path: String) -> [[String: Any]] {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
    return text.split(separator: "\n").map { decode(String($0)) }
}
