import DemandResponse
import ServiceLifecycle

/// `unix:PATH` and `tcp:HOST:PORT`: a `SignalSocketServer` listening from start to shutdown.
package struct SocketSignalSource: SignalSource {
    package let spec: SignalSourceSpec
    let context: SignalSourceContext

    /// - Throws: `SignalError` when `spec` is not a socket.
    package init(spec: SignalSourceSpec, context: SignalSourceContext) throws(SignalError) {
        guard spec.isSocket else { throw SignalError("\(spec): not a socket source") }
        self.spec = spec
        self.context = context
    }

    package var scheme: String { spec.scheme }
    package var name: String { spec.description }

    /// Listens (a path in use or a port taken throws, which ends the run with the reason), then closes the
    /// server at the graceful shutdown or when cancelled.
    package func run() async throws {
        let c = context
        // Every TCP listener requires the configured token; a Unix socket keeps the trust of its file mode.
        let server = try await SignalSocketServer.start(
            spec, controller: c.controller, token: spec.requiresConfiguredToken ? c.token : nil, group: c.group,
            limits: c.limits, groupAccess: c.groupAccess)
        c.note("listening for signals on \(spec)\(server.port.map { " (port \($0))" } ?? "")")
        c.listening(spec.description)
        try? await gracefulShutdown()
        await server.close()
    }
}
