import ModelSpec
import Tensor

// YOLOv10's modules: SCDown, PSA, C2fCIB (CIB, RepVGGDW) and the v10Detect head.

/// Ultralytics `SCDown(c1, c2, k, s)`: a 1×1 Conv to c2, then a linear depthwise k×k Conv with
/// stride s.
public struct SCDown: LayerModule {
    public static let names = ["SCDown"]
    public static let signature = Signature([
        .init("c2", "outputChannels", .int(min: 1)),
        .init("k", "kernelSize", .int(min: 1)),
        .init("s", "stride", .int(min: 1)),
    ])
    public static let channelRule = ChannelRule.scaledOutput

    public var typeName: String { "SCDown" }
    public var cv1: Conv
    public var cv2: Conv

    public init(_ context: LayerContext) throws(LayerError) {
        let (output, arguments, epsilon) = (context.scaledOutputChannels, context.arguments, context.batchNormEpsilon)
        cv1 = Conv(context.inputChannel, output, epsilon: epsilon)
        cv2 = Conv(output, output, kernelSize: arguments.int("kernelSize"), stride: arguments.int("stride"), groups: output,
                   activation: .identity, epsilon: epsilon)
    }

    public var outputChannels: [Int] { [cv2.conv.outputChannels] }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.child("cv1", &cv1)
        visitor.child("cv2", &cv2)
    }

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        try requireFeatureMap(inputs[0].shape, channels: cv1.conv.inputChannels)
        return [try cv2(cv1(inputs[0], pass), pass)]
    }
}

/// Ultralytics `PSA(c1, c2, e=0.5)` (c1 == c2): a 1×1 Conv split in two halves of c = int(c1·e);
/// the second gets attention and a Conv pair (c → 2c → c), each added; both merged by a 1×1 Conv.
public struct PSA: LayerModule {
    public static let names = ["PSA"]
    public static let signature = Signature([
        .init("c2", "outputChannels", .int(min: 1)),
        .init("e", "expansion", .number, default: .float(0.5)),
    ])
    public static let channelRule = ChannelRule.scaledOutput

    public var typeName: String { "PSA" }
    public var cv1: Conv
    public var cv2: Conv
    public var attn: PositionalAttention
    public var ffn: Indexed<Conv>
    let hidden: Int

    public init(_ context: LayerContext) throws(LayerError) {
        let (input, output, arguments, epsilon) = (context.inputChannel, context.scaledOutputChannels, context.arguments, context.batchNormEpsilon)
        guard input == output else {
            throw LayerError("PSA keeps its width (assert c1 == c2): input \(input) channels, c2 \(output) after scaling", blame: .argument(0))
        }
        hidden = try hiddenChannels(input, expansion: arguments.double("expansion"), position: arguments.position("expansion"))
        try PSABlock.checkHeads(hidden, position: arguments.position("expansion"))
        cv1 = Conv(input, 2 * hidden, epsilon: epsilon)
        cv2 = Conv(2 * hidden, input, epsilon: epsilon)
        attn = PositionalAttention(hidden, heads: max(hidden / 64, 1), attentionRatio: 0.5, epsilon: epsilon)
        ffn = Indexed([Conv(hidden, 2 * hidden, epsilon: epsilon), Conv(2 * hidden, hidden, activation: .identity, epsilon: epsilon)])
    }

    public var outputChannels: [Int] { [cv2.conv.outputChannels] }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.child("cv1", &cv1)
        visitor.child("cv2", &cv2)
        visitor.child("attn", &attn)
        visitor.child("ffn", &ffn)
    }

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        try requireFeatureMap(inputs[0].shape, channels: cv1.conv.inputChannels)
        let halves = try cv1(inputs[0], pass).split(sizes: [hidden, hidden])
        var b = halves[1] + (try attn(halves[1], pass))
        b = b + (try ffn.items[1](ffn.items[0](b, pass), pass))
        return [try cv2(try .concatenate([halves[0], b]), pass)]
    }
}

