import Foundation
import ModelGraph
import PythonFrontEnd
import PythonInterpreter
import Tensor

/// The op table of fork mode's traced torch: each torch op over traced tensors as operations of
/// ModelGraph's closed program op set (`ProgramOp`), with PyTorch's semantics — composed where the
/// program has no single op (GroupNorm, softplus, padding of other axes, slice assignment, …).
/// An op not here, or a case of one that is not, is noted with the fork's source line.
extension TraceStep {
    // MARK: ops

    func record() throws {
        if involvesComplex { try recordComplex() } else { try recordReal() }
    }

    /// `F.dropout(x, p)` keeps PyTorch's default `training=True` even in `eval()` (unlike
    /// `nn.Dropout`, which passes its module's flag): PyTorch then zeroes elements at random and
    /// scales the rest, run after run. The program runs the identity, its expectation, and says so.
    func noteDropoutInTraining() throws {
        let alpha = name.contains("alpha")  // F.alpha_dropout and F.feature_alpha_dropout default to training=False
        let training = try a.value(2, "training") != nil ? a.bool(2, "training", !alpha) : a.bool(2, "train", !alpha)  // torch.dropout(x, p, train)
        let probability = try a.double(1, "p", 0.5)
        guard training, probability > 0 else { return }
        let site = a.interp.innermostSite { !$0.hasPrefix("<") }
        trace.depart(name, "called with training=True (F.\(name)'s default), so PyTorch drops elements at random (p=\(probability)) even in eval(); "
                     + "ModelGraph runs it as the identity, its expectation, so outputs differ from any one PyTorch run", site: site)
    }

