import Tensor

// The torch.nn modules the Ultralytics and seed modules are made of: each declares its tensors
// with PyTorch's names, its shape rule and its forward in one place; a module thop counts
// records its call (`Feature.moduleCall`), which the counting passes read.

/// `nn.Conv2d(in, out, k, stride, padding, dilation, groups, bias)`.
public struct Conv2d: Block {
    public var typeName: String { "Conv2d" }
    public let inputChannels: Int
    public let outputChannels: Int
    public let kernelSize: Int
    public let stride: Int
    public let padding: Int
    public let dilation: Int
    public let groups: Int
    public var weight: Parameter
    public var bias: Parameter?

    public init(_ inputChannels: Int, _ outputChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                dilation: Int = 1, groups: Int = 1, bias: Bool = true) {
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
        let fanIn = inputChannels / max(groups, 1) * kernelSize * kernelSize
        weight = Parameter([outputChannels, inputChannels / max(groups, 1), kernelSize, kernelSize], initialization: .uniformFanIn(fanIn))
        self.bias = bias ? Parameter([outputChannels], initialization: .uniformFanIn(fanIn)) : nil
    }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.parameter("weight", &weight)
        visitor.parameter("bias", &bias)
    }

    var geometry: ConvolutionGeometry {
        ConvolutionGeometry(kernelSize: kernelSize, stride: stride, padding: padding, dilation: dilation)
    }

    /// The NCHW output shape; throws when the kernel does not fit the input.
    public func outputShape(_ input: [Int]) throws(LayerError) -> [Int] {
        let height = convolvedSize(input[2], kernelSize: kernelSize, stride: stride, padding: padding, dilation: dilation)
        let width = convolvedSize(input[3], kernelSize: kernelSize, stride: stride, padding: padding, dilation: dilation)
        guard height > 0, width > 0 else {
            throw LayerError("a \(kernelSize)×\(kernelSize) kernel (padding \(padding), dilation \(dilation)) does not fit the \(input[2])×\(input[3]) input \(describeShape(input))",
                             blame: .row)
        }
        return [input[0], outputChannels, height, width]
    }

    /// The convolution, then `activation`.
    public func callAsFunction(_ x: Feature, _ pass: Pass, activation: Activation = .identity) throws(LayerError) -> Feature {
        precondition(x.shape.count == 4 && x.shape[1] == inputChannels, "Conv2d(\(inputChannels)→\(outputChannels)) got \(x.shape)")
        let output = try outputShape(x.shape)
        return Feature.moduleCall(.convolution(groups: groups, kernel: [kernelSize, kernelSize]), [x]) {
            x.applying(.convolution(stride: stride, padding: padding, dilation: dilation, groups: groups), [weight, bias], shape: output)
        }.activated(activation)
    }

    /// A 1×1, stride-1, ungrouped convolution: a matrix product over positions.
    var isPlainPointwise: Bool { geometry.isPointwise && groups == 1 }

    /// `convs[level](inputs[level])` for plain pointwise convs of one output width, flattened and
    /// concatenated over the levels into [B, out, ΣH·W] (the planner runs it as one GEMM per level).
    static func flattenedPointwise(_ convs: [Conv2d], _ inputs: [Feature]) throws(LayerError) -> Feature {
        precondition(convs.count == inputs.count && !convs.isEmpty && convs.allSatisfy { $0.isPlainPointwise && $0.outputChannels == convs[0].outputChannels })
        for (conv, x) in zip(convs, inputs) {
            precondition(x.shape.count == 4 && x.shape[1] == conv.inputChannels, "Conv2d(\(conv.inputChannels)→\(conv.outputChannels)) got \(x.shape)")
            _ = try conv.outputShape(x.shape)
        }
        // each level's conv, viewed [B, out, H·W], concatenated along the positions
        let maps = zip(convs, inputs).map { conv, x in
            let y = try! conv(x, Pass())  // its shape was checked above
            return y.reshaped([y.shape[0], y.shape[1], y.shape[2] * y.shape[3]])
        }
        return try! .concatenate(maps, axis: 2)
    }

    /// Folds a following BatchNorm: W' = W·γ/√(var + ε) per output channel, b' = (b − mean)·γ/√(var + ε) + β.
    mutating func fold(_ norm: BatchNorm2d) {
        if bias == nil {
            bias = Parameter([outputChannels], initialization: .zeros)
            bias?.key = weight.ownerPath.map { $0 + ".bias" }
        }
        // Ultralytics' fuse_conv_and_bn makes the fused conv with requires_grad_(False)
        weight.isTrainable = false
        bias?.isTrainable = false
        guard let w = weight.value, let gamma = norm.weight.value, let beta = norm.bias.value,
              let mean = norm.runningMean.value, let variance = norm.runningVariance.value else { return }
        let (folded, shift) = PlannedProgram.fold(weight: w, bias: bias?.value, norm: [gamma, beta, mean, variance], epsilon: norm.epsilon)
        weight.value = folded
        bias?.value = shift
    }
}

