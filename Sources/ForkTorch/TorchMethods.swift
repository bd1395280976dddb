import Foundation
import PythonFrontEnd
import PythonInterpreter

extension TorchRuntime {
    func registerTensorMethods() {
        op(["size"], function: false) { a in
            let t = try a.tensor(0, "self")
            if let d = try a.optionalInt(1, "dim") { return .int(t.shape[try self.normalizedDimension(d, t.shape.count, a.interp)]) }
            return self.size(t.shape)
        }
        op(["dim", "ndimension"], function: false) { a in .int(try a.tensor(0, "self").shape.count) }
        op(["numel", "nelement"]) { a in .int(try a.tensor(0, "self").count) }
        op(["element_size"], function: false) { a in .int(try a.tensor(0, "self").dtype.itemSize) }
        op(["is_contiguous", "is_floating_point", "is_complex", "is_signed"]) { a in
            let t = try a.tensor(0, "self")
            switch a.function {
            case "is_floating_point": return .bool(t.dtype.isFloatingPoint)
            case "is_complex": return .bool(false)
            case "is_signed": return .bool(t.dtype != .uint8 && t.dtype != .bool)
            default: return .bool(true)
            }
        }
        op(["is_tensor"], method: false) { a in
            if case .object(is TorchTensor)? = a.value(0, "obj") { return .bool(true) }
            return .bool(false)
        }
        op(["item"], function: false) { a in
            let t = try a.tensor(0, "self")
            let v = try t.scalar(a.interp)
            if t.dtype == .bool { return .bool(v != 0) }
            return t.dtype.isFloatingPoint ? .float(v) : .int(TorchTensor.integer(v))
        }
        op(["tolist"], function: false) { a in
            let t = try a.tensor(0, "self")
            guard let values = t.values else { throw self.needsValues("Tensor.tolist()", a.interp) }
            func convert(_ v: Double) -> PyValue { t.dtype == .bool ? .bool(v != 0) : t.dtype.isFloatingPoint ? .float(v) : .int(TorchTensor.integer(v)) }
            func nest(_ dims: ArraySlice<Int>, _ offset: Int) -> PyValue {
                guard let first = dims.first else { return convert(values[offset]) }
                let block = dims.dropFirst().product
                return .list((0..<first).map { nest(dims.dropFirst(), offset + $0 * block) })
            }
            return nest(t.shape[...], 0)
        }
        op(["numpy"], function: false) { a in throw a.interp.notSupported("Tensor.numpy(): numpy is not available in fork mode") }
        op(["stride"], function: false) { a in
            let t = try a.tensor(0, "self")
            var strides = [Int](repeating: 1, count: t.shape.count)
            for i in stride(from: t.shape.count - 2, through: 0, by: -1) { strides[i] = strides[i + 1] * t.shape[i + 1] }
            if let d = try a.optionalInt(1, "dim") { return .int(strides[try self.normalizedDimension(d, t.shape.count, a.interp)]) }
            return .tuple(strides.map { .int($0) })
        }
        op(["get_device"], function: false) { _ in .int(-1) }
        op(["data_ptr", "storage_offset"], function: false) { _ in .int(0) }
        op(["to", "type"], function: false) { a in
            let t = try a.tensor(0, "self")
            var dtype: DType? = try a.dtype()
            for v in a.arguments.positional.dropFirst() {
                if case .object(let d as TorchDTypeObject) = v { dtype = d.dtype }
                if case .object(let other as TorchTensor) = v { dtype = other.dtype }
                if case .str(let s) = v, let d = DType(rawValue: s.replacingOccurrences(of: "torch.", with: "")) { dtype = d }
            }
            if a.function == "type" && a.arguments.positional.count == 1 && dtype == nil { return .str("torch.FloatTensor") }
            guard let dtype, dtype != t.dtype else { return self.wrap(t) }
            return self.wrap(self.make(t.shape, dtype, values: t.values))
        }
        for (name, dtype) in [("float", DType.float32), ("half", .float16), ("double", .float64), ("long", .int64), ("int", .int32),
                              ("bool", .bool), ("bfloat16", .bfloat16), ("short", .int16), ("byte", .uint8), ("char", .int8)] {
            op([name], function: false) { a in
                let t = try a.tensor(0, "self")
                guard t.dtype != dtype else { return self.wrap(t) }
                return self.wrap(self.make(t.shape, dtype, values: t.values.map { v in dtype.isFloatingPoint ? v : v.map { dtype == .bool ? ($0 != 0 ? 1 : 0) : $0.rounded(.towardZero) } }))
            }
        }
        op(["type_as"], function: false) { a in
            let t = try a.tensor(0, "self"), other = try a.tensor(1, "other")
            return self.wrap(self.make(t.shape, other.dtype, values: t.values))
        }
        for name in ["new_zeros", "new_ones", "new_empty", "new_full"] {
            op([name], function: false) { a in
                let t = try a.tensor(0, "self")
                // new_zeros(2, 3), new_zeros((2, 3)), new_full((2, 3), v)
                let shape: [Int]
                if name == "new_full" || a.arguments.positional.count == 2 || a.arguments.positional.count == 1 {
                    let sizeValue = a.value(1, "size") ?? .tuple([])
                    if let single = try a.interp.indexValue(sizeValue) { shape = [try self.dimension(.int(single), a.interp)] }
                    else { shape = try a.interp.materialize(sizeValue).map { try self.dimension($0, a.interp) } }
                } else {
                    shape = try a.sizes(from: 1)
                }
                let fill: Double = name == "new_ones" ? 1 : name == "new_full" ? try a.double(2, "fill_value") : 0
                return self.wrap(self.make(shape, try a.dtype() ?? t.dtype, values: [Double](repeating: fill, count: Swift.min(shape.product, self.concreteLimit + 1))))
            }
        }
        op(["new_tensor"], function: false) { a in
            let t = try a.tensor(0, "self")
            return self.wrap(try self.tensor(from: a.value(1, "data") ?? .none, a.interp, dtype: try a.dtype() ?? t.dtype))
        }
        // in-place initialisation: values are kept where the tensor has them, else only the shape
        op(["fill_", "zero_"]) { a in
            let t = try a.tensor(0, "self")
            let v = a.function == "zero_" ? 0 : try a.double(1, "value")
            if t.count <= self.concreteLimit { t.values = [Double](repeating: v, count: t.count) }
            return self.wrap(t)
        }
        op(["copy_"], function: false) { a in
            let t = try a.tensor(0, "self"), source = try a.tensor(1, "src")
            _ = try self.broadcast(t.shape, source.shape, a.interp)
            t.values = self.expandedValues(source, to: t.shape)
            return self.wrap(t)
        }
        for name in ["uniform_", "normal_", "bernoulli_", "exponential_", "random_", "cauchy_", "log_normal_", "geometric_", "set_", "apply_", "map_", "index_fill_", "scatter_", "index_copy_", "index_add_", "put_", "masked_scatter_", "resize_"] {
            op([name], function: false) { a in
                let t = try a.tensor(0, "self")
                t.values = nil
                return self.wrap(t)
            }
        }
        op(["register_hook"], function: false) { _ in .none }
        op(["backward"], function: false) { a in throw a.interp.notSupported("Tensor.backward() (training) is not part of fork mode") }
        op(["__len__"], function: false) { a in .int(try a.tensor(0, "self").shape.first ?? 0) }
        op(["__getitem__"], function: false) { a in try self.index(try a.tensor(0, "self"), a.value(1, "index") ?? .none, a.interp) }
        op(["__setitem__"], function: false) { a in
            try self.assign(try a.tensor(0, "self"), a.value(1, "index") ?? .none, a.value(2, "value") ?? .none, a.interp)
            return .none
        }
        op(["result_type"], method: false) { a in
            .object(self.dtypeObject(self.resultType(a.value(0, "tensor") ?? .none, a.value(1, "other") ?? .none, try a.tensor(0, "tensor"), try a.tensor(1, "other"))))
        }
        op(["is_grad_enabled", "is_autocast_enabled", "is_inference_mode_enabled", "is_autocast_cache_enabled", "is_autocast_cpu_enabled"], method: false) { _ in .bool(false) }
        op(["set_autocast_enabled", "clear_autocast_cache", "set_autocast_cache_enabled", "set_autocast_gpu_dtype", "set_rng_state"], method: false) { _ in .none }
        op(["get_rng_state"], method: false) { _ in self.wrap(self.make([5056], .uint8)) }
        op(["get_autocast_gpu_dtype", "get_autocast_cpu_dtype"], method: false) { _ in .object(self.dtypeObject(.float16)) }
        op(["real", "imag"], method: false) { a in
            let t = try a.tensor(0, "input")
            return self.wrap(self.make(t.shape, t.dtype.realPart, values: t.dtype.isComplex || a.function == "imag" ? nil : t.values))
        }
        op(["numel"], method: false) { a in .int(try a.tensor(0, "input").count) }
        op(["manual_seed", "set_grad_enabled", "set_printoptions", "set_num_threads", "set_default_dtype", "use_deterministic_algorithms", "set_flush_denormal"], method: false) { _ in .none }
        op(["get_default_dtype"], method: false) { _ in .object(self.dtypeObject(self.defaultDType)) }
        op(["get_num_threads"], method: false) { _ in .int(1) }
        op(["equal"]) { a in
            let x = try a.tensor(0, "input"), y = try a.tensor(1, "other")
            guard x.shape == y.shape else { return .bool(false) }
            guard let p = x.values, let q = y.values else { throw self.needsValues("torch.equal", a.interp) }
            return .bool(p == q)
        }
        op(["allclose", "isclose"]) { a in
            let x = try a.tensor(0, "input"), y = try a.tensor(1, "other")
            guard let p = x.values, let q = y.values else { throw self.needsValues("torch.allclose", a.interp) }
            return .bool(p.count == q.count && zip(p, q).allSatisfy { Swift.abs($0 - $1) <= 1e-8 + 1e-5 * Swift.abs($1) })
        }
    }

