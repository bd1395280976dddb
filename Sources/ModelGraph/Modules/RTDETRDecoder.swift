#if canImport(Glibc)
import Glibc
#endif
import ModelSpec
import Tensor

/// Ultralytics `RTDETRDecoder(nc, ch, hd=256, nq=300, ndp=4, nh=8, ndl=6, d_ffn=1024, …)`:
/// per-level input projections, an encoder head that scores every anchor, top-`nq` query
/// selection and `ndl` deformable-attention decoder layers. The channel list `ch` comes from
/// `from`. Inference output, as Ultralytics 8.4 post-processes it: [batch, k, 6] rows of
/// (cx, cy, w, h, score, class), the top k = min(nq, queries × nc) query-class pairs, where
/// queries = min(nq, anchors). Port of `ultralytics/nn/modules/head.py`.
public struct RTDETRDecoder: LayerModule {
    public static let names = ["RTDETRDecoder"]
    public static let inputArity = InputArity.atLeast(1)
    public static let signature = Signature([
        .init("nc", "classCount", .int(min: 1), default: .int(80)),
        .init("hd", "hiddenChannels", .int(min: 1), default: .int(256)),
        .init("nq", "queryCount", .int(min: 1), default: .int(300)),
        .init("ndp", "decoderPoints", .int(min: 1), default: .int(4)),
        .init("nh", "headCount", .int(min: 1), default: .int(8)),
        .init("ndl", "decoderLayers", .int(min: 1), default: .int(6)),
        .init("d_ffn", "feedForwardChannels", .int(min: 1), default: .int(1024)),
        .init("dropout", "dropout", .number, default: .float(0)),
        .init("act", "activation", .anything, default: .null),
        .init("eval_idx", "evaluationLayer", .int(min: Int.min), default: .int(-1)),
        .init("nd", "denoisingCount", .int(min: 0), default: .int(100)),
        .init("label_noise_ratio", "labelNoiseRatio", .number, default: .float(0.5)),
        .init("box_noise_scale", "boxNoiseScale", .number, default: .float(1.0)),
        .init("learnt_init_query", "learntInitialQuery", .bool, default: .bool(false)),
    ])

    public static let channelRule = ChannelRule.channelListInserted(at: 1)

    public var typeName: String { "RTDETRDecoder" }
    public let inputChannels: [Int]
    public let classCount: Int
    public let hiddenChannels: Int
    public let queryCount: Int
    public let decoderPoints: Int
    public let headCount: Int
    public let decoderLayers: Int
    public let feedForwardChannels: Int
    public let learntInitialQuery: Bool
    /// The decoder layer whose boxes and scores inference returns (eval_idx, counted from 0).
    public let evaluationIndex: Int
    public var inputProjections: Indexed<InputProjection>
    public var decoder: DecoderStack
    public var denoisingClassEmbedding: Embedding
    public var targetEmbedding: Embedding?
    public var queryPositionHead: MLP
    public var encoderOutput: EncoderOutput
    public var encoderScoreHead: Linear
    public var encoderBoxHead: MLP
    public var decoderScoreHeads: Indexed<Linear>
    public var decoderBoxHeads: Indexed<MLP>

