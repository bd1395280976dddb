import Foundation
import ModelGraph
import Tensor

/// A complex tensor of a traced forward: two program values, its real part and its imaginary
/// part (nil: zero, as for a real tensor). The program stays real; ops over complex tensors are
/// float32 ops over the parts, and the FFTs are products with constant DFT matrices.
struct ComplexParts {
    var re: Int
    var im: Int?
}

extension TraceStep {
    /// Ops that act on each part alone (the result's real part is the op over the real parts):
    /// moving, cutting and joining elements, and sums.
    static let partwiseOnComplex: Set<String> = [
        "view", "reshape", "view_as", "reshape_as", "flatten", "unflatten", "unsqueeze", "squeeze", "permute", "transpose", "swapaxes",
        "swapdims", "contiguous", "clone", "detach", "cpu", "cuda", "to", "type", "type_as", "resolve_conj", "__getitem__", "cat", "concat",
        "concatenate", "stack", "split", "split_with_sizes", "chunk", "unbind", "roll", "flip", "expand", "expand_as", "repeat", "narrow",
        "movedim", "moveaxis", "sum", "mean", "neg", "negative", "identity", "dropout", "copy",
    ]

    /// Every tensor among the op's arguments.
    var tensorArguments: [TorchTensor] {
        a.arguments.positional.flatMap { torch.tensors(in: $0) } + a.arguments.keywords.flatMap { torch.tensors(in: $0.1) }
    }

    /// Whether the op reads or makes a complex tensor (`recordComplex` records it).
    var involvesComplex: Bool {
        name.hasPrefix("fft.") || outputs.contains { $0.dtype.isComplex } || tensorArguments.contains { $0.dtype.isComplex }
    }

    /// A tensor's parts: a complex tensor's two values, a real tensor's value and no imaginary part.
    func parts(_ t: TorchTensor) throws -> ComplexParts {
        guard t.dtype.isComplex else { return ComplexParts(re: try value(t), im: nil) }
        guard let re = t.symbol else {
            _ = try value(t)  // a poisoned tensor's reason, or the complex tensor's
            throw Untraceable("reads a complex tensor whose values fork mode does not know")
        }
        return ComplexParts(re: re, im: t.imaginarySymbol)
    }

    /// Argument `index` as parts: a tensor, or a real Python number.
    func parts(_ index: Int, _ keyword: String) throws -> ComplexParts {
        if case .object(let t as TorchTensor)? = a.value(index, keyword) { return try parts(t) }
        return ComplexParts(re: try value(index, keyword), im: nil)
    }

    /// The op's result tensor `position` holds `parts`.
    func bind(_ parts: ComplexParts, _ position: Int = 0) throws {
        let t = outputs[position]
        guard t.dtype.isComplex else { try bind(parts.re, position); return }
        guard trace.shapes[parts.re] == t.shape, parts.im.map({ trace.shapes[$0] == t.shape }) ?? true else {
            throw Untraceable("its program form makes \(trace.shapes[parts.re] ?? []), torch's shape rules \(t.shape) (a ModelGraph bug; please report it)")
        }
        t.symbol = parts.re
        t.imaginarySymbol = parts.im
    }

    /// `id` (of `shape`) broadcast to the output's shape.
    func broadcast(_ id: Int, to shape: [Int]) -> Int {
        let current = trace.shapes[id] ?? shape
        guard current != shape else { return id }
        let lifted = Array(repeating: 1, count: shape.count - current.count) + current
        let viewed = reshape(id, from: current, to: lifted)
        return lifted == shape ? viewed : emit(.expand(shape), [viewed], shape)
    }

    func negated(_ id: Int) -> Int { emit(.multiply, [id, scalar(-1)], trace.shapes[id]!) }

