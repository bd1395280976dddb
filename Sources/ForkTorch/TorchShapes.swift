import Foundation
import PythonFrontEnd
import PythonInterpreter

extension TorchRuntime {
    /// Dimensions given as `f(0, 2, 1)` or `f((0, 2, 1))` after the tensor.
    func dimensionList(_ a: TorchArguments, from start: Int, keyword: String) throws -> [Int] {
        let rest = Array(a.arguments.positional.dropFirst(start))
        if rest.count == 1, case .object(let o) = rest[0], o is PyTuple || o is PyList {
            return try a.interp.materialize(rest[0]).map { try a.interp.intArgument($0, keyword) }
        }
        if rest.isEmpty, let v = a.arguments.keyword(keyword) {
            if let i = try a.interp.indexValue(v) { return [i] }
            return try a.interp.materialize(v).map { try a.interp.intArgument($0, keyword) }
        }
        return try rest.map { try a.interp.intArgument($0, keyword) }
    }

    /// Reshape with one -1 inferred.
    func inferShape(_ requested: [Int], count: Int, _ interp: Interpreter) throws -> [Int] {
        var shape = requested
        guard requested.allSatisfy({ $0 >= -1 }) else { throw interp.error(interp.types.runtimeError, "invalid shape dimension in \(requested)") }
        let known = shape.filter { $0 != -1 }.product
        if let i = shape.firstIndex(of: -1) {
            guard shape.filter({ $0 == -1 }).count == 1 else { throw interp.error(interp.types.runtimeError, "only one dimension can be inferred") }
            guard known != 0, count % known == 0 else { throw interp.error(interp.types.runtimeError, "shape '\(requested)' is invalid for input of size \(count)") }
            shape[i] = count / known
        }
        guard shape.product == count, shape.allSatisfy({ $0 >= 0 }) else {
            throw interp.error(interp.types.runtimeError, "shape '\(requested)' is invalid for input of size \(count)")
        }
        return shape
    }

    func permuteValues(_ t: TorchTensor, _ order: [Int]) -> [Double]? {
        guard let values = t.values else { return nil }
        let shape = t.shape
        let rank = shape.count
        var strides = [Int](repeating: 1, count: rank)
        for i in stride(from: rank - 2, through: 0, by: -1) { strides[i] = strides[i + 1] * shape[i + 1] }
        let outShape = order.map { shape[$0] }
        var out = [Double](repeating: 0, count: values.count)
        var index = [Int](repeating: 0, count: rank)
        for k in 0..<values.count {
            var offset = 0
            for i in 0..<rank { offset += index[i] * strides[order[i]] }
            out[k] = values[offset]
            var i = rank - 1
            while i >= 0 { index[i] += 1; if index[i] < outShape[i] { break }; index[i] = 0; i -= 1 }
        }
        return out
    }

    func concatenate(_ tensors: [TorchTensor], dim: Int, _ interp: Interpreter) throws -> TorchTensor {
        let nonEmpty = tensors.filter { !($0.shape == [0]) }
        guard let first = nonEmpty.first ?? tensors.first else { throw interp.error(interp.types.runtimeError, "torch.cat(): expected a non-empty list of Tensors") }
        let d = try normalizedDimension(dim, first.shape.count, interp)
        var shape = first.shape
        shape[d] = 0
        for t in nonEmpty {
            guard t.shape.count == first.shape.count else {
                throw interp.error(interp.types.runtimeError, "Tensors must have same number of dimensions: got \(first.shape.count) and \(t.shape.count)")
            }
            for i in 0..<shape.count where i != d && t.shape[i] != first.shape[i] {
                throw interp.error(interp.types.runtimeError, "Sizes of tensors must match except in dimension \(d). Expected size \(first.shape[i]) but got size \(t.shape[i]) for tensor number \(nonEmpty.firstIndex { $0 === t } ?? 0) in the list.")
            }
            shape[d] += t.shape[d]
        }
        let dtype = nonEmpty.map(\.dtype).reduce(first.dtype, DType.promoted)
        var values: [Double]? = nil
        if nonEmpty.allSatisfy({ $0.values != nil }), shape.product <= concreteLimit {
            let outer = shape[..<d].product
            var out: [Double] = []
            out.reserveCapacity(shape.product)
            for o in 0..<outer {
                for t in nonEmpty {
                    let block = t.shape[d...].product
                    out += t.values![(o * block)..<((o + 1) * block)]
                }
            }
            values = out
        }
        return make(shape, dtype, values: values)
    }