    public init(_ context: LayerContext) throws(LayerError) {
        let arguments = context.arguments
        inputChannels = context.inputChannels
        classCount = arguments.int("classCount")
        hiddenChannels = arguments.int("hiddenChannels")
        queryCount = arguments.int("queryCount")
        decoderPoints = arguments.int("decoderPoints")
        headCount = arguments.int("headCount")
        decoderLayers = arguments.int("decoderLayers")
        feedForwardChannels = arguments.int("feedForwardChannels")
        learntInitialQuery = arguments.bool("learntInitialQuery")
        guard hiddenChannels % headCount == 0 else {
            throw LayerError("hd=\(hiddenChannels) must be divisible by nh=\(headCount) (attention heads)",
                             blame: .argument(arguments.position("headCount")))
        }
        let evaluationLayer = arguments.int("evaluationLayer")
        guard evaluationLayer < decoderLayers, evaluationLayer >= -decoderLayers else {
            throw LayerError("eval_idx=\(evaluationLayer) is not a decoder layer (ndl=\(decoderLayers))",
                             blame: .argument(arguments.position("evaluationLayer")))
        }
        evaluationIndex = evaluationLayer >= 0 ? evaluationLayer : decoderLayers + evaluationLayer
        let hidden = hiddenChannels, epsilon = context.batchNormEpsilon
        inputProjections = Indexed(inputChannels.map { InputProjection($0, hidden, epsilon: epsilon) }, typeName: "ModuleList")
        let samplingPoints = headCount * inputChannels.count * decoderPoints
        decoder = DecoderStack(layers: Indexed(Array(repeating: DecoderLayer(hidden: hidden, heads: headCount, samplingPoints: samplingPoints,
                                                                              feedForward: feedForwardChannels), count: decoderLayers),
                                               typeName: "ModuleList"))
        denoisingClassEmbedding = Embedding(count: classCount, features: hidden)
        targetEmbedding = learntInitialQuery ? Embedding(count: queryCount, features: hidden) : nil
        queryPositionHead = MLP([4, 2 * hidden, hidden])
        encoderOutput = EncoderOutput(linear: Linear(hidden, hidden), norm: LayerNorm(hidden))
        encoderScoreHead = Linear(hidden, classCount)
        encoderBoxHead = MLP([hidden, hidden, hidden, 4])
        decoderScoreHeads = Indexed(Array(repeating: Linear(hidden, classCount), count: decoderLayers), typeName: "ModuleList")
        decoderBoxHeads = Indexed(Array(repeating: MLP([hidden, hidden, hidden, 4]), count: decoderLayers), typeName: "ModuleList")
    }

    /// Values per detection: box (4), score, class index.
    static let detectionWidth = 6

