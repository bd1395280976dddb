import PythonFrontEnd

/// How a statement ended.
enum Completion {
    case normal
    case returned(PyValue)
    case broke
    case continued
}

/// A tree-walking interpreter for the Python that model code is written in. One interpreter is
/// one run: its modules, classes and budgets are its own (no global state).
public final class Interpreter {
    public let types: BuiltinTypes
    public var builtins: [String: PyValue] = [:]
    public var modules: [String: PyModule] = [:]
    public let importer: Importer
    public var budget: InterpreterBudget
    var steps = 0
    var depth = 0
    /// Exceptions being handled (innermost last), for bare `raise` and implicit chaining.
    var handling: [PyError] = []
    /// Frames of running Python functions, for tracebacks and zero-argument super().
    var frames: [Frame] = []
    /// Warnings the run produced (warnings.warn), shown by the caller if it wants.
    public var warnings: [String] = []
    /// Text printed by the code (print), kept rather than written anywhere.
    public var printed: [String] = []
    /// Hooks for native objects ModelGraph adds (torch's tensors, dtypes, devices).
    public var extensions: [String: Any] = [:]
    /// Functions whose locals an error records as it leaves them (the caller locates failures by them).
    public var captureLocals: Set<String> = []
    /// Objects that can close a reference cycle no root reaches (a frame captured by a closure
    /// that lives in its own locals, a list holding itself), held weakly: tearDown empties the
    /// ones still alive, which only a cycle can be keeping.
    final class WeakObject { weak var object: PyObject?; init(_ o: PyObject) { object = o } }
    final class WeakFrame { weak var frame: Frame?; init(_ f: Frame) { frame = f } }
    var cycleCandidates: [WeakObject] = []
    var capturedFrames: [WeakFrame] = []
    var candidateLimit = 4096

    func track(_ object: PyObject) {
        cycleCandidates.append(WeakObject(object))
        if cycleCandidates.count >= candidateLimit {
            cycleCandidates.removeAll { $0.object == nil }
            candidateLimit = max(4096, cycleCandidates.count * 2)
        }
    }

    func trackCaptured(_ frame: Frame) {
        if capturedFrames.last?.frame === frame { return }
        capturedFrames.append(WeakFrame(frame))
        if capturedFrames.count % 4096 == 0 { capturedFrames.removeAll { $0.frame == nil } }
    }

    /// How many `try` blocks that catch ImportError are running: an import there of a module
    /// ModelGraph does not provide fails as it would where the package is not installed.
    var importGuards = 0
    /// Locals recorded when a run ended on a limit rather than a Python exception.
    public var lastCapturedLocals: [String: [String: PyValue]] = [:]

    public init(importer: Importer, budget: InterpreterBudget = InterpreterBudget()) {
        self.importer = importer
        self.budget = budget
        self.types = BuiltinTypes()
        installBuiltins()
        importer.install(into: self)
    }

    // MARK: steps and errors

    @inline(__always) func step(_ location: SourceLocation) throws {
        steps &+= 1
        if steps > budget.steps {
            throw limit("the run took more than \(budget.steps) steps (an endless loop?); fork mode stops here", at: location)
        }
    }

    /// The traceback of the running frames, innermost first.
    func currentTraceback(at location: SourceLocation?) -> [TraceFrame] {
        var result: [TraceFrame] = []
        for (i, frame) in frames.enumerated().reversed() {
            let where_ = (i == frames.count - 1 ? location : nil) ?? frame.location
            result.append(TraceFrame(file: frame.module.file ?? frame.module.name, location: where_, function: functionName(frame)))
        }
        return result
    }

    /// The innermost running frame whose source file `include` accepts, as `file:line:column`
    /// (fork mode's program origins: the fork's line that called a torch op).
    public func innermostSite(where include: (String) -> Bool) -> String? {
        for frame in frames.reversed() {
            let file = frame.module.file ?? frame.module.name
            if include(file) { return "\(file):\(frame.location)" }
        }
        return nil
    }

    func functionName(_ frame: Frame) -> String {
        if let function = frame.function { return function.qualifiedName }
        return frame.isModuleBody ? "<module>" : "<class body>"
    }

    public func limit(_ message: String, at location: SourceLocation?) -> InterpreterLimit {
        InterpreterLimit(message, traceback: currentTraceback(at: location))
    }

    /// A Python exception of a built-in type, e.g. `error(types.typeError, "…")`.
    public func error(_ cls: PyClass, _ message: String) -> PyError {
        let instance = PyInstance(cls: cls)
        instance.attributes["args"] = .tuple([.str(message)])
        return PyError(instance)
    }

