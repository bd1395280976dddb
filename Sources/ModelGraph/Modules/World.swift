#if canImport(Glibc)
import Glibc
#endif
import ModelSpec
import Tensor

// YOLO-World's open-vocabulary modules: C2fAttn (text-guided attention in the neck),
// ImagePoolingAttn (image features update the text embeddings) and WorldDetect (class scores as
// similarities between region embeddings and the text embeddings).

/// The text embeddings a module reads: the pass's (running) or, in the graph builder's walk
/// (one row at a time), a placeholder of the shape [batch, classes, width] the graph was built for.
func textEmbeddings(_ given: Feature?, like x: Feature, batch: Int, classes: Int, width: Int, reader: String) throws(LayerError) -> Feature {
    guard let given else { return x.constant(name: "txt_feats", shape: [batch, classes, width]) { Tensor(shape: [batch, classes, width]) } }
    guard given.shape.count == 3, given.shape[0] == batch, given.shape[2] == width else {
        throw LayerError("\(reader) expects text embeddings [\(batch), classes, \(width)], found \(describeShape(given.shape))", blame: .row)
    }
    return given
}

/// Ultralytics `MaxSigmoidAttnBlock(c1, c2, nh=1, ec=128, gc=512, scale=False)`: per head, the
/// largest similarity of each position's embedding with any class's guide embedding, as a
/// sigmoid gate on a linear 3×3 Conv of the input.
public struct MaxSigmoidAttention: Block {
    public var typeName: String { "MaxSigmoidAttnBlock" }
    let heads: Int
    let headChannels: Int
    public var bias: Parameter
    /// A linear 1×1 Conv to ec when c1 ≠ ec.
    public var ec: Conv?
    public var gl: Linear
    public var proj_conv: Conv

    init(_ inputChannels: Int, _ outputChannels: Int, heads: Int, embedding: Int, guide: Int, epsilon: Float) {
        self.heads = heads
        headChannels = outputChannels / heads
        bias = Parameter([heads], initialization: .zeros)
        ec = inputChannels != embedding ? Conv(inputChannels, embedding, activation: .identity, epsilon: epsilon) : nil
        gl = Linear(guide, embedding)
        proj_conv = Conv(inputChannels, outputChannels, kernelSize: 3, activation: .identity, epsilon: epsilon)
    }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.parameter("bias", &bias)
        visitor.child("ec", &ec, absent: nil)
        visitor.child("gl", &gl)
        visitor.child("proj_conv", &proj_conv)
    }

    func callAsFunction(_ x: Feature, guide: Feature, _ pass: Pass) throws(LayerError) -> Feature {
        let embedded = try ec.map { conv throws(LayerError) in try conv(x, pass) } ?? x
        guard embedded.shape[1] == heads * headChannels else {
            throw LayerError("its embedding has \(embedded.shape[1]) channels, which do not view as \(heads) heads of \(headChannels)", blame: .row)
        }
        let projected = try proj_conv(x, pass)
        return gated(projected, embedded: embedded, guide: guide, x)
    }

    /// einsum("bmchw,bnmc->bmhwn") per head as a matrix product, its largest class, the gate on
    /// the projection.
    private func gated(_ projected: Feature, embedded: Feature, guide: Feature, _ x: Feature) -> Feature {
        let (batch, classes, positions) = (x.shape[0], guide.shape[1], x.shape[2] * x.shape[3])
        let guided = gl(guide).reshaped([batch, classes, heads, headChannels]).permuted([0, 2, 3, 1])  // [B, m, c, N]
        let positionsFirst = embedded.reshaped([batch, heads, headChannels, positions]).permuted([0, 1, 3, 2])  // [B, m, HW, c]
        let largest = positionsFirst.matmul(guided).reducedMax(axis: 3)  // [B, m, HW]
        let scaled = largest * x.scalar(1 / Float(headChannels).squareRoot(), name: "head_scale")
        let gate = scaled.plus(x.constant(bias, viewedAs: [1, heads, 1])).activated(.sigmoid)
        let perHead = projected.shape[1] / heads
        return (projected.reshaped([batch, heads, perHead, positions]) * gate.reshaped([batch, heads, 1, positions]))
            .reshaped(projected.shape)
    }
}

