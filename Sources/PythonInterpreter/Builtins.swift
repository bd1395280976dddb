import PythonFrontEnd
#if canImport(Glibc)
import Glibc
#endif

extension Interpreter {
    /// Installs a native function under `name` in the builtins.
    func define(_ name: String, _ body: @escaping NativeFunction) {
        builtins[name] = .object(PyBuiltinFunction(name, body))
    }

    /// Checked positional access: `argument(a, 0, "len")`.
    public func argument(_ arguments: Arguments, _ index: Int, _ function: String, name: String? = nil) throws -> PyValue {
        if index < arguments.positional.count { return arguments.positional[index] }
        if let name, let v = arguments.keyword(name) { return v }
        throw typeError("\(function)() missing required argument\(name.map { " '\($0)'" } ?? "") (pos \(index + 1))")
    }

    public func optionalArgument(_ arguments: Arguments, _ index: Int, name: String) -> PyValue? {
        if index < arguments.positional.count { return arguments.positional[index] }
        return arguments.keyword(name)
    }

    public func intArgument(_ value: PyValue, _ what: String) throws -> Int {
        guard let i = try indexValue(value) else { throw typeError("\(what) must be an integer, not \(typeName(value))") }
        return i
    }

    public func floatArgument(_ value: PyValue, _ what: String) throws -> Double {
        if let d = number(value) { return d }
        if case .object(let native as NativeObject) = value, let d = try native.floatValue(self) { return d }
        throw typeError("\(what) must be a real number, not \(typeName(value))")
    }

    /// A stable merge sort whose comparisons may raise.
    func sortValues(_ items: [PyValue], key: PyValue?, reverse: Bool) throws -> [PyValue] {
        let keys = try key.map { k in try items.map { try call(k, Arguments([$0])) } } ?? items
        var order = Array(items.indices)
        func less(_ a: Int, _ b: Int) throws -> Bool {
            reverse ? try self.order(.less, keys[b], keys[a]) : try self.order(.less, keys[a], keys[b])
        }
        var buffer = order
        func mergeSort(_ lo: Int, _ hi: Int) throws {
            guard hi - lo > 1 else { return }
            let mid = (lo + hi) / 2
            try mergeSort(lo, mid)
            try mergeSort(mid, hi)
            var i = lo, j = mid, k = lo
            while i < mid && j < hi {
                if try less(order[j], order[i]) { buffer[k] = order[j]; j += 1 } else { buffer[k] = order[i]; i += 1 }
                k += 1
            }
            while i < mid { buffer[k] = order[i]; i += 1; k += 1 }
            while j < hi { buffer[k] = order[j]; j += 1; k += 1 }
            for x in lo..<hi { order[x] = buffer[x] }
        }
        try mergeSort(0, order.count)
        return order.map { items[$0] }
    }

    public func toInt(_ value: PyValue, base: Int? = nil) throws -> Int {
        switch value {
        case .int(let i): return i
        case .bool(let b): return b ? 1 : 0
        case .float(let d):
            guard d.isFinite else { throw (d.isNaN ? valueError("cannot convert float NaN to integer") : error(types.overflowError, "cannot convert float infinity to integer")) }
            guard abs(d) < 9.2e18 else { throw overflow("int()") }
            return Int(d.rounded(.towardZero))
        case .str(let s):
            if let base, base != 0 && !(2...36).contains(base) { throw valueError("int() base must be >= 2 and <= 36, or 0") }
            var text = s.trimmingCharacters(" \t\n\r").replacingOccurrences("_", "")
            var negative = false
            if text.hasPrefix("-") { negative = true; text.removeFirst() } else if text.hasPrefix("+") { text.removeFirst() }
            var radix = base ?? 10
            if radix == 0 || radix == 16, text.lowercased().hasPrefix("0x") { text.removeFirst(2); radix = 16 }
            else if radix == 0 || radix == 8, text.lowercased().hasPrefix("0o") { text.removeFirst(2); radix = 8 }
            else if radix == 0 || radix == 2, text.lowercased().hasPrefix("0b") { text.removeFirst(2); radix = 2 }
            if radix == 0 { radix = 10 }
            guard !text.isEmpty, let v = Int(text, radix: radix) else {
                throw valueError("invalid literal for int() with base \(base ?? 10): \(Interpreter.stringRepr(s))")
            }
            return negative ? -v : v
        case .object(let native as NativeObject):
            if let i = try native.index(self) { return i }
            if let d = try native.floatValue(self) { return try toInt(.float(d)) }
        case .object(let instance as PyInstance):
            if let method = instance.cls.lookup("__int__") ?? instance.cls.lookup("__index__") { return try toInt(try call(method, Arguments([value]))) }
            if let v = instance.enumValue { return try toInt(v) }
        default: break
        }
        throw typeError("int() argument must be a string, a bytes-like object or a real number, not '\(typeName(value))'")
    }

