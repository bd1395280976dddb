import ModelSpec
import Tensor

/// Ultralytics `GhostConv(c1, c2, k=1, s=1, g=1, act=True)`: a Conv to c2 // 2 channels, and a
/// depthwise 5×5 Conv of that as the cheap other half; both concatenated.
public struct GhostConv: LayerModule, FeatureBlock {
    public static let names = ["GhostConv"]
    public static let signature = Signature([
        .init("c2", "outputChannels", .int(min: 1)),
        .init("k", "kernelSize", .int(min: 1), default: .int(1)),
        .init("s", "stride", .int(min: 1), default: .int(1)),
        .init("g", "groups", .int(min: 1), default: .int(1)),
        .init("act", "activation", .bool, default: .bool(true)),
    ])
    public static let channelRule = ChannelRule.scaledOutput

    public var typeName: String { "GhostConv" }
    public var cv1: Conv
    public var cv2: Conv

    init(_ inputChannels: Int, _ outputChannels: Int, kernelSize: Int = 1, stride: Int = 1, groups: Int = 1,
         activation: Activation = .silu, epsilon: Float) {
        let half = outputChannels / 2
        cv1 = Conv(inputChannels, half, kernelSize: kernelSize, stride: stride, groups: groups, activation: activation, epsilon: epsilon)
        cv2 = Conv(half, half, kernelSize: 5, groups: half, activation: activation, epsilon: epsilon)
    }

    public init(_ context: LayerContext) throws(LayerError) {
        let (input, output, arguments) = (context.inputChannel, context.scaledOutputChannels, context.arguments)
        try Conv.checkGroups(input: input, output: output / 2, groups: arguments.int("groups"), position: arguments.position("groups"))
        self.init(input, output, kernelSize: arguments.int("kernelSize"), stride: arguments.int("stride"), groups: arguments.int("groups"),
                  activation: arguments.bool("activation") ? .silu : .identity, epsilon: context.batchNormEpsilon)
    }

    /// Twice c2 // 2: an odd c2 loses a channel, as in PyTorch.
    public var outputChannels: [Int] { [2 * cv1.conv.outputChannels] }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.child("cv1", &cv1)
        visitor.child("cv2", &cv2)
    }

    public func callAsFunction(_ x: Feature, _ pass: Pass) throws(LayerError) -> Feature {
        let y = try cv1(x, pass)
        return try .concatenate([y, try cv2(y, pass)])
    }

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        try requireFeatureMap(inputs[0].shape, channels: cv1.conv.inputChannels)
        return [try self(inputs[0], pass)]
    }
}

/// Ultralytics `GhostBottleneck(c1, c2, k=3, s=1)`: GhostConv to c2 // 2, a linear depthwise
/// k×k Conv when s == 2, a linear GhostConv to c2; plus the input (s == 1) or its linear
/// depthwise-then-pointwise projection (s == 2).
public struct GhostBottleneck: LayerModule, FeatureBlock {
    public static let names = ["GhostBottleneck"]
    public static let signature = Signature([
        .init("c2", "outputChannels", .int(min: 1)),
        .init("k", "kernelSize", .int(min: 1), default: .int(3)),
        .init("s", "stride", .int(min: 1), default: .int(1)),
    ])
    public static let channelRule = ChannelRule.scaledOutput

    public var typeName: String { "GhostBottleneck" }
    var conv: Path
    /// `nn.Sequential(DWConv, Conv)` when s == 2, else Identity.
    var shortcut: Projection?

    init(_ inputChannels: Int, _ outputChannels: Int, kernelSize: Int = 3, stride: Int = 1, epsilon: Float) {
        let half = outputChannels / 2
        let strided = stride == 2
        conv = Path(expand: GhostConv(inputChannels, half, epsilon: epsilon),
                    depthwise: strided ? depthwiseConv(half, half, kernelSize: kernelSize, stride: stride, activation: .identity, epsilon: epsilon) : nil,
                    project: GhostConv(half, outputChannels, activation: .identity, epsilon: epsilon))
        shortcut = strided
            ? Projection(depthwise: depthwiseConv(inputChannels, inputChannels, kernelSize: kernelSize, stride: stride, activation: .identity, epsilon: epsilon),
                         pointwise: Conv(inputChannels, outputChannels, activation: .identity, epsilon: epsilon))
            : nil
    }

