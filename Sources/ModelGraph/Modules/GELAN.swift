import ModelSpec
import Tensor

// YOLOv9's GELAN modules: RepNCSPELAN4, ELAN1, SPPELAN, and the downsamplers AConv and ADown.

/// Ultralytics `RepBottleneck(c1, c2, shortcut=True, g=1, k=(3, 3), e=0.5)`: Bottleneck with a
/// RepConv (3×3 + 1×1 branches, fused into one 3×3) as its first conv.
public struct RepBottleneck: FeatureBlock {
    public var typeName: String { "RepBottleneck" }
    public var cv1: RepConv
    public var cv2: Conv
    public let adds: Bool

    init(_ inputChannels: Int, _ outputChannels: Int, shortcut: Bool, groups: Int = 1, expansion: Double, epsilon: Float) {
        let hidden = Int(Double(outputChannels) * expansion)
        cv1 = RepConv(inputChannels, hidden, epsilon: epsilon)
        cv2 = Conv(hidden, outputChannels, kernelSize: 3, groups: groups, epsilon: epsilon)
        adds = shortcut && inputChannels == outputChannels
    }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.child("cv1", &cv1)
        visitor.child("cv2", &cv2)
    }

    public func callAsFunction(_ x: Feature, _ pass: Pass) throws(LayerError) -> Feature {
        let y = try cv2(cv1(x, pass), pass)
        return adds ? x + y : y
    }
}

/// Ultralytics `RepCSP(c1, c2, n=1, shortcut=True, g=1, e=0.5)`: C3 whose `n` inner blocks are
/// RepBottlenecks (e = 1).
public struct RepCSP: FeatureBlock {
    public var typeName: String { "RepCSP" }
    public var cv1: Conv
    public var cv2: Conv
    public var cv3: Conv
    public var m: Indexed<RepBottleneck>

    init(_ inputChannels: Int, _ outputChannels: Int, repeats: Int, epsilon: Float) {
        let hidden = outputChannels / 2
        cv1 = Conv(inputChannels, hidden, epsilon: epsilon)
        cv2 = Conv(inputChannels, hidden, epsilon: epsilon)
        cv3 = Conv(2 * hidden, outputChannels, epsilon: epsilon)
        m = Indexed(Array(repeating: RepBottleneck(hidden, hidden, shortcut: true, expansion: 1, epsilon: epsilon), count: repeats))
    }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.child("cv1", &cv1)
        visitor.child("cv2", &cv2)
        visitor.child("cv3", &cv3)
        visitor.child("m", &m)
    }

    public func callAsFunction(_ x: Feature, _ pass: Pass) throws(LayerError) -> Feature {
        var y = try cv1(x, pass)
        for bottleneck in m.items { y = try bottleneck(y, pass) }
        return try cv3(try .concatenate([y, try cv2(x, pass)]), pass)
    }
}

/// RepNCSPELAN4's `cv2` and `cv3`: nn.Sequential(RepCSP(…, n), Conv 3×3).
public struct RepCSPStage: FeatureBlock {
    public var typeName: String { "Sequential" }
    var csp: RepCSP
    var conv: Conv

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.child("0", &csp)
        visitor.child("1", &conv)
    }

    public func callAsFunction(_ x: Feature, _ pass: Pass) throws(LayerError) -> Feature { try conv(csp(x, pass), pass) }
}

/// The ELAN forward: cv1, its output in two chunks (torch.chunk: the first gets the odd channel),
/// each stage applied to the newest piece, every piece concatenated, cv4.
func efficientLayerAggregation<Stage: FeatureBlock>(_ x: Feature, cv1: Conv, stages: [Stage], cv4: Conv, _ pass: Pass) throws(LayerError) -> Feature {
    try requireFeatureMap(x.shape, channels: cv1.conv.inputChannels)
    let width = cv1.conv.outputChannels
    guard width >= 2 else { throw LayerError("c3 = \(width) cannot be chunked in two (torch.chunk gives one piece)", blame: .argument(1)) }
    var pieces = try cv1(x, pass).split(sizes: [(width + 1) / 2, width / 2])
    for stage in stages { pieces.append(try stage(pieces[pieces.count - 1], pass)) }
    return try cv4(try .concatenate(pieces), pass)
}

/// YOLOv9's ELAN modules (RepNCSPELAN4, ELAN1): `cv1` split in two, stages `cv2` and `cv3`
/// chained on the second half, `cv4` merging the four pieces; PyTorch registers them in order.
public protocol AggregationModule: LayerModule {
    associatedtype Stage: Block
    var cv1: Conv { get set }
    var cv2: Stage { get set }
    var cv3: Stage { get set }
    var cv4: Conv { get set }
}

