import ModelSpec
import Tensor

/// Ultralytics `Classify(c1, c2, k=1, s=1, p=None, g=1)`: a Conv to 1280 channels, global
/// average pooling, Dropout (p = 0) and a Linear to c2 classes. Several sources are concatenated
/// first. Eval output: softmax probabilities `[B, c2]`. The classification model keeps PyTorch's
/// BatchNorm eps 1e-5 (its model never calls `initialize_weights`).
public struct Classify: LayerModule {
    public static let names = ["Classify"]
    public static let signature = Signature([
        .init("c2", "outputChannels", .int(min: 1)),
        .init("k", "kernelSize", .int(min: 1), default: .int(1)),
        .init("s", "stride", .int(min: 1), default: .int(1)),
        .init("p", "padding", .optionalInt(min: 0), default: .null),
        .init("g", "groups", .int(min: 1), default: .int(1)),
    ])
    public static let channelRule = ChannelRule.writtenOutput
    public static let inputArity = InputArity.atLeast(1)
    /// efficientnet_b0's width, as Ultralytics hard-codes it.
    static let hiddenChannels = 1280

    public var typeName: String { "Classify" }
    public var conv: Conv
    public var linear: Linear

    public init(_ context: LayerContext) throws(LayerError) {
        let arguments = context.arguments
        let input = context.inputChannels.reduce(0, +), groups = arguments.int("groups")
        try Conv.checkGroups(input: input, output: Classify.hiddenChannels, groups: groups, position: arguments.position("groups"))
        conv = Conv(input, Classify.hiddenChannels, kernelSize: arguments.int("kernelSize"), stride: arguments.int("stride"),
                    padding: arguments.optionalInt("padding"), groups: groups, epsilon: context.batchNormEpsilon)
        linear = Linear(Classify.hiddenChannels, context.scaledOutputChannels)
    }

    public var outputChannels: [Int] { [linear.outputFeatures] }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.child("conv", &conv)
        visitor.leaf("pool", "AdaptiveAvgPool2d")
        visitor.leaf("drop", "Dropout")
        visitor.child("linear", &linear)
    }

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        let x = inputs.count > 1 ? try Feature.concatenate(inputs) : inputs[0]
        try requireFeatureMap(x.shape, channels: conv.conv.inputChannels)
        let features = try conv(x, pass)
        return [linear(features.globalAveragePooled()).softmax(axis: 1)]
    }
}