/// `nn.BatchNorm2d(channels, eps)` in eval mode. Ultralytics' detection-family models set every
/// eps to 1e-3 (`initialize_weights`); classification models keep PyTorch's 1e-5.
public struct BatchNorm2d: Block {
    public var typeName: String { "BatchNorm2d" }
    public let channels: Int
    public let epsilon: Float
    public var weight: Parameter
    public var bias: Parameter
    public var runningMean: Parameter
    public var runningVariance: Parameter

    public init(_ channels: Int, epsilon: Float) {
        self.channels = channels
        self.epsilon = epsilon
        weight = Parameter([channels], initialization: .ones)
        bias = Parameter([channels], initialization: .zeros)
        runningMean = Parameter([channels], initialization: .zeros, isBuffer: true)
        runningVariance = Parameter([channels], initialization: .ones, isBuffer: true)
    }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.parameter("weight", &weight)
        visitor.parameter("bias", &bias)
        visitor.parameter("running_mean", &runningMean)
        visitor.parameter("running_var", &runningVariance)
    }

    public func callAsFunction(_ x: Feature, activation: Activation = .identity) -> Feature {
        Feature.moduleCall(.normalization(affine: true), [x]) {
            x.applying(.batchNorm(epsilon: epsilon), [weight, bias, runningMean, runningVariance], shape: x.shape)
        }.activated(activation)
    }
}

/// `nn.Linear(in, out, bias)` over the last axis.
public struct Linear: Block {
    public var typeName: String
    public let inputFeatures: Int
    public let outputFeatures: Int
    public var weight: Parameter
    public var bias: Parameter?

    public init(_ inputFeatures: Int, _ outputFeatures: Int, bias: Bool = true, typeName: String = "Linear",
                zeroBias: Bool = false) {
        self.typeName = typeName
        self.inputFeatures = inputFeatures
        self.outputFeatures = outputFeatures
        weight = Parameter([outputFeatures, inputFeatures], initialization: .uniformFanIn(inputFeatures))
        self.bias = bias ? Parameter([outputFeatures], initialization: zeroBias ? .zeros : .uniformFanIn(inputFeatures)) : nil
    }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.parameter("weight", &weight)
        visitor.parameter("bias", &bias)
    }

    /// The module over the last axis of a feature.
    public func callAsFunction(_ x: Feature) -> Feature {
        Feature.moduleCall(.linear(inputFeatures: inputFeatures), [x]) { functional(x) }
    }

    /// `F.linear(x, weight, bias)` with this module's tensors, not a call of the module
    /// (MultiheadAttention's `out_proj`, which its forward reads as weights).
    func functional(_ x: Feature) -> Feature {
        x.applying(.linear, [weight, bias], shape: Array(x.shape.dropLast()) + [outputFeatures])
    }
}

/// `nn.LayerNorm(features)` over the last axis.
public struct LayerNorm: Block {
    public var typeName: String { "LayerNorm" }
    public var weight: Parameter
    public var bias: Parameter

    public init(_ features: Int) {
        weight = Parameter([features], initialization: .ones)
        bias = Parameter([features], initialization: .zeros)
    }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.parameter("weight", &weight)
        visitor.parameter("bias", &bias)
    }

    public func callAsFunction(_ x: Feature) -> Feature {
        Feature.moduleCall(.normalization(affine: true), [x]) { x.applying(.layerNorm, [weight, bias], shape: x.shape) }
    }
}

/// `nn.GroupNorm(groups, channels)`.
public struct GroupNorm: Block {
    public var typeName: String { "GroupNorm" }
    public let groups: Int
    public var weight: Parameter
    public var bias: Parameter

