/// What was wrong with chain data (a header, a field of a template, a target). The message names the
/// input and the rule it broke; `code` lets callers branch without parsing text.
public struct ChainError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Hashable, Sendable {
        case badLength
        case badHex
        case badField
        case badTarget
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
