import Tensor

/// The forward pass as an explicit program: typed operations over values with shapes, each
/// carrying where it came from. Tracing a model's forward over symbolic features records it
/// (`InferencePlan.trace()`); passes read it (execution with reference kernels, ONNX export).
///
/// The operation set is closed and documented here, in one place. Every value is float32.
/// Broadcasting follows NumPy's rules (PyTorch's and ONNX's).
public enum ProgramOp: Sendable {
    /// The model's input image, [B, C, H, W].
    case input
    /// The class text embeddings an open-vocabulary model reads, [B, classes, width]
    /// (Ultralytics' `txt_feats`; the ONNX input `txt_feats`).
    case textEmbeddings
    /// A tensor known when the program is made: a weight (named by its state_dict key), a
    /// buffer, or a value the module computes from shapes alone (anchors, strides).
    case constant(Tensor, name: String?)
    /// `F.conv2d(x, weight, bias)`; inputs x, weight and, when present, bias. A fused
    /// activation is a separate `activation` op in the program.
    case convolution(stride: Int, padding: Int, dilation: Int, groups: Int)
    /// `F.conv_transpose2d(x, weight, bias)`; inputs x, weight [in, out / groups, k, k] and, when present, bias.
    case transposedConvolution(stride: Int, padding: Int, outputPadding: Int, dilation: Int, groups: Int)
    /// Eval-mode BatchNorm over axis 1; inputs x, weight, bias, running mean, running variance.
    case batchNorm(epsilon: Float)
    /// `F.layer_norm` over the last axis (eps 1e-5); inputs x, weight, bias.
    case layerNorm
    case activation(Activation)
    /// Element-wise `cos`, `sin` or square root.
    case cosine, sine, squareRoot
    /// Element-wise binary operations with broadcasting.
    case add, subtract, multiply, divide
    /// `torch.atan2(y, x)` with broadcasting: inputs y, x; the angle in [−π, π] (a complex
    /// value's `torch.angle`).
    case atan2
    /// `torch.cat(inputs, axis)`.
    case concatenate(axis: Int)
    /// `x.split(sizes, axis)`: one output per size.
    case split(axis: Int, sizes: [Int])
    /// `x[..., start:end:step, ...]` along `axis` (step ≥ 1).
    case slice(axis: Int, start: Int, end: Int, step: Int)
    /// `x.expand(shape)`: axes of size 1 repeated to `shape` (NumPy's broadcasting; same rank).
    case expand([Int])
    /// `F.pad(x, [left, right, top, bottom])` on the two last axes of a map [N, C, H, W] (a tracer
    /// views other ranks as one), with zeros or, `reflect`, mirrored without the edge (`mode="reflect"`).
    case pad(left: Int, right: Int, top: Int, bottom: Int, reflect: Bool)
    /// `nn.MaxPool2d(kernel, stride, padding)` (dilation 1, floor mode).
    case maxPool(kernelSize: Int, stride: Int, padding: Int)
    /// `F.avg_pool2d(x, kernel, stride, 0)` (floor mode).
    case averagePool(kernelSize: Int, stride: Int)
    /// The mean over the two last axes, kept as size 1 (`nn.AdaptiveAvgPool2d(1)`).
    case globalAveragePool
    /// `F.linear(x, weight, bias)` over the last axis; inputs x, weight [out, in] and, when present, bias.
    case linear
    /// Nearest-neighbour upsampling of the two last axes by a whole factor.
    case upsampleNearest(factor: Int)
    /// The largest value along `axis`, which is dropped (`x.max(axis).values`).
    case reduceMax(axis: Int)
    /// The sum along `axis`, which is dropped.
    case reduceSum(axis: Int)
    /// `torch.topk(x, k, axis)` (largest, sorted; ties keep the lower index first): two outputs,
    /// the values and their indices (int64).
    case topK(k: Int, axis: Int)
    /// Rows of x [B, N, …] picked per batch by int64 indices [B, k]: [B, k, …]
    /// (`x[batch_ind, topk_ind]`).
    case gatherRows
    /// x indexed along `axis` by the integer values of `indices` (any shape; a negative value
    /// counts from the end): x.shape[..<axis] + indices.shape + x.shape[(axis + 1)...]
    /// (`x[:, index]`, `x[..., [1, 0]]`; ONNX's Gather).
    case gather(axis: Int)
    /// `torch.gather(x, axis, indices)`: out[i] = x[i with axis `axis` replaced by indices[i]];
    /// indices (integers held as float32 or int64) has x's rank and gives the output's shape
    /// (ONNX's GatherElements).
    case gatherElements(axis: Int)
    /// Element-wise `floor`, and rounding toward zero (a cast to an integer type, the result kept
    /// as float32: integers below 2^24 are exact).
    case floor, truncate
    /// Element-wise comparison with broadcasting: 1 where it holds, else 0 (PyTorch's bool
    /// tensors, held as float32).
    case compare(Comparison)
    /// `torch.where(condition, x, y)` with broadcasting: x where condition is nonzero, else y.
    case select
    /// `F.grid_sample(x, grid, mode="bilinear", align_corners=False)` with padding_mode "zeros"
    /// or, `border`, "border": x [N, C, H, W], grid [N, Ho, Wo, 2] → [N, C, Ho, Wo].
    case gridSample(border: Bool)
    /// `x.clamp(min, max)` (either bound optional).
    case clip(minimum: Float?, maximum: Float?)
    case log
    /// Integer division and remainder of int64 values by a positive constant; `toFloat` casts
    /// int64 values to float32.
    case integerDivide(Int), remainder(Int), toFloat
    /// `F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=alignCorners)`: a
    /// whole factor on the two last axes.
    case upsampleBilinear(factor: Int, alignCorners: Bool)
    /// `F.interpolate(x, size=…)` or with a scale factor other than a whole one, to the output's
    /// size on the two last axes: `step` is PyTorch's source step per output pixel when a
    /// scale_factor was given (1 / scale), nil for input / output size.
    case resize(mode: ResizeMode, alignCorners: Bool, stepHeight: Float?, stepWidth: Float?)
    /// Element-wise `exp`.
    case exp
    /// `x.view(shape)`: same elements, row-major.
    case reshape([Int])
    /// `x.permute(permutation)`.
    case transpose([Int])
    case softmax(axis: Int)
    /// Batched matrix product with broadcasting over leading axes (`torch.matmul`).
    case matmul
    /// A named operation defined by program operations of its own (its body): a pass that
    /// knows the name may compute it its own way (the execution pass's kernels); every other
    /// pass reads the body (`Program.inlined()`: ONNX export, multiply-adds, reference runs).
    case composite(Composite)