extension AggregationModule {
    public var outputChannels: [Int] { [cv4.conv.outputChannels] }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.child("cv1", &cv1)
        visitor.child("cv2", &cv2)
        visitor.child("cv3", &cv3)
        visitor.child("cv4", &cv4)
    }
}

/// Ultralytics `RepNCSPELAN4(c1, c2, c3, c4, n=1)`: a 1×1 Conv to c3 split in two, then two
/// stages (RepCSP to c4 with n RepBottlenecks, a 3×3 Conv) chained on the second half, all four
/// pieces merged by a 1×1 Conv to c2. Only c2 is scaled.
public struct RepNCSPELAN4: AggregationModule {
    public static let names = ["RepNCSPELAN4"]
    public static let signature = Signature([
        .init("c2", "outputChannels", .int(min: 1)),
        .init("c3", "splitChannels", .int(min: 1)),
        .init("c4", "stageChannels", .int(min: 1)),
        .init("n", "repeats", .int(min: 1), default: .int(1)),
    ])
    public static let channelRule = ChannelRule.scaledOutput

    public var typeName: String { "RepNCSPELAN4" }
    public var cv1: Conv
    public var cv2: RepCSPStage
    public var cv3: RepCSPStage
    public var cv4: Conv

    public init(_ context: LayerContext) throws(LayerError) {
        let (arguments, epsilon) = (context.arguments, context.batchNormEpsilon)
        let (split, stage, repeats) = (arguments.int("splitChannels"), arguments.int("stageChannels"), arguments.int("repeats"))
        cv1 = Conv(context.inputChannel, split, epsilon: epsilon)
        cv2 = RepCSPStage(csp: RepCSP(split / 2, stage, repeats: repeats, epsilon: epsilon), conv: Conv(stage, stage, kernelSize: 3, epsilon: epsilon))
        cv3 = RepCSPStage(csp: RepCSP(stage, stage, repeats: repeats, epsilon: epsilon), conv: Conv(stage, stage, kernelSize: 3, epsilon: epsilon))
        cv4 = Conv(split + 2 * stage, context.scaledOutputChannels, epsilon: epsilon)
    }

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        [try efficientLayerAggregation(inputs[0], cv1: cv1, stages: [cv2, cv3], cv4: cv4, pass)]
    }
}

/// Ultralytics `ELAN1(c1, c2, c3, c4)` (YOLOv9t/s): RepNCSPELAN4 with plain 3×3 Convs as its two
/// stages.
public struct ELAN1: AggregationModule {
    public static let names = ["ELAN1"]
    public static let signature = Signature([
        .init("c2", "outputChannels", .int(min: 1)),
        .init("c3", "splitChannels", .int(min: 1)),
        .init("c4", "stageChannels", .int(min: 1)),
    ])
    public static let channelRule = ChannelRule.scaledOutput

    public var typeName: String { "ELAN1" }
    public var cv1: Conv
    public var cv2: Conv
    public var cv3: Conv
    public var cv4: Conv

    public init(_ context: LayerContext) throws(LayerError) {
        let (arguments, epsilon) = (context.arguments, context.batchNormEpsilon)
        let (split, stage) = (arguments.int("splitChannels"), arguments.int("stageChannels"))
        cv1 = Conv(context.inputChannel, split, epsilon: epsilon)
        cv2 = Conv(split / 2, stage, kernelSize: 3, epsilon: epsilon)
        cv3 = Conv(stage, stage, kernelSize: 3, epsilon: epsilon)
        cv4 = Conv(split + 2 * stage, context.scaledOutputChannels, epsilon: epsilon)
    }

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        [try efficientLayerAggregation(inputs[0], cv1: cv1, stages: [cv2, cv3], cv4: cv4, pass)]
    }
}

/// Ultralytics `SPPELAN(c1, c2, c3, k=5)`: a 1×1 Conv to c3, three chained k×k max pools
/// (stride 1, same size), all four concatenated and merged by a 1×1 Conv to c2.
public struct SPPELAN: LayerModule {
    public static let names = ["SPPELAN"]
    public static let signature = Signature([
        .init("c2", "outputChannels", .int(min: 1)),
        .init("c3", "hiddenChannels", .int(min: 1)),
        .init("k", "kernelSize", .int(min: 1), default: .int(5)),
    ])
    public static let channelRule = ChannelRule.scaledOutput

    public var typeName: String { "SPPELAN" }
    public var cv1: Conv
    public var cv2: MaxPool2d
    public var cv3: MaxPool2d
    public var cv4: MaxPool2d
    public var cv5: Conv

