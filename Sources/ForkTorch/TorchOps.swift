import Foundation
import PythonFrontEnd
import PythonInterpreter

extension TorchRuntime {
    /// Registers `name` as torch.name; `method: true` also makes it tensor.name.
    func op(_ names: [String], method: Bool = true, function: Bool = true, _ body: @escaping (TorchArguments) throws -> PyValue) {
        for name in names {
            let f: NativeFunction = { [unowned self] interp, a in
                let arguments = TorchArguments(arguments: a, interp: interp, function: name, torch: self)
                if name == "__setitem__", let trace = self.trace {
                    trace.pinTarget(of: arguments) { try TraceStep(torch: self, trace: trace, name: name, a: arguments, result: .none, outputs: []).value($0) }
                }
                let result = try body(arguments)
                // an in-place op on a view of known values changes the viewed tensor too
                if name == "__setitem__" || (name.hasSuffix("_") && !name.hasPrefix("_")),
                   case .object(let target as TorchTensor)? = a.positional.first, target.valueView != nil {
                    self.writeThrough(target)
                }
                if let problem = self.invalidShape {
                    self.invalidShape = nil
                    throw interp.error(interp.types.runtimeError, "torch.\(name): \(problem)")
                }
                if let trace = self.trace { self.record(name, arguments, result, trace) }
                return result
            }
            if function { functions[name] = f }
            if method { methods[name] = f }
        }
    }

    func wrap(_ t: TorchTensor) -> PyValue { .object(t) }

    func registerOps() {
        registerCreation()
        registerElementwise()
        registerReductions()
        registerShapes()
        registerLinearAlgebra()
        registerTensorMethods()
        registerFunctional()
        registerFourier()
    }

    // MARK: torch.fft and complex tensors

    func registerFourier() {
        /// The dims an fft transforms (`dim`, else the last `count` or, with `s`, the last len(s)), and the sizes `s` or `n` ask for.
        func plan(_ a: TorchArguments, _ t: TorchTensor, defaultCount: Int?) throws -> (dims: [Int], sizes: [Int?]) {
            var requested: [Int?] = []
            if let n = a.value(1, defaultCount == 1 ? "n" : "s"), !n.isNone {
                if let i = try a.interp.indexValue(n) { requested = [i] }
                else { requested = try a.interp.materialize(n).map { $0.isNone ? nil : try a.interp.intArgument($0, "s") } }
            }
            var dims: [Int]
            if let d = a.value(2, "dim"), !d.isNone {
                if let i = try a.interp.indexValue(d) { dims = [i] }
                else { dims = try a.interp.materialize(d).map { try a.interp.intArgument($0, "dim") } }
            } else if let count = defaultCount {
                dims = Array((t.shape.count - count)..<t.shape.count)
            } else {
                dims = requested.isEmpty ? Array(0..<t.shape.count) : Array((t.shape.count - requested.count)..<t.shape.count)
            }
            dims = try dims.map { try self.normalizedDimension($0, t.shape.count, a.interp) }
            if requested.isEmpty { requested = Array(repeating: nil, count: dims.count) }
            guard requested.count == dims.count else { throw a.interp.error(a.interp.types.runtimeError, "fft: s and dim must have the same length") }
            return (dims, requested)
        }
        for (name, count) in [("fft", 1), ("ifft", 1), ("fft2", 2), ("ifft2", 2), ("fftn", -1), ("ifftn", -1),
                              ("rfft", 1), ("rfft2", 2), ("rfftn", -1), ("irfft", 1), ("irfft2", 2), ("irfftn", -1), ("hfft", 1), ("ihfft", 1)] {
            op(["fft." + name], method: false) { a in
                let t = try a.tensor(0, "input")
                let (dims, sizes) = try plan(a, t, defaultCount: count > 0 ? count : nil)
                var shape = t.shape
                for (d, s) in zip(dims, sizes) { if let s { shape[d] = s } }
                let last = dims.last ?? (shape.count - 1)
                var dtype = t.dtype.isComplex ? t.dtype : (t.dtype.isFloatingPoint ? t.dtype : self.defaultDType).complexVersion
                if name.hasPrefix("r") || name == "ihfft" {
                    shape[last] = (sizes.last.flatMap { $0 } ?? t.shape[last]) / 2 + 1
                } else if name.hasPrefix("ir") || name == "hfft" {
                    shape[last] = sizes.last.flatMap { $0 } ?? 2 * (t.shape[last] - 1)
                    dtype = dtype.realPart
                }
                return self.wrap(self.make(shape, dtype))
            }
        }
        op(["fft.fftshift", "fft.ifftshift"], method: false) { a in
            let t = try a.tensor(0, "input")
            return self.wrap(self.make(t.shape, t.dtype))
        }
        op(["fft.fftfreq", "fft.rfftfreq"], method: false) { a in
            let n = try a.int(0, "n")
            let d = try a.double(1, "d", 1)
            guard n > 0, n <= self.concreteLimit else { throw a.interp.error(a.interp.types.runtimeError, "fftfreq: n must be positive and at most \(self.concreteLimit)") }
            let values: [Double]
            if a.function == "fft.rfftfreq" { values = (0...(n / 2)).map { Double($0) / (Double(n) * d) } }
            else { values = (0..<n).map { Double($0 < (n + 1) / 2 ? $0 : $0 - n) / (Double(n) * d) } }
            return self.wrap(self.make([values.count], try a.dtype() ?? self.defaultDType, values: values))
        }
        op(["view_as_real"]) { a in
            let t = try a.tensor(0, "input")
            return self.wrap(self.make(t.shape + [2], t.dtype.realPart))
        }
        op(["view_as_complex"]) { a in
            let t = try a.tensor(0, "input")
            guard t.shape.last == 2 else { throw a.interp.error(a.interp.types.runtimeError, "Tensor must have a last dimension of size 2") }
            return self.wrap(self.make(Array(t.shape.dropLast()), t.dtype.complexVersion))
        }
        op(["complex", "polar"], method: false) { a in
            let x = try a.tensor(0, "real"), y = try a.tensor(1, "imag")
            return self.wrap(self.make(try self.broadcast(x.shape, y.shape, a.interp), x.dtype.complexVersion))
        }
        op(["angle", "conj", "conj_physical", "resolve_neg"]) { a in
            let t = try a.tensor(0, "input")
            return self.wrap(self.make(t.shape, a.function == "angle" ? t.dtype.realPart : t.dtype))
        }
    }