    /// The op's name in the program's text form and in messages.
    public var name: String {
        switch self {
        case .input: return "input"
        case .textEmbeddings: return "text_embeddings"
        case .squareRoot: return "sqrt"
        case .constant: return "constant"
        case .convolution: return "convolution"
        case .transposedConvolution: return "transposed_convolution"
        case .batchNorm: return "batch_norm"
        case .activation(let activation): return "\(activation)"
        case .layerNorm: return "layer_norm"
        case .cosine: return "cos"
        case .sine: return "sin"
        case .add: return "add"
        case .subtract: return "subtract"
        case .multiply: return "multiply"
        case .divide: return "divide"
        case .atan2: return "atan2"
        case .concatenate: return "concatenate"
        case .split: return "split"
        case .slice: return "slice"
        case .expand: return "expand"
        case .pad: return "pad"
        case .maxPool: return "max_pool"
        case .averagePool: return "average_pool"
        case .globalAveragePool: return "global_average_pool"
        case .linear: return "linear"
        case .upsampleNearest: return "upsample_nearest"
        case .upsampleBilinear: return "upsample_bilinear"
        case .resize: return "resize"
        case .exp: return "exp"
        case .reduceMax: return "reduce_max"
        case .reduceSum: return "reduce_sum"
        case .topK: return "top_k"
        case .gatherRows: return "gather_rows"
        case .gather: return "gather"
        case .gatherElements: return "gather_elements"
        case .floor: return "floor"
        case .truncate: return "truncate"
        case .compare(let comparison): return comparison.rawValue
        case .select: return "select"
        case .gridSample: return "grid_sample"
        case .clip: return "clip"
        case .log: return "log"
        case .integerDivide: return "integer_divide"
        case .remainder: return "remainder"
        case .toFloat: return "to_float"
        case .reshape: return "reshape"
        case .transpose: return "transpose"
        case .softmax: return "softmax"
        case .matmul: return "matmul"
        case .composite(let composite): return composite.name
        }
    }
}