    public func typeError(_ message: String) -> PyError { error(types.typeError, message) }
    /// KeyError carries the key itself (its str is the key's repr).
    public func keyError(_ key: PyValue) -> PyError {
        let instance = PyInstance(cls: types.keyError)
        instance.attributes["args"] = .tuple([key])
        return PyError(instance)
    }

    /// `eval(source)`: one expression, in the caller's scope or the given namespaces.
    func evaluateExpression(_ source: String, globals: PyValue?, locals: PyValue?) throws -> PyValue {
        let module: PythonFrontEnd.Module
        do { module = try Parser.parse(source: source.trimmingCharacters(" \t\n\r"), file: "<eval>") }
        catch let syntax as PythonSyntaxError { throw error(types.valueError, "eval(): \(syntax.message) in \(Interpreter.stringRepr(source))") }
        guard module.body.count == 1, case .expression(let expression) = module.body[0].kind else {
            throw limit("eval() of statements is not supported in fork mode (only expressions)", at: frames.last?.location)
        }
        let caller = frames.last
        var names: [String: PyValue] = [:]
        if let caller, caller.isModuleBody == false { names = caller.locals }
        for mapping in [globals, locals].compactMap({ $0 }) {
            guard case .object(let d as PyDict) = mapping else { continue }
            for (k, v) in d.entries { if case .str(let key) = k { names[key] = v } }
        }
        let frame = Frame(locals: names, scope: nil, parent: nil, module: caller?.module ?? PyModule(name: "<eval>", file: nil), isClassBody: true)
        return try evaluate(expression, frame)
    }
    public func valueError(_ message: String) -> PyError { error(types.valueError, message) }
    public func attributeError(_ message: String) -> PyError { error(types.attributeError, message) }
    public func notSupported(_ message: String) -> PyError { error(types.notImplementedError, message) }

    // MARK: modules

    /// Runs a module's top-level statements. In an imported module, a statement that fails is
    /// not fatal: the names it binds raise its error when used (model code imports far more
    /// than it needs: plotting, loggers, settings files).
    func executeModule(_ module: PyModule, body: [Stmt], deferFailures: Bool) throws {
        let frame = Frame(scope: nil, parent: nil, module: module, isModuleBody: true)
        frames.append(frame)
        defer { frames.removeLast() }
        for statement in body {
            do {
                _ = try execute(statement, frame)
            } catch var failure as PyError where !deferFailures || Interpreter.isImport(statement) {
                // the main module's errors, and a failed import of the fork's own code, propagate as in CPython
                if failure.traceback.last?.function != "<module>" || failure.traceback.last?.file != (module.file ?? module.name) {
                    failure.traceback.append(TraceFrame(file: module.file ?? module.name, location: failure.pendingLocation ?? frame.location, function: "<module>"))
                }
                failure.pendingLocation = nil
                throw failure
            } catch var failure as PyError where deferFailures {
                if failure.traceback.isEmpty || failure.traceback.last?.function != "<module>" {
                    failure.traceback.append(TraceFrame(file: module.file ?? module.name, location: failure.pendingLocation ?? frame.location, function: "<module>"))
                }
                for name in boundNames(statement) where module.namespace[name] == nil {
                    module.namespace[name] = .object(PyDeferredFailure(error: failure, name: name))
                }
            }
        }
    }

    static func isImport(_ statement: Stmt) -> Bool {
        switch statement.kind {
        case .import, .importFrom: return true
        default: return false
        }
    }

    /// The names a statement binds at module level.
    func boundNames(_ statement: Stmt) -> [String] {
        func targets(_ e: Expr) -> [String] {
            switch e.kind {
            case .name(let n): return [n]
            case .tuple(let items), .list(let items): return items.flatMap(targets)
            case .starred(let inner): return targets(inner)
            default: return []
            }
        }
        switch statement.kind {
        case .assign(let ts, _): return ts.flatMap(targets)
        case .annotatedAssign(let t, _, _), .augmentedAssign(let t, _, _): return targets(t)
        case .functionDef(let d): return [d.name]
        case .classDef(let d): return [d.name]
        case .import(let names): return names.map { $0.asName ?? String($0.name.prefix { $0 != "." }) }
        case .importFrom(let statement): return statement.names.filter { $0.name != "*" }.map { $0.asName ?? $0.name }
        case .if(_, let body, let orElse), .while(_, let body, let orElse): return (body + orElse).flatMap(boundNames)
        case .for(let t, _, let body, let orElse): return targets(t) + (body + orElse).flatMap(boundNames)
        case .try(let body, let handlers, let orElse, let finally):
            return (body + orElse + finally + handlers.flatMap(\.body)).flatMap(boundNames)
        case .with(let items, let body): return items.compactMap(\.target).flatMap(targets) + body.flatMap(boundNames)
        default: return []
        }
    }