    // MARK: creation

    func registerCreation() {
        for name in ["zeros", "ones", "empty", "rand", "randn"] {
            op([name], method: false) { a in
                let shape = try a.sizes(from: 0)
                let dtype = try a.dtype() ?? self.defaultDType
                let count = shape.product
                let fill: Double? = name == "zeros" ? 0 : name == "ones" ? 1 : name == "empty" ? 0 : nil
                // random values stay unknown: building never needs them, and computing with them
                // (Gram-Schmidt over random filters) would cost what PyTorch's kernels cost
                let values: [Double]? = count <= self.concreteLimit ? fill.map { [Double](repeating: $0, count: count) } : nil
                return self.wrap(self.make(shape, dtype, values: values))
            }
        }
        op(["full"], method: false) { a in
            let shape = try a.interp.materialize(a.value(0, "size") ?? .tuple([])).map { try self.dimension($0, a.interp) }
            let fill = try a.double(1, "fill_value")
            let dtype = try a.dtype() ?? { if case .int? = a.value(1, "fill_value") { return DType.int64 }; if case .bool? = a.value(1, "fill_value") { return .bool }; return self.defaultDType }()
            return self.wrap(self.make(shape, dtype, values: [Double](repeating: fill, count: Swift.min(shape.product, self.concreteLimit + 1))))
        }
        for name in ["zeros_like", "ones_like", "empty_like", "rand_like", "randn_like", "full_like"] {
            op([name], method: false) { a in
                let t = try a.tensor(0, "input")
                let dtype = try a.dtype() ?? t.dtype
                let fill: Double? = name == "zeros_like" || name == "empty_like" ? 0 : name == "ones_like" ? 1 : name == "full_like" ? try a.double(1, "fill_value") : nil
                let count = t.count
                let values: [Double]? = count <= self.concreteLimit ? fill.map { [Double](repeating: $0, count: count) } : nil
                return self.wrap(self.make(t.shape, dtype, values: values))
            }
        }
        op(["randint"], method: false) { a in
            let high = a.arguments.positional.count >= 3 ? try a.int(1, "high") : try a.int(0, "high")
            let low = a.arguments.positional.count >= 3 ? try a.int(0, "low") : 0
            let size = try a.interp.materialize(a.value(a.arguments.positional.count >= 3 ? 2 : 1, "size") ?? .tuple([])).map { try self.dimension($0, a.interp) }
            let values = self.pseudoRandom(size.product, normal: false).map { $0.map { Double(low) + (Double(high - low) * $0).rounded(.down) } }
            return self.wrap(self.make(size, try a.dtype() ?? .int64, values: values))
        }
        op(["arange"], method: false) { a in
            let numbers = a.arguments.positional
            let isFloat = numbers.contains { if case .float = $0 { return true }; if case .object(let t as TorchTensor) = $0 { return t.dtype.isFloatingPoint }; return false }
            var start = 0.0, end = 0.0, step = 1.0
            let d = try numbers.map { try a.interp.floatArgument($0, "arange()") }
            switch d.count {
            case 1: end = d[0]
            case 2: start = d[0]; end = d[1]
            case 3: start = d[0]; end = d[1]; step = d[2]
            default:
                end = try a.double(-1, "end")
                start = try a.double(-1, "start", 0)
                step = try a.double(-1, "step", 1)
            }
            guard step != 0 else { throw a.interp.error(a.interp.types.runtimeError, "step must be nonzero") }
            let span = ((end - start) / step).rounded(.up)
            guard span.isFinite, span < Double(TorchRuntime.largestElementCount) else {
                throw a.interp.error(a.interp.types.runtimeError, "arange(\(start), \(end), \(step)): the range has too many elements or is not finite")
            }
            let count = Swift.max(0, Int(span))
            let dtype = try a.dtype() ?? (isFloat ? self.defaultDType : .int64)
            return self.wrap(self.make([count], dtype, values: count <= self.concreteLimit ? (0..<count).map { start + Double($0) * step } : nil))
        }
        op(["linspace", "logspace"], method: false) { a in
            let start = try a.double(0, "start"), end = try a.double(1, "end")
            let steps = try a.int(2, "steps")
            guard steps >= 0 else { throw a.interp.error(a.interp.types.runtimeError, "number of steps must be non-negative") }
            guard steps <= self.concreteLimit else { return self.wrap(self.make([steps], try a.dtype() ?? self.defaultDType)) }
            var values = (0..<steps).map { steps == 1 ? start : start + (end - start) * Double($0) / Double(steps - 1) }
            // torch.linspace computes the second half from the end, as PyTorch's kernel does
            if steps > 1 {
                let stepSize = (end - start) / Double(steps - 1)
                let half = steps / 2
                for i in 0..<steps { values[i] = i < half ? start + stepSize * Double(i) : end - stepSize * Double(steps - i - 1) }
                values = values.map { Double(Float($0)) }
            }
            if a.function == "logspace" { values = values.map { Foundation.pow(10, $0) } }
            return self.wrap(self.make([steps], try a.dtype() ?? self.defaultDType, values: values))
        }
        op(["eye"], method: false) { a in
            let n = try a.int(0, "n"), m = try a.int(1, "m", n)
            guard n >= 0, m >= 0 else { throw a.interp.error(a.interp.types.runtimeError, "n and m must be non-negative, got \(n), \(m)") }
            guard [n, m].product <= self.concreteLimit else { return self.wrap(self.make([n, m], try a.dtype() ?? self.defaultDType)) }
            var values = [Double](repeating: 0, count: n * m)
            for i in 0..<Swift.min(n, m) where n * m <= self.concreteLimit { values[i * m + i] = 1 }
            return self.wrap(self.make([n, m], try a.dtype() ?? self.defaultDType, values: values))
        }
        op(["tensor", "as_tensor", "asarray"], method: false) { a in
            guard let v = a.value(0, "data") else { throw a.interp.typeError("tensor() missing data") }
            let t = try self.tensor(from: v, a.interp, dtype: try a.dtype())
            if case .object(let existing as TorchTensor) = v, a.function == "tensor" {
                return self.wrap(self.make(existing.shape, try a.dtype() ?? existing.dtype, values: existing.values))
            }
            return self.wrap(t)
        }
        for (name, dtype) in [("FloatTensor", DType.float32), ("LongTensor", .int64), ("IntTensor", .int32), ("BoolTensor", .bool), ("HalfTensor", .float16), ("DoubleTensor", .float64)] {
            op([name], method: false) { a in
                if a.arguments.positional.count == 1, case .object(let o) = a.arguments.positional[0], o is PyList || o is PyTuple {
                    return self.wrap(try self.tensor(from: a.arguments.positional[0], a.interp, dtype: dtype))
                }
                let shape = try a.sizes(from: 0)
                return self.wrap(self.make(shape, dtype, values: [Double](repeating: 0, count: Swift.min(shape.product, self.concreteLimit + 1))))
            }
        }
        op(["meshgrid"], method: false) { a in
            let tensors: [TorchTensor]
            if a.arguments.positional.count == 1, case .object(let o) = a.arguments.positional[0], o is PyList || o is PyTuple {
                tensors = try a.interp.materialize(a.arguments.positional[0]).map { try self.tensor(from: $0, a.interp) }
            } else {
                tensors = try a.arguments.positional.map { try self.tensor(from: $0, a.interp) }
            }
            let xy: Bool = { if case .str("xy")? = a.arguments.keyword("indexing") { return true }; return false }()
            var sizes = tensors.map { $0.count }
            if xy && sizes.count >= 2 { sizes.swapAt(0, 1) }
            let total = sizes.product
            var out: [PyValue] = []
            for (k, t) in tensors.enumerated() {
                var axis = k
                if xy && tensors.count >= 2 && k < 2 { axis = 1 - k }
                var values: [Double]? = nil
                if let v = t.values, total <= self.concreteLimit {
                    var result = [Double](repeating: 0, count: total)
                    var index = [Int](repeating: 0, count: sizes.count)
                    for i in 0..<total {
                        result[i] = v[index[axis]]
                        var j = sizes.count - 1
                        while j >= 0 { index[j] += 1; if index[j] < sizes[j] { break }; index[j] = 0; j -= 1 }
                    }
                    values = result
                }
                out.append(self.wrap(self.make(sizes, t.dtype, values: values)))
            }
            return .tuple(out)
        }
        // fork mode's numpy arrays are tensors already
        op(["from_numpy"], method: false) { a in self.wrap(try a.tensor(0, "ndarray")) }
    }

