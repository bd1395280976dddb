import ModelSpec
import YAMLFrontEnd
import Tensor

/// Ultralytics `C3k2(c1, c2, n=1, c3k=False, e=0.5, attn=False, g=1, shortcut=True)`: C2f's
/// split-and-chain with each inner block a Bottleneck, a C3k (`c3k`), or a Bottleneck followed
/// by a PSABlock (`attn`). parse_model sets `c3k` at scales m, l and x and clears `legacy`.
public struct C3k2: CrossStageModule {
    public static let names = ["C3k2"]
    public static let signature = Signature([
        .init("c2", "outputChannels", .int(min: 1)),
        .init("c3k", "c3k", .bool, default: .bool(false)),
        .init("e", "expansion", .number, default: .float(0.5)),
        .init("attn", "attention", .bool, default: .bool(false)),
        .init("g", "groups", .int(min: 1), default: .int(1)),
        .init("shortcut", "shortcut", .bool, default: .bool(true)),
    ])
    public static let channelRule = ChannelRule.scaledOutput
    public static let takesRepeats = true
    public static let clearsLegacy = true

    /// `args[3:4] = [True]` after c1, c2 and n are in place: c3k becomes True (written or not).
    public static func scaleAdjusted(_ arguments: [Argument], scale: String?, at location: SourceLocation) -> [Argument] {
        guard let scale, ["m", "l", "x"].contains(scale) else { return arguments }
        return Array(arguments.prefix(1)) + [Argument(value: .bool(true), location: arguments.dropFirst().first?.location ?? location)]
            + arguments.dropFirst(2)
    }

    public var typeName: String { "C3k2" }
    public var cv1: Conv
    public var cv2: Conv
    public var m: Indexed<InnerBlock>
    let hidden: Int

    public init(_ context: LayerContext) throws(LayerError) {
        let (input, output, epsilon, arguments) = (context.inputChannel, context.scaledOutputChannels, context.batchNormEpsilon, context.arguments)
        hidden = try hiddenChannels(output, expansion: arguments.double("expansion"), position: arguments.position("expansion"))
        let (groups, shortcut) = (arguments.int("groups"), arguments.bool("shortcut"))
        try Conv.checkGroups(input: hidden / 2, output: hidden, groups: groups, position: arguments.position("groups"))
        cv1 = Conv(input, 2 * hidden, epsilon: epsilon)
        cv2 = Conv((2 + context.repeats) * hidden, output, epsilon: epsilon)
        let block: InnerBlock
        if arguments.bool("attention") {
            try PSABlock.checkHeads(hidden, position: arguments.position("expansion"))
            block = .attention(Bottleneck(hidden, hidden, shortcut: shortcut, groups: groups, epsilon: epsilon),
                               PSABlock(hidden, heads: max(hidden / 64, 1), epsilon: epsilon))
        } else if arguments.bool("c3k") {
            block = .c3k(CSPBottleneck(hidden, hidden, repeats: 2, shortcut: shortcut, groups: groups, kernelSize: 3, epsilon: epsilon))
        } else {
            block = .bottleneck(Bottleneck(hidden, hidden, shortcut: shortcut, groups: groups, epsilon: epsilon))
        }
        m = Indexed(Array(repeating: block, count: context.repeats), typeName: "ModuleList")
    }

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        [try splitAndChain(inputs[0], cv1: cv1, blocks: m, cv2: cv2, hidden: hidden, pass)]
    }

    /// One of C3k2's inner blocks: the block itself, or `nn.Sequential(Bottleneck, PSABlock)`.
    public enum InnerBlock: FeatureBlock {
        case bottleneck(Bottleneck)
        case c3k(CSPBottleneck)
        case attention(Bottleneck, PSABlock)

        public var typeName: String {
            switch self {
            case .bottleneck(let block): return block.typeName
            case .c3k(let block): return block.typeName
            case .attention: return "Sequential"
            }
        }

        public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
            switch self {
            case .bottleneck(var block):
                block.visit(&visitor)
                self = .bottleneck(block)
            case .c3k(var block):
                block.visit(&visitor)
                self = .c3k(block)
            case .attention(var bottleneck, var attention):
                visitor.child("0", &bottleneck)
                visitor.child("1", &attention)
                self = .attention(bottleneck, attention)
            }
        }

        func callAsFunction(_ x: Feature, _ pass: Pass) throws(LayerError) -> Feature {
            switch self {
            case .bottleneck(let block): return try block(x, pass)
            case .c3k(let block): return try block(x, pass)
            case .attention(let bottleneck, let attention): return try attention(bottleneck(x, pass), pass)
            }
        }
    }
}