    // MARK: statements

    func execute(_ statements: [Stmt], _ frame: Frame) throws -> Completion {
        for statement in statements {
            let completion = try execute(statement, frame)
            if case .normal = completion { continue }
            return completion
        }
        return .normal
    }

    func execute(_ statement: Stmt, _ frame: Frame) throws -> Completion {
        frame.location = statement.location
        try step(statement.location)
        switch statement.kind {
        case .expression(let e):
            _ = try evaluate(e, frame)
        case .assign(let targets, let valueExpression):
            let value = try evaluate(valueExpression, frame)
            for target in targets { try assign(target, value, frame) }
        case .augmentedAssign(let target, let op, let valueExpression):
            try augmentedAssign(target, op, valueExpression, frame)
        case .annotatedAssign(let target, _, let valueExpression):
            if let valueExpression { try assign(target, try evaluate(valueExpression, frame), frame) }
        case .functionDef(let definition):
            let function = try makeFunction(definition, frame)
            var value = PyValue.object(function)
            for decorator in definition.decorators.reversed() {
                let d = try evaluate(decorator, frame)
                frame.location = decorator.location
                value = try call(d, Arguments([value]), at: decorator.location)
            }
            try store(definition.name, value, frame)
        case .classDef(let definition):
            try store(definition.name, try makeClass(definition, frame), frame)
        case .return(let e):
            return .returned(try e.map { try evaluate($0, frame) } ?? .none)
        case .delete(let targets):
            for target in targets { try delete(target, frame) }
        case .pass: break
        case .break: return .broke
        case .continue: return .continued
        case .if(let test, let body, let orElse):
            return try execute(truthy(try evaluate(test, frame)) ? body : orElse, frame)
        case .while(let test, let body, let orElse):
            while try truthy(try evaluate(test, frame)) {
                try step(statement.location)
                switch try execute(body, frame) {
                case .broke: return .normal
                case .returned(let v): return .returned(v)
                default: continue
                }
            }
            return try execute(orElse, frame)
        case .for(let target, let iterableExpression, let body, let orElse):
            let iterable = try evaluate(iterableExpression, frame)
            var result: Completion? = nil
            try forEach(iterable) { item in
                try self.assign(target, item, frame)
                switch try self.execute(body, frame) {
                case .broke: result = .normal; return false
                case .returned(let v): result = .returned(v); return false
                default: return true
                }
            }
            if let result { return result }
            return try execute(orElse, frame)
        case .try(let body, let handlers, let orElse, let finally):
            return try executeTry(body: body, handlers: handlers, orElse: orElse, finally: finally, frame)
        case .with(let items, let body):
            return try executeWith(items[...], body: body, frame)
        case .raise(let exceptionExpression, let causeExpression):
            guard let exceptionExpression else {
                guard let current = handling.last else { throw error(types.runtimeError, "No active exception to reraise") }
                throw current
            }
            var failure = try makeException(try evaluate(exceptionExpression, frame))
            if let earlier = failure.exception.raisedTraceback {
                // `raise e` of a caught exception: its traceback goes on from where it was raised
                failure.traceback = Array(earlier.dropLast())
                failure.capturedLocals = failure.exception.raisedLocals ?? [:]
            }
            if let causeExpression {
                let cause = try evaluate(causeExpression, frame)
                if case .object(let c as PyInstance) = cause { failure.exception.attributes["__cause__"] = .object(c) }
            }
            failure.context = handling.last?.exception
            failure.pendingLocation = statement.location
            throw failure
        case .assert(let test, let message):
            if try !truthy(try evaluate(test, frame)) {
                let instance = PyInstance(cls: types.assertionError)
                instance.attributes["args"] = .tuple(try message.map { [try evaluate($0, frame)] } ?? [])
                var failure = PyError(instance)
                failure.pendingLocation = statement.location
                throw failure
            }
        case .global, .nonlocal:
            break       // resolved by the parser's scopes
        case .import(let names):
            for name in names {
                let module = try importer.importModule(name.name, from: frame.module, level: 0, interpreter: self, at: statement.location)
                if let asName = name.asName {
                    try store(asName, module, frame)
                } else {
                    let top = String(name.name.prefix { $0 != "." })
                    try store(top, try importer.importModule(top, from: frame.module, level: 0, interpreter: self, at: statement.location), frame)
                }
            }
        case .importFrom(let fromImport):
            let (moduleName, level, names) = (fromImport.module, fromImport.level, fromImport.names)
            let moduleValue = try importer.importModule(moduleName, from: frame.module, level: level, interpreter: self, at: statement.location)
            for name in names {
                if name.name == "*" {
                    try importStar(moduleValue, frame)
                    continue
                }
                let value: PyValue
                if case .object(let module as PyModule) = moduleValue {
                    if let v = module.namespace[name.name] {
                        value = v
                    } else if let sub = try? importer.importModule(name.name, from: module, level: -1, interpreter: self, at: statement.location) {
                        value = sub
                    } else if importer.isPartial(module.name) {
                        value = .object(PyStandIn(path: module.name + "." + name.name))
                    } else {
                        throw error(types.importError, "cannot import name '\(name.name)' from '\(module.name)' (\(module.file ?? "built-in"))")
                    }
                } else {
                    value = try getAttribute(moduleValue, name.name)
                }
                try store(name.asName ?? name.name, value, frame)
            }
        }
        return .normal
    }

