import ModelSpec
import Tensor

/// Ultralytics `ResNetLayer(c1, c2, s=1, is_first=False, n=1, e=4)` (rtdetr-resnet50/101): the
/// stem (a 7×7 stride-2 Conv and a 3×3 stride-2 max pool) when `is_first`, else `n` ResNet
/// bottleneck blocks of width c2 with e·c2 outputs, the first one strided. c1 is written in the
/// YAML, not taken from `from`; parse_model records c2 (stem) or 4·c2 output channels.
public struct ResNetLayer: LayerModule {
    public static let names = ["ResNetLayer"]
    public static let signature = Signature([
        .init("c1", "inputChannels", .int(min: 1)),
        .init("c2", "outputChannels", .int(min: 1)),
        .init("s", "stride", .int(min: 1), default: .int(1)),
        .init("is_first", "isFirst", .bool, default: .bool(false)),
        .init("n", "blocks", .int(min: 1), default: .int(1)),
        .init("e", "expansion", .int(min: 1), default: .int(4)),
    ])
    public static let channelRule = ChannelRule.own

    public var typeName: String { "ResNetLayer" }
    /// `self.layer`.
    var layer = Layer()
    let inputChannels: Int

    public init(_ context: LayerContext) throws(LayerError) {
        let (arguments, epsilon) = (context.arguments, context.batchNormEpsilon)
        inputChannels = arguments.int("inputChannels")
        guard inputChannels == context.inputChannel else {
            throw LayerError("c1 is written as \(inputChannels), but its input (from) has \(context.inputChannel) channels",
                             blame: .argument(0))
        }
        let (width, stride, expansion) = (arguments.int("outputChannels"), arguments.int("stride"), arguments.int("expansion"))
        if arguments.bool("isFirst") {
            layer.stem = Conv(inputChannels, width, kernelSize: 7, stride: 2, padding: 3, epsilon: epsilon)
            layer.pool = MaxPool2d(kernelSize: 3, stride: 2, padding: 1)
            return
        }
        guard expansion == 4 else {
            throw LayerError("e=\(expansion) makes \(expansion)·c2 output channels, but parse_model records 4·c2; only e=4 builds",
                             blame: .argument(5))
        }
        layer.blocks = [ResNetBlock(inputChannels, width, stride: stride, expansion: expansion, epsilon: epsilon)]
        for _ in 1..<arguments.int("blocks") {
            layer.blocks.append(ResNetBlock(expansion * width, width, stride: 1, expansion: expansion, epsilon: epsilon))
        }
    }

    public var outputChannels: [Int] {
        [layer.stem?.conv.outputChannels ?? layer.blocks[layer.blocks.count - 1].cv3.conv.outputChannels]
    }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) { visitor.child("layer", &layer) }

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        try requireFeatureMap(inputs[0].shape, channels: inputChannels)
        if let stem = layer.stem, let pool = layer.pool { return [try pool(stem(inputs[0], pass))] }
        var x = inputs[0]
        for block in layer.blocks { x = try block(x, pass) }
        return [x]
    }

    /// `self.layer`: nn.Sequential(Conv, MaxPool2d) for the stem, else of ResNetBlocks.
    struct Layer: Block {
        var typeName: String { "Sequential" }
        var stem: Conv?
        var pool: MaxPool2d?
        var blocks: [ResNetBlock] = []

        mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
            if stem != nil {
                visitor.child("0", &stem!)
                visitor.child("1", &pool!)
            }
            for index in blocks.indices { visitor.child(String(index), &blocks[index]) }
        }
    }
}

/// Ultralytics `ResNetBlock(c1, c2, s=1, e=4)`: 1×1, 3×3 (stride s) and linear 1×1 Convs to
/// e·c2, plus a projection shortcut (a linear strided 1×1 Conv) when the shape changes, then ReLU.
public struct ResNetBlock: Block {
    public var typeName: String { "ResNetBlock" }
    public var cv1: Conv
    public var cv2: Conv
    public var cv3: Conv
    /// `nn.Sequential(Conv)` when the shape changes, else Identity.
    var shortcut: Indexed<Conv>?

    init(_ inputChannels: Int, _ width: Int, stride: Int, expansion: Int, epsilon: Float) {
        let output = expansion * width
        cv1 = Conv(inputChannels, width, epsilon: epsilon)
        cv2 = Conv(width, width, kernelSize: 3, stride: stride, padding: 1, epsilon: epsilon)
        cv3 = Conv(width, output, activation: .identity, epsilon: epsilon)
        shortcut = stride != 1 || inputChannels != output
            ? Indexed([Conv(inputChannels, output, stride: stride, activation: .identity, epsilon: epsilon)]) : nil
    }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.child("cv1", &cv1)
        visitor.child("cv2", &cv2)
        visitor.child("cv3", &cv3)
        visitor.child("shortcut", &shortcut, absent: "Identity")
    }

    public func callAsFunction(_ x: Feature, _ pass: Pass) throws(LayerError) -> Feature {
        let y = try cv3(cv2(cv1(x, pass), pass), pass)
        let skip = try shortcut.map { projection throws(LayerError) in try projection.items[0](x, pass) } ?? x
        return y.adding(skip, activation: .relu)
    }
}
