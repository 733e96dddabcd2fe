import FlexSupport

/// What was wrong with chain data (a header, a field of a template, a target). The message names the
/// input and the rule it broke; `code` lets callers branch without parsing text.
public typealias ChainError = CodedError<ChainErrorCode>

/// What kind of chain data was refused.
public enum ChainErrorCode: String, Hashable, Sendable {
    case badLength
    case badHex
    case badField
    case badTarget
}