/// A composite operation: its name, integer attributes, and its definition.
public struct Composite: Sendable {
    /// What it computes, e.g. `deformable_attention` (`MSDeformAttn`'s sampling and weighting).
    public let name: String
    /// Integer attributes the passes that know the name read; and for the counting passes,
    /// `product_taps` [n] (a product that its body writes element by element, contracting n taps
    /// per output element) and `einsum` [1] (PyTorch runs that product as an einsum, which thop counts).
    public let attributes: [String: [Int]]
    /// The definition, in order: over the composite instruction's inputs (by value id) and
    /// constants of its own; the composite instruction's outputs are values it produces.
    public let body: [ProgramInstruction]
}

/// Where an instruction came from: the YAML row (layer index and module), for ops of a block
/// with weights the block's state_dict path (`model.12.m.0.cv1.conv`), and in fork mode the
/// fork's Python source line that called the op (`ultralytics/nn/extra_modules/block.py:120:9`).
public struct ProgramOrigin: Sendable, Equatable {
    public var layerIndex: Int?
    public var module: String?
    public var path: String?
    public var source: String?
    /// The innermost call of a module thop counts (`Program.moduleCalls`) that made it, if any.
    public var moduleCall: Int?
    /// Work PyTorch's eval forward does that inference leaves out — an end-to-end head's
    /// one-to-many branch, which nothing reads; a position embedding PyTorch computes from the
    /// shapes and the program holds as a constant. Only the graph builder's counting walk
    /// records it, for thop's figure (`Program.thopOperations`); the complete count leaves it out.
    public var countedOnly = false
    public init(layerIndex: Int? = nil, module: String? = nil, path: String? = nil, source: String? = nil) {
        self.layerIndex = layerIndex; self.module = module; self.path = path; self.source = source
    }
}

/// A value of the program: produced once, by one instruction.
public struct ProgramValue: Sendable, Equatable {
    public let id: Int
    public let shape: [Int]
    public init(id: Int, shape: [Int]) { self.id = id; self.shape = shape }
}

public struct ProgramInstruction: Sendable {
    public let op: ProgramOp
    public let inputs: [Int]
    public let outputs: [ProgramValue]
    public let origin: ProgramOrigin
}

/// A traced forward pass, in the order its operations run.
public struct Program: Sendable {
    public let instructions: [ProgramInstruction]
    /// The values the model returns (its last row's outputs).
    public let outputs: [ProgramValue]
    /// Each YAML index's output value (a row with several outputs owns consecutive indices).
    public let layerOutputs: [Int: Int]
    /// The calls of torch.nn modules thop has a counting rule for, in the order they ran.
    public var moduleCalls: [ModuleCall] = []

    /// Each value's shape, by id (composites' inner values too).
    public var shapes: [Int: [Int]] {
        var shapes: [Int: [Int]] = [:]
        func note(_ instructions: [ProgramInstruction]) {
            for instruction in instructions {
                for value in instruction.outputs { shapes[value.id] = value.shape }
                if case .composite(let composite) = instruction.op { note(composite.body) }
            }
        }
        note(instructions)
        return shapes
    }

    /// The program returning `outputs` (some of its values) instead.
    public func returning(_ outputs: [ProgramValue]) -> Program {
        Program(instructions: instructions, outputs: outputs, layerOutputs: layerOutputs, moduleCalls: moduleCalls)
    }

    /// The named constants (weights, by state_dict key) and their shapes, in program order.
    public var namedConstants: [(name: String, shape: [Int])] {
        instructions.compactMap { instruction in
            guard case .constant(let tensor, let name?) = instruction.op else { return nil }
            return (name, tensor.shape)
        }
    }

