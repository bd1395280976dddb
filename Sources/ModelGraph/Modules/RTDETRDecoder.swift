import ModelSpec

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

    public let inputChannels: [Int]
    public let classCount: Int
    public let hiddenChannels: Int
    public let queryCount: Int
    public let decoderPoints: Int
    public let headCount: Int
    public let decoderLayers: Int
    public let feedForwardChannels: Int
    public let learntInitialQuery: Bool
    public let printedArguments: [ArgumentValue]

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
        var printed = arguments.writtenValues
        printed.insert(.list(inputChannels.map(ArgumentValue.int)), at: min(1, printed.count))
        printedArguments = printed
    }

    /// Values per detection: box (4), score, class index.
    static let detectionWidth = 6

    public var outputChannels: [Int] { [RTDETRDecoder.detectionWidth] }
    var levels: Int { inputChannels.count }

    public var tree: ModuleNode {
        let hidden = hiddenChannels
        func mlp(_ name: String, _ input: Int, _ inner: Int, _ output: Int, layers: Int) -> ModuleNode {
            let sizes = [input] + Array(repeating: inner, count: layers - 1) + [output]
            let linears = (0..<layers).map { ModuleNode.linear("", inputFeatures: sizes[$0], outputFeatures: sizes[$0 + 1]) }
            return ModuleNode(name, "MLP", children: [.indexed("layers", "ModuleList", linears), .leaf("act", "ReLU"), .leaf("out_norm", "Identity")])
        }
        let samplingPoints = headCount * levels * decoderPoints
        let decoderLayer = ModuleNode("", "DeformableTransformerDecoderLayer", children: [
            .multiheadAttention("self_attn", width: hidden),
            .leaf("dropout1", "Dropout"),
            .layerNorm("norm1", features: hidden),
            ModuleNode("cross_attn", "MSDeformAttn", children: [
                .linear("sampling_offsets", inputFeatures: hidden, outputFeatures: samplingPoints * 2),
                .linear("attention_weights", inputFeatures: hidden, outputFeatures: samplingPoints),
                .linear("value_proj", inputFeatures: hidden, outputFeatures: hidden),
                .linear("output_proj", inputFeatures: hidden, outputFeatures: hidden),
            ]),
            .leaf("dropout2", "Dropout"),
            .layerNorm("norm2", features: hidden),
            .linear("linear1", inputFeatures: hidden, outputFeatures: feedForwardChannels),
            .leaf("act", "ReLU"),
            .leaf("dropout3", "Dropout"),
            .linear("linear2", inputFeatures: feedForwardChannels, outputFeatures: hidden),
            .leaf("dropout4", "Dropout"),
            .layerNorm("norm3", features: hidden),
        ])
        var children: [ModuleNode] = [
            .indexed("input_proj", "ModuleList", inputChannels.map { channels in
                .indexed("", "Sequential", [.conv2d("", inputChannels: channels, outputChannels: hidden, kernelSize: 1, bias: false),
                                            .batchNorm2d("", channels: hidden)])
            }),
            ModuleNode("decoder", "DeformableTransformerDecoder",
                       children: [.indexed("layers", "ModuleList", Array(repeating: decoderLayer, count: decoderLayers))]),
            .embedding("denoising_class_embed", count: classCount, features: hidden),
        ]
        if learntInitialQuery {
            children.append(.embedding("tgt_embed", count: queryCount, features: hidden))
        }
        children += [
            mlp("query_pos_head", 4, 2 * hidden, hidden, layers: 2),
            .indexed("enc_output", "Sequential", [.linear("", inputFeatures: hidden, outputFeatures: hidden), .layerNorm("", features: hidden)]),
            .linear("enc_score_head", inputFeatures: hidden, outputFeatures: classCount),
            mlp("enc_bbox_head", hidden, hidden, 4, layers: 3),
            .indexed("dec_score_head", "ModuleList", Array(repeating: .linear("", inputFeatures: hidden, outputFeatures: classCount), count: decoderLayers)),
            .indexed("dec_bbox_head", "ModuleList", Array(repeating: mlp("", hidden, hidden, 4, layers: 3), count: decoderLayers)),
        ]
        return ModuleNode("", "RTDETRDecoder", children: children)
    }

    public func outputShapes(_ inputs: [[Int]]) throws(LayerError) -> [[Int]] {
        for (position, shape) in inputs.enumerated() {
            try requireFeatureMap(shape, channels: inputChannels[position], source: position)
            guard shape[0] == inputs[0][0] else {
                throw LayerError("all levels must share the batch size; level \(position + 1) has \(shape[0]), level 1 has \(inputs[0][0])",
                                 blame: .from(position))
            }
        }
        let anchors = inputs.reduce(0) { $0 + $1[2] * $1[3] }
        let queries = min(queryCount, anchors)
        return [[inputs[0][0], min(queryCount, queries * classCount), RTDETRDecoder.detectionWidth]]
    }

    /// Input projections, encoder head over all anchors, and per decoder layer: self-attention
    /// (projections and both matmuls), deformable cross-attention (value projection over all
    /// anchors, offsets, weights, 4-tap bilinear sampling per point), FFN and box heads.
    public func multiplyAdds(_ inputs: [[Int]], _ outputs: [[Int]]) -> Double {
        let anchorCount = inputs.reduce(0) { $0 + $1[2] * $1[3] }
        let anchors = Double(anchorCount), batch = Double(inputs[0][0])
        let hidden = Double(hiddenChannels), queries = Double(min(queryCount, anchorCount))
        let classes = Double(classCount), feedForward = Double(feedForwardChannels)
        var total = 0.0
        for (position, shape) in inputs.enumerated() {
            total += spatialPositions(shape) * Double(inputChannels[position]) * hidden
        }
        let boxHead = 2 * hidden * hidden + hidden * 4
        total += batch * anchors * (hidden * hidden + hidden * classes + boxHead)
        let points = Double(headCount * levels * decoderPoints)
        let perLayer = queries * (4 * 2 * hidden + 2 * hidden * hidden)          // query_pos_head
            + queries * 4 * hidden * hidden + 2 * queries * queries * hidden    // self-attention
            + anchors * hidden * hidden                                         // value_proj
            + queries * hidden * (3 * points)                                   // offsets and weights
            + queries * points * (hidden / Double(headCount)) * 5               // 4 taps + weighting
            + queries * hidden * hidden                                         // output_proj
            + 2 * queries * hidden * feedForward                                // FFN
            + queries * boxHead
        total += batch * (Double(decoderLayers) * perLayer + queries * hidden * classes)
        return total
    }
}