    public init(groups: Int, channels: Int) {
        self.groups = groups
        weight = Parameter([channels], initialization: .ones)
        bias = Parameter([channels], initialization: .zeros)
    }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.parameter("weight", &weight)
        visitor.parameter("bias", &bias)
    }

    /// One composite (`group_norm`): per group of channels, the mean and biased
    /// variance over its elements, (x − mean) / √(var + 1e-5), then the per-channel affine.
    public func callAsFunction(_ x: Feature) -> Feature {
        Feature.moduleCall(.normalization(affine: true), [x]) { normalized(x) }
    }

    private func normalized(_ x: Feature) -> Feature {
        let (batch, channels) = (x.shape[0], x.shape[1])
        let perGroup = x.shape.dropFirst().reduce(1, *) / groups
        let (scale, shift) = (x.constant(weight), x.constant(bias))
        return Feature.composite("group_norm", attributes: ["groups": [groups]], inputs: [x, scale, shift]) {
            let grouped = x.reshaped([batch, groups, perGroup])
            let count = x.scalar(Float(perGroup), name: "group_size")
            let centred = grouped - (grouped.reducedSum(axis: 2).reshaped([batch, groups, 1]) / count)
            let variance = (centred * centred).reducedSum(axis: 2).reshaped([batch, groups, 1]) / count
            let deviation = Feature.traced(.squareRoot, [variance.plus(x.scalar(1e-5, name: "eps"))], shapes: [[batch, groups, 1]])[0]
            let affine = [1, channels] + Array(repeating: 1, count: x.shape.count - 2)
            return [((centred / deviation).reshaped(x.shape) * scale.reshaped(affine)).plus(shift.reshaped(affine))]
        }[0]
    }
}

/// `nn.Embedding(count, features)`.
public struct Embedding: Block {
    public var typeName: String { "Embedding" }
    public var weight: Parameter

    public init(count: Int, features: Int) {
        weight = Parameter([count, features], initialization: .normal)
    }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) { visitor.parameter("weight", &weight) }
}

/// `nn.MultiheadAttention(width, heads, batch_first=True)`: a packed Q/K/V input projection and
/// an output Linear.
public struct MultiheadAttention: Block {
    public var typeName: String { "MultiheadAttention" }
    public let width: Int
    public let heads: Int
    public var inputWeight: Parameter
    public var inputBias: Parameter
    public var outputProjection: Linear

    public init(width: Int, heads: Int) {
        self.width = width
        self.heads = heads
        inputWeight = Parameter([3 * width, width], initialization: .xavier(fanIn: width, fanOut: width))
        inputBias = Parameter([3 * width], initialization: .zeros)
        outputProjection = Linear(width, width, typeName: "NonDynamicallyQuantizableLinear", zeroBias: true)
    }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.parameter("in_proj_weight", &inputWeight)
        visitor.parameter("in_proj_bias", &inputBias)
        visitor.child("out_proj", &outputProjection)
    }

    /// Batch first: [B, L, E] in and out, as program operations (the packed projection's thirds
    /// as constants, heads split by views, scaled q·kᵀ, softmax, ·v).
    public func callAsFunction(query: Feature, key: Feature, value: Feature) -> Feature {
        Feature.moduleCall(.attention(width: width, heads: heads), [query, key, value]) { attended(query: query, key: key, value: value) }
    }

    private func attended(query: Feature, key: Feature, value: Feature) -> Feature {
        let names = ["q", "k", "v"]
        func project(_ x: Feature, _ part: Int) -> Feature {
            guard let recorder = x.symbol?.recorder else { return Feature(shape: x.shape) }
            let path = inputWeight.ownerPath
            let rows = (part * width)..<((part + 1) * width)
            let w = recorder.constant(shape: [width, width], name: path.map { $0 + ".in_proj_weight.\(names[part])" }) { inputWeight.tensor.slice(axis: 0, rows) }
            let b = recorder.constant(shape: [width], name: path.map { $0 + ".in_proj_bias.\(names[part])" }) { inputBias.tensor.slice(axis: 0, rows) }
            return recorder.feature(.linear, [x.symbol!.id, w, b], shape: x.shape, path: path.map { $0 + "." + names[part] + "_proj" })
        }
        let headWidth = width / heads
        func split(_ x: Feature) -> Feature { x.reshaped([x.shape[0], x.shape[1], heads, headWidth]).permuted([0, 2, 1, 3]) }
        let projected = [project(query, 0), project(key, 1), project(value, 2)]
        // one composite, so the execution pass runs the fused attention kernel (Tensor.attention)
        let mixed = Feature.composite("attention", attributes: ["heads": [heads]], inputs: projected) {
            let (q, k, v) = (split(projected[0]), split(projected[1]), split(projected[2]))
            let scale = query.scalar(1 / Float(headWidth).squareRoot(), name: "attention_scale")
            let weightsOfKeys = (q.matmul(k.permuted([0, 1, 3, 2])) * scale).softmax(axis: 3)
            return [weightsOfKeys.matmul(v).permuted([0, 2, 1, 3]).reshaped(query.shape)]
        }[0]
        return outputProjection.functional(mixed)
    }
}

