import ModelSpec
import Tensor

/// `nn.ConvTranspose2d` as a YAML row (YOLOv6's upsampling): a base module, so its first
/// argument is the output width, scaled.
public struct ConvTransposeLayer: LayerModule {
    public static let names = ["nn.ConvTranspose2d"]
    public static let signature = Signature([
        .init("out_channels", "outputChannels", .int(min: 1)),
        .init("kernel_size", "kernelSize", .int(min: 1)),
        .init("stride", "stride", .int(min: 1), default: .int(1)),
        .init("padding", "padding", .int(min: 0), default: .int(0)),
        .init("output_padding", "outputPadding", .int(min: 0), default: .int(0)),
        .init("groups", "groups", .int(min: 1), default: .int(1)),
        .init("bias", "bias", .bool, default: .bool(true)),
        .init("dilation", "dilation", .int(min: 1), default: .int(1)),
    ])
    public static let channelRule = ChannelRule.scaledOutput

    public var typeName: String { "ConvTranspose2d" }
    var block: ConvTranspose2d

    public init(_ context: LayerContext) throws(LayerError) {
        let arguments = context.arguments
        let (stride, dilation, outputPadding) = (arguments.int("stride"), arguments.int("dilation"), arguments.int("outputPadding"))
        let groups = arguments.int("groups")
        try Conv.checkGroups(input: context.inputChannel, output: context.scaledOutputChannels, groups: groups,
                             position: arguments.position("groups"))
        // PyTorch: "output padding must be smaller than either stride or dilation"
        guard outputPadding < stride || outputPadding < dilation else {
            throw LayerError("output_padding \(outputPadding) must be smaller than the stride (\(stride)) or the dilation (\(dilation))",
                             blame: .argument(arguments.position("outputPadding")))
        }
        block = ConvTranspose2d(context.inputChannel, context.scaledOutputChannels, kernelSize: arguments.int("kernelSize"), stride: stride,
                                padding: arguments.int("padding"), outputPadding: outputPadding, groups: groups,
                                bias: arguments.bool("bias"), dilation: dilation)
    }

    public var outputChannels: [Int] { [block.outputChannels] }
    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) { block.visit(&visitor) }

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        [try block(inputs[0], pass)]
    }
}
