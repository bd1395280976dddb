import Foundation
import PythonFrontEnd
import PythonInterpreter

extension Array where Element == Int {
    /// The product of sizes, saturating at Int.max instead of trapping (sizes come from untrusted code).
    var product: Int {
        var total = 1
        for value in self {
            let (result, overflow) = total.multipliedReportingOverflow(by: value)
            if overflow { return Int.max }
            total = result
        }
        return total
    }
}

extension ArraySlice where Element == Int {
    var product: Int { Array(self).product }
}

/// Reads a torch call's arguments by position or keyword, with torch's conversions.
struct TorchArguments {
    let arguments: Arguments
    let interp: Interpreter
    let function: String
    let torch: TorchRuntime

    func value(_ index: Int, _ name: String) -> PyValue? {
        if index >= 0, index < arguments.positional.count { return arguments.positional[index] }
        if let v = arguments.keyword(name) { return v }
        // torch takes numpy's spellings too: torch.cat(xs, axis=1), x.sum(axis=1, keepdims=True)
        switch name {
        case "dim": return arguments.keyword("axis")
        case "keepdim": return arguments.keyword("keepdims")
        case "input": return arguments.keyword("x")
        default: return nil
        }
    }
    func has(_ index: Int, _ name: String) -> Bool {
        guard let v = value(index, name) else { return false }
        return !v.isNone
    }
    func tensor(_ index: Int, _ name: String) throws -> TorchTensor {
        guard let v = value(index, name) else { throw interp.typeError("\(function)() missing required argument '\(name)'") }
        return try torch.tensor(from: v, interp)
    }
    func optionalTensor(_ index: Int, _ name: String) throws -> TorchTensor? {
        guard let v = value(index, name), !v.isNone else { return nil }
        return try torch.tensor(from: v, interp)
    }
    func int(_ index: Int, _ name: String, _ defaultValue: Int? = nil) throws -> Int {
        guard let v = value(index, name), !v.isNone else {
            if let defaultValue { return defaultValue }
            throw interp.typeError("\(function)() missing required argument '\(name)'")
        }
        guard let i = try interp.indexValue(v) else { throw interp.typeError("\(function)(): argument '\(name)' must be int, not \(interp.typeName(v))") }
        return i
    }
    func optionalInt(_ index: Int, _ name: String) throws -> Int? {
        guard let v = value(index, name), !v.isNone else { return nil }
        return try int(index, name)
    }
    func double(_ index: Int, _ name: String, _ defaultValue: Double? = nil) throws -> Double {
        guard let v = value(index, name), !v.isNone else {
            if let defaultValue { return defaultValue }
            throw interp.typeError("\(function)() missing required argument '\(name)'")
        }
        return try interp.floatArgument(v, "\(function)() argument '\(name)'")
    }
    func bool(_ index: Int, _ name: String, _ defaultValue: Bool) throws -> Bool {
        guard let v = value(index, name), !v.isNone else { return defaultValue }
        return try interp.truthy(v)
    }
    /// An int or a tuple of ints, repeated to `count`.
    func ints(_ index: Int, _ name: String, count: Int, _ defaultValue: Int? = nil) throws -> [Int] {
        guard let v = value(index, name), !v.isNone else {
            if let defaultValue { return Array(repeating: defaultValue, count: count) }
            throw interp.typeError("\(function)() missing required argument '\(name)'")
        }
        if let i = try interp.indexValue(v) { return Array(repeating: i, count: count) }
        let items = try interp.materialize(v).map { try interp.intArgument($0, "\(function)() \(name)") }
        if items.count == 1 { return Array(repeating: items[0], count: count) }
        guard items.count == count else { throw interp.valueError("\(function)(): \(name) must have \(count) elements, found \(items.count)") }
        return items
    }
    /// Sizes given as `f(2, 3)`, `f((2, 3))`, `f([2, 3])` or `size=`.
    func sizes(from start: Int) throws -> [Int] {
        let rest = Array(arguments.positional.dropFirst(start))
        if rest.count == 1, case .object(let o) = rest[0], o is PyTuple || o is PyList {
            return try interp.materialize(rest[0]).map { try torch.dimension($0, interp) }
        }
        if rest.isEmpty, let size = arguments.keyword("size") {
            return try interp.materialize(size).map { try torch.dimension($0, interp) }
        }
        return try rest.map { try torch.dimension($0, interp) }
    }
    func dtype(_ name: String = "dtype") throws -> DType? {
        guard let v = arguments.keyword(name), !v.isNone else { return nil }
        return try torch.dtype(from: v, interp)
    }
}