    public var outputChannels: [Int] { [RTDETRDecoder.detectionWidth] }
    var levels: Int { inputChannels.count }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.child("input_proj", &inputProjections)
        visitor.child("decoder", &decoder)
        visitor.child("denoising_class_embed", &denoisingClassEmbedding)
        visitor.child("tgt_embed", &targetEmbedding, absent: nil)
        visitor.child("query_pos_head", &queryPositionHead)
        visitor.child("enc_output", &encoderOutput)
        visitor.child("enc_score_head", &encoderScoreHead)
        visitor.child("enc_bbox_head", &encoderBoxHead)
        visitor.child("dec_score_head", &decoderScoreHeads)
        visitor.child("dec_bbox_head", &decoderBoxHeads)
    }

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        let shapes = inputs.map(\.shape)
        let output = try outputShapes(shapes)
        let detections = decoded(inputs)
        precondition(detections.shape == output, "RTDETRDecoder promised \(output), made \(detections.shape)")
        return [detections]
    }

    func outputShapes(_ inputs: [[Int]]) throws(LayerError) -> [Int] {
        try requireLevels(inputs, channels: inputChannels)
        let anchors = inputs.reduce(0) { $0 + $1[2] * $1[3] }
        let queries = min(queryCount, anchors)
        return [inputs[0][0], min(queryCount, queries * classCount), RTDETRDecoder.detectionWidth]
    }

    /// The decoder in Ultralytics' own formulation: each level projected to tokens, invalid
    /// anchors' features zeroed (valid_mask · feats), the encoder's top-k queries gathered, the
    /// decoder layers with `multi_scale_deformable_attn_pytorch`'s grid sampling, refining the
    /// boxes after each, and the top-k (query, class) pairs of `postprocess` as [B, n, 6] rows of
    /// (cx, cy, w, h, score, class).
    func decoded(_ inputs: [Feature]) -> Feature {
        let batch = inputs[0].shape[0], hidden = hiddenChannels
        let levelShapes = inputs.map { (height: $0.shape[2], width: $0.shape[3]) }
        let features = tokens(inputs)
        let k = min(queryCount, features.shape[1])
        let (selected, referenceLogits) = encoderQueries(features, levelShapes: levelShapes, count: k)
        var embedding = selected
        if let targetEmbedding {
            embedding = features.constant(name: "tgt_embed", shape: [batch, k, hidden]) {
                let queries = targetEmbedding.weight.tensor.slice(axis: 0, 0..<k)
                return Tensor.concatenate(Array(repeating: queries.reshaped([1, k, hidden]), count: batch), axis: 0)
            }
        }
        var reference = referenceLogits.activated(.sigmoid)
        var boxes = reference
        var scores: Feature?
        for layer in 0...evaluationIndex {
            let position = queryPositionHead(reference)
            embedding = decoder.layers.items[layer](embedding: embedding, position: position, reference: reference, value: features,
                                                           levelShapes: levelShapes, heads: headCount, points: decoderPoints)
            boxes = decoderBoxHeads.items[layer](embedding).plus(RTDETRDecoder.inverseSigmoid(reference)).activated(.sigmoid)
            if layer == evaluationIndex { scores = decoderScoreHeads.items[layer](embedding) }
            reference = boxes
        }
        let count = min(queryCount, k * classCount)
        let top = scores!.activated(.sigmoid).reshaped([batch, k * classCount]).topK(count)
        let classes = top.indices.remainder(dividingBy: classCount).toFloat().reshaped([batch, count, 1])
        let picked = boxes.gatheredRows(top.indices.integerDivided(by: classCount))
        return try! .concatenate([picked, top.values.reshaped([batch, count, 1]), classes], axis: 2)
    }

    /// Each level's input projection, flattened to tokens and concatenated: [B, ΣH·W, hidden].
    private func tokens(_ inputs: [Feature]) -> Feature {
        var tokens: [Feature] = []
        for (input, projection) in zip(inputs, inputProjections.items) {
            // the plan folds the BatchNorm and views the map as rows: one map per level
            var y = try! projection.conv(input, Pass())
            if let bn = projection.bn { y = bn(y) }
            tokens.append(y.reshaped([y.shape[0], hiddenChannels, y.shape[2] * y.shape[3]]).permuted([0, 2, 1]))
        }
        return try! Feature.concatenate(tokens, axis: 1)
    }

    /// The encoder head: scores every anchor (invalid anchors' features zeroed first, so their
    /// enc_output row is the linear's bias) and gathers the top `count` as queries, with their
    /// anchors' box logits. Its own function, so the encoder output over every anchor is gone
    /// before the decoder layers run.
    private func encoderQueries(_ features: Feature, levelShapes: [(height: Int, width: Int)], count k: Int)
        -> (queries: Feature, referenceLogits: Feature) {
        let (batch, anchorCount) = (features.shape[0], features.shape[1])
        let (anchors, valid) = RTDETRDecoder.anchors(levelShapes)
        let mask = features.constant(Tensor(shape: [1, anchorCount, 1], storage: valid.map { $0 ? 1 : 0 }), name: "valid_mask")
        // the linear's output becomes the LayerNorm's: every anchor's tokens held twice, not thrice
        let encoded = encoderOutput.norm(encoderOutput.linear(features * mask))
        let best = encoderScoreHead(encoded).reducedMax(axis: 2).topK(k).indices
        let selected = encoded.gatheredRows(best)
        let anchorTable = features.constant(Tensor(shape: [batch, anchorCount, 4], storage: Array((0..<batch).map { _ in anchors }.joined())), name: "anchors")
        return (selected, encoderBoxHead(selected).plus(anchorTable.gatheredRows(best)))
    }

    /// `inverse_sigmoid(x, eps=1e-5)` as program operations.
    static func inverseSigmoid(_ x: Feature) -> Feature {
        let clamped = x.clipped(minimum: 0, maximum: 1)
        let one = x.scalar(1, name: "one")
        return (clamped.clipped(minimum: 1e-5) / (one - clamped).clipped(minimum: 1e-5)).logarithm()
    }

    /// `_generate_anchors`: per level, cell centres and a 0.05·2^level box, in logit space;
    /// anchors touching the border (any value outside (0.01, 0.99)) are invalid (+inf).
    static func anchors(_ levelShapes: [(height: Int, width: Int)]) -> (logits: [Float], valid: [Bool]) {
        let total = levelShapes.reduce(0) { $0 + $1.height * $1.width }
        var logits = [Float](repeating: 0, count: total * 4), valid = [Bool](repeating: false, count: total)
        var anchor = 0
        for (level, shape) in levelShapes.enumerated() {
            let size = Float(0.05) * Float(1 << level)
            for y in 0..<shape.height {
                for x in 0..<shape.width {
                    let box = ((Float(x) + 0.5) / Float(shape.width), (Float(y) + 0.5) / Float(shape.height), size, size)
                    let inside = [box.0, box.1, box.2, box.3].allSatisfy { $0 > 0.01 && $0 < 1 - 0.01 }
                    valid[anchor] = inside
                    logits[anchor * 4] = inside ? logf(box.0 / (1 - box.0)) : .infinity
                    logits[anchor * 4 + 1] = inside ? logf(box.1 / (1 - box.1)) : .infinity
                    logits[anchor * 4 + 2] = inside ? logf(box.2 / (1 - box.2)) : .infinity
                    logits[anchor * 4 + 3] = inside ? logf(box.3 / (1 - box.3)) : .infinity
                    anchor += 1
                }
            }
        }
        return (logits, valid)
    }
}

