import ModelSpec
import Tensor

// RT-DETR's HGNetV2 backbone (rtdetr-l, rtdetr-x): a stem and blocks of chained convolutions
// whose outputs are all concatenated, squeezed and excited. Widths are written, never scaled.

/// Ultralytics `HGStem(c1, cm, c2)`: a stride-2 3×3 Conv, then two paths over its output
/// zero-padded by one column and row — a 2×2 max pool and two 2×2 Convs — concatenated, a
/// stride-2 3×3 Conv and a 1×1 Conv. Every Conv has its own ReLU.
public struct HGStem: LayerModule {
    public static let names = ["HGStem"]
    public static let signature = Signature([
        .init("cm", "middleChannels", .int(min: 2)),
        .init("c2", "outputChannels", .int(min: 1)),
    ])
    public static let channelRule = ChannelRule.inputChannelsFirst(repeatsAt: nil)

    public var typeName: String { "HGStem" }
    public var stem1: Conv
    public var stem2a: Conv
    public var stem2b: Conv
    public var stem3: Conv
    public var stem4: Conv
    var pool = MaxPool2d(kernelSize: 2, stride: 1, padding: 0)

    public init(_ context: LayerContext) throws(LayerError) {
        let (input, epsilon) = (context.inputChannel, context.batchNormEpsilon)
        let (middle, output) = (context.arguments.int("middleChannels"), context.arguments.int("outputChannels"))
        stem1 = Conv(input, middle, kernelSize: 3, stride: 2, activation: .relu, epsilon: epsilon)
        stem2a = Conv(middle, middle / 2, kernelSize: 2, padding: 0, activation: .relu, epsilon: epsilon)
        stem2b = Conv(middle / 2, middle, kernelSize: 2, padding: 0, activation: .relu, epsilon: epsilon)
        stem3 = Conv(2 * middle, middle, kernelSize: 3, stride: 2, activation: .relu, epsilon: epsilon)
        stem4 = Conv(middle, output, activation: .relu, epsilon: epsilon)
    }

    public var outputChannels: [Int] { [stem4.conv.outputChannels] }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.child("stem1", &stem1)
        visitor.child("stem2a", &stem2a)
        visitor.child("stem2b", &stem2b)
        visitor.child("stem3", &stem3)
        visitor.child("stem4", &stem4)
        visitor.child("pool", &pool)
    }

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        try requireFeatureMap(inputs[0].shape, channels: stem1.conv.inputChannels)
        // F.pad(x, [0, 1, 0, 1]): one zero column on the right, one zero row at the bottom
        let x = try stem1(inputs[0], pass).zeroPadded(right: 1, bottom: 1)
        let x2 = try stem2b(stem2a(x, pass).zeroPadded(right: 1, bottom: 1), pass)
        let x1 = try pool(x)
        return [try stem4(stem3(try .concatenate([x1, x2]), pass), pass)]
    }
}

/// Ultralytics `HGBlock(c1, cm, c2, k=3, n=6, lightconv=False, shortcut=False, act=ReLU())`:
/// `n` chained Convs (or LightConvs) of width cm, the input and every output concatenated, a
/// 1×1 squeeze Conv to c2/2 and a 1×1 excitation Conv to c2, plus the input when `shortcut`
/// and c1 == c2. All its convs share one ReLU instance.
public struct HGBlock: LayerModule {
    public static let names = ["HGBlock"]
    public static let signature = Signature([
        .init("cm", "middleChannels", .int(min: 1)),
        .init("c2", "outputChannels", .int(min: 2)),
        .init("k", "kernelSize", .int(min: 1), default: .int(3)),
        .init("lightconv", "lightConvolution", .bool, default: .bool(false)),
        .init("shortcut", "shortcut", .bool, default: .bool(false)),
    ])
    public static let channelRule = ChannelRule.inputChannelsFirst(repeatsAt: 4)
    public static let takesRepeats = true

    public var typeName: String { "HGBlock" }
    public var m: Indexed<ChainedConv>
    public var sc: Conv
    public var ec: Conv
    let adds: Bool
    let inputChannels: Int

    public init(_ context: LayerContext) throws(LayerError) {
        let (input, epsilon, arguments) = (context.inputChannel, context.batchNormEpsilon, context.arguments)
        inputChannels = input
        let (middle, output, kernel) = (arguments.int("middleChannels"), arguments.int("outputChannels"), arguments.int("kernelSize"))
        let shared = "model.\(context.layerIndex).act"
        func conv(_ from: Int, _ to: Int, kernelSize: Int = 1, groups: Int = 1) -> Conv {
            var conv = Conv(from, to, kernelSize: kernelSize, groups: groups, activation: .relu, epsilon: epsilon)
            conv.sharedActivation = shared
            return conv
        }
        let light = arguments.bool("lightConvolution")
        m = Indexed((0..<context.repeats).map { i in
            let from = i == 0 ? input : middle
            if light {
                let pointwise = Conv(from, middle, activation: .identity, epsilon: epsilon)
                var depthwise = conv(middle, middle, kernelSize: kernel, groups: middle)
                depthwise.typeName = "DWConv"
                return .light(pointwise, depthwise)
            }
            return .conv(conv(from, middle, kernelSize: kernel))
        }, typeName: "ModuleList")
        sc = conv(input + context.repeats * middle, output / 2)
        ec = conv(output / 2, output)
        adds = arguments.bool("shortcut") && input == output
    }

    public var outputChannels: [Int] { [ec.conv.outputChannels] }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.child("m", &m)
        visitor.child("sc", &sc)
        visitor.child("ec", &ec)
    }

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        let x = inputs[0]
        try requireFeatureMap(x.shape, channels: inputChannels)
        var pieces = [x]
        for block in m.items { pieces.append(try block(pieces[pieces.count - 1], pass)) }
        let y = try ec(sc(try .concatenate(pieces), pass), pass)
        return [adds ? y + x : y]
    }

    /// One link of the chain: a Conv, or Ultralytics' `LightConv` (a linear 1×1 Conv, then a
    /// depthwise k×k DWConv with the activation).
    public enum ChainedConv: Block {
        case conv(Conv)
        case light(Conv, Conv)

        public var typeName: String {
            if case .light = self { return "LightConv" }
            return "Conv"
        }

        public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
            switch self {
            case .conv(var conv):
                conv.visit(&visitor)
                self = .conv(conv)
            case .light(var pointwise, var depthwise):
                visitor.child("conv1", &pointwise)
                visitor.child("conv2", &depthwise)
                self = .light(pointwise, depthwise)
            }
        }

        /// A plain link is the Conv itself, so its BatchNorm folds here (a LightConv's Convs
        /// are children and fold themselves).
        public mutating func fuse() {
            if case .conv(var conv) = self {
                conv.fuse()
                self = .conv(conv)
            }
        }

        func callAsFunction(_ x: Feature, _ pass: Pass) throws(LayerError) -> Feature {
            switch self {
            case .conv(let conv): return try conv(x, pass)
            case .light(let pointwise, let depthwise): return try depthwise(pointwise(x, pass), pass)
            }
        }
    }
}
