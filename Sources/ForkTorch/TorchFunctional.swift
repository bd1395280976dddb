import Foundation
import PythonFrontEnd
import PythonInterpreter

extension TorchRuntime {
    /// A product of counts in floating point (counts of huge models never trap).
    func macs(_ factors: Int...) -> Double { factors.reduce(1.0) { $0 * Double($1) } }

    func pairOutput(_ size: Int, kernel: Int, stride: Int, padding: Int, dilation: Int, ceilMode: Bool = false) -> Int {
        // sizes from untrusted code: out-of-range values give 0 (an error above), never a trap
        guard stride > 0, kernel >= 0, dilation > 0, abs(size) < 1 << 40, abs(padding) < 1 << 40, kernel < 1 << 40, dilation < 1 << 20 else { return 0 }
        let span = size + 2 * padding - dilation * (kernel - 1) - 1
        if ceilMode {
            var out = Int((Double(span) / Double(stride)).rounded(.up)) + 1
            if (out - 1) * stride >= size + padding { out -= 1 }
            return out
        }
        return span >= 0 ? span / stride + 1 : 0
    }

    /// Whether an activation call asks to work in place: `inplace=` or its positional place.
    func inplaceArgument(_ a: TorchArguments, name: String) throws -> Bool {
        let position: Int
        switch name {
        case "relu", "relu6", "silu", "hardswish", "hardsigmoid", "mish", "selu", "celu", "rrelu": position = name == "celu" ? 2 : 1
        case "leaky_relu", "elu": position = 2
        case "hardtanh", "threshold": position = 3
        case "dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout": position = 3
        default: return false
        }
        return try a.bool(position, "inplace", false)
    }

    func convolution(_ a: TorchArguments, spatial: Int, transposed: Bool) throws -> PyValue {
        let x = try a.tensor(0, "input"), w = try a.tensor(1, "weight")
        let b = try a.optionalTensor(2, "bias")
        let interp = a.interp
        guard x.shape.count == spatial + 2 || x.shape.count == spatial + 1 else {
            throw interp.error(interp.types.runtimeError, "Expected \(spatial + 1)D (unbatched) or \(spatial + 2)D (batched) input to conv\(spatial)d, but got input of size: \(x.shape)")
        }
        let batched = x.shape.count == spatial + 2
        let input = batched ? x.shape : [1] + x.shape
        let groups = try a.int(transposed ? 6 : 6, "groups", 1)
        let stride = try a.ints(3, "stride", count: spatial, 1)
        let dilation = try a.ints(transposed ? 7 : 5, "dilation", count: spatial, 1)
        guard groups > 0 else { throw interp.error(interp.types.runtimeError, "non-positive groups is not supported") }
        guard stride.allSatisfy({ $0 > 0 }) else { throw interp.error(interp.types.runtimeError, "non-positive stride is not supported") }
        guard dilation.allSatisfy({ $0 > 0 }) else { throw interp.error(interp.types.runtimeError, "dilation should be greater than zero") }
        guard w.shape.count == spatial + 2 else {
            throw interp.error(interp.types.runtimeError, "conv\(spatial)d expects a \(spatial + 2)D weight, got \(w.shape)")
        }
        let kernel = Array(w.shape.suffix(spatial))
        var padding: [Int]
        if let p = a.value(4, "padding"), case .str(let mode) = p {
            padding = mode == "same" ? kernel.enumerated().map { dilation[$0.offset] * ($0.element - 1) / 2 } : Array(repeating: 0, count: spatial)
        } else {
            padding = try a.ints(4, "padding", count: spatial, 0)
        }
        var output: [Int]
        if transposed {
            let outputPadding = try a.ints(5, "output_padding", count: spatial, 0)
            guard input[1] == w.shape[0] else {
                throw interp.error(interp.types.runtimeError, "Given transposed=1, weight of size \(w.shape), expected input\(x.shape) to have \(w.shape[0]) channels, but got \(input[1]) channels instead")
            }
            output = [input[0], w.shape[1] * groups]
            for i in 0..<spatial {
                output.append((input[2 + i] - 1) * stride[i] - 2 * padding[i] + dilation[i] * (kernel[i] - 1) + outputPadding[i] + 1)
            }
            multiplyAdds += macs(input.product, w.shape[1], kernel.product)
        } else {
            guard input[1] == w.shape[1] * groups else {
                throw interp.error(interp.types.runtimeError, "Given groups=\(groups), weight of size \(w.shape), expected input\(x.shape) to have \(w.shape[1] * groups) channels, but got \(input[1]) channels instead")
            }
            output = [input[0], w.shape[0]]
            for i in 0..<spatial {
                let size = pairOutput(input[2 + i], kernel: kernel[i], stride: stride[i], padding: padding[i], dilation: dilation[i])
                guard size > 0 else {
                    throw interp.error(interp.types.runtimeError, "Calculated padded input size per channel: (\(input[2...].map(String.init).joined(separator: " x "))). Kernel size: (\(kernel.map(String.init).joined(separator: " x "))). Kernel size can't be greater than actual input size")
                }
                output.append(size)
            }
            multiplyAdds += macs(output.product, w.shape[1], kernel.product)
        }
        if let b, b.count != output[1] { throw interp.error(interp.types.runtimeError, "bias of size \(b.shape) does not match \(output[1]) output channels") }
        return wrap(make(batched ? output : Array(output.dropFirst()), x.dtype))
    }

