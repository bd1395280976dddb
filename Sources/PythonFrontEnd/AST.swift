/// The syntax tree of a Python module. Every expression and statement keeps its location.

public enum Constant: Sendable {
    case none, ellipsis
    case bool(Bool)
    case int(String)        // as written: decimal, 0x…, 0o…, 0b…; the interpreter converts with checked arithmetic
    case float(Double)
    case imaginary(Double)
    case string(String)
    case bytes([UInt8])
}

public enum BinaryOperator: String, Sendable {
    case add = "+", subtract = "-", multiply = "*", matrixMultiply = "@", divide = "/", floorDivide = "//"
    case modulo = "%", power = "**", leftShift = "<<", rightShift = ">>", bitOr = "|", bitXor = "^", bitAnd = "&"
}

public enum UnaryOperator: String, Sendable { case plus = "+", minus = "-", invert = "~", not = "not" }

public enum CompareOperator: String, Sendable {
    case equal = "==", notEqual = "!=", less = "<", lessEqual = "<=", greater = ">", greaterEqual = ">="
    case isSame = "is", isNot = "is not", contains = "in", notContains = "not in"
}

public enum Argument {
    case positional(Expr)
    case starred(Expr)
    case keyword(String, Expr)
    case doubleStarred(Expr)
}

public enum ComprehensionKind: Sendable { case list, set, dict, generator }

public struct ComprehensionClause {
    public var target: Expr
    public var iterable: Expr
    public var conditions: [Expr]
}

public enum FStringPart {
    case literal(String)
    /// expression, conversion (`r`, `s`, `a` or nil), format spec (itself an f-string) and the
    /// `=` self-documenting text, if any
    case value(Expr, conversion: Character?, spec: [FStringPart]?, selfDocumenting: String?)
}

public final class Expr {
    public let kind: ExprKind
    public let location: SourceLocation
    init(_ kind: ExprKind, _ location: SourceLocation) { self.kind = kind; self.location = location }
}

public enum ExprKind {
    case name(String)
    case constant(Constant)
    case fstring([FStringPart])
    case attribute(Expr, String)
    case `subscript`(Expr, Expr)
    case slice(Expr?, Expr?, Expr?)
    case call(Expr, [Argument])
    case binary(BinaryOperator, Expr, Expr)
    case unary(UnaryOperator, Expr)
    case and([Expr])
    case or([Expr])
    case compare(Expr, [(CompareOperator, Expr)])
    case conditional(test: Expr, body: Expr, orElse: Expr)
    case lambda(FunctionDefinition)
    case tuple([Expr])
    case list([Expr])
    case set([Expr])
    case dict([(key: Expr?, value: Expr)])      // a nil key is `**mapping`
    case starred(Expr)
    case comprehension(ComprehensionKind, element: Expr, value: Expr?, clauses: [ComprehensionClause], scope: Scope)
    case namedExpr(String, Expr)
    case yield(Expr?)
    case yieldFrom(Expr)
    case await(Expr)
}

public enum ParameterKind: Sendable { case positionalOnly, normal, variadic, keywordOnly, variadicKeyword }

public struct Parameter {
    public var name: String
    public var kind: ParameterKind
    public var defaultValue: Expr?
    public var annotation: Expr?
}

/// Names a function body binds, resolved when the definition is parsed (CPython's symtable).
public final class Scope {
    /// Names assigned in this scope and not declared global or nonlocal: its locals.
    public var locals: Set<String> = []
    public var globals: Set<String> = []
    public var nonlocals: Set<String> = []
    public var isGenerator = false
    init() {}
}