/// One level's input projection: `nn.Sequential(Conv2d 1×1 no bias, BatchNorm2d)`; fuses by folding.
public struct InputProjection: FoldsBatchNorm {
    public var typeName: String { "Sequential" }
    /// Ultralytics' `fuse()` leaves it alone; the inference plan folds it.
    public var fusesLikeUltralytics: Bool { false }
    public var conv: Conv2d
    public var bn: BatchNorm2d?

    init(_ inputChannels: Int, _ hidden: Int, epsilon: Float) {
        conv = Conv2d(inputChannels, hidden, kernelSize: 1, bias: false)
        bn = BatchNorm2d(hidden, epsilon: epsilon)
    }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.child("0", &conv)
        visitor.child("1", &bn, absent: nil)
    }
}

/// `enc_output`: `nn.Sequential(Linear, LayerNorm)`.
public struct EncoderOutput: Block {
    public var typeName: String { "Sequential" }
    public var linear: Linear
    public var norm: LayerNorm

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.child("0", &linear)
        visitor.child("1", &norm)
    }
}

/// Ultralytics `MLP`: Linear layers with ReLU between them.
public struct MLP: Block {
    public var typeName: String { "MLP" }
    public var layers: Indexed<Linear>

    init(_ sizes: [Int]) {
        layers = Indexed((0..<(sizes.count - 1)).map { Linear(sizes[$0], sizes[$0 + 1]) }, typeName: "ModuleList")
    }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.child("layers", &layers)
        visitor.leaf("act", "ReLU")
        visitor.leaf("out_norm", "Identity")
    }

    func callAsFunction(_ x: Feature) -> Feature {
        var x = x
        for (index, layer) in layers.items.enumerated() {
            x = layer(x)
            if index < layers.items.count - 1 { x = x.activated(.relu) }
        }
        return x
    }
}

/// `DeformableTransformerDecoder`: its layers.
public struct DecoderStack: Block {
    public var typeName: String { "DeformableTransformerDecoder" }
    public var layers: Indexed<DecoderLayer>

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) { visitor.child("layers", &layers) }
}

/// `MSDeformAttn`: sampling offsets and attention weights per head, level and point, value and output projections.
public struct DeformableAttention: Block {
    public var typeName: String { "MSDeformAttn" }
    public var samplingOffsets: Linear
    public var attentionWeights: Linear
    public var valueProjection: Linear
    public var outputProjection: Linear

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.child("sampling_offsets", &samplingOffsets)
        visitor.child("attention_weights", &attentionWeights)
        visitor.child("value_proj", &valueProjection)
        visitor.child("output_proj", &outputProjection)
    }
}

/// `DeformableTransformerDecoderLayer`: self-attention, deformable cross-attention, FFN, each with a norm.
public struct DecoderLayer: Block {
    public var typeName: String { "DeformableTransformerDecoderLayer" }
    public var selfAttention: MultiheadAttention
    public var norm1: LayerNorm
    public var crossAttention: DeformableAttention
    public var norm2: LayerNorm
    public var linear1: Linear
    public var linear2: Linear
    public var norm3: LayerNorm