    public func toFloat(_ value: PyValue) throws -> Double {
        switch value {
        case .int(let i): return Double(i)
        case .bool(let b): return b ? 1 : 0
        case .float(let d): return d
        case .str(let s):
            let t = s.trimmingCharacters(" \t\n\r").lowercased()
            switch t {
            case "inf", "+inf", "infinity": return .infinity
            case "-inf", "-infinity": return -.infinity
            case "nan", "+nan", "-nan": return .nan
            default: break
            }
            guard let d = Double(t.replacingOccurrences("_", "")) else { throw valueError("could not convert string to float: \(Interpreter.stringRepr(s))") }
            return d
        case .object(let native as NativeObject):
            if let d = try native.floatValue(self) { return d }
        case .object(let instance as PyInstance):
            if let method = instance.cls.lookup("__float__") { return try toFloat(try call(method, Arguments([value]))) }
        default: break
        }
        throw typeError("float() argument must be a string or a real number, not '\(typeName(value))'")
    }

    /// Python's round(): half to even, on the exact binary value.
    public static func roundHalfEven(_ x: Double, digits: Int) -> Double {
        if digits == 0 { return x.rounded(.toNearestOrEven) }
        // CPython rounds through the correctly rounded decimal string; do the same with printf
        let text = String(format: "%.\(max(0, min(digits, 300)))f", x)
        if digits > 0 { return Double(text) ?? x }
        let scale = pow(10.0, Double(-digits))
        return (x / scale).rounded(.toNearestOrEven) * scale
    }