    /// The op over real tensors.
    func recordReal() throws {
        switch name {
        // identities in eval mode and on a CPU
        case "contiguous", "detach", "clone", "cpu", "cuda", "requires_grad", "dropout", "dropout1d", "dropout2d", "dropout3d",
             "alpha_dropout", "feature_alpha_dropout", "identity", "pin_memory", "float", "double", "type_as", "to", "type", "resolve_conj",
             "long", "int", "short":
            let source = try tensor(0, "input")
            if name.hasSuffix("dropout") { try noteDropoutInTraining() }
            // float to integers rounds toward zero (index arithmetic: floor, clamp, then long())
            if source.dtype.isFloatingPoint, !output.dtype.isFloatingPoint, output.dtype != .bool, !output.dtype.isComplex {
                try bind(emit(.truncate, [try value(source)], output.shape), exact: true)
                return
            }
            // float to float, integers or bools (held as 1 and 0) to float or to integers (exact below 2^24)
            let integers = { (t: TorchTensor) in !t.dtype.isFloatingPoint && !t.dtype.isComplex }
            guard source.dtype == output.dtype || (output.dtype.isFloatingPoint && !source.dtype.isComplex)
                    || (integers(source) && integers(output) && output.dtype != .bool) else {
                throw Untraceable("casts \(source.dtype.rawValue) to \(output.dtype.rawValue)")
            }
            try bind(try value(source), exact: !source.dtype.isFloatingPoint)

        case "add", "sub", "subtract", "mul", "multiply", "div", "divide", "true_divide", "rsub":
            var left = try value(0, "input"), right = try value(1, "other")
            if a.arguments.keyword("rounding_mode").map({ !$0.isNone }) ?? false { throw Untraceable("division with a rounding_mode") }
            if let alpha = a.arguments.keyword("alpha") {
                right = emit(.multiply, [right, scalar(Float(try a.interp.floatArgument(alpha, "alpha")))], try tensor(1, "other").shape)
            }
            if name == "rsub" { swap(&left, &right) }
            let op: ProgramOp = ["add"].contains(name) ? .add : ["sub", "subtract", "rsub"].contains(name) ? .subtract
                : ["mul", "multiply"].contains(name) ? .multiply : .divide
            try bind(emit(op, [left, right], output.shape))
        case "floor_divide", "remainder" where !(try tensor(0, "input")).dtype.isFloatingPoint:
            // integer indices by a positive Python integer (a top-k index // nc, % nc)
            guard case .int(let divisor)? = a.value(1, "other"), divisor > 0 else { throw Untraceable("\(name) of integers by other than a positive integer") }
            let op: ProgramOp = name == "floor_divide" ? .integerDivide(divisor) : .remainder(divisor)
            try bind(emit(op, [try value(0, "input")], output.shape), exact: true)
        case "neg", "negative":
            try bind(emit(.multiply, [try value(0, "input"), scalar(-1)], output.shape))
        case "pow":
            let base = try value(0, "input")
            guard let exponentValue = a.value(1, "exponent"), let exponent = try? a.interp.floatArgument(exponentValue, "exponent") else {
                throw Untraceable("a tensor exponent")
            }
            switch exponent {
            case 1: try bind(base)
            case 2: try bind(emit(.multiply, [base, base], output.shape))
            case 3: try bind(emit(.multiply, [emit(.multiply, [base, base], output.shape), base], output.shape))
            case 0.5: try bind(emit(.squareRoot, [base], output.shape))
            case -1: try bind(emit(.divide, [scalar(1), base], output.shape))
            case -0.5: try bind(emit(.divide, [scalar(1), emit(.squareRoot, [base], output.shape)], output.shape))
            default: throw Untraceable("the exponent \(exponent) (2, 3, 0.5, -1 and -0.5 are traced)")
            }
        case "square": let x = try value(0, "input"); try bind(emit(.multiply, [x, x], output.shape))
        case "exp": try bind(emit(.exp, [try value(0, "input")], output.shape))
        case "floor": try bind(emit(.floor, [try value(0, "input")], output.shape))
        case "eq", "ne", "lt", "le", "gt", "ge", "less", "greater", "less_equal", "greater_equal", "not_equal":
            let comparisons: [String: Comparison] = ["eq": .equal, "ne": .notEqual, "not_equal": .notEqual, "lt": .less, "less": .less,
                                                     "le": .lessOrEqual, "less_equal": .lessOrEqual, "gt": .greater, "greater": .greater,
                                                     "ge": .greaterOrEqual, "greater_equal": .greaterOrEqual]
            try bind(emit(.compare(comparisons[name]!), [try value(0, "input"), try value(1, "other")], output.shape), exact: true)
        case "isinf", "isnan", "isfinite":
            let x = try value(0, "input"), shape = output.shape
            switch name {
            case "isnan": try bind(emit(.compare(.notEqual), [x, x], shape), exact: true)
            case "isinf": try bind(emit(.compare(.equal), [magnitude(x, shape), scalar(.infinity)], shape), exact: true)
            default: try bind(emit(.compare(.less), [magnitude(x, shape), scalar(.infinity)], shape), exact: true)
            }
        case "sign":
            let x = try value(0, "input"), shape = output.shape
            try bind(emit(.subtract, [emit(.compare(.greater), [x, scalar(0)], shape), emit(.compare(.less), [x, scalar(0)], shape)], shape),
                     exact: true)
        case "where":
            guard a.value(1, "input") != nil else { throw Untraceable("torch.where with one argument (indices)") }
            try bind(emit(.select, [try value(0, "condition"), try value(1, "input"), try value(2, "other")], output.shape), exact: true)
        case "masked_fill":
            try bind(emit(.select, [try value(1, "mask"), try value(2, "value"), try value(0, "input")], output.shape))
        case "cdist":
            try bind(try distances())
        case "trunc", "fix": try bind(emit(.truncate, [try value(0, "input")], output.shape))
        case "ceil":
            // ⌈x⌉ = −⌊−x⌋
            let negated = emit(.multiply, [try value(0, "input"), scalar(-1)], output.shape)
            try bind(emit(.multiply, [emit(.floor, [negated], output.shape), scalar(-1)], output.shape))
        case "log": try bind(emit(.log, [try value(0, "input")], output.shape))
        case "sqrt": try bind(emit(.squareRoot, [try value(0, "input")], output.shape))
        case "rsqrt": try bind(emit(.divide, [scalar(1), emit(.squareRoot, [try value(0, "input")], output.shape)], output.shape))
        case "reciprocal": try bind(emit(.divide, [scalar(1), try value(0, "input")], output.shape))
        case "sin": try bind(emit(.sine, [try value(0, "input")], output.shape))
        case "cos": try bind(emit(.cosine, [try value(0, "input")], output.shape))
        case "abs": try bind(magnitude(try value(0, "input"), output.shape))
        case "angle": try bind(emit(.atan2, [scalar(0), try value(0, "input")], output.shape))  // 0, or π for a negative value
        case "real": try bind(try value(0, "input"))  // a real tensor's real part is itself
        case "clamp", "clip", "hardtanh":
            let low = try a.value(1, name == "hardtanh" ? "min_val" : "min").flatMap { $0.isNone ? nil : Float(try a.interp.floatArgument($0, "min")) }
            let high = try a.value(2, name == "hardtanh" ? "max_val" : "max").flatMap { $0.isNone ? nil : Float(try a.interp.floatArgument($0, "max")) }
            try bind(emit(.clip(minimum: name == "hardtanh" ? (low ?? -1) : low, maximum: name == "hardtanh" ? (high ?? 1) : high),
                          [try value(0, "input")], output.shape))

        // activations
        case "relu": try bind(emit(.activation(.relu), [try value(0, "input")], output.shape))
        case "relu6": try bind(emit(.activation(.relu6), [try value(0, "input")], output.shape))
        case "silu": try bind(emit(.activation(.silu), [try value(0, "input")], output.shape))
        case "sigmoid": try bind(emit(.activation(.sigmoid), [try value(0, "input")], output.shape))
        case "gelu":
            if case .str(let approximate)? = a.value(1, "approximate"), approximate != "none" {
                guard approximate == "tanh" else { throw Untraceable("gelu(approximate='\(approximate)')") }
                // 0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 · x³)))
                let x = try value(0, "input"), shape = output.shape
                let cube = emit(.multiply, [emit(.multiply, [x, x], shape), x], shape)
                let inner = emit(.multiply, [emit(.add, [x, emit(.multiply, [cube, scalar(0.044715)], shape)], shape), scalar(Float((2 / Double.pi).squareRoot()))], shape)
                let gate = emit(.add, [tanh(inner), scalar(1)], shape)
                try bind(emit(.multiply, [emit(.multiply, [x, scalar(0.5)], shape), gate], shape))
                return
            }
            try bind(emit(.activation(.gelu), [try value(0, "input")], output.shape))
        case "elu":
            // relu(x) + α · (exp(−relu(−x)) − 1)
            let x = try value(0, "input"), alpha = try float(1, "alpha", 1), shape = output.shape
            let negative = emit(.activation(.relu), [emit(.multiply, [x, scalar(-1)], shape)], shape)
            let tail = emit(.multiply, [emit(.subtract, [emit(.exp, [emit(.multiply, [negative, scalar(-1)], shape)], shape), scalar(1)], shape), scalar(alpha)], shape)
            try bind(emit(.add, [emit(.activation(.relu), [x], shape), tail], shape))
        case "tanh": try bind(tanh(try value(0, "input")))
        case "hardswish", "hardsigmoid":
            // relu6(x + 3) / 6, times x for hardswish (PyTorch's definitions)
            let x = try value(0, "input")
            let gate = emit(.divide, [emit(.activation(.relu6), [emit(.add, [x, scalar(3)], output.shape)], output.shape), scalar(6)], output.shape)
            try bind(name == "hardswish" ? emit(.multiply, [x, gate], output.shape) : gate)
        case "leaky_relu":
            // max(x, 0) + slope · min(x, 0), as relu(x) − slope · relu(−x)
            let x = try value(0, "input"), slope = try float(1, "negative_slope", 0.01)
            let negative = emit(.activation(.relu), [emit(.multiply, [x, scalar(-1)], output.shape)], output.shape)
            try bind(emit(.subtract, [emit(.activation(.relu), [x], output.shape), emit(.multiply, [negative, scalar(slope)], output.shape)], output.shape))
        case "softplus":
            guard try float(1, "beta", 1) == 1 else { throw Untraceable("softplus with beta ≠ 1") }
            try bind(softplus(try value(0, "input")))
        case "mish":
            let x = try value(0, "input")
            try bind(emit(.multiply, [x, tanh(softplus(x))], output.shape))
        case "softmax", "log_softmax":
            let x = try tensor(0, "input")
            guard let dimension = try a.optionalInt(1, "dim") else { throw Untraceable("softmax without dim") }
            let axis = try torch.normalizedDimension(dimension, x.shape.count, a.interp)
            let soft = emit(.softmax(axis: axis), [try value(x)], output.shape)
            try bind(name == "softmax" ? soft : emit(.log, [soft], output.shape))

        // normalisation
        case "batch_norm":
            let x = try tensor(0, "input")
            guard x.shape.count >= 2 else { throw Untraceable("batch_norm of a \(x.shape.count)-d tensor") }
            guard !(try a.bool(5, "training", false)) else { throw Untraceable("batch_norm in training mode") }
            let channels = x.shape[1]
            let weight = try a.has(3, "weight") ? try value(3, "weight") : constant(Tensor(shape: [channels], repeating: 1))
            let bias = try a.has(4, "bias") ? try value(4, "bias") : constant(Tensor(shape: [channels]))
            let epsilon = try float(7, "eps", 1e-5)
            if x.shape.count == 4 {
                try bind(emit(.batchNorm(epsilon: epsilon), [try value(x), weight, bias, try value(1, "running_mean"), try value(2, "running_var")], output.shape))
            } else {
                // [N, C], [N, C, L] or [N, C, D, H, W]: as a [N, C, L, 1] map
                let planar = [x.shape[0], channels, x.shape.dropFirst(2).reduce(1, *), 1]
                let normalized = emit(.batchNorm(epsilon: epsilon), [reshape(try value(x), from: x.shape, to: planar), weight, bias,
                                                                     try value(1, "running_mean"), try value(2, "running_var")], planar)
                try bind(reshape(normalized, from: planar, to: output.shape))
            }
        case "layer_norm":
            let x = try tensor(0, "input")
            let normalized = try a.interp.materialize(a.value(1, "normalized_shape") ?? .tuple([])).count
            let epsilon = try float(4, "eps", 1e-5)
            let weight = try a.has(2, "weight") ? try value(2, "weight") : nil
            let bias = try a.has(3, "bias") ? try value(3, "bias") : nil
            try bind(layerNorm(try value(x), shape: x.shape, axes: Array((x.shape.count - normalized)..<x.shape.count), epsilon: epsilon, weight: weight, bias: bias))
        case "group_norm":
            let x = try tensor(0, "input")
            let groups = try a.int(1, "num_groups")
            guard x.shape.count >= 2, groups > 0, x.shape[1] % groups == 0 else { throw Untraceable("group_norm's groups do not divide the channels") }
            try bind(groupNormalized(x, groups: groups, epsilon: try float(4, "eps", 1e-5),
                                     weight: try a.has(2, "weight") ? try value(2, "weight") : nil, bias: try a.has(3, "bias") ? try value(3, "bias") : nil))
        case "adaptive_avg_pool1d":
            let x = try tensor(0, "input")
            guard x.shape.count == 3, let o = output.shape.last, o > 0, x.shape[2] % o == 0 else { throw Untraceable("adaptive pooling with windows of unequal sizes") }
            let windows = [x.shape[0], x.shape[1], o, x.shape[2] / o]
            try bind(reduce(reshape(try value(x), from: x.shape, to: windows), shape: windows, axes: [3], mean: true, keep: false))
        case "instance_norm":
            let x = try tensor(0, "input")
            guard try a.bool(5, "use_input_stats", true) else { throw Untraceable("instance_norm with running statistics") }
            guard x.shape.count >= 3 else { throw Untraceable("instance_norm of a \(x.shape.count)-d tensor") }
            // GroupNorm with a group per channel
            try bind(groupNormalized(x, groups: x.shape[1], epsilon: try float(7, "eps", 1e-5),
                                     weight: try a.has(3, "weight") ? try value(3, "weight") : nil, bias: try a.has(4, "bias") ? try value(4, "bias") : nil))
        case "norm":
            let x = try tensor(0, "input")
            if let p = a.value(1, "p"), !p.isNone, (try? a.interp.floatArgument(p, "p")) != 2 { throw Untraceable("a norm other than p=2") }
            let axes = try torch.reducedDimensions(a, rank: x.shape.count, index: 2) ?? Array(0..<x.shape.count)
            let id = try value(x)
            let sum = reduce(emit(.multiply, [id, id], x.shape), shape: x.shape, axes: axes, mean: false, keep: try a.bool(3, "keepdim", false))
            try bind(emit(.squareRoot, [sum], output.shape))
        case "normalize":
            let x = try tensor(0, "input")
            guard try float(1, "p", 2) == 2 else { throw Untraceable("normalize with p ≠ 2") }
            let axis = try torch.normalizedDimension(try a.int(2, "dim", 1), x.shape.count, a.interp)
            let id = try value(x)
            let squares = emit(.multiply, [id, id], x.shape)
            let norm = emit(.squareRoot, [reduce(squares, shape: x.shape, axes: [axis], mean: false, keep: true)],
                            x.shape.enumerated().map { $0.offset == axis ? 1 : $0.element })
            let clipped = emit(.clip(minimum: try float(3, "eps", 1e-12), maximum: nil), [norm], x.shape.enumerated().map { $0.offset == axis ? 1 : $0.element })
            try bind(emit(.divide, [id, clipped], x.shape))

        // reductions
        case "sum", "mean", "amax":
            let x = try tensor(0, "input")
            let axes = try torch.reducedDimensions(a, rank: x.shape.count)
            guard output.dtype.isFloatingPoint || output.dtype.isComplex else { throw Untraceable("a reduction to \(output.dtype.rawValue)") }
            let all = axes ?? Array(0..<x.shape.count)
            try bind(reduce(try value(x), shape: x.shape, axes: all, mean: name == "mean", keep: try a.bool(2, "keepdim", false), maximum: name == "amax"))
        case "amin", "min":
            // −max(−x)
            let x = try tensor(0, "input")
            guard output.dtype.isFloatingPoint, !(a.value(1, "other").map({ if case .object(is TorchTensor) = $0 { return true }; return false }) ?? false) else {
                throw Untraceable("torch.min of two tensors")
            }
            let negated = emit(.multiply, [try value(x), scalar(-1)], x.shape)
            let axes = try torch.reducedDimensions(a, rank: x.shape.count) ?? Array(0..<x.shape.count)
            let keep = try a.bool(2, "keepdim", false)
            let reduced = reduce(negated, shape: x.shape, axes: axes, mean: false, keep: keep, maximum: true)
            let reducedShape = keep ? x.shape.enumerated().map { axes.contains($0.offset) ? 1 : $0.element } : x.shape.enumerated().filter { !axes.contains($0.offset) }.map(\.element)
            try bind(reshape(emit(.multiply, [reduced, scalar(-1)], reducedShape), from: reducedShape, to: output.shape))
        case "var", "std":
            // mean of squared deviations, × n / (n − correction); the root for std
            let x = try tensor(0, "input")
            let axes = try torch.reducedDimensions(a, rank: x.shape.count) ?? Array(0..<x.shape.count)
            var correction = 1.0
            if let unbiased = a.arguments.keyword("unbiased") { correction = try a.interp.truthy(unbiased) ? 1 : 0 }
            if let given = a.arguments.keyword("correction"), !given.isNone { correction = try a.interp.floatArgument(given, "correction") }
            if a.arguments.positional.count > 2, case .bool(let unbiased) = a.arguments.positional[2] { correction = unbiased ? 1 : 0 }
            let keep: Bool = try { if let k = a.arguments.keyword("keepdim") { return try a.interp.truthy(k) }; return false }()
            let id = try value(x), count = Double(axes.map { x.shape[$0] }.reduce(1, *))
            let keptShape = x.shape.enumerated().map { axes.contains($0.offset) ? 1 : $0.element }
            let centred = emit(.subtract, [id, reduce(id, shape: x.shape, axes: axes, mean: true, keep: true)], x.shape)
            var spread = reduce(emit(.multiply, [centred, centred], x.shape), shape: x.shape, axes: axes, mean: true, keep: true)
            if correction != 0 { spread = emit(.multiply, [spread, scalar(Float(count / max(count - correction, 1e-300)))], keptShape) }
            if name == "std" { spread = emit(.squareRoot, [spread], keptShape) }
            try bind(keep ? spread : reshape(spread, from: keptShape, to: output.shape))
        case "roll":
            // each rolled axis: its last `shift` positions first (slices concatenated)
            let x = try tensor(0, "input")
            guard let shifts = try integers(1, "shifts"), let dims = try integers(2, "dims"), shifts.count == dims.count else { throw Untraceable("roll without dims") }
            var id = try value(x)
            for (shift, d) in zip(shifts, dims) {
                id = rolled(id, x.shape, axis: try torch.normalizedDimension(d, x.shape.count, a.interp), by: shift)
            }
            try bind(id)
        case "unfold" where a.function.hasPrefix("nn.functional."):
            // im2col: each kernel tap a (strided) slice of the zero-padded map, the taps stacked
            // after the channels: [N, C·kh·kw, L]
            let x = try tensor(0, "input")
            let kernel = try a.ints(1, "kernel_size", count: 2), dilation = try a.ints(2, "dilation", count: 2, 1)
            let padding = try a.ints(3, "padding", count: 2, 0), stride = try a.ints(4, "stride", count: 2, 1)
            var id = try value(x)
            var shape = x.shape
            if padding != [0, 0] {
                shape = [shape[0], shape[1], shape[2] + 2 * padding[0], shape[3] + 2 * padding[1]]
                id = emit(.pad(left: padding[1], right: padding[1], top: padding[0], bottom: padding[0], reflect: false), [id], shape)
            }
            var blocks: [Int] = []
            for axis in 0..<2 {
                blocks.append(torch.pairOutput(x.shape[2 + axis], kernel: kernel[axis], stride: stride[axis], padding: padding[axis], dilation: dilation[axis]))
            }
            guard blocks.allSatisfy({ $0 > 0 }) else { throw Untraceable("unfold with no whole block") }
            let (batch, channels, positions) = (shape[0], shape[1], blocks[0] * blocks[1])
            var taps: [Int] = []
            for i in 0..<kernel[0] {
                let top = i * dilation[0]
                let rows = emit(.slice(axis: 2, start: top, end: top + (blocks[0] - 1) * stride[0] + 1, step: stride[0]), [id],
                                [batch, channels, blocks[0], shape[3]])
                for j in 0..<kernel[1] {
                    let left = j * dilation[1]
                    let tap = emit(.slice(axis: 3, start: left, end: left + (blocks[1] - 1) * stride[1] + 1, step: stride[1]), [rows],
                                   [batch, channels, blocks[0], blocks[1]])
                    taps.append(emit(.reshape([batch, channels, 1, positions]), [tap], [batch, channels, 1, positions]))
                }
            }
            let stacked = emit(.concatenate(axis: 2), taps, [batch, channels, taps.count, positions])
            try bind(emit(.reshape(output.shape), [stacked], output.shape))
        case "fold":
            // col2im: each kernel tap's map spread by the stride (zeros between its blocks), padded
            // into place on the padded canvas; the taps summed, the padding cropped
            let x = try tensor(0, "input")
            guard x.shape.count == 3 else { throw Untraceable("fold of an unbatched input") }
            let size = try a.ints(1, "output_size", count: 2), kernel = try a.ints(2, "kernel_size", count: 2)
            let dilation = try a.ints(3, "dilation", count: 2, 1), padding = try a.ints(4, "padding", count: 2, 0)
            let stride = try a.ints(5, "stride", count: 2, 1)
            let taps = kernel[0] * kernel[1], (batch, channels) = (x.shape[0], x.shape[1] / taps)
            let canvas = [size[0] + 2 * padding[0], size[1] + 2 * padding[1]]
            let blocks: [Int] = (0..<2).map { axis in
                let reach: Int = dilation[axis] * (kernel[axis] - 1) + 1
                return (canvas[axis] - reach) / stride[axis] + 1
            }
            guard stride.allSatisfy({ $0 > 0 }), blocks[0] > 0, blocks[1] > 0, blocks[0] * blocks[1] == x.shape[2] else {
                throw Untraceable("fold whose blocks do not tile the output")
            }
            // a tap's blocks spread by the stride span (blocks − 1)·stride + 1 canvas cells per axis
            let spans: [Int] = (0..<2).map { axis in (blocks[axis] - 1) * stride[axis] + 1 }
            let positions = x.shape[2], canvasShape = [batch, channels, canvas[0], canvas[1]]
            let columns = reshape(try value(x), from: x.shape, to: [batch, channels, taps, positions])
            var sum: Int?
            for i in 0..<kernel[0] {
                for j in 0..<kernel[1] {
                    let t = i * kernel[1] + j, (top, left) = (i * dilation[0], j * dilation[1])
                    let tap = emit(.slice(axis: 2, start: t, end: t + 1, step: 1), [columns], [batch, channels, 1, positions])
                    var map = reshape(tap, from: [batch, channels, 1, positions], to: [batch, channels, blocks[0], blocks[1]])
                    if stride != [1, 1] {
                        // [B, C, h, 1, w, 1] with zeros after each block, to [B, C, h·s, w·s], cropped to the span
                        var shape = [batch, channels, blocks[0], 1, blocks[1], 1]
                        map = reshape(map, from: [batch, channels, blocks[0], blocks[1]], to: shape)
                        for (axis, s) in [(3, stride[0]), (5, stride[1])] where s > 1 {
                            var zeros = shape
                            zeros[axis] = s - 1
                            shape[axis] = s
                            map = emit(.concatenate(axis: axis), [map, constant(Tensor(shape: zeros))], shape)
                        }
                        let spread = [batch, channels, blocks[0] * stride[0], blocks[1] * stride[1]]
                        map = reshape(map, from: shape, to: spread)
                        map = emit(.slice(axis: 2, start: 0, end: spans[0], step: 1), [map], [batch, channels, spans[0], spread[3]])
                        map = emit(.slice(axis: 3, start: 0, end: spans[1], step: 1), [map], [batch, channels, spans[0], spans[1]])
                    }
                    let placed = emit(.pad(left: left, right: canvas[1] - left - spans[1], top: top, bottom: canvas[0] - top - spans[0], reflect: false),
                                      [map], canvasShape)
                    sum = sum.map { emit(.add, [$0, placed], canvasShape) } ?? placed
                }
            }
            var result = sum!, shape = canvasShape
            if padding[0] > 0 {
                shape[2] = size[0]
                result = emit(.slice(axis: 2, start: padding[0], end: padding[0] + size[0], step: 1), [result], shape)
            }
            if padding[1] > 0 {
                shape[3] = size[1]
                result = emit(.slice(axis: 3, start: padding[1], end: padding[1] + size[1], step: 1), [result], shape)
            }
            try bind(result)
        case "unfold":
            // windows along one axis: for each offset in the window its strided slice, stacked last
            let x = try tensor(0, "self")
            let axis = try torch.normalizedDimension(try a.int(1, "dimension"), x.shape.count, a.interp)
            let (size, step) = (try a.int(2, "size"), try a.int(3, "step"))
            let count = (x.shape[axis] - size) / step + 1
            var sliced = x.shape
            sliced[axis] = count
            let id = try value(x)
            let window = sliced + [1]
            var parts: [Int] = []
            for offset in 0..<size {
                let strided = emit(.slice(axis: axis, start: offset, end: offset + (count - 1) * step + 1, step: step), [id], sliced)
                parts.append(emit(.reshape(window), [strided], window))
            }
            try bind(emit(.concatenate(axis: x.shape.count), parts, output.shape))
        case "einsum":
            // every operand permuted to one label order (the output's, then the summed labels) and
            // viewed with size 1 for the labels it lacks; the broadcast product summed over the rest
            guard case .str(let equation)? = a.value(0, "equation") else { throw Untraceable("einsum without an equation string") }
            let operands = try torch.einsumOperands(a)
            let clean = equation.filter { $0 != " " }
            guard !clean.contains(".") else { throw Untraceable("einsum with an ellipsis") }
            let sides = clean.components(separatedBy: "->")
            let inputs = sides[0].components(separatedBy: ",").map(Array.init)
            guard inputs.count == operands.count, inputs.allSatisfy({ Set($0).count == $0.count }) else {
                throw Untraceable("einsum with a subscript repeated within an operand")
            }
            let all = inputs.joined()
            let outputLabels = sides.count > 1 ? Array(sides[1]) : Set(all).filter { c in all.filter { $0 == c }.count == 1 }.sorted()
            let order = outputLabels + Set(all).subtracting(outputLabels).sorted()
            var product: Int?
            var productShape = Array(repeating: 1, count: order.count)
            for (labels, t) in zip(inputs, operands) {
                let own = order.filter(labels.contains)
                let permutation = own.map { labels.firstIndex(of: $0)! }
                var id = try value(t)
                let permuted = permutation.map { t.shape[$0] }
                if permutation != Array(permutation.indices) { id = emit(.transpose(permutation), [id], permuted) }
                let full = order.map { label in labels.firstIndex(of: label).map { t.shape[$0] } ?? 1 }
                id = reshape(id, from: permuted, to: full)
                let shape = zip(productShape, full).map { Swift.max($0, $1) }
                product = product.map { emit(.multiply, [$0, id], shape) } ?? id
                productShape = shape
            }
            guard let product else { throw Untraceable("einsum without operands") }
            let summed = Array(outputLabels.count..<order.count)
            let reduced = summed.isEmpty ? product : reduce(product, shape: productShape, axes: summed, mean: false, keep: false)
            try bind(reshape(reduced, from: Array(productShape.prefix(outputLabels.count)), to: output.shape))
        case "rot90":
            // k quarter turns from dims[0] towards dims[1]: flips and a transpose
            let x = try tensor(0, "input")
            let k = ((try a.int(1, "k", 1) % 4) + 4) % 4
            let dims = try (integers(2, "dims") ?? [0, 1]).map { try torch.normalizedDimension($0, x.shape.count, a.interp) }
            guard dims.count == 2, dims[0] != dims[1] else { throw Untraceable("rot90 with dims other than two distinct axes") }
            var id = try value(x), shape = x.shape
            func flipped(_ id: Int, _ axis: Int, _ shape: [Int]) -> Int {
                let positions = (0..<shape[axis]).reversed().map(Float.init)
                return emit(.gather(axis: axis), [id, constant(Tensor(shape: [positions.count], storage: positions))], shape)
            }
            var order = Array(0..<x.shape.count)
            order.swapAt(dims[0], dims[1])
            switch k {
            case 1: id = flipped(id, dims[1], shape); shape = order.map { shape[$0] }; id = permute(id, order, shape)
            case 2: id = flipped(flipped(id, dims[0], shape), dims[1], shape)
            case 3: shape = order.map { shape[$0] }; id = flipped(permute(id, order, shape), dims[1], shape)
            default: break
            }
            try bind(id)
        case "flip", "fliplr", "flipud":
            // each flipped axis read backwards: a slice with step −1
            let x = try tensor(0, "input")
            let dims: [Int]
            switch name {
            case "fliplr": dims = [1]
            case "flipud": dims = [0]
            default:
                guard let given = try integers(1, "dims") else { throw Untraceable("flip without dims") }
                dims = given
            }
            var id = try value(x)
            for d in Set(try dims.map { try torch.normalizedDimension($0, x.shape.count, a.interp) }).sorted() where x.shape[d] > 1 {
                id = emit(.slice(axis: d, start: x.shape[d] - 1, end: -1, step: -1), [id], x.shape)
            }
            try bind(id)
        case "max":
            let x = try tensor(0, "input")
            guard let dimension = a.value(1, "dim"), let d = try a.interp.indexValue(dimension) else {
                if a.value(1, "other").map({ if case .object(is TorchTensor) = $0 { return true }; return false }) ?? false {
                    throw Untraceable("torch.max of two tensors")
                }
                let flat = reshape(try value(x), from: x.shape, to: [x.count])
                try bind(emit(.reduceMax(axis: 0), [flat], []))
                return
            }
            let axis = try torch.normalizedDimension(d, x.shape.count, a.interp)
            var reduced = x.shape
            reduced.remove(at: axis)
            // keepdim: the output's shape; the indices (outputs[1]) stay untraced, noted where read
            try bind(reshape(emit(.reduceMax(axis: axis), [try value(x)], reduced), from: reduced, to: output.shape))

        // shapes and copies
        case "view", "reshape", "view_as", "reshape_as", "flatten", "unflatten", "unsqueeze", "squeeze":
            let x = try tensor(0, "input")
            try bind(reshape(try value(x), from: x.shape, to: output.shape))
        case "permute":
            let x = try tensor(0, "input")
            let order = try torch.dimensionList(a, from: 1, keyword: "dims").map { try torch.normalizedDimension($0, x.shape.count, a.interp) }
            try bind(permute(try value(x), order, output.shape))
        case "transpose", "swapaxes", "swapdims":
            let x = try tensor(0, "input")
            guard !x.shape.isEmpty else { try bind(try value(x)); return }
            var order = Array(0..<x.shape.count)
            order.swapAt(try torch.normalizedDimension(try a.int(1, "dim0"), x.shape.count, a.interp),
                         try torch.normalizedDimension(try a.int(2, "dim1"), x.shape.count, a.interp))
            try bind(permute(try value(x), order, output.shape))
        case "movedim", "moveaxis":
            let x = try tensor(0, "input")
            func axes(_ index: Int, _ keyword: String) throws -> [Int] {
                guard let v = a.value(index, keyword) else { throw Untraceable("missing \(keyword)") }
                let items = try a.interp.indexValue(v).map { [$0] } ?? (try a.interp.materialize(v).map { try a.interp.intArgument($0, keyword) })
                return try items.map { try torch.normalizedDimension($0, x.shape.count, a.interp) }
            }
            let sources = try axes(1, "source"), destinations = try axes(2, "destination")
            guard sources.count == destinations.count else { throw Untraceable("movedim with unequal source and destination") }
            // the moved axes at their destinations, the others in their order in the remaining places
            var order = [Int?](repeating: nil, count: x.shape.count)
            for (source, destination) in zip(sources, destinations) { order[destination] = source }
            var rest = (0..<x.shape.count).filter { !sources.contains($0) }.makeIterator()
            let permutation = order.map { $0 ?? rest.next()! }
            try bind(permute(try value(x), permutation, output.shape))
        case "t":
            let x = try tensor(0, "input")
            try bind(x.shape.count == 2 ? permute(try value(x), [1, 0], output.shape) : try value(x))
        case "expand", "expand_as", "broadcast_to":
            let x = try tensor(0, "input")
            noteRepeatedColumn(x)
            let padded = Array(repeating: 1, count: output.shape.count - x.shape.count) + x.shape
            let id = reshape(try value(x), from: x.shape, to: padded)
            try bind(padded == output.shape ? id : emit(.expand(output.shape), [id], output.shape))
        case "repeat":
            let x = try tensor(0, "input")
            noteRepeatedColumn(x)
            let padded = Array(repeating: 1, count: output.shape.count - x.shape.count) + x.shape
            var id = reshape(try value(x), from: x.shape, to: padded), current = padded
            for axis in 0..<padded.count where output.shape[axis] != padded[axis] {
                let copies = output.shape[axis] / padded[axis]
                current[axis] = output.shape[axis]
                id = emit(.concatenate(axis: axis), Array(repeating: id, count: copies), current)
            }
            try bind(id)
        case "cat", "concat", "concatenate":
            guard let list = a.value(0, "tensors") else { throw Untraceable("cat without tensors") }
            let parts = torch.tensors(in: list).filter { $0.count > 0 || $0.shape.count > 1 }
            let axis = try torch.normalizedDimension(try a.int(1, "dim", 0), output.shape.count, a.interp)
            try bind(parts.count == 1 ? try value(parts[0]) : emit(.concatenate(axis: axis), try parts.map { try value($0) }, output.shape))
        case "stack":
            guard let list = a.value(0, "tensors") else { throw Untraceable("stack without tensors") }
            let parts = torch.tensors(in: list)
            let axis = try torch.normalizedDimension(try a.int(1, "dim", 0), output.shape.count, a.interp)
            let lifted = try parts.map { part -> Int in
                var shape = part.shape
                shape.insert(1, at: axis)
                return reshape(try value(part), from: part.shape, to: shape)
            }
            try bind(emit(.concatenate(axis: axis), lifted, output.shape))
        case "split", "split_with_sizes", "chunk", "unbind", "tensor_split":
            let x = try tensor(0, "input")
            let axis: Int
            if name == "unbind" { axis = try torch.normalizedDimension(try a.int(1, "dim", 0), x.shape.count, a.interp) }
            else { axis = try torch.normalizedDimension(try a.int(2, "dim", 0), x.shape.count, a.interp) }
            let sizes = outputs.map { name == "unbind" ? 1 : $0.shape[axis] }
            let pieces = recorder.record(.split(axis: axis, sizes: sizes), [try value(x)], outputs: sizes.map { size in
                x.shape.enumerated().map { $0.offset == axis ? size : $0.element }
            })
            for piece in pieces { trace.shapes[piece.id] = piece.shape }
            for (position, piece) in pieces.enumerated() {
                try bind(reshape(piece.id, from: piece.shape, to: outputs[position].shape), position)
            }
        case "narrow":
            let x = try tensor(0, "input")
            let axis = try torch.normalizedDimension(try a.int(1, "dim"), x.shape.count, a.interp)
            var start = try a.int(2, "start")
            if start < 0 { start += x.shape[axis] }
            try bind(emit(.slice(axis: axis, start: start, end: start + (try a.int(3, "length")), step: 1), [try value(x)], output.shape))
        case "__getitem__":
            try bind(try index(try tensor(0, "self"), a.value(1, "index") ?? .none))
        case "topk":
            let x = try tensor(0, "input")
            let k = try a.int(1, "k")
            let axis = try torch.normalizedDimension(try a.int(2, "dim", -1), x.shape.count, a.interp)
            guard try a.bool(3, "largest", true), try a.bool(4, "sorted", true) else { throw Untraceable("topk with largest=False or sorted=False") }
            // the program's top_k runs along the last axis: another axis is moved there and back
            let last = x.shape.count - 1
            var order = Array(0..<x.shape.count)
            order.swapAt(axis, last)
            let moved = permute(try value(x), order, order.map { x.shape[$0] })
            let movedShape = order.map { output.shape[$0] }
            let pieces = recorder.record(.topK(k: k, axis: last), [moved], outputs: [movedShape, movedShape])
            for piece in pieces { trace.shapes[piece.id] = piece.shape }
            try bind(permute(pieces[0].id, order, output.shape), 0)
            try bind(permute(pieces[1].id, order, output.shape), 1)
        case "gather":
            // `x.gather(1, column.repeat(1, 1, C))`: whole rows picked per batch (a query selection)
            let x = try tensor(0, "input")
            let axis = try torch.normalizedDimension(try a.int(1, "dim"), x.shape.count, a.interp)
            let index = try tensor(2, "index")
            guard axis == 1, x.shape.count == 3, index.shape.count == 3, index.shape[0] == x.shape[0], index.shape[2] == x.shape[2],
                  let column = trace.repeatedColumns[ObjectIdentifier(index)]?.column else {
                // any other index of x's rank: element by element
                guard index.shape.count == x.shape.count, !index.dtype.isFloatingPoint, index.dtype != .bool else {
                    throw Untraceable("gather with an index of another rank or dtype")
                }
                try bind(emit(.gatherElements(axis: axis), [try value(x), try value(index)], output.shape))
                return
            }
            let rows = reshape(try value(column), from: column.shape, to: [index.shape[0], index.shape[1]])
            try bind(emit(.gatherRows, [try value(x), rows], output.shape))
        case "__setitem__":
            try bind(try assigned(try tensor(0, "self"), a.value(1, "index") ?? .none, a.value(2, "value") ?? .none))
        case "meshgrid":
            // each 1-d input viewed along its own axis of the grid and expanded over the others
            let parts = a.arguments.positional.flatMap { torch.tensors(in: $0) }
            guard parts.count == outputs.count, parts.allSatisfy({ $0.shape.count <= 1 }) else { throw Untraceable("meshgrid of tensors that are not 1-d") }
            let xy: Bool = { if case .str("xy")? = a.arguments.keyword("indexing") { return true }; return false }()
            let grid = outputs[0].shape
            for (k, part) in parts.enumerated() {
                var axis = k
                if xy && parts.count >= 2 && k < 2 { axis = 1 - k }
                var lifted = Array(repeating: 1, count: grid.count)
                lifted[axis] = part.count
                let id = reshape(try value(part), from: part.shape, to: lifted)
                try bind(lifted == grid ? id : emit(.expand(grid), [id], grid), k)
            }
        case "copy":
            // `x.copy_(src)`: x holds src, broadcast to x's shape
            try bind(broadcast(try value(1, "src"), to: output.shape))
        case "fill", "zero":
            try bind(constant(Tensor(shape: output.shape, repeating: name == "zero" ? 0 : try float(1, "value", 0))))
        case "zeros_like", "ones_like", "full_like", "new_zeros", "new_ones", "new_full":
            let fill: Float = name.contains("ones") ? 1 : name.contains("full") ? try float(name == "new_full" ? 2 : 1, "fill_value", 0) : 0
            try bind(constant(Tensor(shape: output.shape, repeating: fill)))

        // linear algebra and convolution
        case "linear":
            let x = try tensor(0, "input")
            var inputs = [try value(x), try value(1, "weight")]
            if try a.has(2, "bias") { inputs.append(try value(2, "bias")) }
            try bind(emit(.linear, inputs, output.shape))
        case "matmul", "bmm", "mm":
            let x = try tensor(0, "input"), y = try tensor(1, "other")
            guard x.shape.count >= 2, y.shape.count >= 2 else { throw Untraceable("matmul of a vector") }
            try bind(emit(.matmul, [try value(x), try value(y)], output.shape))
        case "conv2d", "conv1d":
            try bind(try convolution(spatial: name == "conv2d" ? 2 : 1))
        case "conv3d":
            // a 1×1×1 kernel (ASF's ScalSeq): a 1×1 conv2d over [N, C, D·H, W]
            let x = try tensor(0, "input"), w = try tensor(1, "weight")
            guard x.shape.count == 5, w.shape.count == 5, w.shape.suffix(3).allSatisfy({ $0 == 1 }),
                  try a.ints(3, "stride", count: 3, 1) == [1, 1, 1], try a.ints(5, "dilation", count: 3, 1) == [1, 1, 1],
                  a.value(4, "padding").map({ if case .str = $0 { return true }; return (try? a.ints(4, "padding", count: 3, 0)) == [0, 0, 0] }) ?? true else {
                try bind(try depthTapConvolution(x, w))
                return
            }
            let flat = [x.shape[0], x.shape[1], x.shape[2] * x.shape[3], x.shape[4]]
            var inputs = [reshape(try value(x), from: x.shape, to: flat), reshape(try value(w), from: w.shape, to: Array(w.shape.prefix(2)) + [1, 1])]
            if try a.has(2, "bias") { inputs.append(try value(2, "bias")) }
            let convolved = [x.shape[0], output.shape[1], flat[2], flat[3]]
            try bind(reshape(emit(.convolution(stride: 1, padding: 0, dilation: 1, groups: try a.int(6, "groups", 1)), inputs, convolved), from: convolved, to: output.shape))
        case "max_pool3d":
            // windows over depth only (k, 1, 1), stride k, no padding: a maximum over groups of k maps
            let x = try tensor(0, "input")
            let kernel = try a.ints(1, "kernel_size", count: 3)
            let strideValue = a.value(2, "stride")
            let stride = strideValue == nil || strideValue!.isNone ? kernel : try a.ints(2, "stride", count: 3)
            guard x.shape.count == 5, kernel[1] == 1, kernel[2] == 1, stride == kernel, try a.ints(3, "padding", count: 3, 0) == [0, 0, 0],
                  x.shape[2] % kernel[0] == 0, !(try a.bool(5, "ceil_mode", false)), !(try a.bool(6, "return_indices", false)) else { throw Untraceable("max_pool3d other than over depth windows") }
            let grouped = [x.shape[0], x.shape[1], x.shape[2] / kernel[0], kernel[0], x.shape[3], x.shape[4]]
            try bind(reshape(reduce(reshape(try value(x), from: x.shape, to: grouped), shape: grouped, axes: [3], mean: false, keep: false, maximum: true),
                             from: grouped.enumerated().filter { $0.offset != 3 }.map(\.element), to: output.shape))
        case "conv_transpose2d":
            let x = try tensor(0, "input"), w = try tensor(1, "weight")
            let stride = try a.ints(3, "stride", count: 2, 1), padding = try a.ints(4, "padding", count: 2, 0)
            let outputPadding = try a.ints(5, "output_padding", count: 2, 0), dilation = try a.ints(7, "dilation", count: 2, 1)
            guard x.shape.count == 4, Set(stride).count == 1, Set(padding).count == 1, Set(outputPadding).count == 1, Set(dilation).count == 1,
                  w.shape[2] == w.shape[3] else { throw Untraceable("a transposed convolution with unequal sizes per axis") }
            var inputs = [try value(x), try value(w)]
            if try a.has(2, "bias") { inputs.append(try value(2, "bias")) }
            try bind(emit(.transposedConvolution(stride: stride[0], padding: padding[0], outputPadding: outputPadding[0], dilation: dilation[0],
                                                 groups: try a.int(6, "groups", 1)), inputs, output.shape))

        // pooling and resampling
        case "max_unpool2d":
            let y = try tensor(0, "input"), indices = try tensor(1, "indices")
            let kernel = try a.ints(2, "kernel_size", count: 2)
            let strideValue = a.value(3, "stride")
            let stride = strideValue == nil || strideValue!.isNone ? kernel : try a.ints(3, "stride", count: 2)
            guard let pooled = trace.poolIndices[ObjectIdentifier(indices)], y.shape.count == 4, indices.shape == y.shape,
                  Set(kernel).count == 1, kernel == stride, kernel[0] == pooled.window, try a.ints(4, "padding", count: 2, 0) == [0, 0],
                  output.shape[2] >= y.shape[2] * kernel[0], output.shape[3] == pooled.width else {
                throw Untraceable("max_unpool2d of indices other than those of max_pool2d with the same tiling windows")
            }
            try bind(maxUnpooled(try value(y), indices: try value(indices), window: kernel[0], width: pooled.width))
        case "max_pool2d", "avg_pool2d":
            let x = try tensor(0, "input")
            let kernel = try a.ints(1, "kernel_size", count: 2)
            let strideValue = a.value(2, "stride")
            let stride = strideValue == nil || strideValue!.isNone || ((try? a.interp.materialize(strideValue!)).map(\.isEmpty) ?? false) ? kernel : try a.ints(2, "stride", count: 2)
            let padding = try a.ints(3, "padding", count: 2, 0)
            let isMax = name == "max_pool2d"
            if try a.bool(isMax ? 5 : 4, "ceil_mode", false), x.shape.count == 4 {
                // ceil mode changes nothing when the windows fit exactly
                let dilation = isMax ? try a.ints(4, "dilation", count: 2, 1) : [1, 1]
                let floors = (0..<2).map { torch.pairOutput(x.shape[2 + $0], kernel: kernel[$0], stride: stride[$0], padding: padding[$0], dilation: dilation[$0]) }
                guard floors == Array(output.shape.suffix(2)) else { throw Untraceable("ceil_mode=True with a partial last window") }
            }
            guard x.shape.count == 4, Set(kernel).count == 1, Set(stride).count == 1, Set(padding).count == 1 else {
                throw Untraceable("pooling with unequal sizes per axis")
            }
            if isMax {
                let dilation = try a.ints(4, "dilation", count: 2, 1)
                if try a.bool(6, "return_indices", false) {
                    guard kernel[0] == stride[0], padding[0] == 0, dilation == [1, 1] else {
                        throw Untraceable("return_indices with windows that overlap, are padded or dilated")
                    }
                    let values = emit(.maxPool(kernelSize: kernel[0], stride: stride[0], padding: 0), [try value(x)], output.shape)
                    try bind(values, 0)
                    try bind(try poolIndices(x, maxima: values, window: kernel[0]), 1, exact: true)
                    trace.poolIndices[ObjectIdentifier(outputs[1])] = (outputs[1], kernel[0], x.shape[3])
                    return
                }
                guard dilation == [1, 1] else { try bind(try dilatedMaxPool(x, kernel: kernel[0], stride: stride[0], padding: padding[0], dilation: dilation)); return }
                try bind(emit(.maxPool(kernelSize: kernel[0], stride: stride[0], padding: padding[0]), [try value(x)], output.shape))
            } else {
                guard a.value(6, "divisor_override").map(\.isNone) ?? true else { throw Untraceable("divisor_override") }
                var id = try value(x)
                let (k, p, step) = (kernel[0], padding[0], stride[0])
                if p > 0 {
                    id = emit(.pad(left: p, right: p, top: p, bottom: p, reflect: false), [id], [x.shape[0], x.shape[1], x.shape[2] + 2 * p, x.shape[3] + 2 * p])
                }
                id = emit(.averagePool(kernelSize: k, stride: step), [id], output.shape)
                if p > 0, !(try a.bool(5, "count_include_pad", true)) {
                    // each window's mean over its cells inside the map: k² / (cells inside) times the padded mean
                    let (outHeight, outWidth) = (output.shape[2], output.shape[3])
                    let inside = { (o: Int, size: Int) -> Int in Swift.max(0, Swift.min(o * step - p + k, size) - Swift.max(o * step - p, 0)) }
                    let scale = (0..<(outHeight * outWidth)).map { position -> Float in
                        let cells = inside(position / outWidth, x.shape[2]) * inside(position % outWidth, x.shape[3])
                        return cells > 0 ? Float(k * k) / Float(cells) : 0
                    }
                    id = emit(.multiply, [id, constant(Tensor(shape: [1, 1, outHeight, outWidth], storage: scale))], output.shape)
                }
                try bind(id)
            }
        case "adaptive_avg_pool2d", "adaptive_max_pool2d":
            let x = try tensor(0, "input")
            guard x.shape.count == 4 || x.shape.count == 3 else { throw Untraceable("adaptive pooling of a \(x.shape.count)-d tensor") }
            guard x.shape.count == 4 else {
                // an unbatched [C, H, W] map: pooled as a batch of one
                let batched = [1] + x.shape, pooled = [1] + output.shape
                let source = reshape(try value(x), from: x.shape, to: batched)
                let sizes = [output.shape[1], output.shape[2]]
                let result: Int
                if name == "adaptive_avg_pool2d", sizes == [1, 1] {
                    result = emit(.globalAveragePool, [source], pooled)
                } else {
                    result = try adaptivePooled(source, batched, to: sizes, maximum: name == "adaptive_max_pool2d")
                }
                try bind(reshape(result, from: pooled, to: output.shape))
                return
            }
            let (height, width) = (x.shape[2], x.shape[3]), (outHeight, outWidth) = (output.shape[2], output.shape[3])
            if name == "adaptive_avg_pool2d" {
                if outHeight == 1 && outWidth == 1 { try bind(emit(.globalAveragePool, [try value(x)], output.shape)); return }
                guard outHeight > 0, outWidth > 0, height % outHeight == 0, width % outWidth == 0 else {
                    try bind(adaptivePooled(try value(x), x.shape, to: [outHeight, outWidth], maximum: false))
                    return
                }
                let (kh, kw) = (height / outHeight, width / outWidth)
                if kh == kw { try bind(emit(.averagePool(kernelSize: kh, stride: kh), [try value(x)], output.shape)); return }
                // windows of kh×kw: the map as [B, C, oH, kh, oW, kw], averaged over the windows' axes
                let windows = [x.shape[0], x.shape[1], outHeight, kh, outWidth, kw]
                try bind(reduce(reshape(try value(x), from: x.shape, to: windows), shape: windows, axes: [3, 5], mean: true, keep: false))
            } else {
                guard outHeight == 1, outWidth == 1 else {
                    guard !(try a.bool(2, "return_indices", false)) else { throw Untraceable("return_indices=True") }
                    try bind(adaptivePooled(try value(x), x.shape, to: [outHeight, outWidth], maximum: true))
                    return
                }
                let flat = [x.shape[0], x.shape[1], height * width]
                try bind(reshape(emit(.reduceMax(axis: 2), [reshape(try value(x), from: x.shape, to: flat)], [x.shape[0], x.shape[1]]),
                                 from: [x.shape[0], x.shape[1]], to: output.shape))
            }
        case "interpolate", "upsample", "upsample_nearest", "upsample_bilinear":
            let x = try tensor(0, "input")
            guard x.shape.count == 4 else { throw Untraceable("interpolate of a \(x.shape.count)-d tensor") }
            var mode = name == "upsample_bilinear" ? "bilinear" : "nearest"
            if case .str(let given)? = a.value(3, "mode") { mode = given }
            let alignCorners = name == "upsample_bilinear" ? true : try a.bool(4, "align_corners", false)
            let factor = (1...16).first { output.shape[2] == x.shape[2] * $0 && output.shape[3] == x.shape[3] * $0 }
            if let factor, mode == "nearest" { try bind(emit(.upsampleNearest(factor: factor), [try value(x)], output.shape)); return }
            if let factor, mode == "bilinear" {
                try bind(emit(.upsampleBilinear(factor: factor, alignCorners: alignCorners), [try value(x)], output.shape)); return
            }
            guard let resize = ResizeMode(rawValue: mode) else { throw Untraceable("mode '\(mode)'") }
            var steps: [Float?] = [nil, nil]
            if let scaleValue = a.value(2, "scale_factor"), !scaleValue.isNone, !(try a.bool(6, "recompute_scale_factor", false)) {
                if let d = try? a.interp.floatArgument(scaleValue, "") { steps = [Float(1 / d), Float(1 / d)] }
                else { steps = try a.interp.materialize(scaleValue).map { Float(1 / (try a.interp.floatArgument($0, "scale_factor"))) } }
            }
            try bind(emit(.resize(mode: resize, alignCorners: alignCorners, stepHeight: steps[0], stepWidth: steps[1]), [try value(x)], output.shape))
        case "pad":
            let x = try tensor(0, "input")
            let pads = try a.interp.materialize(a.value(1, "pad") ?? .tuple([])).map { try a.interp.intArgument($0, "pad") }
            var mode = "constant"
            if case .str(let given)? = a.value(2, "mode") { mode = given }
            guard ["constant", "reflect", "replicate", "circular"].contains(mode) else { throw Untraceable("pad mode '\(mode)'") }
            if mode == "constant", let fill = a.value(3, "value"), !fill.isNone, try a.interp.floatArgument(fill, "value") != 0 { throw Untraceable("padding with a value other than 0") }
            let equalSides = pads.count == 4 && Set(pads).count == 1
            if mode == "replicate" || mode == "circular" || (mode == "reflect" && !(x.shape.count == 4 && equalSides)) {
                // each padded axis as a gather of source positions: mirrored without the edge
                // (reflect), clamped (replicate) or wrapped (circular)
                guard pads.count % 2 == 0, pads.count / 2 <= x.shape.count else { throw Untraceable("\(mode) padding of \(pads.count / 2) axes") }
                var id = try value(x), shape = x.shape
                for pair in 0..<(pads.count / 2) {
                    let axis = x.shape.count - 1 - pair, size = shape[axis]
                    let (before, after) = (pads[2 * pair], pads[2 * pair + 1])
                    guard before != 0 || after != 0 else { continue }
                    guard size > 0, mode != "reflect" || (before < size && after < size), mode != "circular" || (before <= size && after <= size) else {
                        throw Untraceable("\(mode) padding wider than the axis")
                    }
                    let positions = (-before..<(size + after)).map { i -> Float in
                        switch mode {
                        case "reflect": return Float(i < 0 ? -i : i >= size ? 2 * (size - 1) - i : i)
                        case "replicate": return Float(Swift.min(Swift.max(i, 0), size - 1))
                        default: return Float(((i % size) + size) % size)
                        }
                    }
                    shape[axis] = positions.count
                    id = emit(.gather(axis: axis), [id, constant(Tensor(shape: [positions.count], storage: positions))], shape)
                }
                try bind(id)
                return
            }
            guard pads.count == 2 || pads.count == 4, x.shape.count >= 2, pads.allSatisfy({ $0 >= 0 }) else {
                // other axes, or negative pads (crops): slices and zero blocks concatenated, axis by axis
                guard mode == "constant", pads.count % 2 == 0, pads.count / 2 <= x.shape.count else { throw Untraceable("\(mode) padding of \(pads.count / 2) axes") }
                var id = try value(x), shape = x.shape
                for pair in 0..<(pads.count / 2) {
                    let axis = x.shape.count - 1 - pair
                    id = padded(id, &shape, axis: axis, before: pads[2 * pair], after: pads[2 * pair + 1])
                }
                try bind(id)
                return
            }
            let (left, right) = (pads[0], pads[1]), (top, bottom) = pads.count == 4 ? (pads[2], pads[3]) : (0, 0)
            let pad = ProgramOp.pad(left: left, right: right, top: top, bottom: bottom, reflect: mode == "reflect")
            guard x.shape.count != 4 else { try bind(emit(pad, [try value(x)], output.shape)); return }
            // the program pads the two last axes of a map [N, C, H, W]: any other rank is viewed as one
            let (height, width) = (x.shape[x.shape.count - 2], x.shape[x.shape.count - 1])
            let map = [x.shape.dropLast(2).reduce(1, *), 1, height, width]
            let padded = emit(pad, [reshape(try value(x), from: x.shape, to: map)], [map[0], 1, top + height + bottom, left + width + right])
            try bind(reshape(padded, from: [map[0], 1, top + height + bottom, left + width + right], to: output.shape))
        case "pixel_shuffle", "pixel_unshuffle":
            let x = try tensor(0, "input")
            let r = try a.int(1, name == "pixel_shuffle" ? "upscale_factor" : "downscale_factor")
            guard x.shape.count == 4 else { throw Untraceable("\(name) of a \(x.shape.count)-d tensor") }
            let (batch, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
            if name == "pixel_shuffle" {
                let split = [batch, channels / (r * r), r, r, height, width]
                let moved = permute(reshape(try value(x), from: x.shape, to: split), [0, 1, 4, 2, 5, 3], [batch, channels / (r * r), height, r, width, r])
                try bind(reshape(moved, from: [batch, channels / (r * r), height, r, width, r], to: output.shape))
            } else {
                let split = [batch, channels, height / r, r, width / r, r]
                let moved = permute(reshape(try value(x), from: x.shape, to: split), [0, 1, 3, 5, 2, 4], [batch, channels, r, r, height / r, width / r])
                try bind(reshape(moved, from: [batch, channels, r, r, height / r, width / r], to: output.shape))
            }
        case "grid_sample":
            guard (try? a.value(2, "mode").map { try a.interp.str($0) }) ?? "bilinear" == "bilinear" else { throw Untraceable("grid_sample other than bilinear") }
            let padding = (try? a.value(3, "padding_mode").map { try a.interp.str($0) }) ?? "zeros"
            guard padding == "zeros" || padding == "border" else { throw Untraceable("padding_mode '\(padding ?? "")'") }
            let x = try tensor(0, "input"), grid = try tensor(1, "grid")
            guard x.shape.count == 4, grid.shape.count == 4, grid.shape.last == 2 else { throw Untraceable("grid_sample other than 2-d") }
            var sampled = try value(grid)
            if try a.bool(4, "align_corners", false) {
                // align_corners=True puts ±1 on the corner pixels' centres: the same sampling as
                // align_corners=False at the grid scaled by ((W − 1)/W, (H − 1)/H)
                let (height, width) = (Float(x.shape[2]), Float(x.shape[3]))
                sampled = emit(.multiply, [sampled, constant(Tensor(shape: [2], storage: [(width - 1) / width, (height - 1) / height]))], grid.shape)
            }
            try bind(emit(.gridSample(border: padding == "border"), [try value(x), sampled], output.shape))
        case "scaled_dot_product_attention":
            let q = try tensor(0, "query"), k = try tensor(1, "key")
            guard a.value(3, "attn_mask").map(\.isNone) ?? true, !(try a.bool(5, "is_causal", false)) else { throw Untraceable("an attention mask") }
            let scale = try a.value(6, "scale").flatMap { $0.isNone ? nil : Float(try a.interp.floatArgument($0, "scale")) } ?? 1 / Float(q.shape.last ?? 1).squareRoot()
            let rank = k.shape.count
            var order = Array(0..<rank)
            order.swapAt(rank - 1, rank - 2)
            let keysT = permute(try value(k), order, order.map { k.shape[$0] })
            let scoresShape = Array(q.shape.dropLast()) + [k.shape[rank - 2]]
            let scores = emit(.multiply, [emit(.matmul, [try value(q), keysT], scoresShape), scalar(scale)], scoresShape)
            let weights = emit(.softmax(axis: scoresShape.count - 1), [scores], scoresShape)
            try bind(emit(.matmul, [weights, try value(2, "value")], output.shape))
        case "_modelgraph_attention":
            // the composite built-in attention records (TorchBlocks' MultiheadAttention), so the
            // execution pass runs its fused kernel and every other pass reads the same body
            let q = try tensor(0, "query"), k = try tensor(1, "key"), v = try tensor(2, "value")
            let heads = try a.int(3, "heads", 1)
            let (batch, width) = (q.shape[0], q.shape[2])
            let headWidth = width / heads
            let inputs = [try value(q), try value(k), try value(v)]
            let mixed = recorder.composite("attention", attributes: ["heads": [heads]], inputs: inputs) { () -> [ProgramValue] in
                func split(_ id: Int, _ tokens: Int) -> Int {
                    let viewed = emit(.reshape([batch, tokens, heads, headWidth]), [id], [batch, tokens, heads, headWidth])
                    return permute(viewed, [0, 2, 1, 3], [batch, heads, tokens, headWidth])
                }
                let (queries, keys) = (q.shape[1], k.shape[1])
                let (qs, ks, vs) = (split(inputs[0], queries), split(inputs[1], keys), split(inputs[2], keys))
                let scoresShape = [batch, heads, queries, keys]
                let keysT = permute(ks, [0, 1, 3, 2], [batch, heads, headWidth, keys])
                let scores = emit(.multiply, [emit(.matmul, [qs, keysT], scoresShape), scalar(1 / Float(headWidth).squareRoot())], scoresShape)
                let weights = emit(.softmax(axis: 3), [scores], scoresShape)
                let mixed = emit(.matmul, [weights, vs], [batch, heads, queries, headWidth])
                let tokens = permute(mixed, [0, 2, 1, 3], [batch, queries, heads, headWidth])
                let id = emit(.reshape([batch, queries, width]), [tokens], [batch, queries, width])
                return [ProgramValue(id: id, shape: [batch, queries, width])]
            }
            try bind(mixed[0].id)
        default:
            throw Untraceable("has no program form yet")
        }
    }

    // MARK: compositions

    /// Zeros before and after `axis` (a negative count crops): zero blocks and slices concatenated.
    func padded(_ id: Int, _ shape: inout [Int], axis: Int, before: Int, after: Int) -> Int {
        var current = id
        if before < 0 || after < 0 {
            let start = max(-before, 0), end = shape[axis] - max(-after, 0)
            shape[axis] = end - start
            current = emit(.slice(axis: axis, start: start, end: end, step: 1), [current], shape)
        }
        let (head, tail) = (max(before, 0), max(after, 0))
        guard head > 0 || tail > 0 else { return current }
        var pieces: [Int] = []
        var block = shape
        if head > 0 { block[axis] = head; pieces.append(constant(Tensor(shape: block))) }
        pieces.append(current)
        if tail > 0 { block[axis] = tail; pieces.append(constant(Tensor(shape: block))) }
        shape[axis] += head + tail
        return emit(.concatenate(axis: axis), pieces, shape)
    }

    /// `x[index] = value` with integers, slices (any positive step) and one list of distinct
    /// integers: the value broadcast to the indexed region, and x rebuilt around it axis by axis —
    /// a run of positions from slices and concatenations, other positions by gathering x and the
    /// rewritten part, concatenated, back into place.
    func assigned(_ x: TorchTensor, _ index: PyValue, _ newValue: PyValue) throws -> Int {
        try assigned(try value(x), shape: x.shape, parts: try indexParts(index, of: x), newValue)
    }

    /// `assigned` on the program value `target` of `shape` (a complex tensor's real or imaginary part).
    func assigned(_ target: Int, shape targetShape: [Int], parts: [TorchRuntime.IndexPart], _ newValue: PyValue) throws -> Int {
        // `x[:, :, mask] = value` with a boolean mask of the axes after full slices: where(mask, value, x)
        if let last = parts.last, case .tensor(let mask) = last, mask.dtype == .bool,
           parts.dropLast().allSatisfy(\.isFullSlice) {
            let leading = parts.count - 1
            guard leading + mask.shape.count <= targetShape.count, Array(targetShape[leading..<(leading + mask.shape.count)]) == mask.shape else {
                throw Untraceable("assignment through a boolean mask of another shape")
            }
            let trailing = targetShape.count - leading - mask.shape.count
            let placed = Array(repeating: 1, count: leading) + mask.shape + Array(repeating: 1, count: trailing)
            let source: Int
            if case .object(let t as TorchTensor) = newValue {
                guard t.count == 1 else { throw Untraceable("assignment of a tensor through a boolean mask") }
                source = reshape(try value(t), from: t.shape, to: [])
            } else {
                source = scalar(Float(try a.interp.floatArgument(newValue, "value")))
            }
            return emit(.select, [reshape(try value(mask), from: mask.shape, to: placed), source, target], targetShape)
        }
        if let scattered = try scatteredByKnownIndices(target, shape: targetShape, parts: parts, newValue) { return scattered }
        var selections: [(axis: Int, positions: [Int])] = []
        var region = targetShape
        var integerAxes: Set<Int> = []
        var lists = 0
        for (axis, part) in parts.enumerated() {
            guard axis < targetShape.count else { throw Untraceable("too many indices") }
            let size = targetShape[axis]
            switch part {
            case .integer(let i):
                let j = i < 0 ? i + size : i
                selections.append((axis, [j])); region[axis] = 1; integerAxes.insert(axis)
            case .range(let s):
                let (start, stop, step) = try torch.sliceBounds(s, size, a.interp)
                guard step > 0 else { throw Untraceable("assignment into a slice with a negative step") }
                let positions = Array(stride(from: start, to: stop, by: step))
                if positions.count != size { selections.append((axis, positions)) }
                region[axis] = positions.count
            case .tensor(let t):
                guard !t.dtype.isFloatingPoint, t.dtype != .bool, t.shape.count == 1, let values = t.values else {
                    throw Untraceable("assignment through an index other than integers, slices and one list of integers")
                }
                lists += 1
                let positions = values.map { value -> Int in let i = TorchTensor.integer(value); return i < 0 ? i + size : i }
                guard positions.allSatisfy({ (0..<size).contains($0) }), Set(positions).count == positions.count else {
                    throw Untraceable("assignment through a list of integers that repeats a position or leaves the axis")
                }
                selections.append((axis, positions)); region[axis] = positions.count
            default: throw Untraceable("assignment through an index other than integers, slices and one list of integers")
            }
        }
        // PyTorch moves a list's axis first when integers index too (advanced indices apart)
        guard lists <= 1, lists == 0 || integerAxes.isEmpty else {
            throw Untraceable("assignment through a list of integers together with other integer or list indices")
        }
        guard region.allSatisfy({ $0 > 0 }) else { return target }
        // the value broadcast over the indexed view (integer axes dropped, as PyTorch's view has them),
        // then shaped as the region (those axes as size 1)
        let view = region.enumerated().filter { !integerAxes.contains($0.offset) }.map(\.element)
        let block = reshape(try assignedValue(newValue, into: view), from: view, to: region)
        func rebuild(_ id: Int, _ shape: [Int], _ remaining: ArraySlice<(axis: Int, positions: [Int])>) -> Int {
            guard let r = remaining.first else { return block }
            let (axis, positions) = r
            let size = shape[axis], first = positions[0]
            var innerShape = shape
            innerShape[axis] = positions.count
            if positions == Array(first..<(first + positions.count)) {
                let end = first + positions.count
                var pieces: [Int] = []
                var pieceShape = shape
                if first > 0 { pieceShape[axis] = first; pieces.append(emit(.slice(axis: axis, start: 0, end: first, step: 1), [id], pieceShape)) }
                let inner = emit(.slice(axis: axis, start: first, end: end, step: 1), [id], innerShape)
                pieces.append(rebuild(inner, innerShape, remaining.dropFirst()))
                if end < size {
                    pieceShape[axis] = size - end
                    pieces.append(emit(.slice(axis: axis, start: end, end: size, step: 1), [id], pieceShape))
                }
                return pieces.count == 1 ? pieces[0] : emit(.concatenate(axis: axis), pieces, shape)
            }
            let step = positions.count > 1 ? positions[1] - first : 1
            let inner = step > 0 && positions == Array(stride(from: first, to: first + step * positions.count, by: step))
                ? emit(.slice(axis: axis, start: first, end: first + step * (positions.count - 1) + 1, step: step), [id], innerShape)
                : emit(.gather(axis: axis), [id, constant(Tensor(shape: [positions.count], storage: positions.map(Float.init)))], innerShape)
            let written = rebuild(inner, innerShape, remaining.dropFirst())
            var joinedShape = shape
            joinedShape[axis] = size + positions.count
            let joined = emit(.concatenate(axis: axis), [id, written], joinedShape)
            // position p of the result reads x's p, or the written part's k where positions[k] == p
            var picks = (0..<size).map(Float.init)
            for (k, p) in positions.enumerated() { picks[p] = Float(size + k) }
            return emit(.gather(axis: axis), [joined, constant(Tensor(shape: [size], storage: picks))], shape)
        }
        return rebuild(target, targetShape, selections[...])
    }

    /// Several adjacent integer index tensors of known values and one shape, after full slices and
    /// before full slices only (`w[rows, columns]`, `x[:, rows, columns]`): the axis they start at,
    /// how many axes they index, their shape, and each element's flat position in those axes taken
    /// as one (row-major). Nil for any other index.
    func knownIndexRun(_ parts: [TorchRuntime.IndexPart], shape: [Int]) throws -> (axis: Int, count: Int, indexShape: [Int], flat: [Int])? {
        guard let first = parts.firstIndex(where: { if case .tensor = $0 { return true }; return false }) else { return nil }
        var tensors: [TorchTensor] = []
        for part in parts[first...] {
            guard case .tensor(let t) = part else { break }
            tensors.append(t)
        }
        let count = tensors.count
        guard count >= 2, parts[..<first].allSatisfy(\.isFullSlice), parts[(first + count)...].allSatisfy(\.isFullSlice), first + count <= shape.count,
              tensors.allSatisfy({ !$0.dtype.isFloatingPoint && $0.dtype != .bool && $0.values != nil && $0.shape == tensors[0].shape }) else { return nil }
        let sizes = Array(shape[first..<(first + count)])
        var flat = [Int](repeating: 0, count: tensors[0].count)
        for (k, t) in tensors.enumerated() {
            for (p, value) in t.values!.enumerated() {
                var i = TorchTensor.integer(value)
                if i < 0 { i += sizes[k] }
                guard (0..<sizes[k]).contains(i) else { throw Untraceable("an index out of range") }
                flat[p] = flat[p] * sizes[k] + i
            }
        }
        return (first, count, tensors[0].shape, flat)
    }

    /// `x[…, rows, columns, …]` by known integer tensors (`knownIndexRun`): the indexed axes viewed
    /// as one and gathered by the flat positions.
    func gatheredByKnownIndices(_ x: TorchTensor, _ parts: [TorchRuntime.IndexPart]) throws -> Int? {
        guard let run = try knownIndexRun(parts, shape: x.shape) else { return nil }
        let merged = Array(x.shape[..<run.axis]) + [x.shape[run.axis..<(run.axis + run.count)].reduce(1, *)] + x.shape[(run.axis + run.count)...]
        let positions = constant(Tensor(shape: run.indexShape, storage: run.flat.map(Float.init)))
        let gathered = Array(x.shape[..<run.axis]) + run.indexShape + x.shape[(run.axis + run.count)...]
        let picked = emit(.gather(axis: run.axis), [reshape(try value(x), from: x.shape, to: merged), positions], gathered)
        return reshape(picked, from: gathered, to: output.shape)
    }

    /// `x[…, rows, columns, …] = value` by known integer tensors (`knownIndexRun`): every position
    /// the index names takes the value's element there (the last, where a position repeats), the
    /// others keep x's — the value gathered to the positions, selected by a known mask.
    func scatteredByKnownIndices(_ target: Int, shape: [Int], parts: [TorchRuntime.IndexPart], _ newValue: PyValue) throws -> Int? {
        guard let run = try knownIndexRun(parts, shape: shape) else { return nil }
        let (pre, post) = (Array(shape[..<run.axis]), Array(shape[(run.axis + run.count)...]))
        let length = shape[run.axis..<(run.axis + run.count)].reduce(1, *), count = run.flat.count
        // the value broadcast to the indexed view, its index axes flattened
        let view = pre + run.indexShape + post
        let block = reshape(try assignedValue(newValue, into: view), from: view, to: pre + [count] + post)
        var picks = [Float](repeating: 0, count: length), written = [Float](repeating: 0, count: length)
        for (p, position) in run.flat.enumerated() { picks[position] = Float(p); written[position] = 1 }
        let merged = pre + [length] + post
        let spread = emit(.gather(axis: run.axis), [block, constant(Tensor(shape: [length], storage: picks))], merged)
        let mask = constant(Tensor(shape: Array(repeating: 1, count: pre.count) + [length] + Array(repeating: 1, count: post.count), storage: written))
        let result = emit(.select, [mask, spread, reshape(target, from: shape, to: merged)], merged)
        return reshape(result, from: merged, to: shape)
    }

    /// The value of `x[index] = value` (a tensor or a number) broadcast to the indexed view's shape.
    func assignedValue(_ newValue: PyValue, into view: [Int]) throws -> Int {
        let source: Int, sourceShape: [Int]
        if case .object(let t as TorchTensor) = newValue { (source, sourceShape) = (try value(t), t.shape) }
        else { (source, sourceShape) = (scalar(Float(try a.interp.floatArgument(newValue, "value"))), []) }
        let lifted = Array(repeating: 1, count: max(view.count - sourceShape.count, 0)) + sourceShape
        guard lifted.count == view.count, zip(lifted, view).allSatisfy({ $0 == $1 || $0 == 1 }) else {
            throw Untraceable("assigning \(sourceShape) into a view of \(view)")
        }
        return broadcast(source, to: view)
    }

    /// Notes an index that repeats one column [B, k, 1] along its last axis (for `gather`).
    func noteRepeatedColumn(_ x: TorchTensor) {
        guard x.shape.count == 3, x.shape.last == 1, output.shape.count == 3, output.shape[0] == x.shape[0], output.shape[1] == x.shape[1],
              !x.dtype.isFloatingPoint else { return }
        trace.repeatedColumns[ObjectIdentifier(output)] = (output, x)
    }

    func permute(_ id: Int, _ order: [Int], _ shape: [Int]) -> Int {
        order == Array(0..<order.count) ? id : emit(.transpose(order), [id], shape)
    }

    /// The flat index (row · width + column in the map) of each window's maximum, as max_pool2d's
    /// `return_indices` gives it for windows of `window`² that tile the map: the first tap in
    /// row-major order that equals the maximum (PyTorch's scan), as float32 (exact below 2^24).
    func poolIndices(_ x: TorchTensor, maxima: Int, window k: Int) throws -> Int {
        let id = try value(x)
        let shape = output.shape, (height, width) = (shape[2], shape[3])
        var index: Int?
        // from the last tap to the first, so the first equal one is the one kept
        for tap in (0..<(k * k)).reversed() {
            let (dy, dx) = (tap / k, tap % k)
            var rowsShape = x.shape
            rowsShape[2] = height
            let rows = emit(.slice(axis: 2, start: dy, end: dy + k * (height - 1) + 1, step: k), [id], rowsShape)
            let cells = emit(.slice(axis: 3, start: dx, end: dx + k * (width - 1) + 1, step: k), [rows], shape)
            let position = tapPositions(height: height, width: width, window: k, tap: (dy, dx), mapWidth: x.shape[3])
            guard let later = index else { index = emit(.expand(shape), [position], shape); continue }
            index = emit(.select, [emit(.compare(.equal), [cells, maxima], shape), position, later], shape)
        }
        return index!
    }

    /// A constant [1, 1, height, width] of the flat position (row · `mapWidth` + column) of tap
    /// `tap` of each window of `window`² tiling a map `mapWidth` wide: what max pooling's indices hold.
    func tapPositions(height: Int, width: Int, window k: Int, tap: (dy: Int, dx: Int), mapWidth: Int) -> Int {
        constant(Tensor(shape: [1, 1, height, width]) { values in
            for i in 0..<height { for j in 0..<width { values[i * width + j] = Float((k * i + tap.dy) * mapWidth + k * j + tap.dx) } }
        })
    }

    /// `F.max_unpool2d(y, indices, k, k)` of indices from `max_pool2d(…, return_indices=True)` over
    /// windows of k² that tile a map `width` wide: each value back at its window's tap the index
    /// names, zeros elsewhere — k² masked copies interleaved, then zero rows and columns up to
    /// `output_size`.
    func maxUnpooled(_ y: Int, indices: Int, window k: Int, width: Int) -> Int {
        let shape = trace.shapes[y]!, (batch, channels, height, pooledWidth) = (shape[0], shape[1], shape[2], shape[3])
        let tapShape = [batch, channels, height, 1, pooledWidth, 1]
        var rows: [Int] = []
        for dy in 0..<k {
            var taps: [Int] = []
            for dx in 0..<k {
                let position = tapPositions(height: height, width: pooledWidth, window: k, tap: (dy, dx), mapWidth: width)
                let kept = emit(.multiply, [y, emit(.compare(.equal), [indices, position], shape)], shape)
                taps.append(reshape(kept, from: shape, to: tapShape))
            }
            rows.append(emit(.concatenate(axis: 5), taps, [batch, channels, height, 1, pooledWidth, k]))
        }
        let woven = emit(.concatenate(axis: 3), rows, [batch, channels, height, k, pooledWidth, k])
        var result = reshape(woven, from: [batch, channels, height, k, pooledWidth, k], to: [batch, channels, height * k, pooledWidth * k])
        let (extraRows, extraColumns) = (output.shape[2] - height * k, output.shape[3] - pooledWidth * k)
        if extraRows > 0 || extraColumns > 0 {
            result = emit(.pad(left: 0, right: extraColumns, top: 0, bottom: extraRows, reflect: false), [result], output.shape)
        }
        return result
    }

    /// Max pooling with dilated windows: the maximum over the k² taps, each a strided slice of
    /// the map padded with −∞.
    func dilatedMaxPool(_ x: TorchTensor, kernel k: Int, stride: Int, padding p: Int, dilation: [Int]) throws -> Int {
        guard dilation[0] == dilation[1] else { throw Untraceable("max pooling with unequal dilations") }
        let d = dilation[0]
        var id = try value(x), shape = x.shape
        if p > 0 {
            for axis in [2, 3] {
                var edge = shape
                edge[axis] = p
                let fill = constant(Tensor(shape: edge, repeating: -.infinity))
                shape[axis] += 2 * p
                id = emit(.concatenate(axis: axis), [fill, id, fill], shape)
            }
        }
        let (outHeight, outWidth) = (output.shape[2], output.shape[3])
        var taps: [Int] = []
        let tapShape = output.shape + [1]
        for i in 0..<k {
            var rowsShape = shape
            rowsShape[2] = outHeight
            let rows = emit(.slice(axis: 2, start: i * d, end: i * d + stride * (outHeight - 1) + 1, step: stride), [id], rowsShape)
            for j in 0..<k {
                let tap = emit(.slice(axis: 3, start: j * d, end: j * d + stride * (outWidth - 1) + 1, step: stride), [rows], output.shape)
                taps.append(reshape(tap, from: output.shape, to: tapShape))
            }
        }
        let stacked = emit(.concatenate(axis: 4), taps, output.shape + [k * k])
        return emit(.reduceMax(axis: 4), [stacked], output.shape)
    }

    /// `torch.roll` along one axis: its last `shift` positions first (slices concatenated).
    func rolled(_ id: Int, _ shape: [Int], axis: Int, by shift: Int) -> Int {
        let size = shape[axis], k = ((shift % size) + size) % size
        guard k != 0 else { return id }
        var tail = shape, head = shape
        tail[axis] = k; head[axis] = size - k
        let last = emit(.slice(axis: axis, start: size - k, end: size, step: 1), [id], tail)
        let first = emit(.slice(axis: axis, start: 0, end: size - k, step: 1), [id], head)
        return emit(.concatenate(axis: axis), [last, first], shape)
    }

    /// |x| as relu(x) + relu(−x).
    func magnitude(_ x: Int, _ shape: [Int]) -> Int {
        let negative = emit(.multiply, [x, scalar(-1)], shape)
        return emit(.add, [emit(.activation(.relu), [x], shape), emit(.activation(.relu), [negative], shape)], shape)
    }

    /// `torch.cdist(x1, x2)` (p = 2) as PyTorch computes it: with more than 25 rows on either
    /// side, one product of [−2·x1, |x1|², 1] and [x2, 1, |x2|²], clamped at 1e-30, square-rooted;
    /// otherwise the differences' norms.
    func distances() throws -> Int {
        let x = try tensor(0, "x1"), y = try tensor(1, "x2")
        guard try a.double(2, "p", 2) == 2, x.shape.count >= 2, y.shape.count == x.shape.count else { throw Untraceable("cdist other than p = 2 over batches of rows") }
        if let mode = a.value(3, "compute_mode"), !mode.isNone, try a.interp.str(mode) != "use_mm_for_euclid_dist_if_necessary" {
            throw Untraceable("cdist compute_mode other than the default")
        }
        let (rows, others, width) = (x.shape[x.shape.count - 2], y.shape[y.shape.count - 2], x.shape.last!)
        let shape = output.shape
        if rows > 25 || others > 25 {
            func squaredNorms(_ id: Int, _ s: [Int]) -> Int {
                reduce(emit(.multiply, [id, id], s), shape: s, axes: [s.count - 1], mean: false, keep: true)
            }
            let xs = try value(x), ys = try value(y)
            var column = x.shape
            column[column.count - 1] = 1
            var otherColumn = y.shape
            otherColumn[otherColumn.count - 1] = 1
            let augmentedX = emit(.concatenate(axis: x.shape.count - 1),
                                  [emit(.multiply, [xs, scalar(-2)], x.shape), squaredNorms(xs, x.shape), constant(Tensor(shape: column, repeating: 1))],
                                  Array(x.shape.dropLast()) + [width + 2])
            let augmentedYShape = Array(y.shape.dropLast()) + [width + 2]
            let augmentedY = emit(.concatenate(axis: y.shape.count - 1), [ys, constant(Tensor(shape: otherColumn, repeating: 1)), squaredNorms(ys, y.shape)],
                                  augmentedYShape)
            var order = Array(0..<y.shape.count)
            order.swapAt(order.count - 1, order.count - 2)
            let transposed = permute(augmentedY, order, order.map { augmentedYShape[$0] })
            let squared = emit(.matmul, [augmentedX, transposed], shape)
            return emit(.squareRoot, [emit(.clip(minimum: 1e-30, maximum: nil), [squared], shape)], shape)
        }
        // [..., P, 1, M] − [..., 1, R, M], squared, summed over M
        let batch = Array(x.shape.dropLast(2))
        let left = reshape(try value(x), from: x.shape, to: batch + [rows, 1, width])
        let right = reshape(try value(y), from: y.shape, to: batch + [1, others, width])
        let differenceShape = batch + [rows, others, width]
        let difference = emit(.subtract, [left, right], differenceShape)
        let squared = reduce(emit(.multiply, [difference, difference], differenceShape), shape: differenceShape, axes: [differenceShape.count - 1],
                             mean: false, keep: false)
        return emit(.squareRoot, [squared], shape)
    }

    func tanh(_ x: Int) -> Int { emit(.activation(.tanh), [x], output.shape) }

    /// softplus(x) = relu(x) + log(1 + exp(−|x|)), which neither overflows nor loses large x.
    func softplus(_ x: Int) -> Int {
        let shape = output.shape
        let negative = emit(.multiply, [x, scalar(-1)], shape)
        let magnitude = emit(.add, [emit(.activation(.relu), [x], shape), emit(.activation(.relu), [negative], shape)], shape)
        let tail = emit(.log, [emit(.add, [emit(.exp, [emit(.multiply, [magnitude, scalar(-1)], shape)], shape), scalar(1)], shape)], shape)
        return emit(.add, [emit(.activation(.relu), [x], shape), tail], shape)
    }

    /// GroupNorm's normalisation: x [N, C, …] viewed as [N, groups, rest], normalised over the
    /// rest, then the per-channel weight and bias (InstanceNorm: a group per channel).
    func groupNormalized(_ x: TorchTensor, groups: Int, epsilon: Float, weight: Int?, bias: Int?) throws -> Int {
        let grouped = [x.shape[0], groups, x.shape.dropFirst().reduce(1, *) / groups]
        var y = reshape(layerNorm(reshape(try value(x), from: x.shape, to: grouped), shape: grouped, axes: [2], epsilon: epsilon, weight: nil, bias: nil),
                        from: grouped, to: x.shape)
        let affine = [x.shape[1]] + Array(repeating: 1, count: x.shape.count - 2)
        if let weight { y = emit(.multiply, [y, reshape(weight, from: [x.shape[1]], to: affine)], x.shape) }
        if let bias { y = emit(.add, [y, reshape(bias, from: [x.shape[1]], to: affine)], x.shape) }
        return y
    }

    /// (x − mean) / sqrt(var + eps) over `axes` (the last ones), then the affine weight and bias.
    func layerNorm(_ x: Int, shape: [Int], axes: [Int], epsilon: Float, weight: Int?, bias: Int?) -> Int {
        if axes == [shape.count - 1], epsilon == 1e-5, let weight, let bias {
            return emit(.layerNorm, [x, weight, bias], shape)
        }
        let kept = shape.enumerated().map { axes.contains($0.offset) ? 1 : $0.element }
        let mean = reduce(x, shape: shape, axes: axes, mean: true, keep: true)
        let centred = emit(.subtract, [x, mean], shape)
        let variance = reduce(emit(.multiply, [centred, centred], shape), shape: shape, axes: axes, mean: true, keep: true)
        let deviation = emit(.squareRoot, [emit(.add, [variance, scalar(epsilon)], kept)], kept)
        var y = emit(.divide, [centred, deviation], shape)
        let affine = Array(shape.suffix(axes.count))
        if let weight { y = emit(.multiply, [y, reshape(weight, from: affine, to: affine)], shape) }
        if let bias { y = emit(.add, [y, reshape(bias, from: affine, to: affine)], shape) }
        return y
    }

    /// Adaptive pooling with windows of unequal sizes, one axis at a time (it is separable): output
    /// j along an axis of size n into o covers [⌊j·n/o⌋, ⌈(j+1)·n/o⌉), as PyTorch's windows do.
    func adaptivePooled(_ id: Int, _ shape: [Int], to sizes: [Int], maximum: Bool) throws -> Int {
        var current = id, currentShape = shape
        for (offset, size) in sizes.enumerated() {
            let axis = 2 + offset, length = currentShape[axis]
            guard size != length else { continue }
            guard !maximum || size <= 64 else { throw Untraceable("adaptive max pooling to more than 64 cells per axis with unequal windows") }
            if !maximum, size > 64 || length > 64 {
                // many cells: an average is a product with the windows' weights along the axis
                let weights = matrix(length, size) { n, j in
                    let start = j * length / size, end = ((j + 1) * length + size - 1) / size
                    return (start..<end).contains(n) ? 1 / Double(end - start) : 0
                }
                current = alongAxis(current, currentShape, axis: axis, weights, outputs: size)
                currentShape[axis] = size
                continue
            }
            var cells: [Int] = []
            var cellShape = currentShape
            cellShape[axis] = 1
            for j in 0..<size {
                let start = j * length / size, end = ((j + 1) * length + size - 1) / size
                var windowShape = currentShape
                windowShape[axis] = end - start
                let window = emit(.slice(axis: axis, start: start, end: end, step: 1), [current], windowShape)
                cells.append(reduce(window, shape: windowShape, axes: [axis], mean: !maximum, keep: true, maximum: maximum))
            }
            currentShape[axis] = size
            current = cells.count == 1 ? cells[0] : emit(.concatenate(axis: axis), cells, currentShape)
        }
        return current
    }

    /// conv1d as a conv2d over [N, C, 1, L]; unequal paddings as an explicit zero pad.
    func convolution(spatial: Int) throws -> Int {
        let x = try tensor(0, "input"), w = try tensor(1, "weight")
        guard x.shape.count == spatial + 2 else { throw Untraceable("an unbatched convolution") }
        let groups = try a.int(6, "groups", 1)
        var stride = try a.ints(3, "stride", count: spatial, 1), dilation = try a.ints(5, "dilation", count: spatial, 1)
        let kernel = Array(w.shape.suffix(spatial))
        var padding: [Int]
        if let p = a.value(4, "padding"), case .str(let mode) = p {
            guard mode == "valid" || kernel.enumerated().allSatisfy({ dilation[$0.offset] * ($0.element - 1) % 2 == 0 }) else {
                throw Untraceable("padding='same' with an even kernel")
            }
            padding = mode == "same" ? kernel.enumerated().map { dilation[$0.offset] * ($0.element - 1) / 2 } : Array(repeating: 0, count: spatial)
        } else {
            padding = try a.ints(4, "padding", count: spatial, 0)
        }
        if spatial == 2, stride[0] != stride[1], let columns = try columnConvolution(x, w, kernel: kernel, stride: stride, padding: padding,
                                                                                    dilation: dilation, groups: groups) {
            return columns
        }
        var input = try value(x), weight = try value(w), inputShape = x.shape
        if spatial == 1 {
            inputShape = [x.shape[0], x.shape[1], 1, x.shape[2]]
            input = reshape(input, from: x.shape, to: inputShape)
            weight = reshape(weight, from: w.shape, to: [w.shape[0], w.shape[1], 1, w.shape[2]])
            padding = [0] + padding; stride = [1] + stride; dilation = [1] + dilation
        }
        guard Set(stride).count == 1 || (spatial == 1 && stride[1] == 1) else { throw Untraceable("a convolution with unequal strides") }
        guard Set(dilation).count == 1 || (spatial == 1 && dilation[1] == 1) else { throw Untraceable("a convolution with unequal dilations") }
        let strideValue = spatial == 1 ? stride[1] : stride[0], dilationValue = spatial == 1 ? dilation[1] : dilation[0]
        var commonPadding = padding[0]
        if padding[0] != padding[1] || spatial == 1 {
            // unequal paddings: pad explicitly, then convolve without
            let padded = [inputShape[0], inputShape[1], inputShape[2] + 2 * padding[0], inputShape[3] + 2 * padding[1]]
            input = emit(.pad(left: padding[1], right: padding[1], top: padding[0], bottom: padding[0], reflect: false), [input], padded)
            inputShape = padded
            commonPadding = 0
        }
        var inputs = [input, weight]
        if try a.has(2, "bias") { inputs.append(try value(2, "bias")) }
        let outputShape = spatial == 1 ? [output.shape[0], output.shape[1], 1, output.shape[2]] : output.shape
        let convolved = emit(.convolution(stride: strideValue, padding: commonPadding, dilation: dilationValue, groups: groups), inputs, outputShape)
        return reshape(convolved, from: outputShape, to: output.shape)
    }

    /// conv3d as 2-d convolutions, one per depth tap: output depth d sums conv2d(x[:, :, z], w[:, :, i])
    /// over the taps i whose input depth z = d·stride − padding + i·dilation lies inside the map
    /// (taps on the zero padding add nothing).
    func depthTapConvolution(_ x: TorchTensor, _ w: TorchTensor) throws -> Int {
        guard x.shape.count == 5, w.shape.count == 5 else { throw Untraceable("an unbatched conv3d") }
        let stride = try a.ints(3, "stride", count: 3, 1), dilation = try a.ints(5, "dilation", count: 3, 1)
        if let p = a.value(4, "padding"), case .str = p { throw Untraceable("conv3d with padding given by name") }
        let padding = try a.ints(4, "padding", count: 3, 0), groups = try a.int(6, "groups", 1)
        guard stride[1] == stride[2], padding[1] == padding[2], dilation[1] == dilation[2] else {
            throw Untraceable("conv3d with unequal strides, paddings or dilations across height and width")
        }
        let (batch, channels, depth, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3], x.shape[4])
        let (outputs, outDepth) = (output.shape[1], output.shape[2])
        let plane = [batch, outputs, output.shape[3], output.shape[4]]
        let source = try value(x), kernel = try value(w)
        let tapWeight = [w.shape[0], w.shape[1], w.shape[3], w.shape[4]]
        var planes: [Int] = []
        for d in 0..<outDepth {
            var sum: Int?
            for i in 0..<w.shape[2] {
                let z = d * stride[0] - padding[0] + i * dilation[0]
                guard z >= 0, z < depth else { continue }
                let slice = emit(.slice(axis: 2, start: z, end: z + 1, step: 1), [source], [batch, channels, 1, height, width])
                let weight = emit(.slice(axis: 2, start: i, end: i + 1, step: 1), [kernel], [w.shape[0], w.shape[1], 1, w.shape[3], w.shape[4]])
                let y = emit(.convolution(stride: stride[1], padding: padding[1], dilation: dilation[1], groups: groups),
                             [reshape(slice, from: [batch, channels, 1, height, width], to: [batch, channels, height, width]),
                              reshape(weight, from: [w.shape[0], w.shape[1], 1, w.shape[3], w.shape[4]], to: tapWeight)], plane)
                sum = sum.map { emit(.add, [$0, y], plane) } ?? y
            }
            var result = sum ?? constant(Tensor(shape: plane))
            if try a.has(2, "bias") { result = emit(.add, [result, reshape(try value(2, "bias"), from: [outputs], to: [1, outputs, 1, 1])], plane) }
            planes.append(reshape(result, from: plane, to: [batch, outputs, 1, plane[2], plane[3]]))
        }
        return planes.count == 1 ? planes[0] : emit(.concatenate(axis: 2), planes, output.shape)
    }