/// Ultralytics `C2fAttn(c1, c2, n=1, ec=128, nh=1, gc=512, shortcut=False, g=1, e=0.5)`: C2f
/// whose newest piece also goes through a MaxSigmoidAttnBlock guided by the text embeddings,
/// its output one more piece. parse_model sets ec to the hidden width int(c2·e) and scales nh.
public struct C2fAttn: CrossStageModule {
    public static let names = ["C2fAttn"]
    public static let readsText = true
    public static let signature = Signature([
        .init("c2", "outputChannels", .int(min: 1)),
        .init("ec", "embedding", .int(min: 1), default: .int(128)),
        .init("nh", "heads", .int(min: 1), default: .int(1)),
        .init("gc", "guideChannels", .int(min: 1), default: .int(512)),
        .init("shortcut", "shortcut", .bool, default: .bool(false)),
        .init("g", "groups", .int(min: 1), default: .int(1)),
        .init("e", "expansion", .number, default: .float(0.5)),
    ])
    public static let channelRule = ChannelRule.scaledOutput
    public static let takesRepeats = true

    public var typeName: String { "C2fAttn" }
    public var cv1: Conv
    public var cv2: Conv
    public var m: Indexed<Bottleneck>
    public var attn: MaxSigmoidAttention
    let hidden: Int
    let classCount: Int

    public init(_ context: LayerContext) throws(LayerError) {
        let (input, output, arguments, epsilon) = (context.inputChannel, context.scaledOutputChannels, context.arguments, context.batchNormEpsilon)
        hidden = try hiddenChannels(output, expansion: arguments.double("expansion"), position: arguments.position("expansion"))
        // parse_model: nh = int(max(round(min(nh, max_channels // 2 // 32)) * width, 1)) when nh > 1
        var heads = arguments.int("heads")
        if heads > 1 {
            let capped = min(heads, (context.maxChannels ?? Int.max) / 2 / 32)
            heads = Int(max(Double(capped) * context.widthMultiple, 1))
        }
        guard hidden % heads == 0 else {
            throw LayerError("hidden channels \(hidden) (int(c2 × e)) must be divisible by nh = \(heads) after scaling", blame: .argument(2))
        }
        try Conv.checkGroups(input: hidden, output: hidden, groups: arguments.int("groups"), position: arguments.position("groups"))
        classCount = context.classCount ?? 80
        cv1 = Conv(input, 2 * hidden, epsilon: epsilon)
        cv2 = Conv((3 + context.repeats) * hidden, output, epsilon: epsilon)
        m = Indexed(Array(repeating: Bottleneck(hidden, hidden, shortcut: arguments.bool("shortcut"), groups: arguments.int("groups"),
                                                expansion: 1.0, epsilon: epsilon),
                          count: context.repeats), typeName: "ModuleList")
        attn = MaxSigmoidAttention(hidden, hidden, heads: heads, embedding: hidden, guide: arguments.int("guideChannels"), epsilon: epsilon)
    }

    /// [c1, c2, n, ec → hidden, nh → scaled, …] as parse_model rewrites them.
    public func printedArguments(_ standard: [ArgumentValue]) -> [ArgumentValue] {
        var printed = standard
        if printed.count > 3 { printed[3] = .int(hidden) } else { printed.append(.int(hidden)) }
        if printed.count > 4 { printed[4] = .int(attn.heads) }
        return printed
    }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.child("cv1", &cv1)
        visitor.child("cv2", &cv2)
        visitor.child("m", &m)
        visitor.child("attn", &attn)
    }

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        let x = inputs[0]
        try requireFeatureMap(x.shape, channels: cv1.conv.inputChannels)
        let guide = try textEmbeddings(pass.guide, like: x, batch: x.shape[0], classes: classCount, width: attn.gl.inputFeatures, reader: "C2fAttn")
        var pieces = try cv1(x, pass).split(sizes: [hidden, hidden])
        for block in m.items { pieces.append(try block(pieces[pieces.count - 1], pass)) }
        pieces.append(try attn(pieces[pieces.count - 1], guide: guide, pass))
        return [try cv2(try .concatenate(pieces), pass)]
    }
}