/// A function body parsed when the function is first called: model code defines thousands of
/// functions of which a build calls a few hundred.
final class LazyBody {
    let tokens: [Token]
    let start: Int
    let file: String
    let source: [UInt8]
    let scope: Scope
    init(tokens: [Token], start: Int, file: String, source: [UInt8], scope: Scope) {
        self.tokens = tokens; self.start = start; self.file = file; self.source = source; self.scope = scope
    }
    func parse() throws -> [Stmt] {
        var parser = Parser(tokens: tokens, file: file, source: source)
        parser.index = start
        parser.scopes = [scope]
        let body = try parser.block()
        scope.locals.subtract(scope.globals)
        scope.locals.subtract(scope.nonlocals)
        return body
    }
}

public final class FunctionDefinition {
    public let name: String
    public let parameters: [Parameter]
    private var parsedBody: [Stmt]?
    private var lazyBody: LazyBody?
    /// The statements of the body (parsed on first use; its scope is complete once this returns).
    public func body() throws -> [Stmt] {
        if let parsedBody { return parsedBody }
        let statements = try lazyBody?.parse() ?? []
        parsedBody = statements
        lazyBody = nil
        return statements
    }
    public let decorators: [Expr]
    public let returns: Expr?
    public let isAsync: Bool
    public let scope: Scope
    public let location: SourceLocation
    init(name: String, parameters: [Parameter], body: [Stmt], decorators: [Expr], returns: Expr?, isAsync: Bool,
         scope: Scope, location: SourceLocation, lazyBody: LazyBody? = nil) {
        self.name = name; self.parameters = parameters; self.parsedBody = lazyBody == nil ? body : nil; self.lazyBody = lazyBody
        self.decorators = decorators
        self.returns = returns; self.isAsync = isAsync; self.scope = scope; self.location = location
    }
}

public final class ClassDefinition {
    public let name: String
    public let arguments: [Argument]
    public let body: [Stmt]
    public let decorators: [Expr]
    public let location: SourceLocation
    init(name: String, arguments: [Argument], body: [Stmt], decorators: [Expr], location: SourceLocation) {
        self.name = name; self.arguments = arguments; self.body = body; self.decorators = decorators; self.location = location
    }
}

public struct ExceptHandler {
    public var type: Expr?
    public var name: String?
    public var body: [Stmt]
    public var location: SourceLocation
}

/// `from MODULE import NAMES` (level counts the leading dots).
public final class ImportFrom {
    public let module: String
    public let level: Int
    public let names: [ImportName]
    init(module: String, level: Int, names: [ImportName]) { self.module = module; self.level = level; self.names = names }
}

public struct ImportName {
    public var name: String
    public var asName: String?
}

public final class Stmt {
    public let kind: StmtKind
    public let location: SourceLocation
    init(_ kind: StmtKind, _ location: SourceLocation) { self.kind = kind; self.location = location }
}

public enum StmtKind {
    case expression(Expr)
    case assign(targets: [Expr], value: Expr)
    case augmentedAssign(target: Expr, op: BinaryOperator, value: Expr)
    case annotatedAssign(target: Expr, annotation: Expr, value: Expr?)
    case functionDef(FunctionDefinition)
    case classDef(ClassDefinition)
    case `return`(Expr?)
    case delete([Expr])
    case pass
    case `break`
    case `continue`
    case `if`(test: Expr, body: [Stmt], orElse: [Stmt])
    case `for`(target: Expr, iterable: Expr, body: [Stmt], orElse: [Stmt])
    case `while`(test: Expr, body: [Stmt], orElse: [Stmt])
    case `try`(body: [Stmt], handlers: [ExceptHandler], orElse: [Stmt], finally: [Stmt])
    case with(items: [(context: Expr, target: Expr?)], body: [Stmt])
    case raise(Expr?, cause: Expr?)
    case assert(Expr, message: Expr?)
    case global([String])
    case nonlocal([String])
    case `import`([ImportName])
    case importFrom(ImportFrom)   // name "*" imports all
}

/// A parsed source file.
public final class Module {
    public let file: String
    public let body: [Stmt]
    init(file: String, body: [Stmt]) { self.file = file; self.body = body }
}