    func importStar(_ moduleValue: PyValue, _ frame: Frame) throws {
        guard case .object(let module as PyModule) = moduleValue else { return }
        if let all = module.namespace["__all__"], !(all.asObject is PyDeferredFailure) {
            for name in try materialize(all) {
                guard case .str(let n) = name else { continue }
                guard let value = module.namespace[n] else {
                    throw attributeError("module '\(module.name)' has no attribute '\(n)' (listed in its __all__)")
                }
                try store(n, value, frame)
            }
        } else {
            for (name, value) in module.namespace.sorted(by: { $0.key < $1.key }) where !name.hasPrefix("_") {
                try store(name, value, frame)
            }
        }
    }

    func executeTry(body: [Stmt], handlers: [ExceptHandler], orElse: [Stmt], finally: [Stmt], _ frame: Frame) throws -> Completion {
        var completion: Completion = .normal
        var pending: Error? = nil
        let guardsImports = handlers.contains { Interpreter.catchesImportError($0.type) }
        do {
            if guardsImports { importGuards += 1 }
            do {
                completion = try execute(body, frame)
                if guardsImports { importGuards -= 1 }
            } catch {
                if guardsImports { importGuards -= 1 }
                throw error
            }
            if case .normal = completion { completion = try execute(orElse, frame) }
        } catch var failure as PyError {
            if failure.traceback.isEmpty || frames.last !== frame {
                // keep where it happened in this frame
            }
            if failure.pendingLocation == nil { failure.pendingLocation = frame.location }
            var handled = false
            for handler in handlers {
                if let typeExpression = handler.type {
                    let type = try evaluate(typeExpression, frame)
                    guard try exceptionMatches(failure.exception, type) else { continue }
                }
                handled = true
                // the frames below this one, kept on the exception for a later `raise e`
                failure.exception.raisedTraceback = failure.traceback + [TraceFrame(file: frame.module.file ?? frame.module.name,
                    location: failure.pendingLocation ?? frame.location, function: functionName(frame))]
                failure.exception.raisedLocals = failure.capturedLocals
                if let name = handler.name { try store(name, .object(failure.exception), frame) }
                handling.append(failure)
                do {
                    completion = try execute(handler.body, frame)
                    handling.removeLast()
                } catch {
                    handling.removeLast()
                    if finally.isEmpty { throw error }
                    pending = error
                }
                if let name = handler.name { frame.locals[name] = nil }
                break
            }
            if !handled { pending = failure }
        } catch let limit as InterpreterLimit {
            throw limit
        }
        if !finally.isEmpty {
            let finalCompletion = try execute(finally, frame)
            if case .normal = finalCompletion {} else { return finalCompletion }
        }
        if let pending { throw pending }
        return completion
    }

    /// Whether an `except` clause would catch ImportError (read from its text: bare, or naming
    /// ImportError, ModuleNotFoundError, Exception or BaseException).
    static func catchesImportError(_ type: Expr?) -> Bool {
        guard let type else { return true }
        switch type.kind {
        case .name(let n), .attribute(_, let n): return ["ImportError", "ModuleNotFoundError", "Exception", "BaseException"].contains(n)
        case .tuple(let items): return items.contains { catchesImportError($0) }
        default: return false
        }
    }