/// The torch that fork mode implements: its module objects, classes and the ops model code calls.
public final class TorchRuntime: InterpreterExtension {
    /// Drops the op tables (their closures hold this runtime) and the classes' methods.
    public func tearDown() {
        functions = [:]
        methods = [:]
        counterStorage = nil
        for cls in [tensorClass, parameterClass, dtypeClass, deviceClass] { cls.dict = [:]; cls.bases = []; cls.ancestors = [] }
    }

    let tensorClass: PyClass
    let parameterClass: PyClass
    let dtypeClass: PyClass
    let deviceClass: PyClass
    let sizeClass: PyClass
    var dtypeObjects: [DType: TorchDTypeObject] = [:]
    lazy var cpu = TorchDevice(torch: self)
    /// Ops by name: torch.NAME(…) and, where a tensor method exists, tensor.NAME(…) with the tensor first.
    var functions: [String: NativeFunction] = [:]
    var methods: [String: NativeFunction] = [:]
    /// Multiply-adds of the ops run so far (the complete figure).
    public var multiplyAdds: Double = 0
    /// A shape an op made that no tensor can have (negative, or past 2^48 elements); the op's
    /// caller turns it into a located error.
    var invalidShape: String?
    static let largestElementCount = 1 << 48
    /// Elements above which a computed tensor keeps only its shape.
    let concreteLimit = 1 << 20
    /// The default dtype for floating tensors.
    var defaultDType: DType = .float32
    /// Active while a thop-style count runs.
    var counterStorage: ThopCounter?
    /// Active while a forward is traced into a program.
    public var trace: ForkTrace?

    init(types: BuiltinTypes) {
        tensorClass = PyClass(name: "Tensor", bases: [types.object], moduleName: "torch")
        tensorClass.mro = [tensorClass, types.object]
        parameterClass = PyClass(name: "Parameter", bases: [tensorClass], moduleName: "torch.nn.parameter")
        parameterClass.mro = [parameterClass, tensorClass, types.object]
        dtypeClass = PyClass(name: "dtype", bases: [types.object], moduleName: "torch")
        dtypeClass.mro = [dtypeClass, types.object]
        deviceClass = PyClass(name: "device", bases: [types.object], moduleName: "torch")
        deviceClass.mro = [deviceClass, types.object]
        sizeClass = types.tuple
        for d in DType.allCases { dtypeObjects[d] = TorchDTypeObject(d, torch: self) }
        registerOps()
    }

    func dtypeObject(_ d: DType) -> TorchDTypeObject { dtypeObjects[d]! }

    func size(_ shape: [Int]) -> PyValue { .tuple(shape.map { .int($0) }) }

    func needsValues(_ what: String, _ interp: Interpreter) -> PyError {
        interp.notSupported("\(what) depends on tensor values, which fork mode does not compute while building a model (it follows shapes only)")
    }

    func call(_ name: String, _ positional: [PyValue], _ keywords: [(String, PyValue)], _ interp: Interpreter) throws -> PyValue {
        guard let f = functions[name] ?? methods[name] else { throw interp.attributeError("module 'torch' has no attribute '\(name)'") }
        return try f(interp, Arguments(positional, keywords: keywords))
    }

    func dimension(_ value: PyValue, _ interp: Interpreter) throws -> Int {
        guard let i = try interp.indexValue(value) else { throw interp.typeError("a size must be an int, not \(interp.typeName(value))") }
        guard i >= 0 else { throw interp.error(interp.types.runtimeError, "Trying to create tensor with negative dimension \(i)") }
        return i
    }

