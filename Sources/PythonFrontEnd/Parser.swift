/// A recursive-descent parser for the Python 3 that model code is written in, after CPython's
/// grammar (Grammar/python.gram): statements, expressions with Python's precedence, f-strings,
/// and the scope of every function (which names are local), resolved while parsing.
public struct Parser {
    var tokens: [Token]
    var index = 0
    let file: String
    let source: [UInt8]
    var scopes: [Scope] = []
    /// Whether function bodies are parsed when first called (the interpreter's way) or now (checks).
    public var lazyBodies = true
    /// Nesting of syntax, bounded so a hostile source ends in a located error, not a stack overflow.
    var nesting = 0
    static let maximumNesting = 200

    /// Parses a whole file.
    public static func parse(source: String, file: String, lazyBodies: Bool = true) throws -> Module {
        try parse(bytes: Array(source.utf8), file: file, lazyBodies: lazyBodies)
    }

    public static func parse(bytes: [UInt8], file: String, lazyBodies: Bool = true) throws -> Module {
        var bytes = bytes
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        var lexer = Lexer(source: bytes, file: file)
        let tokens = try lexer.tokenize()
        var parser = Parser(tokens: tokens, file: file, source: bytes)
        parser.lazyBodies = lazyBodies
        var body: [Stmt] = []
        while !parser.at(.end) {
            if parser.at(.newline) { parser.index += 1; continue }
            body.append(contentsOf: try parser.statement())
        }
        return Module(file: file, body: body)
    }

    /// Parses one expression (used for f-string fields and `eval`-like uses).
    static func parseExpression(_ text: String, file: String, at location: SourceLocation, scopes: [Scope]) throws -> Expr {
        var lexer = Lexer(source: Array(text.utf8), file: file)
        lexer.depth = 1     // inside braces: newlines are insignificant
        var tokens = try lexer.tokenize()
        for i in tokens.indices {
            let loc = tokens[i].location
            tokens[i].location = SourceLocation(line: location.line + loc.line - 1,
                                                column: loc.line == 1 ? location.column + loc.column - 1 : loc.column)
        }
        var parser = Parser(tokens: tokens, file: file, source: Array(text.utf8))
        parser.scopes = scopes
        let expression = try parser.testListStarred()
        while parser.at(.newline) { parser.index += 1 }
        guard parser.at(.end) else { throw parser.error("f-string: invalid expression") }
        return expression
    }

    // MARK: tokens

    var current: Token { tokens[index] }
    var location: SourceLocation { tokens[index].location }

    func at(_ kind: TokenKind) -> Bool { tokens[index].kind == kind }
    func atOp(_ op: String) -> Bool { if case .op(op) = tokens[index].kind { return true }; return false }
    func atName(_ name: String) -> Bool { if case .name(name) = tokens[index].kind { return true }; return false }
    func peekOp(_ op: String, _ ahead: Int = 1) -> Bool {
        guard index + ahead < tokens.count else { return false }
        if case .op(op) = tokens[index + ahead].kind { return true }
        return false
    }

    mutating func acceptOp(_ op: String) -> Bool {
        if atOp(op) { index += 1; return true }
        return false
    }
    mutating func acceptName(_ name: String) -> Bool {
        if atName(name) { index += 1; return true }
        return false
    }
    mutating func expectOp(_ op: String) throws {
        guard acceptOp(op) else { throw error("expected '\(op)'") }
    }
    mutating func expectName(_ name: String) throws {
        guard acceptName(name) else { throw error("expected '\(name)'") }
    }

    static let keywords: Set<String> = ["False", "None", "True", "and", "as", "assert", "async", "await", "break", "class",
                                        "continue", "def", "del", "elif", "else", "except", "finally", "for", "from",
                                        "global", "if", "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass",
                                        "raise", "return", "try", "while", "with", "yield"]

    mutating func identifier() throws -> String {
        guard case .name(let name) = current.kind, !Parser.keywords.contains(name) else {
            throw error("expected a name")
        }
        index += 1
        return name
    }

    func error(_ message: String, at location: SourceLocation? = nil) -> PythonSyntaxError {
        var message = message
        switch current.kind {
        case .end: message += " (found the end of the file)"
        case .newline: message += " (found the end of the line)"
        case .indent: message = "unexpected indent"
        case .dedent: message += " (found the end of the block)"
        case .name(let n): message += " (found '\(n)')"
        case .op(let o): message += " (found '\(o)')"
        default: break
        }
        return PythonSyntaxError(file: file, location: location ?? self.location, message: message)
    }

    mutating func enter() throws {
        nesting += 1
        if nesting > Parser.maximumNesting {
            throw PythonSyntaxError(file: file, location: location, message: "too many nested parentheses, blocks or expressions (more than \(Parser.maximumNesting))")
        }
    }

    // MARK: scopes

    mutating func bind(_ name: String) { scopes.last?.locals.insert(name) }

    mutating func bindTarget(_ target: Expr) {
        switch target.kind {
        case .name(let n): bind(n)
        case .tuple(let items), .list(let items): items.forEach { bindTarget($0) }
        case .starred(let inner): bindTarget(inner)
        default: break
        }
    }