    func exceptionMatches(_ exception: PyInstance, _ type: PyValue) throws -> Bool {
        switch type {
        case .object(let cls as PyClass): return exception.cls.isSubclass(of: cls)
        case .object(let tuple as PyTuple): return try tuple.items.contains { try exceptionMatches(exception, $0) }
        case .object(is PyStandIn), .object(is PyDeferredFailure): return false
        default: throw typeError("catching classes that do not inherit from BaseException is not allowed")
        }
    }

    func makeException(_ value: PyValue) throws -> PyError {
        switch value {
        case .object(let instance as PyInstance) where instance.cls.isSubclass(of: types.baseException):
            return PyError(instance)
        case .object(let cls as PyClass) where cls.isSubclass(of: types.baseException):
            guard case .object(let instance as PyInstance) = try call(value, Arguments()) else {
                throw typeError("exceptions must derive from BaseException")
            }
            return PyError(instance)
        default:
            throw typeError("exceptions must derive from BaseException")
        }
    }

    func executeWith(_ items: ArraySlice<(context: Expr, target: Expr?)>, body: [Stmt], _ frame: Frame) throws -> Completion {
        guard let item = items.first else { return try execute(body, frame) }
        let manager = try evaluate(item.context, frame)
        let entered = try callMethod(manager, "__enter__", Arguments())
        if let target = item.target { try assign(target, entered, frame) }
        let completion: Completion
        do {
            completion = try executeWith(items.dropFirst(), body: body, frame)
        } catch let failure as PyError {
            let suppress = try callMethod(manager, "__exit__", Arguments([.object(failure.exception.cls), .object(failure.exception), .none]))
            if try truthy(suppress) { return .normal }
            throw failure
        }
        _ = try callMethod(manager, "__exit__", Arguments([.none, .none, .none]))
        return completion
    }

    // MARK: assignment

    func assign(_ target: Expr, _ value: PyValue, _ frame: Frame) throws {
        switch target.kind {
        case .name(let name):
            try store(name, value, frame)
        case .attribute(let objectExpression, let name):
            let object = try evaluate(objectExpression, frame)
            frame.location = target.location
            try setAttribute(object, name, value)
        case .subscript(let objectExpression, let indexExpression):
            let object = try evaluate(objectExpression, frame)
            let index = try evaluate(indexExpression, frame)
            frame.location = target.location
            try setItem(object, index, value)
        case .tuple(let targets), .list(let targets):
            let items = try materialize(value)
            if let star = targets.firstIndex(where: { if case .starred = $0.kind { return true }; return false }) {
                let after = targets.count - star - 1
                guard items.count >= targets.count - 1 else {
                    throw valueError("not enough values to unpack (expected at least \(targets.count - 1), got \(items.count))")
                }
                for i in 0..<star { try assign(targets[i], items[i], frame) }
                if case .starred(let inner) = targets[star].kind {
                    try assign(inner, .list(Array(items[star..<(items.count - after)])), frame)
                }
                for i in 0..<after { try assign(targets[star + 1 + i], items[items.count - after + i], frame) }
            } else {
                guard items.count == targets.count else {
                    throw valueError(items.count > targets.count ? "too many values to unpack (expected \(targets.count))"
                                                                 : "not enough values to unpack (expected \(targets.count), got \(items.count))")
                }
                for (t, v) in zip(targets, items) { try assign(t, v, frame) }
            }
        case .starred(let inner):
            try assign(inner, value, frame)
        default:
            throw limit("cannot assign to this expression", at: target.location)
        }
    }

    func augmentedAssign(_ target: Expr, _ op: BinaryOperator, _ valueExpression: Expr, _ frame: Frame) throws {
        switch target.kind {
        case .name(let name):
            let current = try load(name, frame, at: target.location)
            let value = try evaluate(valueExpression, frame)
            try store(name, try inPlace(op, current, value), frame)
        case .attribute(let objectExpression, let name):
            let object = try evaluate(objectExpression, frame)
            let current = try getAttribute(object, name)
            let value = try evaluate(valueExpression, frame)
            try setAttribute(object, name, try inPlace(op, current, value))
        case .subscript(let objectExpression, let indexExpression):
            let object = try evaluate(objectExpression, frame)
            let index = try evaluate(indexExpression, frame)
            let current = try getItem(object, index)
            let value = try evaluate(valueExpression, frame)
            try setItem(object, index, try inPlace(op, current, value))
        default:
            throw limit("illegal expression for augmented assignment", at: target.location)
        }
    }

