import ModelSpec
import Tensor

/// Ultralytics `C2(c1, c2, n=1, shortcut=True, g=1, e=0.5)`: a 1×1 Conv split in two halves,
/// `n` Bottlenecks on the first, concatenated with the second and merged by a 1×1 Conv.
public struct C2: CrossStageModule {
    public static let names = ["C2"]
    public static let signature = Signature([
        .init("c2", "outputChannels", .int(min: 1)),
        .init("shortcut", "shortcut", .bool, default: .bool(true)),
        .init("g", "groups", .int(min: 1), default: .int(1)),
        .init("e", "expansion", .number, default: .float(0.5)),
    ])
    public static let channelRule = ChannelRule.scaledOutput
    public static let takesRepeats = true

    public var typeName: String { "C2" }
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
        cv2 = Conv(2 * hidden, output, epsilon: epsilon)
        m = Indexed(Array(repeating: Bottleneck(hidden, hidden, shortcut: arguments.bool("shortcut"), groups: arguments.int("groups"),
                                                expansion: 1.0, epsilon: epsilon),
                          count: context.repeats))
    }

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        try requireFeatureMap(inputs[0].shape, channels: cv1.conv.inputChannels)
        let halves = try cv1(inputs[0], pass).split(sizes: [hidden, hidden])
        var a = halves[0]
        for bottleneck in m.items { a = try bottleneck(a, pass) }
        return [try cv2(try .concatenate([a, halves[1]]), pass)]
    }
}
