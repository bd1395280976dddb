import PythonFrontEnd
import PythonInterpreter

/// Element types, as torch names them.
public enum DType: String, Sendable, CaseIterable {
    case float32, float64, float16, bfloat16, int64, int32, int16, int8, uint8, bool, complex64, complex128

    var isComplex: Bool { self == .complex64 || self == .complex128 }
    /// The real type of a complex one (and itself otherwise).
    var realPart: DType { self == .complex64 ? .float32 : self == .complex128 ? .float64 : self }
    var complexVersion: DType { self == .float64 || self == .complex128 ? .complex128 : .complex64 }

    var isFloatingPoint: Bool { self == .float32 || self == .float64 || self == .float16 || self == .bfloat16 }
    var itemSize: Int {
        switch self {
        case .complex128: return 16
        case .float64, .int64, .complex64: return 8
        case .float32, .int32: return 4
        case .float16, .bfloat16, .int16: return 2
        case .int8, .uint8, .bool: return 1
        }
    }
    /// Type promotion for binary ops (torch.result_type on tensors of these kinds).
    static func promoted(_ a: DType, _ b: DType) -> DType {
        if a == b { return a }
        let order: [DType] = [.bool, .uint8, .int8, .int16, .int32, .int64, .float16, .bfloat16, .float32, .float64, .complex64, .complex128]
        if a.isComplex || b.isComplex { return (a.realPart == .float64 || b.realPart == .float64) ? .complex128 : .complex64 }
        if a.isFloatingPoint != b.isFloatingPoint { return a.isFloatingPoint ? a : b }
        return order.firstIndex(of: a)! > order.firstIndex(of: b)! ? a : b
    }
}

/// A torch tensor in fork mode: always a shape and a dtype; values only where code computes
/// with them (small tensors made from Python numbers: drop-path rates, strides, anchors).
public final class TorchTensor: PyObject, NativeObject {
    public var shape: [Int]
    public var dtype: DType
    /// Row-major values when known.
    public var values: [Double]?
    public var requiresGrad: Bool
    public var isParameter = false
    /// While a forward is traced (`TorchRuntime.trace`): the program value this tensor holds.
    var symbol: Int?
    /// A tensor made by basic indexing of a tensor whose values fork mode knows, with the base's
    /// flat offsets it views: an in-place change to it writes through to the base, as PyTorch's
    /// shared storage does (`ref[..., 1].div_(w - 1)`).
    var valueView: (base: TorchTensor, offsets: [Int])?
    /// A traced complex tensor's imaginary part (its `symbol` is the real part); nil: zero.
    var imaginarySymbol: Int?
    /// The state_dict key of a parameter or buffer, named before a trace (its program constant's name).
    var stateName: String?
    /// Attributes set by code on a tensor (`p._no_weight_decay = True`).
    var extra: [String: PyValue] = [:]
    let torch: TorchRuntime

    init(shape: [Int], dtype: DType, values: [Double]? = nil, requiresGrad: Bool = false, torch: TorchRuntime) {
        self.shape = shape; self.dtype = dtype; self.values = values; self.requiresGrad = requiresGrad; self.torch = torch
    }

    public var count: Int { shape.product }

    /// An integer tensor's element (held as a Double) as an Int: out-of-range values saturate as
    /// x86's conversion of an int64 overflow does in PyTorch (NaN: Int.min), never a trap.
    static func integer(_ value: Double) -> Int {
        guard !value.isNaN else { return Int.min }
        if value >= 9.223372036854775807e18 { return Int.max }
        if value <= -9.223372036854775808e18 { return Int.min }
        return Int(value)
    }

    public func pythonClass(_ interpreter: Interpreter) -> PyClass { isParameter ? torch.parameterClass : torch.tensorClass }

    public func representation(_ interpreter: Interpreter) -> String {
        if let values, values.count <= 16 {
            let text = values.map { dtype.isFloatingPoint ? Interpreter.floatRepresentation($0) : String(TorchTensor.integer($0)) }.joined(separator: ", ")
            return shape.isEmpty ? "tensor(\(text))" : "tensor([\(text)])"
        }
        return "tensor(shape=\(shape), dtype=torch.\(dtype.rawValue))"
    }

