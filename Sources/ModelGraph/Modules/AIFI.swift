#if canImport(Glibc)
import Glibc
#endif
import ModelSpec
import Tensor

/// Ultralytics `AIFI(c1, cm=2048, num_heads=8, dropout=0, act=GELU, normalize_before=False)`:
/// a transformer encoder layer over the flattened feature map with a 2-D sin-cos position
/// embedding. Port of `ultralytics/nn/modules/transformer.py: AIFI, TransformerEncoderLayer`.
public struct AIFI: LayerModule {
    public static let names = ["AIFI"]
    public static let signature = Signature([
        .init("cm", "feedForwardChannels", .int(min: 1), default: .int(2048)),
        .init("num_heads", "headCount", .int(min: 1), default: .int(8)),
        .init("dropout", "dropout", .number, default: .int(0)),
        .init("act", "activation", .anything, default: .null),
        .init("normalize_before", "normalizeBefore", .bool, default: .bool(false)),
    ])

    public let channels: Int
    public let feedForwardChannels: Int
    public let headCount: Int
    public let normalizeBefore: Bool
    public let printedArguments: [ArgumentValue]

    public init(_ context: LayerContext) throws(LayerError) {
        let arguments = context.arguments
        channels = context.inputChannel
        feedForwardChannels = arguments.int("feedForwardChannels")
        headCount = arguments.int("headCount")
        normalizeBefore = arguments.bool("normalizeBefore")
        guard channels % headCount == 0 else {
            throw LayerError("width \(channels) must be divisible by num_heads=\(headCount) (multi-head attention)",
                             blame: .argument(arguments.position("headCount")))
        }
        guard channels % 4 == 0 else {
            throw LayerError("width \(channels) must be divisible by 4 for the 2-D sin-cos position embedding",
                             blame: .from(nil))
        }
        printedArguments = [.int(channels)] + arguments.writtenValues
    }

    public var outputChannels: [Int] { [channels] }

    public var tree: ModuleNode {
        ModuleNode("", "AIFI", children: [
            .multiheadAttention("ma", width: channels),
            .linear("fc1", inputFeatures: channels, outputFeatures: feedForwardChannels),
            .linear("fc2", inputFeatures: feedForwardChannels, outputFeatures: channels),
            .layerNorm("norm1", features: channels),
            .layerNorm("norm2", features: channels),
            .leaf("dropout", "Dropout"),
            .leaf("dropout1", "Dropout"),
            .leaf("dropout2", "Dropout"),
            .leaf("act", "GELU"),
        ])
    }

    public func outputShapes(_ inputs: [[Int]]) throws(LayerError) -> [[Int]] {
        try requireFeatureMap(inputs[0], channels: channels)
        return [inputs[0]]
    }

    public func forward(_ inputs: [Tensor], _ weights: LayerWeights) throws(LayerError) -> [Tensor] {
        let x = inputs[0]
        let (batch, height, width) = (x.shape[0], x.shape[2], x.shape[3])
        var source = x.reshaped([batch, channels, height * width]).permuted([0, 2, 1])
        let position = AIFI.positionEmbedding(width: width, height: height, channels: channels)
        func attend(_ input: Tensor) -> Tensor {
            let query = input + position
            return weights.child("ma").multiheadAttention(query: query, key: query, value: input, heads: headCount)
        }
        func feedForward(_ input: Tensor) -> Tensor {
            weights.child("fc2").linear(weights.child("fc1").linear(input).activated(.gelu))
        }
        if normalizeBefore {
            source = source + attend(weights.child("norm1").layerNorm(source))
            source = source + feedForward(weights.child("norm2").layerNorm(source))
        } else {
            source = weights.child("norm1").layerNorm(source + attend(source))
            source = weights.child("norm2").layerNorm(source + feedForward(source))
        }
        return [source.permuted([0, 2, 1]).reshaped([batch, channels, height, width])]
    }

    /// `build_2d_sincos_position_embedding(w, h, embed_dim, temperature=10000)`: [1, h·w, C] of
    /// sin/cos of the row, then of the column, at C/4 frequencies.
    static func positionEmbedding(width: Int, height: Int, channels: Int, temperature: Float = 10000) -> Tensor {
        let quarter = channels / 4
        let omega = (0..<quarter).map { 1 / powf(temperature, Float($0) / Float(quarter)) }
        return Tensor(shape: [1, height * width, channels]) { out in
            for y in 0..<height {
                for x in 0..<width {
                    let base = (y * width + x) * channels
                    for i in 0..<quarter {
                        let h = Float(y) * omega[i], w = Float(x) * omega[i]
                        out[base + i] = sinf(h)
                        out[base + quarter + i] = cosf(h)
                        out[base + 2 * quarter + i] = sinf(w)
                        out[base + 3 * quarter + i] = cosf(w)
                    }
                }
            }
        }
    }

    /// Q/K/V and output projections, the two attention matmuls (tokens² × width each) and the FFN.
    public func multiplyAdds(_ inputs: [[Int]], _ outputs: [[Int]]) -> Double {
        let batch = Double(inputs[0][0]), tokens = Double(inputs[0][2]) * Double(inputs[0][3])
        let channels = Double(self.channels), feedForwardChannels = Double(self.feedForwardChannels)
        let projections = batch * tokens * channels * channels * 4
        let attention = batch * tokens * tokens * channels * 2
        let feedForward = batch * tokens * channels * feedForwardChannels * 2
        return projections + attention + feedForward
    }
}
