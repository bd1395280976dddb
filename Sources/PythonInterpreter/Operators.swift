import PythonFrontEnd
#if canImport(Glibc)
import Glibc
#endif

extension Interpreter {
    static let binaryMethodNames: [BinaryOperator: String] = [
        .add: "__add__", .subtract: "__sub__", .multiply: "__mul__", .matrixMultiply: "__matmul__", .divide: "__truediv__",
        .floorDivide: "__floordiv__", .modulo: "__mod__", .power: "__pow__", .leftShift: "__lshift__", .rightShift: "__rshift__",
        .bitOr: "__or__", .bitXor: "__xor__", .bitAnd: "__and__",
    ]

    func isNotImplemented(_ value: PyValue) -> Bool {
        if case .object(let a) = value, case .object(let b) = types.notImplemented { return a === b }
        return false
    }

    func overflow(_ op: String) -> PyError {
        error(types.overflowError, "integer result of \(op) is beyond fork mode's 64-bit integers")
    }

    /// An int, bool or float as a Double (nil for other types).
    func number(_ value: PyValue) -> Double? {
        switch value {
        case .int(let i): return Double(i)
        case .bool(let b): return b ? 1 : 0
        case .float(let d): return d
        default: return nil
        }
    }

    func integer(_ value: PyValue) -> Int? {
        switch value {
        case .int(let i): return i
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }

    public func binary(_ op: BinaryOperator, _ a: PyValue, _ b: PyValue) throws -> PyValue {
        if let x = integer(a), let y = integer(b) {
            return try integerBinary(op, x, y)
        }
        if let x = number(a), let y = number(b) {
            return try floatBinary(op, x, y)
        }
        if case .object(let native as NativeObject) = a, let result = try native.binary(op, b, reflected: false, self) { return result }
        if case .object(let native as NativeObject) = b, let result = try native.binary(op, a, reflected: true, self) { return result }
        if case .object(let instance as PyInstance) = a, let name = Interpreter.binaryMethodNames[op], let method = instance.cls.lookup(name) {
            let result = try call(method, Arguments([a, b]))
            if !isNotImplemented(result) { return result }
        }
        if case .object(let instance as PyInstance) = b, let name = Interpreter.binaryMethodNames[op],
           let method = instance.cls.lookup("__r" + name.dropFirst(2)) {
            let result = try call(method, Arguments([b, a]))
            if !isNotImplemented(result) { return result }
        }
        switch (op, a, b) {
        case (.add, .str(let x), .str(let y)):
            try checkSize(x.utf8.count + y.utf8.count)
            return .str(x + y)
        case (.multiply, .str(let s), _), (.multiply, _, .str(let s)):
            guard let n = integer(a) ?? integer(b) else { break }
            try checkSize(s.utf8.count.multipliedReportingOverflow(by: max(n, 0)).overflow ? Int.max : s.utf8.count * max(n, 0))
            return .str(String(repeating: s, count: max(n, 0)))
        case (.modulo, .str(let format), _):
            return .str(try percentFormat(format, b))
        case (.add, .object(let x as PyList), .object(let y as PyList)):
            try checkSize(x.items.count + y.items.count)
            return .list(x.items + y.items)
        case (.add, .object(let x as PyTuple), .object(let y as PyTuple)):
            try checkSize(x.items.count + y.items.count)
            return .tuple(x.items + y.items)
        case (.multiply, .object(let o), _), (.multiply, _, .object(let o)):
            guard let n = integer(a) ?? integer(b) else { break }
            let items: [PyValue]
            if let l = o as? PyList { items = l.items } else if let t = o as? PyTuple { items = t.items } else { break }
            let (total, overflowed) = items.count.multipliedReportingOverflow(by: max(n, 0))
            try checkSize(overflowed ? Int.max : total)
            var out: [PyValue] = []
            out.reserveCapacity(total)
            for _ in 0..<max(n, 0) { out += items }
            return o is PyList ? .list(out) : .tuple(out)
        case (.bitOr, .object(let x as PyDict), .object(let y as PyDict)):
            let merged = PyDict(x.entries.map { ($0.key, $0.value) })
            for (k, v) in y.entries { merged[k] = v }
            return .object(merged)
        case (_, .object(let x), .object(let y)) where (x is PySet || x is PyFrozenSet) && (y is PySet || y is PyFrozenSet):
            let left = (x as? PySet)?.items ?? (x as! PyFrozenSet).items
            let rightSet = Set(((y as? PySet)?.items ?? (y as! PyFrozenSet).items).map(PyKey.init))
            let right = (y as? PySet)?.items ?? (y as! PyFrozenSet).items
            let leftSet = Set(left.map(PyKey.init))
            let result: [PyValue]
            switch op {
            case .bitOr: result = left + right.filter { !leftSet.contains(PyKey($0)) }
            case .bitAnd: result = left.filter { rightSet.contains(PyKey($0)) }
            case .subtract: result = left.filter { !rightSet.contains(PyKey($0)) }
            case .bitXor: result = left.filter { !rightSet.contains(PyKey($0)) } + right.filter { !leftSet.contains(PyKey($0)) }
            default: throw unsupported(op, a, b)
            }
            return x is PySet ? .object(PySet(result)) : .object(PyFrozenSet(result))
        case (_, .object(let s as PyStandIn), _), (_, _, .object(let s as PyStandIn)):
            throw error(types.moduleNotFoundError, "cannot compute with \(s.path): module '\(s.path.prefix { $0 != "." })' is not provided in fork mode")
        case (_, .object(let d as PyDeferredFailure), _), (_, _, .object(let d as PyDeferredFailure)):
            throw deferredError(d)
        default: break
        }
        throw unsupported(op, a, b)
    }

    func unsupported(_ op: BinaryOperator, _ a: PyValue, _ b: PyValue) -> PyError {
        typeError("unsupported operand type(s) for \(op.rawValue): '\(typeName(a))' and '\(typeName(b))'")
    }

    func integerBinary(_ op: BinaryOperator, _ x: Int, _ y: Int) throws -> PyValue {
        switch op {
        case .add:
            let (r, o) = x.addingReportingOverflow(y); if o { throw overflow("+") }; return .int(r)
        case .subtract:
            let (r, o) = x.subtractingReportingOverflow(y); if o { throw overflow("-") }; return .int(r)
        case .multiply:
            let (r, o) = x.multipliedReportingOverflow(by: y); if o { throw overflow("*") }; return .int(r)
        case .divide:
            guard y != 0 else { throw error(types.zeroDivisionError, "division by zero") }
            return .float(Double(x) / Double(y))
        case .floorDivide:
            guard y != 0 else { throw error(types.zeroDivisionError, "integer division or modulo by zero") }
            if x == Int.min && y == -1 { throw overflow("//") }
            let q = x / y
            return .int((x % y != 0) && ((x < 0) != (y < 0)) ? q - 1 : q)
        case .modulo:
            guard y != 0 else { throw error(types.zeroDivisionError, "integer division or modulo by zero") }
            if y == -1 { return .int(0) }
            let r = x % y
            return .int(r != 0 && ((r < 0) != (y < 0)) ? r + y : r)
        case .power:
            if y < 0 {
                guard x != 0 else { throw error(types.zeroDivisionError, "0.0 cannot be raised to a negative power") }
                return .float(pow(Double(x), Double(y)))
            }
            var result = 1, base = x, exponent = y
            while exponent > 0 {
                if exponent & 1 == 1 {
                    let (r, o) = result.multipliedReportingOverflow(by: base); if o { throw overflow("**") }; result = r
                }
                exponent >>= 1
                if exponent > 0 {
                    let (b, o) = base.multipliedReportingOverflow(by: base); if o { throw overflow("**") }; base = b
                }
            }
            return .int(result)
        case .leftShift:
            guard y >= 0 else { throw valueError("negative shift count") }
            guard y < 63, (x << y) >> y == x else { if x == 0 { return .int(0) }; throw overflow("<<") }
            return .int(x << y)
        case .rightShift:
            guard y >= 0 else { throw valueError("negative shift count") }
            return .int(y >= 64 ? (x < 0 ? -1 : 0) : x >> y)
        case .bitOr: return .int(x | y)
        case .bitAnd: return .int(x & y)
        case .bitXor: return .int(x ^ y)
        case .matrixMultiply: throw typeError("unsupported operand type(s) for @: 'int' and 'int'")
        }
    }

    func floatBinary(_ op: BinaryOperator, _ x: Double, _ y: Double) throws -> PyValue {
        switch op {
        case .add: return .float(x + y)
        case .subtract: return .float(x - y)
        case .multiply: return .float(x * y)
        case .divide:
            guard y != 0 else { throw error(types.zeroDivisionError, "float division by zero") }
            return .float(x / y)
        case .floorDivide:
            guard y != 0 else { throw error(types.zeroDivisionError, "float floor division by zero") }
            return .float(Interpreter.floatDivMod(x, y).0)
        case .modulo:
            guard y != 0 else { throw error(types.zeroDivisionError, "float modulo") }
            return .float(Interpreter.floatDivMod(x, y).1)
        case .power:
            if x == 0 && y < 0 { throw error(types.zeroDivisionError, "0.0 cannot be raised to a negative power") }
            if x < 0 && y.rounded() != y { throw valueError("complex results (a negative number to a fractional power) are not supported in fork mode") }
            return .float(pow(x, y))
        default:
            throw typeError("unsupported operand type(s) for \(op.rawValue): 'float' and 'float'")
        }
    }

    /// CPython's float_divmod.
    static func floatDivMod(_ vx: Double, _ wx: Double) -> (Double, Double) {
        var mod = fmod(vx, wx)
        var div = (vx - mod) / wx
        if mod != 0 {
            if (wx < 0) != (mod < 0) { mod += wx; div -= 1 }
        } else {
            mod = copysign(0, wx)
        }
        var floordiv: Double
        if div != 0 {
            floordiv = floor(div)
            if div - floordiv > 0.5 { floordiv += 1 }
        } else {
            floordiv = copysign(0, vx / wx)
        }
        return (floordiv, mod)
    }

    public func unary(_ op: UnaryOperator, _ value: PyValue) throws -> PyValue {
        if op == .not { return .bool(try !truthy(value)) }
        switch (op, value) {
        case (.minus, .int(let i)):
            guard i != Int.min else { throw overflow("-") }
            return .int(-i)
        case (.minus, .bool(let b)): return .int(b ? -1 : 0)
        case (.minus, .float(let d)): return .float(-d)
        case (.plus, .int), (.plus, .float): return value
        case (.plus, .bool(let b)): return .int(b ? 1 : 0)
        case (.invert, .int(let i)): return .int(~i)
        case (.invert, .bool(let b)): return .int(~(b ? 1 : 0))
        case (_, .object(let native as NativeObject)):
            if let result = try native.unary(op, self) { return result }
        case (_, .object(let instance as PyInstance)):
            let name = op == .minus ? "__neg__" : op == .plus ? "__pos__" : "__invert__"
            if let method = instance.cls.lookup(name) { return try call(method, Arguments([value])) }
        default: break
        }
        throw typeError("bad operand type for unary \(op.rawValue): '\(typeName(value))'")
    }

    public func compare(_ op: CompareOperator, _ a: PyValue, _ b: PyValue) throws -> PyValue {
        switch op {
        case .isSame: return .bool(identical(a, b))
        case .isNot: return .bool(!identical(a, b))
        case .contains: return .bool(try contains(b, a))
        case .notContains: return .bool(try !contains(b, a))
        case .equal:
            if case .object(let native as NativeObject) = a, let r = try native.compare(.equal, b, self) { return r }
            if case .object(let native as NativeObject) = b, let r = try native.compare(.equal, a, self) { return r }
            return .bool(try equals(a, b))
        case .notEqual:
            if case .object(let native as NativeObject) = a, let r = try native.compare(.notEqual, b, self) { return r }
            if case .object(let native as NativeObject) = b, let r = try native.compare(.notEqual, a, self) { return r }
            return .bool(try !equals(a, b))
        default:
            if case .object(let native as NativeObject) = a, let r = try native.compare(op, b, self) { return r }
            if case .object(let native as NativeObject) = b, let r = try native.compare(mirrored(op), a, self) { return r }
            return .bool(try order(op, a, b))
        }
    }

    func mirrored(_ op: CompareOperator) -> CompareOperator {
        switch op {
        case .less: return .greater
        case .lessEqual: return .greaterEqual
        case .greater: return .less
        case .greaterEqual: return .lessEqual
        default: return op
        }
    }

    public func identical(_ a: PyValue, _ b: PyValue) -> Bool {
        switch (a, b) {
        case (.none, .none): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.int(let x), .int(let y)): return x == y
        case (.float(let x), .float(let y)): return x == y
        case (.str(let x), .str(let y)): return x == y
        case (.object(let x), .object(let y)): return x === y
        default: return false
        }
    }