    public func attribute(_ name: String, _ interp: Interpreter) throws -> PyValue? {
        switch name {
        case "shape": return torch.size(shape)
        case "dtype": return .object(torch.dtypeObject(dtype))
        case "device": return .object(torch.cpu)
        case "ndim": return .int(shape.count)
        case "data": return .object(self)
        case "requires_grad": return .bool(requiresGrad)
        case "is_cuda", "is_sparse", "is_quantized", "is_meta": return .bool(false)
        case "grad", "grad_fn": return PyValue.none
        case "T", "mT":
            return try torch.call("permute", [.object(self)] + (shape.count < 2 ? [] : (name == "T" ? Array(0..<shape.count).reversed() : Array(0..<shape.count - 2) + [shape.count - 1, shape.count - 2]).map { .int($0) }), [], interp)
        case "real", "imag":
            return try torch.call(name, [.object(self)], [], interp)
        case "is_leaf": return .bool(true)
        case "layout": return .str("torch.strided")
        default: break
        }
        if let v = extra[name] { return v }
        if let op = torch.methods[name] {
            return .object(PyBuiltinFunction(name, receiver: .object(self)) { interp, a in
                try op(interp, Arguments([.object(self)] + a.positional, keywords: a.keywords))
            })
        }
        return nil
    }

    public func setAttribute(_ name: String, _ value: PyValue, _ interp: Interpreter) throws -> Bool {
        switch name {
        case "data":
            guard case .object(let other as TorchTensor) = value else { return false }
            shape = other.shape; dtype = other.dtype; values = other.values
        case "requires_grad": requiresGrad = try interp.truthy(value)
        default: extra[name] = value
        }
        return true
    }

    public func binary(_ op: BinaryOperator, _ other: PyValue, reflected: Bool, _ interp: Interpreter) throws -> PyValue? {
        let name: String
        switch op {
        case .add: name = "add"
        case .subtract: name = "sub"
        case .multiply: name = "mul"
        case .divide: name = "div"
        case .floorDivide: name = "floor_divide"
        case .modulo: name = "remainder"
        case .power: name = "pow"
        case .matrixMultiply: name = "matmul"
        case .bitAnd: name = "logical_and"
        case .bitOr: name = "logical_or"
        case .bitXor: name = "logical_xor"
        case .leftShift, .rightShift: return nil
        }
        let operands: [PyValue] = reflected ? [other, .object(self)] : [.object(self), other]
        return try torch.call(name, operands, [], interp)
    }

    public func inPlace(_ op: BinaryOperator, _ other: PyValue, _ interp: Interpreter) throws -> PyValue? {
        guard case .object(let result as TorchTensor)? = try binary(op, other, reflected: false, interp) else { return nil }
        // `x += y` keeps x's identity (and its shape: torch refuses to broadcast an in-place op)
        if result.shape != shape {
            throw interp.error(interp.types.runtimeError, "output with shape \(shape) doesn't match the broadcast shape \(result.shape)")
        }
        values = result.values
        torch.writeThrough(self)
        // a traced forward: x now holds the sum's program value (or, unrecorded, nothing)
        if let trace = torch.trace {
            symbol = result.symbol
            imaginarySymbol = result.imaginarySymbol
            if trace.poisoned[ObjectIdentifier(result)] != nil { trace.poisoned[ObjectIdentifier(self)] = self }
            // `x += y`: tensors sharing x's storage are stale from here on
            trace.changedInPlace(self, site: interp.innermostSite { !$0.hasPrefix("<") })
        }
        return .object(self)
    }

    public func unary(_ op: UnaryOperator, _ interp: Interpreter) throws -> PyValue? {
        switch op {
        case .minus: return try torch.call("neg", [.object(self)], [], interp)
        case .plus: return .object(self)
        case .invert: return try torch.call("logical_not", [.object(self)], [], interp)
        case .not: return nil
        }
    }

    public func compare(_ op: CompareOperator, _ other: PyValue, _ interp: Interpreter) throws -> PyValue? {
        let names: [CompareOperator: String] = [.equal: "eq", .notEqual: "ne", .less: "lt", .lessEqual: "le", .greater: "gt", .greaterEqual: "ge"]
        guard let name = names[op] else { return nil }
        if case .none = other { return .bool(op == .notEqual) }
        if case .object(let o) = other, !(o is TorchTensor), (try? interp.floatArgument(other, "")) == nil { return .bool(op == .notEqual) }
        return try torch.call(name, [.object(self), other], [], interp)
    }

    public func item(_ index: PyValue, _ interp: Interpreter) throws -> PyValue? {
        // through the op table, so a traced forward records the indexing
        try torch.call("__getitem__", [.object(self), index], [], interp)
    }

