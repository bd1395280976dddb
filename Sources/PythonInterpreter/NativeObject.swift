import PythonFrontEnd

/// An object implemented in Swift that Python code uses like any other (torch's tensors,
/// dtypes, devices, …). Every hook has a default: "not supported by this object".
public protocol NativeObject: PyObject {
    /// The Python class `type(x)` and `isinstance` see.
    func pythonClass(_ interpreter: Interpreter) -> PyClass
    func attribute(_ name: String, _ interpreter: Interpreter) throws -> PyValue?
    func setAttribute(_ name: String, _ value: PyValue, _ interpreter: Interpreter) throws -> Bool
    func call(_ arguments: Arguments, _ interpreter: Interpreter) throws -> PyValue?
    /// `self op other` (or `other op self` when `reflected`); nil when not supported.
    func binary(_ op: BinaryOperator, _ other: PyValue, reflected: Bool, _ interpreter: Interpreter) throws -> PyValue?
    func inPlace(_ op: BinaryOperator, _ other: PyValue, _ interpreter: Interpreter) throws -> PyValue?
    func unary(_ op: UnaryOperator, _ interpreter: Interpreter) throws -> PyValue?
    func compare(_ op: CompareOperator, _ other: PyValue, _ interpreter: Interpreter) throws -> PyValue?
    func item(_ index: PyValue, _ interpreter: Interpreter) throws -> PyValue?
    func setItem(_ index: PyValue, _ value: PyValue, _ interpreter: Interpreter) throws -> Bool
    func length(_ interpreter: Interpreter) throws -> Int?
    func iterate(_ interpreter: Interpreter) throws -> [PyValue]?
    func truthValue(_ interpreter: Interpreter) throws -> Bool?
    func representation(_ interpreter: Interpreter) -> String
    func classForSubclassing(_ interpreter: Interpreter) -> PyClass?
    func index(_ interpreter: Interpreter) throws -> Int?
    func floatValue(_ interpreter: Interpreter) throws -> Double?
    /// `copy.deepcopy`: a new object, or nil to share this one.
    func deepCopied(_ interpreter: Interpreter) throws -> PyValue?
    /// Drops the values this object holds (Interpreter.tearDown).
    func tearDown()
}

extension NativeObject {
    public func attribute(_ name: String, _ interpreter: Interpreter) throws -> PyValue? { nil }
    public func setAttribute(_ name: String, _ value: PyValue, _ interpreter: Interpreter) throws -> Bool { false }
    public func call(_ arguments: Arguments, _ interpreter: Interpreter) throws -> PyValue? { nil }
    public func binary(_ op: BinaryOperator, _ other: PyValue, reflected: Bool, _ interpreter: Interpreter) throws -> PyValue? { nil }
    public func inPlace(_ op: BinaryOperator, _ other: PyValue, _ interpreter: Interpreter) throws -> PyValue? { nil }
    public func unary(_ op: UnaryOperator, _ interpreter: Interpreter) throws -> PyValue? { nil }
    public func compare(_ op: CompareOperator, _ other: PyValue, _ interpreter: Interpreter) throws -> PyValue? { nil }
    public func item(_ index: PyValue, _ interpreter: Interpreter) throws -> PyValue? { nil }
    public func setItem(_ index: PyValue, _ value: PyValue, _ interpreter: Interpreter) throws -> Bool { false }
    public func length(_ interpreter: Interpreter) throws -> Int? { nil }
    public func iterate(_ interpreter: Interpreter) throws -> [PyValue]? { nil }
    public func truthValue(_ interpreter: Interpreter) throws -> Bool? { nil }
    public func representation(_ interpreter: Interpreter) -> String { "<\(pythonClass(interpreter).name) object>" }
    public func classForSubclassing(_ interpreter: Interpreter) -> PyClass? { nil }
    public func index(_ interpreter: Interpreter) throws -> Int? { nil }
    public func floatValue(_ interpreter: Interpreter) throws -> Double? { nil }
    public func deepCopied(_ interpreter: Interpreter) throws -> PyValue? { nil }
    public func tearDown() {}
}

/// Something an embedder adds to an interpreter (torch) that holds closures over itself: torn
/// down with the interpreter's objects.
public protocol InterpreterExtension: AnyObject {
    func tearDown()
}

/// The built-in classes of one interpreter.
public final class BuiltinTypes {
    public let object: PyClass
    public let type: PyClass
    public let noneType, bool, int, float, str, bytes, tuple, list, dict, set, frozenset, range, slice: PyClass
    public let function, builtinFunction, method, module, property, staticmethod, classmethod, generator, ellipsisType: PyClass
    public let baseException, exception, typeError, valueError, attributeError, nameError, unboundLocalError: PyClass
    public let keyError, indexError, lookupError, importError, moduleNotFoundError, runtimeError, notImplementedError: PyClass
    public let zeroDivisionError, overflowError, arithmeticError, assertionError, stopIteration, recursionError, osError: PyClass
    public let fileNotFoundError, warning, userWarning, deprecationWarning, futureWarning, runtimeWarning, systemExit, keyboardInterrupt: PyClass
    public let standIn: PyClass
    public let ellipsis: PyValue
    public let notImplemented: PyValue
    /// Constructors of built-in classes (`int(x)`, `list(it)`), keyed by class.
    var constructors: [ObjectIdentifier: NativeFunction] = [:]
    /// Set-up of instances of Python subclasses of built-in classes (Exception's args).
    /// Initializers of native classes a Python subclass inherits (dict, list, exceptions), by class.
    public var nativeInitializers: [ObjectIdentifier: (Interpreter, PyInstance, Arguments) throws -> Void] = [:]
    /// Methods of built-in classes that Python subclasses inherit (Exception.__init__, …).
    var nativeMethods: [ObjectIdentifier: [String: PyBuiltinFunction]] = [:]

