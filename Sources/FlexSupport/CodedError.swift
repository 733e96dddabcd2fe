/// The shape of every FlexMiner error that callers branch on (swift-nio's style): a small code enum
/// per layer, and a message that names the input and the field. New codes never break callers that
/// switch on `code` with a default. Each layer names its own: `ChainError`, `WorkError`, `SHA256Error`.
public struct CodedError<Code: Hashable & Sendable>: Error, Hashable, Sendable, CustomStringConvertible {
    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
