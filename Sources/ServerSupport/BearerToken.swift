import FlexSupport
import NIOHTTP1

/// The one reading of `Authorization: Bearer TOKEN` (RFC 6750 §2.1) for the product's HTTP servers (the
/// operator's API and the OpenADR callback), compared in constant time.
package enum BearerToken {
    /// The 401's `WWW-Authenticate` (RFC 6750 §3).
    package static let challenge = #"Bearer realm="flexminer""#

    /// The token of an `Authorization` header value, or nil when there is none or it is not a bearer
    /// token.
    package static func parse(_ authorization: String?) -> String? {
        guard let authorization, authorization.hasPrefix("Bearer ") else { return nil }
        return String(authorization.dropFirst(7))
    }

    /// The bearer token the request carries, if any.
    package static func parse(_ headers: HTTPHeaders) -> String? {
        parse(headers.first(name: "Authorization"))
    }

    /// Whether `given` (a parsed bearer token, nil when none) is `token`, compared in constant time.
    package static func matches(_ given: String?, _ token: String) -> Bool {
        ConstantTime.equal(given, token)
    }

    /// Whether the request carries `Authorization: Bearer TOKEN` with this token.
    package static func authorized(_ headers: HTTPHeaders, token: String) -> Bool {
        matches(parse(headers), token)
    }
}