    func installBuiltins() {
        let t = types
        for cls in t.exceptionClasses { builtins[cls.name] = .object(cls) }
        builtins["EnvironmentError"] = .object(t.osError)
        builtins["IOError"] = .object(t.osError)
        for cls in [t.object, t.type, t.int, t.bool, t.float, t.str, t.bytes, t.tuple, t.list, t.dict, t.set, t.frozenset, t.range, t.slice,
                    t.property, t.staticmethod, t.classmethod] {
            builtins[cls.name] = .object(cls)
        }
        builtins["NotImplemented"] = t.notImplemented
        builtins["Ellipsis"] = t.ellipsis
        builtins["__name__"] = .str("builtins")
        builtins["__debug__"] = .bool(true)

        // exceptions keep their arguments
        t.nativeInitializers[ObjectIdentifier(t.baseException)] = { _, instance, arguments in
            instance.attributes["args"] = .tuple(arguments.positional)
        }
        t.nativeMethods[ObjectIdentifier(t.baseException)] = [
            "__init__": PyBuiltinFunction("BaseException.__init__") { _, a in
                if case .object(let i as PyInstance)? = a.positional.first { i.attributes["args"] = .tuple(Array(a.positional.dropFirst())) }
                return .none
            },
            "with_traceback": PyBuiltinFunction("with_traceback") { _, a in a.positional.first ?? .none },
            "add_note": PyBuiltinFunction("add_note") { _, _ in .none },
        ]
        // Python subclasses of dict and list keep their items in a native container
        t.nativeInitializers[ObjectIdentifier(t.dict)] = { _, instance, _ in instance.native = PyDict() }
        t.nativeInitializers[ObjectIdentifier(t.list)] = { _, instance, _ in instance.native = PyList([]) }
        let dictInit = PyBuiltinFunction("dict.__init__") { interp, a in
            guard case .object(let i as PyInstance)? = a.positional.first, let d = i.native as? PyDict else { return .none }
            if a.positional.count > 1 { try interp.update(d, from: a.positional[1]) }
            for (k, v) in a.keywords { d[.str(k)] = v }
            return .none
        }
        let listInit = PyBuiltinFunction("list.__init__") { interp, a in
            guard case .object(let i as PyInstance)? = a.positional.first, let l = i.native as? PyList else { return .none }
            if a.positional.count > 1 { l.items = try interp.materialize(a.positional[1]) }
            return .none
        }
        dictInit.bindsAsMethod = true
        listInit.bindsAsMethod = true
        t.dict.dict["__init__"] = .object(dictInit)
        t.list.dict["__init__"] = .object(listInit)
        t.constructors[ObjectIdentifier(t.object)] = { _, _ in .object(PyInstance(cls: t.object)) }
        t.constructors[ObjectIdentifier(t.int)] = { interp, a in
            guard let v = a.positional.first else { return .int(0) }
            let base = try a.positional.count > 1 ? interp.intArgument(a.positional[1], "base") : a.keyword("base").map { try interp.intArgument($0, "base") }
            return .int(try interp.toInt(v, base: base))
        }
        t.constructors[ObjectIdentifier(t.bool)] = { interp, a in .bool(try a.positional.first.map(interp.truthy) ?? false) }
        t.constructors[ObjectIdentifier(t.float)] = { interp, a in .float(try a.positional.first.map(interp.toFloat) ?? 0) }
        t.constructors[ObjectIdentifier(t.str)] = { interp, a in
            guard let v = a.positional.first else { return .str("") }
            if case .object(let b as PyBytes) = v, a.positional.count > 1 || a.keyword("encoding") != nil { return .str(String(decoding: b.bytes, as: UTF8.self)) }
            return .str(try interp.str(v))
        }
        t.constructors[ObjectIdentifier(t.tuple)] = { interp, a in .tuple(try a.positional.first.map(interp.materialize) ?? []) }
        t.constructors[ObjectIdentifier(t.list)] = { interp, a in .list(try a.positional.first.map(interp.materialize) ?? []) }
        t.constructors[ObjectIdentifier(t.set)] = { interp, a in .object(PySet(try a.positional.first.map(interp.materialize) ?? [])) }
        t.constructors[ObjectIdentifier(t.frozenset)] = { interp, a in .object(PyFrozenSet(try a.positional.first.map(interp.materialize) ?? [])) }
        t.constructors[ObjectIdentifier(t.dict)] = { interp, a in
            let dict = PyDict()
            if let source = a.positional.first { try interp.update(dict, from: source) }
            for (k, v) in a.keywords { dict[.str(k)] = v }
            return .object(dict)
        }
        t.constructors[ObjectIdentifier(t.range)] = { interp, a in
            let n = try a.positional.map { try interp.intArgument($0, "range()") }
            switch n.count {
            case 1: return .object(PyRange(0, n[0], 1))
            case 2: return .object(PyRange(n[0], n[1], 1))
            case 3:
                guard n[2] != 0 else { throw interp.valueError("range() arg 3 must not be zero") }
                return .object(PyRange(n[0], n[1], n[2]))
            default: throw interp.typeError("range expected 1 to 3 arguments, got \(n.count)")
            }
        }
        t.constructors[ObjectIdentifier(t.slice)] = { _, a in
            let p = a.positional
            if p.count == 1 { return .object(PySlice(.none, p[0], .none)) }
            return .object(PySlice(p.count > 0 ? p[0] : .none, p.count > 1 ? p[1] : .none, p.count > 2 ? p[2] : .none))
        }
        t.constructors[ObjectIdentifier(t.property)] = { interp, a in
            .object(PyProperty(getter: interp.optionalArgument(a, 0, name: "fget") ?? .none,
                               setter: interp.optionalArgument(a, 1, name: "fset") ?? .none,
                               deleter: interp.optionalArgument(a, 2, name: "fdel") ?? .none))
        }
        t.constructors[ObjectIdentifier(t.staticmethod)] = { interp, a in .object(PyStaticMethod(try interp.argument(a, 0, "staticmethod"))) }
        t.constructors[ObjectIdentifier(t.classmethod)] = { interp, a in .object(PyClassMethod(try interp.argument(a, 0, "classmethod"))) }
        t.constructors[ObjectIdentifier(t.type)] = { interp, a in
            if a.positional.count == 1 { return .object(interp.typeOf(a.positional[0])) }
            guard a.positional.count == 3, case .str(let name) = a.positional[0], case .object(let namespace as PyDict) = a.positional[2] else {
                throw interp.typeError("type() takes 1 or 3 arguments")
            }
            var bases: [PyClass] = try interp.materialize(a.positional[1]).map {
                guard case .object(let c as PyClass) = $0 else { throw interp.typeError("type(): bases must be classes") }
                return c
            }
            if bases.isEmpty { bases = [t.object] }
            let cls = PyClass(name: name, bases: bases, moduleName: interp.frames.last?.module.name ?? "builtins")
            cls.mro = try interp.computeMRO(cls)
            for (k, v) in namespace.entries { if case .str(let key) = k { cls.dict[key] = v } }
            return .object(cls)
        }
        t.constructors[ObjectIdentifier(t.bytes)] = { interp, a in
            guard let v = a.positional.first else { return .object(PyBytes([])) }
            if case .str(let s) = v { return .object(PyBytes(Array(s.utf8))) }
            return .object(PyBytes(try interp.materialize(v).map { UInt8(truncatingIfNeeded: try interp.toInt($0)) }))
        }

        define("print") { interp, a in
            let separator = try a.keyword("sep").map { $0.isNone ? " " : try interp.str($0) } ?? " "
            interp.printed.append(try a.positional.map { try interp.str($0) }.joined(separator: separator))
            if interp.printed.count > 10_000 { interp.printed.removeFirst(5_000) }
            return .none
        }
        define("len") { interp, a in .int(try interp.length(try interp.argument(a, 0, "len"))) }
        define("isinstance") { interp, a in
            let value = try interp.argument(a, 0, "isinstance")
            return .bool(try interp.isInstance(value, classInfo: try interp.argument(a, 1, "isinstance")))
        }
        define("issubclass") { interp, a in
            guard case .object(let cls as PyClass) = try interp.argument(a, 0, "issubclass") else {
                throw interp.typeError("issubclass() arg 1 must be a class")
            }
            return .bool(try interp.isSubclass(cls, classInfo: try interp.argument(a, 1, "issubclass")))
        }
        define("hasattr") { interp, a in
            guard case .str(let name) = try interp.argument(a, 1, "hasattr") else { throw interp.typeError("hasattr(): attribute name must be string") }
            return .bool(try interp.hasAttribute(try interp.argument(a, 0, "hasattr"), name))
        }
        define("getattr") { interp, a in
            guard case .str(let name) = try interp.argument(a, 1, "getattr") else { throw interp.typeError("getattr(): attribute name must be string") }
            let object = try interp.argument(a, 0, "getattr")
            if a.positional.count > 2 {
                do { return try interp.getAttribute(object, name) }
                catch let failure as PyError where failure.exception.cls.isSubclass(of: t.attributeError) { return a.positional[2] }
            }
            return try interp.getAttribute(object, name)
        }
        define("setattr") { interp, a in
            guard case .str(let name) = try interp.argument(a, 1, "setattr") else { throw interp.typeError("setattr(): attribute name must be string") }
            try interp.setAttribute(try interp.argument(a, 0, "setattr"), name, try interp.argument(a, 2, "setattr"))
            return .none
        }
        define("delattr") { interp, a in
            guard case .str(let name) = try interp.argument(a, 1, "delattr") else { throw interp.typeError("delattr(): attribute name must be string") }
            try interp.deleteAttribute(try interp.argument(a, 0, "delattr"), name)
            return .none
        }
        define("callable") { interp, a in
            let v = try interp.argument(a, 0, "callable")
            switch v {
            case .object(let o):
                if o is PyFunction || o is PyBuiltinFunction || o is PyBoundMethod || o is PyClass { return .bool(true) }
                if let i = o as? PyInstance { return .bool(i.cls.lookup("__call__") != nil) }
                if let n = o as? NativeObject { return .bool(n.pythonClass(interp).lookup("__call__") != nil || (try? n.call(Arguments(), interp)) != nil) }
                return .bool(false)
            default: return .bool(false)
            }
        }
        define("repr") { interp, a in .str(try interp.repr(try interp.argument(a, 0, "repr"))) }
        define("ascii") { interp, a in .str(try interp.repr(try interp.argument(a, 0, "ascii"))) }
        define("format") { interp, a in
            .str(try interp.format(try interp.argument(a, 0, "format"), try a.positional.count > 1 ? interp.str(a.positional[1]) : ""))
        }
        define("abs") { interp, a in
            let v = try interp.argument(a, 0, "abs")
            switch v {
            case .int(let i): guard i != Int.min else { throw interp.overflow("abs") }; return .int(abs(i))
            case .bool(let b): return .int(b ? 1 : 0)
            case .float(let d): return .float(abs(d))
            default:
                if case .object(let i as PyInstance) = v, let m = i.cls.lookup("__abs__") { return try interp.call(m, Arguments([v])) }
                if case .object(let n as NativeObject) = v, let r = try n.attribute("abs", interp) { return try interp.call(r, Arguments()) }
                throw interp.typeError("bad operand type for abs(): '\(interp.typeName(v))'")
            }
        }
        define("round") { interp, a in
            let v = try interp.argument(a, 0, "round")
            let digitsValue = interp.optionalArgument(a, 1, name: "ndigits") ?? .none
            if case .object(let native as NativeObject) = v, let r = try native.attribute("__round__", interp) {
                return try interp.call(r, Arguments(digitsValue.isNone ? [] : [digitsValue]))
            }
            if digitsValue.isNone {
                if let i = interp.integer(v) { return .int(i) }
                let d = try interp.floatArgument(v, "round()")
                guard d.isFinite else { throw d.isNaN ? interp.valueError("cannot convert float NaN to integer") : interp.error(t.overflowError, "cannot convert float infinity to integer") }
                return .int(try interp.toInt(.float(d.rounded(.toNearestOrEven))))
            }
            let digits = try interp.intArgument(digitsValue, "ndigits")
            if let i = interp.integer(v) {
                guard digits < 0 else { return .int(i) }
                guard digits > -19 else { return .int(0) }
                var scale = 1
                for _ in 0..<(-digits) { scale *= 10 }
                let q = Int((Double(i) / Double(scale)).rounded(.toNearestOrEven))
                let (rounded, overflow) = q.multipliedReportingOverflow(by: scale)
                guard !overflow else { throw interp.overflow("round()") }
                return .int(rounded)
            }
            return .float(Interpreter.roundHalfEven(try interp.floatArgument(v, "round()"), digits: digits))
        }
        define("divmod") { interp, a in
            let x = try interp.argument(a, 0, "divmod"), y = try interp.argument(a, 1, "divmod")
            return .tuple([try interp.binary(.floorDivide, x, y), try interp.binary(.modulo, x, y)])
        }
        define("pow") { interp, a in
            let x = try interp.argument(a, 0, "pow"), y = try interp.argument(a, 1, "pow")
            if a.positional.count > 2, let b = interp.integer(x), let e = interp.integer(y), let m = interp.integer(a.positional[2]) {
                guard m != 0 else { throw interp.valueError("pow() 3rd argument cannot be 0") }
                var result = 1 % m, base = ((b % m) + m) % m, exponent = e
                while exponent > 0 {
                    if exponent & 1 == 1 { result = Int((Int64(result).multipliedFullWidth(by: Int64(base))).low % UInt64(m)) }
                    base = Int(Int64(base).multipliedFullWidth(by: Int64(base)).low % UInt64(m))
                    exponent >>= 1
                }
                return .int(result)
            }
            return try interp.binary(.power, x, y)
        }
        define("__builtins_round__") { interp, a in try interp.call(interp.builtins["round"]!, a) }
        define("__builtins_max__") { interp, a in try interp.extreme(a, name: "max", op: .greater) }
        define("__builtins_min__") { interp, a in try interp.extreme(a, name: "min", op: .less) }
        define("min") { interp, a in try interp.extreme(a, name: "min", op: .less) }
        define("max") { interp, a in try interp.extreme(a, name: "max", op: .greater) }
        define("sum") { interp, a in
            var total = interp.optionalArgument(a, 1, name: "start") ?? .int(0)
            try interp.forEach(try interp.argument(a, 0, "sum")) { total = try interp.binary(.add, total, $0); return true }
            return total
        }
        define("any") { interp, a in
            var result = false
            try interp.forEach(try interp.argument(a, 0, "any")) { if try interp.truthy($0) { result = true; return false }; return true }
            return .bool(result)
        }
        define("all") { interp, a in
            var result = true
            try interp.forEach(try interp.argument(a, 0, "all")) { if try !interp.truthy($0) { result = false; return false }; return true }
            return .bool(result)
        }
        define("sorted") { interp, a in
            let items = try interp.materialize(try interp.argument(a, 0, "sorted"))
            let key = a.keyword("key").flatMap { $0.isNone ? nil : $0 }
            return .list(try interp.sortValues(items, key: key, reverse: try a.keyword("reverse").map(interp.truthy) ?? false))
        }
        define("reversed") { interp, a in
            let v = try interp.argument(a, 0, "reversed")
            if case .object(let i as PyInstance) = v, let m = i.cls.lookup("__reversed__") { return try interp.call(m, Arguments([v])) }
            return .object(PyIterator(try interp.materialize(v).reversed()))
        }
        define("enumerate") { interp, a in
            var i = try interp.optionalArgument(a, 1, name: "start").map { try interp.intArgument($0, "start") } ?? 0
            var out: [PyValue] = []
            try interp.forEach(try interp.argument(a, 0, "enumerate")) { out.append(.tuple([.int(i), $0])); i += 1; return true }
            return .object(PyIterator(out))
        }
        define("zip") { interp, a in
            let lists = try a.positional.map { try interp.materialize($0) }
            let strict = try a.keyword("strict").map(interp.truthy) ?? false
            let count = lists.map(\.count).min() ?? 0
            if strict, Set(lists.map(\.count)).count > 1 { throw interp.valueError("zip() arguments have different lengths") }
            return .object(PyIterator((0..<count).map { i in .tuple(lists.map { $0[i] }) }))
        }
        define("map") { interp, a in
            let function = try interp.argument(a, 0, "map")
            let lists = try a.positional.dropFirst().map { try interp.materialize($0) }
            let count = lists.map(\.count).min() ?? 0
            return .object(PyIterator(try (0..<count).map { i in try interp.call(function, Arguments(lists.map { $0[i] })) }))
        }
        define("filter") { interp, a in
            let function = try interp.argument(a, 0, "filter")
            return .object(PyIterator(try interp.materialize(try interp.argument(a, 1, "filter")).filter {
                function.isNone ? try interp.truthy($0) : try interp.truthy(try interp.call(function, Arguments([$0])))
            }))
        }
        define("iter") { interp, a in
            let v = try interp.argument(a, 0, "iter")
            if case .object(let i as PyIterator) = v { return .object(i) }
            if case .object(let i as PyInstance) = v, let m = i.cls.lookup("__iter__") { return try interp.call(m, Arguments([v])) }
            return .object(PyIterator(try interp.materialize(v)))
        }
        define("next") { interp, a in
            let v = try interp.argument(a, 0, "next")
            if case .object(let iterator as PyIterator) = v {
                if let produce = iterator.produce, let item = try produce(interp) { return item }
                if iterator.produce == nil, iterator.position < iterator.items.count {
                    iterator.position += 1
                    return iterator.items[iterator.position - 1]
                }
                if a.positional.count > 1 { return a.positional[1] }
                throw interp.error(t.stopIteration, "")
            }
            if case .object(let i as PyInstance) = v, let m = i.cls.lookup("__next__") {
                do { return try interp.call(m, Arguments([v])) }
                catch let failure as PyError where failure.exception.cls.isSubclass(of: t.stopIteration) && a.positional.count > 1 { return a.positional[1] }
            }
            throw interp.typeError("'\(interp.typeName(v))' object is not an iterator")
        }
        define("hash") { interp, a in
            let v = try interp.argument(a, 0, "hash")
            try interp.checkHashable(v)
            var hasher = Hasher()
            PyKey.hash(v, into: &hasher)
            if let i = interp.integer(v) { return .int(i) }
            if case .float(let d) = v, d.rounded() == d, abs(d) < 9.2e18 { return .int(Int(d)) }
            return .int(hasher.finalize())
        }
        define("id") { interp, a in
            let v = try interp.argument(a, 0, "id")
            if case .object(let o) = v { return .int(Int(bitPattern: UInt(bitPattern: ObjectIdentifier(o).hashValue))) }
            var hasher = Hasher(); PyKey.hash(v, into: &hasher); return .int(hasher.finalize())
        }
        define("chr") { interp, a in
            let i = try interp.intArgument(try interp.argument(a, 0, "chr"), "chr()")
            guard let scalar = UnicodeScalar(UInt32(clamping: max(0, i))) else { throw interp.valueError("chr() arg not in range(0x110000)") }
            return .str(String(Character(scalar)))
        }
        define("ord") { interp, a in
            guard case .str(let s) = try interp.argument(a, 0, "ord"), s.unicodeScalars.count == 1 else {
                throw interp.typeError("ord() expected a character")
            }
            return .int(Int(s.unicodeScalars.first!.value))
        }
        define("hex") { interp, a in .str(try interp.format(try interp.argument(a, 0, "hex"), "#x")) }
        define("oct") { interp, a in .str(try interp.format(try interp.argument(a, 0, "oct"), "#o")) }
        define("bin") { interp, a in .str(try interp.format(try interp.argument(a, 0, "bin"), "#b")) }
        define("vars") { interp, a in
            let v = try interp.argument(a, 0, "vars")
            return try interp.getAttribute(v, "__dict__")
        }
        define("globals") { interp, _ in
            guard let module = interp.frames.last?.module else { return .object(PyDict()) }
            return .object(PyDict(module.namespace.sorted { $0.key < $1.key }.map { (.str($0.key), $0.value) }))
        }
        define("locals") { interp, _ in
            guard let frame = interp.frames.last else { return .object(PyDict()) }
            return .object(PyDict(frame.locals.sorted { $0.key < $1.key }.map { (.str($0.key), $0.value) }))
        }
        define("super") { interp, a in
            if a.positional.count >= 2, case .object(let cls as PyClass) = a.positional[0] {
                let receiver = a.positional[1]
                let receiverClass: PyClass
                if case .object(let k as PyClass) = receiver { receiverClass = k } else { receiverClass = interp.typeOf(receiver) }
                return .object(PySuper(startAfter: cls, receiver: receiver, receiverClass: receiverClass))
            }
            guard let frame = interp.frames.last(where: { $0.function != nil }), let function = frame.function,
                  let cls = function.definingClass,
                  let first = function.definition.parameters.first, let receiver = frame.locals[first.name] else {
                throw interp.error(t.runtimeError, "super(): no arguments")
            }
            let receiverClass: PyClass
            if case .object(let k as PyClass) = receiver { receiverClass = k } else { receiverClass = interp.typeOf(receiver) }
            return .object(PySuper(startAfter: cls, receiver: receiver, receiverClass: receiverClass))
        }
        define("eval") { interp, a in
            guard case .str(let source)? = a.positional.first else {
                throw interp.typeError("eval() arg 1 must be a string")
            }
            return try interp.evaluateExpression(source, globals: a.positional.count > 1 ? a.positional[1] : nil,
                                                 locals: a.positional.count > 2 ? a.positional[2] : nil)
        }
        for name in ["exec", "compile", "input", "breakpoint", "memoryview", "bytearray", "complex"] {
            define(name) { interp, _ in throw interp.limit("\(name)() is not supported in fork mode", at: interp.frames.last?.location) }
        }
        define("__modelgraph_abc__") { interp, a in
            guard case .str(let name) = try interp.argument(a, 0, "__modelgraph_abc__") else { throw interp.typeError("name") }
            let cls = PyClass(name: name, bases: [t.object], moduleName: "collections.abc")
            cls.mro = [cls, t.object]
            cls.instanceCheck = { interp, value in
                switch name {
                case "Iterable", "Container", "Collection":
                    if case .str = value { return true }
                    if case .object(let o) = value {
                        if o is PyList || o is PyTuple || o is PyDict || o is PySet || o is PyFrozenSet || o is PyRange || o is PyIterator { return true }
                        if let i = o as? PyInstance { return i.cls.lookup("__iter__") != nil || i.cls.lookup("__getitem__") != nil || i.native != nil }
                        if let n = o as? NativeObject { return (try? n.iterate(interp)) != nil }
                    }
                    return false
                case "Iterator", "Generator":
                    if case .object(is PyIterator) = value { return true }
                    return false
                case "Sequence", "MutableSequence":
                    if case .str = value { return name == "Sequence" }
                    if case .object(let o) = value { return o is PyList || (name == "Sequence" && (o is PyTuple || o is PyRange)) || ((o as? PyInstance)?.native is PyList) }
                    return false
                case "Mapping", "MutableMapping":
                    if case .object(let o) = value { return o is PyDict || ((o as? PyInstance)?.native is PyDict) }
                    return false
                case "Set":
                    if case .object(let o) = value { return o is PySet || o is PyFrozenSet }
                    return false
                case "Sized": return (try? interp.length(value)) != nil
                case "Callable":
                    return (try? interp.truthy(try interp.call(interp.builtins["callable"]!, Arguments([value])))) ?? false
                case "Number", "Real":
                    switch value { case .int, .float, .bool: return true; default: return false }
                case "Integral":
                    switch value { case .int, .bool: return true; default: return false }
                case "Hashable":
                    return (try? interp.checkHashable(value)) != nil
                default: return false
                }
            }
            return .object(cls)
        }
        define("open") { interp, a in
            guard case .str(let path)? = a.positional.first ?? a.keyword("file") else {
                throw interp.typeError("open() expects a path string")
            }
            let mode = (try a.positional.count > 1 ? interp.str(a.positional[1]) : a.keyword("mode").map(interp.str)) ?? "r"
            guard !mode.contains("w"), !mode.contains("a"), !mode.contains("+"), !mode.contains("x") else {
                throw interp.error(t.osError, "open(\(Interpreter.stringRepr(path)), \(Interpreter.stringRepr(mode))): fork mode opens files read-only")
            }
            let bytes = try interp.importer.readFile(path, interpreter: interp)
            return .object(PyFile(path: path, bytes: bytes, binary: mode.contains("b")))
        }
        define("__import__") { interp, a in
            guard case .str(let name) = try interp.argument(a, 0, "__import__") else { throw interp.typeError("__import__() argument 1 must be str") }
            return try interp.importer.importModule(name, from: interp.frames.last?.module, level: 0, interpreter: interp, at: nil)
        }
    }

