import ModelSpec
import Tensor

/// Ultralytics `TorchVision(model, weights="DEFAULT", unwrap=True, truncate=2, split=False)` for
/// torchvision's ResNets (resnet18, 34, 50, 101, 152): the network's children as an
/// nn.Sequential `m` without its last `truncate` (2 drops avgpool and fc). Ultralytics downloads
/// the pretrained weights while building; ModelGraph builds the architecture (its parameters
/// come with --weights or a checkpoint). The row's first argument is the output width parse_model
/// records (never scaled, not passed to the constructor).
public struct TorchVision: LayerModule {
    public static let names = ["TorchVision"]
    /// torchvision's ResNets: block kind and blocks per stage.
    static let architectures: [String: (bottleneck: Bool, blocks: [Int])] = [
        "resnet18": (false, [2, 2, 2, 2]), "resnet34": (false, [3, 4, 6, 3]),
        "resnet50": (true, [3, 4, 6, 3]), "resnet101": (true, [3, 4, 23, 3]), "resnet152": (true, [3, 8, 36, 3]),
    ]
    public static let signature = Signature([
        .init("c2", "outputChannels", .int(min: 1)),
        .init("model", "model", .choice(architectures.keys.sorted())),
        .init("weights", "weights", .anything, default: .string("DEFAULT")),
        .init("unwrap", "unwrap", .bool, default: .bool(true)),
        .init("truncate", "truncate", .int(min: 0), default: .int(2)),
        .init("split", "split", .bool, default: .bool(false)),
    ])
    public static let channelRule = ChannelRule.own

    public var typeName: String { "TorchVision" }
    var m: Children
    let inputChannels: Int

    public init(_ context: LayerContext) throws(LayerError) {
        let arguments = context.arguments
        guard arguments.bool("unwrap") else {
            throw LayerError("unwrap=False keeps torchvision's whole model with its own head; ModelGraph builds only unwrapped ResNets (unwrap=True)",
                             blame: .argument(3))
        }
        guard !arguments.bool("split") else {
            throw LayerError("split=True returns every child's output as a list; ModelGraph builds only split=False", blame: .argument(5))
        }
        let truncate = arguments.int("truncate")
        guard (1...9).contains(truncate) else {
            throw LayerError("truncate=\(truncate) keeps \(10 - truncate) of a ResNet's 10 children; ModelGraph builds 1 to 9 (the fc layer's flat output is no feature map)",
                             blame: .argument(4))
        }
        guard context.inputChannel == 3 else {
            throw LayerError("torchvision's ResNets take 3 input channels, found \(context.inputChannel)", blame: .from(nil))
        }
        inputChannels = context.inputChannel
        let architecture = TorchVision.architectures[arguments.string("model")]!
        m = Children(bottleneck: architecture.bottleneck, blocks: architecture.blocks, kept: 10 - truncate)
        guard arguments.int("outputChannels") == m.outputChannels else {
            throw LayerError("c2 is written as \(arguments.int("outputChannels")), but \(arguments.string("model")) truncated by \(truncate) puts out \(m.outputChannels) channels",
                             blame: .argument(0))
        }
    }

    public var outputChannels: [Int] { [m.outputChannels] }

