import PythonFrontEnd

extension Interpreter {
    func evaluate(_ expression: Expr, _ frame: Frame) throws -> PyValue {
        switch expression.kind {
        case .name(let name):
            return try load(name, frame, at: expression.location)
        case .constant(let constant):
            return try constantValue(constant, at: expression.location)
        case .fstring(let parts):
            return .str(try formatParts(parts, frame))
        case .attribute(let objectExpression, let name):
            let object = try evaluate(objectExpression, frame)
            frame.location = expression.location
            return try getAttribute(object, name)
        case .subscript(let objectExpression, let indexExpression):
            let object = try evaluate(objectExpression, frame)
            let index = try evaluate(indexExpression, frame)
            frame.location = expression.location
            return try getItem(object, index)
        case .slice(let lower, let upper, let stepExpression):
            return .object(PySlice(try lower.map { try evaluate($0, frame) } ?? .none,
                                   try upper.map { try evaluate($0, frame) } ?? .none,
                                   try stepExpression.map { try evaluate($0, frame) } ?? .none))
        case .call(let calleeExpression, let argumentExpressions):
            let callee = try evaluate(calleeExpression, frame)
            var arguments = Arguments()
            arguments.positional.reserveCapacity(argumentExpressions.count)
            for argument in argumentExpressions {
                switch argument {
                case .positional(let e): arguments.positional.append(try evaluate(e, frame))
                case .starred(let e): arguments.positional += try materialize(try evaluate(e, frame))
                case .keyword(let name, let e): arguments.keywords.append((name, try evaluate(e, frame)))
                case .doubleStarred(let e):
                    let mapping = try evaluate(e, frame)
                    for (k, v) in try mappingItems(mapping) {
                        guard case .str(let name) = k else { throw typeError("keywords must be strings") }
                        arguments.keywords.append((name, v))
                    }
                }
            }
            frame.location = expression.location
            return try call(callee, arguments, at: expression.location, frame: frame)
        case .binary(let op, let left, let right):
            let a = try evaluate(left, frame)
            let b = try evaluate(right, frame)
            frame.location = expression.location
            return try binary(op, a, b)
        case .unary(let op, let operandExpression):
            let operand = try evaluate(operandExpression, frame)
            frame.location = expression.location
            return try unary(op, operand)
        case .and(let items):
            var value = PyValue.bool(true)
            for item in items {
                value = try evaluate(item, frame)
                if try !truthy(value) { return value }
            }
            return value
        case .or(let items):
            var value = PyValue.bool(false)
            for item in items {
                value = try evaluate(item, frame)
                if try truthy(value) { return value }
            }
            return value
        case .compare(let first, let rest):
            var left = try evaluate(first, frame)
            for (op, rightExpression) in rest {
                let right = try evaluate(rightExpression, frame)
                frame.location = expression.location
                let result = try compare(op, left, right)
                if rest.count == 1 { return result }      // tensors compare elementwise: no truth test
                guard try truthy(result) else { return result }
                left = right
            }
            return .bool(true)
        case .conditional(let test, let body, let orElse):
            return try evaluate(truthy(try evaluate(test, frame)) ? body : orElse, frame)
        case .lambda(let definition):
            return .object(try makeFunction(definition, frame))
        case .tuple(let items):
            return .tuple(try evaluateItems(items, frame))
        case .list(let items):
            let list = PyList(try evaluateItems(items, frame))
            track(list)
            return .object(list)
        case .set(let items):
            return .object(PySet(try evaluateItems(items, frame)))
        case .dict(let entries):
            let dict = PyDict()
            track(dict)
            for entry in entries {
                if let keyExpression = entry.key {
                    let key = try evaluate(keyExpression, frame)
                    try checkHashable(key)
                    dict[key] = try evaluate(entry.value, frame)
                } else {
                    for (k, v) in try mappingItems(try evaluate(entry.value, frame)) { dict[k] = v }
                }
            }
            return .object(dict)
        case .starred:
            throw limit("can't use starred expression here", at: expression.location)
        case .comprehension(let kind, let element, let value, let clauses, let scope):
            return try comprehension(kind, element: element, value: value, clauses: clauses, scope: scope, frame)
        case .namedExpr(let name, let valueExpression):
            let value = try evaluate(valueExpression, frame)
            try store(name, value, frame)
            return value
        case .yield(let valueExpression):
            let value = try valueExpression.map { try evaluate($0, frame) } ?? .none
            guard frame.generatorOutput != nil else { throw limit("'yield' outside a generator function", at: expression.location) }
            frame.generatorOutput!.append(value)
            try checkSize(frame.generatorOutput!.count)
            return .none
        case .yieldFrom(let valueExpression):
            let values = try materialize(try evaluate(valueExpression, frame))
            guard frame.generatorOutput != nil else { throw limit("'yield' outside a generator function", at: expression.location) }
            frame.generatorOutput! += values
            return .none
        case .await:
            throw limit("'await' (async code) is not supported in fork mode", at: expression.location)
        }
    }

