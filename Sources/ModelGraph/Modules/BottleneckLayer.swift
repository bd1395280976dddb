import ModelSpec
import Tensor

/// Ultralytics `Bottleneck(c1, c2, shortcut=True, g=1, k=(3, 3), e=0.5)` as a YAML row (YOLOv3):
/// two Convs, plus the input when `shortcut` and c1 == c2. Not a repeat module: a row with n > 1
/// is an nn.Sequential of n copies.
public struct BottleneckLayer: LayerModule {
    public static let names = ["Bottleneck"]
    public static let signature = Signature([
        .init("c2", "outputChannels", .int(min: 1)),
        .init("shortcut", "shortcut", .bool, default: .bool(true)),
        .init("g", "groups", .int(min: 1), default: .int(1)),
        .init("k", "kernelSizes", .intList(count: 2, min: 1), default: .list([.int(3), .int(3)])),
        .init("e", "expansion", .number, default: .float(0.5)),
    ])
    public static let channelRule = ChannelRule.scaledOutput

    public var typeName: String { block.typeName }
    var block: Bottleneck

    public init(_ context: LayerContext) throws(LayerError) {
        let (input, output, arguments) = (context.inputChannel, context.scaledOutputChannels, context.arguments)
        let hidden = try hiddenChannels(output, expansion: arguments.double("expansion"), position: arguments.position("expansion"))
        try Conv.checkGroups(input: hidden, output: output, groups: arguments.int("groups"), position: arguments.position("groups"))
        let kernels = arguments.ints("kernelSizes")
        block = Bottleneck(input, output, shortcut: arguments.bool("shortcut"), groups: arguments.int("groups"),
                           kernelSizes: (kernels[0], kernels[1]), expansion: arguments.double("expansion"), epsilon: context.batchNormEpsilon)
    }

    public var outputChannels: [Int] { [block.cv2.conv.outputChannels] }
    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) { block.visit(&visitor) }

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        try requireFeatureMap(inputs[0].shape, channels: block.cv1.conv.inputChannels)
        return [try block(inputs[0], pass)]
    }
}