    public func setItem(_ index: PyValue, _ value: PyValue, _ interp: Interpreter) throws -> Bool {
        _ = try torch.call("__setitem__", [.object(self), index, value], [], interp)
        return true
    }

    public func length(_ interp: Interpreter) throws -> Int? {
        guard let first = shape.first else { throw interp.typeError("len() of a 0-d tensor") }
        return first
    }

    public func iterate(_ interp: Interpreter) throws -> [PyValue]? {
        guard let first = shape.first else { throw interp.typeError("iteration over a 0-d tensor") }
        return try (0..<first).map { try torch.call("__getitem__", [.object(self), .int($0)], [], interp) }
    }

    public func truthValue(_ interp: Interpreter) throws -> Bool? {
        guard count == 1 else {
            throw interp.error(interp.types.runtimeError, "Boolean value of Tensor with more than one value is ambiguous")
        }
        return try scalar(interp) != 0
    }

    public func index(_ interp: Interpreter) throws -> Int? {
        guard !dtype.isFloatingPoint, count == 1 else { return nil }
        return Int(try scalar(interp))
    }

    public func floatValue(_ interp: Interpreter) throws -> Double? {
        guard count == 1 else { return nil }
        return try scalar(interp)
    }

    public func classForSubclassing(_ interpreter: Interpreter) -> PyClass? { nil }

    public func tearDown() { extra = [:] }

    public func deepCopied(_ interpreter: Interpreter) throws -> PyValue? {
        let copy = TorchTensor(shape: shape, dtype: dtype, values: values, requiresGrad: requiresGrad, torch: torch)
        copy.isParameter = isParameter
        copy.extra = extra
        return .object(copy)
    }

    /// The single value, or a located error when the tensor holds no values (shape-only).
    func scalar(_ interp: Interpreter) throws -> Double {
        guard let values else { throw torch.needsValues("this tensor's value", interp) }
        guard values.count == 1 else {
            throw interp.error(interp.types.runtimeError, "a Tensor with \(values.count) elements cannot be converted to Scalar")
        }
        return values[0]
    }
}

extension Interpreter {
    public static func floatRepresentation(_ d: Double) -> String {
        let text = String(format4: d)
        return text
    }
}

extension String {
    init(format4 value: Double) {
        if value.isNaN { self = "nan"; return }
        if value.isInfinite { self = value < 0 ? "-inf" : "inf"; return }
        let scaled = (value * 10_000).rounded() / 10_000
        var text = "\(scaled)"
        if text.hasSuffix(".0") { text = String(text.dropLast(1)) }
        self = text
    }
}

/// `torch.float32` and friends.
public final class TorchDTypeObject: PyObject, NativeObject {
    let dtype: DType
    unowned let torch: TorchRuntime
    init(_ dtype: DType, torch: TorchRuntime) { self.dtype = dtype; self.torch = torch }
    public func pythonClass(_ interpreter: Interpreter) -> PyClass { torch.dtypeClass }
    public func representation(_ interpreter: Interpreter) -> String { "torch.\(dtype.rawValue)" }
    public func attribute(_ name: String, _ interp: Interpreter) throws -> PyValue? {
        switch name {
        case "is_floating_point": return .bool(dtype.isFloatingPoint)
        case "itemsize": return .int(dtype.itemSize)
        case "is_complex": return .bool(false)
        case "is_signed": return .bool(dtype != .uint8 && dtype != .bool)
        default: return nil
        }
    }
}

/// `torch.device('cpu')`: fork mode runs on the CPU only.
public final class TorchDevice: PyObject, NativeObject {
    unowned let torch: TorchRuntime
    init(torch: TorchRuntime) { self.torch = torch }
    public func pythonClass(_ interpreter: Interpreter) -> PyClass { torch.deviceClass }
    public func representation(_ interpreter: Interpreter) -> String { "device(type='cpu')" }
    public func attribute(_ name: String, _ interp: Interpreter) throws -> PyValue? {
        switch name {
        case "type": return .str("cpu")
        case "index": return PyValue.none
        default: return nil
        }
    }
    public func compare(_ op: CompareOperator, _ other: PyValue, _ interp: Interpreter) throws -> PyValue? {
        guard op == .equal || op == .notEqual else { return nil }
        var same = false
        if case .str(let s) = other { same = s == "cpu" }
        if case .object(is TorchDevice) = other { same = true }
        return .bool(op == .equal ? same : !same)
    }
}
