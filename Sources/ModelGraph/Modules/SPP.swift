import ModelSpec
import Tensor

/// Ultralytics `SPP(c1, c2, k=(5, 9, 13))` (YOLOv3-SPP): a 1×1 Conv to c1 // 2, max pools of each
/// kernel size (stride 1, same size) side by side, all concatenated and merged by a 1×1 Conv.
public struct SPP: LayerModule {
    public static let names = ["SPP"]
    public static let signature = Signature([
        .init("c2", "outputChannels", .int(min: 1)),
        .init("k", "kernelSizes", .ints(min: 1), default: .list([.int(5), .int(9), .int(13)])),
    ])
    public static let channelRule = ChannelRule.scaledOutput

    public var typeName: String { "SPP" }
    public var cv1: Conv
    public var cv2: Conv
    public var m: Indexed<MaxPool2d>

    public init(_ context: LayerContext) throws(LayerError) {
        let (input, output, epsilon, arguments) = (context.inputChannel, context.scaledOutputChannels, context.batchNormEpsilon, context.arguments)
        let hidden = input / 2
        guard hidden >= 1 else { throw LayerError("needs at least 2 input channels (it halves them), found \(input)", blame: .from(nil)) }
        let kernels = arguments.ints("kernelSizes")
        cv1 = Conv(input, hidden, epsilon: epsilon)
        cv2 = Conv(hidden * (kernels.count + 1), output, epsilon: epsilon)
        m = Indexed(kernels.map { MaxPool2d(kernelSize: $0, stride: 1, padding: $0 / 2) }, typeName: "ModuleList")
        // an even kernel grows the map by one, and torch.cat then refuses the pieces
        if let even = kernels.first(where: { $0 % 2 == 0 }) {
            throw LayerError("pooling kernel \(even) is even: it grows the map by one and the pieces cannot be concatenated (torch.cat)",
                             blame: .argument(1))
        }
    }

    public var outputChannels: [Int] { [cv2.conv.outputChannels] }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.child("cv1", &cv1)
        visitor.child("cv2", &cv2)
        visitor.child("m", &m)
    }

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        try requireFeatureMap(inputs[0].shape, channels: cv1.conv.inputChannels)
        let x = try cv1(inputs[0], pass)
        var pieces = [x]
        for pool in m.items { pieces.append(try pool(x)) }
        return [try cv2(try .concatenate(pieces), pass)]
    }
}