    func evaluateItems(_ items: [Expr], _ frame: Frame) throws -> [PyValue] {
        var values: [PyValue] = []
        values.reserveCapacity(items.count)
        for item in items {
            if case .starred(let inner) = item.kind {
                values += try materialize(try evaluate(inner, frame))
            } else {
                values.append(try evaluate(item, frame))
            }
        }
        return values
    }

    func constantValue(_ constant: Constant, at location: SourceLocation) throws -> PyValue {
        switch constant {
        case .none: return .none
        case .ellipsis: return types.ellipsis
        case .bool(let b): return .bool(b)
        case .int(let text):
            guard let value = Interpreter.parseIntegerLiteral(text) else {
                throw limit("the integer literal \(text.count > 40 ? String(text.prefix(40)) + "…" : text) is larger than fork mode's 64-bit integers", at: location)
            }
            return .int(value)
        case .float(let d): return .float(d)
        case .imaginary: throw limit("complex numbers are not supported in fork mode", at: location)
        case .string(let s): return .str(s)
        case .bytes(let b): return .object(PyBytes(b))
        }
    }

    static func parseIntegerLiteral(_ text: String) -> Int? {
        let lower = text.lowercased()
        if lower.hasPrefix("0x") { return Int(lower.dropFirst(2), radix: 16) }
        if lower.hasPrefix("0o") { return Int(lower.dropFirst(2), radix: 8) }
        if lower.hasPrefix("0b") { return Int(lower.dropFirst(2), radix: 2) }
        return Int(text)
    }

    func comprehension(_ kind: ComprehensionKind, element: Expr, value: Expr?, clauses: [ComprehensionClause], scope: Scope, _ frame: Frame) throws -> PyValue {
        // the first iterable is evaluated in the enclosing scope; the rest in the comprehension's
        let first = try evaluate(clauses[0].iterable, frame)
        let inner = Frame(scope: scope, parent: frame.isClassBody ? frame.parent : frame, module: frame.module)
        inner.function = frame.function
        if frame.isModuleBody || (frame.isClassBody && frame.parent == nil) {
            // at module level the parent chain ends at the module: globals resolve there
        }
        var items: [PyValue] = []
        let dict = kind == .dict ? PyDict() : nil
        func run(_ level: Int, _ iterable: PyValue) throws {
            let clause = clauses[level]
            try forEach(iterable) { item in
                try self.assign(clause.target, item, inner)
                for condition in clause.conditions {
                    if try !self.truthy(try self.evaluate(condition, inner)) { return true }
                }
                if level + 1 < clauses.count {
                    try run(level + 1, try self.evaluate(clauses[level + 1].iterable, inner))
                } else if let dict {
                    let key = try self.evaluate(element, inner)
                    dict[key] = try self.evaluate(value!, inner)
                } else {
                    items.append(try self.evaluate(element, inner))
                    try self.checkSize(items.count)
                }
                return true
            }
        }
        if kind == .generator {
            trackCaptured(inner)
            return .object(try lazyGenerator(element: element, clauses: clauses, first: first, frame: inner))
        }
        frames.append(inner)
        defer { frames.removeLast() }
        inner.location = frame.location
        try run(0, first)
        switch kind {
        case .list: return .list(items)
        case .set: return .object(PySet(items))
        case .dict: return .object(dict!)
        case .generator: return .object(PyIterator(items))
        }
    }

