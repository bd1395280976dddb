import ModelSpec
import YAMLFrontEnd
import Tensor

/// Ultralytics `A2C2f(c1, c2, n=1, a2=True, area=1, residual=False, mlp_ratio=2.0, e=0.5, g=1,
/// shortcut=True)` (YOLO12): a 1×1 Conv to c_ = int(c2·e) hidden channels, `n` blocks chained on
/// it — each two ABlocks (area attention + MLP) with `a2`, else a C3k — every piece concatenated
/// and merged by a 1×1 Conv; with `a2` and `residual`, the input plus γ·output (γ per channel).
/// parse_model appends `residual=True, mlp_ratio=1.2` at scales l and x and clears `legacy`.
public struct A2C2f: CrossStageModule {
    public static let names = ["A2C2f"]
    public static let signature = Signature([
        .init("c2", "outputChannels", .int(min: 1)),
        .init("a2", "areaAttention", .bool, default: .bool(true)),
        .init("area", "areas", .int(min: Int.min), default: .int(1)),
        .init("residual", "residual", .bool, default: .bool(false)),
        .init("mlp_ratio", "mlpRatio", .number, default: .float(2.0)),
        .init("e", "expansion", .number, default: .float(0.5)),
        .init("g", "groups", .int(min: 1), default: .int(1)),
        .init("shortcut", "shortcut", .bool, default: .bool(true)),
    ])
    public static let channelRule = ChannelRule.scaledOutput
    public static let takesRepeats = true
    public static let clearsLegacy = true

    /// `args.extend((True, 1.2))` at scales l and x: residual and mlp_ratio after what is written.
    public static func scaleAdjusted(_ arguments: [Argument], scale: String?, at location: SourceLocation) -> [Argument] {
        guard let scale, ["l", "x"].contains(scale) else { return arguments }
        return arguments + [Argument(value: .bool(true), location: location), Argument(value: .float(1.2), location: location)]
    }

    public var typeName: String { "A2C2f" }
    public var cv1: Conv
    public var cv2: Conv
    public var gamma: Parameter?
    public var m: Indexed<InnerBlock>

    public init(_ context: LayerContext) throws(LayerError) {
        let (input, output, epsilon, arguments) = (context.inputChannel, context.scaledOutputChannels, context.batchNormEpsilon, context.arguments)
        let hidden = try hiddenChannels(output, expansion: arguments.double("expansion"), position: arguments.position("expansion"))
        guard hidden % 32 == 0 else {
            throw LayerError("its hidden width int(c2 × e) = \(hidden) must be a multiple of 32 (ABlock's heads are 32 channels each)",
                             blame: .argument(arguments.position("expansion")))
        }
        let attention = arguments.bool("areaAttention")
        cv1 = Conv(input, hidden, epsilon: epsilon)
        cv2 = Conv((1 + context.repeats) * hidden, output, epsilon: epsilon)
        if attention && arguments.bool("residual") {
            guard input == output else {
                throw LayerError("residual adds the input to the output, so input channels (\(input)) must equal output channels (\(output))",
                                 blame: .argument(arguments.position("residual")))
            }
            gamma = Parameter([output], initialization: .computed { Tensor(shape: [output], repeating: 0.01) })
        }
        let block: InnerBlock
        if attention {
            let ratio = arguments.double("mlpRatio")
            guard Int(Double(hidden) * ratio) >= 1 else {
                throw LayerError("mlp_ratio=\(pythonFloat(ratio)) leaves the MLP no channels", blame: .argument(arguments.position("mlpRatio")))
            }
            let areas = arguments.int("areas")
            block = .attention(Indexed(Array(repeating: AreaBlock(hidden, heads: hidden / 32, mlpRatio: ratio, areas: areas, epsilon: epsilon), count: 2)))
        } else {
            let groups = arguments.int("groups")
            try Conv.checkGroups(input: hidden / 2, output: hidden, groups: groups, position: arguments.position("groups"))
            block = .c3k(CSPBottleneck(hidden, hidden, repeats: 2, shortcut: arguments.bool("shortcut"), groups: groups, kernelSize: 3, epsilon: epsilon))
        }
        m = Indexed(Array(repeating: block, count: context.repeats), typeName: "ModuleList")
    }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.parameter("gamma", &gamma)
        visitor.child("cv1", &cv1)
        visitor.child("cv2", &cv2)
        visitor.child("m", &m)
    }

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        let x = inputs[0]
        let y = try chainAndMerge(x, cv1: cv1, steps: m.items.count, { index, piece throws(LayerError) in try m.items[index](piece, pass) }, cv2: cv2, pass)
        guard let gamma else { return [y] }
        // x + gamma.view(-1, 1, 1) * y
        return [x + y * y.constant(gamma, viewedAs: [1, gamma.shape[0], 1, 1])]
    }

    /// One of A2C2f's blocks: `nn.Sequential(ABlock, ABlock)` or a C3k.
    public enum InnerBlock: FeatureBlock {
        case attention(Indexed<AreaBlock>)
        case c3k(CSPBottleneck)

        public var typeName: String {
            switch self {
            case .attention(let blocks): return blocks.typeName
            case .c3k(let block): return block.typeName
            }
        }

        public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
            switch self {
            case .attention(var blocks):
                blocks.visit(&visitor)
                self = .attention(blocks)
            case .c3k(var block):
                block.visit(&visitor)
                self = .c3k(block)
            }
        }

        func callAsFunction(_ x: Feature, _ pass: Pass) throws(LayerError) -> Feature {
            switch self {
            case .attention(let blocks):
                var y = x
                for block in blocks.items { y = try block(y, pass) }
                return y
            case .c3k(let block): return try block(x, pass)
            }
        }
    }
}

/// Ultralytics `ABlock(dim, num_heads, mlp_ratio=1.2, area=1)`: x + AAttn(x), then that plus an
/// MLP of two 1×1 Convs (dim → int(dim·mlp_ratio) → dim, the second linear).
public struct AreaBlock: Block {
    public var typeName: String { "ABlock" }
    public var attn: PositionalAttention
    public var mlp: Indexed<Conv>

    public init(_ channels: Int, heads: Int, mlpRatio: Double, areas: Int, epsilon: Float) {
        attn = PositionalAttention(areaAttention: channels, heads: heads, areas: areas, epsilon: epsilon)
        let hidden = Int(Double(channels) * mlpRatio)
        mlp = Indexed([Conv(channels, hidden, epsilon: epsilon), Conv(hidden, channels, activation: .identity, epsilon: epsilon)])
    }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.child("attn", &attn)
        visitor.child("mlp", &mlp)
    }

    public func callAsFunction(_ x: Feature, _ pass: Pass) throws(LayerError) -> Feature {
        let y = x + (try attn(x, pass))
        return y + (try mlp.items[1](mlp.items[0](y, pass), pass))
    }
}