    /// The token index just past the indented block that starts at the current NEWLINE, if the
    /// tokens hold one (NEWLINE INDENT … matching DEDENT).
    func endOfIndentedBlock() -> Int? {
        var i = index
        while i < tokens.count, tokens[i].kind == .newline { i += 1 }
        guard i < tokens.count, tokens[i].kind == .indent else { return nil }
        var depth = 0
        while i < tokens.count {
            switch tokens[i].kind {
            case .indent: depth += 1
            case .dedent:
                depth -= 1
                if depth == 0 { return i + 1 }
            case .end: return nil
            default: break
            }
            i += 1
        }
        return nil
    }

    // MARK: statements

    mutating func block() throws -> [Stmt] {
        try enter(); defer { nesting -= 1 }
        if !at(.newline) {
            return try simpleStatements()
        }
        index += 1
        while at(.newline) { index += 1 }
        guard at(.indent) else { throw error("expected an indented block") }
        index += 1
        var body: [Stmt] = []
        while !at(.dedent) && !at(.end) {
            if at(.newline) { index += 1; continue }
            body.append(contentsOf: try statement())
        }
        if at(.dedent) { index += 1 }
        return body
    }

    mutating func statement() throws -> [Stmt] {
        if case .name(let word) = current.kind {
            switch word {
            case "def": return [try functionDef(decorators: [], isAsync: false)]
            case "class": return [try classDef(decorators: [])]
            case "if": return [try ifStatement()]
            case "for": return [try forStatement()]
            case "while": return [try whileStatement()]
            case "try": return [try tryStatement()]
            case "with": return [try withStatement()]
            case "async":
                let start = location
                index += 1
                if atName("def") { return [try functionDef(decorators: [], isAsync: true, start: start)] }
                if atName("for") { return [try forStatement()] }
                if atName("with") { return [try withStatement()] }
                throw error("expected 'def', 'for' or 'with' after 'async'")
            default: break
            }
        }
        if atOp("@") { return [try decorated()] }
        if at(.indent) { throw error("unexpected indent") }
        return try simpleStatements()
    }

    mutating func simpleStatements() throws -> [Stmt] {
        var statements = [try simpleStatement()]
        while acceptOp(";") {
            if at(.newline) || at(.end) { break }
            statements.append(try simpleStatement())
        }
        guard at(.newline) || at(.end) else { throw error("invalid syntax") }
        if at(.newline) { index += 1 }
        return statements
    }

    mutating func simpleStatement() throws -> Stmt {
        let start = location
        if case .name(let word) = current.kind {
            switch word {
            case "pass": index += 1; return Stmt(.pass, start)
            case "break": index += 1; return Stmt(.break, start)
            case "continue": index += 1; return Stmt(.continue, start)
            case "return":
                index += 1
                if at(.newline) || atOp(";") || at(.end) { return Stmt(.return(nil), start) }
                return Stmt(.return(try testListStarred()), start)
            case "raise":
                index += 1
                if at(.newline) || atOp(";") || at(.end) { return Stmt(.raise(nil, cause: nil), start) }
                let exception = try test()
                let cause = acceptName("from") ? try test() : nil
                return Stmt(.raise(exception, cause: cause), start)
            case "global", "nonlocal":
                index += 1
                var names = [try identifier()]
                while acceptOp(",") { names.append(try identifier()) }
                if word == "global" {
                    scopes.last?.globals.formUnion(names)
                    return Stmt(.global(names), start)
                }
                scopes.last?.nonlocals.formUnion(names)
                return Stmt(.nonlocal(names), start)
            case "del":
                index += 1
                var targets = [try bitOr()]
                while acceptOp(",") {
                    if at(.newline) || atOp(";") { break }
                    targets.append(try bitOr())
                }
                return Stmt(.delete(targets), start)
            case "assert":
                index += 1
                let condition = try test()
                let message = acceptOp(",") ? try test() : nil
                return Stmt(.assert(condition, message: message), start)
            case "import":
                index += 1
                var names: [ImportName] = []
                repeat {
                    let name = try dottedName()
                    let asName = acceptName("as") ? try identifier() : nil
                    bind(asName ?? String(name.prefix { $0 != "." }))
                    names.append(ImportName(name: name, asName: asName))
                } while acceptOp(",")
                return Stmt(.import(names), start)
            case "from":
                index += 1
                var level = 0
                while true {
                    if acceptOp(".") { level += 1 } else if acceptOp("...") { level += 3 } else { break }
                }
                let module = atName("import") ? "" : try dottedName()
                try expectName("import")
                var names: [ImportName] = []
                if acceptOp("*") {
                    names.append(ImportName(name: "*", asName: nil))
                } else {
                    let parenthesized = acceptOp("(")
                    repeat {
                        if parenthesized && atOp(")") { break }
                        let name = try identifier()
                        let asName = acceptName("as") ? try identifier() : nil
                        bind(asName ?? name)
                        names.append(ImportName(name: name, asName: asName))
                    } while acceptOp(",")
                    if parenthesized { try expectOp(")") }
                }
                return Stmt(.importFrom(ImportFrom(module: module, level: level, names: names)), start)
            default: break
            }
        }
        // expression, assignment, augmented or annotated assignment
        let first = try testListStarred()
        if acceptOp(":") {
            let annotation = try test()
            let value = acceptOp("=") ? try yieldOrTestList() : nil
            if value != nil || { if case .name = first.kind { return true }; return false }() { bindTarget(first) }
            return Stmt(.annotatedAssign(target: first, annotation: annotation, value: value), start)
        }
        if case .op(let op) = current.kind, op.count >= 2, op.hasSuffix("="), op != "==", op != "<=", op != ">=", op != "!=",
           let binary = BinaryOperator(rawValue: String(op.dropLast())) {
            index += 1
            try checkAssignable(first, augmented: true)
            bindTarget(first)
            return Stmt(.augmentedAssign(target: first, op: binary, value: try yieldOrTestList()), start)
        }
        if atOp("=") {
            var targets = [first]
            var value = first
            while acceptOp("=") {
                value = try yieldOrTestList()
                targets.append(value)
            }
            targets.removeLast()
            for target in targets {
                try checkAssignable(target, augmented: false)
                bindTarget(target)
            }
            return Stmt(.assign(targets: targets, value: value), start)
        }
        return Stmt(.expression(first), start)
    }

