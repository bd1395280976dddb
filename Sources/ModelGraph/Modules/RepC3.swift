import ModelSpec
import Tensor

/// Ultralytics `RepC3(c1, c2, n=3, e=1.0)`: two 1×1 Convs, a chain of `n` RepConvs on the
/// first, the branches summed, then a 1×1 Conv when the hidden width differs from the output.
public struct RepC3: LayerModule {
    public static let names = ["RepC3"]
    public static let signature = Signature([
        .init("c2", "outputChannels", .int(min: 1)),
        .init("e", "expansion", .number, default: .float(1.0)),
    ])
    public static let channelRule = ChannelRule.scaledOutput
    public static let takesRepeats = true

    public var typeName: String { "RepC3" }
    public var cv1: Conv
    public var cv2: Conv
    public var m: Indexed<RepConv>
    /// nil (Identity) when the hidden width equals the output.
    public var cv3: Conv?

    public init(_ context: LayerContext) throws(LayerError) {
        let (input, output, epsilon) = (context.inputChannel, context.scaledOutputChannels, context.batchNormEpsilon)
        let expansion = context.arguments.double("expansion")
        let hidden = try hiddenChannels(output, expansion: expansion, position: 1)
        cv1 = Conv(input, hidden, epsilon: epsilon)
        cv2 = Conv(input, hidden, epsilon: epsilon)
        m = Indexed(Array(repeating: RepConv(hidden, epsilon: epsilon), count: context.repeats))
        cv3 = hidden != output ? Conv(hidden, output, epsilon: epsilon) : nil
    }

    public var outputChannels: [Int] { [cv3?.conv.outputChannels ?? cv1.conv.outputChannels] }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.child("cv1", &cv1)
        visitor.child("cv2", &cv2)
        visitor.child("m", &m)
        visitor.child("cv3", &cv3, absent: "Identity")
    }

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        let x = inputs[0]
        try requireFeatureMap(x.shape, channels: cv1.conv.inputChannels)
        var branch = try cv1(x, pass)
        for block in m.items { branch = try block(branch, pass) }
        let merged = branch + (try cv2(x, pass))
        return [try cv3.map { conv throws(LayerError) in try conv(merged, pass) } ?? merged]
    }
}
