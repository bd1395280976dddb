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
        evaluationIndex = evaluationLayer >= 0 ? evaluationLayer : decoderLayers + evaluationLayer
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

    public func forward(_ inputs: [Tensor], _ weights: LayerWeights) throws(LayerError) -> [Tensor] {
        let batch = inputs[0].shape[0], hidden = hiddenChannels
        // encoder input: project each level, flatten to tokens, concatenate
        let levelShapes = inputs.map { (height: $0.shape[2], width: $0.shape[3]) }
        let projections = inputs.indices.map { weights.child("input_proj").child(String($0)) }
        let features: Tensor
        if projections.allSatisfy({ !$0.child("1").has("weight") }) {
            // BatchNorms folded by the plan: each level's 1×1 conv straight into its token rows
            features = Tensor.tokens(projecting: inputs, weights: projections.map { $0.child("0")["weight"] },
                                     biases: projections.map { $0.child("0").tensors[$0.child("0").prefix + "bias"] })
        } else {
            features = Tensor.concatenate(zip(inputs, projections).map { input, projection in
                projection.convBatchNorm(input, conv: "0", norm: "1", activation: .identity)
                    .reshaped([batch, hidden, input.shape[2] * input.shape[3]]).permuted([0, 2, 1])
            }, axis: 1)
        }
        let anchorCount = features.shape[1]
        let (anchors, valid) = RTDETRDecoder.anchors(levelShapes)

        // encoder head: score every anchor, keep the top k as queries. Invalid anchors' features
        // are zeroed first (valid_mask · feats), so their enc_output row is the linear's bias.
        let encoderLinear = weights.child("enc_output").child("0")
        var projected = encoderLinear.linear(features)
        if valid.contains(false) {
            let bias = encoderLinear["bias"]
            projected.storage.withUnsafeMutableBufferPointer { values in
                for n in 0..<batch {
                    for anchor in 0..<anchorCount where !valid[anchor] {
                        for c in 0..<hidden { values[(n * anchorCount + anchor) * hidden + c] = bias.storage[c] }
                    }
                }
            }
        }
        let encoded = weights.child("enc_output").child("1").layerNorm(projected)
        let encoderScores = weights.child("enc_score_head").linear(encoded)
        let k = min(queryCount, anchorCount)
        let best = Tensor(shape: [batch, anchorCount], storage: (0..<(batch * anchorCount)).map { row in
            encoderScores.storage[(row * classCount)..<((row + 1) * classCount)].max() ?? -.infinity
        }).topK(k).indices
        var selected = Tensor(shape: [batch, k, hidden]), selectedAnchors = Tensor(shape: [batch, k, 4])
        for n in 0..<batch {
            for (q, anchor) in best[n].enumerated() {
                for c in 0..<hidden {
                    selected.storage[(n * k + q) * hidden + c] = encoded.storage[(n * anchorCount + anchor) * hidden + c]
                }
                for c in 0..<4 { selectedAnchors.storage[(n * k + q) * 4 + c] = anchors[anchor * 4 + c] }
            }
        }
        let referenceLogits = weights.child("enc_bbox_head").mlp(selected, layerCount: 3) + selectedAnchors
        var embedding = selected
        if learntInitialQuery {
            let queries = weights["tgt_embed.weight"].slice(axis: 0, 0..<k)
            embedding = Tensor.concatenate(Array(repeating: queries.reshaped([1, k, hidden]), count: batch), axis: 0)
        }

        // decoder layers up to eval_idx, refining the boxes after each
        let value = features
        var reference = referenceLogits.sigmoid()
        var boxes = reference, scores = Tensor(shape: [batch, k, classCount])
        for layer in 0...evaluationIndex {
            let position = weights.child("query_pos_head").mlp(reference, layerCount: 2)
            embedding = decoderLayer(weights.child("decoder").child("layers").child(String(layer)), embedding: embedding,
                                     position: position, reference: reference, value: value, levelShapes: levelShapes)
            let delta = weights.child("dec_bbox_head").child(String(layer)).mlp(embedding, layerCount: 3)
            boxes = Tensor.broadcast(delta, reference) { d, r in Activation.sigmoid.apply(d + RTDETRDecoder.inverseSigmoid(r)) }
            if layer == evaluationIndex {
                scores = weights.child("dec_score_head").child(String(layer)).linear(embedding)
            }
            reference = boxes
        }
        return [RTDETRDecoder.postprocess(boxes: boxes, scores: scores.sigmoid(), classCount: classCount, queryCount: queryCount)]
    }

    /// `DeformableTransformerDecoderLayer.forward` (eval, no attention mask).
    func decoderLayer(_ weights: LayerWeights, embedding: Tensor, position: Tensor, reference: Tensor, value: Tensor,
                      levelShapes: [(height: Int, width: Int)]) -> Tensor {
        let query = embedding + position
        let attended = weights.child("self_attn").multiheadAttention(query: query, key: query, value: embedding, heads: headCount)
        var embedding = weights.child("norm1").layerNorm(embedding + attended)
        let crossed = crossAttention(weights.child("cross_attn"), query: embedding + position, reference: reference,
                                     value: value, levelShapes: levelShapes)
        embedding = weights.child("norm2").layerNorm(embedding + crossed)
        let feedForward = weights.child("linear2").linear(weights.child("linear1").linear(embedding).activated(.relu))
        return weights.child("norm3").layerNorm(embedding + feedForward)
    }

    /// `MSDeformAttn.forward` with 4-value reference boxes: each head samples `decoderPoints`
    /// points per level around the box centre, offsets scaled by the box size.
    func crossAttention(_ weights: LayerWeights, query: Tensor, reference: Tensor, value: Tensor,
                        levelShapes: [(height: Int, width: Int)]) -> Tensor {
        let (batch, queries) = (query.shape[0], query.shape[1])
        let totalPoints = levels * decoderPoints
        var locations = weights.child("sampling_offsets").linear(query)  // [B, Lq, heads·L·P·2]
        let attention = weights.child("attention_weights").linear(query)
            .reshaped([batch, queries, headCount, totalPoints]).softmax(axis: 3)
        let perQuery = headCount * totalPoints
        let points = Float(decoderPoints)
        locations.storage.withUnsafeMutableBufferPointer { l in
            for n in 0..<batch {
                for q in 0..<queries {
                    let box = (n * queries + q) * 4
                    let (cx, cy, w, h) = (reference.storage[box], reference.storage[box + 1], reference.storage[box + 2], reference.storage[box + 3])
                    for p in 0..<perQuery {
                        let at = ((n * queries + q) * perQuery + p) * 2
                        l[at] = cx + l[at] / points * w * 0.5
                        l[at + 1] = cy + l[at + 1] / points * h * 0.5
                    }
                }
            }
        }
        let sampled: Tensor
        let valueProjection = weights.child("value_proj")
        if weights.cache != nil {
            // the plan samples the raw features and projects afterwards (same result, ~20× fewer MACs)
            sampled = Tensor.projectedDeformableAttention(features: value, levelShapes: levelShapes,
                                                          locations: locations.reshaped([batch, queries, headCount, totalPoints, 2]),
                                                          weights: attention, valueWeight: valueProjection["weight"],
                                                          valueBias: valueProjection["bias"], heads: headCount)
        } else {
            let projected = valueProjection.linear(value).reshaped([batch, value.shape[1], headCount, hiddenChannels / headCount])
            sampled = Tensor.deformableAttention(value: projected, levelShapes: levelShapes,
                                                 locations: locations.reshaped([batch, queries, headCount, totalPoints, 2]),
                                                 weights: attention)
        }
        return weights.child("output_proj").linear(sampled)
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

    /// Ultralytics' `inverse_sigmoid(x, eps=1e-5)`.
    static func inverseSigmoid(_ x: Float) -> Float {
        let clamped = min(max(x, 0), 1)
        return logf(max(clamped, 1e-5) / max(1 - clamped, 1e-5))
    }

    /// `postprocess`: the top min(queries, k·nc) (query, class) pairs by score, as
    /// [B, n, 6] rows of (cx, cy, w, h, score, class).
    static func postprocess(boxes: Tensor, scores: Tensor, classCount: Int, queryCount: Int) -> Tensor {
        let (batch, queries) = (scores.shape[0], scores.shape[1])
        let count = min(queryCount, queries * classCount)
        let best = scores.reshaped([batch, queries * classCount]).topK(count)
        var out = Tensor(shape: [batch, count, detectionWidth])
        for n in 0..<batch {
            for (rank, index) in best.indices[n].enumerated() {
                let query = index / classCount
                let row = (n * count + rank) * detectionWidth
                for c in 0..<4 { out.storage[row + c] = boxes.storage[(n * queries + query) * 4 + c] }
                out.storage[row + 4] = best.values[n][rank]
                out.storage[row + 5] = Float(index - query * classCount)
            }
        }
        return out
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