    func extreme(_ a: Arguments, name: String, op: CompareOperator) throws -> PyValue {
        let items = a.positional.count == 1 ? try materialize(a.positional[0]) : a.positional
        let key = a.keyword("key").flatMap { $0.isNone ? nil : $0 }
        guard var best = items.first else {
            if let d = a.keyword("default") { return d }
            throw valueError("\(name)() arg is an empty sequence")
        }
        var bestKey = try key.map { try call($0, Arguments([best])) } ?? best
        for item in items.dropFirst() {
            let k = try key.map { try call($0, Arguments([item])) } ?? item
            if try truthy(try compare(op, k, bestKey)) { best = item; bestKey = k }
        }
        return best
    }

    func isInstance(_ value: PyValue, classInfo: PyValue) throws -> Bool {
        switch classInfo {
        case .object(let cls as PyClass):
            if let check = cls.instanceCheck { return check(self, value) }
            return typeOf(value).isSubclass(of: cls)
        case .object(let tuple as PyTuple): return try tuple.items.contains { try isInstance(value, classInfo: $0) }
        case .object(is PyStandIn): return false
        case .object(is PyDeferredFailure): return false      // a class whose definition failed has no instances
        case .object(let native as NativeObject):
            if let cls = native.classForSubclassing(self) { return typeOf(value).isSubclass(of: cls) }
            return false
        default:
            if case .object(let i as PyInstance) = classInfo, i.cls.name == "_SpecialForm" || i.cls.name == "_GenericAlias" { return true }
            throw typeError("isinstance() arg 2 must be a type, a tuple of types, or a union")
        }
    }