    // MARK: indexing

    /// A component of an index expression.
    enum IndexPart {
        case integer(Int)
        case range(PySlice)
        case newAxis
        case ellipsis
        case tensor(TorchTensor)

        /// `:` — a slice with no start, stop or step.
        var isFullSlice: Bool {
            if case .range(let s) = self { return s.start.isNone && s.stop.isNone && s.step.isNone }
            return false
        }
    }

    func indexParts(_ index: PyValue, _ interp: Interpreter) throws -> [IndexPart] {
        let items: [PyValue]
        if case .object(let tuple as PyTuple) = index { items = tuple.items } else { items = [index] }
        return try items.map { item in
            switch item {
            case .none: return .newAxis
            case .object(let s as PySlice): return .range(s)
            case .object(let t as TorchTensor):
                if t.shape.isEmpty && !t.dtype.isFloatingPoint && t.dtype != .bool, let v = t.values { return .integer(TorchTensor.integer(v[0])) }
                return .tensor(t)
            case .object(let l as PyList): return .tensor(try tensor(from: .object(l), interp))
            case .object(let t as PyTuple): return .tensor(try tensor(from: .object(t), interp))
            default:
                if interp.identical(item, interp.builtins["Ellipsis"]!) { return .ellipsis }
                if let i = try interp.indexValue(item) { return .integer(i) }
                throw interp.error(interp.types.indexError, "only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables are valid indices (got \(interp.typeName(item)))")
            }
        }
    }

