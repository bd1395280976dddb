import PythonFrontEnd

/// A Python value. Small immutable values are inline; everything with identity is an object.
public enum PyValue {
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case str(String)
    case object(PyObject)

    public var isNone: Bool { if case .none = self { return true }; return false }

    public var asObject: PyObject? { if case .object(let o) = self { return o }; return nil }

    public static func tuple(_ items: [PyValue]) -> PyValue { .object(PyTuple(items)) }
    public static func list(_ items: [PyValue]) -> PyValue { .object(PyList(items)) }
}

/// Every heap value: lists, dicts, functions, classes, instances, modules, tensors, ….
open class PyObject {
    public init() {}
}

public final class PyTuple: PyObject {
    public let items: [PyValue]
    public init(_ items: [PyValue]) { self.items = items }
}

public final class PyList: PyObject {
    public var items: [PyValue]
    public init(_ items: [PyValue]) { self.items = items }
}

/// A hashable view of a value, with Python's equality for keys (1 == 1.0 == True).
public struct PyKey: Hashable {
    public let value: PyValue

    public init(_ value: PyValue) { self.value = value }

    public static func == (a: PyKey, b: PyKey) -> Bool { PyKey.equal(a.value, b.value) }

    static func equal(_ a: PyValue, _ b: PyValue) -> Bool {
        switch (a, b) {
        case (.none, .none): return true
        case (.str(let x), .str(let y)): return x == y
        case (.int(let x), .int(let y)): return x == y
        case (.bool(let x), .bool(let y)): return x == y
        case (.float(let x), .float(let y)): return x == y
        case (.int(let x), .float(let y)), (.float(let y), .int(let x)): return Double(x) == y
        case (.bool(let x), .int(let y)), (.int(let y), .bool(let x)): return (x ? 1 : 0) == y
        case (.bool(let x), .float(let y)), (.float(let y), .bool(let x)): return (x ? 1.0 : 0.0) == y
        case (.object(let x), .object(let y)):
            if x === y { return true }
            if let s = x as? PyTuple, let t = y as? PyTuple {
                return s.items.count == t.items.count && zip(s.items, t.items).allSatisfy { equal($0, $1) }
            }
            if let s = x as? PyFrozenSet, let t = y as? PyFrozenSet { return s.storage == t.storage }
            if let s = x as? PyInstance, let t = y as? PyInstance, let sv = s.enumValue, let tv = t.enumValue {
                return s.cls === t.cls && equal(sv, tv)
            }
            return false
        default: return false
        }
    }

    public func hash(into hasher: inout Hasher) {
        PyKey.hash(value, into: &hasher)
    }

    static func hash(_ value: PyValue, into hasher: inout Hasher) {
        switch value {
        case .none: hasher.combine(0)
        case .bool(let b): hasher.combine(b ? 1 : 0)
        case .int(let i): hasher.combine(i)
        case .float(let d):
            if d.rounded() == d, abs(d) < 9.2e18 { hasher.combine(Int(d)) } else { hasher.combine(d) }
        case .str(let s): hasher.combine(s)
        case .object(let o):
            if let t = o as? PyTuple { t.items.forEach { hash($0, into: &hasher) } }
            else if let f = o as? PyFrozenSet { hasher.combine(f.storage.count) }
            else { hasher.combine(ObjectIdentifier(o)) }
        }
    }
}

/// Python's dict: insertion-ordered.
public final class PyDict: PyObject {
    public private(set) var keys: [PyKey?] = []
    public private(set) var values: [PyValue] = []
    private var index: [PyKey: Int] = [:]
    public private(set) var count = 0

    public override init() {}

    public init(_ pairs: [(PyValue, PyValue)]) {
        super.init()
        for (k, v) in pairs { self[k] = v }
    }

    public subscript(key: PyValue) -> PyValue? {
        get {
            guard let i = index[PyKey(key)] else { return nil }
            return values[i]
        }
        set {
            let k = PyKey(key)
            if let newValue {
                if let i = index[k] { values[i] = newValue } else {
                    index[k] = keys.count
                    keys.append(k)
                    values.append(newValue)
                    count += 1
                }
            } else if let i = index.removeValue(forKey: k) {
                keys[i] = nil
                values[i] = .none
                count -= 1
                if keys.count > 32 && count * 2 < keys.count { compact() }
            }
        }
    }

    public subscript(name: String) -> PyValue? {
        get { self[.str(name)] }
        set { self[.str(name)] = newValue }
    }

    public var entries: [(key: PyValue, value: PyValue)] {
        var out: [(PyValue, PyValue)] = []
        out.reserveCapacity(count)
        for i in keys.indices { if let k = keys[i] { out.append((k.value, values[i])) } }
        return out
    }

    public var orderedKeys: [PyValue] { keys.compactMap { $0?.value } }

    public func removeAll() { keys = []; values = []; index = [:]; count = 0 }

    private func compact() {
        let pairs = entries
        removeAll()
        for (k, v) in pairs { self[k] = v }
    }
}