    func isSubclass(_ cls: PyClass, classInfo: PyValue) throws -> Bool {
        switch classInfo {
        case .object(let other as PyClass): return cls.isSubclass(of: other)
        case .object(let tuple as PyTuple): return try tuple.items.contains { try isSubclass(cls, classInfo: $0) }
        case .object(is PyStandIn), .object(is PyDeferredFailure): return false
        case .object(let native as NativeObject):
            if let other = native.classForSubclassing(self) { return cls.isSubclass(of: other) }
            return false
        default: throw typeError("issubclass() arg 2 must be a class, a tuple of classes, or a union")
        }
    }

    func update(_ dict: PyDict, from source: PyValue) throws {
        if case .object(let other as PyDict) = source {
            for (k, v) in other.entries { dict[k] = v }
            return
        }
        if case .object(let instance as PyInstance) = source, instance.cls.lookup("keys") != nil || instance.native is PyDict {
            for (k, v) in try mappingItems(source) { dict[k] = v }
            return
        }
        try forEach(source) { pair in
            let items = try self.materialize(pair)
            guard items.count == 2 else { throw self.valueError("dictionary update sequence element has length \(items.count); 2 is required") }
            try self.checkHashable(items[0])
            dict[items[0]] = items[1]
            return true
        }
    }
}

extension String {
    func trimmingCharacters(_ set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s.removeFirst() }
        while let l = s.last, set.contains(l) { s.removeLast() }
        return String(s)
    }

    func replacingOccurrences(_ target: String, _ replacement: String) -> String {
        guard !target.isEmpty, contains(target) else { return self }
        var out = ""
        var rest = Substring(self)
        while let range = rest.range(of: target) {
            out += rest[..<range.lowerBound]
            out += replacement
            rest = rest[range.upperBound...]
        }
        return out + rest
    }

    init(format: String, _ value: Double) {
        var buffer = [CChar](repeating: 0, count: 400)
        let count = buffer.withUnsafeMutableBufferPointer { p in withVaList([value]) { vsnprintf(p.baseAddress, 400, format, $0) } }
        let length = Int(Swift.max(0, Swift.min(count, 399)))
        self = String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension Substring {
    func range(of target: String) -> Range<Substring.Index>? {
        guard !target.isEmpty else { return nil }
        var i = startIndex
        while i < endIndex {
            if self[i...].hasPrefix(target) { return i..<(index(i, offsetBy: target.count)) }
            i = index(after: i)
        }
        return nil
    }
}