    /// A generator expression, evaluated as it is consumed (`y.extend(m(y[-1]) for m in self.m)`
    /// reads the items appended so far, as in CPython).
    func lazyGenerator(element: Expr, clauses: [ComprehensionClause], first: PyValue, frame inner: Frame) throws -> PyIterator {
        var iterators: [() throws -> PyValue?] = [try pullIterator(first)]
        return PyIterator(produce: { [unowned self] _ in
            self.frames.append(inner)
            defer { self.frames.removeLast() }
            while !iterators.isEmpty {
                let level = iterators.count - 1
                guard let item = try iterators[level]() else {
                    iterators.removeLast()
                    continue
                }
                try self.step(inner.location)
                let clause = clauses[level]
                try self.assign(clause.target, item, inner)
                var accepted = true
                for condition in clause.conditions where try !self.truthy(try self.evaluate(condition, inner)) {
                    accepted = false
                    break
                }
                guard accepted else { continue }
                if level + 1 < clauses.count {
                    iterators.append(try self.pullIterator(try self.evaluate(clauses[level + 1].iterable, inner)))
                    continue
                }
                return try self.evaluate(element, inner)
            }
            return nil
        })
    }

    /// Items of an iterable one at a time (nil at the end).
    public func pullIterator(_ value: PyValue) throws -> () throws -> PyValue? {
        switch value {
        case .object(let list as PyList):
            var i = 0
            return { guard i < list.items.count else { return nil }; defer { i += 1 }; return list.items[i] }
        case .object(let range as PyRange):
            var next = range.start
            return {
                guard range.step > 0 ? next < range.stop : next > range.stop else { return nil }
                defer { next += range.step }
                return .int(next)
            }
        case .object(let iterator as PyIterator):
            if let produce = iterator.produce { return { [unowned self] in try produce(self) } }
            return {
                guard iterator.position < iterator.items.count else { return nil }
                iterator.position += 1
                return iterator.items[iterator.position - 1]
            }
        case .object(let instance as PyInstance) where instance.cls.lookup("__iter__") != nil:
            let iterator = try call(instance.cls.lookup("__iter__")!, Arguments([value]))
            if case .object(let i as PyInstance) = iterator, let next = i.cls.lookup("__next__") {
                return { [unowned self] in
                    do { return try self.call(next, Arguments([iterator])) }
                    catch let failure as PyError where failure.exception.cls.isSubclass(of: self.types.stopIteration) { return nil }
                }
            }
            return try pullIterator(iterator)
        default:
            let items = try materialize(value)
            var i = 0
            return { guard i < items.count else { return nil }; defer { i += 1 }; return items[i] }
        }
    }

    func checkSize(_ count: Int) throws {
        if count > budget.containerElements {
            throw limit("a container grew past \(budget.containerElements) elements; fork mode stops here", at: frames.last?.location)
        }
    }

    // MARK: calls