    func dtype(from value: PyValue, _ interp: Interpreter) throws -> DType {
        switch value {
        case .object(let d as TorchDTypeObject): return d.dtype
        case .object(let c as PyClass):
            if c === interp.types.float { return .float64 }
            if c === interp.types.int { return .int64 }
            if c === interp.types.bool { return .bool }
        case .str(let s):
            if let d = DType(rawValue: s.replacingOccurrences(of: "torch.", with: "")) { return d }
        default: break
        }
        throw interp.typeError("not a torch dtype: \(try interp.repr(value))")
    }

    /// A tensor from a tensor, a Python number, or nested lists of numbers.
    func tensor(from value: PyValue, _ interp: Interpreter, dtype: DType? = nil) throws -> TorchTensor {
        switch value {
        case .object(let t as TorchTensor): return t
        case .int(let i): return TorchTensor(shape: [], dtype: dtype ?? .int64, values: [Double(i)], torch: self)
        case .bool(let b): return TorchTensor(shape: [], dtype: dtype ?? .bool, values: [b ? 1 : 0], torch: self)
        case .float(let d): return TorchTensor(shape: [], dtype: dtype ?? defaultDType, values: [d], torch: self)
        case .object(let o) where o is PyList || o is PyTuple:
            let items = try interp.materialize(value)
            if items.isEmpty { return TorchTensor(shape: [0], dtype: dtype ?? defaultDType, values: [], torch: self) }
            let parts = try items.map { try tensor(from: $0, interp) }
            let inner = parts[0].shape
            guard parts.allSatisfy({ $0.shape == inner }) else { throw interp.valueError("expected sequence of equal length lists") }
            var kind: DType = parts.map(\.dtype).reduce(parts[0].dtype, DType.promoted)
            if kind == .float64 && parts.allSatisfy({ $0.dtype != .float64 || $0.shape.isEmpty }) { kind = defaultDType }
            var values: [Double]? = []
            for part in parts { if let v = part.values, values != nil { values! += v } else { values = nil } }
            return TorchTensor(shape: [items.count] + inner, dtype: dtype ?? kind, values: values, torch: self)
        default:
            if let d = try? interp.floatArgument(value, "") { return TorchTensor(shape: [], dtype: dtype ?? defaultDType, values: [d], torch: self) }
            throw interp.typeError("expected a Tensor or a number, found \(interp.typeName(value))")
        }
    }

    func make(_ shape: [Int], _ dtype: DType, values: [Double]? = nil) -> TorchTensor {
        if invalidShape == nil, shape.contains(where: { $0 < 0 }) || shape.product > TorchRuntime.largestElementCount {
            invalidShape = "an op made a tensor of shape \(shape), which no tensor can have (negative size, or more than 2^48 elements)"
        }
        let keep = values != nil && shape.product <= concreteLimit && values!.count == shape.product
        return TorchTensor(shape: shape, dtype: dtype, values: keep ? values : nil, torch: self)
    }

    func normalizedDimension(_ dim: Int, _ rank: Int, _ interp: Interpreter) throws -> Int {
        let r = Swift.max(rank, 1)
        let d = dim < 0 ? dim + r : dim
        guard d >= 0 && d < r else {
            throw interp.error(interp.types.indexError, "Dimension out of range (expected to be in range of [\(-r), \(r - 1)], but got \(dim))")
        }
        return d
    }

    func broadcast(_ a: [Int], _ b: [Int], _ interp: Interpreter) throws -> [Int] {
        let n = Swift.max(a.count, b.count)
        var out = [Int](repeating: 1, count: n)
        for i in 0..<n {
            let x = i < n - a.count ? 1 : a[i - (n - a.count)]
            let y = i < n - b.count ? 1 : b[i - (n - b.count)]
            if x == y || y == 1 { out[i] = x } else if x == 1 { out[i] = y } else {
                throw interp.error(interp.types.runtimeError, "The size of tensor a (\(x)) must match the size of tensor b (\(y)) at non-singleton dimension \(i)")
            }
        }
        return out
    }