    func checkAssignable(_ target: Expr, augmented: Bool) throws {
        switch target.kind {
        case .name, .attribute, .subscript: return
        case .tuple(let items), .list(let items):
            if augmented { break }
            for item in items { try checkAssignable(item, augmented: false) }
            return
        case .starred(let inner) where !augmented:
            try checkAssignable(inner, augmented: false)
            return
        default: break
        }
        throw PythonSyntaxError(file: file, location: target.location, message: "cannot assign to this expression")
    }

    mutating func yieldOrTestList() throws -> Expr {
        if atName("yield") { return try yieldExpression() }
        return try testListStarred()
    }

    mutating func yieldExpression() throws -> Expr {
        let start = location
        try expectName("yield")
        scopes.last?.isGenerator = true
        if acceptName("from") { return Expr(.yieldFrom(try test()), start) }
        if at(.newline) || atOp(")") || atOp("]") || atOp("}") || atOp(";") || atOp("=") || at(.end) {
            return Expr(.yield(nil), start)
        }
        return Expr(.yield(try testListStarred()), start)
    }

    mutating func dottedName() throws -> String {
        var name = try identifier()
        while acceptOp(".") { name += "." + (try identifier()) }
        return name
    }

    mutating func decorated() throws -> Stmt {
        var decorators: [Expr] = []
        while acceptOp("@") {
            decorators.append(try namedExpressionTest())
            guard at(.newline) else { throw error("expected a new line after a decorator") }
            index += 1
        }
        if atName("def") { return try functionDef(decorators: decorators, isAsync: false) }
        if atName("class") { return try classDef(decorators: decorators) }
        if atName("async") {
            let start = location
            index += 1
            return try functionDef(decorators: decorators, isAsync: true, start: start)
        }
        throw error("expected 'def' or 'class' after decorators")
    }

    mutating func functionDef(decorators: [Expr], isAsync: Bool, start: SourceLocation? = nil) throws -> Stmt {
        let start = start ?? location
        try expectName("def")
        let name = try identifier()
        bind(name)
        try expectOp("(")
        let scope = Scope()
        let parameters = try parameterList(closing: ")", scope: scope, allowAnnotations: true)
        try expectOp(")")
        let returns = acceptOp("->") ? try test() : nil
        try expectOp(":")
        // an indented body is skipped now and parsed when the function is first called
        if lazyBodies, at(.newline), let end = endOfIndentedBlock() {
            let lazy = LazyBody(tokens: tokens, start: index, file: file, source: source, scope: scope)
            index = end
            let definition = FunctionDefinition(name: name, parameters: parameters, body: [], decorators: decorators,
                                                returns: returns, isAsync: isAsync, scope: scope, location: start, lazyBody: lazy)
            return Stmt(.functionDef(definition), start)
        }
        scopes.append(scope)
        let body = try block()
        scopes.removeLast()
        scope.locals.subtract(scope.globals)
        scope.locals.subtract(scope.nonlocals)
        let definition = FunctionDefinition(name: name, parameters: parameters, body: body, decorators: decorators,
                                            returns: returns, isAsync: isAsync, scope: scope, location: start)
        return Stmt(.functionDef(definition), start)
    }

    /// Parameters up to `closing` (")" for def, ":" for lambda); their defaults are evaluated in
    /// the enclosing scope, so they are parsed before the function's scope is entered.
    mutating func parameterList(closing: String, scope: Scope, allowAnnotations: Bool) throws -> [Parameter] {
        var parameters: [Parameter] = []
        var kind = ParameterKind.normal
        var sawDefault = false
        while !atOp(closing) {
            let start = location
            if acceptOp("/") {
                for i in parameters.indices { parameters[i].kind = .positionalOnly }
            } else if acceptOp("**") {
                let name = try identifier()
                let annotation = allowAnnotations && acceptOp(":") ? try test() : nil
                parameters.append(Parameter(name: name, kind: .variadicKeyword, defaultValue: nil, annotation: annotation))
                scope.locals.insert(name)
            } else if acceptOp("*") {
                kind = .keywordOnly
                if atOp(",") || atOp(closing) {
                    // bare `*`: the rest are keyword-only
                } else {
                    let name = try identifier()
                    let annotation = allowAnnotations && acceptOp(":") ? try test() : nil
                    parameters.append(Parameter(name: name, kind: .variadic, defaultValue: nil, annotation: annotation))
                    scope.locals.insert(name)
                }
            } else {
                let name = try identifier()
                let annotation = allowAnnotations && acceptOp(":") ? try test() : nil
                var defaultValue: Expr? = nil
                if acceptOp("=") {
                    defaultValue = try test()
                    if kind == .normal { sawDefault = true }
                } else if kind == .normal && sawDefault {
                    throw PythonSyntaxError(file: file, location: start, message: "non-default argument follows default argument")
                }
                if parameters.contains(where: { $0.name == name }) {
                    throw PythonSyntaxError(file: file, location: start, message: "duplicate argument '\(name)' in function definition")
                }
                parameters.append(Parameter(name: name, kind: kind, defaultValue: defaultValue, annotation: annotation))
                scope.locals.insert(name)
            }
            if !acceptOp(",") { break }
        }
        return parameters
    }

