import PythonFrontEnd

/// One frame of a Python traceback.
public struct TraceFrame: Sendable, CustomStringConvertible {
    public var file: String
    public var location: SourceLocation
    public var function: String
    public var description: String { "\(file):\(location) in \(function)" }
}

/// A Python exception propagating through the interpreter (catchable by `try`/`except`).
public struct PyError: Error, @unchecked Sendable {
    public let exception: PyInstance
    /// Innermost first.
    public var traceback: [TraceFrame] = []
    /// Where the innermost failing expression is, before a function frame records it.
    var pendingLocation: SourceLocation?
    var context: PyInstance?
    /// Locals of the frames named in `Interpreter.captureLocals` the error passed through.
    public var capturedLocals: [String: [String: PyValue]] = [:]

    public init(_ exception: PyInstance) { self.exception = exception }

    public var typeName: String { exception.cls.name }
}

/// What ends a run and no Python code can catch: a budget spent, or something ModelGraph cannot
/// do (a construct it does not support).
public struct InterpreterLimit: Error, CustomStringConvertible, @unchecked Sendable {
    public var message: String
    public var traceback: [TraceFrame]
    public init(_ message: String, traceback: [TraceFrame] = []) { self.message = message; self.traceback = traceback }
    public var description: String {
        guard let first = traceback.first else { return message }
        return "\(first.file):\(first.location): \(message)"
    }
}

/// The budgets that end every run of untrusted code with a located error.
public struct InterpreterBudget: Sendable {
    /// Statements and calls executed.
    public var steps: Int = 50_000_000
    /// Nested Python calls.
    public var recursionDepth: Int = 400
    /// Elements in one list, string, dict or tensor computed with values.
    public var containerElements: Int = 50_000_000
    /// Bytes of one source file.
    public var sourceBytes: Int = 8 << 20
    /// Bytes of all source read in one run.
    public var totalSourceBytes: Int = 256 << 20
    public init() {}
}
