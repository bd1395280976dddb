import ModelSpec

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
    public let printedArguments: [ArgumentValue]

    public init(_ context: LayerContext) throws(LayerError) {
        let arguments = context.arguments
        channels = context.inputChannel
        feedForwardChannels = arguments.int("feedForwardChannels")
        headCount = arguments.int("headCount")
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