    func recordComplex() throws {
        let shape = output.shape
        switch name {
        case "real": try bind(try parts(try tensor(0, "input")).re)
        case "imag":
            let x = try parts(try tensor(0, "input"))
            try bind(x.im ?? constant(Tensor(shape: shape)))
        case "conj", "conj_physical", "resolve_neg":
            let x = try parts(try tensor(0, "input"))
            try bind(ComplexParts(re: x.re, im: x.im.map(negated)))
        case "abs", "absolute":
            let x = try parts(try tensor(0, "input"))
            guard let im = x.im else { try bind(emit(.activation(.relu), [x.re], shape)); return }
            let squares = emit(.add, [emit(.multiply, [x.re, x.re], shape), emit(.multiply, [im, im], shape)], shape)
            try bind(emit(.squareRoot, [squares], shape))
        case "view_as_real":
            let x = try parts(try tensor(0, "input"))
            let partShape = Array(shape.dropLast()) + [1]
            let im = x.im ?? constant(Tensor(shape: Array(shape.dropLast())))
            try bind(emit(.concatenate(axis: shape.count - 1), [reshape(x.re, from: Array(shape.dropLast()), to: partShape),
                                                                reshape(im, from: Array(shape.dropLast()), to: partShape)], shape))
        case "view_as_complex":
            let x = try tensor(0, "input")
            let id = try value(x), half = Array(x.shape.dropLast()) + [1]
            let last = x.shape.count - 1
            let re = reshape(emit(.slice(axis: last, start: 0, end: 1, step: 1), [id], half), from: half, to: shape)
            let im = reshape(emit(.slice(axis: last, start: 1, end: 2, step: 1), [id], half), from: half, to: shape)
            try bind(ComplexParts(re: re, im: im))
        case "complex":
            try bind(ComplexParts(re: broadcast(try value(0, "real"), to: shape), im: broadcast(try value(1, "imag"), to: shape)))
        case "add", "sub", "subtract":
            guard !a.arguments.keywords.contains(where: { $0.0 == "alpha" }) else { throw Untraceable("complex add with alpha") }
            let x = try parts(0, "input"), y = try parts(1, "other")
            let op: ProgramOp = name == "add" ? .add : .subtract
            let re = emit(op, [x.re, y.re], shape)
            var im: Int?
            switch (x.im, y.im) {
            case let (p?, q?): im = emit(op, [p, q], shape)
            case let (p?, nil): im = broadcast(p, to: shape)
            case let (nil, q?): im = broadcast(name == "add" ? q : negated(q), to: shape)
            case (nil, nil): im = nil
            }
            try bind(ComplexParts(re: re, im: im))
        case "mul", "multiply":
            try bind(product(try parts(0, "input"), try parts(1, "other"), shape: shape, op: .multiply))
        case "matmul":
            try bind(product(try parts(0, "input"), try parts(1, "other"), shape: shape, op: .matmul))
        case "div", "divide", "true_divide":
            let x = try parts(0, "input"), y = try parts(1, "other")
            guard let q = y.im else {
                try bind(ComplexParts(re: emit(.divide, [x.re, y.re], shape), im: x.im.map { emit(.divide, [$0, y.re], shape) }))
                return
            }
            // x / y = x · conj(y) / |y|²
            let magnitude = emit(.add, [emit(.multiply, [y.re, y.re], trace.shapes[y.re]!), emit(.multiply, [q, q], trace.shapes[q]!)], trace.shapes[y.re]!)
            let scaled = product(x, ComplexParts(re: y.re, im: negated(q)), shape: shape, op: .multiply)
            try bind(ComplexParts(re: emit(.divide, [scaled.re, magnitude], shape), im: scaled.im.map { emit(.divide, [$0, magnitude], shape) }))
        case "zeros_like":
            try bind(ComplexParts(re: constant(Tensor(shape: shape)), im: nil))
        case "__setitem__":
            // a real value into a complex tensor: its real part takes the value, its imaginary part 0
            let x = try tensor(0, "self"), index = a.value(1, "index") ?? .none, newValue = a.value(2, "value") ?? .none
            if case .object(let t as TorchTensor) = newValue, t.dtype.isComplex { throw Untraceable("assigning a complex tensor into a complex one") }
            let target = try parts(x), indexParts = try self.indexParts(index, of: x)
            let re = try assigned(target.re, shape: x.shape, parts: indexParts, newValue)
            let im = try target.im.map { try assigned($0, shape: x.shape, parts: indexParts, .float(0)) }
            try bind(ComplexParts(re: re, im: im))
        case "angle":
            // atan2(imaginary, real): in [−π, π], π for a negative real value
            let x = try parts(try tensor(0, "input"))
            try bind(emit(.atan2, [x.im ?? scalar(0), x.re], shape))
        case "float", "double", "half" where (try tensor(0, "input").dtype.isComplex):
            // a complex tensor cast to a real type keeps its real part (PyTorch warns that it drops the imaginary one)
            try bind(try parts(try tensor(0, "input")).re)
        case "to", "type" where !(try tensor(0, "input").dtype.isComplex):
            // a real tensor made complex: no imaginary part
            try bind(ComplexParts(re: try value(try tensor(0, "input")), im: nil))
        case "fft.fftshift", "fft.ifftshift":
            let x = try tensor(0, "input")
            let dims = try integers(1, "dim").map { try $0.map { try torch.normalizedDimension($0, x.shape.count, a.interp) } } ?? Array(0..<x.shape.count)
            let p = try parts(x)
            // fftshift rolls each axis by size / 2, ifftshift back by −(size / 2)
            let shift = { (id: Int) -> Int in
                dims.reduce(id) { current, axis in
                    self.rolled(current, x.shape, axis: axis, by: self.name == "fft.fftshift" ? x.shape[axis] / 2 : -(x.shape[axis] / 2))
                }
            }
            try bind(ComplexParts(re: shift(p.re), im: p.im.map(shift)))
        case "normalize":
            // x / max(‖x‖₂, eps) along dim, the norm over the magnitudes
            let x = try tensor(0, "input")
            guard try a.double(1, "p", 2) == 2 else { throw Untraceable("normalize of a complex tensor with p other than 2") }
            let axis = try torch.normalizedDimension(try a.int(2, "dim", 1), x.shape.count, a.interp)
            let epsilon = try float(3, "eps", 1e-12)
            let z = try parts(x)
            var squares = emit(.multiply, [z.re, z.re], shape)
            if let im = z.im { squares = emit(.add, [squares, emit(.multiply, [im, im], shape)], shape) }
            var kept = shape
            kept[axis] = 1
            let norm = emit(.clip(minimum: epsilon, maximum: nil),
                            [emit(.squareRoot, [reduce(squares, shape: shape, axes: [axis], mean: false, keep: true)], kept)], kept)
            try bind(ComplexParts(re: emit(.divide, [z.re, norm], shape), im: z.im.map { emit(.divide, [$0, norm], shape) }))
        case _ where name.hasPrefix("fft."):
            try bind(try fourier())
        case _ where TraceStep.partwiseOnComplex.contains(name):
            try partwise()
        default:
            throw Untraceable("complex tensors have no program form for this op")
        }
    }