    mutating func classDef(decorators: [Expr]) throws -> Stmt {
        let start = location
        try expectName("class")
        let name = try identifier()
        bind(name)
        var arguments: [Argument] = []
        if acceptOp("(") {
            arguments = try callArguments()
            try expectOp(")")
        }
        try expectOp(":")
        scopes.append(Scope())     // a class body's names are its own, not the enclosing function's
        let body = try block()
        scopes.removeLast()
        return Stmt(.classDef(ClassDefinition(name: name, arguments: arguments, body: body, decorators: decorators, location: start)), start)
    }

    mutating func ifStatement() throws -> Stmt {
        let start = location
        index += 1      // `if` or `elif`
        let test = try namedExpressionTest()
        try expectOp(":")
        let body = try block()
        var orElse: [Stmt] = []
        if atName("elif") {
            orElse = [try ifStatement()]
        } else if acceptName("else") {
            try expectOp(":")
            orElse = try block()
        }
        return Stmt(.if(test: test, body: body, orElse: orElse), start)
    }

    mutating func forStatement() throws -> Stmt {
        let start = location
        try expectName("for")
        let target = try targetList()
        bindTarget(target)
        try expectName("in")
        let iterable = try testListStarred()
        try expectOp(":")
        let body = try block()
        var orElse: [Stmt] = []
        if acceptName("else") { try expectOp(":"); orElse = try block() }
        return Stmt(.for(target: target, iterable: iterable, body: body, orElse: orElse), start)
    }

    /// `for` targets and comprehension targets: a comma list of bitwise-or expressions.
    mutating func targetList() throws -> Expr {
        let start = location
        var items: [Expr] = []
        var trailingComma = false
        repeat {
            if atName("in") { break }
            if atOp("*") {
                let starStart = location
                index += 1
                items.append(Expr(.starred(try bitOr()), starStart))
            } else {
                items.append(try bitOr())
            }
            trailingComma = atOp(",")
        } while acceptOp(",")
        guard !items.isEmpty else { throw error("expected a target") }
        let target = items.count == 1 && !trailingComma ? items[0] : Expr(.tuple(items), start)
        try checkAssignable(target, augmented: false)
        return target
    }

    mutating func whileStatement() throws -> Stmt {
        let start = location
        try expectName("while")
        let test = try namedExpressionTest()
        try expectOp(":")
        let body = try block()
        var orElse: [Stmt] = []
        if acceptName("else") { try expectOp(":"); orElse = try block() }
        return Stmt(.while(test: test, body: body, orElse: orElse), start)
    }

    mutating func tryStatement() throws -> Stmt {
        let start = location
        try expectName("try")
        try expectOp(":")
        let body = try block()
        var handlers: [ExceptHandler] = []
        while atName("except") {
            let handlerStart = location
            index += 1
            _ = acceptOp("*")
            var type: Expr? = nil
            var name: String? = nil
            if !atOp(":") {
                type = try test()
                if acceptOp(",") {
                    var types = [type!]
                    repeat { types.append(try test()) } while acceptOp(",")
                    type = Expr(.tuple(types), type!.location)
                }
                if acceptName("as") { name = try identifier(); bind(name!) }
            }
            try expectOp(":")
            handlers.append(ExceptHandler(type: type, name: name, body: try block(), location: handlerStart))
        }
        var orElse: [Stmt] = []
        var finally: [Stmt] = []
        if acceptName("else") { try expectOp(":"); orElse = try block() }
        if acceptName("finally") { try expectOp(":"); finally = try block() }
        if handlers.isEmpty && finally.isEmpty { throw error("expected 'except' or 'finally' block") }
        return Stmt(.try(body: body, handlers: handlers, orElse: orElse, finally: finally), start)
    }

    mutating func withStatement() throws -> Stmt {
        let start = location
        try expectName("with")
        var items: [(context: Expr, target: Expr?)] = []
        // `with (a as b, c as d):` — parenthesized items
        let parenthesized = atOp("(") && hasAsBeforeClose()
        if parenthesized { index += 1 }
        repeat {
            if parenthesized && atOp(")") { break }
            let context = try test()
            var target: Expr? = nil
            if acceptName("as") {
                target = try targetAtom()
                bindTarget(target!)
            }
            items.append((context, target))
        } while acceptOp(",")
        if parenthesized { try expectOp(")") }
        try expectOp(":")
        return Stmt(.with(items: items, body: try block()), start)
    }

    /// Whether a `(` after `with` opens a list of `as` items rather than an expression.
    func hasAsBeforeClose() -> Bool {
        var depth = 0
        var i = index
        while i < tokens.count {
            switch tokens[i].kind {
            case .op("("), .op("["), .op("{"): depth += 1
            case .op(")"), .op("]"), .op("}"):
                depth -= 1
                if depth == 0 { return false }
            case .name("as") where depth == 1: return true
            case .newline, .end: return false
            default: break
            }
            i += 1
        }
        return false
    }

    mutating func targetAtom() throws -> Expr {
        let target = try bitOr()
        try checkAssignable(target, augmented: false)
        return target
    }

