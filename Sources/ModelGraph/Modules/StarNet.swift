import ModelSpec
import Tensor

/// StarNet backbones (seed 002): a stride-2 stem and four stages of StarBlocks. One row
/// returns five feature maps (stem, stage 1–4) and occupies five layer indices.
public struct StarNet: LayerModule {
    struct Variant: Sendable {
        var baseChannels: Int
        var depths: [Int]
        var mlpRatio: Int
    }

    static let variants: [(name: String, variant: Variant)] = [
        ("starnet_s050", Variant(baseChannels: 16, depths: [1, 1, 3, 1], mlpRatio: 3)),
        ("starnet_s100", Variant(baseChannels: 20, depths: [1, 2, 4, 1], mlpRatio: 4)),
        ("starnet_s150", Variant(baseChannels: 24, depths: [1, 2, 4, 2], mlpRatio: 3)),
        ("starnet_s1", Variant(baseChannels: 24, depths: [2, 2, 8, 3], mlpRatio: 4)),
        ("starnet_s2", Variant(baseChannels: 32, depths: [1, 2, 6, 2], mlpRatio: 4)),
        ("starnet_s3", Variant(baseChannels: 32, depths: [2, 2, 8, 4], mlpRatio: 4)),
        ("starnet_s4", Variant(baseChannels: 32, depths: [3, 3, 12, 5], mlpRatio: 4)),
    ]

    public static let names = variants.map(\.name)
    public static let signature = Signature.empty
    /// The seed hard-codes the stem's input to 3 channels.
    static let stemInputChannels = 3
    static let stemChannels = 32

    let variant: Variant
    public let printedArguments: [ArgumentValue] = []

    public init(_ context: LayerContext) throws(LayerError) {
        guard let variant = StarNet.variants.first(where: { $0.name == context.moduleName })?.variant else {
            preconditionFailure("registry routed \(context.moduleName) to StarNet")
        }
        guard context.inputChannel == StarNet.stemInputChannels else {
            throw LayerError("the StarNet stem takes \(StarNet.stemInputChannels) input channels (as in the seed), found \(context.inputChannel)",
                             blame: .from(nil))
        }
        guard context.repeats == 1 else {
            throw LayerError("a backbone row cannot repeat; found repeats \(context.repeats)", blame: .repeats)
        }
        self.variant = variant
    }

    var stageChannels: [Int] { (0..<variant.depths.count).map { variant.baseChannels << $0 } }

    public var outputChannels: [Int] { [StarNet.stemChannels] + stageChannels }
    public var outputNames: [String] { ["stem (stride 2)"] + (1...variant.depths.count).map { "stage \($0) (stride \(2 << $0))" } }

    public var tree: ModuleNode {
        func convBN(_ name: String, _ input: Int, _ output: Int, kernelSize: Int, groups: Int = 1, batchNorm: Bool = true) -> ModuleNode {
            var children = [ModuleNode.conv2d("conv", inputChannels: input, outputChannels: output, kernelSize: kernelSize, groups: groups)]
            if batchNorm { children.append(.batchNorm2d("bn", channels: output)) }
            return ModuleNode(name, "ConvBN", children: children)
        }
        func starBlock(_ width: Int) -> ModuleNode {
            let hidden = variant.mlpRatio * width
            return ModuleNode("", "Block", children: [
                convBN("dwconv", width, width, kernelSize: 7, groups: width),
                convBN("f1", width, hidden, kernelSize: 1, batchNorm: false),
                convBN("f2", width, hidden, kernelSize: 1, batchNorm: false),
                convBN("g", hidden, width, kernelSize: 1),
                convBN("dwconv2", width, width, kernelSize: 7, groups: width, batchNorm: false),
                .leaf("act", "ReLU6"),
            ])
        }
        var previous = StarNet.stemChannels
        var stages: [ModuleNode] = []
        for (stage, width) in stageChannels.enumerated() {
            let down = convBN("", previous, width, kernelSize: 3)
            stages.append(.indexed("", "Sequential", [down] + Array(repeating: starBlock(width), count: variant.depths[stage])))
            previous = width
        }
        return ModuleNode("", "StarNet", children: [
            .indexed("stem", "Sequential", [convBN("", StarNet.stemInputChannels, StarNet.stemChannels, kernelSize: 3), .leaf("", "ReLU6")]),
            .indexed("stages", "ModuleList", stages),
        ])
    }

    public func outputShapes(_ inputs: [[Int]]) throws(LayerError) -> [[Int]] {
        var shape = inputs[0]
        try requireFeatureMap(shape, channels: StarNet.stemInputChannels)
        var outputs: [[Int]] = []
        for channels in outputChannels {
            // every stage starts with a 3×3 stride-2 conv, padding 1
            shape = try Conv.outputShape(shape, outputChannels: channels, kernelSize: 3, stride: 2, padding: 1)
            outputs.append(shape)
        }
        return outputs
    }

    public func forward(_ inputs: [Tensor], _ weights: LayerWeights) throws(LayerError) -> [Tensor] {
        // ConvBN: Conv2d (with bias) then BatchNorm when present
        func convBN(_ x: Tensor, _ scope: LayerWeights, stride: Int = 1, groups: Int = 1, batchNorm: Bool = true,
                    activation: Activation = .identity) -> Tensor {
            let kernelSize = scope["conv.weight"].shape[2]
            if batchNorm {
                return scope.convBatchNorm(x, conv: "conv", norm: "bn", stride: stride, padding: kernelSize / 2, groups: groups,
                                           activation: activation)
            }
            return scope.child("conv").conv2d(x, stride: stride, padding: kernelSize / 2, groups: groups, activation: activation)
        }
        var x = convBN(inputs[0], weights.child("stem").child("0"), stride: 2, activation: .relu6)
        var features = [x]
        for (stage, width) in stageChannels.enumerated() {
            let scope = weights.child("stages").child(String(stage))
            x = convBN(x, scope.child("0"), stride: 2)
            for block in 1...variant.depths[stage] {
                let b = scope.child(String(block))
                let y = convBN(x, b.child("dwconv"), groups: width)
                // star operation: relu6(f1(y)) * f2(y)
                let star = Tensor.broadcast(convBN(y, b.child("f1"), batchNorm: false),
                                            convBN(y, b.child("f2"), batchNorm: false)) { min(max($0, 0), 6) * $1 }
                x = x + convBN(convBN(star, b.child("g")), b.child("dwconv2"), groups: width, batchNorm: false)
            }
            features.append(x)
        }
        return features
    }

    public func multiplyAdds(_ inputs: [[Int]], _ outputs: [[Int]]) -> Double {
        var total = convolutionMultiplyAdds(output: outputs[0], inputChannelsPerGroup: StarNet.stemInputChannels, kernelSize: 3)
        var previous = StarNet.stemChannels
        for (stage, width) in stageChannels.enumerated() {
            let pixels = spatialPositions(outputs[stage + 1])
            total += pixels * Double(width * previous * 9)
            let hidden = variant.mlpRatio * width
            // two depthwise 7×7, f1 and f2 (width→hidden), g (hidden→width), the star product
            let block = pixels * Double(2 * width * 49 + 2 * width * hidden + hidden * width + hidden)
            total += Double(variant.depths[stage]) * block
            previous = width
        }
        return total
    }
}
