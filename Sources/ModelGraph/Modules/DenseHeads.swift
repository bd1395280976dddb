import Foundation
import ModelSpec
import Tensor

/// Ultralytics `SemanticSegment(nc=19, ch)`: per-pixel class logits `[B, nc, H/8, W/8]` from the
/// first source by a 3×3 Conv and a 1×1 Conv2d; with a second source, an auxiliary head of the
/// same form (used only by the training loss, still counted).
public struct SemanticSegment: LayerModule {
    public static let names = ["SemanticSegment"]
    public static let signature = Signature([
        .init("nc", "classCount", .int(min: 1), default: .int(19)),
    ])
    public static let channelRule = ChannelRule.channelListInserted(at: 1)
    public static let inputArity = InputArity.atLeast(1)

    public var typeName: String { "SemanticSegment" }
    public var classifier: HeadBranch
    public var auxHead: HeadBranch?
    let classCount: Int
    let inputChannels: [Int]

    public init(_ context: LayerContext) throws(LayerError) {
        inputChannels = context.inputChannels
        classCount = context.arguments.int("classCount")
        let (classes, epsilon, width) = (classCount, context.batchNormEpsilon, context.inputChannels[0])
        classifier = HeadBranch(convs: [Conv(width, width, kernelSize: 3, epsilon: epsilon)], output: Conv2d(width, classes, kernelSize: 1))
        if inputChannels.count > 1 {
            auxHead = HeadBranch(convs: [Conv(inputChannels[1], width, kernelSize: 3, epsilon: epsilon)], output: Conv2d(width, classes, kernelSize: 1))
        }
    }

    public var outputChannels: [Int] { [classCount] }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.child("classifier", &classifier)
        visitor.child("aux_head", &auxHead, absent: nil)
    }

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        try requireLevels(inputs.map(\.shape), channels: inputChannels)
        return [try classifier(inputs[0], pass)]
    }
}

/// Ultralytics `Depth(c_mid=256, ch)`: every level projected to c_mid by a 1×1 Conv; from the
/// coarsest, upsampled ×2 (bilinear, align_corners) and added to the next finer, then refined by
/// two 3×3 Convs; a head (3×3 Conv to c_mid/2, 2×2 stride-2 ConvTranspose2d, 3×3 Conv to c_mid/4,
/// 1×1 Conv2d to 1) gives a log-depth clamped to [−4, 5]. Eval output: exp(a·log d + b)
/// `[B, 1, H/4, W/4]` with the calibration buffers `cal_a`, `cal_b`.
public struct Depth: LayerModule {
    public static let names = ["Depth"]
    public static let signature = Signature([
        .init("c_mid", "middleChannels", .int(min: 4), default: .int(256)),
    ])
    public static let channelRule = ChannelRule.channelListInserted(at: 1)
    public static let inputArity = InputArity.atLeast(1)

    public var typeName: String { "Depth" }
    public var proj: Indexed<Conv>
    public var refine: Indexed<Indexed<Conv>>
    public var head: DepthHead
    public var calibrationScale = Parameter([1], initialization: .ones, isBuffer: true)
    public var calibrationShift = Parameter([1], initialization: .zeros, isBuffer: true)
    let inputChannels: [Int]

    public init(_ context: LayerContext) throws(LayerError) {
        inputChannels = context.inputChannels
        let (middle, epsilon) = (context.arguments.int("middleChannels"), context.batchNormEpsilon)
        proj = Indexed(inputChannels.map { Conv($0, middle, epsilon: epsilon) }, typeName: "ModuleList")
        refine = Indexed(inputChannels.dropLast().map { _ in
            Indexed([Conv(middle, middle, kernelSize: 3, epsilon: epsilon), Conv(middle, middle, kernelSize: 3, epsilon: epsilon)])
        }, typeName: "ModuleList")
        head = DepthHead(middle, epsilon: epsilon)
    }

    public var outputChannels: [Int] { [1] }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.parameter("cal_a", &calibrationScale)
        visitor.parameter("cal_b", &calibrationShift)
        visitor.child("proj", &proj)
        visitor.child("refine", &refine)
        visitor.child("head", &head)
    }

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        try requireLevels(inputs.map(\.shape), channels: inputChannels)
        var projected = [Feature]()
        for (level, input) in inputs.enumerated() { projected.append(try proj.items[level](input, pass)) }
        var out = projected[projected.count - 1]
        for level in stride(from: inputs.count - 2, through: 0, by: -1) {
            let target = [out.shape[0], out.shape[1], out.shape[2] * 2, out.shape[3] * 2]
            guard target == projected[level].shape else {
                throw LayerError("Depth upsamples level \(level + 2) ×2 to \(describeShape(target)) and adds level \(level + 1) \(describeShape(projected[level].shape)); the levels must halve in size",
                                 blame: .from(level))
            }
            let upsampled = Feature.traced(.upsampleBilinear(factor: 2, alignCorners: true), [out], shapes: [target])[0]
            let refinement = refine.items[level]
            out = try refinement.items[1](refinement.items[0](upsampled + projected[level], pass), pass)
        }
        let logDepth = try head(out, pass)
        let scaled = logDepth.clipped(minimum: -4, maximum: 5) * logDepth.constant(calibrationScale)
        return [Feature.traced(.exp, [scaled.plus(logDepth.constant(calibrationShift))], shapes: [logDepth.shape])[0]]
    }

    /// `nn.Sequential(Conv 3×3, ConvTranspose2d 2×2 s2, Conv 3×3, Conv2d 1×1 → 1)`.
    public struct DepthHead: Block {
        public var typeName: String { "Sequential" }
        public var first: Conv
        public var upsample: ConvTranspose2d
        public var second: Conv
        public var output: Conv2d

        init(_ middle: Int, epsilon: Float) {
            first = Conv(middle, middle / 2, kernelSize: 3, epsilon: epsilon)
            upsample = ConvTranspose2d(middle / 2, middle / 2, kernelSize: 2)
            second = Conv(middle / 2, middle / 4, kernelSize: 3, epsilon: epsilon)
            output = Conv2d(middle / 4, 1, kernelSize: 1)
        }

        public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
            visitor.child("0", &first)
            visitor.child("1", &upsample)
            visitor.child("2", &second)
            visitor.child("3", &output)
        }

        func callAsFunction(_ x: Feature, _ pass: Pass) throws(LayerError) -> Feature {
            try output(second(upsample(first(x, pass), pass), pass), pass)
        }
    }
}