public final class PySet: PyObject {
    public var storage: Set<PyKey>
    /// Python's sets are unordered; iteration follows insertion here so runs are repeatable.
    public var order: [PyKey]
    public init(_ items: [PyValue] = []) {
        storage = []; order = []
        super.init()
        for item in items { insert(item) }
    }
    public func insert(_ value: PyValue) {
        let key = PyKey(value)
        if storage.insert(key).inserted { order.append(key) }
    }
    public func remove(_ value: PyValue) -> Bool {
        let key = PyKey(value)
        guard storage.remove(key) != nil else { return false }
        order.removeAll { $0 == key }
        return true
    }
    public var items: [PyValue] { order.map(\.value) }
}

public final class PyFrozenSet: PyObject {
    public let storage: Set<PyKey>
    public let order: [PyKey]
    public init(_ items: [PyValue]) {
        var seen = Set<PyKey>(), order: [PyKey] = []
        for item in items where seen.insert(PyKey(item)).inserted { order.append(PyKey(item)) }
        storage = seen; self.order = order
    }
    public var items: [PyValue] { order.map(\.value) }
}

public final class PySlice: PyObject {
    public let start: PyValue, stop: PyValue, step: PyValue
    public init(_ start: PyValue, _ stop: PyValue, _ step: PyValue) { self.start = start; self.stop = stop; self.step = step }
}

public final class PyRange: PyObject {
    public let start: Int, stop: Int, step: Int
    public init(_ start: Int, _ stop: Int, _ step: Int) { self.start = start; self.stop = stop; self.step = step }
    public var count: Int {
        if step > 0 { return start < stop ? (stop - start - 1) / step + 1 : 0 }
        return start > stop ? (start - stop - 1) / (-step) + 1 : 0
    }
}

public final class PyBytes: PyObject {
    public let bytes: [UInt8]
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
}

/// Arguments as Python passes them: positional, then keywords in call order.
public struct Arguments {
    public var positional: [PyValue]
    public var keywords: [(String, PyValue)]
    public init(_ positional: [PyValue] = [], keywords: [(String, PyValue)] = []) {
        self.positional = positional; self.keywords = keywords
    }
    public func keyword(_ name: String) -> PyValue? { keywords.first { $0.0 == name }?.1 }
}

public typealias NativeFunction = (Interpreter, Arguments) throws -> PyValue

/// A function written in Swift (a builtin, a method of a built-in type, a torch function).
public final class PyBuiltinFunction: PyObject {
    public let name: String
    public let body: NativeFunction
    /// Bound receiver for methods of built-in values (`"a,b".split`).
    public let receiver: PyValue?
    /// Methods of built-in classes that Python subclasses inherit (dict.__init__) bind to the
    /// instance; other builtins stored on a class do not (`func_conv = F.conv2d`), as in CPython.
    public var bindsAsMethod = false
    public init(_ name: String, receiver: PyValue? = nil, _ body: @escaping NativeFunction) {
        self.name = name; self.body = body; self.receiver = receiver
    }
}

/// A function defined in Python source.
public final class PyFunction: PyObject {
    public let definition: FunctionDefinition
    public let globals: PyModule
    public let closure: Frame?
    public var defaults: [String: PyValue]
    public var name: String
    public var qualifiedName: String
    public var attributes: [String: PyValue] = [:]
    /// The class whose body defined this function (zero-argument super()).
    public var definingClass: PyClass?
    init(definition: FunctionDefinition, globals: PyModule, closure: Frame?, defaults: [String: PyValue], qualifiedName: String) {
        self.definition = definition; self.globals = globals; self.closure = closure; self.defaults = defaults
        self.name = definition.name; self.qualifiedName = qualifiedName
    }
}

public final class PyBoundMethod: PyObject {
    public let receiver: PyValue
    public let function: PyValue
    public init(receiver: PyValue, function: PyValue) { self.receiver = receiver; self.function = function }
}

public final class PyStaticMethod: PyObject {
    public let function: PyValue
    public init(_ function: PyValue) { self.function = function }
}

public final class PyClassMethod: PyObject {
    public let function: PyValue
    public init(_ function: PyValue) { self.function = function }
}

public final class PyProperty: PyObject {
    public var getter: PyValue, setter: PyValue, deleter: PyValue
    public init(getter: PyValue, setter: PyValue = .none, deleter: PyValue = .none) {
        self.getter = getter; self.setter = setter; self.deleter = deleter
    }
}

/// What a built-in type's instances are, so operations can dispatch without string compares.
public enum NativeKind {
    case object, type, none, bool, int, float, str, bytes, tuple, list, dict, set, frozenset, range, slice
    case function, builtinFunction, method, module, property, staticmethod, classmethod
    case baseException, generator, other
}

