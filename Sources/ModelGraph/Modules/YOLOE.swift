import ModelSpec
import Tensor

// YOLOE's prompt heads: YOLOEDetect, YOLOESegment and YOLOESegment26. Class scores are
// similarities with class prompt embeddings: the text prompt embeddings given with the input
// (`txt_feats`, refined by `reprta` and L2-normalised) or, as Ultralytics does when none are set,
// zeros. The visual prompt encoder (`savpe`) is declared for its parameters; ModelGraph does
// not take visual prompts.

/// Ultralytics `SwiGLUFFN(gc, ec, e=4)`: w12 to e·ec, its halves as SiLU(x1)·x2, w3 to ec.
struct SwiGLUFFN: Block {
    var typeName: String { "SwiGLUFFN" }
    var w12: Linear
    var w3: Linear

    mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.child("w12", &w12)
        visitor.child("w3", &w3)
    }

    func callAsFunction(_ x: Feature) -> Feature {
        let doubled = w12(x)
        let axis = doubled.shape.count - 1, width = doubled.shape[axis] / 2
        let halves = doubled.split(axis: axis, sizes: [width, width])
        return w3(halves[0].activated(.silu) * halves[1])
    }
}

/// Ultralytics `Residual(SwiGLUFFN(embed, embed))` (`reprta`): x + ffn(x); w3 starts at zero.
struct ResidualFFN: Block {
    var typeName: String { "Residual" }
    var m: SwiGLUFFN

    init(_ width: Int) {
        var w3 = Linear(2 * width, width)
        w3.weight.initialization = .zeros
        w3.bias?.initialization = .zeros
        m = SwiGLUFFN(w12: Linear(width, 4 * width), w3: w3)
    }

    mutating func visit<V: BlockVisitor>(_ visitor: inout V) { visitor.child("m", &m) }
    func callAsFunction(_ x: Feature) -> Feature { x + m(x) }
}

/// Ultralytics `SAVPE(ch, c3, embed)`, the visual prompt encoder: declared with its parameters
/// (they count and load), never run.
struct VisualPromptEncoder: Block {
    var typeName: String { "SAVPE" }
    var cv1: Indexed<Stage>
    var cv2: Indexed<Stage>
    var cv3: Conv2d
    var cv4: Conv2d
    var cv5: Conv2d
    var cv6: Tail

    init(_ channels: [Int], width: Int, embedding: Int, epsilon: Float) {
        let resampling = channels.indices.map { $0 == 1 || $0 == 2 ? "Upsample" : "Identity" }
        cv1 = Indexed(channels.indices.map { level in
            Stage(convs: [Conv(channels[level], width, kernelSize: 3, epsilon: epsilon), Conv(width, width, kernelSize: 3, epsilon: epsilon)],
                  resampling: resampling[level])
        }, typeName: "ModuleList")
        cv2 = Indexed(channels.indices.map { Stage(convs: [Conv(channels[$0], width, epsilon: epsilon)], resampling: resampling[$0]) },
                      typeName: "ModuleList")
        cv3 = Conv2d(3 * width, embedding, kernelSize: 1)
        cv4 = Conv2d(3 * width, 16, kernelSize: 3, padding: 1)
        cv5 = Conv2d(1, 16, kernelSize: 3, padding: 1)
        cv6 = Tail(conv: Conv(32, 16, kernelSize: 3, epsilon: epsilon), output: Conv2d(16, 16, kernelSize: 3, padding: 1))
    }

    mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.child("cv1", &cv1)
        visitor.child("cv2", &cv2)
        visitor.child("cv3", &cv3)
        visitor.child("cv4", &cv4)
        visitor.child("cv5", &cv5)
        visitor.child("cv6", &cv6)
    }

    /// `nn.Sequential(Conv…, Upsample or Identity)`.
    struct Stage: Block {
        var typeName: String { "Sequential" }
        var convs: [Conv]
        let resampling: String

        mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
            for index in convs.indices { visitor.child(String(index), &convs[index]) }
            visitor.leaf(String(convs.count), resampling)
        }
    }

    /// `nn.Sequential(Conv, nn.Conv2d)`.
    struct Tail: Block {
        var typeName: String { "Sequential" }
        var conv: Conv
        var output: Conv2d

        mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
            visitor.child("0", &conv)
            visitor.child("1", &output)
        }
    }
}