    /// The program with each named constant's tensor replaced by `value(name)` where that
    /// gives one (of the constant's shape: the caller checks).
    public func binding(_ value: (String) -> Tensor?) -> Program {
        let bound = instructions.map { instruction -> ProgramInstruction in
            guard case .constant(let tensor, let name?) = instruction.op, let replacement = value(name) else { return instruction }
            precondition(replacement.shape == tensor.shape, "\(name): bound to \(replacement.shape), the program reads \(tensor.shape)")
            return ProgramInstruction(op: .constant(replacement, name: name), inputs: instruction.inputs, outputs: instruction.outputs, origin: instruction.origin)
        }
        return Program(instructions: bound, outputs: outputs, layerOutputs: layerOutputs, moduleCalls: moduleCalls)
    }

    /// The program with the eps of each BatchNorm whose block path is in `epsilons` replaced
    /// (a checkpoint's pickled eps, where it differs from what the code sets).
    public func replacingBatchNormEpsilons(_ epsilons: [String: Double]) -> Program {
        let replaced = instructions.map { instruction -> ProgramInstruction in
            guard case .batchNorm = instruction.op, let path = instruction.origin.path, let epsilon = epsilons[path] else { return instruction }
            return ProgramInstruction(op: .batchNorm(epsilon: Float(epsilon)), inputs: instruction.inputs, outputs: instruction.outputs, origin: instruction.origin)
        }
        return Program(instructions: replaced, outputs: outputs, layerOutputs: layerOutputs, moduleCalls: moduleCalls)
    }

    /// The program with composites replaced by their bodies, except those named in `keeping`.
    public func inlined(keeping: Set<String> = []) -> Program {
        func inline(_ instructions: [ProgramInstruction]) -> [ProgramInstruction] {
            instructions.flatMap { instruction -> [ProgramInstruction] in
                guard case .composite(let composite) = instruction.op, !keeping.contains(composite.name) else { return [instruction] }
                return inline(composite.body)
            }
        }
        return Program(instructions: inline(instructions), outputs: outputs, layerOutputs: layerOutputs, moduleCalls: moduleCalls)
    }

    /// One line per instruction: `%7 [1, 16, 160, 160] = convolution(%0, %5, %6) stride 2 … ; model.0.conv (layer 0 Conv)`.
    public var text: String {
        instructions.map { instruction in
            let outputs = instruction.outputs.map { "%\($0.id) \(describeShape($0.shape))" }.joined(separator: ", ")
            let inputs = instruction.inputs.map { "%\($0)" }.joined(separator: ", ")
            var origin = instruction.origin.path ?? ""
            if let layer = instruction.origin.layerIndex { origin += " (layer \(layer) \(instruction.origin.module ?? ""))" }
            if let source = instruction.origin.source { origin += " " + source }
            return "\(outputs) = \(instruction.op.name)(\(inputs))\(attributes(instruction.op))" + (origin.isEmpty ? "" : "  ; " + origin)
        }.joined(separator: "\n")
    }