    /// x·y (element-wise or a matrix product) over parts: (a + bi)(c + di) = (ac − bd) + (ad + bc)i.
    func product(_ x: ComplexParts, _ y: ComplexParts, shape: [Int], op: ProgramOp) -> ComplexParts {
        let re = emit(op, [x.re, y.re], shape)
        switch (x.im, y.im) {
        case (nil, nil): return ComplexParts(re: re, im: nil)
        case let (b?, nil): return ComplexParts(re: re, im: emit(op, [b, y.re], shape))
        case let (nil, d?): return ComplexParts(re: re, im: emit(op, [x.re, d], shape))
        case let (b?, d?):
            let real = emit(.subtract, [re, emit(op, [b, d], shape)], shape)
            return ComplexParts(re: real, im: emit(.add, [emit(op, [x.re, d], shape), emit(op, [b, y.re], shape)], shape))
        }
    }

    /// An op that acts on each part alone, recorded once over the real parts and once over the
    /// imaginary ones (zeros for a real argument).
    func partwise() throws {
        let complexInputs = tensorArguments.filter { $0.dtype.isComplex }
        let saved = complexInputs.map { ($0, $0.symbol, $0.imaginarySymbol) }
        defer { for (t, re, im) in saved { t.symbol = re; t.imaginarySymbol = im } }
        for t in complexInputs where t.symbol == nil { _ = try parts(t) }
        try recordReal()
        let realParts = outputs.map(\.symbol)
        for t in complexInputs { t.symbol = try t.imaginarySymbol ?? constant(Tensor(shape: t.shape)) }
        try recordReal()
        let imaginaryParts = outputs.map(\.symbol)
        for (k, t) in outputs.enumerated() {
            t.symbol = realParts[k]
            t.imaginarySymbol = t.dtype.isComplex ? imaginaryParts[k] : nil
        }
    }

    // MARK: FFTs

