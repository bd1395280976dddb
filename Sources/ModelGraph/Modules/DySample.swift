import ModelSpec

/// DySample (seed 004): learns per-pixel sampling offsets and upsamples by bilinear grid
/// sampling. `style` 'lp' predicts offsets at low resolution, 'pl' after a pixel shuffle;
/// `dyscope` adds a learned offset scope. Input channels come from `from`.
public struct DySample: LayerModule {
    public static let names = ["DySample"]
    public static let signature = Signature([
        .init("scale", "scale", .int(min: 1), default: .int(2)),
        .init("style", "style", .choice(["lp", "pl"]), default: .string("lp")),
        .init("groups", "groups", .int(min: 1), default: .int(4)),
        .init("dyscope", "dynamicScope", .bool, default: .bool(false)),
    ])

    public let channels: Int
    public let scale: Int
    public let pixelShuffleFirst: Bool
    public let groups: Int
    public let dynamicScope: Bool
    public let printedArguments: [ArgumentValue]

    public init(_ context: LayerContext) throws(LayerError) {
        let arguments = context.arguments
        channels = context.inputChannel
        scale = arguments.int("scale")
        pixelShuffleFirst = arguments.string("style") == "pl"
        groups = arguments.int("groups")
        dynamicScope = arguments.bool("dynamicScope")
        if pixelShuffleFirst {
            let square = scale * scale
            guard channels >= square, channels % square == 0 else {
                throw LayerError("style 'pl' pixel-shuffles first, so input channels (\(channels)) must be a multiple of scale² = \(square)",
                                 blame: .argument(arguments.position("style")))
            }
        }
        guard channels >= groups, channels % groups == 0 else {
            throw LayerError("input channels (\(channels)) must be a multiple of groups=\(groups)",
                             blame: .argument(arguments.position("groups")))
        }
        printedArguments = [.int(channels)] + arguments.writtenValues
    }

    public var outputChannels: [Int] { [channels] }

    var offsetInputChannels: Int { pixelShuffleFirst ? channels / (scale * scale) : channels }
    var offsetOutputChannels: Int { pixelShuffleFirst ? 2 * groups : 2 * groups * scale * scale }

    public var tree: ModuleNode {
        var children: [ModuleNode] = [.conv2d("offset", inputChannels: offsetInputChannels, outputChannels: offsetOutputChannels, kernelSize: 1)]
        if dynamicScope {
            children.append(.conv2d("scope", inputChannels: offsetInputChannels, outputChannels: offsetOutputChannels, kernelSize: 1, bias: false))
        }
        return ModuleNode("", "DySample", buffers: [TensorDeclaration("init_pos", [1, 2 * groups * scale * scale, 1, 1])], children: children)
    }

    public func outputShapes(_ inputs: [[Int]]) throws(LayerError) -> [[Int]] {
        try upsampledFeatureMap(inputs[0], channels: channels, scale: scale)
    }

    /// Offset (and scope) 1×1 convs plus bilinear sampling: 4 taps per output element.
    public func multiplyAdds(_ inputs: [[Int]], _ outputs: [[Int]]) -> Double {
        let pixels = spatialPositions(inputs[0])
        let convolutions = pixels * Double(channels) * Double(2 * groups * (dynamicScope ? 2 : 1))  // same count for lp and pl
        return convolutions * Double(scale * scale) + elements(outputs[0]) * 4
    }
}