    public func equals(_ a: PyValue, _ b: PyValue) throws -> Bool {
        switch (a, b) {
        case (.object(let x as PyList), .object(let y as PyList)):
            guard x.items.count == y.items.count else { return false }
            for (p, q) in zip(x.items, y.items) where try !equals(p, q) { return false }
            return true
        case (.object(let x as PyTuple), .object(let y as PyTuple)):
            guard x.items.count == y.items.count else { return false }
            for (p, q) in zip(x.items, y.items) where try !equals(p, q) { return false }
            return true
        case (.object(let x as PyDict), .object(let y as PyDict)):
            guard x.count == y.count else { return false }
            for (k, v) in x.entries {
                guard let w = y[k], try equals(v, w) else { return false }
            }
            return true
        case (.object(let x as PySet), .object(let y as PySet)): return x.storage == y.storage
        case (.object(let x as PyRange), .object(let y as PyRange)):
            return x.count == y.count && (x.count == 0 || (x.start == y.start && (x.count == 1 || x.step == y.step)))
        case (.object(let x as PyInstance), _):
            if let method = x.cls.lookup("__eq__") {
                let r = try call(method, Arguments([a, b]))
                if !isNotImplemented(r) { return try truthy(r) }
            }
            if case .object(let y as PyInstance) = b, y.cls.lookup("__eq__") != nil {
                let r = try call(y.cls.lookup("__eq__")!, Arguments([b, a]))
                if !isNotImplemented(r) { return try truthy(r) }
            }
            if let v = x.enumValue, case .object(let y as PyInstance) = b, y.enumValue != nil { return x === y || (x.cls === y.cls && PyKey.equal(v, y.enumValue!)) }
            return identical(a, b)
        case (_, .object(let y as PyInstance)):
            if let method = y.cls.lookup("__eq__") {
                let r = try call(method, Arguments([b, a]))
                if !isNotImplemented(r) { return try truthy(r) }
            }
            return false
        default:
            return PyKey.equal(a, b)
        }
    }