    // MARK: expressions

    /// A comma list that may contain starred items; a bare comma makes a tuple.
    mutating func testListStarred() throws -> Expr {
        let start = location
        let first = try starOrNamedTest()
        guard atOp(",") else { return first }
        var items = [first]
        while acceptOp(",") {
            if endsExpressionList() { break }
            items.append(try starOrNamedTest())
        }
        return Expr(.tuple(items), start)
    }

    func endsExpressionList() -> Bool {
        switch current.kind {
        case .newline, .end, .op("="), .op(")"), .op("]"), .op("}"), .op(":"), .op(";"): return true
        case .op(let o) where o.count >= 2 && o.hasSuffix("=") && o != "==" && o != "<=" && o != ">=" && o != "!=": return true
        default: return false
        }
    }

    mutating func starOrNamedTest() throws -> Expr {
        if atOp("*") {
            let start = location
            index += 1
            return Expr(.starred(try bitOr()), start)
        }
        return try namedExpressionTest()
    }

    mutating func namedExpressionTest() throws -> Expr {
        if case .name(let name) = current.kind, peekOp(":="), !Parser.keywords.contains(name) {
            let start = location
            index += 2
            let value = try test()
            bindWalrus(name)
            return Expr(.namedExpr(name, value), start)
        }
        return try test()
    }

    /// A walrus inside a comprehension binds in the nearest enclosing function (PEP 572).
    mutating func bindWalrus(_ name: String) {
        for scope in scopes.reversed() where !comprehensionScopes.contains(ObjectIdentifier(scope)) {
            scope.locals.insert(name)
            return
        }
    }
    var comprehensionScopes: Set<ObjectIdentifier> = []

    mutating func test() throws -> Expr {
        try enter(); defer { nesting -= 1 }
        if atName("lambda") { return try lambda() }
        let start = location
        let body = try orTest()
        if atName("if") {
            // `x if c else y`, but not a comprehension's `if`
            let save = index
            index += 1
            let condition = try orTest()
            guard acceptName("else") else { index = save; return body }
            let orElse = try test()
            return Expr(.conditional(test: condition, body: body, orElse: orElse), start)
        }
        return body
    }

    mutating func testNoConditional() throws -> Expr {
        if atName("lambda") { return try lambda() }
        return try orTest()
    }

    mutating func lambda() throws -> Expr {
        let start = location
        try expectName("lambda")
        let scope = Scope()
        let parameters = try parameterList(closing: ":", scope: scope, allowAnnotations: false)
        try expectOp(":")
        scopes.append(scope)
        let body = try test()
        scopes.removeLast()
        let returnStatement = Stmt(.return(body), body.location)
        let definition = FunctionDefinition(name: "<lambda>", parameters: parameters, body: [returnStatement], decorators: [],
                                            returns: nil, isAsync: false, scope: scope, location: start)
        return Expr(.lambda(definition), start)
    }

    mutating func orTest() throws -> Expr {
        let start = location
        let first = try andTest()
        guard atName("or") else { return first }
        var items = [first]
        while acceptName("or") { items.append(try andTest()) }
        return Expr(.or(items), start)
    }

    mutating func andTest() throws -> Expr {
        let start = location
        let first = try notTest()
        guard atName("and") else { return first }
        var items = [first]
        while acceptName("and") { items.append(try notTest()) }
        return Expr(.and(items), start)
    }

    mutating func notTest() throws -> Expr {
        if atName("not") {
            try enter(); defer { nesting -= 1 }
            let start = location
            index += 1
            return Expr(.unary(.not, try notTest()), start)
        }
        return try comparison()
    }

    mutating func comparison() throws -> Expr {
        let start = location
        let first = try bitOr()
        var rest: [(CompareOperator, Expr)] = []
        while true {
            var op: CompareOperator?
            switch current.kind {
            case .op("=="): op = .equal
            case .op("!="): op = .notEqual
            case .op("<"): op = .less
            case .op("<="): op = .lessEqual
            case .op(">"): op = .greater
            case .op(">="): op = .greaterEqual
            case .name("in"): op = .contains
            case .name("is"):
                if index + 1 < tokens.count, tokens[index + 1].kind == .name("not") { index += 1; op = .isNot } else { op = .isSame }
            case .name("not"):
                if index + 1 < tokens.count, tokens[index + 1].kind == .name("in") { index += 1; op = .notContains }
            default: break
            }
            guard let found = op else { break }
            index += 1
            rest.append((found, try bitOr()))
        }
        return rest.isEmpty ? first : Expr(.compare(first, rest), start)
    }

    /// One level of left-associative binary operators; `match` maps the current token to this
    /// level's operator (a switch, not a table: this runs for every operand of every expression).
    mutating func binaryLevel(_ match: (TokenKind) -> BinaryOperator?, _ next: (inout Parser) throws -> Expr) throws -> Expr {
        let start = location
        var left = try next(&self)
        while let op = match(current.kind) {
            index += 1
            left = Expr(.binary(op, left, try next(&self)), start)
        }
        return left
    }

