import FlexSupport
import Foundation

/// What went wrong talking to a VTN. Messages name the request and, for a malformed reply, the field;
/// they never contain the client secret or a token.
package struct OpenADRError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What callers branch on.
    package enum Kind: String, Sendable, Hashable {
        /// HTTP 401/403 after a fresh token: the credentials are refused.
        case unauthorized
        /// Could not connect, the connection dropped, or the request timed out.
        case connection
        /// The VTN answered with an HTTP error status.
        case http
        /// The reply is not what OpenADR 3 says (the message names the field).
        case malformed
        /// The settings cannot work (no such program, an unreadable secret file).
        case configuration
    }

    package let kind: Kind
    package let message: String
    /// The HTTP status, for `.http` and `.unauthorized`.
    package let status: Int?

    package init(_ kind: Kind, _ message: String, status: Int? = nil) {
        self.kind = kind
        self.message = message
        self.status = status
    }

    package var description: String { message }

    /// Whether trying again later can help (a VTN that is down, overloaded or restarting). Any other 4xx
    /// is a configuration or conformance error: the request will be refused again until something changes.
    package var isTransient: Bool {
        switch kind {
        case .connection: true
        case .http: (status ?? 500) >= 500 || status == 429 || status == 408
        case .unauthorized, .malformed, .configuration: false
        }
    }

    /// What an operator should read it as: "transient" (the VTN away or overloaded: retried with backoff),
    /// "unauthorized" (the credentials), "configuration" (a setting the VTN refuses) or "conformance"
    /// (a request or reply outside the specification: a 4xx refusal or a malformed reply).
    package var category: String {
        if isTransient { return "transient" }
        switch kind {
        case .unauthorized: return "unauthorized"
        case .configuration: return "configuration"
        case .malformed: return "conformance"
        case .http, .connection: return status == 404 || status == 409 ? "configuration" : "conformance"
        }
    }
}

extension InputError {
    /// The same message as an OpenADR reply error, naming the request it came from.
    func openADR(_ request: String) -> OpenADRError {
        OpenADRError(.malformed, "\(request): \(message)")
    }
}
