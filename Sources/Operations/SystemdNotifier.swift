import FlexSupport
import Foundation
import Synchronization

/// systemd's service notifications (`Type=notify`, `WatchdogSec=`) without libsystemd: one `AF_UNIX`
/// datagram socket, and the protocol's lines (`READY=1`, `STATUS=…`, `STOPPING=1`, `WATCHDOG=1`) sent to
/// `$NOTIFY_SOCKET` (a path, or an abstract name written with a leading `@`).
///
/// Every send is non-blocking (`MSG_DONTWAIT`): the control path pets the watchdog, and it never waits
/// on systemd. A send that fails (systemd gone, its queue full) is counted in `failures`, never fatal:
/// systemd then acts on what it did not hear (a missed watchdog restarts the service).
package final class SystemdNotifier: Sendable {
    /// How often systemd expects `WATCHDOG=1` (`$WATCHDOG_USEC`), when the watchdog is on for this process.
    package let watchdogInterval: Duration?
    private let fd: Int32
    /// The `sockaddr_un` bytes, and their length (an abstract name has no terminating NUL).
    private let address: [UInt8]
    private let sentCount = Atomic<Int>(0)
    private let failureCount = Atomic<Int>(0)
    /// When the watchdog was last petted (nanoseconds on the monotonic clock, since `origin`).
    private let lastPet = Atomic<Int64>(Int64.min)
    private let origin = ContinuousClock.now

    /// From the service manager's environment.
    /// - Returns: nil when `$NOTIFY_SOCKET` is unset or empty (not started by systemd as `Type=notify`).
    /// - Throws: `ConfigError` naming the variable when it is set but unusable.
    package static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment, pid: Int32 = getpid()
    ) throws(ConfigError) -> SystemdNotifier? {
        guard let socket = environment["NOTIFY_SOCKET"], !socket.isEmpty else { return nil }
        var watchdog: Duration? = nil
        if let text = environment["WATCHDOG_USEC"] {
            // 1 µs to a day: systemd's own limits are wider, a watchdog beyond a day is a typo.
            guard let usec = UInt64(text), (1...86_400_000_000).contains(usec) else {
                throw ConfigError("WATCHDOG_USEC: expected microseconds (1...86400000000), got \"\(text.prefix(40))\"")
            }
            // WATCHDOG_PID names the process the watchdog is meant for; another one (a child) ignores it.
            if let owner = environment["WATCHDOG_PID"], Int32(owner) != pid {
                watchdog = nil
            } else {
                watchdog = .microseconds(Int64(usec))
            }
        }
        return try SystemdNotifier(socket: socket, watchdog: watchdog)
    }

    /// - Parameters:
    ///   - socket: `$NOTIFY_SOCKET`: an absolute path or `@name` (abstract namespace).
    ///   - watchdog: the watchdog interval, or nil for none.
    /// - Throws: `ConfigError` naming `NOTIFY_SOCKET` for a name that is neither, or too long.
    package init(socket: String, watchdog: Duration?) throws(ConfigError) {
        var bytes = Array(socket.utf8)
        guard bytes.first == UInt8(ascii: "/") || bytes.first == UInt8(ascii: "@") else {
            throw ConfigError("NOTIFY_SOCKET: expected an absolute path or @name, got \"\(socket.prefix(120))\"")
        }
        let pathCapacity = MemoryLayout.size(ofValue: sockaddr_un().sun_path)
        let abstract = bytes[0] == UInt8(ascii: "@")
        // A path needs room for its NUL; an abstract name uses every byte it has.
        guard bytes.count <= pathCapacity - (abstract ? 0 : 1), !bytes.contains(0) || abstract else {
            throw ConfigError("NOTIFY_SOCKET: longer than \(pathCapacity - 1) bytes")
        }
        if abstract { bytes[0] = 0 }
        let family = withUnsafeBytes(of: sa_family_t(AF_UNIX)) { Array($0) }
        address = family + bytes + (abstract ? [] : [0])
        let kind = Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
        fd = Glibc.socket(AF_UNIX, kind, 0)
        guard fd >= 0 else {
            throw ConfigError("NOTIFY_SOCKET: cannot open a datagram socket (errno \(errno))")
        }
        watchdogInterval = watchdog
    }

    deinit { close(fd) }

    /// Lines sent, and sends that failed (each failure is also a line not heard by systemd).
    package var sent: Int { sentCount.load(ordering: .relaxed) }
    package var failures: Int { failureCount.load(ordering: .relaxed) }

    /// Sends one notification (`KEY=value` lines). Never blocks.
    /// - Returns: whether the datagram was handed to the kernel.
    @discardableResult
    package func send(_ text: String) -> Bool {
        let payload = Array(text.utf8)
        let n = address.withUnsafeBytes { a in
            payload.withUnsafeBytes { p in
                sendto(
                    fd, p.baseAddress, p.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL),
                    a.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(a.count))
            }
        }
        if n == payload.count {
            sentCount.add(1, ordering: .relaxed)
            return true
        }
        failureCount.add(1, ordering: .relaxed)
        return false
    }

    /// `READY=1` with the first status line.
    package func ready(status: String) { send("READY=1\nSTATUS=\(Self.oneLine(status))") }
    /// `STATUS=`: what `systemctl status` shows.
    package func status(_ line: String) { send("STATUS=\(Self.oneLine(line))") }
    /// `STOPPING=1`: the shutdown has begun.
    package func stopping() { send("STOPPING=1") }

    /// Pets the watchdog when half its interval has passed since the last pet (systemd's advice). Call it
    /// from the control path's own loop, after each turn: a wedged controller stops petting and systemd
    /// restarts the service, however busy the miner's workers are.
    package func petWatchdog(now: ContinuousClock.Instant = .now) {
        guard let interval = watchdogInterval else { return }
        let elapsed = now - origin
        let t = elapsed.components.seconds &* 1_000_000_000 &+ elapsed.components.attoseconds / 1_000_000_000
        let half = (interval / 2).components
        let due = half.seconds &* 1_000_000_000 &+ half.attoseconds / 1_000_000_000
        let last = lastPet.load(ordering: .relaxed)
        guard last == Int64.min || t - last >= due else { return }
        lastPet.store(t, ordering: .relaxed)
        send("WATCHDOG=1")
    }

    /// A status is one line of at most 200 bytes (systemd shows it in one line of `systemctl status`).
    static func oneLine(_ s: String) -> String {
        let flat = s.map { $0.isNewline ? " " : $0 }
        var out = ""
        for c in flat {
            guard out.utf8.count + c.utf8.count <= 200 else { break }
            out.append(c)
        }
        return out
    }
}

