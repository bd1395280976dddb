/// A position in a source file, 1-based as editors show it.
public struct SourceLocation: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var line: Int
    public var column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    public static func < (a: SourceLocation, b: SourceLocation) -> Bool {
        (a.line, a.column) < (b.line, b.column)
    }

    public var description: String { "\(line):\(column)" }
}

/// One message about a user's model file, formatted as compilers do:
/// `FILE:LINE:COL: error: layer 11 (FreqFusion): message`.
public struct Diagnostic: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Severity: String, Sendable, Hashable {
        case error, warning, note
    }

    public var severity: Severity
    public var file: String
    public var location: SourceLocation?
    /// The layer index (`from` refers to it) and module name, when the problem belongs to a layer.
    public var layerIndex: Int?
    public var module: String?
    public var message: String

    public init(_ severity: Severity = .error, file: String, location: SourceLocation?,
                layerIndex: Int? = nil, module: String? = nil, message: String) {
        self.severity = severity
        self.file = file
        self.location = location
        self.layerIndex = layerIndex
        self.module = module
        self.message = message
    }

    public var description: String {
        var text = file
        if let location { text += ":\(location.line):\(location.column)" }
        text += ": \(severity.rawValue): "
        if let layerIndex {
            text += "layer \(layerIndex)"
            if let module { text += " (\(abbreviated(module)))" }
            text += ": "
        } else if let module {
            text += "\(abbreviated(module)): "
        }
        return text + message
    }
}

/// A name from a file as a message shows it: a long one cut to its first 40 characters, with
/// its length (a hostile file's 60,000-character module name is not worth printing whole).
public func abbreviated(_ name: String) -> String {
    guard name.count > 60 else { return name }
    return "\(name.prefix(40))… (\(name.count) characters)"
}

/// Several diagnostics at once, so a `check` reports every problem in one run.
public struct DiagnosticList: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [Diagnostic]

    public init(_ diagnostics: [Diagnostic]) {
        self.diagnostics = diagnostics
    }

    public var errors: [Diagnostic] { diagnostics.filter { $0.severity == .error } }

    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}