    /// parse_model drops c2 from the constructor's arguments (and the printed row).
    public func printedArguments(_ standard: [ArgumentValue]) -> [ArgumentValue] { Array(standard.dropFirst()) }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) { visitor.child("m", &m) }

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        try requireFeatureMap(inputs[0].shape, channels: inputChannels)
        return [try m(inputs[0], pass)]
    }

    /// The kept children of torchvision's ResNet: conv1, bn1, relu, maxpool, layer1–4, avgpool.
    struct Children: Block {
        var typeName: String { "Sequential" }
        var conv1 = Conv2d(3, 64, kernelSize: 7, stride: 2, padding: 3, bias: false)
        var bn1 = BatchNorm2d(64, epsilon: 1e-5)
        var layers: [Indexed<ResidualBlock>] = []
        let kept: Int

        init(bottleneck: Bool, blocks: [Int], kept: Int) {
            self.kept = kept
            var inputs = 64
            for (stage, count) in blocks.enumerated() where 4 + stage < kept {
                let width = 64 << stage
                var stageBlocks: [ResidualBlock] = []
                for index in 0..<count {
                    let block = ResidualBlock(inputs, width: width, stride: index == 0 && stage > 0 ? 2 : 1, bottleneck: bottleneck)
                    inputs = block.outputChannels
                    stageBlocks.append(block)
                }
                layers.append(Indexed(stageBlocks))
            }
        }

        var outputChannels: Int { layers.last?.items.last?.outputChannels ?? 64 }

        mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
            visitor.child("0", &conv1)
            if kept > 1 { visitor.child("1", &bn1) }
            if kept > 2 { visitor.leaf("2", "ReLU") }
            if kept > 3 { visitor.leaf("3", "MaxPool2d") }
            for index in layers.indices { visitor.child(String(4 + index), &layers[index]) }
            if kept > 8 { visitor.leaf("8", "AdaptiveAvgPool2d") }
        }

        func callAsFunction(_ x: Feature, _ pass: Pass) throws(LayerError) -> Feature {
            var y = try conv1(x, pass)
            if kept > 1 { y = bn1(y, activation: kept > 2 ? .relu : .identity) }
            if kept > 3 { y = try MaxPool2d(kernelSize: 3, stride: 2, padding: 1)(y) }
            for stage in layers { for block in stage.items { y = try block(y, pass) } }
            if kept > 8 {
                y = Feature.traced(.globalAveragePool, [y], shapes: [[y.shape[0], y.shape[1], 1, 1]])[0]
            }
            return y
        }
    }
}

/// torchvision's `BasicBlock` (two 3×3 convs) and `Bottleneck` (1×1, 3×3 with the stride, 1×1
/// to 4× the width), each conv followed by BatchNorm (eps 1e-5), the sum with the input (or its
/// strided 1×1 projection, `downsample`) through one ReLU.
struct ResidualBlock: Block {
    let bottleneck: Bool
    var typeName: String { bottleneck ? "Bottleneck" : "BasicBlock" }
    var convs: [Conv2d]
    var norms: [BatchNorm2d]
    var downsample: Projection?

    init(_ inputChannels: Int, width: Int, stride: Int, bottleneck: Bool) {
        self.bottleneck = bottleneck
        if bottleneck {
            convs = [Conv2d(inputChannels, width, kernelSize: 1, bias: false),
                     Conv2d(width, width, kernelSize: 3, stride: stride, padding: 1, bias: false),
                     Conv2d(width, 4 * width, kernelSize: 1, bias: false)]
        } else {
            convs = [Conv2d(inputChannels, width, kernelSize: 3, stride: stride, padding: 1, bias: false),
                     Conv2d(width, width, kernelSize: 3, padding: 1, bias: false)]
        }
        norms = convs.map { BatchNorm2d($0.outputChannels, epsilon: 1e-5) }
        let output = convs[convs.count - 1].outputChannels
        downsample = stride != 1 || inputChannels != output
            ? Projection(conv: Conv2d(inputChannels, output, kernelSize: 1, stride: stride, bias: false), norm: BatchNorm2d(output, epsilon: 1e-5))
            : nil
    }

    var outputChannels: Int { convs[convs.count - 1].outputChannels }

    /// torchvision's registration order: conv1, bn1, (relu,) conv2, bn2, …, relu, downsample.
    mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        for index in convs.indices {
            visitor.child("conv\(index + 1)", &convs[index])
            visitor.child("bn\(index + 1)", &norms[index])
            if !bottleneck && index == 0 { visitor.leaf("relu", "ReLU") }
        }
        if bottleneck { visitor.leaf("relu", "ReLU") }
        visitor.child("downsample", &downsample, absent: nil)
    }

    func callAsFunction(_ x: Feature, _ pass: Pass) throws(LayerError) -> Feature {
        var y = x
        for index in convs.indices {
            y = norms[index](try convs[index](y, pass), activation: index < convs.count - 1 ? .relu : .identity)
        }
        let skip = try downsample.map { projection throws(LayerError) in projection.norm(try projection.conv(x, pass)) } ?? x
        return y.adding(skip, activation: .relu)
    }

    /// `downsample`: nn.Sequential(conv1x1, BatchNorm2d).
    struct Projection: Block {
        var typeName: String { "Sequential" }
        var conv: Conv2d
        var norm: BatchNorm2d

        mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
            visitor.child("0", &conv)
            visitor.child("1", &norm)
        }
    }
}