/// Ultralytics `RepVGGDW(ed)`: a linear depthwise 7×7 Conv and 3×3 Conv summed, then its own
/// SiLU. `fuse` folds both BatchNorms and adds the 3×3 kernel into the 7×7's centre, leaving
/// `conv` a plain biased Conv2d.
public struct RepVGGDW: Block {
    public var typeName: String { "RepVGGDW" }
    var conv: Conv?
    var conv1: Conv?
    /// The merged conv after fusion (registered as `conv`).
    var merged: Conv2d?

    init(_ channels: Int, epsilon: Float) {
        conv = Conv(channels, channels, kernelSize: 7, padding: 3, groups: channels, activation: .identity, epsilon: epsilon)
        conv1 = Conv(channels, channels, kernelSize: 3, padding: 1, groups: channels, activation: .identity, epsilon: epsilon)
    }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        if merged != nil {
            visitor.child("conv", &merged!)
        } else {
            visitor.child("conv", &conv, absent: nil)
            visitor.child("conv1", &conv1, absent: nil)
        }
        visitor.leaf("act", "SiLU")
    }

    /// After the children folded their BatchNorms: the 3×3 kernel padded to 7×7 and added.
    public mutating func fuse() {
        guard let large = conv?.conv, let small = conv1?.conv else { return }
        var result = large
        if var weight = large.weight.value, let smallWeight = small.weight.value, let b7 = large.bias?.value, let b3 = small.bias?.value {
            let channels = weight.shape[0]
            for c in 0..<channels {
                for y in 0..<3 {
                    for x in 0..<3 { weight.storage[(c * 7 + y + 2) * 7 + x + 2] += smallWeight.storage[(c * 3 + y) * 3 + x] }
                }
            }
            result.weight.value = weight
            result.bias?.value = b7 + b3
        }
        merged = result
        conv = nil
        conv1 = nil
    }

    func callAsFunction(_ x: Feature, _ pass: Pass) throws(LayerError) -> Feature {
        if let merged { return try merged(x, pass, activation: .silu) }
        return try conv!(x, pass).adding(conv1!(x, pass), activation: .silu)
    }
}

/// Ultralytics `CIB(c1, c2, shortcut=True, e=0.5, lk=False)`: depthwise 3×3, 1×1 to 2c_, a
/// depthwise 3×3 (or RepVGGDW when `lk`), 1×1 to c2, depthwise 3×3; plus the input when
/// `shortcut` and c1 == c2.
public struct CIB: FeatureBlock {
    public var typeName: String { "CIB" }
    var cv1: Sequence
    let adds: Bool

    init(_ inputChannels: Int, _ outputChannels: Int, shortcut: Bool, expansion: Double, largeKernel: Bool, epsilon: Float) {
        let hidden = 2 * Int(Double(outputChannels) * expansion)
        cv1 = Sequence(first: Conv(inputChannels, inputChannels, kernelSize: 3, groups: inputChannels, epsilon: epsilon),
                       expand: Conv(inputChannels, hidden, epsilon: epsilon),
                       repVGG: largeKernel ? RepVGGDW(hidden, epsilon: epsilon) : nil,
                       depthwise: largeKernel ? nil : Conv(hidden, hidden, kernelSize: 3, groups: hidden, epsilon: epsilon),
                       project: Conv(hidden, outputChannels, epsilon: epsilon),
                       last: Conv(outputChannels, outputChannels, kernelSize: 3, groups: outputChannels, epsilon: epsilon))
        adds = shortcut && inputChannels == outputChannels
    }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) { visitor.child("cv1", &cv1) }

    public func callAsFunction(_ x: Feature, _ pass: Pass) throws(LayerError) -> Feature {
        var y = try cv1.expand(cv1.first(x, pass), pass)
        if let repVGG = cv1.repVGG { y = try repVGG(y, pass) } else if let depthwise = cv1.depthwise { y = try depthwise(y, pass) }
        y = try cv1.last(cv1.project(y, pass), pass)
        return adds ? x + y : y
    }

    /// `self.cv1`: the nn.Sequential of five.
    struct Sequence: Block {
        var typeName: String { "Sequential" }
        var first: Conv
        var expand: Conv
        var repVGG: RepVGGDW?
        var depthwise: Conv?
        var project: Conv
        var last: Conv

        mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
            visitor.child("0", &first)
            visitor.child("1", &expand)
            visitor.child("2", &repVGG, absent: nil)
            visitor.child("2", &depthwise, absent: nil)
            visitor.child("3", &project)
            visitor.child("4", &last)
        }
    }
}

