import Foundation

/// The OpenADR 3 version a VTN speaks, as far as a VEN's requests differ between them. OpenADR 3 has no
/// version endpoint: VTNs name the version in their base path (`…/openadr3/3.1.0`), so that is where it
/// is read; a base path without one starts with the newest shapes and falls back on a 400.
///
/// What differs for a VEN:
/// - subscription `objectOperations.operations`: 3.0.0 used HTTP methods (`GET`, `POST`, `PUT`,
///   `DELETE`); 3.0.1 and 3.1.0 take `READ`, `CREATE`, `UPDATE`, `DELETE` only;
/// - `POST /vens`: 3.1.0 takes a `VEN_VEN_REQUEST` (`objectType` required); 3.0.1 a `ven` whose
///   `objectType`, if given, is `VEN`;
/// - 3.0.1 requires a subscription's `programID`; 3.0.1 has no `GET /auth/server` (the token URL is
///   `auth/token` under the base path, as its security scheme says).
package enum OpenADRVersion: String, Sendable, Hashable, CaseIterable {
    case v3_0_0 = "3.0.0"
    case v3_0_1 = "3.0.1"
    case v3_1_0 = "3.1.0"

    /// The version a base URL names: the last path component that is one of the known versions.
    package static func named(in baseURL: String) -> OpenADRVersion? {
        let path = URL(string: baseURL)?.path ?? ""
        return path.split(separator: "/").reversed().lazy.compactMap { OpenADRVersion(rawValue: String($0)) }.first
    }

    /// The operations to subscribe to for changes of an object (create, update, delete).
    package var changeOperations: [String] {
        self == .v3_0_0 ? ["POST", "PUT", "DELETE"] : ["CREATE", "UPDATE", "DELETE"]
    }

    /// The body of `POST /vens` for a VEN registering itself.
    package func venRequest(name: String) -> [String: Any] {
        ["objectType": self == .v3_1_0 ? "VEN_VEN_REQUEST" : "VEN", "venName": name]
    }

    /// Whether a subscription must name its program.
    package var subscriptionNeedsProgram: Bool { self != .v3_1_0 }

    /// The versions to try, in order, when the base path names none: the newest first.
    package static let fallbackOrder: [OpenADRVersion] = [.v3_1_0, .v3_0_1, .v3_0_0]
}