    func registerShapes() {
        op(["view", "reshape"]) { a in
            let t = try a.tensor(0, "input")
            if a.function == "view", let v = a.value(1, "dtype"), case .object(let d as TorchDTypeObject) = v {
                return self.wrap(self.make(t.shape, d.dtype))
            }
            let shape = try self.inferShape(try self.dimensionList(a, from: 1, keyword: "shape"), count: t.count, a.interp)
            return self.wrap(self.make(shape, t.dtype, values: t.values))
        }
        op(["view_as", "reshape_as"]) { a in
            let t = try a.tensor(0, "input"), other = try a.tensor(1, "other")
            return self.wrap(self.make(try self.inferShape(other.shape, count: t.count, a.interp), t.dtype, values: t.values))
        }
        op(["flatten"]) { a in
            let t = try a.tensor(0, "input")
            guard !t.shape.isEmpty else { return self.wrap(self.make([1], t.dtype, values: t.values)) }
            let start = try self.normalizedDimension(try a.int(1, "start_dim", 0), t.shape.count, a.interp)
            let end = try self.normalizedDimension(try a.int(2, "end_dim", -1), t.shape.count, a.interp)
            guard start <= end else { return self.wrap(t) }
            let shape = Array(t.shape[..<start]) + [t.shape[start...end].product] + Array(t.shape[(end + 1)...])
            return self.wrap(self.make(shape, t.dtype, values: t.values))
        }
        op(["unflatten"]) { a in
            let t = try a.tensor(0, "input")
            let d = try self.normalizedDimension(try a.int(1, "dim"), t.shape.count, a.interp)
            let sizes = try a.interp.materialize(a.value(2, "sizes") ?? .tuple([])).map { try a.interp.intArgument($0, "sizes") }
            let inner = try self.inferShape(sizes, count: t.shape[d], a.interp)
            return self.wrap(self.make(Array(t.shape[..<d]) + inner + Array(t.shape[(d + 1)...]), t.dtype, values: t.values))
        }
        op(["unsqueeze", "unsqueeze_"]) { a in
            let t = try a.tensor(0, "input")
            var d = try a.int(1, "dim")
            if d < 0 { d += t.shape.count + 1 }
            guard d >= 0 && d <= t.shape.count else { throw a.interp.error(a.interp.types.indexError, "Dimension out of range") }
            var shape = t.shape
            shape.insert(1, at: d)
            return self.wrap(self.make(shape, t.dtype, values: t.values))
        }
        op(["squeeze", "squeeze_"]) { a in
            let t = try a.tensor(0, "input")
            var shape = t.shape
            if let v = a.value(1, "dim"), !v.isNone {
                let dims = try (try a.interp.indexValue(v)).map { [$0] } ?? a.interp.materialize(v).map { try a.interp.intArgument($0, "dim") }
                let normalized = try dims.map { try self.normalizedDimension($0, t.shape.count, a.interp) }
                shape = t.shape.enumerated().filter { !(normalized.contains($0.offset) && $0.element == 1) }.map(\.element)
            } else {
                shape = shape.filter { $0 != 1 }
            }
            return self.wrap(self.make(shape, t.dtype, values: t.values))
        }
        op(["permute"]) { a in
            let t = try a.tensor(0, "input")
            let order = try self.dimensionList(a, from: 1, keyword: "dims").map { try self.normalizedDimension($0, t.shape.count, a.interp) }
            guard order.count == t.shape.count, Set(order).count == order.count else {
                throw a.interp.error(a.interp.types.runtimeError, "permute(sparse_coo): number of dimensions in the tensor input does not match the length of the desired ordering of dimensions i.e. input.dim() = \(t.shape.count) is not equal to len(dims) = \(order.count)")
            }
            return self.wrap(self.make(order.map { t.shape[$0] }, t.dtype, values: self.permuteValues(t, order)))
        }
        op(["transpose", "swapaxes", "swapdims", "transpose_"]) { a in
            let t = try a.tensor(0, "input")
            guard !t.shape.isEmpty else { return self.wrap(t) }
            let x = try self.normalizedDimension(try a.int(1, "dim0"), t.shape.count, a.interp)
            let y = try self.normalizedDimension(try a.int(2, "dim1"), t.shape.count, a.interp)
            var order = Array(0..<t.shape.count)
            order.swapAt(x, y)
            return self.wrap(self.make(order.map { t.shape[$0] }, t.dtype, values: self.permuteValues(t, order)))
        }
        op(["t"]) { a in
            let t = try a.tensor(0, "input")
            guard t.shape.count == 2 else { return self.wrap(t) }
            return self.wrap(self.make([t.shape[1], t.shape[0]], t.dtype, values: self.permuteValues(t, [1, 0])))
        }
        op(["contiguous", "detach", "detach_", "cpu", "cuda", "clone", "requires_grad_", "pin_memory", "share_memory_", "coalesce", "resolve_conj", "retain_grad"], function: false) { a in
            let t = try a.tensor(0, "input")
            if a.function == "clone" { return self.wrap(self.make(t.shape, t.dtype, values: t.values)) }
            if a.function == "requires_grad_" { t.requiresGrad = try a.bool(1, "requires_grad", true) }
            return self.wrap(t)
        }
        op(["clone", "detach"], method: false) { a in
            let t = try a.tensor(0, "input")
            return self.wrap(self.make(t.shape, t.dtype, values: t.values))
        }
        op(["expand"]) { a in
            let t = try a.tensor(0, "input")
            let sizes = try self.dimensionList(a, from: 1, keyword: "size")
            guard sizes.count >= t.shape.count else { throw a.interp.error(a.interp.types.runtimeError, "expand: the number of sizes provided (\(sizes.count)) must be greater or equal to the number of dimensions in the tensor (\(t.shape.count))") }
            let offset = sizes.count - t.shape.count
            var shape = sizes
            for i in 0..<sizes.count {
                let own = i >= offset ? t.shape[i - offset] : 1
                if sizes[i] == -1 { shape[i] = own }
                else if own != 1 && own != sizes[i] {
                    throw a.interp.error(a.interp.types.runtimeError, "The expanded size of the tensor (\(sizes[i])) must match the existing size (\(own)) at non-singleton dimension \(i).  Target sizes: \(sizes).  Tensor sizes: \(t.shape)")
                }
            }
            return self.wrap(self.make(shape, t.dtype, values: self.expandedValues(t, to: shape)))
        }
        op(["expand_as", "broadcast_to"]) { a in
            let t = try a.tensor(0, "input")
            let shape: [Int]
            if a.function == "expand_as" { shape = try a.tensor(1, "other").shape } else { shape = try a.interp.materialize(a.value(1, "size") ?? .tuple([])).map { try a.interp.intArgument($0, "size") } }
            _ = try self.broadcast(t.shape, shape, a.interp)
            return self.wrap(self.make(shape, t.dtype, values: self.expandedValues(t, to: shape)))
        }
        op(["repeat"]) { a in
            let t = try a.tensor(0, "input")
            let times = try self.dimensionList(a, from: 1, keyword: "repeats")
            guard times.count >= t.shape.count else { throw a.interp.error(a.interp.types.runtimeError, "Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor") }
            let padded = [Int](repeating: 1, count: times.count - t.shape.count) + t.shape
            guard times.allSatisfy({ $0 >= 0 }) else { throw a.interp.error(a.interp.types.runtimeError, "Trying to create tensor with negative dimension") }
            let shape = zip(padded, times).map { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0 * $1 }
            // the values of a small tensor repeated (index grids: a batch index for a top-k selection)
            var values: [Double]? = nil
            if let source = t.values, shape.product <= self.concreteLimit, source.count == padded.product {
                var out = [Double](repeating: 0, count: shape.product)
                var index = [Int](repeating: 0, count: shape.count)
                for k in 0..<out.count {
                    var offset = 0
                    for axis in 0..<shape.count { offset = offset * padded[axis] + index[axis] % padded[axis] }
                    out[k] = source[offset]
                    var axis = shape.count - 1
                    while axis >= 0 { index[axis] += 1; if index[axis] < shape[axis] { break }; index[axis] = 0; axis -= 1 }
                }
                values = out
            }
            return self.wrap(self.make(shape, t.dtype, values: values))
        }
        op(["repeat_interleave"]) { a in
            let t = try a.tensor(0, "input")
            let repeats = try a.int(1, "repeats")
            guard repeats >= 0, repeats < 1 << 32 else { throw a.interp.error(a.interp.types.runtimeError, "repeats can not be negative") }
            guard let d = try a.optionalInt(2, "dim") else { return self.wrap(self.make([t.count * repeats], t.dtype)) }
            var shape = t.shape
            let n = try self.normalizedDimension(d, shape.count, a.interp)
            shape[n] *= repeats
            return self.wrap(self.make(shape, t.dtype))
        }
        op(["tile"]) { a in
            let t = try a.tensor(0, "input")
            let times = try self.dimensionList(a, from: 1, keyword: "dims")
            let rank = Swift.max(times.count, t.shape.count)
            let s = [Int](repeating: 1, count: rank - t.shape.count) + t.shape
            let r = [Int](repeating: 1, count: rank - times.count) + times
            guard times.allSatisfy({ $0 >= 0 }) else { throw a.interp.error(a.interp.types.runtimeError, "Trying to create tensor with negative dimension") }
            return self.wrap(self.make(zip(s, r).map { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0 * $1 }, t.dtype))
        }
        op(["cat", "concat", "concatenate"], method: false) { a in
            let tensors = try a.interp.materialize(a.value(0, "tensors") ?? .list([])).map { try self.tensor(from: $0, a.interp) }
            return self.wrap(try self.concatenate(tensors, dim: try a.int(1, "dim", 0), a.interp))
        }
        op(["stack", "hstack", "vstack"], method: false) { a in
            let tensors = try a.interp.materialize(a.value(0, "tensors") ?? .list([])).map { try self.tensor(from: $0, a.interp) }
            guard let first = tensors.first else { throw a.interp.error(a.interp.types.runtimeError, "stack expects a non-empty TensorList") }
            if a.function == "hstack" { return self.wrap(try self.concatenate(tensors, dim: first.shape.count == 1 ? 0 : 1, a.interp)) }
            if a.function == "vstack" {
                return self.wrap(try self.concatenate(tensors.map { $0.shape.count == 1 ? self.make([1] + $0.shape, $0.dtype, values: $0.values) : $0 }, dim: 0, a.interp))
            }
            var d = try a.int(1, "dim", 0)
            if d < 0 { d += first.shape.count + 1 }
            for t in tensors where t.shape != first.shape {
                throw a.interp.error(a.interp.types.runtimeError, "stack expects each tensor to be equal size, but got \(first.shape) at entry 0 and \(t.shape) at entry \(tensors.firstIndex { $0 === t }!)")
            }
            let expanded = tensors.map { t -> TorchTensor in var s = t.shape; s.insert(1, at: d); return self.make(s, t.dtype, values: t.values) }
            return self.wrap(try self.concatenate(expanded, dim: d, a.interp))
        }
        op(["chunk"]) { a in
            let t = try a.tensor(0, "input")
            let chunks = try a.int(1, "chunks")
            let d = try self.normalizedDimension(try a.int(2, "dim", 0), t.shape.count, a.interp)
            guard chunks > 0 else { throw a.interp.error(a.interp.types.runtimeError, "chunk expects `chunks` to be greater than 0, got: \(chunks)") }
            let size = (t.shape[d] + chunks - 1) / chunks
            return .tuple(try self.splitSizes(t, size == 0 ? [0] : self.evenSplit(t.shape[d], size), d, a.interp).map(self.wrap))
        }
        op(["split", "split_with_sizes"]) { a in
            let t = try a.tensor(0, "input")
            let d = try self.normalizedDimension(try a.int(2, "dim", 0), t.shape.count, a.interp)
            guard let spec = a.value(1, "split_size_or_sections") ?? a.arguments.keyword("split_size") ?? a.arguments.keyword("split_sizes") else { throw a.interp.typeError("split() missing split_size") }
            let sizes: [Int]
            if let size = try a.interp.indexValue(spec) {
                guard size > 0 || t.shape[d] == 0 else { throw a.interp.error(a.interp.types.runtimeError, "split_size can only be 0 if dimension size is 0") }
                sizes = self.evenSplit(t.shape[d], size)
            } else {
                sizes = try a.interp.materialize(spec).map { try a.interp.intArgument($0, "split sizes") }
                guard sizes.reduce(0, +) == t.shape[d] else {
                    throw a.interp.error(a.interp.types.runtimeError, "split_with_sizes expects split_sizes to sum exactly to \(t.shape[d]) (input tensor's size at dimension \(d)), but got split_sizes=\(sizes)")
                }
            }
            return .tuple(try self.splitSizes(t, sizes, d, a.interp).map(self.wrap))
        }
        op(["tensor_split"]) { a in
            let t = try a.tensor(0, "input")
            let n = try a.int(1, "sections")
            let d = try self.normalizedDimension(try a.int(2, "dim", 0), t.shape.count, a.interp)
            let base = t.shape[d] / n, extra = t.shape[d] % n
            return .tuple(try self.splitSizes(t, (0..<n).map { base + ($0 < extra ? 1 : 0) }, d, a.interp).map(self.wrap))
        }
        op(["unbind"]) { a in
            let t = try a.tensor(0, "input")
            let d = try self.normalizedDimension(try a.int(1, "dim", 0), t.shape.count, a.interp)
            var shape = t.shape
            shape.remove(at: d)
            return .tuple(try self.splitSizes(t, Array(repeating: 1, count: t.shape[d]), d, a.interp).map { self.wrap(self.make(shape, $0.dtype, values: $0.values)) })
        }
        op(["narrow"]) { a in
            let t = try a.tensor(0, "input")
            let d = try self.normalizedDimension(try a.int(1, "dim"), t.shape.count, a.interp)
            let length = try a.int(3, "length")
            var shape = t.shape
            shape[d] = length
            return self.wrap(self.make(shape, t.dtype))
        }
        op(["flip", "roll", "fliplr", "flipud", "rot90"]) { a in
            let t = try a.tensor(0, "input")
            if a.function == "rot90" {
                let k = ((try a.int(1, "k", 1)) % 4 + 4) % 4
                var shape = t.shape
                if k % 2 == 1 && shape.count >= 2 { shape.swapAt(shape.count - 2, shape.count - 1) }
                return self.wrap(self.make(shape, t.dtype))
            }
            return self.wrap(self.make(t.shape, t.dtype))
        }
        op(["unfold"], function: false) { a in
            let t = try a.tensor(0, "self")
            let d = try self.normalizedDimension(try a.int(1, "dimension"), t.shape.count, a.interp)
            let size = try a.int(2, "size"), step = try a.int(3, "step")
            guard size >= 0, size <= t.shape[d], step > 0 else {
                throw a.interp.error(a.interp.types.runtimeError, "maximum size for tensor at dimension \(d) is \(t.shape[d]) but size is \(size)")
            }
            var shape = t.shape
            shape[d] = (t.shape[d] - size) / step + 1
            return self.wrap(self.make(shape + [size], t.dtype))
        }
        op(["movedim", "moveaxis"]) { a in
            let t = try a.tensor(0, "input")
            let source = try self.normalizedDimension(try a.int(1, "source"), t.shape.count, a.interp)
            let destination = try self.normalizedDimension(try a.int(2, "destination"), t.shape.count, a.interp)
            var order = Array(0..<t.shape.count)
            order.remove(at: source)
            order.insert(source, at: destination)
            return self.wrap(self.make(order.map { t.shape[$0] }, t.dtype, values: self.permuteValues(t, order)))
        }
        op(["gather"]) { a in
            let t = try a.tensor(0, "input")
            let index = try a.tensor(2, "index")
            return self.wrap(self.make(index.shape, t.dtype))
        }
        op(["index_select"]) { a in
            let t = try a.tensor(0, "input")
            let d = try self.normalizedDimension(try a.int(1, "dim"), t.shape.count, a.interp)
            let index = try a.tensor(2, "index")
            var shape = t.shape
            shape[d] = index.count
            return self.wrap(self.make(shape, t.dtype))
        }
        op(["tril", "triu"]) { a in
            let t = try a.tensor(0, "input")
            let k = try a.int(1, "diagonal", 0)
            guard let v = t.values, t.shape.count == 2 else { return self.wrap(self.make(t.shape, t.dtype)) }
            let (rows, cols) = (t.shape[0], t.shape[1])
            var out = v
            for i in 0..<rows { for j in 0..<cols where a.function == "tril" ? j - i > k : j - i < k { out[i * cols + j] = 0 } }
            return self.wrap(self.make(t.shape, t.dtype, values: out))
        }
        op(["unique", "unique_consecutive"]) { a in
            let t = try a.tensor(0, "input")
            guard let values = t.values else { throw self.needsValues("torch.unique", a.interp) }
            let returnInverse = try a.bool(-1, "return_inverse", false), returnCounts = try a.bool(-1, "return_counts", false)
            let dim = try a.optionalInt(-1, "dim")
            // rows (dim=0) or single values, sorted, as torch returns them
            let width = dim == nil ? 1 : t.shape.dropFirst().product
            let count = dim == nil ? values.count : (t.shape.first ?? 0)
            let rows = (0..<count).map { Array(values[($0 * width)..<(($0 + 1) * width)]) }
            let distinct = Array(Set(rows.map { $0.map { $0.bitPattern } })).map { $0.map(Double.init(bitPattern:)) }
                .sorted { x, y in zip(x, y).first { $0 != $1 }.map { $0.0 < $0.1 } ?? false }
            var position: [[UInt64]: Int] = [:]
            for (i, row) in distinct.enumerated() { position[row.map { $0.bitPattern }] = i }
            let shape = dim == nil ? [distinct.count] : [distinct.count] + Array(t.shape.dropFirst())
            var results: [PyValue] = [self.wrap(self.make(shape, t.dtype, values: distinct.flatMap { $0 }))]
            if returnInverse {
                let inverse = rows.map { Double(position[$0.map { $0.bitPattern }]!) }
                results.append(self.wrap(self.make(dim == nil ? t.shape : [count], .int64, values: inverse)))
            }
            if returnCounts {
                var counts = [Double](repeating: 0, count: distinct.count)
                for row in rows { counts[position[row.map { $0.bitPattern }]!] += 1 }
                results.append(self.wrap(self.make([distinct.count], .int64, values: counts)))
            }
            return results.count == 1 ? results[0] : .tuple(results)
        }
        op(["nonzero", "masked_select", "bincount"]) { a in
            let t = try a.tensor(0, "input")
            guard let v = t.values, a.function == "nonzero", t.shape.count == 1 else { throw self.needsValues("torch.\(a.function)", a.interp) }
            let hits = v.indices.filter { v[$0] != 0 }.map(Double.init)
            return self.wrap(self.make([hits.count, 1], .int64, values: hits))
        }
        op(["diag", "diagonal"]) { a in
            let t = try a.tensor(0, "input")
            if t.shape.count == 1 { return self.wrap(self.make([t.shape[0], t.shape[0]], t.dtype)) }
            return self.wrap(self.make(Array(t.shape.dropLast(2)) + [Swift.min(t.shape[t.shape.count - 2], t.shape.last!)], t.dtype))
        }
    }

    func evenSplit(_ total: Int, _ size: Int) -> [Int] {
        guard size > 0 else { return [total] }
        var sizes: [Int] = []
        var remaining = total
        while remaining > 0 { sizes.append(Swift.min(size, remaining)); remaining -= size }
        return sizes.isEmpty ? [0] : sizes
    }

    func splitSizes(_ t: TorchTensor, _ sizes: [Int], _ d: Int, _ interp: Interpreter) throws -> [TorchTensor] {
        var offset = 0
        return sizes.map { size in
            var shape = t.shape
            shape[d] = size
            var values: [Double]? = nil
            if let v = t.values {
                let outer = t.shape[..<d].product, inner = t.shape[(d + 1)...].product
                var out: [Double] = []
                for o in 0..<outer {
                    let base = o * t.shape[d] * inner + offset * inner
                    out += v[base..<(base + size * inner)]
                }
                values = out
            }
            offset += size
            return self.make(shape, t.dtype, values: values)
        }
    }
}