/// `nn.MaxPool2d(kernel_size, stride, padding)` (dilation 1, floor mode).
public struct MaxPool2d: Block {
    public var typeName: String { "MaxPool2d" }
    public let kernelSize: Int
    public let stride: Int
    public let padding: Int

    public init(kernelSize: Int, stride: Int, padding: Int) {
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
    }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {}

    /// PyTorch's max_pool2d rule: padding at most half the kernel.
    static func checkPadding(kernelSize: Int, padding: Int, blame: LayerError.Blame) throws(LayerError) {
        guard padding * 2 <= kernelSize else {
            throw LayerError("padding \(padding) must be at most half the kernel size \(kernelSize) (PyTorch's max_pool2d rule)", blame: blame)
        }
    }

    public func outputShape(_ input: [Int]) throws(LayerError) -> [Int] {
        try MaxPool2d.checkPadding(kernelSize: kernelSize, padding: padding, blame: .row)
        let height = convolvedSize(input[2], kernelSize: kernelSize, stride: stride, padding: padding)
        let width = convolvedSize(input[3], kernelSize: kernelSize, stride: stride, padding: padding)
        guard height > 0, width > 0 else {
            throw LayerError("a \(kernelSize)×\(kernelSize) pooling window (padding \(padding)) does not fit the \(input[2])×\(input[3]) input \(describeShape(input))",
                             blame: .row)
        }
        return [input[0], input[1], height, width]
    }

    public func callAsFunction(_ x: Feature) throws(LayerError) -> Feature {
        return Feature.traced(.maxPool(kernelSize: kernelSize, stride: stride, padding: padding), [x], shapes: [try outputShape(x.shape)])[0]
    }
}

/// `nn.ConvTranspose2d(in, out, k, stride=1, padding=0, output_padding=0, groups=1, bias=True,
/// dilation=1)`; Proto and Depth use it with stride k (non-overlapping blocks, a kernel of its own).
public struct ConvTranspose2d: Block {
    public var typeName: String { "ConvTranspose2d" }
    public let kernelSize: Int
    public let stride: Int
    public let padding: Int
    public let outputPadding: Int
    public let dilation: Int
    public let groups: Int
    public var weight: Parameter
    public var bias: Parameter?

    /// Proto's and Depth's form: stride = kernel size, no padding.
    public init(_ inputChannels: Int, _ outputChannels: Int, kernelSize: Int, bias: Bool = true) {
        self.init(inputChannels, outputChannels, kernelSize: kernelSize, stride: kernelSize, bias: bias)
    }

    public init(_ inputChannels: Int, _ outputChannels: Int, kernelSize: Int, stride: Int, padding: Int = 0, outputPadding: Int = 0,
                groups: Int = 1, bias: Bool = true, dilation: Int = 1) {
        (self.kernelSize, self.stride, self.padding, self.outputPadding, self.dilation, self.groups) =
            (kernelSize, stride, padding, outputPadding, dilation, groups)
        // PyTorch's fan_in of a transposed conv's weight [in, out / groups, k, k] is (out / groups)·k·k
        let fanIn = outputChannels / groups * kernelSize * kernelSize
        weight = Parameter([inputChannels, outputChannels / groups, kernelSize, kernelSize], initialization: .uniformFanIn(fanIn))
        self.bias = bias ? Parameter([outputChannels], initialization: .uniformFanIn(fanIn)) : nil
    }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.parameter("weight", &weight)
        visitor.parameter("bias", &bias)
    }

    var inputChannels: Int { weight.shape[0] }
    var outputChannels: Int { weight.shape[1] * groups }

    public func outputShape(_ input: [Int]) throws(LayerError) -> [Int] {
        let size = { (n: Int) in Tensor.transposedConvolvedSize(n, kernelSize: kernelSize, stride: stride, padding: padding,
                                                                  outputPadding: outputPadding, dilation: dilation) }
        let (height, width) = (size(input[2]), size(input[3]))
        guard height > 0, width > 0 else {
            throw LayerError("padding \(padding) crops the \(input[2])×\(input[3]) input's transposed convolution to \(height)×\(width)", blame: .row)
        }
        return [input[0], outputChannels, height, width]
    }

    public func callAsFunction(_ x: Feature, _ pass: Pass) throws(LayerError) -> Feature {
        try requireFeatureMap(x.shape, channels: inputChannels)
        let output = try outputShape(x.shape)
        return Feature.moduleCall(.transposedConvolution(groups: groups, kernel: [kernelSize, kernelSize]), [x]) {
            x.applying(.transposedConvolution(stride: stride, padding: padding, outputPadding: outputPadding, dilation: dilation, groups: groups),
                       [weight, bias], shape: output)
        }
    }
}