    mutating func bitOr() throws -> Expr {
        try binaryLevel({ if case .op("|") = $0 { return .bitOr }; return nil }) { try $0.bitXor() }
    }
    mutating func bitXor() throws -> Expr {
        try binaryLevel({ if case .op("^") = $0 { return .bitXor }; return nil }) { try $0.bitAnd() }
    }
    mutating func bitAnd() throws -> Expr {
        try binaryLevel({ if case .op("&") = $0 { return .bitAnd }; return nil }) { try $0.shift() }
    }
    mutating func shift() throws -> Expr {
        try binaryLevel({ kind in
            guard case .op(let o) = kind else { return nil }
            return o == "<<" ? .leftShift : o == ">>" ? .rightShift : nil
        }) { try $0.arithmetic() }
    }
    mutating func arithmetic() throws -> Expr {
        try binaryLevel({ kind in
            guard case .op(let o) = kind else { return nil }
            return o == "+" ? .add : o == "-" ? .subtract : nil
        }) { try $0.term() }
    }
    mutating func term() throws -> Expr {
        try binaryLevel({ kind in
            guard case .op(let o) = kind else { return nil }
            switch o {
            case "*": return .multiply
            case "/": return .divide
            case "//": return .floorDivide
            case "%": return .modulo
            case "@": return .matrixMultiply
            default: return nil
            }
        }) { try $0.factor() }
    }

    mutating func factor() throws -> Expr {
        let start = location
        let op: UnaryOperator?
        switch current.kind {
        case .op("+"): op = .plus
        case .op("-"): op = .minus
        case .op("~"): op = .invert
        default: op = nil
        }
        if let op {
            try enter(); defer { nesting -= 1 }
            index += 1
            return Expr(.unary(op, try factor()), start)
        }
        return try power()
    }

    mutating func power() throws -> Expr {
        let start = location
        var base: Expr
        if atName("await") {
            index += 1
            base = Expr(.await(try primary()), start)
        } else {
            base = try primary()
        }
        if acceptOp("**") {
            try enter(); defer { nesting -= 1 }
            base = Expr(.binary(.power, base, try factor()), start)
        }
        return base
    }

    mutating func primary() throws -> Expr {
        var expression = try atom()
        while true {
            let start = location
            if acceptOp(".") {
                expression = Expr(.attribute(expression, try identifier()), start)
            } else if acceptOp("(") {
                try enter(); defer { nesting -= 1 }
                let arguments = try callArguments()
                try expectOp(")")
                expression = Expr(.call(expression, arguments), start)
            } else if acceptOp("[") {
                try enter(); defer { nesting -= 1 }
                let subscriptExpression = try subscriptList()
                try expectOp("]")
                expression = Expr(.subscript(expression, subscriptExpression), start)
            } else {
                return expression
            }
        }
    }

    mutating func subscriptList() throws -> Expr {
        let start = location
        let first = try subscriptItem()
        guard atOp(",") else { return first }
        var items = [first]
        while acceptOp(",") {
            if atOp("]") { break }
            items.append(try subscriptItem())
        }
        return Expr(.tuple(items), start)
    }

    mutating func subscriptItem() throws -> Expr {
        let start = location
        if atOp("*") { index += 1; return Expr(.starred(try bitOr()), start) }
        var lower: Expr? = nil
        if !atOp(":") {
            lower = try namedExpressionTest()
            guard atOp(":") else { return lower! }
        }
        index += 1      // ':'
        let upper = (atOp(":") || atOp("]") || atOp(",")) ? nil : try test()
        var step: Expr? = nil
        if acceptOp(":") {
            step = (atOp("]") || atOp(",")) ? nil : try test()
        }
        return Expr(.slice(lower, upper, step), start)
    }

    mutating func callArguments() throws -> [Argument] {
        var arguments: [Argument] = []
        while !atOp(")") {
            if acceptOp("**") {
                arguments.append(.doubleStarred(try test()))
            } else if acceptOp("*") {
                arguments.append(.starred(try test()))
            } else if case .name(let name) = current.kind, peekOp("="), !Parser.keywords.contains(name) {
                index += 2
                arguments.append(.keyword(name, try test()))
            } else {
                let start = location
                let value = try namedExpressionTest()
                if atName("for") || atName("async") {
                    arguments.append(.positional(try comprehension(.generator, element: value, value: nil, start: start)))
                } else {
                    arguments.append(.positional(value))
                }
            }
            if !acceptOp(",") { break }
        }
        return arguments
    }

    mutating func comprehension(_ kind: ComprehensionKind, element: Expr, value: Expr?, start: SourceLocation) throws -> Expr {
        // The element was parsed before its scope was known: its names resolve at run time in the
        // comprehension's own frame, which reads the enclosing ones.
        let scope = Scope()
        comprehensionScopes.insert(ObjectIdentifier(scope))
        scopes.append(scope)
        defer { scopes.removeLast() }
        var clauses: [ComprehensionClause] = []
        while atName("for") || atName("async") {
            _ = acceptName("async")
            try expectName("for")
            let target = try targetList()
            bindTarget(target)
            try expectName("in")
            let iterable = try orTest()
            var conditions: [Expr] = []
            while acceptName("if") { conditions.append(try testNoConditional()) }
            clauses.append(ComprehensionClause(target: target, iterable: iterable, conditions: conditions))
        }
        return Expr(.comprehension(kind, element: element, value: value, clauses: clauses, scope: scope), start)
    }