    /// A kernel as long as its stride along one axis and 1 along the other, without padding (the
    /// (k, 1) and (1, k) column convolutions of AKConv and snake convolutions): each run of k rows
    /// (columns) becomes k channels of a 1×1 convolution. Nil for other kernels.
    func columnConvolution(_ x: TorchTensor, _ w: TorchTensor, kernel: [Int], stride: [Int], padding: [Int], dilation: [Int],
                           groups: Int) throws -> Int? {
        guard x.shape.count == 4, dilation == [1, 1], padding == [0, 0],
              let axis = (0..<2).first(where: { kernel[$0] == stride[$0] && kernel[$0] > 1 }), kernel[1 - axis] == 1, stride[1 - axis] == 1 else { return nil }
        let k = kernel[axis]
        let (batch, channels) = (x.shape[0], x.shape[1])
        var input = try value(x), shape = x.shape
        let blocks = shape[2 + axis] / k
        if blocks * k != shape[2 + axis] {
            shape[2 + axis] = blocks * k
            input = emit(.slice(axis: 2 + axis, start: 0, end: blocks * k, step: 1), [input], shape)
        }
        // [N, C, H', k, W] or [N, C, H, W', k], the run's axis moved after the channels
        let runs = axis == 0 ? [batch, channels, blocks, k, shape[3]] : [batch, channels, shape[2], blocks, k]
        let order = axis == 0 ? [0, 1, 3, 2, 4] : [0, 1, 4, 2, 3]
        let moved = order.map { runs[$0] }
        let flat = [batch, channels * k, moved[3], moved[4]]
        input = reshape(permute(reshape(input, from: shape, to: runs), order, moved), from: moved, to: flat)
        // the kernel's input channel ci, tap j is channel ci·k + j, as the runs are laid out
        var inputs = [input, reshape(try value(w), from: w.shape, to: [w.shape[0], w.shape[1] * k, 1, 1])]
        if try a.has(2, "bias") { inputs.append(try value(2, "bias")) }
        return emit(.convolution(stride: 1, padding: 0, dilation: 1, groups: groups), inputs, output.shape)
    }