    public func call(_ callee: PyValue, _ arguments: Arguments, at location: SourceLocation? = nil, frame: Frame? = nil) throws -> PyValue {
        switch callee {
        case .object(let function as PyFunction):
            return try callFunction(function, arguments)
        case .object(let builtin as PyBuiltinFunction):
            return try builtin.body(self, arguments)
        case .object(let method as PyBoundMethod):
            var bound = arguments
            bound.positional.insert(method.receiver, at: 0)
            return try call(method.function, bound, at: location)
        case .object(let cls as PyClass):
            return try instantiate(cls, arguments)
        case .object(let instance as PyInstance):
            guard let method = instance.cls.lookup("__call__") else {
                throw typeError("'\(instance.cls.name)' object is not callable")
            }
            var bound = arguments
            bound.positional.insert(callee, at: 0)
            return try call(method, bound, at: location)
        case .object(let standIn as PyStandIn):
            if importer.isPartial(standIn.path) {
                throw error(types.notImplementedError, "\(standIn.path)() is not supported in fork mode (ModelGraph's \(standIn.path.prefix { $0 != "." }) does not implement it)")
            }
            throw error(types.moduleNotFoundError, "\(standIn.path)() is not available in fork mode: module '\(standIn.path.prefix { $0 != "." })' is not provided (ModelGraph runs model code without it)")
        case .object(let staticMethod as PyStaticMethod):
            return try call(staticMethod.function, arguments, at: location)
        case .object(let deferred as PyDeferredFailure):
            throw deferredError(deferred)
        case .object(let native as NativeObject):
            if let result = try native.call(arguments, self) { return result }
            throw typeError("'\(typeName(callee))' object is not callable")
        default:
            throw typeError("'\(typeName(callee))' object is not callable")
        }
    }

    /// Calls `value.name(arguments…)`.
    public func callMethod(_ value: PyValue, _ name: String, _ arguments: Arguments) throws -> PyValue {
        try call(try getAttribute(value, name), arguments)
    }

    func callFunction(_ function: PyFunction, _ arguments: Arguments) throws -> PyValue {
        let definition = function.definition
        depth += 1
        defer { depth -= 1 }
        if depth > budget.recursionDepth {
            throw limit("maximum recursion depth (\(budget.recursionDepth)) exceeded in \(function.qualifiedName)", at: frames.last?.location)
        }
        _ = try functionBody(definition)      // its scope and generator flag are known once parsed
        let frame = Frame(scope: definition.scope, parent: function.closure, module: function.globals)
        frame.function = function
        frame.location = definition.location
        try bindArguments(function, arguments, into: frame)
        if definition.scope.isGenerator { frame.generatorOutput = [] }
        frames.append(frame)
        defer { frames.removeLast() }
        do {
            try step(definition.location)
            let completion = try execute(try functionBody(definition), frame)
            if let output = frame.generatorOutput { return .object(PyIterator(output)) }
            if case .returned(let value) = completion { return value }
            return .none
        } catch var failure as PyError {
            failure.traceback.append(TraceFrame(file: function.globals.file ?? function.globals.name,
                                                location: failure.pendingLocation ?? frame.location, function: function.qualifiedName))
            failure.pendingLocation = nil
            if captureLocals.contains(function.name), failure.capturedLocals[function.name] == nil {
                failure.capturedLocals[function.name] = frame.locals
            }
            throw failure
        } catch var limitError as InterpreterLimit {
            if captureLocals.contains(function.name), lastCapturedLocals[function.name] == nil {
                lastCapturedLocals[function.name] = frame.locals
            }
            if limitError.traceback.isEmpty {
                limitError.traceback = currentTraceback(at: frame.location)
            }
            throw limitError
        }
    }

    /// A function's statements, parsed on its first call; a syntax error there is located.
    func functionBody(_ definition: FunctionDefinition) throws -> [Stmt] {
        do { return try definition.body() }
        catch let syntax as PythonSyntaxError {
            throw InterpreterLimit("SyntaxError: \(syntax.message)", traceback: [TraceFrame(file: syntax.file, location: syntax.location, function: definition.name)])
        }
    }