    /// Output shape and, for basic indexing of a tensor with values, the flat offsets read.
    func indexPlan(_ t: TorchTensor, _ parts: [IndexPart], _ interp: Interpreter) throws -> (shape: [Int], offsets: [Int]?) {
        var parts = parts
        let consuming = parts.filter { if case .newAxis = $0 { return false }; if case .ellipsis = $0 { return false }; return true }
        let used = consuming.reduce(0) { n, p in if case .tensor(let m) = p, m.dtype == .bool { return n + m.shape.count }; return n + 1 }
        guard used <= t.shape.count else {
            throw interp.error(interp.types.indexError, "too many indices for tensor of dimension \(t.shape.count)")
        }
        if let e = parts.firstIndex(where: { if case .ellipsis = $0 { return true }; return false }) {
            parts.replaceSubrange(e...e, with: Array(repeating: IndexPart.range(PySlice(.none, .none, .none)), count: t.shape.count - used))
        } else {
            parts += Array(repeating: IndexPart.range(PySlice(.none, .none, .none)), count: t.shape.count - used)
        }
        var shape: [Int] = []
        var dim = 0
        var axes: [[Int]] = []          // per source dimension, the positions read (basic indexing)
        var advanced: [TorchTensor] = []
        var advancedPosition: Int? = nil
        for part in parts {
            switch part {
            case .newAxis: shape.append(1)
            case .ellipsis: break
            case .integer(let i):
                let size = t.shape[dim]
                let j = i < 0 ? i + size : i
                guard j >= 0 && j < size else {
                    throw interp.error(interp.types.indexError, "index \(i) is out of bounds for dimension \(dim) with size \(size)")
                }
                axes.append([j]); dim += 1
            case .range(let s):
                let size = t.shape[dim]
                let (start, stop, step) = try sliceBounds(s, size, interp)
                let positions = Array(Swift.stride(from: start, to: stop, by: step))
                shape.append(positions.count)
                axes.append(positions); dim += 1
            case .tensor(let m):
                if advancedPosition == nil { advancedPosition = shape.count }
                advanced.append(m)
                if m.dtype == .bool {
                    guard let v = m.values else { throw needsValues("indexing with a boolean mask", interp) }
                    let hits = v.filter { $0 != 0 }.count
                    advanced[advanced.count - 1] = make([hits], .int64)
                    dim += m.shape.count
                } else {
                    dim += 1
                }
                axes.append([])
            }
        }
        if !advanced.isEmpty {
            var broadcastShape: [Int] = []
            for m in advanced { broadcastShape = try broadcast(broadcastShape, m.shape, interp) }
            shape.insert(contentsOf: broadcastShape, at: Swift.min(advancedPosition ?? 0, shape.count))
            return (shape, nil)
        }
        guard t.values != nil else { return (shape, nil) }
        var strides = [Int](repeating: 1, count: t.shape.count)
        for i in Swift.stride(from: t.shape.count - 2, through: 0, by: -1) { strides[i] = strides[i + 1] * t.shape[i + 1] }
        var offsets = [0]
        for (d, positions) in axes.enumerated() {
            var next: [Int] = []
            next.reserveCapacity(offsets.count * positions.count)
            for o in offsets { for p in positions { next.append(o + p * strides[d]) } }
            offsets = next
        }
        return (shape, offsets)
    }

