import DemandResponse
import ServiceLifecycle

/// `file:PATH`: a `SignalFileFollower` reading the file's new lines from start to shutdown.
package struct FileSignalSource: SignalSource {
    package let path: String
    let context: SignalSourceContext

    /// - Throws: `SignalError` when `spec` is not a `file:` source.
    package init(spec: SignalSourceSpec, context: SignalSourceContext) throws(SignalError) {
        guard case .file(let path) = spec else { throw SignalError("\(spec): not a file source") }
        self.path = path
        self.context = context
    }

    package var scheme: String { "file" }
    package var name: String { "file:\(path)" }

    /// Follows the file (one that cannot be followed throws, which ends the run with the reason), then
    /// stops the follower at the graceful shutdown or when cancelled.
    package func run() async throws {
        let c = context
        let follower = try SignalFileFollower(path: path, controller: c.controller, note: c.note)
        c.note("following signals in \(name)")
        c.listening(name)
        try? await gracefulShutdown()
        follower.stop()
    }
}