    func bindArguments(_ function: PyFunction, _ arguments: Arguments, into frame: Frame) throws {
        let parameters = function.definition.parameters
        var positionalIndex = 0
        var variadic: [PyValue]? = nil
        var variadicKeyword: PyDict? = nil
        let name = function.name
        for parameter in parameters {
            switch parameter.kind {
            case .positionalOnly, .normal:
                if positionalIndex < arguments.positional.count {
                    frame.locals[parameter.name] = arguments.positional[positionalIndex]
                    positionalIndex += 1
                }
            case .variadic:
                variadic = Array(arguments.positional[min(positionalIndex, arguments.positional.count)...])
                positionalIndex = arguments.positional.count
            case .variadicKeyword:
                variadicKeyword = PyDict()
            case .keywordOnly: break
            }
        }
        if positionalIndex < arguments.positional.count {
            let accepted = parameters.filter { $0.kind == .normal || $0.kind == .positionalOnly }.count
            throw typeError("\(name)() takes \(accepted) positional argument\(accepted == 1 ? "" : "s") but \(arguments.positional.count) \(arguments.positional.count == 1 ? "was" : "were") given")
        }
        for (keyword, value) in arguments.keywords {
            if let parameter = parameters.first(where: { $0.name == keyword && ($0.kind == .normal || $0.kind == .keywordOnly) }) {
                if frame.locals[parameter.name] != nil {
                    throw typeError("\(name)() got multiple values for argument '\(keyword)'")
                }
                frame.locals[parameter.name] = value
            } else if let kwargs = variadicKeyword {
                kwargs[.str(keyword)] = value
            } else {
                throw typeError("\(name)() got an unexpected keyword argument '\(keyword)'")
            }
        }
        var missingPositional: [String] = []
        var missingKeyword: [String] = []
        for parameter in parameters {
            switch parameter.kind {
            case .variadic: frame.locals[parameter.name] = .tuple(variadic ?? [])
            case .variadicKeyword: frame.locals[parameter.name] = .object(variadicKeyword ?? PyDict())
            default:
                if frame.locals[parameter.name] == nil {
                    if let d = function.defaults[parameter.name] { frame.locals[parameter.name] = d }
                    else if parameter.kind == .keywordOnly { missingKeyword.append(parameter.name) }
                    else { missingPositional.append(parameter.name) }
                }
            }
        }
        // CPython's wording: positional ones first, names joined "'a', 'b' and 'c'"
        func names(_ list: [String]) -> String {
            let quoted = list.map { "'\($0)'" }
            return quoted.count <= 1 ? quoted.joined() : quoted.dropLast().joined(separator: ", ") + (quoted.count > 2 ? "," : "") + " and " + quoted.last!
        }
        if !missingPositional.isEmpty {
            throw typeError("\(name)() missing \(missingPositional.count) required positional argument\(missingPositional.count == 1 ? "" : "s"): \(names(missingPositional))")
        }
        if !missingKeyword.isEmpty {
            throw typeError("\(name)() missing \(missingKeyword.count) required keyword-only argument\(missingKeyword.count == 1 ? "" : "s"): \(names(missingKeyword))")
        }
    }

    func instantiate(_ cls: PyClass, _ arguments: Arguments) throws -> PyValue {
        if let constructor = types.constructors[ObjectIdentifier(cls)] {
            return try constructor(self, arguments)
        }
        // a class with its own __new__ (rare in model code: singletons, enums)
        if let newMethod = cls.lookup("__new__"), case .object(let f) = newMethod, !(f is PyBuiltinFunction) {
            var withClass = arguments
            withClass.positional.insert(.object(cls), at: 0)
            let function: PyValue = (f as? PyStaticMethod)?.function ?? newMethod
            let created = try call(function, withClass)
            if case .object(let instance as PyInstance) = created, instance.cls.isSubclass(of: cls),
               let initializer = cls.lookup("__init__") {
                var bound = arguments
                bound.positional.insert(created, at: 0)
                _ = try call(initializer, bound)
            }
            return created
        }
        let instance = PyInstance(cls: cls)
        track(instance)
        if let native = cls.mro.lazy.compactMap({ self.types.nativeInitializers[ObjectIdentifier($0)] }).first {
            try native(self, instance, arguments)
        }
        let value = PyValue.object(instance)
        if let initializer = cls.lookup("__init__") {
            var bound = arguments
            bound.positional.insert(value, at: 0)
            let result = try call(initializer, bound)
            guard result.isNone else { throw typeError("__init__() should return None, not '\(typeName(result))'") }
        } else if !arguments.positional.isEmpty || !arguments.keywords.isEmpty, !cls.isSubclass(of: types.baseException) {
            throw typeError("\(cls.name)() takes no arguments")
        }
        return value
    }
}