    /// `a op= b`: lists and dicts change in place, as their `__iadd__`/`__ior__` do.
    func inPlace(_ op: BinaryOperator, _ a: PyValue, _ b: PyValue) throws -> PyValue {
        if case .object(let list as PyList) = a {
            if op == .add { list.items += try materialize(b); return a }
            if op == .multiply, case .int(let n) = b {
                let original = list.items
                list.items = []
                for _ in 0..<max(0, n) { list.items += original }
                return a
            }
        }
        if case .object(let dict as PyDict) = a, op == .bitOr, case .object(let other as PyDict) = b {
            for (k, v) in other.entries { dict[k] = v }
            return a
        }
        if case .object(let instance as PyInstance) = a {
            let name = "__i" + (Interpreter.binaryMethodNames[op]?.dropFirst(2) ?? "")
            if instance.cls.lookup(String(name)) != nil {
                let result = try callMethod(a, String(name), Arguments([b]))
                if !isNotImplemented(result) { return result }
            }
        }
        if let native = a.asObject as? NativeObject, let result = try native.inPlace(op, b, self) { return result }
        return try binary(op, a, b)
    }

    func delete(_ target: Expr, _ frame: Frame) throws {
        switch target.kind {
        case .name(let name):
            if frame.isModuleBody || frame.scope?.globals.contains(name) == true {
                guard frame.module.namespace.removeValue(forKey: name) != nil else { throw error(types.nameError, "name '\(name)' is not defined") }
            } else {
                guard frame.locals.removeValue(forKey: name) != nil else { throw error(types.nameError, "name '\(name)' is not defined") }
            }
        case .attribute(let objectExpression, let name):
            try deleteAttribute(try evaluate(objectExpression, frame), name)
        case .subscript(let objectExpression, let indexExpression):
            try deleteItem(try evaluate(objectExpression, frame), try evaluate(indexExpression, frame))
        case .tuple(let items), .list(let items):
            for item in items { try delete(item, frame) }
        default:
            throw limit("cannot delete this expression", at: target.location)
        }
    }

    // MARK: names

    func load(_ name: String, _ frame: Frame, at location: SourceLocation) throws -> PyValue {
        if frame.isModuleBody { return try global(name, frame.module, at: location) }
        if frame.isClassBody {
            if let v = frame.locals[name] { return v }
            if let v = enclosing(name, frame.parent) { return v }
            return try global(name, frame.module, at: location)
        }
        if let scope = frame.scope {
            if scope.locals.contains(name) {
                if let v = frame.locals[name] { return v }
                throw error(types.unboundLocalError, "cannot access local variable '\(name)' where it is not associated with a value")
            }
            if scope.globals.contains(name) { return try global(name, frame.module, at: location) }
        }
        if let v = enclosing(name, frame.parent) { return v }
        return try global(name, frame.module, at: location)
    }

    func enclosing(_ name: String, _ start: Frame?) -> PyValue? {
        var f = start
        while let frame = f {
            if frame.isModuleBody { return nil }
            if !frame.isClassBody, let scope = frame.scope, scope.locals.contains(name) || scope.nonlocals.contains(name) {
                if let v = frame.locals[name] { return v }
                if scope.locals.contains(name) { return nil }
            }
            f = frame.parent
        }
        return nil
    }

    func global(_ name: String, _ module: PyModule, at location: SourceLocation) throws -> PyValue {
        // a name whose definition failed is a value until something uses it (model code lists
        // every module class in tuples, and only the ones a YAML names must work)
        if let v = module.namespace[name] { return v }
        if let v = builtins[name] { return v }
        throw error(types.nameError, "name '\(name)' is not defined")
    }

    func deferredError(_ deferred: PyDeferredFailure) -> PyError {
        var failure = deferred.error
        failure.pendingLocation = nil
        return failure
    }

    func store(_ name: String, _ value: PyValue, _ frame: Frame) throws {
        if frame.isModuleBody { frame.module.namespace[name] = value; return }
        if frame.isClassBody { frame.locals[name] = value; return }
        if let scope = frame.scope {
            if scope.globals.contains(name) { frame.module.namespace[name] = value; return }
            if scope.locals.contains(name) { frame.locals[name] = value; return }
            // nonlocal, or a walrus inside a comprehension: the nearest enclosing scope that has it
            var f = frame.parent
            while let outer = f {
                if outer.isModuleBody { outer.module.namespace[name] = value; return }
                if !outer.isClassBody, let s = outer.scope, s.locals.contains(name) { outer.locals[name] = value; return }
                f = outer.parent
            }
            frame.module.namespace[name] = value
            return
        }
        frame.locals[name] = value
    }