    func pool(_ a: TorchArguments, spatial: Int, kind: String) throws -> PyValue {
        let x = try a.tensor(0, "input")
        let kernel = try a.ints(1, "kernel_size", count: spatial)
        let strideValue = a.value(2, "stride")
        let stride = strideValue == nil || strideValue!.isNone || ((try? a.interp.materialize(strideValue!))?.isEmpty ?? false) ? kernel : try a.ints(2, "stride", count: spatial)
        let padding = try a.ints(3, "padding", count: spatial, 0)
        let dilation = kind == "max" ? try a.ints(4, "dilation", count: spatial, 1) : Array(repeating: 1, count: spatial)
        let ceilMode = try a.bool(kind == "max" ? 5 : 4, "ceil_mode", false)
        guard stride.allSatisfy({ $0 > 0 }) else { throw a.interp.error(a.interp.types.runtimeError, "stride should not be zero") }
        guard kernel.allSatisfy({ $0 > 0 }) else { throw a.interp.error(a.interp.types.runtimeError, "kernel size should be greater than zero") }
        guard dilation.allSatisfy({ $0 > 0 }) else { throw a.interp.error(a.interp.types.runtimeError, "dilation should be greater than zero") }
        guard x.shape.count >= spatial + 1 else { throw a.interp.error(a.interp.types.runtimeError, "pooling expects a \(spatial + 2)D input, got \(x.shape)") }
        for i in 0..<spatial where padding[i] * 2 > kernel[i] {
            throw a.interp.error(a.interp.types.runtimeError, "pad should be at most half of effective kernel size, but got pad=\(padding[i]), kernel_size=\(kernel[i]) and dilation=\(dilation[i])")
        }
        var shape = Array(x.shape.dropLast(spatial))
        for i in 0..<spatial {
            let size = pairOutput(x.shape[x.shape.count - spatial + i], kernel: kernel[i], stride: stride[i], padding: padding[i], dilation: dilation[i], ceilMode: ceilMode)
            guard size > 0 else { throw a.interp.error(a.interp.types.runtimeError, "Output size is too small (input \(x.shape), kernel \(kernel))") }
            shape.append(size)
        }
        let result = make(shape, x.dtype)
        if kind == "max", try a.bool(kind == "max" ? 6 : -1, "return_indices", false) {
            return .tuple([wrap(result), wrap(make(shape, .int64))])
        }
        return wrap(result)
    }