    /// Deterministic stand-in values for random tensors (fork mode builds shapes; values only
    /// matter where code branches on them, which model construction does not).
    func pseudoRandom(_ count: Int, normal: Bool) -> [Double]? {
        guard count <= concreteLimit else { return nil }
        var state: UInt64 = 0x9E3779B97F4A7C15
        return (0..<count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let u = Double(state >> 11) / Double(1 << 53)
            return normal ? (u - 0.5) * 3.4 : u
        }
    }

    // MARK: elementwise

    func registerElementwise() {
        let unary: [(String, (Double) -> Double)] = [
            ("abs", { Swift.abs($0) }), ("neg", { -$0 }), ("negative", { -$0 }), ("exp", Foundation.exp), ("log", Foundation.log),
            ("log2", Foundation.log2), ("log10", Foundation.log10), ("log1p", Foundation.log1p), ("sqrt", Foundation.sqrt),
            ("rsqrt", { 1 / Foundation.sqrt($0) }), ("sigmoid", { 1 / (1 + Foundation.exp(-$0)) }), ("tanh", Foundation.tanh),
            ("relu", { Swift.max($0, 0) }), ("sin", Foundation.sin), ("cos", Foundation.cos), ("tan", Foundation.tan),
            ("atan", Foundation.atan), ("asin", Foundation.asin), ("acos", Foundation.acos), ("floor", Foundation.floor), ("ceil", Foundation.ceil),
            ("round", { $0.rounded(.toNearestOrEven) }), ("trunc", { $0.rounded(.towardZero) }), ("sign", { $0 > 0 ? 1 : $0 < 0 ? -1 : 0 }),
            ("reciprocal", { 1 / $0 }), ("erf", Foundation.erf), ("square", { $0 * $0 }), ("exp2", Foundation.exp2),
            ("frac", { $0 - $0.rounded(.towardZero) }), ("expm1", Foundation.expm1), ("sinh", Foundation.sinh), ("cosh", Foundation.cosh),
        ]
        for (name, f) in unary {
            let floating = !["abs", "neg", "negative", "relu", "sign", "square", "floor", "ceil", "round", "trunc"].contains(name)
            op([name, name + "_"]) { a in
                let t = try a.tensor(0, "input")
                var dtype = floating && !t.dtype.isFloatingPoint && !t.dtype.isComplex ? self.defaultDType : t.dtype
                if name == "abs" && t.dtype.isComplex { dtype = t.dtype.realPart }
                let result = t.dtype.isComplex ? self.make(t.shape, dtype) : self.mapValues(t, dtype: dtype, f)
                if a.function.hasSuffix("_") { t.values = result.values; return self.wrap(t) }
                return self.wrap(result)
            }
        }
        op(["logical_not"]) { a in
            let t = try a.tensor(0, "input")
            return self.wrap(self.mapValues(t, dtype: .bool) { $0 == 0 ? 1 : 0 })
        }
        op(["isnan", "isinf", "isfinite"]) { a in
            let t = try a.tensor(0, "input")
            return self.wrap(self.mapValues(t, dtype: .bool) { a.function == "isnan" ? ($0.isNaN ? 1 : 0) : a.function == "isinf" ? ($0.isInfinite ? 1 : 0) : ($0.isFinite ? 1 : 0) })
        }
        let binary: [(String, (Double, Double) -> Double)] = [
            ("add", +), ("sub", -), ("subtract", -), ("mul", *), ("multiply", *), ("div", /), ("divide", /), ("true_divide", /),
            ("floor_divide", { Foundation.floor($0 / $1) }), ("remainder", { $0 - Foundation.floor($0 / $1) * $1 }), ("fmod", Foundation.fmod),
            ("pow", Foundation.pow), ("maximum", { Swift.max($0, $1) }), ("minimum", { Swift.min($0, $1) }), ("atan2", Foundation.atan2),
            ("eq", { $0 == $1 ? 1 : 0 }), ("ne", { $0 != $1 ? 1 : 0 }), ("lt", { $0 < $1 ? 1 : 0 }), ("le", { $0 <= $1 ? 1 : 0 }),
            ("gt", { $0 > $1 ? 1 : 0 }), ("ge", { $0 >= $1 ? 1 : 0 }), ("logical_and", { ($0 != 0 && $1 != 0) ? 1 : 0 }),
            ("logical_or", { ($0 != 0 || $1 != 0) ? 1 : 0 }), ("logical_xor", { (($0 != 0) != ($1 != 0)) ? 1 : 0 }),
            ("greater", { $0 > $1 ? 1 : 0 }), ("less", { $0 < $1 ? 1 : 0 }), ("equal_elementwise", { $0 == $1 ? 1 : 0 }),
        ]
        for (name, f) in binary {
            op([name, name + "_"]) { a in
                guard let first = a.value(0, "input"), let second = a.value(1, "other") else {
                    throw a.interp.typeError("\(name)() takes two operands")
                }
                let x = try self.tensor(from: first, a.interp), y = try self.tensor(from: second, a.interp)
                var dtype = self.resultType(first, second, x, y)
                if ["eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor", "greater", "less"].contains(name) { dtype = .bool }
                if ["div", "divide", "true_divide"].contains(name), !dtype.isFloatingPoint, !dtype.isComplex, a.arguments.keyword("rounding_mode") == nil {
                    dtype = self.defaultDType
                }
                if name == "pow", !dtype.isFloatingPoint, !dtype.isComplex, case .float = second { dtype = self.defaultDType }
                var g = f
                if let mode = a.arguments.keyword("rounding_mode"), case .str(let m) = mode {
                    g = m == "floor" ? { Foundation.floor($0 / $1) } : { ($0 / $1).rounded(.towardZero) }
                }
                if let alpha = a.arguments.keyword("alpha"), name.hasPrefix("add") || name.hasPrefix("sub") {
                    let k = try a.interp.floatArgument(alpha, "alpha")
                    g = name.hasPrefix("add") ? { $0 + k * $1 } : { $0 - k * $1 }
                }
                let result = try self.elementwise(x, y, dtype: dtype, a.interp, g)
                if a.function.hasSuffix("_") {
                    guard result.shape == x.shape else {
                        throw a.interp.error(a.interp.types.runtimeError, "output with shape \(x.shape) doesn't match the broadcast shape \(result.shape)")
                    }
                    x.values = result.values
                    return self.wrap(x)
                }
                return self.wrap(result)
            }
        }
        op(["clamp", "clip", "clamp_", "clip_"]) { a in
            let t = try a.tensor(0, "input")
            let low = try a.value(1, "min").flatMap { $0.isNone ? nil : try a.interp.floatArgument($0, "min") }
            let high = try a.value(2, "max").flatMap { $0.isNone ? nil : try a.interp.floatArgument($0, "max") }
            let result = self.mapValues(t) { v in Swift.min(Swift.max(v, low ?? -.infinity), high ?? .infinity) }
            if a.function.hasSuffix("_") { t.values = result.values; return self.wrap(t) }
            return self.wrap(result)
        }
        op(["where"]) { a in
            let condition = try a.tensor(0, "condition")
            guard let first = a.value(1, "input"), let second = a.value(2, "other") else {
                throw self.needsValues("torch.where(condition) with one argument", a.interp)
            }
            let x = try self.tensor(from: first, a.interp), y = try self.tensor(from: second, a.interp)
            let shape = try self.broadcast(try self.broadcast(condition.shape, x.shape, a.interp), y.shape, a.interp)
            let dtype = self.resultType(first, second, x, y)
            guard let c = self.expandedValues(condition, to: shape), let p = self.expandedValues(x, to: shape), let q = self.expandedValues(y, to: shape) else {
                return self.wrap(self.make(shape, dtype))
            }
            return self.wrap(self.make(shape, dtype, values: (0..<c.count).map { c[$0] != 0 ? p[$0] : q[$0] }))
        }
        op(["masked_fill", "masked_fill_"]) { a in
            let t = try a.tensor(0, "input")
            let mask = try a.tensor(1, "mask")
            let shape = try self.broadcast(t.shape, mask.shape, a.interp)
            let fill = try a.double(2, "value")
            var values: [Double]? = nil
            if let x = self.expandedValues(t, to: shape), let m = self.expandedValues(mask, to: shape) {
                values = (0..<x.count).map { m[$0] != 0 ? fill : x[$0] }
            }
            if a.function.hasSuffix("_") { t.values = values; return self.wrap(t) }
            return self.wrap(self.make(shape, t.dtype, values: values))
        }
        op(["lerp"]) { a in
            let x = try a.tensor(0, "input"), y = try a.tensor(1, "end")
            return self.wrap(self.make(try self.broadcast(x.shape, y.shape, a.interp), x.dtype))
        }
    }