    func sliceBounds(_ s: PySlice, _ size: Int, _ interp: Interpreter) throws -> (Int, Int, Int) {
        func component(_ v: PyValue) throws -> Int? {
            if v.isNone { return nil }
            guard let i = try interp.indexValue(v) else { throw interp.typeError("slice indices must be integers or None") }
            return i
        }
        let step = try component(s.step) ?? 1
        guard step != 0 else { throw interp.valueError("slice step cannot be zero") }
        // torch refuses negative steps; numpy (whose arrays are tensors in fork mode) reverses
        func clamp(_ v: Int?, _ d: Int) -> Int {
            guard var v else { return d }
            if v < 0 { v += size }
            return step > 0 ? Swift.min(Swift.max(v, 0), size) : Swift.min(Swift.max(v, -1), size - 1)
        }
        let start = clamp(try component(s.start), step > 0 ? 0 : size - 1)
        let stop = clamp(try component(s.stop), step > 0 ? size : -1)
        return (start, step > 0 ? Swift.max(start, stop) : Swift.min(start, stop), step)
    }

    func index(_ t: TorchTensor, _ index: PyValue, _ interp: Interpreter) throws -> PyValue {
        let plan = try indexPlan(t, try indexParts(index, interp), interp)
        let values = plan.offsets.map { offsets in offsets.map { t.values![$0] } }
        let result = make(plan.shape, t.dtype, values: values)
        if let offsets = plan.offsets, values != nil { result.valueView = (t, offsets) }
        return wrap(result)
    }

    /// After an in-place change to `t`: a view made by indexing writes its values through to the
    /// tensor it views (and on up); a base whose elements can no longer be known forgets its values.
    func writeThrough(_ t: TorchTensor) {
        var current = t
        while let (base, offsets) = current.valueView {
            if let v = current.values, base.values != nil, v.count == offsets.count {
                for (k, o) in offsets.enumerated() { base.values![o] = v[k] }
            } else {
                base.values = nil
            }
            current = base
        }
    }

    func assign(_ t: TorchTensor, _ index: PyValue, _ value: PyValue, _ interp: Interpreter) throws {
        let parts = try indexParts(index, interp)
        if parts.contains(where: { if case .tensor(let m) = $0, m.dtype == .bool, m.values == nil { return true }; return false }) {
            // x[mask] = v: the shape stays; which elements change depends on values
            _ = try tensor(from: value, interp)
            t.values = nil
            return
        }
        let plan = try indexPlan(t, parts, interp)
        let source = try tensor(from: value, interp)
        _ = try broadcast(plan.shape, source.shape, interp)
        guard let offsets = plan.offsets, let v = expandedValues(source, to: plan.shape), t.values != nil else {
            t.values = nil
            return
        }
        for (k, o) in offsets.enumerated() { t.values![o] = v[k] }
    }
}