    /// torch.fft's transforms: complex ones along each dim in turn, rfft's real-to-complex half
    /// spectrum on the last dim first, irfft's complex-to-real on the last dim last.
    func fourier() throws -> ComplexParts {
        let transform = String(name.dropFirst("fft.".count))
        let x = try tensor(0, "input")
        let oneDimensional = ["fft", "ifft", "rfft", "irfft"].contains(transform)
        let twoDimensional = ["fft2", "ifft2", "rfft2", "irfft2"].contains(transform)
        guard oneDimensional || twoDimensional || ["fftn", "ifftn", "rfftn", "irfftn"].contains(transform) else {
            throw Untraceable("has no program form yet")
        }
        var sizes: [Int?] = []
        if let given = a.value(1, oneDimensional ? "n" : "s"), !given.isNone {
            if let n = try a.interp.indexValue(given) { sizes = [n] } else { sizes = try a.interp.materialize(given).map { $0.isNone ? nil : try a.interp.intArgument($0, "s") } }
        }
        var dims: [Int]
        if let d = try integers(2, "dim") {
            dims = d
        } else if oneDimensional {
            dims = [-1]
        } else if twoDimensional {
            dims = [-2, -1]
        } else {
            dims = sizes.isEmpty ? Array(0..<x.shape.count) : Array((x.shape.count - sizes.count)..<x.shape.count)
        }
        dims = try dims.map { try torch.normalizedDimension($0, x.shape.count, a.interp) }
        if sizes.isEmpty { sizes = Array(repeating: nil, count: dims.count) }
        guard sizes.count == dims.count, !dims.isEmpty else { throw Untraceable("fft with s and dim of different lengths") }
        var norm = "backward"
        if let given = a.value(3, "norm"), !given.isNone { norm = try a.interp.str(given) }
        guard ["backward", "ortho", "forward"].contains(norm) else { throw Untraceable("fft norm '\(norm)'") }
        let inverse = transform.hasPrefix("i")
        func scale(_ n: Int) -> Double {
            switch norm {
            case "ortho": return 1 / Double(n).squareRoot()
            case "forward": return inverse ? 1 : 1 / Double(n)
            default: return inverse ? 1 / Double(n) : 1
            }
        }
        var shape = x.shape
        var current = try parts(x)
        if transform.hasPrefix("r") {
            guard !x.dtype.isComplex else { throw Untraceable("rfft of a complex tensor") }
            let axis = dims.last!
            current = resized(current, &shape, axis: axis, to: sizes.last! ?? shape[axis])
            current = realToComplex(current.re, &shape, axis: axis, scale: scale(shape[axis]))
            for (axis, size) in zip(dims.dropLast(), sizes.dropLast()) {
                current = resized(current, &shape, axis: axis, to: size ?? shape[axis])
                current = complexTransform(current, &shape, axis: axis, inverse: false, scale: scale(shape[axis]))
            }
        } else if transform.hasPrefix("ir") {
            for (axis, size) in zip(dims.dropLast(), sizes.dropLast()) {
                current = resized(current, &shape, axis: axis, to: size ?? shape[axis])
                current = complexTransform(current, &shape, axis: axis, inverse: true, scale: scale(shape[axis]))
            }
            let axis = dims.last!
            let length = sizes.last! ?? 2 * (shape[axis] - 1)
            guard length > 0 else { throw Untraceable("irfft to no points") }
            current = ComplexParts(re: complexToReal(current, &shape, axis: axis, length: length, scale: scale(length)), im: nil)
        } else {
            for (axis, size) in zip(dims, sizes) {
                current = resized(current, &shape, axis: axis, to: size ?? shape[axis])
                current = complexTransform(current, &shape, axis: axis, inverse: inverse, scale: scale(shape[axis]))
            }
        }
        return current
    }

    /// Both parts cropped or zero-padded at the end of `axis` to `length` (fft's `s` and `n`).
    func resized(_ x: ComplexParts, _ shape: inout [Int], axis: Int, to length: Int) -> ComplexParts {
        guard length != shape[axis] else { return x }
        var reShape = shape, imShape = shape
        let re = padded(x.re, &reShape, axis: axis, before: 0, after: length - shape[axis])
        let im = x.im.map { padded($0, &imShape, axis: axis, before: 0, after: length - shape[axis]) }
        shape = reShape
        return ComplexParts(re: re, im: im)
    }

    /// `id` times `matrix` [n, m] along `axis` (moved last and back).
    func alongAxis(_ id: Int, _ shape: [Int], axis: Int, _ matrix: Int, outputs m: Int) -> Int {
        var order = Array(0..<shape.count)
        order.remove(at: axis)
        order.append(axis)
        let moved = order.map { shape[$0] }
        let lifted = moved.count == 1 ? [1] + moved : moved
        let input = reshape(permute(id, order, moved), from: moved, to: lifted)
        let product = Array(lifted.dropLast()) + [m]
        let result = reshape(emit(.matmul, [input, matrix], product), from: product, to: Array(moved.dropLast()) + [m])
        var inverseOrder = [Int](repeating: 0, count: order.count)
        for (position, source) in order.enumerated() { inverseOrder[source] = position }
        var outputShape = shape
        outputShape[axis] = m
        return permute(result, inverseOrder, outputShape)
    }

