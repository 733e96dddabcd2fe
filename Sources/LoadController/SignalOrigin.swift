import DemandResponse
import FlexSupport
import Foundation

/// What the controller reports as it works (for metrics).
package enum ControllerEvent: Sendable {
    /// A line from `source` was accepted (`ok`) or refused.
    case message(source: String, ok: Bool)
    case halted(latency: Duration)
    case resumed(latency: Duration)
}

/// A place signals arrive from, as the controller sees it.
package struct SignalOrigin: Sendable, Hashable {
    /// The source as configured, e.g. "unix:/run/flexminer.sock": the decision log's `source`, and the key
    /// of the message counters (`/status` `signals`, the metrics), which therefore stay one per source.
    package let source: String
    /// The connection's number on a socket source (1, 2, …); nil for a followed file or HTTP.
    package let connection: Int?
    /// When set, each message must carry this `"token"`.
    package let requiredToken: String?

    /// Who set a curtailment, for "a `release` without an id lifts only what the same sender set": the
    /// source, or on a socket the one connection ("unix:/run/flexminer.sock#3").
    package var name: String { connection.map { "\(source)#\($0)" } ?? source }

    /// A whole source (a followed file, HTTP) that is one sender.
    package init(name: String, requiredToken: String? = nil) {
        self.init(source: name, connection: nil, requiredToken: requiredToken)
    }

    /// One connection to a socket source.
    package init(source: String, connection: Int?, requiredToken: String? = nil) {
        self.source = source
        self.connection = connection
        self.requiredToken = requiredToken
    }
}
