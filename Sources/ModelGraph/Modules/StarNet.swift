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
    public static let isCommunityModule = true
    public static let channelRule = ChannelRule.own
    /// The seed hard-codes the stem's input to 3 channels.
    static let stemInputChannels = 3
    static let stemChannels = 32

    public var typeName: String { "StarNet" }
    let variant: Variant
    public var stem: Indexed<StarLayer>
    public var stages: Indexed<StarStage>

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
        let epsilon = context.batchNormEpsilon
        stem = Indexed([.convBN(ConvBN(StarNet.stemInputChannels, StarNet.stemChannels, kernelSize: 3, stride: 2, epsilon: epsilon)),
                        .activation("ReLU6")])
        var previous = StarNet.stemChannels
        var stages: [StarStage] = []
        for (stage, width) in (0..<variant.depths.count).map({ variant.baseChannels << $0 }).enumerated() {
            stages.append(StarStage(down: ConvBN(previous, width, kernelSize: 3, stride: 2, epsilon: epsilon),
                                    blocks: Array(repeating: StarBlock(width, mlpRatio: variant.mlpRatio, epsilon: epsilon),
                                                  count: variant.depths[stage])))
            previous = width
        }
        self.stages = Indexed(stages, typeName: "ModuleList")
    }

    var stageChannels: [Int] { (0..<variant.depths.count).map { variant.baseChannels << $0 } }

    public var outputChannels: [Int] { [StarNet.stemChannels] + stageChannels }
    public var outputNames: [String] { ["stem (stride 2)"] + (1...variant.depths.count).map { "stage \($0) (stride \(2 << $0))" } }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.child("stem", &stem)
        visitor.child("stages", &stages)
    }

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        try requireFeatureMap(inputs[0].shape, channels: StarNet.stemInputChannels)
        guard case .convBN(let stemConv) = stem.items[0] else { preconditionFailure("StarNet stem starts with a ConvBN") }
        var x = try stemConv(inputs[0], pass, activation: .relu6)
        var features = [x]
        for stage in stages.items {
            x = try stage.down(x, pass)
            for block in stage.blocks { x = try block(x, pass) }
            features.append(x)
        }
        return features
    }
}

/// The seed's `ConvBN`: Conv2d (with bias, "same" padding) then an optional BatchNorm2d; fuses
/// by folding the BatchNorm.
public struct ConvBN: FoldsBatchNorm {
    public var typeName: String { "ConvBN" }
    /// Ultralytics' `fuse()` leaves it alone; the inference plan folds it.
    public var fusesLikeUltralytics: Bool { false }
    public var conv: Conv2d
    public var bn: BatchNorm2d?

    init(_ inputChannels: Int, _ outputChannels: Int, kernelSize: Int, stride: Int = 1, groups: Int = 1, batchNorm: Bool = true,
         epsilon: Float) {
        conv = Conv2d(inputChannels, outputChannels, kernelSize: kernelSize, stride: stride, padding: kernelSize / 2, groups: groups)
        bn = batchNorm ? BatchNorm2d(outputChannels, epsilon: epsilon) : nil
    }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.child("conv", &conv)
        visitor.child("bn", &bn, absent: nil)
    }

    func callAsFunction(_ x: Feature, _ pass: Pass, activation: Activation = .identity) throws(LayerError) -> Feature {
        guard let bn else { return try conv(x, pass, activation: activation) }
        return bn(try conv(x, pass), activation: activation)
    }
}

/// An item of StarNet's stem Sequential: the ConvBN or its ReLU6.
public enum StarLayer: Block {
    public var fusesLikeUltralytics: Bool { false }
    case convBN(ConvBN)
    case activation(String)

    public var typeName: String {
        switch self {
        case .convBN(let block): return block.typeName
        case .activation(let name): return name
        }
    }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        guard case .convBN(var block) = self else { return }
        block.visit(&visitor)
        self = .convBN(block)
    }

    public mutating func fuse() {
        guard case .convBN(var block) = self else { return }
        block.fuse()
        self = .convBN(block)
    }
}

/// A StarNet stage: `nn.Sequential(ConvBN down-sampler, Block, Block, …)`.
public struct StarStage: Block {
    public var typeName: String { "Sequential" }
    public var down: ConvBN
    public var blocks: [StarBlock]

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.child("0", &down)
        for index in blocks.indices { visitor.child(String(index + 1), &blocks[index]) }
    }
}

/// The seed's StarNet `Block`: depthwise 7×7 ConvBN, the star operation relu6(f1(y)) · f2(y),
/// g back to the width (ConvBN), a second depthwise 7×7, plus the input.
public struct StarBlock: Block {
    public var typeName: String { "Block" }
    public var dwconv: ConvBN
    public var f1: ConvBN
    public var f2: ConvBN
    public var g: ConvBN
    public var dwconv2: ConvBN

    init(_ width: Int, mlpRatio: Int, epsilon: Float) {
        let hidden = mlpRatio * width
        dwconv = ConvBN(width, width, kernelSize: 7, groups: width, epsilon: epsilon)
        f1 = ConvBN(width, hidden, kernelSize: 1, batchNorm: false, epsilon: epsilon)
        f2 = ConvBN(width, hidden, kernelSize: 1, batchNorm: false, epsilon: epsilon)
        g = ConvBN(hidden, width, kernelSize: 1, epsilon: epsilon)
        dwconv2 = ConvBN(width, width, kernelSize: 7, groups: width, batchNorm: false, epsilon: epsilon)
    }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.child("dwconv", &dwconv)
        visitor.child("f1", &f1)
        visitor.child("f2", &f2)
        visitor.child("g", &g)
        visitor.child("dwconv2", &dwconv2)
        visitor.leaf("act", "ReLU6")
    }

    func callAsFunction(_ x: Feature, _ pass: Pass) throws(LayerError) -> Feature {
        let y = try dwconv(x, pass)
        let (a, b) = (try f1(y, pass), try f2(y, pass))
        let star = a.activated(.relu6) * b
        return x + (try dwconv2(g(star, pass), pass))
    }
}