    init() {
        let object = PyClass(name: "object", bases: [], kind: .object)
        object.mro = [object]
        self.object = object
        func make(_ name: String, _ kind: NativeKind, _ bases: [PyClass]? = nil) -> PyClass {
            let cls = PyClass(name: name, bases: bases ?? [object], kind: kind)
            var mro = [cls]
            for base in cls.bases { for c in base.mro where !mro.contains(where: { $0 === c }) { mro.append(c) } }
            cls.mro = mro
            return cls
        }
        type = make("type", .type)
        noneType = make("NoneType", .none)
        int = make("int", .int)
        bool = make("bool", .bool, [int])
        float = make("float", .float)
        str = make("str", .str)
        bytes = make("bytes", .bytes)
        tuple = make("tuple", .tuple)
        list = make("list", .list)
        dict = make("dict", .dict)
        set = make("set", .set)
        frozenset = make("frozenset", .frozenset)
        range = make("range", .range)
        slice = make("slice", .slice)
        function = make("function", .function)
        builtinFunction = make("builtin_function_or_method", .builtinFunction)
        method = make("method", .method)
        module = make("module", .module)
        property = make("property", .property)
        staticmethod = make("staticmethod", .staticmethod)
        classmethod = make("classmethod", .classmethod)
        generator = make("generator", .generator)
        ellipsisType = make("ellipsis", .other)
        standIn = make("StandIn", .other)
        baseException = make("BaseException", .baseException)
        exception = make("Exception", .baseException, [baseException])
        systemExit = make("SystemExit", .baseException, [baseException])
        keyboardInterrupt = make("KeyboardInterrupt", .baseException, [baseException])
        typeError = make("TypeError", .baseException, [exception])
        valueError = make("ValueError", .baseException, [exception])
        attributeError = make("AttributeError", .baseException, [exception])
        nameError = make("NameError", .baseException, [exception])
        unboundLocalError = make("UnboundLocalError", .baseException, [nameError])
        lookupError = make("LookupError", .baseException, [exception])
        keyError = make("KeyError", .baseException, [lookupError])
        indexError = make("IndexError", .baseException, [lookupError])
        importError = make("ImportError", .baseException, [exception])
        moduleNotFoundError = make("ModuleNotFoundError", .baseException, [importError])
        runtimeError = make("RuntimeError", .baseException, [exception])
        notImplementedError = make("NotImplementedError", .baseException, [runtimeError])
        recursionError = make("RecursionError", .baseException, [runtimeError])
        arithmeticError = make("ArithmeticError", .baseException, [exception])
        zeroDivisionError = make("ZeroDivisionError", .baseException, [arithmeticError])
        overflowError = make("OverflowError", .baseException, [arithmeticError])
        assertionError = make("AssertionError", .baseException, [exception])
        stopIteration = make("StopIteration", .baseException, [exception])
        osError = make("OSError", .baseException, [exception])
        fileNotFoundError = make("FileNotFoundError", .baseException, [osError])
        warning = make("Warning", .baseException, [exception])
        userWarning = make("UserWarning", .baseException, [warning])
        deprecationWarning = make("DeprecationWarning", .baseException, [warning])
        futureWarning = make("FutureWarning", .baseException, [warning])
        runtimeWarning = make("RuntimeWarning", .baseException, [warning])
        ellipsis = .object(PyInstance(cls: ellipsisType))
        notImplemented = .object(PyInstance(cls: make("NotImplementedType", .other)))
    }

    /// Lets other modules (torch) make their classes callable.
    public func registerConstructor(_ cls: PyClass, _ body: @escaping NativeFunction) {
        constructors[ObjectIdentifier(cls)] = body
    }

    /// Every built-in class (each lists itself in its MRO: a cycle tearDown breaks).
    var allClasses: [PyClass] {
        exceptionClasses + [object, type, noneType, bool, int, float, str, bytes, tuple, list, dict, set, frozenset, range, slice,
                            function, builtinFunction, method, module, property, staticmethod, classmethod, generator, ellipsisType, standIn]
            + [ellipsis, notImplemented].compactMap { (($0.asObject) as? PyInstance)?.cls }
    }

    var exceptionClasses: [PyClass] {
        [baseException, exception, typeError, valueError, attributeError, nameError, unboundLocalError, keyError, indexError,
         lookupError, importError, moduleNotFoundError, runtimeError, notImplementedError, zeroDivisionError, overflowError,
         arithmeticError, assertionError, stopIteration, recursionError, osError, fileNotFoundError, warning, userWarning,
         deprecationWarning, futureWarning, runtimeWarning, systemExit, keyboardInterrupt]
    }
}