    func adaptivePool(_ a: TorchArguments, spatial: Int) throws -> PyValue {
        let x = try a.tensor(0, "input")
        let sizeValue = a.value(1, "output_size") ?? .none
        var sizes: [Int?]
        if let i = try a.interp.indexValue(sizeValue) { sizes = Array(repeating: i, count: spatial) }
        else { sizes = try a.interp.materialize(sizeValue).map { $0.isNone ? nil : try a.interp.intArgument($0, "output_size") } }
        if sizes.count == 1 { sizes = Array(repeating: sizes[0], count: spatial) }
        let prefix = Array(x.shape.dropLast(spatial))
        let suffix = Array(x.shape.suffix(spatial))
        let shape = prefix + zip(sizes, suffix).map { $0 ?? $1 }
        var values: [Double]? = nil
        if let v = x.values, spatial <= 2, shape.product <= concreteLimit {
            // torch's windows: output j covers [floor(j·I/O), ceil((j+1)·I/O))
            let isMax = a.function.contains("max")
            let inH = spatial == 2 ? suffix[0] : 1, inW = suffix[spatial - 1]
            let outH = spatial == 2 ? shape[shape.count - 2] : 1, outW = shape[shape.count - 1]
            let planes = prefix.product
            var out: [Double] = []
            out.reserveCapacity(shape.product)
            func window(_ j: Int, _ input: Int, _ output: Int) -> Range<Int> {
                (j * input / output)..<(((j + 1) * input + output - 1) / output)
            }
            for plane in 0..<planes {
                for i in 0..<outH {
                    for j in 0..<outW {
                        var pooled: [Double] = []
                        for y in window(i, inH, outH) { for x in window(j, inW, outW) { pooled.append(v[plane * inH * inW + y * inW + x]) } }
                        out.append(isMax ? (pooled.max() ?? 0) : pooled.reduce(0, +) / Double(Swift.max(pooled.count, 1)))
                    }
                }
            }
            values = out
        }
        return wrap(make(shape, x.dtype, values: values))
    }

    func registerLinearAlgebra() {
        op(["matmul", "mm", "bmm"]) { a in
            let x = try a.tensor(0, "input"), y = try a.tensor(1, "other")
            // thop hooks torch.matmul and bmm, not mm
            return self.wrap(try self.matmul(x, y, a.interp, strict: a.function != "matmul", countedByThop: a.function != "mm"))
        }
        op(["baddbmm", "addmm", "addbmm"]) { a in
            let base = try a.tensor(0, "input"), x = try a.tensor(1, "mat1"), y = try a.tensor(2, "mat2")
            let product = try self.matmul(x, y, a.interp, strict: true, countedByThop: false)
            return self.wrap(self.make(try self.broadcast(base.shape, product.shape, a.interp), product.dtype))
        }
        op(["outer", "ger"]) { a in
            let x = try a.tensor(0, "input"), y = try a.tensor(1, "vec2")
            var values: [Double]? = nil
            if let p = x.values, let q = y.values { values = p.flatMap { u in q.map { u * $0 } } }
            return self.wrap(self.make([x.count, y.count], DType.promoted(x.dtype, y.dtype), values: values))
        }
        op(["dot", "inner"]) { a in
            let x = try a.tensor(0, "input"), y = try a.tensor(1, "other")
            var values: [Double]? = nil
            if let p = x.values, let q = y.values, p.count == q.count { values = [zip(p, q).map(*).reduce(0, +)] }
            return self.wrap(self.make([], x.dtype, values: values))
        }
        op(["einsum"], method: false) { a in
            guard case .str(let equation)? = a.value(0, "equation") else { throw a.interp.typeError("einsum(): the first argument must be an equation string") }
            return self.wrap(try self.einsum(equation, try self.einsumOperands(a), a.interp))
        }
        op(["cdist"]) { a in
            let x = try a.tensor(0, "x1"), y = try a.tensor(1, "x2")
            return self.wrap(self.make(Array(x.shape.dropLast()) + [y.shape[y.shape.count - 2]], x.dtype))
        }
    }

    /// `countedByThop`: whether thop's functional hooks see this call (torch.matmul, `@`, bmm;
    /// not mm or the addmm family).
    func matmul(_ x: TorchTensor, _ y: TorchTensor, _ interp: Interpreter, strict: Bool, countedByThop: Bool = true) throws -> TorchTensor {
        guard !x.shape.isEmpty, !y.shape.isEmpty else { throw interp.error(interp.types.runtimeError, "both arguments to matmul need to be at least 1D, but they are \(x.shape.count)D and \(y.shape.count)D") }
        let a = x.shape.count == 1 ? [1] + x.shape : x.shape
        let b = y.shape.count == 1 ? y.shape + [1] : y.shape
        let k = a[a.count - 1]
        guard k == b[b.count - 2] else {
            throw interp.error(interp.types.runtimeError, "mat1 and mat2 shapes cannot be multiplied (\(a.dropLast().product)x\(k) and \(b[b.count - 2])x\(b[b.count - 1]))")
        }
        let batch = try broadcast(Array(a.dropLast(2)), Array(b.dropLast(2)), interp)
        var shape = batch + [a[a.count - 2], b[b.count - 1]]
        if x.shape.count == 1 { shape.remove(at: shape.count - 2) }
        if y.shape.count == 1 { shape.removeLast() }
        multiplyAdds += macs(shape.product, k)
        if countedByThop { counter?.functional(self.macs(shape.product, x.shape.last ?? 0)) }
        var values: [Double]? = nil
        if batch.isEmpty, let p = x.values, let q = y.values, shape.product <= concreteLimit {
            let (n, m) = (a[0], b[1])
            var out = [Double](repeating: 0, count: n * m)
            for i in 0..<n { for j in 0..<m { var s = 0.0; for t in 0..<k { s += p[i * k + t] * q[t * m + j] }; out[i * m + j] = s } }
            values = out
        }
        return make(shape, DType.promoted(x.dtype, y.dtype), values: values)
    }

