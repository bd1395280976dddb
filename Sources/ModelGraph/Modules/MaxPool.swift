import ModelSpec
import Tensor

/// `nn.MaxPool2d(kernel_size, stride=None, padding=0)` as a YAML row (stride defaults to the kernel size).
public struct MaxPool: LayerModule {
    public static let names = ["nn.MaxPool2d"]
    public static let signature = Signature([
        .init("kernel_size", "kernelSize", .int(min: 1)),
        .init("stride", "stride", .optionalInt(min: 1), default: .null),
        .init("padding", "padding", .int(min: 0), default: .int(0)),
    ])
    public static let channelRule = ChannelRule.sameAsInput

    public var typeName: String { "MaxPool2d" }
    var pool: MaxPool2d
    let channels: Int

    public init(_ context: LayerContext) throws(LayerError) {
        let arguments = context.arguments
        let kernelSize = arguments.int("kernelSize")
        let padding = arguments.int("padding")
        try MaxPool2d.checkPadding(kernelSize: kernelSize, padding: padding, blame: .argument(2))
        pool = MaxPool2d(kernelSize: kernelSize, stride: arguments.optionalInt("stride") ?? kernelSize, padding: padding)
        channels = context.inputChannel
    }

    public var outputChannels: [Int] { [channels] }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {}

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        try requireFeatureMap(inputs[0].shape, channels: channels)
        return [try pool(inputs[0])]
    }
}
