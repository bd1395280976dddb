/// Why a model, its weights or a request could not be loaded — the one error of the loading API.
/// Every message is whole and located as the file it blames allows (`file:line:column: error: …`,
/// `file: error: …` with a byte offset, or `error: --option …`).
public struct ModelLoadError: Error, CustomStringConvertible, Sendable {
    /// Whose fault: a file's (a command exits 1) or the request's, such as a scale the file does
    /// not list or a folder that holds no fork (a usage error: exit 2).
    public enum Kind: Sendable {
        case input, usage
    }

    public var messages: [String]
    public var kind: Kind

    public init(_ message: String, kind: Kind = .input) {
        self.init(messages: [message], kind: kind)
    }

    public init(messages: [String], kind: Kind = .input) {
        self.messages = messages
        self.kind = kind
    }

    public var description: String { messages.joined(separator: "\n") }
}
