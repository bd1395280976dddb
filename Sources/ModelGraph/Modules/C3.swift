import ModelSpec
import Tensor

/// Ultralytics `C3(c1, c2, n=1, shortcut=True, g=1, e=0.5)` (YOLOv5): two 1×1 Convs side by side,
/// `n` Bottlenecks (1×1 then 3×3) on the first, concatenated with the second and merged by `cv3`.
public struct C3: LayerModule {
    public static let names = ["C3"]
    /// C3's constructor takes C2's arguments.
    public static let signature = C2.signature
    public static let channelRule = ChannelRule.scaledOutput
    public static let takesRepeats = true

    public var typeName: String { block.typeName }
    var block: CSPBottleneck

    public init(_ context: LayerContext) throws(LayerError) {
        let (input, output, arguments) = (context.inputChannel, context.scaledOutputChannels, context.arguments)
        let expansion = arguments.double("expansion")
        let hidden = try hiddenChannels(output, expansion: expansion, position: arguments.position("expansion"))
        try Conv.checkGroups(input: hidden, output: hidden, groups: arguments.int("groups"), position: arguments.position("groups"))
        block = CSPBottleneck(input, output, repeats: context.repeats, shortcut: arguments.bool("shortcut"), groups: arguments.int("groups"),
                              expansion: expansion, epsilon: context.batchNormEpsilon)
    }

    public var outputChannels: [Int] { [block.cv3.conv.outputChannels] }
    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) { block.visit(&visitor) }

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        try requireFeatureMap(inputs[0].shape, channels: block.cv1.conv.inputChannels)
        return [try block(inputs[0], pass)]
    }
}