    // MARK: reductions

    /// The dimensions a reduction's `dim` names (all when none).
    func reducedDimensions(_ a: TorchArguments, rank: Int, index: Int = 1) throws -> [Int]? {
        guard let v = a.value(index, "dim"), !v.isNone else { return nil }
        if let d = try a.interp.indexValue(v) { return [try normalizedDimension(d, rank, a.interp)] }
        return try a.interp.materialize(v).map { try normalizedDimension(try a.interp.intArgument($0, "dim"), rank, a.interp) }
    }

    func reduce(_ t: TorchTensor, dims: [Int]?, keepDim: Bool, dtype: DType? = nil, _ combine: ([Double]) -> Double) -> TorchTensor {
        let dims = dims ?? Array(0..<t.shape.count)
        var outShape: [Int] = []
        for (i, s) in t.shape.enumerated() {
            if dims.contains(i) { if keepDim { outShape.append(1) } } else { outShape.append(s) }
        }
        guard let values = t.values else { return make(outShape, dtype ?? t.dtype) }
        // group values by their output position
        let rank = t.shape.count
        let keptShape = t.shape.enumerated().map { dims.contains($0.offset) ? 1 : $0.element }
        let outCount = keptShape.product
        var groups = [[Double]](repeating: [], count: outCount)
        var index = [Int](repeating: 0, count: rank)
        for k in 0..<values.count {
            var o = 0
            for i in 0..<rank { o = o * keptShape[i] + (dims.contains(i) ? 0 : index[i]) }
            groups[o].append(values[k])
            var i = rank - 1
            while i >= 0 { index[i] += 1; if index[i] < t.shape[i] { break }; index[i] = 0; i -= 1 }
        }
        if rank == 0 { groups = [values] }
        return make(outShape, dtype ?? t.dtype, values: groups.map(combine))
    }