    init(hidden: Int, heads: Int, samplingPoints: Int, feedForward: Int) {
        selfAttention = MultiheadAttention(width: hidden, heads: heads)
        norm1 = LayerNorm(hidden)
        crossAttention = DeformableAttention(samplingOffsets: Linear(hidden, samplingPoints * 2), attentionWeights: Linear(hidden, samplingPoints),
                                             valueProjection: Linear(hidden, hidden), outputProjection: Linear(hidden, hidden))
        norm2 = LayerNorm(hidden)
        linear1 = Linear(hidden, feedForward)
        linear2 = Linear(feedForward, hidden)
        norm3 = LayerNorm(hidden)
    }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.child("self_attn", &selfAttention)
        visitor.leaf("dropout1", "Dropout")
        visitor.child("norm1", &norm1)
        visitor.child("cross_attn", &crossAttention)
        visitor.leaf("dropout2", "Dropout")
        visitor.child("norm2", &norm2)
        visitor.child("linear1", &linear1)
        visitor.leaf("act", "ReLU")
        visitor.leaf("dropout3", "Dropout")
        visitor.child("linear2", &linear2)
        visitor.leaf("dropout4", "Dropout")
        visitor.child("norm3", &norm3)
    }

    /// `DeformableTransformerDecoderLayer.forward` (eval, no attention mask), with
    /// `multi_scale_deformable_attn_pytorch`'s formulation of the cross-attention.
    func callAsFunction(embedding: Feature, position: Feature, reference: Feature, value: Feature,
                levelShapes: [(height: Int, width: Int)], heads: Int, points: Int) -> Feature {
        let query = embedding + position
        var embedding = norm1(embedding + selfAttention(query: query, key: query, value: embedding))
        let crossed = cross(query: embedding + position, reference: reference, value: value, levelShapes: levelShapes, heads: heads, points: points)
        embedding = norm2(embedding + crossed)
        return norm3(embedding + linear2(linear1(embedding).activated(.relu)))
    }

    /// `MSDeformAttn.forward` with 4-value reference boxes: each head samples `points` points
    /// per level around the box centre, offsets scaled by the box size.
    func cross(query: Feature, reference: Feature, value: Feature, levelShapes: [(height: Int, width: Int)], heads: Int, points: Int) -> Feature {
        let (batch, queries, levels) = (query.shape[0], query.shape[1], levelShapes.count)
        let hidden = crossAttention.valueProjection.outputFeatures, headWidth = hidden / heads
        let offsets = crossAttention.samplingOffsets(query).reshaped([batch, queries, heads, levels, points, 2])
        let weights = crossAttention.attentionWeights(query).reshaped([batch, queries, heads, levels * points]).softmax(axis: 3)
        let centre = reference.sliced(axis: 2, 0..<2).reshaped([batch, queries, 1, 1, 1, 2])
        let size = reference.sliced(axis: 2, 2..<4).reshaped([batch, queries, 1, 1, 1, 2])
        let locations = centre.plus(offsets / query.scalar(Float(points), name: "points") * size * query.scalar(0.5, name: "half"))
        let valueProjection = crossAttention.valueProjection
        let projection = [value.constant(valueProjection.weight),
                          valueProjection.bias.map { value.constant($0) } ?? value.constant(Tensor(shape: [hidden]), name: "value_proj.bias")]
        // one composite, so the execution pass samples the raw features and projects afterwards
        // (Tensor.projectedDeformableAttention: the same result, ~20× fewer multiply-adds)
        let flatLocations = locations.reshaped([batch, queries, heads, levels * points, 2])
        let attributes = ["heights": levelShapes.map(\.height), "widths": levelShapes.map(\.width), "heads": [heads], "points": [points]]
        let output = Feature.composite("deformable_attention", attributes: attributes,
                                       inputs: [value, flatLocations, weights] + projection) {
            let projected = Feature.traced(.linear, [value] + projection, shapes: [[batch, value.shape[1], hidden]])[0]
                .reshaped([batch, value.shape[1], heads, headWidth])
            let grids = flatLocations.reshaped([batch, queries, heads, levels, points, 2]) * query.scalar(2, name: "two") - query.scalar(1, name: "one")
            let valueLevels = projected.split(axis: 1, sizes: levelShapes.map { $0.height * $0.width })
            var sampled: [Feature] = []
            for (level, shape) in levelShapes.enumerated() {
                let map = valueLevels[level].reshaped([batch, shape.height * shape.width, hidden]).permuted([0, 2, 1])
                    .reshaped([batch * heads, headWidth, shape.height, shape.width])
                let grid = grids.sliced(axis: 3, level..<(level + 1)).reshaped([batch, queries, heads, points, 2])
                    .permuted([0, 2, 1, 3, 4]).reshaped([batch * heads, queries, points, 2])
                sampled.append(map.gridSampled(grid).reshaped([batch * heads, headWidth, queries, 1, points]))
            }
            let stacked = try! Feature.concatenate(sampled, axis: 3).reshaped([batch * heads, headWidth, queries, levels * points])
            let attention = weights.permuted([0, 2, 1, 3]).reshaped([batch * heads, 1, queries, levels * points])
            return [(stacked * attention).reducedSum(axis: 3).reshaped([batch, hidden, queries]).permuted([0, 2, 1])]
        }[0]
        return crossAttention.outputProjection(output)
    }
}