    private func attributes(_ op: ProgramOp) -> String {
        switch op {
        case .constant(let tensor, let name): return " \(name ?? "") \(describeShape(tensor.shape))"
        case .convolution(let stride, let padding, let dilation, let groups):
            return " stride \(stride) padding \(padding) dilation \(dilation) groups \(groups)"
        case .transposedConvolution(let stride, let padding, let outputPadding, let dilation, let groups):
            return " stride \(stride) padding \(padding) output_padding \(outputPadding) dilation \(dilation) groups \(groups)"
        case .batchNorm(let epsilon): return " eps \(epsilon)"
        case .concatenate(let axis), .softmax(let axis): return " axis \(axis)"
        case .split(let axis, let sizes): return " axis \(axis) sizes \(sizes)"
        case .slice(let axis, let start, let end, let step): return " axis \(axis) \(start)..<\(end)" + (step == 1 ? "" : " step \(step)")
        case .expand(let shape): return " \(describeShape(shape))"
        case .pad(let left, let right, let top, let bottom, let reflect):
            return " left \(left) right \(right) top \(top) bottom \(bottom)" + (reflect ? " reflect" : "")
        case .maxPool(let kernelSize, let stride, let padding): return " kernel \(kernelSize) stride \(stride) padding \(padding)"
        case .averagePool(let kernelSize, let stride): return " kernel \(kernelSize) stride \(stride)"
        case .upsampleNearest(let factor): return " factor \(factor)"
        case .upsampleBilinear(let factor, let alignCorners): return " factor \(factor)" + (alignCorners ? " align_corners" : "")
        case .resize(let mode, let alignCorners, let stepHeight, let stepWidth):
            return " \(mode.rawValue)" + (alignCorners ? " align_corners" : "") + (stepHeight.map { " step \($0)×\(stepWidth ?? $0)" } ?? "")
        case .reduceMax(let axis), .reduceSum(let axis): return " axis \(axis)"
        case .topK(let k, let axis): return " k \(k) axis \(axis)"
        case .gather(let axis), .gatherElements(let axis): return " axis \(axis)"
        case .clip(let minimum, let maximum): return " " + (minimum.map { "\($0)" } ?? "-inf") + "..." + (maximum.map { "\($0)" } ?? "inf")
        case .integerDivide(let divisor), .remainder(let divisor): return " by \(divisor)"
        case .reshape(let shape): return " \(describeShape(shape))"
        case .transpose(let permutation): return " \(permutation)"
        case .composite(let composite):
            return composite.attributes.sorted { $0.key < $1.key }.map { " \($0.key) \($0.value)" }.joined() + " (\(composite.body.count) operations)"
        default: return ""
        }
    }
}

/// Records the program while a traced walk runs: features made from symbols carry it along,
/// so every operation on them records itself.
public final class ProgramRecorder: @unchecked Sendable {
    private(set) var instructions: [ProgramInstruction] = []
    private var nextValue = 0
    /// The row being traced (set by the walk).
    public var origin = ProgramOrigin()
    /// Records weights as placeholders (their shapes only), so a graph without loaded weights
    /// traces: the graph builder's walk, whose program the passes count and measure but never run.
    public let weightless: Bool
    /// Also records what only thop counts (`ProgramOrigin.countedOnly`): the builder's counting walk.
    public let counting: Bool
    private(set) var moduleCalls: [ModuleCall] = []
    private var openCalls: [Int] = []

    public init(weightless: Bool = false, counting: Bool = false) {
        self.weightless = weightless
        self.counting = counting
    }

    /// Records what `body` records as one call of a torch.nn module thop counts by `kind`'s rule,
    /// over inputs of `inputShapes`.
    func moduleCall<Result>(_ kind: ModuleCall.Kind, inputShapes: [[Int]], _ body: () throws -> Result,
                            outputShapes: (Result) -> [[Int]]) rethrows -> Result {
        let index = moduleCalls.count
        moduleCalls.append(ModuleCall(kind: kind, inputShapes: inputShapes, outputShapes: []))
        openCalls.append(index)
        defer { openCalls.removeLast() }
        let result = try body()
        moduleCalls[index].outputShapes = outputShapes(result)
        return result
    }

    /// Records what `body` records as `countedOnly` work (only in a counting walk; else runs nothing).
    func countedOnly(_ body: () throws -> Void) rethrows {
        guard counting else { return }
        let saved = origin
        origin.countedOnly = true
        defer { origin = saved }
        try body()
    }

    /// A weightless program's stand-in for a weight's tensor (the value keeps the shape).
    static let placeholder = Tensor(shape: [0], storage: [])

    /// A weight's value id: its tensor, or (weightless) a placeholder of `shape`, made only when needed.
    func constant(shape: [Int], name: String?, _ tensor: () -> Tensor) -> Int {
        guard weightless else { return constant(tensor(), name: name) }
        return record(.constant(Self.placeholder, name: name), [], outputs: [shape], path: name)[0].id
    }

