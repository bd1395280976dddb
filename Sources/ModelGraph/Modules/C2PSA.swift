import ModelSpec
import Tensor

/// Ultralytics `C2PSA(c1, c2, n=1, e=0.5)`: a 1×1 Conv split in two halves, `n` PSABlocks on
/// the second, both halves concatenated and merged by a 1×1 Conv. Needs c1 == c2.
public struct C2PSA: CrossStageModule {
    public static let names = ["C2PSA"]
    public static let signature = Signature([
        .init("c2", "outputChannels", .int(min: 1)),
        .init("e", "expansion", .number, default: .float(0.5)),
    ])
    public static let channelRule = ChannelRule.scaledOutput
    public static let takesRepeats = true

    public var typeName: String { "C2PSA" }
    public var cv1: Conv
    public var cv2: Conv
    public var m: Indexed<PSABlock>
    let hidden: Int

    public init(_ context: LayerContext) throws(LayerError) {
        let (input, output, epsilon, arguments) = (context.inputChannel, context.scaledOutputChannels, context.batchNormEpsilon, context.arguments)
        guard input == output else {
            throw LayerError("needs output channels equal to input channels (assert c1 == c2): input \(input), output \(output)",
                             blame: .argument(0))
        }
        hidden = try hiddenChannels(input, expansion: arguments.double("expansion"), position: arguments.position("expansion"))
        try PSABlock.checkHeads(hidden, position: arguments.position("expansion"))
        cv1 = Conv(input, 2 * hidden, epsilon: epsilon)
        cv2 = Conv(2 * hidden, input, epsilon: epsilon)
        m = Indexed(Array(repeating: PSABlock(hidden, heads: max(hidden / 64, 1), epsilon: epsilon), count: context.repeats))
    }

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        try requireFeatureMap(inputs[0].shape, channels: cv1.conv.inputChannels)
        let halves = try cv1(inputs[0], pass).split(sizes: [hidden, hidden])
        var b = halves[1]
        for block in m.items { b = try block(b, pass) }
        return [try cv2(try .concatenate([halves[0], b]), pass)]
    }
}