    func registerReductions() {
        let simple: [(String, ([Double]) -> Double)] = [
            ("sum", { $0.reduce(0, +) }), ("mean", { $0.isEmpty ? .nan : $0.reduce(0, +) / Double($0.count) }), ("prod", { $0.reduce(1, *) }),
            ("amax", { $0.max() ?? -.infinity }), ("amin", { $0.min() ?? .infinity }), ("all", { $0.allSatisfy { $0 != 0 } ? 1 : 0 }),
            ("any", { $0.contains { $0 != 0 } ? 1 : 0 }), ("nansum", { $0.filter { !$0.isNaN }.reduce(0, +) }),
            ("logsumexp", { xs in let m = xs.max() ?? 0; return m + Foundation.log(xs.map { Foundation.exp($0 - m) }.reduce(0, +)) }),
            ("count_nonzero", { Double($0.filter { $0 != 0 }.count) }),
        ]
        for (name, f) in simple {
            op([name]) { a in
                let t = try a.tensor(0, "input")
                let dims = try self.reducedDimensions(a, rank: t.shape.count)
                var dtype: DType? = (name == "all" || name == "any") ? .bool : (name == "count_nonzero" ? .int64 : nil)
                if name == "sum" && !t.dtype.isFloatingPoint { dtype = .int64 }
                if let d = try a.dtype() { dtype = d }
                return self.wrap(self.reduce(t, dims: dims, keepDim: try a.bool(2, "keepdim", false), dtype: dtype, f))
            }
        }
        for name in ["std", "var"] {
            op([name]) { a in
                let t = try a.tensor(0, "input")
                var dims = try self.reducedDimensions(a, rank: t.shape.count)
                if case .bool? = a.value(1, "dim") { dims = nil }
                let correction: Double = try a.arguments.keyword("unbiased").map { try a.interp.truthy($0) ? 1 : 0 } ?? (try a.arguments.keyword("correction").map { try a.interp.floatArgument($0, "correction") } ?? 1)
                return self.wrap(self.reduce(t, dims: dims, keepDim: try a.bool(2, "keepdim", false)) { xs in
                    let m = xs.reduce(0, +) / Double(xs.count)
                    let v = xs.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Swift.max(Double(xs.count) - correction, 0)
                    return name == "std" ? Foundation.sqrt(v) : v
                })
            }
        }
        op(["norm"]) { a in
            let t = try a.tensor(0, "input")
            let p = try a.double(1, "p", 2)
            let dims = try self.reducedDimensions(a, rank: t.shape.count, index: 2)
            return self.wrap(self.reduce(t, dims: dims, keepDim: try a.bool(3, "keepdim", false)) { xs in
                Foundation.pow(xs.map { Foundation.pow(Swift.abs($0), p) }.reduce(0, +), 1 / p)
            })
        }
        for name in ["max", "min", "median", "mode"] {
            op([name]) { a in
                let t = try a.tensor(0, "input")
                if let other = a.value(1, "other"), case .object(is TorchTensor) = other {
                    return try self.call(name == "max" ? "maximum" : "minimum", [.object(t), other], [], a.interp)
                }
                guard let dims = try self.reducedDimensions(a, rank: t.shape.count) else {
                    return self.wrap(self.reduce(t, dims: nil, keepDim: false) { name == "max" ? ($0.max() ?? .nan) : ($0.min() ?? .nan) })
                }
                let keep = try a.bool(2, "keepdim", false)
                let values = self.reduce(t, dims: dims, keepDim: keep) { name == "max" ? ($0.max() ?? .nan) : ($0.min() ?? .nan) }
                let indices = self.reduce(t, dims: dims, keepDim: keep, dtype: .int64) { xs in
                    let target = name == "max" ? xs.max() : xs.min()
                    return Double(xs.firstIndex { $0 == target } ?? 0)
                }
                return self.namedPair(values, indices, a.interp)
            }
        }
        for name in ["argmax", "argmin"] {
            op([name]) { a in
                let t = try a.tensor(0, "input")
                let dims = try self.reducedDimensions(a, rank: t.shape.count)
                return self.wrap(self.reduce(t, dims: dims, keepDim: try a.bool(2, "keepdim", false), dtype: .int64) { xs in
                    let target = name == "argmax" ? xs.max() : xs.min()
                    return Double(xs.firstIndex { $0 == target } ?? 0)
                })
            }
        }
        op(["cumsum", "cumprod", "softmax", "log_softmax", "sort_values"]) { a in
            let t = try a.tensor(0, "input")
            _ = try self.normalizedDimension(try a.int(1, "dim", -1), t.shape.count, a.interp)
            var dtype = try a.dtype() ?? t.dtype
            if (a.function == "softmax" || a.function == "log_softmax") && !dtype.isFloatingPoint { dtype = self.defaultDType }
            if a.function.hasSuffix("softmax"), let v = t.values, t.shape.count <= 1 {
                let m = v.max() ?? 0
                let e = v.map { Foundation.exp($0 - m) }
                let s = e.reduce(0, +)
                return self.wrap(self.make(t.shape, dtype, values: a.function == "softmax" ? e.map { $0 / s } : v.map { $0 - m - Foundation.log(s) }))
            }
            if a.function == "cumsum", let v = t.values, t.shape.count == 1 {
                var total = 0.0
                return self.wrap(self.make(t.shape, dtype, values: v.map { total += $0; return total }))
            }
            return self.wrap(self.make(t.shape, dtype))
        }
        op(["topk"]) { a in
            let t = try a.tensor(0, "input")
            let k = try a.int(1, "k")
            let dim = try self.normalizedDimension(try a.int(2, "dim", -1), t.shape.count, a.interp)
            var shape = t.shape
            guard k <= shape[dim] else { throw a.interp.error(a.interp.types.runtimeError, "selected index k out of range") }
            shape[dim] = k
            var values: [Double]? = nil, indices: [Double]? = nil
            if let v = t.values, t.shape.count == 1 {
                let largest = try a.bool(3, "largest", true)
                let order = v.indices.sorted { largest ? v[$0] > v[$1] : v[$0] < v[$1] }.prefix(k)
                values = order.map { v[$0] }; indices = order.map { Double($0) }
            }
            return self.namedPair(self.make(shape, t.dtype, values: values), self.make(shape, .int64, values: indices), a.interp)
        }
        op(["sort"]) { a in
            let t = try a.tensor(0, "input")
            var values: [Double]? = nil, indices: [Double]? = nil
            if let v = t.values, t.shape.count == 1 {
                let descending = try a.bool(2, "descending", false)
                let order = v.indices.sorted { descending ? v[$0] > v[$1] : v[$0] < v[$1] }
                values = order.map { v[$0] }; indices = order.map { Double($0) }
            }
            return self.namedPair(self.make(t.shape, t.dtype, values: values), self.make(t.shape, .int64, values: indices), a.interp)
        }
        op(["argsort"]) { a in
            let t = try a.tensor(0, "input")
            return self.wrap(self.make(t.shape, .int64))
        }
    }