    public init(_ context: LayerContext) throws(LayerError) {
        let (arguments, epsilon) = (context.arguments, context.batchNormEpsilon)
        let (hidden, kernel) = (arguments.int("hiddenChannels"), arguments.int("kernelSize"))
        guard kernel % 2 == 1 else {
            throw LayerError("pooling kernel \(kernel) is even: each pool grows the map by one and the pieces cannot be concatenated (torch.cat)",
                             blame: .argument(2))
        }
        cv1 = Conv(context.inputChannel, hidden, epsilon: epsilon)
        let pool = MaxPool2d(kernelSize: kernel, stride: 1, padding: kernel / 2)
        (cv2, cv3, cv4) = (pool, pool, pool)
        cv5 = Conv(4 * hidden, context.scaledOutputChannels, epsilon: epsilon)
    }

    public var outputChannels: [Int] { [cv5.conv.outputChannels] }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.child("cv1", &cv1)
        visitor.child("cv2", &cv2)
        visitor.child("cv3", &cv3)
        visitor.child("cv4", &cv4)
        visitor.child("cv5", &cv5)
    }

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        try requireFeatureMap(inputs[0].shape, channels: cv1.conv.inputChannels)
        var pieces = [try cv1(inputs[0], pass)]
        for pool in [cv2, cv3, cv4] { pieces.append(try pool(pieces[pieces.count - 1])) }
        return [try cv5(try .concatenate(pieces), pass)]
    }
}

extension Feature {
    /// `F.avg_pool2d(x, 2, 1, 0)`: AConv's and ADown's smoothing, one row and column smaller.
    func smoothed() throws(LayerError) -> Feature {
        guard shape[2] >= 2, shape[3] >= 2 else {
            throw LayerError("a 2×2 average pool does not fit the \(shape[2])×\(shape[3]) input \(describeShape(shape))", blame: .row)
        }
        return averagePooled(kernelSize: 2, stride: 1)
    }
}

/// Ultralytics `AConv(c1, c2)` (YOLOv9t/s/m): a 2×2 stride-1 average pool, then a 3×3 stride-2 Conv.
public struct AConv: LayerModule {
    public static let names = ["AConv"]
    public static let signature = Signature([.init("c2", "outputChannels", .int(min: 1))])
    public static let channelRule = ChannelRule.scaledOutput

    public var typeName: String { "AConv" }
    public var cv1: Conv

    public init(_ context: LayerContext) throws(LayerError) {
        cv1 = Conv(context.inputChannel, context.scaledOutputChannels, kernelSize: 3, stride: 2, padding: 1, epsilon: context.batchNormEpsilon)
    }

    public var outputChannels: [Int] { [cv1.conv.outputChannels] }
    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) { visitor.child("cv1", &cv1) }

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        try requireFeatureMap(inputs[0].shape, channels: cv1.conv.inputChannels)
        return [try cv1(try inputs[0].smoothed(), pass)]
    }
}

/// Ultralytics `ADown(c1, c2)` (YOLOv9c/e): a 2×2 stride-1 average pool, then its channels in two
/// halves — a 3×3 stride-2 Conv on the first, a 3×3 stride-2 max pool and a 1×1 Conv on the
/// second — each to c2 // 2, concatenated.
public struct ADown: LayerModule {
    public static let names = ["ADown"]
    public static let signature = Signature([.init("c2", "outputChannels", .int(min: 1))])
    public static let channelRule = ChannelRule.scaledOutput

    public var typeName: String { "ADown" }
    public var cv1: Conv
    public var cv2: Conv
    let inputChannels: Int

    public init(_ context: LayerContext) throws(LayerError) {
        inputChannels = context.inputChannel
        let (half, epsilon) = (context.scaledOutputChannels / 2, context.batchNormEpsilon)
        cv1 = Conv(inputChannels / 2, half, kernelSize: 3, stride: 2, padding: 1, epsilon: epsilon)
        cv2 = Conv(inputChannels / 2, half, kernelSize: 1, stride: 1, padding: 0, epsilon: epsilon)
        // torch.chunk gives an odd channel to the first half, which cv1 (built for c1 // 2) refuses
        guard inputChannels % 2 == 0 else {
            throw LayerError("splits its \(inputChannels) input channels in two halves; an odd count leaves \((inputChannels + 1) / 2) for a Conv built for \(inputChannels / 2)",
                             blame: .from(nil))
        }
    }

    public var outputChannels: [Int] { [2 * cv1.conv.outputChannels] }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.child("cv1", &cv1)
        visitor.child("cv2", &cv2)
    }

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        try requireFeatureMap(inputs[0].shape, channels: inputChannels)
        let halves = try inputs[0].smoothed().split(sizes: [inputChannels / 2, inputChannels / 2])
        let pooled = try MaxPool2d(kernelSize: 3, stride: 2, padding: 1)(halves[1])
        return [try .concatenate([try cv1(halves[0], pass), try cv2(pooled, pass)])]
    }
}

extension Conv: FeatureBlock {}
