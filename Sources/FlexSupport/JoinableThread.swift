#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The OS refused to create a thread (EAGAIN: a process, thread or address-space limit).
public struct ThreadStartError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What the thread was for ("flexminer-dlog", "a worker thread").
    public let thread: String
    /// `strerror` of the refusal and its number, e.g. "Resource temporarily unavailable (pthread_create error 11)".
    public let reason: String
    public var description: String { "could not start \(thread): \(reason)" }
}

/// A plain OS thread. FlexMiner's own threads (workers, the decision log's and the state file's writers,
/// file followers, the log output) are these, never Swift's cooperative pool. Unlike Foundation's
/// `Thread`, whose `start()` cannot report it, a thread the OS refuses to create is an error: a writer or
/// a signal source that silently never ran would lose decisions or ignore curtailments.
public final class JoinableThread: @unchecked Sendable {
    // @unchecked: `thread` is written once in init before the object is shared and read only by join().
    private var thread: pthread_t? = nil

    private final class Body {
        let name: String?
        let run: @Sendable () -> Void
        init(_ name: String?, _ run: @escaping @Sendable () -> Void) {
            self.name = name
            self.run = run
        }
    }

    /// Starts `body` on a new thread, to be joined.
    /// - Parameter name: the OS thread name (`top -H`, /proc/PID/task/TID/comm), cut to Linux's 15 bytes;
    ///   nil keeps the process's name (callers that name their threads themselves).
    /// - Throws: `ThreadStartError` when the OS refuses to create a thread.
    public init(name: String? = nil, _ body: @escaping @Sendable () -> Void) throws(ThreadStartError) {
        thread = try Self.create(name: name, detached: false, body)
    }

    /// Starts `body` on a detached thread: nobody joins it, and the OS takes its stack back when it ends.
    /// For writers and followers that signal their own end.
    /// - Throws: `ThreadStartError` when the OS refuses to create a thread.
    public static func detach(name: String, _ body: @escaping @Sendable () -> Void) throws(ThreadStartError) {
        _ = try create(name: name, detached: true, body)
    }

    /// Waits for the thread to end (at once when already joined).
    public func join() {
        if let t = thread { pthread_join(t, nil) }
        thread = nil
    }

    private static func create(
        name: String?, detached: Bool, _ body: @escaping @Sendable () -> Void
    ) throws(ThreadStartError) -> pthread_t {
        let context = Unmanaged.passRetained(Body(name, body)).toOpaque()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        if detached { pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED)) }
        var t = pthread_t()
        let rc = pthread_create(
            &t, &attributes,
            { arg in
                let body = Unmanaged<Body>.fromOpaque(arg!).takeRetainedValue()
                if let name = body.name { nameCurrentThread(name) }
                body.run()
                return nil
            }, context)
        guard rc == 0 else {
            Unmanaged<Body>.fromOpaque(context).release()
            throw ThreadStartError(
                thread: name ?? "a thread", reason: "\(String(cString: strerror(rc))) (pthread_create error \(rc))")
        }
        return t
    }
}

/// Names the calling thread as the OS shows it, cut to the kernel's 15 bytes. Through /proc, because
/// Glibc does not export `pthread_setname_np` to Swift and this module has no C shim; failures are
/// ignored (a name is for people).
private func nameCurrentThread(_ name: String) {
    #if os(Linux)
        let fd = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        let bytes = Array(name.utf8.prefix(15))
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    #endif
}
