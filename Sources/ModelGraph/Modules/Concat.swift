import ModelSpec
import Tensor

/// Ultralytics `Concat`: joins its sources along the channel dimension.
public struct Concat: LayerModule {
    public static let names = ["Concat"]
    public static let signature = Signature([
        .init("dimension", "dimension", .int(min: -4), default: .int(1)),
    ])
    public static let inputArity = InputArity.atLeast(1)
    public static let channelRule = ChannelRule.concatenation

    public var typeName: String { "Concat" }
    public let inputChannels: [Int]

    public init(_ context: LayerContext) throws(LayerError) {
        let dimension = context.arguments.int("dimension")
        guard dimension == 1 || dimension == -3 else {
            throw LayerError("only channel concatenation (dimension 1) is supported for NCHW feature maps, found \(dimension)",
                             blame: .argument(0))
        }
        inputChannels = context.inputChannels
    }

    public var outputChannels: [Int] { [inputChannels.reduce(0, +)] }
    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {}

    public func callAsFunction(_ features: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        let inputs = features.map(\.shape)
        let first = inputs[0]
        for (position, shape) in inputs.enumerated() {
            try requireFeatureMap(shape, channels: inputChannels[position], source: position)
            guard shape[0] == first[0], shape[2] == first[2], shape[3] == first[3] else {
                let all = inputs.map { "\($0[2])×\($0[3])" }.joined(separator: ", ")
                throw LayerError("inputs must share batch, height and width; source \(position + 1) is \(describeShape(shape)) but source 1 is \(describeShape(first)) (sizes \(all))",
                                 blame: .from(position))
            }
        }
        return [try .concatenate(features)]
    }
}