/// Ultralytics `C2fCIB(c1, c2, n=1, shortcut=False, lk=False, g=1, e=0.5)`: C2f whose `n` inner
/// blocks are CIBs (e = 1) of the hidden width.
public struct C2fCIB: CrossStageModule {
    public static let names = ["C2fCIB"]
    public static let signature = Signature([
        .init("c2", "outputChannels", .int(min: 1)),
        .init("shortcut", "shortcut", .bool, default: .bool(false)),
        .init("lk", "largeKernel", .bool, default: .bool(false)),
        .init("g", "groups", .int(min: 1), default: .int(1)),
        .init("e", "expansion", .number, default: .float(0.5)),
    ])
    public static let channelRule = ChannelRule.scaledOutput
    public static let takesRepeats = true
    public static let clearsLegacy = true

    public var typeName: String { "C2fCIB" }
    public var cv1: Conv
    public var cv2: Conv
    public var m: Indexed<CIB>
    let hidden: Int

    public init(_ context: LayerContext) throws(LayerError) {
        let (input, output, arguments, epsilon) = (context.inputChannel, context.scaledOutputChannels, context.arguments, context.batchNormEpsilon)
        hidden = try hiddenChannels(output, expansion: arguments.double("expansion"), position: arguments.position("expansion"))
        cv1 = Conv(input, 2 * hidden, epsilon: epsilon)
        cv2 = Conv((2 + context.repeats) * hidden, output, epsilon: epsilon)
        m = Indexed(Array(repeating: CIB(hidden, hidden, shortcut: arguments.bool("shortcut"), expansion: 1.0,
                                         largeKernel: arguments.bool("largeKernel"), epsilon: epsilon),
                          count: context.repeats), typeName: "ModuleList")
    }

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        [try splitAndChain(inputs[0], cv1: cv1, blocks: m, cv2: cv2, hidden: hidden, pass)]
    }
}

/// Ultralytics `v10Detect(nc=80, ch=())`: Detect with one-to-one branches always (`end2end`),
/// 16 DFL bins, and light class branches (depthwise + pointwise pairs). Inference reads the
/// one-to-many branches unless `--end2end` (then the top-k `[B, 300, 6]`).
public struct V10Detect: DetectionHeadModule {
    public static let names = ["v10Detect"]
    public static let signature = Signature([
        .init("nc", "classCount", .int(min: 1), default: .int(80)),
    ])
    public static let channelRule = ChannelRule.channelListInserted(at: 1)
    public static let inputArity = InputArity.atLeast(1)

    public var typeName: String { "v10Detect" }
    public var core: DetectionBranches

    public init(_ context: LayerContext) throws(LayerError) {
        var settings = context
        // v10Detect calls Detect(nc, end2end=True, ch): the one-to-one copies exist whatever the file says
        settings.model.endToEnd = true
        core = try DetectionBranches(settings, classCount: context.arguments.int("classCount"), lightClasses: true)
    }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) { core.visit(&visitor) }

    public mutating func fuse() { core.dropUnusedBranches() }

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        [core.output(try core.raw(inputs, pass))]
    }
}