    /// Rows picked by index tensors, as `gather_rows` ([B, N, …] by [B, k] → [B, k, …]):
    /// `x[batch, rows]` with batch index 0…B−1 each repeated k times (a query head's top-k
    /// selection), `x[:, rows]` of a batch-1 tensor, and `x[rows]`.
    func gather(_ x: TorchTensor, _ parts: [TorchRuntime.IndexPart]) throws -> Int {
        func integers(_ t: TorchTensor) -> Bool { !t.dtype.isFloatingPoint && t.dtype != .bool && t.shape.count == 1 }
        var source = try value(x), sourceShape = x.shape, rows: TorchTensor
        switch parts.count {
        case 1:
            guard case .tensor(let r) = parts[0], integers(r) else { return try gatheredAlongOneAxis(x, parts) }
            rows = r
            sourceShape = [1] + x.shape
            source = reshape(source, from: x.shape, to: sourceShape)
        case 2:
            if parts[0].isFullSlice, case .tensor(let r) = parts[1], integers(r), x.shape.count >= 2, x.shape[0] == 1 {
                rows = r
            } else if case .tensor(let batch) = parts[0], case .tensor(let r) = parts[1], integers(batch), integers(r), batch.count == r.count,
                      let values = batch.values, x.shape[0] > 0, r.count % x.shape[0] == 0,
                      values.enumerated().allSatisfy({ Int($0.element) == $0.offset / (r.count / x.shape[0]) }) {
                rows = r
            } else if case .tensor(let batch) = parts[0], case .tensor(let r) = parts[1], batch.shape == [x.shape[0], 1], r.shape.count == 2,
                      r.shape[0] == x.shape[0], !batch.dtype.isFloatingPoint, !r.dtype.isFloatingPoint, let values = batch.values,
                      values.enumerated().allSatisfy({ Int($0.element) == $0.offset }) {
                // `x[arange(B)[:, None], index]` with index [B, k]: the batch index broadcast along k
                rows = r
            } else {
                return try gatheredAlongOneAxis(x, parts)
            }
        default: return try gatheredAlongOneAxis(x, parts)
        }
        let batch = sourceShape[0], k = rows.count / max(batch, 1)
        let indices = reshape(try value(rows), from: rows.shape, to: [batch, k])
        let gathered = [batch, k] + sourceShape.dropFirst(2)
        return reshape(emit(.gatherRows, [source, indices], gathered), from: gathered, to: output.shape)
    }

