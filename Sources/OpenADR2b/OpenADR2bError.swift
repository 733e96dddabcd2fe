/// What went wrong with an OpenADR 2.0b exchange. Messages name the message and field they are about;
/// they never contain key material.
package struct OpenADR2bError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What callers branch on.
    package enum Kind: String, Sendable, Hashable {
        /// The bytes are not acceptable XML (size, DTD, syntax, depth).
        case xml
        /// Well-formed XML that is not the OpenADR 2.0b message expected (the message names the field).
        case malformed
        /// The VTN answered with an OpenADR error code (`responseCode` not 2xx).
        case refused
        /// Could not reach the VTN, or it answered with an HTTP error.
        case transport
        /// The VEN's state file is missing, unreadable or holds no registration (`openadr2b-leave`).
        case state
    }

    package let kind: Kind
    package let message: String

    package init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    package var description: String { message }
}