    /// `torch.einsum(equation, [a, b])` or `torch.einsum(equation, a, b)`: the operands.
    func einsumOperands(_ a: TorchArguments) throws -> [TorchTensor] {
        if a.arguments.positional.count == 2, case .object(let o) = a.arguments.positional[1], o is PyList || o is PyTuple {
            return try a.interp.materialize(a.arguments.positional[1]).map { try tensor(from: $0, a.interp) }
        }
        return try a.arguments.positional.dropFirst().map { try tensor(from: $0, a.interp) }
    }

    func einsum(_ equation: String, _ operands: [TorchTensor], _ interp: Interpreter) throws -> TorchTensor {
        let clean = equation.filter { $0 != " " }
        let sides = clean.components(separatedBy: "->")
        let inputs = sides[0].components(separatedBy: ",")
        guard inputs.count == operands.count else {
            throw interp.error(interp.types.runtimeError, "einsum(): more operands were provided than specified in the equation")
        }
        var sizes: [Character: Int] = [:]
        var ellipsis: [Int] = []
        for (subscripts, t) in zip(inputs, operands) {
            var labels = Array(subscripts)
            var dims = t.shape
            if let e = subscripts.range(of: "...") {
                let head = subscripts[..<e.lowerBound], tail = subscripts[e.upperBound...]
                let n = dims.count - head.count - tail.count
                let middle = Array(dims[head.count..<(head.count + n)])
                ellipsis = try broadcast(ellipsis, middle, interp)
                dims = Array(dims[..<head.count]) + Array(dims[(head.count + n)...])
                labels = Array(head) + Array(tail)
            }
            guard labels.count == dims.count else {
                throw interp.error(interp.types.runtimeError, "einsum(): the number of subscripts in the equation (\(labels.count)) does not match the number of dimensions (\(t.shape.count)) for operand \(operands.firstIndex { $0 === t } ?? 0)")
            }
            for (label, size) in zip(labels, dims) {
                if let existing = sizes[label], existing != size, existing != 1, size != 1 {
                    throw interp.error(interp.types.runtimeError, "einsum(): operands do not broadcast with remapped shapes (original->remapped): subscript '\(label)' has size \(size) for one operand and \(existing) for another")
                }
                sizes[label] = Swift.max(sizes[label] ?? 1, size)
            }
        }
        let output: String
        if sides.count > 1 { output = sides[1] } else {
            let all = inputs.joined().replacingOccurrences(of: "...", with: "")
            output = (clean.contains("...") ? "..." : "") + String(Set(all).filter { c in all.filter { $0 == c }.count == 1 }.sorted())
        }
        var shape: [Int] = []
        var rest = Substring(output)
        while let c = rest.first {
            if rest.hasPrefix("...") { shape += ellipsis; rest = rest.dropFirst(3); continue }
            guard let size = sizes[c] else { throw interp.error(interp.types.runtimeError, "einsum(): output subscript \(c) does not appear in the equation for any input operand") }
            shape.append(size)
            rest = rest.dropFirst()
        }
        multiplyAdds += macs(Array(sizes.values).product, ellipsis.product)
        if operands.count == 2 {
            // thop's rule: every label of both operands, or of one operand and the output, once
            var total = 1.0
            let outputLabels = Set(output)
            var perOperand: [[Character: Int]] = []
            for (subscripts, t) in zip(inputs, operands) {
                var labels: [Character: Int] = [:]
                let plain = subscripts.replacingOccurrences(of: "...", with: "")
                let head = subscripts.components(separatedBy: "...").first ?? subscripts
                let tail = subscripts.contains("...") ? (subscripts.components(separatedBy: "...").last ?? "") : ""
                let shape = t.shape
                for (i, c) in head.enumerated() where i < shape.count && shape[i] != 1 { labels[c] = shape[i] }
                for (i, c) in tail.reversed().enumerated() where i < shape.count && shape[shape.count - 1 - i] != 1 { labels[c] = shape[shape.count - 1 - i] }
                _ = plain
                perOperand.append(labels)
            }
            for label in Set(perOperand[0].keys).union(perOperand[1].keys) {
                let inBoth = perOperand[0][label] != nil && perOperand[1][label] != nil
                if inBoth || outputLabels.contains(label) { total *= Double(perOperand[0][label] ?? perOperand[1][label]!) }
            }
            if clean.contains("...") { total *= Double(ellipsis.filter { $0 != 1 }.product) }
            counter?.functional(total)
        }
        return make(shape, operands.map(\.dtype).reduce(operands.first?.dtype ?? defaultDType, DType.promoted))
    }

