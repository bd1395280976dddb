import ModelSpec
import Tensor

/// Ultralytics `Conv`: Conv2d (no bias) → BatchNorm2d → SiLU (or Identity with `act=False`).
/// Port of `ultralytics/nn/modules/conv.py: Conv`.
public struct Conv: LayerModule {
    public static let names = ["Conv"]
    public static let signature = Signature([
        .init("c2", "outputChannels", .int(min: 1)),
        .init("k", "kernelSize", .int(min: 1), default: .int(1)),
        .init("s", "stride", .int(min: 1), default: .int(1)),
        .init("p", "padding", .optionalInt(min: 0), default: .null),
        .init("g", "groups", .int(min: 1), default: .int(1)),
        .init("d", "dilation", .int(min: 1), default: .int(1)),
        .init("act", "activation", .bool, default: .bool(true)),
    ])

    public let inputChannels: Int
    public let outputChannel: Int
    public let kernelSize: Int
    public let stride: Int
    public let padding: Int
    public let groups: Int
    public let dilation: Int
    public let activation: Bool
    public let printedArguments: [ArgumentValue]

    public init(_ context: LayerContext) throws(LayerError) {
        let arguments = context.arguments
        inputChannels = context.inputChannel
        // width scaling applies to the written output channels
        outputChannel = context.scaledChannels(arguments.int("outputChannels"))
        kernelSize = arguments.int("kernelSize")
        stride = arguments.int("stride")
        dilation = arguments.int("dilation")
        padding = arguments.optionalInt("padding") ?? Conv.autoPadding(kernelSize: kernelSize, dilation: dilation)
        groups = arguments.int("groups")
        activation = arguments.bool("activation")
        try Conv.checkGroups(input: inputChannels, output: outputChannel, groups: groups, position: arguments.position("groups"))
        printedArguments = [.int(inputChannels), .int(outputChannel)] + arguments.writtenValues.dropFirst()
    }

    public var outputChannels: [Int] { [outputChannel] }

    public var tree: ModuleNode {
        Conv.node("", inputChannels: inputChannels, outputChannels: outputChannel, kernelSize: kernelSize,
                  groups: groups, activation: activation)
    }

    public func outputShapes(_ inputs: [[Int]]) throws(LayerError) -> [[Int]] {
        let input = inputs[0]
        try requireFeatureMap(input, channels: inputChannels)
        return [try Conv.outputShape(input, outputChannels: outputChannel, kernelSize: kernelSize, stride: stride,
                                     padding: padding, dilation: dilation)]
    }

    public func multiplyAdds(_ inputs: [[Int]], _ outputs: [[Int]]) -> Double {
        convolutionMultiplyAdds(output: outputs[0], inputChannelsPerGroup: inputChannels / groups, kernelSize: kernelSize)
    }

    public func forward(_ inputs: [Tensor], _ weights: LayerWeights) throws(LayerError) -> [Tensor] {
        [Conv.apply(inputs[0], weights, stride: stride, padding: padding, dilation: dilation, groups: groups,
                    activation: activation ? .silu : .identity)]
    }

    // Shared with modules built from Ultralytics Convs (RepC3, RepConv, CARAFE).

    /// One Ultralytics Conv's forward: conv (no bias) → BatchNorm → activation; `padding` nil
    /// means `autopad`.
    static func apply(_ x: Tensor, _ weights: LayerWeights, stride: Int = 1, padding: Int? = nil, dilation: Int = 1,
                      groups: Int = 1, activation: Activation) -> Tensor {
        let kernelSize = weights["conv.weight"].shape[2]
        return weights.convBatchNorm(x, conv: "conv", norm: "bn", stride: stride,
                                     padding: padding ?? autoPadding(kernelSize: kernelSize, dilation: dilation),
                                     dilation: dilation, groups: groups, activation: activation)
    }

    /// Ultralytics' `autopad`: same-size padding for stride 1.
    public static func autoPadding(kernelSize: Int, dilation: Int) -> Int {
        let effective = dilation > 1 ? dilation * (kernelSize - 1) + 1 : kernelSize
        return effective / 2
    }

    static func checkGroups(input: Int, output: Int, groups: Int, position: Int) throws(LayerError) {
        guard input % groups == 0, output % groups == 0 else {
            throw LayerError("groups=\(groups) must divide both input channels (\(input)) and output channels (\(output))",
                             blame: .argument(position))
        }
    }

    /// The module tree of one Ultralytics Conv. With `activation`, its SiLU is the class-wide
    /// `Conv.default_act` instance.
    public static func node(_ name: String, inputChannels: Int, outputChannels: Int, kernelSize: Int, groups: Int = 1,
                            activation: Bool) -> ModuleNode {
        ModuleNode(name, "Conv", children: [
            .conv2d("conv", inputChannels: inputChannels, outputChannels: outputChannels, kernelSize: kernelSize,
                    groups: groups, bias: false),
            .batchNorm2d("bn", channels: outputChannels),
            activation ? .leaf("act", "SiLU", sharedInstance: "Conv.default_act") : .leaf("act", "Identity"),
        ])
    }

    /// NCHW output of a convolution; throws when the input is too small for the kernel.
    public static func outputShape(_ input: [Int], outputChannels: Int, kernelSize: Int, stride: Int, padding: Int,
                                   dilation: Int = 1) throws(LayerError) -> [Int] {
        let height = convolvedSize(input[2], kernelSize: kernelSize, stride: stride, padding: padding, dilation: dilation)
        let width = convolvedSize(input[3], kernelSize: kernelSize, stride: stride, padding: padding, dilation: dilation)
        guard height > 0, width > 0 else {
            throw LayerError("a \(kernelSize)×\(kernelSize) kernel (padding \(padding), dilation \(dilation)) does not fit the \(input[2])×\(input[3]) input \(describeShape(input))",
                             blame: .row)
        }
        return [input[0], outputChannels, height, width]
    }
}
