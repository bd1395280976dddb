import ModelSpec
import Tensor

/// Ultralytics `Segment(nc=80, nm=32, npr=256, reg_max, end2end, ch)`: Detect plus a Proto on
/// the first level (`npr` channels, scaled like a width) and per level a mask-coefficient branch
/// `cv4` (two 3×3 Convs of max(ch[0] // 4, nm), a 1×1 Conv2d to nm). Eval output: `[B, 4 + nc +
/// nm, A]` (the coefficients appended) and the prototypes `[B, nm, 2H, 2W]` of the first level.
/// `Segment26` builds its prototypes with Proto26 from every level.
public struct Segment: DetectionHeadModule {
    public static let names = ["Segment", "Segment26"]
    public static let signature = Signature([
        .init("nc", "classCount", .int(min: 1), default: .int(80)),
        .init("nm", "maskCount", .int(min: 1), default: .int(32)),
        .init("npr", "prototypeChannels", .int(min: 1), default: .int(256)),
    ])
    public static let channelRule = ChannelRule.detectionHead(scaledWidthAt: 2)
    public static let inputArity = InputArity.atLeast(1)

    public let typeName: String
    public var core: DetectionBranches
    public var proto: Prototypes
    public var cv4: BranchPair<Indexed<HeadBranch>>
    let maskCount: Int

    public var extraChannels: Int { maskCount }

    public init(_ context: LayerContext) throws(LayerError) {
        typeName = context.moduleName
        let classes = context.arguments.int("classCount")
        maskCount = context.arguments.int("maskCount")
        core = try DetectionBranches(context, classCount: classes)
        let (channels, prototypes, epsilon) = (context.inputChannels, context.scaledOutputChannels, context.batchNormEpsilon)
        proto = typeName == "Segment26"
            ? .levels(Proto26(channels, hidden: prototypes, masks: maskCount, classes: classes, epsilon: epsilon))
            : .first(Proto(channels[0], hidden: prototypes, masks: maskCount, epsilon: epsilon))
        cv4 = core.extraBranch(width: max(channels[0] / 4, maskCount), outputs: maskCount, epsilon: epsilon)
    }

    /// The eval output's tensors: the predictions and the prototypes.
    public var resultNames: [String] { ["output", "proto"] }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        core.visit(&visitor)
        visitor.child("proto", &proto)
        cv4.visitBoth("cv4", &visitor)
    }

    public mutating func fuse() {
        core.dropUnusedBranches()
        cv4.dropUnused()
    }

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        let raw = try core.raw(inputs, pass)
        let coefficients = try core.extras(cv4.active, inputs, channels: maskCount, pass)
        traceUnread(cv4, inputs, pass)
        let predictions = core.output(raw, extras: coefficients)
        return [predictions, try proto(inputs, pass)]
    }

    /// Segment's Proto (first level only) or Segment26's Proto26 (every level).
    public enum Prototypes: Block {
        case first(Proto)
        case levels(Proto26)

        public var typeName: String {
            switch self {
            case .first: return "Proto"
            case .levels: return "Proto26"
            }
        }

        public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
            switch self {
            case .first(var block):
                block.visit(&visitor)
                self = .first(block)
            case .levels(var block):
                block.visit(&visitor)
                self = .levels(block)
            }
        }

        /// The case's own fuse (the Fuser sees the case's children, not the case's block).
        public mutating func fuse() {
            if case .levels(var block) = self {
                block.fuse()
                self = .levels(block)
            }
        }

        func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> Feature {
            switch self {
            case .first(let block): return try block(inputs[0], pass)
            case .levels(let block): return try block(inputs, pass)
            }
        }
    }
}

/// Ultralytics `Proto(c1, c_=256, c2=32)`: a 3×3 Conv, a 2×2 stride-2 ConvTranspose2d, a 3×3
/// Conv and a 1×1 Conv to the masks' prototypes at twice the resolution.
public struct Proto: Block {
    public var typeName: String { "Proto" }
    public var cv1: Conv
    public var upsample: ConvTranspose2d
    public var cv2: Conv
    public var cv3: Conv

    public init(_ inputChannels: Int, hidden: Int, masks: Int, epsilon: Float) {
        cv1 = Conv(inputChannels, hidden, kernelSize: 3, epsilon: epsilon)
        upsample = ConvTranspose2d(hidden, hidden, kernelSize: 2)
        cv2 = Conv(hidden, hidden, kernelSize: 3, epsilon: epsilon)
        cv3 = Conv(hidden, masks, epsilon: epsilon)
    }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.child("cv1", &cv1)
        visitor.child("upsample", &upsample)
        visitor.child("cv2", &cv2)
        visitor.child("cv3", &cv3)
    }

    public func callAsFunction(_ x: Feature, _ pass: Pass) throws(LayerError) -> Feature {
        try cv3(cv2(upsample(cv1(x, pass), pass), pass), pass)
    }
}

/// Ultralytics `Proto26(ch, c_=256, c2=32, nc=80)`: each coarser level refined to ch[0] by a 1×1
/// Conv, upsampled (nearest) to the first level and added, a 3×3 Conv to c_, then Proto(c_, c_,
/// c2). Its `semseg` branch (3×3 Conv, 3×3 Conv, 1×1 Conv2d to nc) only runs in training and is
/// dropped by fuse.
public struct Proto26: Block {
    public var typeName: String { "Proto26" }
    public var base: Proto
    public var featRefine: Indexed<Conv>
    public var featFuse: Conv
    public var semseg: HeadBranch?

    public init(_ channels: [Int], hidden: Int, masks: Int, classes: Int, epsilon: Float) {
        base = Proto(hidden, hidden: hidden, masks: masks, epsilon: epsilon)
        featRefine = Indexed(channels.dropFirst().map { Conv($0, channels[0], epsilon: epsilon) }, typeName: "ModuleList")
        featFuse = Conv(channels[0], hidden, kernelSize: 3, epsilon: epsilon)
        semseg = HeadBranch(convs: [Conv(channels[0], hidden, kernelSize: 3, epsilon: epsilon), Conv(hidden, hidden, kernelSize: 3, epsilon: epsilon)],
                            output: Conv2d(hidden, classes, kernelSize: 1))
    }

    /// `Proto26.fuse`: the semantic branch only trains.
    public mutating func fuse() { semseg = nil }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        base.visit(&visitor)  // a subclass: Proto's children come first under the same names
        visitor.child("feat_refine", &featRefine)
        visitor.child("feat_fuse", &featFuse)
        visitor.child("semseg", &semseg, absent: nil)
    }

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> Feature {
        var feature = inputs[0]
        for (position, refine) in featRefine.items.enumerated() {
            let factor = 1 << (position + 1)
            let refined = try refine(inputs[position + 1], pass)
            let target = [refined.shape[0], refined.shape[1], refined.shape[2] * factor, refined.shape[3] * factor]
            guard target == feature.shape else {
                throw LayerError("Proto26 adds level \(position + 2) upsampled ×\(factor) (\(describeShape(target))) to level 1 \(describeShape(feature.shape)); the levels must halve in size",
                                 blame: .from(position + 1))
            }
            feature = feature + refined.nearestUpsampled(factor: factor)
        }
        return try base(featFuse(feature, pass), pass)
    }
}