/// `nn.AdaptiveMaxPool2d((k, k))`, a leaf module.
struct AdaptiveMaxPool: Block {
    var typeName: String { "AdaptiveMaxPool2d" }
    let size: Int
    mutating func visit<V: BlockVisitor>(_ visitor: inout V) {}
}

/// Ultralytics `ImagePoolingAttn(ec=256, ch=(), ct=512, nh=8, k=3, scale=False)`: each input
/// level projected to ec and max-pooled to k×k patches; the text embeddings attend to those
/// patches and the result is added to them. The updated embeddings guide the C2fAttn rows after
/// it (`WorldModel.predict`); the rows after it read the feature maps by index, not this row.
public struct ImagePoolingAttn: LayerModule {
    public static let names = ["ImagePoolingAttn"]
    public static let readsText = true
    public static let signature = Signature([
        .init("ec", "embedding", .int(min: 1), default: .int(256)),
        .init("ct", "textChannels", .int(min: 1), default: .int(512)),
        .init("nh", "heads", .int(min: 1), default: .int(8)),
        .init("k", "patches", .int(min: 1), default: .int(3)),
        .init("scale", "learnedScale", .bool, default: .bool(false)),
    ])
    public static let channelRule = ChannelRule.channelListInserted(at: 1)
    public static let inputArity = InputArity.atLeast(1)

    public var typeName: String { "ImagePoolingAttn" }
    var query: Projection
    var key: Projection
    var value: Projection
    var proj: Linear
    var scale: Parameter?
    var projections: Indexed<Conv2d>
    var im_pools: Indexed<AdaptiveMaxPool>
    let heads: Int
    let classCount: Int
    let inputChannels: [Int]

    public init(_ context: LayerContext) throws(LayerError) {
        let arguments = context.arguments
        let (embedding, text, patches) = (arguments.int("embedding"), arguments.int("textChannels"), arguments.int("patches"))
        heads = arguments.int("heads")
        guard embedding % heads == 0 else {
            throw LayerError("ec = \(embedding) must be divisible by nh = \(heads)", blame: .argument(2))
        }
        classCount = context.classCount ?? 80
        inputChannels = context.inputChannels
        query = Projection(norm: LayerNorm(text), linear: Linear(text, embedding))
        key = Projection(norm: LayerNorm(embedding), linear: Linear(embedding, embedding))
        value = Projection(norm: LayerNorm(embedding), linear: Linear(embedding, embedding))
        proj = Linear(embedding, text)
        scale = arguments.bool("learnedScale") ? Parameter([1], initialization: .zeros) : nil
        projections = Indexed(context.inputChannels.map { Conv2d($0, embedding, kernelSize: 1) }, typeName: "ModuleList")
        im_pools = Indexed(Array(repeating: AdaptiveMaxPool(size: patches), count: context.inputChannels.count), typeName: "ModuleList")
    }