    mutating func atom() throws -> Expr {
        let start = location
        let token = current
        switch token.kind {
        case .name(let name):
            switch name {
            case "None": index += 1; return Expr(.constant(.none), start)
            case "True": index += 1; return Expr(.constant(.bool(true)), start)
            case "False": index += 1; return Expr(.constant(.bool(false)), start)
            case "yield": return try yieldExpression()
            default:
                if Parser.keywords.contains(name) { throw error("invalid syntax") }
                index += 1
                return Expr(.name(name), start)
            }
        case .int(let text): index += 1; return Expr(.constant(.int(text)), start)
        case .float(let value): index += 1; return Expr(.constant(.float(value)), start)
        case .imaginary(let value): index += 1; return Expr(.constant(.imaginary(value)), start)
        case .string: return try strings()
        case .op("..."): index += 1; return Expr(.constant(.ellipsis), start)
        case .op("("):
            try enter(); defer { nesting -= 1 }
            index += 1
            if acceptOp(")") { return Expr(.tuple([]), start) }
            if atName("yield") {
                let value = try yieldExpression()
                try expectOp(")")
                return value
            }
            let first = try starOrNamedTest()
            if atName("for") || atName("async") {
                let generator = try comprehension(.generator, element: first, value: nil, start: start)
                try expectOp(")")
                return generator
            }
            if acceptOp(")") {
                if case .starred = first.kind { throw PythonSyntaxError(file: file, location: start, message: "cannot use starred expression here") }
                return first
            }
            var items = [first]
            while acceptOp(",") {
                if atOp(")") { break }
                items.append(try starOrNamedTest())
            }
            try expectOp(")")
            return Expr(.tuple(items), start)
        case .op("["):
            try enter(); defer { nesting -= 1 }
            index += 1
            if acceptOp("]") { return Expr(.list([]), start) }
            let first = try starOrNamedTest()
            if atName("for") || atName("async") {
                let list = try comprehension(.list, element: first, value: nil, start: start)
                try expectOp("]")
                return list
            }
            var items = [first]
            while acceptOp(",") {
                if atOp("]") { break }
                items.append(try starOrNamedTest())
            }
            try expectOp("]")
            return Expr(.list(items), start)
        case .op("{"):
            try enter(); defer { nesting -= 1 }
            index += 1
            if acceptOp("}") { return Expr(.dict([]), start) }
            if acceptOp("**") {
                var entries: [(key: Expr?, value: Expr)] = [(nil, try bitOr())]
                try dictRest(&entries)
                return Expr(.dict(entries), start)
            }
            let first = try starOrNamedTest()
            if acceptOp(":") {
                let value = try test()
                if atName("for") || atName("async") {
                    let dict = try comprehension(.dict, element: first, value: value, start: start)
                    try expectOp("}")
                    return dict
                }
                var entries: [(key: Expr?, value: Expr)] = [(first, value)]
                try dictRest(&entries)
                return Expr(.dict(entries), start)
            }
            if atName("for") || atName("async") {
                let set = try comprehension(.set, element: first, value: nil, start: start)
                try expectOp("}")
                return set
            }
            var items = [first]
            while acceptOp(",") {
                if atOp("}") { break }
                items.append(try starOrNamedTest())
            }
            try expectOp("}")
            return Expr(.set(items), start)
        default:
            throw error("invalid syntax")
        }
    }

    mutating func dictRest(_ entries: inout [(key: Expr?, value: Expr)]) throws {
        while acceptOp(",") {
            if atOp("}") { break }
            if acceptOp("**") {
                entries.append((nil, try bitOr()))
            } else {
                let key = try test()
                try expectOp(":")
                entries.append((key, try test()))
            }
        }
        try expectOp("}")
    }

    // MARK: strings

    /// Adjacent string literals concatenated; f-strings split into literal and value parts.
    mutating func strings() throws -> Expr {
        let start = location
        var parts: [FStringPart] = []
        var isFormatted = false
        var isBytes = false
        var bytes: [UInt8] = []
        while case .string(let prefix, let body) = current.kind {
            let token = current
            index += 1
            let raw = prefix.contains("r")
            if prefix.contains("b") {
                isBytes = true
                bytes += try StringEscapes.decode(body, raw: raw, bytes: true, file: file, at: token.location).utf8
                continue
            }
            if prefix.contains("f") {
                isFormatted = true
                parts += try fStringParts(body, raw: raw, at: token.location)
            } else {
                parts.append(.literal(try StringEscapes.decode(body, raw: raw, bytes: false, file: file, at: token.location)))
            }
        }
        if isBytes { return Expr(.constant(.bytes(bytes)), start) }
        if !isFormatted {
            var text = ""
            for case .literal(let piece) in parts { text += piece }
            return Expr(.constant(.string(text)), start)
        }
        return Expr(.fstring(parts), start)
    }