/// What `flexminer run` tells systemd, and when: `READY=1` once every listening signal source listens and
/// the engine has work, `STATUS=` when the state line changes, `WATCHDOG=1` from the controller's ticker.
package final class ServiceNotifications: Sendable {
    package let notifier: SystemdNotifier
    private let expected: Set<String>
    private let listening = Mutex<Set<String>>([])
    private let lastStatus = Mutex<String?>(nil)
    private let isReady = Atomic<Bool>(false)

    /// - Parameter sources: the names (as they will be reported) of the sources that must listen first.
    package init(notifier: SystemdNotifier, sources: [String]) {
        self.notifier = notifier
        expected = Set(sources)
    }

    /// A signal source listens (or follows its file).
    package func listens(_ name: String) { listening.withLock { _ = $0.insert(name) } }

    package var ready: Bool { isReady.load(ordering: .relaxed) }

    /// After each controller tick: the watchdog, then readiness, then the status line when it changed.
    /// - Parameters:
    ///   - working: whether the engine has work (a job set).
    ///   - refresh: whether to look at the status line this time (once ready, it is looked at less often).
    ///   - status: the state line, built only when needed.
    package func afterTick(working: Bool, refresh: Bool, status: () -> String) {
        notifier.petWatchdog()
        guard refresh || !ready else { return }
        if !ready {
            guard working, listening.withLock({ expected.isSubset(of: $0) }) else { return }
            let line = status()
            lastStatus.withLock { $0 = line }
            isReady.store(true, ordering: .relaxed)
            notifier.ready(status: line)
            return
        }
        let line = status()
        let changed = lastStatus.withLock { last in
            defer { last = line }
            return last != line
        }
        if changed { notifier.status(line) }
    }
}