    /// `x[:, …, index, …]`: slices (any positive step) on the other axes and one integer tensor
    /// or list on one axis, whose shape takes that axis's place — a `gather` along it.
    func gatheredAlongOneAxis(_ x: TorchTensor, _ parts: [TorchRuntime.IndexPart]) throws -> Int {
        if let gathered = try gatheredByKnownIndices(x, parts) { return gathered }
        let advanced = parts.indices.filter { if case .tensor = parts[$0] { return true }; return false }
        guard advanced.count == 1, case .tensor(let index) = parts[advanced[0]], !index.dtype.isFloatingPoint, index.dtype != .bool,
              parts.allSatisfy({ if case .range = $0 { return true }; if case .tensor = $0 { return true }; return false }) else {
            throw Untraceable("indexing with tensors other than one integer index among slices, or a top-k selection of rows")
        }
        let axis = advanced[0]
        var id = try value(x), shape = x.shape
        for (k, part) in parts.enumerated() where k != axis {
            guard case .range(let s) = part else { continue }
            let (start, stop, step) = try torch.sliceBounds(s, shape[k], a.interp)
            guard step > 0 else { throw Untraceable("a negative slice step") }
            let count = stop > start ? (stop - start + step - 1) / step : 0
            guard count != shape[k] else { continue }
            shape[k] = count
            id = emit(.slice(axis: k, start: start, end: stop, step: step), [id], shape)
        }
        if let values = index.values {
            let size = shape[axis]
            guard values.allSatisfy({ (-size..<size).contains(TorchTensor.integer($0)) }) else { throw Untraceable("an index out of range") }
        }
        let gathered = Array(shape[..<axis]) + index.shape + shape[(axis + 1)...]
        return reshape(emit(.gather(axis: axis), [id, try value(index)], gathered), from: gathered, to: output.shape)
    }

