import NIOCore
import ServiceLifecycle

/// One signal source of `flexminer run`, open from the service group's start to its graceful shutdown: it
/// hands the controller messages (`LoadController.handle`) and never decides anything itself.
///
/// Each kind is one type in one file, in the module that owns its dependencies (sockets and followed files
/// here, OpenADR 3 in `OpenADRSignals`), and one line in Operations' `SignalSourceRegistry`, keyed by
/// `scheme`. The source owns what it opens: it closes it when its `run()` returns or throws.
package protocol SignalSource: Service {
    /// The `--signals` scheme it serves: the text before the first colon ("unix", "tcp", "file", "openadr3").
    var scheme: String { get }
    /// Its `--signals` text ("unix:/run/flexminer.sock"): its name in `/status`, the log and readiness.
    var name: String { get }
}

/// What `run` hands every signal source: the controller and the run's shared settings.
package struct SignalSourceContext: Sendable {
    /// Where the source's messages go.
    package var controller: LoadController
    /// The configured shared token (`--token-file`); each source decides whether it requires it.
    package var token: String?
    /// The event loop group a socket is served on (a thread of its own on the control path for each
    /// socket source; the HTTP API's otherwise). Owned by `run`: a source never shuts it down.
    package var group: any EventLoopGroup
    /// Limits of each listening socket (its connections are a share of the descriptor limit).
    package var limits: SignalSocketServer.Limits
    /// Unix sockets mode 0660 (the group may send signals) instead of 0600.
    package var groupAccess: Bool
    /// Operator messages (never a secret).
    package var note: @Sendable (String) -> Void
    /// Errors that need the operator.
    package var alert: @Sendable (String) -> Void
    /// Told the source's name once it listens (or follows its file): readiness for systemd.
    package var listening: @Sendable (String) -> Void

    package init(
        controller: LoadController, token: String?, group: any EventLoopGroup,
        limits: SignalSocketServer.Limits = .standard, groupAccess: Bool = false,
        note: @escaping @Sendable (String) -> Void, alert: @escaping @Sendable (String) -> Void,
        listening: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.controller = controller
        self.token = token
        self.group = group
        self.limits = limits
        self.groupAccess = groupAccess
        self.note = note
        self.alert = alert
        self.listening = listening
    }
}