    // MARK: definitions

    func makeFunction(_ definition: FunctionDefinition, _ frame: Frame) throws -> PyFunction {
        var defaults: [String: PyValue] = [:]
        for parameter in definition.parameters {
            if let d = parameter.defaultValue { defaults[parameter.name] = try evaluate(d, frame) }
        }
        // methods close over the class body's enclosing function, not the class namespace
        let closure: Frame? = frame.isModuleBody ? nil : (frame.isClassBody ? frame.parent : frame)
        if let closure { trackCaptured(closure) }
        var qualifiedName = definition.name
        if frame.isClassBody, let className = frame.locals["__qualname__"], case .str(let q) = className {
            qualifiedName = q + "." + definition.name
        } else if let f = frame.function {
            qualifiedName = f.qualifiedName + ".<locals>." + definition.name
        }
        return PyFunction(definition: definition, globals: frame.module, closure: closure, defaults: defaults, qualifiedName: qualifiedName)
    }

    func makeClass(_ definition: ClassDefinition, _ frame: Frame) throws -> PyValue {
        var bases: [PyClass] = []
        var keywords: [(String, PyValue)] = []
        for argument in definition.arguments {
            switch argument {
            case .positional(let e):
                let base = try evaluate(e, frame)
                switch base {
                case .object(let cls as PyClass): bases.append(cls)
                case .object(let standIn as PyStandIn):
                    throw error(types.importError, "class \(definition.name) derives from \(standIn.path), which fork mode does not provide (module '\(standIn.path.prefix { $0 != "." })' is not available)")
                case .object(let deferred as PyDeferredFailure): throw deferredError(deferred)
                default:
                    if case .object(let o) = base, let hook = o as? NativeObject, let cls = hook.classForSubclassing(self) {
                        bases.append(cls)
                    } else {
                        throw typeError("class \(definition.name): a base is not a class (\(typeName(base)))")
                    }
                }
            case .starred(let e):
                for base in try materialize(try evaluate(e, frame)) {
                    guard case .object(let cls as PyClass) = base else { throw typeError("bases must be classes") }
                    bases.append(cls)
                }
            case .keyword(let name, let e): keywords.append((name, try evaluate(e, frame)))
            case .doubleStarred: break
            }
        }
        if bases.isEmpty { bases = [types.object] }
        let cls = PyClass(name: definition.name, bases: bases, moduleName: frame.module.name)
        track(cls)
        cls.mro = try computeMRO(cls)
        var qualifiedName = definition.name
        if frame.isClassBody, case .str(let q)? = frame.locals["__qualname__"] { qualifiedName = q + "." + definition.name }
        else if let f = frame.function { qualifiedName = f.qualifiedName + ".<locals>." + definition.name }
        cls.qualifiedName = qualifiedName
        let body = Frame(locals: ["__module__": .str(frame.module.name), "__qualname__": .str(qualifiedName)],
                         scope: nil, parent: frame.isModuleBody ? nil : frame, module: frame.module, isClassBody: true)
        body.function = frame.function
        body.location = definition.location
        if case .expression(let first)? = definition.body.first?.kind, case .constant(.string(let doc)) = first.kind {
            body.locals["__doc__"] = .str(doc)
        }
        _ = try execute(definition.body, body)
        for (name, value) in body.locals where name != "__qualname__" {
            cls.dict[name] = value
            setDefiningClass(value, cls)
        }
        var value = PyValue.object(cls)
        // __init_subclass__ and metaclasses: model code uses neither in ways that change a build
        _ = keywords
        for decorator in definition.decorators.reversed() {
            value = try call(try evaluate(decorator, frame), Arguments([value]), at: decorator.location)
        }
        if let hook = cls.lookup("__init_subclass__"), case .object(let f as PyClassMethod) = hook {
            _ = try call(f.function, Arguments([.object(cls)]))
        }
        return value
    }

    func setDefiningClass(_ value: PyValue, _ cls: PyClass) {
        switch value {
        case .object(let f as PyFunction): if f.definingClass == nil { f.definingClass = cls }
        case .object(let s as PyStaticMethod): setDefiningClass(s.function, cls)
        case .object(let c as PyClassMethod): setDefiningClass(c.function, cls)
        case .object(let p as PyProperty):
            setDefiningClass(p.getter, cls); setDefiningClass(p.setter, cls)
        default: break
        }
    }