    /// An index expression's parts, an Ellipsis replaced by the full slices it stands for.
    func indexParts(_ index: PyValue, of x: TorchTensor) throws -> [TorchRuntime.IndexPart] {
        var parts = try torch.indexParts(index, a.interp)
        let consumed = parts.filter { if case .newAxis = $0 { return false }; if case .ellipsis = $0 { return false }; return true }.count
        if let e = parts.firstIndex(where: { if case .ellipsis = $0 { return true }; return false }) {
            parts.replaceSubrange(e...e, with: Array(repeating: .range(PySlice(.none, .none, .none)), count: x.shape.count - consumed))
        }
        return parts
    }

    /// Basic indexing: integers, slices (any positive step), None and Ellipsis.
    func index(_ x: TorchTensor, _ index: PyValue) throws -> Int {
        let parts = try indexParts(index, of: x)
        if parts.contains(where: { if case .tensor = $0 { return true }; return false }) { return try gather(x, parts) }
        var id = try value(x), shape = x.shape, axis = 0
        for part in parts {
            switch part {
            case .newAxis, .ellipsis: continue
            case .tensor: throw Untraceable("indexing with a tensor")
            case .integer(let i):
                let j = i < 0 ? i + shape[axis] : i
                var sliced = shape
                sliced[axis] = 1
                id = emit(.slice(axis: axis, start: j, end: j + 1, step: 1), [id], sliced)
                shape = sliced
                axis += 1
            case .range(let s):
                let (start, stop, step) = try torch.sliceBounds(s, shape[axis], a.interp)
                guard step > 0 else { throw Untraceable("a negative slice step") }
                let count = stop > start ? (stop - start + step - 1) / step : 0
                if count != shape[axis] {
                    var sliced = shape
                    sliced[axis] = count
                    id = emit(.slice(axis: axis, start: start, end: stop, step: step), [id], sliced)
                    shape = sliced
                }
                axis += 1
            }
        }
        return reshape(id, from: shape, to: output.shape)
    }
}