    public init(_ context: LayerContext) throws(LayerError) {
        let arguments = context.arguments
        self.init(context.inputChannel, context.scaledOutputChannels, kernelSize: arguments.int("kernelSize"), stride: arguments.int("stride"),
                  epsilon: context.batchNormEpsilon)
    }

    public var outputChannels: [Int] { conv.project.outputChannels }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.child("conv", &conv)
        visitor.child("shortcut", &shortcut, absent: "Identity")
    }

    public func callAsFunction(_ x: Feature, _ pass: Pass) throws(LayerError) -> Feature {
        var y = try conv.expand(x, pass)
        if let depthwise = conv.depthwise { y = try depthwise(y, pass) }
        // an odd c2 // 2 leaves the first GhostConv one channel short of what the second was built for
        try requireFeatureMap(y.shape, channels: conv.project.cv1.conv.inputChannels)
        y = try conv.project(y, pass)
        let skip = try shortcut.map { projection throws(LayerError) in try projection.pointwise(projection.depthwise(x, pass), pass) } ?? x
        guard skip.shape == y.shape else {
            throw LayerError("adds its input \(describeShape(skip.shape)) to its output \(describeShape(y.shape)); with stride 1 the output width must equal the input's",
                             blame: .arguments)
        }
        return y + skip
    }

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        try requireFeatureMap(inputs[0].shape, channels: conv.expand.cv1.conv.inputChannels)
        return [try self(inputs[0], pass)]
    }

    /// `self.conv`: nn.Sequential(GhostConv, DWConv or Identity, GhostConv).
    struct Path: Block {
        var typeName: String { "Sequential" }
        var expand: GhostConv
        var depthwise: Conv?
        var project: GhostConv

        mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
            visitor.child("0", &expand)
            visitor.child("1", &depthwise, absent: "Identity")
            visitor.child("2", &project)
        }
    }

    /// `self.shortcut` when strided: nn.Sequential(DWConv, Conv).
    struct Projection: Block {
        var typeName: String { "Sequential" }
        var depthwise: Conv
        var pointwise: Conv

        mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
            visitor.child("0", &depthwise)
            visitor.child("1", &pointwise)
        }
    }
}

/// Ultralytics `C3Ghost(c1, c2, n=1, shortcut=True, g=1, e=0.5)`: C3 with its Bottlenecks
/// replaced by `n` GhostBottlenecks of the hidden width (shortcut and g go unused).
public struct C3Ghost: LayerModule {
    public static let names = ["C3Ghost"]
    public static let signature = C2.signature
    public static let channelRule = ChannelRule.scaledOutput
    public static let takesRepeats = true

    public var typeName: String { "C3Ghost" }
    public var cv1: Conv
    public var cv2: Conv
    public var cv3: Conv
    public var m: Indexed<GhostBottleneck>

    public init(_ context: LayerContext) throws(LayerError) {
        let (input, output, epsilon, arguments) = (context.inputChannel, context.scaledOutputChannels, context.batchNormEpsilon, context.arguments)
        let hidden = try hiddenChannels(output, expansion: arguments.double("expansion"), position: arguments.position("expansion"))
        cv1 = Conv(input, hidden, epsilon: epsilon)
        cv2 = Conv(input, hidden, epsilon: epsilon)
        cv3 = Conv(2 * hidden, output, epsilon: epsilon)
        m = Indexed(Array(repeating: GhostBottleneck(hidden, hidden, epsilon: epsilon), count: context.repeats))
    }

    public var outputChannels: [Int] { [cv3.conv.outputChannels] }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.child("cv1", &cv1)
        visitor.child("cv2", &cv2)
        visitor.child("cv3", &cv3)
        visitor.child("m", &m)
    }

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        try requireFeatureMap(inputs[0].shape, channels: cv1.conv.inputChannels)
        var y = try cv1(inputs[0], pass)
        for bottleneck in m.items { y = try bottleneck(y, pass) }
        return [try cv3(try .concatenate([y, try cv2(inputs[0], pass)]), pass)]
    }
}