/// A class: built-in (int, list, Exception, …) or defined in Python.
public final class PyClass: PyObject {
    public var name: String
    public var qualifiedName: String
    public var bases: [PyClass]
    /// The method resolution order after this class (stored without the class itself, so a
    /// class does not hold itself: no reference cycle for ARC to leak).
    public var ancestors: [PyClass] = []
    /// The method resolution order, this class first.
    public var mro: [PyClass] {
        get { [self] + ancestors }
        set { ancestors = newValue.first === self ? Array(newValue.dropFirst()) : newValue }
    }
    public var dict: [String: PyValue] = [:]
    public let kind: NativeKind
    public var moduleName: String
    /// Attributes set on the class through a metaclass-like native hook (e.g. stand-ins).
    public var isStandIn = false
    /// The built-in class whose instances this class's instances extend (list, dict, Exception).
    public var nativeBase: NativeKind = .object
    /// `isinstance` for abstract classes (collections.abc.Iterable, numbers.Real): by behaviour.
    public var instanceCheck: ((Interpreter, PyValue) -> Bool)?

    public init(name: String, bases: [PyClass], kind: NativeKind = .object, moduleName: String = "builtins") {
        self.name = name; self.qualifiedName = name; self.bases = bases; self.kind = kind; self.moduleName = moduleName
        super.init()
        nativeBase = bases.first(where: { $0.nativeBase != .object })?.nativeBase ?? kind
    }

    /// Looks a name up along the method resolution order.
    public func lookup(_ name: String) -> PyValue? {
        if let v = dict[name] { return v }
        for cls in ancestors { if let v = cls.dict[name] { return v } }
        return nil
    }

    public func isSubclass(of other: PyClass) -> Bool { self === other || ancestors.contains { $0 === other } }
}

/// An instance of a class defined in Python (or of a built-in class it extends).
public final class PyInstance: PyObject {
    public var cls: PyClass
    public let attributes = PyDict()
    /// Storage for subclasses of built-in containers (dict, list) and exception arguments.
    public var native: PyObject?
    /// For instances of Enum subclasses: the member's value.
    public var enumValue: PyValue?
    /// For exceptions caught by a handler: where they were raised (`raise e` keeps it, as
    /// CPython keeps `__traceback__`).
    var raisedTraceback: [TraceFrame]?
    var raisedLocals: [String: [String: PyValue]]?
    public init(cls: PyClass) { self.cls = cls }
}

/// A module: source from the fork, or one ModelGraph provides.
public final class PyModule: PyObject {
    public let name: String
    public let file: String?
    public var namespace: [String: PyValue] = [:]
    /// Top-level statements whose failure was deferred: using one of their names raises it.
    public init(name: String, file: String?) { self.name = name; self.file = file }
}

/// An import ModelGraph does not provide (cv2, thop, mmcv, …): every attribute is another
/// stand-in, and using one (calling it, computing with it) raises a located error.
public final class PyStandIn: PyObject {
    public let path: String
    public init(path: String) { self.path = path }
}

/// A name whose defining top-level statement failed while its module was imported.
public final class PyDeferredFailure: PyObject {
    public let error: PyError
    public let name: String
    public init(error: PyError, name: String) { self.error = error; self.name = name }
}

public final class PySuper: PyObject {
    public let startAfter: PyClass
    public let receiver: PyValue
    public let receiverClass: PyClass
    public init(startAfter: PyClass, receiver: PyValue, receiverClass: PyClass) {
        self.startAfter = startAfter; self.receiver = receiver; self.receiverClass = receiverClass
    }
}

/// An iterator over materialised items (lists, generators run to completion, zip, map, …).
public final class PyIterator: PyObject {
    public var items: [PyValue]
    public var position = 0
    public var produce: ((Interpreter) throws -> PyValue?)?
    public init(_ items: [PyValue]) { self.items = items }
    public init(produce: @escaping (Interpreter) throws -> PyValue?) { self.items = []; self.produce = produce }
}

/// A cell for a function's scope: the locals of one call, visible to closures defined in it.
public final class Frame {
    public var locals: [String: PyValue]
    let scope: Scope?
    /// The enclosing function's frame, for free variables.
    let parent: Frame?
    /// The module whose namespace holds this code's globals.
    let module: PyModule
    /// Set for class bodies: names resolve in the class namespace first.
    let isClassBody: Bool
    let isModuleBody: Bool
    /// For zero-argument super(): the class whose body defined the running function.
    var function: PyFunction?
    var generatorOutput: [PyValue]?
    /// The innermost location running in this frame, for tracebacks.
    var location = SourceLocation(line: 0, column: 0)
    init(locals: [String: PyValue] = [:], scope: Scope?, parent: Frame?, module: PyModule, isClassBody: Bool = false, isModuleBody: Bool = false) {
        self.locals = locals; self.scope = scope; self.parent = parent; self.module = module
        self.isClassBody = isClassBody; self.isModuleBody = isModuleBody
    }
}

/// A file opened read-only by model code (its whole text is read at once).
public final class PyFile: PyObject {
    public let path: String
    public let bytes: [UInt8]
    public let binary: Bool
    public init(path: String, bytes: [UInt8], binary: Bool) { self.path = path; self.bytes = bytes; self.binary = binary }
    public var text: String { String(decoding: bytes, as: UTF8.self) }
}