    /// `(values, indices)` that also answers `.values` and `.indices`.
    func namedPair(_ values: TorchTensor, _ indices: TorchTensor, _ interp: Interpreter) -> PyValue {
        .object(TorchNamedPair(values: values, indices: indices))
    }
}

/// torch.return_types.max and friends: a pair with `.values` and `.indices`.
final class TorchNamedPair: PyObject, NativeObject {
    let values: TorchTensor, indices: TorchTensor
    init(values: TorchTensor, indices: TorchTensor) { self.values = values; self.indices = indices }
    func pythonClass(_ interpreter: Interpreter) -> PyClass { interpreter.types.tuple }
    func attribute(_ name: String, _ interp: Interpreter) throws -> PyValue? {
        switch name {
        case "values": return .object(values)
        case "indices": return .object(indices)
        default: return nil
        }
    }
    func item(_ index: PyValue, _ interp: Interpreter) throws -> PyValue? {
        [PyValue.object(values), .object(indices)][try interp.indexValue(index).map { $0 < 0 ? $0 + 2 : $0 }.flatMap { (0...1).contains($0) ? $0 : nil } ?? { throw interp.error(interp.types.indexError, "tuple index out of range") }()]
    }
    func length(_ interp: Interpreter) throws -> Int? { 2 }
    func iterate(_ interp: Interpreter) throws -> [PyValue]? { [.object(values), .object(indices)] }
}