    /// Its output is the updated embeddings [B, classes, ct] (in Ultralytics' graph the row
    /// holds its input list, and parse_model records the previous row's channels): nothing can
    /// read it as a feature map.
    public var outputChannels: [Int] { [classCount] }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.parameter("scale", &scale)
        visitor.child("query", &query)
        visitor.child("key", &key)
        visitor.child("value", &value)
        visitor.child("proj", &proj)
        visitor.child("projections", &projections)
        visitor.child("im_pools", &im_pools)
    }

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        let batch = inputs[0].shape[0]
        for (level, input) in inputs.enumerated() {
            try requireFeatureMap(input.shape, channels: inputChannels[level], source: level)
        }
        let text = try textEmbeddings(pass.guide, like: inputs[0], batch: batch, classes: classCount, width: proj.outputFeatures, reader: "ImagePoolingAttn")
        let patches = im_pools.items[0].size
        var projected = [Feature]()
        for (level, input) in inputs.enumerated() { projected.append(try projections.items[level](input, pass)) }
        pass.guide = updated(text, projected: projected, patches: patches)
        return [pass.guide!]
    }

    /// The pooled patch tokens attended by the text embeddings, projected and added to them.
    private func updated(_ text: Feature, projected: [Feature], patches: Int) -> Feature {
        let (batch, embedding, classes) = (text.shape[0], proj.inputFeatures, text.shape[1])
        let pooled = projected.map { $0.adaptiveMaxPooled(height: patches, width: patches).reshaped([batch, embedding, patches * patches]) }
        let patchTokens = (try! Feature.concatenate(pooled, axis: 2)).permuted([0, 2, 1])  // [B, tokens, ec]
        let headWidth = embedding / heads
        func split(_ x: Feature) -> Feature { x.reshaped([batch, x.shape[1], heads, headWidth]).permuted([0, 2, 1, 3]) }  // [B, m, L, c]
        let (q, k, v) = (split(query(text)), split(key(patchTokens)), split(value(patchTokens)))
        let scores = (q.matmul(k.permuted([0, 1, 3, 2])) * text.scalar(1 / Float(headWidth).squareRoot(), name: "attention_scale")).softmax(axis: 3)
        let attended = scores.matmul(v).permuted([0, 2, 1, 3]).reshaped([batch, classes, embedding])
        var update = proj(attended)
        if let scale { update = update * text.constant(scale, viewedAs: [1]) }
        return update + text
    }

    /// `nn.Sequential(nn.LayerNorm, nn.Linear)`.
    struct Projection: Block {
        var typeName: String { "Sequential" }
        var norm: LayerNorm
        var linear: Linear

        mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
            visitor.child("0", &norm)
            visitor.child("1", &linear)
        }

        func callAsFunction(_ x: Feature) -> Feature { linear(norm(x)) }
    }
}

/// Ultralytics `ContrastiveHead()` and `BNContrastiveHead(embed)`: class logits as the scaled
/// similarity of each position's embedding (L2-normalised, or BatchNorm'd) with each class's
/// L2-normalised text embedding, plus a bias.
public struct ContrastiveHead: Block {
    public var typeName: String { norm == nil ? "ContrastiveHead" : "BNContrastiveHead" }
    public var norm: BatchNorm2d?
    public var bias: Parameter
    public var logitScale: Parameter

    init(batchNormOf channels: Int?, epsilon: Float) {
        norm = channels.map { BatchNorm2d($0, epsilon: epsilon) }
        bias = Parameter([1], initialization: .computed { Tensor(shape: [1], storage: [-10]) })
        // log(1/0.07) for ContrastiveHead, −1 for BNContrastiveHead
        let start: Float = channels == nil ? Float(log(1 / 0.07)) : -1
        logitScale = Parameter([], initialization: .computed { Tensor(shape: [], storage: [start]) })
    }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.parameter("bias", &bias)
        visitor.parameter("logit_scale", &logitScale)
        visitor.child("norm", &norm, absent: nil)
    }

    /// For class embeddings known when tracing ([B, N, E]; YOLOE's zeros without prompts),
    /// normalised once, as a constant: the positions' normalisation, the einsum as a matrix
    /// product, scale and bias.
    func callAsFunction(_ x: Feature, embeddings: Tensor, _ pass: Pass) -> Feature {
        let weights = x.constant(embeddings.normalized(axis: 2), name: "class_embeddings")
        return scored(x, classEmbeddings: weights)
    }

    /// x [B, E, H, W] and text [B, N, E] → [B, N, H, W].
    func callAsFunction(_ x: Feature, text: Feature, _ pass: Pass) -> Feature {
        return scored(x, classEmbeddings: text.l2Normalized(axis: 2))
    }

    /// Normalised positions (BatchNorm or L2) against the normalised classes: a matrix product,
    /// times exp(logit_scale), plus the bias.
    private func scored(_ x: Feature, classEmbeddings: Feature) -> Feature {
        let (batch, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let features = (norm.map { $0(x) } ?? x.l2Normalized(axis: 1)).reshaped([batch, channels, height * width])
        let factor = x.constant(name: "logit_scale_exp", shape: [1]) { Tensor(shape: [1], storage: [Float(exp(Double(logitScale.tensor.storage[0])))]) }
        return (classEmbeddings.matmul(features) * factor).plus(x.constant(bias)).reshaped([batch, classEmbeddings.shape[1], height, width])
    }
}