    /// Records `op` over `inputs`, returning one value per output shape.
    public func record(_ op: ProgramOp, _ inputs: [Int], outputs shapes: [[Int]], path: String? = nil) -> [ProgramValue] {
        let values = shapes.map { shape -> ProgramValue in
            defer { nextValue += 1 }
            return ProgramValue(id: nextValue, shape: shape)
        }
        var origin = self.origin
        if let path { origin.path = path }
        origin.moduleCall = openCalls.last
        instructions.append(ProgramInstruction(op: op, inputs: inputs, outputs: values, origin: origin))
        return values
    }

    /// Records a one-output op and returns the feature that stands for its result.
    func feature(_ op: ProgramOp, _ inputs: [Int], shape: [Int], path: String? = nil) -> Feature {
        let value = record(op, inputs, outputs: [shape], path: path)[0]
        return Feature(symbol: Symbol(recorder: self, id: value.id), shape: shape)
    }

    /// A constant's value id.
    func constant(_ tensor: Tensor, name: String?) -> Int {
        record(.constant(tensor, name: name), [], outputs: [tensor.shape], path: name)[0].id
    }

    /// Records what `body` records as one composite instruction named `name`, reading `inputs`
    /// (every value the body reads from outside must be one of them) and producing the body's results.
    func composite(_ name: String, attributes: [String: [Int]], inputs: [Feature], _ body: () -> [Feature]) -> [Feature] {
        var results: [Feature] = []
        _ = composite(name, attributes: attributes, inputs: inputs.map { $0.symbol!.id }) {
            results = body()
            return results.map { ProgramValue(id: $0.symbol!.id, shape: $0.shape) }
        }
        return results
    }

    /// Records what `body` records as one composite instruction named `name` over the values
    /// `inputs` (every value the body reads from outside must be one of them), producing the
    /// values `body` returns — for a tracer that works with value ids (fork mode's torch).
    public func composite(_ name: String, attributes: [String: [Int]], inputs declared: [Int],
                          _ body: () throws -> [ProgramValue]) rethrows -> [ProgramValue] {
        let start = instructions.count
        let outputs: [ProgramValue]
        do {
            outputs = try body()
        } catch {
            instructions.removeSubrange(start...)
            throw error
        }
        let recorded = Array(instructions[start...])
        instructions.removeSubrange(start...)
        var compositeOrigin = origin
        compositeOrigin.moduleCall = openCalls.last
        let produced = Set(recorded.flatMap { $0.outputs.map(\.id) })
        for instruction in recorded {
            for id in instruction.inputs {
                precondition(produced.contains(id) || declared.contains(id), "composite \(name) reads %\(id), not among its inputs")
            }
        }
        instructions.append(ProgramInstruction(op: .composite(Composite(name: name, attributes: attributes, body: recorded)),
                                               inputs: declared, outputs: outputs, origin: compositeOrigin))
        return outputs
    }

    /// The recorded program, returning `outputs`.
    public func program(outputs: [ProgramValue], layerOutputs: [Int: Int] = [:]) -> Program {
        Program(instructions: instructions, outputs: outputs, layerOutputs: layerOutputs, moduleCalls: moduleCalls)
    }
}

/// A feature's place in a program being recorded.
public struct Symbol: Sendable {
    let recorder: ProgramRecorder
    let id: Int
}

/// A comparison of `ProgramOp.compare`, named as ONNX names it.
public enum Comparison: String, Sendable {
    case less = "less", lessOrEqual = "less_or_equal", greater = "greater", greaterOrEqual = "greater_or_equal"
    case equal = "equal", notEqual = "not_equal"

    public func holds(_ a: Float, _ b: Float) -> Bool {
        switch self {
        case .less: return a < b
        case .lessOrEqual: return a <= b
        case .greater: return a > b
        case .greaterOrEqual: return a >= b
        case .equal: return a == b
        case .notEqual: return a != b
        }
    }
}

/// How `resize` picks or blends source pixels: PyTorch's `nearest` (source ⌊dst · step⌋),
/// `nearest-exact` (⌊(dst + ½) · step⌋) and `bilinear`.
public enum ResizeMode: String, Sendable {
    case nearest
    case nearestExact = "nearest-exact"
    case bilinear
}
