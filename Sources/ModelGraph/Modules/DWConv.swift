import ModelSpec
import Tensor

/// Ultralytics `DWConv(c1, c2, k=1, s=1, d=1, act=True)` as a YAML row: a Conv with
/// gcd(c1, c2) groups (depthwise when c1 == c2), its output width scaled like Conv's.
public struct DWConv: LayerModule {
    public static let names = ["DWConv"]
    public static let signature = Signature([
        .init("c2", "outputChannels", .int(min: 1)),
        .init("k", "kernelSize", .int(min: 1), default: .int(1)),
        .init("s", "stride", .int(min: 1), default: .int(1)),
        .init("d", "dilation", .int(min: 1), default: .int(1)),
        .init("act", "activation", .bool, default: .bool(true)),
    ])
    public static let channelRule = ChannelRule.scaledOutput

    public var typeName: String { "DWConv" }
    /// The Conv it is (DWConv subclasses Conv: the same conv, bn and act children).
    public var layer: Conv

    public init(_ context: LayerContext) throws(LayerError) {
        let (input, output, arguments) = (context.inputChannel, context.scaledOutputChannels, context.arguments)
        layer = Conv(input, output, kernelSize: arguments.int("kernelSize"), stride: arguments.int("stride"),
                     groups: greatestCommonDivisor(input, output), dilation: arguments.int("dilation"),
                     activation: arguments.bool("activation") ? .silu : .identity, epsilon: context.batchNormEpsilon)
        layer.typeName = "DWConv"
    }

    public var outputChannels: [Int] { layer.outputChannels }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) { layer.visit(&visitor) }

    public mutating func fuse() { layer.fuse() }

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        try layer(inputs, pass)
    }
}