/// What YOLOEDetect and its segmentation heads share: Detect's branches with class branches to
/// `embed` channels, BatchNorm contrastive heads `cv4` (and their one-to-one copies), `reprta`
/// and `savpe`.
public struct PromptBranches: Sendable {
    public var core: DetectionBranches
    var cv4: BranchPair<Indexed<ContrastiveHead>>
    var reprta: ResidualFFN
    var savpe: VisualPromptEncoder
    let embedding: Int

    init(_ context: LayerContext, classCount: Int, embedding: Int, batchNormHead: Bool, batchNormPosition: Int) throws(LayerError) {
        guard batchNormHead else {
            throw LayerError("with_bn must be True: YOLOE's heads are BatchNorm contrastive heads (assert with_bn)", blame: .argument(batchNormPosition))
        }
        let classWidth = max(context.inputChannels[0], min(classCount, 100))
        guard classWidth <= embedding else {
            throw LayerError("its class branches are \(classWidth) wide (max(ch[0], min(nc, 100))), more than embed = \(embedding) (assert c3 <= embed)",
                             blame: .argument(batchNormPosition - 1))
        }
        self.embedding = embedding
        core = try DetectionBranches(context, classCount: classCount, embedding: embedding, embeddingFollowsLegacy: true)
        let heads = Indexed(Array(repeating: ContrastiveHead(batchNormOf: embedding, epsilon: context.batchNormEpsilon), count: context.inputChannels.count),
                            typeName: "ModuleList")
        cv4 = core.pair(heads)
        reprta = ResidualFFN(embedding)
        savpe = VisualPromptEncoder(context.inputChannels, width: classWidth, embedding: embedding, epsilon: context.batchNormEpsilon)
    }

    /// PyTorch's order after Detect's own: cv4, one2one_cv4, reprta, savpe.
    mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        core.visit(&visitor)
        cv4.visitBoth("cv4", &visitor)
        visitor.child("reprta", &reprta)
        visitor.child("savpe", &savpe)
    }

    mutating func dropUnusedBranches() {
        core.dropUnusedBranches()
        cv4.dropUnused()
    }

    /// The class prompt embeddings [B, classes, embed]: `F.normalize(reprta(tpe))` of the given
    /// text embeddings, else zeros (YOLOEModel's default when no classes were set).
    func promptEmbeddings(_ text: Feature?, batch: Int) throws(LayerError) -> Feature {
        let shape = [batch, core.classCount, embedding]
        guard let given = text else { return Feature(shape: shape) }
        guard given.shape == shape else {
            throw LayerError("the text prompt embeddings have shape \(describeShape(given.shape)); the head takes \(describeShape(shape))", blame: .row)
        }
        return reprta(given).l2Normalized(axis: 2)
    }

    func raw(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> DetectionBranches.Raw {
        try requireLevels(inputs.map(\.shape), channels: core.inputChannels)
        let batch = inputs[0].shape[0]
        let prompts = try promptEmbeddings(pass.text, batch: batch)
        let distributions = try flattenedBranches(core.cv2.active, inputs, channels: 4 * core.regressionMaximum, pass)
        var maps = [Feature]()
        for (level, input) in inputs.enumerated() {
            let embedded = try core.cv3.active.items[level](input, pass)
            if pass.text == nil {
                // without prompts: the heads' default, zero embeddings
                maps.append(cv4.active.items[level](embedded, embeddings: Tensor(shape: prompts.shape), pass))
            } else {
                maps.append(cv4.active.items[level](embedded, text: prompts, pass))
            }
        }
        let logits = try flattenedLevels(maps, channels: core.classCount)
        traceUnread(core.cv2, inputs, pass)
        if let contrastive = cv4.inactive {
            traceUnread(core.cv3, inputs, pass) { level, embedded in
                _ = pass.text == nil ? contrastive.items[level](embedded, embeddings: Tensor(shape: prompts.shape), pass)
                    : contrastive.items[level](embedded, text: prompts, pass)
            }
        }
        return DetectionBranches.Raw(batch: batch, anchors: distributions.shape[2], levels: inputs.map { ($0.shape[2], $0.shape[3]) },
                                     distances: core.dfl.map { $0(distributions, pass) } ?? distributions, logits: logits)
    }
}