    // MARK: torch.nn.functional

    func registerFunctional() {
        let f = "nn.functional."
        op([f + "conv1d", "conv1d"], method: false) { try self.convolution($0, spatial: 1, transposed: false) }
        op([f + "conv2d", "conv2d"], method: false) { try self.convolution($0, spatial: 2, transposed: false) }
        op([f + "conv3d", "conv3d"], method: false) { try self.convolution($0, spatial: 3, transposed: false) }
        op([f + "conv_transpose1d", "conv_transpose1d"], method: false) { try self.convolution($0, spatial: 1, transposed: true) }
        op([f + "conv_transpose2d", "conv_transpose2d"], method: false) { try self.convolution($0, spatial: 2, transposed: true) }
        op([f + "conv_transpose3d"], method: false) { try self.convolution($0, spatial: 3, transposed: true) }
        op([f + "max_pool1d", "max_pool1d"], method: false) { try self.pool($0, spatial: 1, kind: "max") }
        op([f + "max_pool2d", "max_pool2d"], method: false) { try self.pool($0, spatial: 2, kind: "max") }
        op([f + "max_pool3d"], method: false) { try self.pool($0, spatial: 3, kind: "max") }
        op([f + "max_unpool2d"], method: false) { a in
            // torch's size: (input − 1)·stride − 2·padding + kernel per axis, or output_size's last two
            let x = try a.tensor(0, "input")
            _ = try a.tensor(1, "indices")
            guard x.shape.count == 3 || x.shape.count == 4 else { throw a.interp.error(a.interp.types.runtimeError, "max_unpool2d expects a 3D or 4D input, got \(x.shape)") }
            let kernel = try a.ints(2, "kernel_size", count: 2)
            let stride = a.has(3, "stride") ? try a.ints(3, "stride", count: 2) : kernel
            let padding = try a.ints(4, "padding", count: 2, 0)
            var size = (0..<2).map { (x.shape[x.shape.count - 2 + $0] - 1) * stride[$0] - 2 * padding[$0] + kernel[$0] }
            if a.has(5, "output_size") {
                let given = try a.interp.materialize(a.value(5, "output_size")!).map { try a.interp.intArgument($0, "output_size") }
                guard given.count >= 2 else { throw a.interp.error(a.interp.types.valueError, "output_size must have at least 2 elements") }
                size = Array(given.suffix(2))
            }
            guard size.allSatisfy({ $0 > 0 }) else { throw a.interp.error(a.interp.types.runtimeError, "max_unpool2d: output size \(size) is empty") }
            return self.wrap(self.make(Array(x.shape.dropLast(2)) + size, x.dtype))
        }
        op([f + "avg_pool1d", "avg_pool1d"], method: false) { try self.pool($0, spatial: 1, kind: "avg") }
        op([f + "avg_pool2d", "avg_pool2d"], method: false) { try self.pool($0, spatial: 2, kind: "avg") }
        op([f + "avg_pool3d"], method: false) { try self.pool($0, spatial: 3, kind: "avg") }
        op([f + "lp_pool2d"], method: false) { a in
            let rest = Arguments(Array(a.arguments.positional.dropFirst()), keywords: a.arguments.keywords)
            return try self.pool(TorchArguments(arguments: rest, interp: a.interp, function: a.function, torch: self), spatial: 2, kind: "avg")
        }
        for n in 1...3 {
            op([f + "adaptive_avg_pool\(n)d", "adaptive_avg_pool\(n)d"], method: false) { try self.adaptivePool($0, spatial: n) }
            op([f + "adaptive_max_pool\(n)d", "adaptive_max_pool\(n)d"], method: false) { try self.adaptivePool($0, spatial: n) }
        }
        op([f + "linear"], method: false) { a in
            let x = try a.tensor(0, "input"), w = try a.tensor(1, "weight")
            guard let last = x.shape.last, w.shape.count >= 1, last == w.shape.last! else {
                throw a.interp.error(a.interp.types.runtimeError, "mat1 and mat2 shapes cannot be multiplied (\(x.shape.dropLast().product)x\(x.shape.last ?? 0) and \(w.shape.last ?? 0)x\(w.shape.first ?? 0))")
            }
            let shape = Array(x.shape.dropLast()) + (w.shape.count == 2 ? [w.shape[0]] : [])
            self.multiplyAdds += self.macs(shape.product, last)
            self.counter?.functional(self.macs(shape.product, last))
            return self.wrap(self.make(shape, x.dtype))
        }
        op([f + "bilinear"], method: false) { a in
            let x = try a.tensor(0, "input1"), w = try a.tensor(2, "weight")
            return self.wrap(self.make(Array(x.shape.dropLast()) + [w.shape[0]], x.dtype))
        }
        let sameShape = ["relu", "relu6", "gelu", "silu", "sigmoid", "tanh", "hardswish", "hardsigmoid", "mish", "leaky_relu", "elu", "selu",
                         "celu", "softplus", "softsign", "logsigmoid", "hardtanh", "tanhshrink", "hardshrink", "softshrink", "prelu", "rrelu",
                         "dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout", "normalize",
                         "layer_norm", "group_norm", "batch_norm", "instance_norm", "local_response_norm", "rms_norm", "threshold",
                         "relu_", "leaky_relu_", "elu_", "hardtanh_", "silu_", "gelu_", "sigmoid_", "hardswish_", "mish_"]
        for name in sameShape {
            op([f + name], method: false) { a in
                let t = try a.tensor(0, "input")
                // in place (`F.silu(x, inplace=True)`, and modules whose `inplace` Ultralytics'
                // initialize_weights sets): the result is the input tensor itself
                if try name.hasSuffix("_") || self.inplaceArgument(a, name: name) { return self.wrap(t) }
                if let v = t.values {
                    switch name {
                    case "relu": return self.wrap(self.mapValues(t) { Swift.max($0, 0) })
                    case "sigmoid": return self.wrap(self.mapValues(t) { 1 / (1 + Foundation.exp(-$0)) })
                    case "silu": return self.wrap(self.mapValues(t) { $0 / (1 + Foundation.exp(-$0)) })
                    case "tanh": return self.wrap(self.mapValues(t, Foundation.tanh))
                    default: _ = v
                    }
                }
                return self.wrap(self.make(t.shape, t.dtype))
            }
        }
        for name in ["softmax", "log_softmax", "softmin", "gumbel_softmax"] {
            op([f + name], method: false) { a in try self.call(name == "log_softmax" ? "log_softmax" : "softmax", a.arguments.positional, a.arguments.keywords, a.interp) }
        }
        op([f + "glu"], method: false) { a in
            let t = try a.tensor(0, "input")
            let d = try self.normalizedDimension(try a.int(1, "dim", -1), t.shape.count, a.interp)
            var shape = t.shape
            shape[d] /= 2
            return self.wrap(self.make(shape, t.dtype))
        }
        op([f + "interpolate", f + "upsample", f + "upsample_bilinear", f + "upsample_nearest"], method: false) { a in
            let x = try a.tensor(0, "input")
            let spatial = x.shape.count - 2
            guard spatial >= 1 else { throw a.interp.valueError("interpolate expects a batched input with spatial dimensions, got \(x.shape)") }
            var shape = Array(x.shape.prefix(2))
            if let sizeValue = a.value(1, "size"), !sizeValue.isNone {
                if let s = try a.interp.indexValue(sizeValue) { shape += Array(repeating: s, count: spatial) }
                else { shape += try a.interp.materialize(sizeValue).map { try a.interp.intArgument($0, "size") } }
            } else if let scaleValue = a.value(2, "scale_factor"), !scaleValue.isNone {
                let scales: [Double]
                if let d = try? a.interp.floatArgument(scaleValue, "") { scales = Array(repeating: d, count: spatial) }
                else { scales = try a.interp.materialize(scaleValue).map { try a.interp.floatArgument($0, "scale_factor") } }
                for (size, scale) in zip(x.shape.suffix(spatial), scales) {
                    let scaled = (Double(size) * scale).rounded(.down)
                    guard scaled.isFinite, scaled >= 0, scaled < Double(TorchRuntime.largestElementCount) else {
                        throw a.interp.error(a.interp.types.runtimeError, "interpolate: scale_factor \(scale) gives an output size out of range")
                    }
                    shape.append(Int(scaled))
                }
            } else {
                throw a.interp.valueError("either size or scale_factor should be defined")
            }
            return self.wrap(self.make(shape, x.dtype))
        }
        op([f + "pad", "pad"], method: false) { a in
            let x = try a.tensor(0, "input")
            let pads = try a.interp.materialize(a.value(1, "pad") ?? .tuple([])).map { try a.interp.intArgument($0, "pad") }
            guard pads.count % 2 == 0, pads.count / 2 <= x.shape.count else { throw a.interp.valueError("Padding length must be divisible by 2 and at most twice the number of dimensions") }
            var shape = x.shape
            for i in 0..<(pads.count / 2) {
                let d = shape.count - 1 - i
                shape[d] += pads[2 * i] + pads[2 * i + 1]
                guard shape[d] >= 0 else { throw a.interp.error(a.interp.types.runtimeError, "negative padding makes an empty dimension") }
            }
            return self.wrap(self.make(shape, x.dtype))
        }
        op([f + "grid_sample"], method: false) { a in
            let x = try a.tensor(0, "input"), grid = try a.tensor(1, "grid")
            guard x.shape.count == 4, grid.shape.count == 4, grid.shape[3] == 2, grid.shape[0] == x.shape[0] else {
                throw a.interp.error(a.interp.types.runtimeError, "grid_sampler(): expected input \(x.shape) and grid \(grid.shape) with grid [N, H, W, 2] and the same batch")
            }
            return self.wrap(self.make([x.shape[0], x.shape[1], grid.shape[1], grid.shape[2]], x.dtype))
        }
        op([f + "affine_grid"], method: false) { a in
            let theta = try a.tensor(0, "theta")
            let size = try a.interp.materialize(a.value(1, "size") ?? .tuple([])).map { try a.interp.intArgument($0, "size") }
            return self.wrap(self.make([size[0]] + size.dropFirst(2) + [size.count - 2], theta.dtype))
        }
        op([f + "unfold"], method: false) { a in
            let x = try a.tensor(0, "input")
            guard x.shape.count == 4 else { throw a.interp.error(a.interp.types.runtimeError, "Input Error: Only 4D input Tensors are supported (got \(x.shape.count)D)") }
            let kernel = try a.ints(1, "kernel_size", count: 2)
            let dilation = try a.ints(2, "dilation", count: 2, 1)
            let padding = try a.ints(3, "padding", count: 2, 0)
            let stride = try a.ints(4, "stride", count: 2, 1)
            let blocks = (0..<2).map { self.pairOutput(x.shape[2 + $0], kernel: kernel[$0], stride: stride[$0], padding: padding[$0], dilation: dilation[$0]) }
            return self.wrap(self.make([x.shape[0], x.shape[1] * kernel[0] * kernel[1], blocks[0] * blocks[1]], x.dtype))
        }
        op([f + "fold"], method: false) { a in
            let x = try a.tensor(0, "input")
            let output = try a.ints(1, "output_size", count: 2)
            let kernel = try a.ints(2, "kernel_size", count: 2)
            return self.wrap(self.make([x.shape[0], x.shape[1] / (kernel[0] * kernel[1])] + output, x.dtype))
        }
        op([f + "pixel_shuffle", "pixel_shuffle"], method: false) { a in
            let x = try a.tensor(0, "input"), r = try a.int(1, "upscale_factor")
            guard r > 0, r < 1 << 20 else { throw a.interp.error(a.interp.types.runtimeError, "pixel_shuffle expects a positive upscale_factor, got \(r)") }
            guard x.shape.count >= 3, x.shape[x.shape.count - 3] % (r * r) == 0 else {
                throw a.interp.error(a.interp.types.runtimeError, "pixel_shuffle expects its input's 'channel' dimension to be divisible by the square of upscale_factor, but input.size(-3)=\(x.shape.count >= 3 ? x.shape[x.shape.count - 3] : 0) is not divisible by \(r * r)")
            }
            var shape = x.shape
            let n = shape.count
            shape[n - 3] /= r * r; shape[n - 2] *= r; shape[n - 1] *= r
            return self.wrap(self.make(shape, x.dtype))
        }
        op([f + "pixel_unshuffle", "pixel_unshuffle"], method: false) { a in
            let x = try a.tensor(0, "input"), r = try a.int(1, "downscale_factor")
            guard r > 0, r < 1 << 20, x.shape.count >= 3 else { throw a.interp.error(a.interp.types.runtimeError, "pixel_unshuffle expects a positive downscale_factor and a 3D or more input") }
            var shape = x.shape
            let n = shape.count
            guard shape[n - 2] % r == 0, shape[n - 1] % r == 0 else {
                throw a.interp.error(a.interp.types.runtimeError, "pixel_unshuffle expects height and width to be divisible by downscale_factor \(r), got \(shape)")
            }
            shape[n - 3] *= r * r; shape[n - 2] /= r; shape[n - 1] /= r
            return self.wrap(self.make(shape, x.dtype))
        }
        op([f + "channel_shuffle", "channel_shuffle"], method: false) { a in self.wrap(self.make(try a.tensor(0, "input").shape, try a.tensor(0, "input").dtype)) }
        op([f + "embedding"], method: false) { a in
            let indices = try a.tensor(0, "input"), w = try a.tensor(1, "weight")
            return self.wrap(self.make(indices.shape + [w.shape.last ?? 0], w.dtype))
        }
        op([f + "one_hot"], method: false) { a in
            let t = try a.tensor(0, "tensor")
            let classes = try a.int(1, "num_classes", -1)
            guard classes > 0 else { throw self.needsValues("one_hot without num_classes", a.interp) }
            return self.wrap(self.make(t.shape + [classes], .int64))
        }
        op([f + "scaled_dot_product_attention"], method: false) { a in
            let q = try a.tensor(0, "query"), k = try a.tensor(1, "key"), v = try a.tensor(2, "value")
            let shape = Array(q.shape.dropLast()) + [v.shape.last ?? 0]
            let attention = self.macs(shape.product / Swift.max(v.shape.last ?? 1, 1), k.shape[k.shape.count - 2], (q.shape.last ?? 0) + (v.shape.last ?? 0))
            self.multiplyAdds += attention
            self.counter?.functional(attention)
            return self.wrap(self.make(shape, q.dtype))
        }
        // ModelGraph's own: multi-head attention over projected q [B, N, C], k and v [B, S, C]
        // (torch.nn.MultiheadAttention's core when traced), recorded as one `attention` composite
        op(["_modelgraph_attention"], method: false) { a in
            let q = try a.tensor(0, "query"), k = try a.tensor(1, "key"), v = try a.tensor(2, "value")
            let heads = try a.int(3, "heads", 1)
            guard q.shape.count == 3, k.shape.count == 3, v.shape.count == 3, heads >= 1, q.shape[2] % heads == 0,
                  k.shape[2] == q.shape[2], v.shape[2] == q.shape[2], k.shape[1] == v.shape[1] else {
                throw a.interp.error(a.interp.types.valueError, "_modelgraph_attention: q, k, v [B, N, C] with C divisible by heads, got \(q.shape), \(k.shape), \(v.shape), heads \(heads)")
            }
            return self.wrap(self.make(q.shape, q.dtype))
        }
        op([f + "cosine_similarity"], method: false) { a in
            let x = try a.tensor(0, "x1"), y = try a.tensor(1, "x2")
            var shape = try self.broadcast(x.shape, y.shape, a.interp)
            shape.remove(at: try self.normalizedDimension(try a.int(2, "dim", 1), shape.count, a.interp))
            return self.wrap(self.make(shape, x.dtype))
        }
        for name in ["mse_loss", "l1_loss", "cross_entropy", "binary_cross_entropy", "binary_cross_entropy_with_logits", "smooth_l1_loss", "kl_div", "nll_loss"] {
            op([f + name], method: false) { a in self.wrap(self.make([], try a.tensor(0, "input").dtype)) }
        }
    }
}
