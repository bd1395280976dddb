import ModelSpec
import Tensor

/// Ultralytics `C2f(c1, c2, n=1, shortcut=False, g=1, e=0.5)`: a 1×1 Conv split in two halves,
/// `n` Bottlenecks chained on the second, every piece concatenated and merged by a 1×1 Conv.
public struct C2f: CrossStageModule {
    public static let names = ["C2f"]
    public static let signature = Signature([
        .init("c2", "outputChannels", .int(min: 1)),
        .init("shortcut", "shortcut", .bool, default: .bool(false)),
        .init("g", "groups", .int(min: 1), default: .int(1)),
        .init("e", "expansion", .number, default: .float(0.5)),
    ])
    public static let channelRule = ChannelRule.scaledOutput
    public static let takesRepeats = true

    public var typeName: String { "C2f" }
    public var cv1: Conv
    public var cv2: Conv
    public var m: Indexed<Bottleneck>
    let hidden: Int

    public init(_ context: LayerContext) throws(LayerError) {
        let (input, output, epsilon) = (context.inputChannel, context.scaledOutputChannels, context.batchNormEpsilon)
        let arguments = context.arguments
        hidden = try hiddenChannels(output, expansion: arguments.double("expansion"), position: arguments.position("expansion"))
        try Conv.checkGroups(input: hidden, output: hidden, groups: arguments.int("groups"), position: arguments.position("groups"))
        cv1 = Conv(input, 2 * hidden, epsilon: epsilon)
        cv2 = Conv((2 + context.repeats) * hidden, output, epsilon: epsilon)
        m = Indexed(Array(repeating: Bottleneck(hidden, hidden, shortcut: arguments.bool("shortcut"), groups: arguments.int("groups"),
                                                expansion: 1.0, epsilon: epsilon),
                          count: context.repeats), typeName: "ModuleList")
    }

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        [try splitAndChain(inputs[0], cv1: cv1, blocks: m, cv2: cv2, hidden: hidden, pass)]
    }
}