/// Ultralytics `WorldDetect(nc=80, embed=512, with_bn=False, reg_max=16, end2end=False, ch=())`:
/// Detect whose class branches end in `embed` channels, scored against the text embeddings by a
/// ContrastiveHead (BNContrastiveHead with `with_bn`) per level.
public struct WorldDetect: DetectionHeadModule {
    public static let names = ["WorldDetect"]
    public static let readsText = true
    public static let signature = Signature([
        .init("nc", "classCount", .int(min: 1), default: .int(80)),
        .init("embed", "embedding", .int(min: 1), default: .int(512)),
        .init("with_bn", "batchNormHead", .bool, default: .bool(false)),
    ])
    public static let channelRule = ChannelRule.detectionHead(scaledWidthAt: nil)
    public static let inputArity = InputArity.atLeast(1)

    public var typeName: String { "WorldDetect" }
    public var core: DetectionBranches
    public var cv4: Indexed<ContrastiveHead>
    let embedding: Int

    public init(_ context: LayerContext) throws(LayerError) {
        embedding = context.arguments.int("embedding")
        core = try DetectionBranches(context, classCount: context.arguments.int("classCount"), embedding: embedding)
        let head = ContrastiveHead(batchNormOf: context.arguments.bool("batchNormHead") ? embedding : nil, epsilon: context.batchNormEpsilon)
        cv4 = Indexed(Array(repeating: head, count: context.inputChannels.count), typeName: "ModuleList")
    }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        core.visit(&visitor)
        visitor.child("cv4", &cv4)
    }

    public mutating func fuse() { core.dropUnusedBranches() }

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        try requireLevels(inputs.map(\.shape), channels: core.inputChannels)
        let batch = inputs[0].shape[0]
        // WorldModel.predict gives WorldDetect the embeddings as passed in, not ImagePoolingAttn's update
        let text = try textEmbeddings(pass.text, like: inputs[0], batch: batch, classes: core.classCount, width: embedding, reader: "WorldDetect")
        guard text.shape[1] == core.classCount else {
            throw LayerError("the text embeddings hold \(text.shape[1]) classes, the head was built for nc = \(core.classCount)", blame: .row)
        }
        let distributions = try flattenedBranches(core.cv2.active, inputs, channels: 4 * core.regressionMaximum, pass)
        var maps = [Feature]()
        for (level, input) in inputs.enumerated() {
            maps.append(cv4.items[level](try core.cv3.active.items[level](input, pass), text: text, pass))
        }
        let logits = try flattenedLevels(maps, channels: core.classCount)
        let raw = DetectionBranches.Raw(batch: batch, anchors: distributions.shape[2], levels: inputs.map { ($0.shape[2], $0.shape[3]) },
                                        distances: core.dfl.map { $0(distributions, pass) } ?? distributions, logits: logits)
        return [core.output(raw)]
    }
}
