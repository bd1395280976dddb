/// A place in a Python source file: 1-based line and column (columns count UTF-8 bytes, as
/// CPython's tokenizer does for ASCII source).
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    public var line: Int
    public var column: Int
    public init(line: Int, column: Int) { self.line = line; self.column = column }
    public var description: String { "\(line):\(column)" }
}

/// A parse or tokenize error, located in its file.
public struct PythonSyntaxError: Error, CustomStringConvertible, Sendable {
    public var file: String
    public var location: SourceLocation
    public var message: String
    public init(file: String, location: SourceLocation, message: String) {
        self.file = file; self.location = location; self.message = message
    }
    public var description: String { "\(file):\(location): SyntaxError: \(message)" }
}

enum TokenKind: Equatable {
    case name(String)
    case int(String)          // digits as written (underscores removed); base prefix kept
    case float(Double)
    case imaginary(Double)
    case string(prefix: String, body: String)   // body is raw (escapes not yet processed)
    case op(String)
    case newline
    case indent
    case dedent
    case end
}

struct Token {
    var kind: TokenKind
    var location: SourceLocation
    /// Byte offset of the token's first byte in the source (f-string parts are re-parsed from it).
    var offset: Int
}