/// Ultralytics `YOLOEDetect(nc=80, embed=512, with_bn=True, reg_max=16, end2end=False, ch=())`.
public struct YOLOEDetect: DetectionHeadModule {
    public static let names = ["YOLOEDetect"]
    public static let readsPrompts = true
    public static let signature = Signature([
        .init("nc", "classCount", .int(min: 1), default: .int(80)),
        .init("embed", "embedding", .int(min: 1), default: .int(512)),
        .init("with_bn", "batchNormHead", .bool, default: .bool(true)),
    ])
    public static let channelRule = ChannelRule.detectionHead(scaledWidthAt: nil)
    public static let inputArity = InputArity.atLeast(1)

    public var typeName: String { "YOLOEDetect" }
    var head: PromptBranches
    public var textWidth: Int { head.embedding }
    public var core: DetectionBranches {
        get { head.core }
        set { head.core = newValue }
    }

    public init(_ context: LayerContext) throws(LayerError) {
        let arguments = context.arguments
        head = try PromptBranches(context, classCount: arguments.int("classCount"), embedding: arguments.int("embedding"),
                                  batchNormHead: arguments.bool("batchNormHead"), batchNormPosition: 2)
    }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) { head.visit(&visitor) }
    public mutating func fuse() { head.dropUnusedBranches() }

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        [head.core.output(try head.raw(inputs, pass))]
    }
}

/// Ultralytics `YOLOESegment(nc=80, nm=32, npr=256, embed=512, with_bn=True, reg_max, end2end,
/// ch)`: YOLOEDetect plus Segment's prototypes (Proto on the first level; Proto26 from every
/// level for `YOLOESegment26`) and mask-coefficient branches `cv5`.
public struct YOLOESegment: DetectionHeadModule {
    public static let names = ["YOLOESegment", "YOLOESegment26"]
    public static let readsPrompts = true
    public static let signature = Signature([
        .init("nc", "classCount", .int(min: 1), default: .int(80)),
        .init("nm", "maskCount", .int(min: 1), default: .int(32)),
        .init("npr", "prototypeChannels", .int(min: 1), default: .int(256)),
        .init("embed", "embedding", .int(min: 1), default: .int(512)),
        .init("with_bn", "batchNormHead", .bool, default: .bool(true)),
    ])
    public static let channelRule = ChannelRule.detectionHead(scaledWidthAt: 2)
    public static let inputArity = InputArity.atLeast(1)

    public let typeName: String
    var head: PromptBranches
    public var textWidth: Int { head.embedding }
    var proto: Segment.Prototypes
    var cv5: BranchPair<Indexed<HeadBranch>>
    let maskCount: Int

    public var core: DetectionBranches {
        get { head.core }
        set { head.core = newValue }
    }
    public var extraChannels: Int { maskCount }
    public var resultNames: [String] { ["output", "proto"] }

    public init(_ context: LayerContext) throws(LayerError) {
        typeName = context.moduleName
        let arguments = context.arguments
        let classes = arguments.int("classCount")
        maskCount = arguments.int("maskCount")
        head = try PromptBranches(context, classCount: classes, embedding: arguments.int("embedding"),
                                  batchNormHead: arguments.bool("batchNormHead"), batchNormPosition: 4)
        let (channels, prototypes, epsilon) = (context.inputChannels, context.scaledOutputChannels, context.batchNormEpsilon)
        proto = typeName == "YOLOESegment26"
            ? .levels(Proto26(channels, hidden: prototypes, masks: maskCount, classes: classes, epsilon: epsilon))
            : .first(Proto(channels[0], hidden: prototypes, masks: maskCount, epsilon: epsilon))
        cv5 = head.core.extraBranch(width: max(channels[0] / 4, maskCount), outputs: maskCount, epsilon: epsilon, name: "one2one_cv5")
    }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        head.visit(&visitor)
        visitor.child("proto", &proto)
        cv5.visitBoth("cv5", &visitor)
    }

    public mutating func fuse() {
        head.dropUnusedBranches()
        cv5.dropUnused()
    }

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        let raw = try head.raw(inputs, pass)
        let coefficients = try head.core.extras(cv5.active, inputs, channels: maskCount, pass)
        traceUnread(cv5, inputs, pass)
        return [head.core.output(raw, extras: coefficients), try proto(inputs, pass)]
    }
}