    /// The constant [rows, columns] matrix `entry(j, k)`, computed in double precision.
    func matrix(_ rows: Int, _ columns: Int, _ entry: (Int, Int) -> Double) -> Int {
        constant(Tensor(shape: [rows, columns], storage: (0..<(rows * columns)).map { Float(entry($0 / columns, $0 % columns)) }))
    }

    /// cos and sin of 2π·j·k/n, the product reduced mod n first (exact angles for large j·k).
    func twiddle(_ j: Int, _ k: Int, _ n: Int) -> (cos: Double, sin: Double) {
        let angle = 2 * Double.pi * Double((j * k) % n) / Double(n)
        return (Foundation.cos(angle), Foundation.sin(angle))
    }

    /// The DFT along `axis`, forward (e^{−iθ}) or inverse (e^{+iθ}), times `scale`.
    func complexTransform(_ x: ComplexParts, _ shape: inout [Int], axis: Int, inverse: Bool, scale: Double) -> ComplexParts {
        let n = shape[axis]
        let cosines = matrix(n, n) { twiddle($0, $1, n).cos * scale }
        let sines = matrix(n, n) { twiddle($0, $1, n).sin * scale }
        // forward: re = xr·C + xi·S, im = xi·C − xr·S; inverse: re = xr·C − xi·S, im = xi·C + xr·S
        let reC = alongAxis(x.re, shape, axis: axis, cosines, outputs: n), reS = alongAxis(x.re, shape, axis: axis, sines, outputs: n)
        guard let im = x.im else { return ComplexParts(re: reC, im: inverse ? reS : negated(reS)) }
        let imC = alongAxis(im, shape, axis: axis, cosines, outputs: n), imS = alongAxis(im, shape, axis: axis, sines, outputs: n)
        return inverse
            ? ComplexParts(re: emit(.subtract, [reC, imS], shape), im: emit(.add, [imC, reS], shape))
            : ComplexParts(re: emit(.add, [reC, imS], shape), im: emit(.subtract, [imC, reS], shape))
    }

    /// rfft along `axis`: the n / 2 + 1 non-negative frequencies of a real signal.
    func realToComplex(_ x: Int, _ shape: inout [Int], axis: Int, scale: Double) -> ComplexParts {
        let n = shape[axis], m = n / 2 + 1
        let re = alongAxis(x, shape, axis: axis, matrix(n, m) { twiddle($0, $1, n).cos * scale }, outputs: m)
        let im = alongAxis(x, shape, axis: axis, matrix(n, m) { -twiddle($0, $1, n).sin * scale }, outputs: m)
        shape[axis] = m
        return ComplexParts(re: re, im: im)
    }

    /// irfft along `axis`: the real signal of `length` points whose half spectrum x is (bins past
    /// length / 2 + 1 unread; the DC and Nyquist bins' imaginary parts add nothing).
    func complexToReal(_ x: ComplexParts, _ shape: inout [Int], axis: Int, length n: Int, scale: Double) -> Int {
        let bins = min(shape[axis], n / 2 + 1)
        var used = x
        if bins < shape[axis] {
            var cut = shape
            cut[axis] = bins
            used = ComplexParts(re: emit(.slice(axis: axis, start: 0, end: bins, step: 1), [x.re], cut),
                                im: x.im.map { emit(.slice(axis: axis, start: 0, end: bins, step: 1), [$0], cut) })
            shape = cut
        }
        // each bin k counts twice (k and n − k) but the DC bin and, for even n, the Nyquist bin
        let weight = { (k: Int) -> Double in k == 0 || (n % 2 == 0 && k == n / 2) ? 1 : 2 }
        var result = alongAxis(used.re, shape, axis: axis, matrix(bins, n) { weight($0) * twiddle($0, $1, n).cos * scale }, outputs: n)
        var outputShape = shape
        outputShape[axis] = n
        if let im = used.im {
            let imaginary = alongAxis(im, shape, axis: axis, matrix(bins, n) { -weight($0) * twiddle($0, $1, n).sin * scale }, outputs: n)
            result = emit(.add, [result, imaginary], outputShape)
        }
        shape = outputShape
        return result
    }
}