    func order(_ op: CompareOperator, _ a: PyValue, _ b: PyValue) throws -> Bool {
        func result(_ c: Int) -> Bool {
            switch op {
            case .less: return c < 0
            case .lessEqual: return c <= 0
            case .greater: return c > 0
            default: return c >= 0
            }
        }
        if let x = integer(a), let y = integer(b) { return result(x < y ? -1 : x > y ? 1 : 0) }
        if let x = number(a), let y = number(b) {
            if x.isNaN || y.isNaN { return false }
            return result(x < y ? -1 : x > y ? 1 : 0)
        }
        switch (a, b) {
        case (.str(let x), .str(let y)):
            // code-point order, as CPython compares str
            let p = Array(x.unicodeScalars), q = Array(y.unicodeScalars)
            for (s, t) in zip(p, q) where s != t { return result(s.value < t.value ? -1 : 1) }
            return result(p.count < q.count ? -1 : p.count > q.count ? 1 : 0)
        case (.object(let x), .object(let y)) where (x is PyList && y is PyList) || (x is PyTuple && y is PyTuple):
            let p = (x as? PyList)?.items ?? (x as! PyTuple).items
            let q = (y as? PyList)?.items ?? (y as! PyTuple).items
            for (s, t) in zip(p, q) where try !equals(s, t) {
                return try order(op, s, t)
            }
            return result(p.count < q.count ? -1 : p.count > q.count ? 1 : 0)
        case (.object(let x as PySet), .object(let y as PySet)):
            switch op {
            case .less: return x.storage.isStrictSubset(of: y.storage)
            case .lessEqual: return x.storage.isSubset(of: y.storage)
            case .greater: return x.storage.isStrictSuperset(of: y.storage)
            default: return x.storage.isSuperset(of: y.storage)
            }
        case (.object(let x as PyInstance), _):
            let names: [CompareOperator: String] = [.less: "__lt__", .lessEqual: "__le__", .greater: "__gt__", .greaterEqual: "__ge__"]
            if let method = x.cls.lookup(names[op]!) {
                let r = try call(method, Arguments([a, b]))
                if !isNotImplemented(r) { return try truthy(r) }
            }
        default: break
        }
        throw typeError("'\(op.rawValue)' not supported between instances of '\(typeName(a))' and '\(typeName(b))'")
    }

    public func contains(_ container: PyValue, _ item: PyValue) throws -> Bool {
        switch container {
        case .str(let s):
            guard case .str(let t) = item else { throw typeError("'in <string>' requires string as left operand, not \(typeName(item))") }
            return t.isEmpty || s.contains(t)
        case .object(let o):
            switch o {
            case let d as PyDict: return d[item] != nil
            case let s as PySet: return s.storage.contains(PyKey(item))
            case let s as PyFrozenSet: return s.storage.contains(PyKey(item))
            case let r as PyRange:
                guard let i = integer(item) else { return false }
                if r.step > 0 ? (i < r.start || i >= r.stop) : (i > r.start || i <= r.stop) { return false }
                return (i - r.start) % r.step == 0
            case let instance as PyInstance:
                if let method = instance.cls.lookup("__contains__") { return try truthy(try call(method, Arguments([container, item]))) }
                if let storage = instance.native { return try contains(.object(storage), item) }
            default: break
            }
        default: break
        }
        var found = false
        try forEach(container) { element in
            if try self.identical(element, item) || self.equals(element, item) { found = true; return false }
            return true
        }
        return found
    }
}