    /// Values of `t` laid out over `shape` (which t broadcasts to).
    func expandedValues(_ t: TorchTensor, to shape: [Int]) -> [Double]? {
        guard let values = t.values else { return nil }
        if t.shape == shape { return values }
        let total = shape.product
        let rank = shape.count
        let padded = [Int](repeating: 1, count: rank - t.shape.count) + t.shape
        var strides = [Int](repeating: 0, count: rank)
        var s = 1
        for i in stride(from: rank - 1, through: 0, by: -1) {
            strides[i] = padded[i] == 1 ? 0 : s
            s *= padded[i]
        }
        var out = [Double](repeating: 0, count: total)
        var index = [Int](repeating: 0, count: rank)
        for k in 0..<total {
            var offset = 0
            for i in 0..<rank { offset += index[i] * strides[i] }
            out[k] = values[offset]
            var i = rank - 1
            while i >= 0 { index[i] += 1; if index[i] < shape[i] { break }; index[i] = 0; i -= 1 }
        }
        return out
    }

    func elementwise(_ a: TorchTensor, _ b: TorchTensor, dtype: DType, _ interp: Interpreter, _ f: (Double, Double) -> Double) throws -> TorchTensor {
        let shape = try broadcast(a.shape, b.shape, interp)
        let total = shape.product
        guard total <= concreteLimit, let x = expandedValues(a, to: shape), let y = expandedValues(b, to: shape) else {
            return make(shape, dtype)
        }
        var out = [Double](repeating: 0, count: total)
        for i in 0..<total { out[i] = f(x[i], y[i]) }
        if !dtype.isFloatingPoint && dtype != .bool { for i in 0..<total { out[i] = out[i].rounded(.towardZero) } }
        return make(shape, dtype, values: out)
    }

    func mapValues(_ t: TorchTensor, dtype: DType? = nil, _ f: (Double) -> Double) -> TorchTensor {
        make(t.shape, dtype ?? t.dtype, values: t.values.map { $0.map(f) })
    }

    /// The dtype of `a op b` where either may be a Python number.
    func resultType(_ a: PyValue, _ b: PyValue, _ ta: TorchTensor, _ tb: TorchTensor) -> DType {
        let aIsTensor = { if case .object(is TorchTensor) = a { return true }; return false }()
        let bIsTensor = { if case .object(is TorchTensor) = b { return true }; return false }()
        // a Python number beside a tensor: a float makes integers the default float; complex stays complex
        if aIsTensor && !bIsTensor { return tb.dtype.isFloatingPoint && !ta.dtype.isFloatingPoint && !ta.dtype.isComplex ? defaultDType : ta.dtype }
        if bIsTensor && !aIsTensor { return ta.dtype.isFloatingPoint && !tb.dtype.isFloatingPoint && !tb.dtype.isComplex ? defaultDType : tb.dtype }
        if ta.shape.isEmpty && !tb.shape.isEmpty && ta.dtype.isFloatingPoint == tb.dtype.isFloatingPoint { return tb.dtype }
        if tb.shape.isEmpty && !ta.shape.isEmpty && ta.dtype.isFloatingPoint == tb.dtype.isFloatingPoint { return ta.dtype }
        return DType.promoted(ta.dtype, tb.dtype)
    }

    /// Installs `torch`, `torch.nn.functional`, `torch.nn.init` and the rest into an importer.
    public static func install(into importer: Importer, interpreter: Interpreter) -> TorchRuntime {
        let torch = TorchRuntime(types: interpreter.types)
        interpreter.extensions["torch"] = torch
        // a class of the fork's own deriving from torch.Tensor (its instances would be tensors)
        interpreter.types.nativeInitializers[ObjectIdentifier(torch.tensorClass)] = { interp, instance, _ in
            throw interp.notSupported("\(instance.cls.name) subclasses torch.Tensor; fork mode's tensors cannot be subclassed")
        }
        torch.installModules(importer)
        return torch
    }
}