    /// C3 linearisation, as CPython orders a class's bases.
    func computeMRO(_ cls: PyClass) throws -> [PyClass] {
        var sequences = cls.bases.map(\.mro) + [cls.bases]
        var result: [PyClass] = [cls]
        while true {
            sequences = sequences.filter { !$0.isEmpty }
            if sequences.isEmpty { return result }
            var candidate: PyClass? = nil
            for sequence in sequences {
                let head = sequence[0]
                if !sequences.contains(where: { $0.dropFirst().contains { $0 === head } }) { candidate = head; break }
            }
            guard let next = candidate else {
                throw typeError("Cannot create a consistent method resolution order (MRO) for bases \(cls.bases.map(\.name).joined(separator: ", "))")
            }
            result.append(next)
            sequences = sequences.map { $0.first === next ? Array($0.dropFirst()) : $0 }
        }
    }
}

extension Interpreter {
    /// Frees a finished run's objects. Python code makes reference cycles everywhere (a module
    /// holds its functions, which hold the module; instances hold their classes' bound methods);
    /// CPython's collector frees them, ARC cannot: this walks everything the run can reach and
    /// empties every container, which breaks every cycle. The interpreter is unusable afterwards.
    public func tearDown() {
        var seen = Set<ObjectIdentifier>()
        var stack: [PyObject] = Array(modules.values)
        func push(_ value: PyValue?) {
            if case .object(let o)? = value, seen.insert(ObjectIdentifier(o)).inserted { stack.append(o) }
        }
        func pushFrame(_ frame: Frame?) {
            var f = frame
            while let current = f {
                for v in current.locals.values { push(v) }
                current.locals = [:]
                current.generatorOutput = nil
                f = current.parent
            }
        }
        for o in stack { seen.insert(ObjectIdentifier(o)) }
        for v in builtins.values { push(v) }
        for cls in types.allClasses { push(.object(cls)) }
        for weak in cycleCandidates { if let o = weak.object { push(.object(o)) } }
        for weak in capturedFrames { pushFrame(weak.frame) }
        cycleCandidates = []
        capturedFrames = []
        for frame in frames { pushFrame(frame) }
        for failure in handling { push(.object(failure.exception)) }
        while let object = stack.popLast() {
            switch object {
            case let module as PyModule:
                for v in module.namespace.values { push(v) }
                module.namespace = [:]
            case let cls as PyClass:
                for v in cls.dict.values { push(v) }
                cls.dict = [:]
                for b in cls.bases { push(.object(b)) }
                cls.bases = []
                cls.ancestors = []
                cls.instanceCheck = nil
            case let instance as PyInstance:
                for (k, v) in instance.attributes.entries { push(k); push(v) }
                instance.attributes.removeAll()
                if let n = instance.native { push(.object(n)) }
                instance.native = nil
                push(instance.enumValue)
                instance.raisedLocals = nil
            case let list as PyList:
                for v in list.items { push(v) }
                list.items = []
            case let dict as PyDict:
                for (k, v) in dict.entries { push(k); push(v) }
                dict.removeAll()
            case let set as PySet:
                for v in set.items { push(v) }
                set.storage = []; set.order = []
            case let tuple as PyTuple:
                for v in tuple.items { push(v) }
            case let frozen as PyFrozenSet:
                for v in frozen.items { push(v) }
            case let function as PyFunction:
                for v in function.defaults.values { push(v) }
                function.defaults = [:]
                for v in function.attributes.values { push(v) }
                function.attributes = [:]
                pushFrame(function.closure)
                push(.object(function.globals))
                function.definingClass = nil
            case let method as PyBoundMethod:
                push(method.receiver); push(method.function)
            case let s as PyStaticMethod: push(s.function)
            case let c as PyClassMethod: push(c.function)
            case let p as PyProperty:
                push(p.getter); push(p.setter); push(p.deleter)
                p.getter = .none; p.setter = .none; p.deleter = .none
            case let iterator as PyIterator:
                for v in iterator.items { push(v) }
                iterator.items = []
                iterator.produce = nil
            case let s as PySuper:
                push(s.receiver); push(.object(s.receiverClass))
            case let slice as PySlice:
                push(slice.start); push(slice.stop); push(slice.step)
            case let deferred as PyDeferredFailure:
                push(.object(deferred.error.exception))
            case let native as NativeObject:
                native.tearDown()
            default:
                break
            }
        }
        for case let extensionObject as InterpreterExtension in extensions.values { extensionObject.tearDown() }
        types.constructors = [:]
        types.nativeInitializers = [:]
        types.nativeMethods = [:]
        builtins = [:]
        modules = [:]
        frames = []
        handling = []
        extensions = [:]
        lastCapturedLocals = [:]
    }
}