    mutating func fStringParts(_ body: String, raw: Bool, at location: SourceLocation) throws -> [FStringPart] {
        let characters = Array(body)
        var parts: [FStringPart] = []
        var literal = ""
        var i = 0
        var line = location.line, column = location.column + 1
        func flushLiteral() throws {
            if !literal.isEmpty {
                parts.append(.literal(try StringEscapes.decode(literal, raw: raw, bytes: false, file: file, at: location)))
                literal = ""
            }
        }
        while i < characters.count {
            let c = characters[i]
            if c == "{" {
                if i + 1 < characters.count && characters[i + 1] == "{" { literal += "{"; i += 2; column += 2; continue }
                try flushLiteral()
                // find the matching close, respecting nested brackets and strings
                var depth = 0
                var j = i + 1
                var quote: Character? = nil
                var expressionEnd = -1, conversion: Character? = nil, specStart = -1
                while j < characters.count {
                    let d = characters[j]
                    if let q = quote {
                        if d == q { quote = nil }
                    } else if d == "'" || d == "\"" {
                        quote = d
                    } else if d == "(" || d == "[" || d == "{" {
                        depth += 1
                    } else if d == ")" || d == "]" || (d == "}" && depth > 0) {
                        depth -= 1
                    } else if depth == 0 {
                        if d == "!" && j + 1 < characters.count && characters[j + 1] != "=" && expressionEnd < 0 {
                            expressionEnd = j
                            conversion = j + 1 < characters.count ? characters[j + 1] : nil
                            j += 2
                            continue
                        }
                        if d == ":" && specStart < 0 {
                            if expressionEnd < 0 { expressionEnd = j }
                            specStart = j + 1
                            // the spec runs to the matching close brace
                            var specDepth = 0
                            var k = j + 1
                            while k < characters.count {
                                if characters[k] == "{" { specDepth += 1 }
                                if characters[k] == "}" { if specDepth == 0 { break }; specDepth -= 1 }
                                k += 1
                            }
                            j = k
                            break
                        }
                        if d == "}" { break }
                    }
                    j += 1
                }
                guard j < characters.count else {
                    throw PythonSyntaxError(file: file, location: location, message: "f-string: expecting '}'")
                }
                if expressionEnd < 0 { expressionEnd = j }
                var expressionText = String(characters[(i + 1)..<expressionEnd])
                var selfDocumenting: String? = nil
                let trimmed = expressionText.trimmingTrailingSpaces()
                if trimmed.hasSuffix("=") && !trimmed.hasSuffix("==") && !trimmed.hasSuffix("!=") && !trimmed.hasSuffix("<=") && !trimmed.hasSuffix(">=") {
                    selfDocumenting = expressionText
                    expressionText = String(trimmed.dropLast())
                }
                guard !expressionText.allSatisfy({ $0 == " " }) else {
                    throw PythonSyntaxError(file: file, location: location, message: "f-string: empty expression not allowed")
                }
                let expressionLocation = SourceLocation(line: line, column: column + 1)
                let expression = try Parser.parseExpression(expressionText, file: file, at: expressionLocation, scopes: scopes)
                var spec: [FStringPart]? = nil
                if specStart >= 0 {
                    spec = try fStringParts(String(characters[specStart..<j]), raw: raw, at: expressionLocation)
                }
                if let conversion, !"rsa".contains(conversion) {
                    throw PythonSyntaxError(file: file, location: expressionLocation, message: "f-string: invalid conversion character '\(conversion)': expected 's', 'r', or 'a'")
                }
                parts.append(.value(expression, conversion: conversion, spec: spec, selfDocumenting: selfDocumenting))
                for k in i...j { if characters[k] == "\n" { line += 1; column = 1 } else { column += 1 } }
                i = j + 1
                continue
            }
            if c == "}" {
                if i + 1 < characters.count && characters[i + 1] == "}" { literal += "}"; i += 2; column += 2; continue }
                throw PythonSyntaxError(file: file, location: location, message: "f-string: single '}' is not allowed")
            }
            literal.append(c)
            if c == "\n" { line += 1; column = 1 } else { column += 1 }
            i += 1
        }
        try flushLiteral()
        return parts
    }
}

extension String {
    fileprivate func trimmingTrailingSpaces() -> String {
        var s = self
        while s.last == " " { s.removeLast() }
        return s
    }
}

/// Backslash escapes of string and bytes literals.
enum StringEscapes {
    static func decode(_ body: String, raw: Bool, bytes: Bool, file: String, at location: SourceLocation) throws -> String {
        if raw || !body.contains("\\") { return body }
        var result = ""
        let iterator = Array(body.unicodeScalars)
        var i = 0
        func hex(_ count: Int) throws -> UnicodeScalar {
            guard i + count < iterator.count + 1, i + count <= iterator.count,
                  let value = UInt32(String(String.UnicodeScalarView(iterator[i..<i + count])), radix: 16),
                  let scalar = UnicodeScalar(value) else {
                throw PythonSyntaxError(file: file, location: location, message: "truncated \\x, \\u or \\U escape")
            }
            i += count
            return scalar
        }
        while i < iterator.count {
            let c = iterator[i]
            i += 1
            guard c == "\\", i < iterator.count else { result.unicodeScalars.append(c); continue }
            let e = iterator[i]
            i += 1
            switch e {
            case "\n": break
            case "\\": result += "\\"
            case "'": result += "'"
            case "\"": result += "\""
            case "a": result += "\u{07}"
            case "b": result += "\u{08}"
            case "f": result += "\u{0C}"
            case "n": result += "\n"
            case "r": result += "\r"
            case "t": result += "\t"
            case "v": result += "\u{0B}"
            case "x": result.unicodeScalars.append(try hex(2))
            case "u" where !bytes: result.unicodeScalars.append(try hex(4))
            case "U" where !bytes: result.unicodeScalars.append(try hex(8))
            case "N" where !bytes:
                // named escapes: model code uses none; keep the text
                result += "\\N"
            case "0"..."7":
                var value = e.value - 48
                var digits = 1
                while digits < 3, i < iterator.count, ("0"..."7").contains(iterator[i]) {
                    value = value * 8 + iterator[i].value - 48
                    i += 1; digits += 1
                }
                result.unicodeScalars.append(UnicodeScalar(value) ?? "?")
            default:
                result += "\\"
                result.unicodeScalars.append(e)
            }
        }
        return result
    }
}
