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

    public static let channelRule = ChannelRule.sameAsInputWithChannels

    public var typeName: String { "AIFI" }
    public let channels: Int
    public let feedForwardChannels: Int
    public let headCount: Int
    public let normalizeBefore: Bool
    public var ma: MultiheadAttention
    public var fc1: Linear
    public var fc2: Linear
    public var norm1: LayerNorm
    public var norm2: LayerNorm

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
        ma = MultiheadAttention(width: channels, heads: headCount)
        fc1 = Linear(channels, feedForwardChannels)
        fc2 = Linear(feedForwardChannels, channels)
        norm1 = LayerNorm(channels)
        norm2 = LayerNorm(channels)
    }

    public var outputChannels: [Int] { [channels] }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.child("ma", &ma)
        visitor.child("fc1", &fc1)
        visitor.child("fc2", &fc2)
        visitor.child("norm1", &norm1)
        visitor.child("norm2", &norm2)
        for name in ["dropout", "dropout1", "dropout2"] { visitor.leaf(name, "Dropout") }
        visitor.leaf("act", "GELU")
    }

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        let shape = inputs[0].shape
        try requireFeatureMap(shape, channels: channels)
        return [encoded(inputs[0])]
    }

    /// The encoder layer over the flattened map, with the sin-cos position embedding.
    func encoded(_ x: Feature) -> Feature {
        let (batch, height, width) = (x.shape[0], x.shape[2], x.shape[3])
        var source = x.reshaped([batch, channels, height * width]).permuted([0, 2, 1])
        let position = x.constant(AIFI.positionEmbedding(width: width, height: height, channels: channels), name: "position_embedding")
        x.countedOnly {
            // PyTorch computes the embedding in the forward, by two outer products [h·w, 1] @ [1, C/4]
            // that thop counts; the program holds it as a constant
            let grid = x.constant(name: "position_grid", shape: [height * width, 1]) { Tensor(shape: [height * width, 1]) }
            let frequencies = x.constant(name: "position_frequencies", shape: [1, channels / 4]) { Tensor(shape: [1, channels / 4]) }
            for _ in 0..<2 { _ = grid.matmul(frequencies) }
        }
        func attend(_ input: Feature) -> Feature {
            let query = input.plus(position)
            return ma(query: query, key: query, value: input)
        }
        func feedForward(_ input: Feature) -> Feature { fc2(fc1(input).activated(.gelu)) }
        if normalizeBefore {
            source = source + attend(norm1(source))
            source = source + feedForward(norm2(source))
        } else {
            source = norm1(source + attend(source))
            source = norm2(source + feedForward(source))
        }
        return source.permuted([0, 2, 1]).reshaped([batch, channels, height, width])
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
}
