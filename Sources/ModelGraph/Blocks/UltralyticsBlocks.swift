import ModelSpec
#if canImport(Glibc)
import Glibc
#endif
import Tensor

// Ultralytics building blocks that are not YAML modules of their own here (Conv is both).

/// Ultralytics `DWConv(c1, c2, k=1, s=1, d=1, act=True)`: a Conv with gcd(c1, c2) groups.
func depthwiseConv(_ inputChannels: Int, _ outputChannels: Int, kernelSize: Int, stride: Int = 1, activation: Activation = .silu,
                   epsilon: Float) -> Conv {
    var conv = Conv(inputChannels, outputChannels, kernelSize: kernelSize, stride: stride,
                    groups: greatestCommonDivisor(inputChannels, outputChannels), activation: activation, epsilon: epsilon)
    conv.typeName = "DWConv"
    return conv
}

/// A hidden width `int(c2 × e)` (Python truncates), checked to be at least 1.
func hiddenChannels(_ output: Int, expansion: Double, position: Int) throws(LayerError) -> Int {
    let hidden = Int(Double(output) * expansion)
    guard hidden >= 1 else {
        throw LayerError("e=\(pythonFloat(expansion)) leaves int(\(output) × e) = \(hidden) hidden channels; need ≥ 1", blame: .argument(position))
    }
    return hidden
}

/// A conv followed by an optional BatchNorm that folds into it (Ultralytics' Conv, the seed's
/// ConvBN, the decoder's input projections).
protocol FoldsBatchNorm: Block {
    var conv: Conv2d { get set }
    var bn: BatchNorm2d? { get set }
}

extension FoldsBatchNorm {
    public mutating func fuse() {
        guard let norm = bn else { return }
        conv.fold(norm)
        bn = nil
    }
}

func greatestCommonDivisor(_ a: Int, _ b: Int) -> Int { b == 0 ? a : greatestCommonDivisor(b, a % b) }

/// Ultralytics `RepConv(c1, c2, k=3, s=1, p=1, act=True, bn=False)` as RepC3 and RepBottleneck build it: a 3×3
/// Conv and a 1×1 Conv (no activation, no identity BatchNorm branch), summed, then SiLU. Fuses
/// into one biased 3×3 conv (`fuse_convs`).
public struct RepConv: Block {
    public var typeName: String { "RepConv" }
    public var conv1: Conv?
    public var conv2: Conv?
    /// The merged conv after fusion.
    public var conv: Conv2d?

    public init(_ channels: Int, epsilon: Float) {
        self.init(channels, channels, epsilon: epsilon)
    }

    /// `RepConv(c1, c2)` (RepBottleneck's first conv).
    public init(_ inputChannels: Int, _ outputChannels: Int, epsilon: Float) {
        conv1 = Conv(inputChannels, outputChannels, kernelSize: 3, padding: 1, activation: .identity, epsilon: epsilon)
        conv2 = Conv(inputChannels, outputChannels, kernelSize: 1, padding: 0, activation: .identity, epsilon: epsilon)
    }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.leaf("act", "SiLU", shared: "RepConv.default_act")
        visitor.child("conv1", &conv1, absent: nil)
        visitor.child("conv2", &conv2, absent: nil)
        visitor.child("conv", &conv, absent: nil)
    }

    /// The 1×1 kernel (both branches already folded) added at the centre of the 3×3.
    public mutating func fuse() {
        guard let three = conv1?.conv, let one = conv2?.conv else { return }
        var merged = three
        if var weight = three.weight.value, let point = one.weight.value, let b3 = three.bias?.value, let b1 = one.bias?.value {
            let (outputs, inputs) = (weight.shape[0], weight.shape[1])
            for o in 0..<outputs {
                for i in 0..<inputs { weight.storage[((o * inputs + i) * 3 + 1) * 3 + 1] += point.storage[o * inputs + i] }
            }
            merged.weight.value = weight
            merged.bias?.value = b3 + b1
        }
        conv = merged
        conv1 = nil
        conv2 = nil
    }

    public func callAsFunction(_ x: Feature, _ pass: Pass) throws(LayerError) -> Feature {
        if let conv { return try conv(x, pass, activation: .silu) }
        return try conv1!(x, pass).adding(conv2!(x, pass), activation: .silu)
    }
}

/// A block with one feature in and one out, as the inner blocks of C2f-style modules are.
protocol FeatureBlock: Block {
    func callAsFunction(_ x: Feature, _ pass: Pass) throws(LayerError) -> Feature
}

/// C2f's forward, which C3k2 inherits: cv1, its output split in two halves, each block applied
/// to the newest piece, every piece concatenated, cv2.
func splitAndChain<Inner: FeatureBlock>(_ x: Feature, cv1: Conv, blocks: Indexed<Inner>, cv2: Conv, hidden: Int,
                                        _ pass: Pass) throws(LayerError) -> Feature {
    try requireFeatureMap(x.shape, channels: cv1.conv.inputChannels)
    var pieces = try cv1(x, pass).split(sizes: [hidden, hidden])
    for block in blocks.items { pieces.append(try block(pieces[pieces.count - 1], pass)) }
    return try cv2(try .concatenate(pieces), pass)
}

/// Ultralytics' cross-stage modules (C2, C2f, C3k2, C2PSA, SPPF, A2C2f): a 1×1 Conv `cv1`, the
/// inner blocks `m`, and a merging 1×1 Conv `cv2` whose width is the module's output; PyTorch
/// registers them cv1, cv2, m.
public protocol CrossStageModule: LayerModule {
    associatedtype Inner: Block
    var cv1: Conv { get set }
    var cv2: Conv { get set }
    var m: Inner { get set }
}

extension CrossStageModule {
    public var outputChannels: [Int] { [cv2.conv.outputChannels] }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.child("cv1", &cv1)
        visitor.child("cv2", &cv2)
        visitor.child("m", &m)
    }
}

/// SPPF's and A2C2f's forward: cv1, `steps` times `step` applied to the newest piece, every
/// piece concatenated, cv2.
func chainAndMerge(_ x: Feature, cv1: Conv, steps: Int, _ step: (Int, Feature) throws(LayerError) -> Feature, cv2: Conv,
                   _ pass: Pass) throws(LayerError) -> Feature {
    try requireFeatureMap(x.shape, channels: cv1.conv.inputChannels)
    var pieces = [try cv1(x, pass)]
    for index in 0..<steps { pieces.append(try step(index, pieces[pieces.count - 1])) }
    return try cv2(try .concatenate(pieces), pass)
}

/// Ultralytics `Bottleneck(c1, c2, shortcut=True, g=1, k=(3, 3), e=0.5)`: two Convs, plus the
/// input when `shortcut` and c1 == c2.
public struct Bottleneck: FeatureBlock {
    public var typeName: String { "Bottleneck" }
    public var cv1: Conv
    public var cv2: Conv
    public let adds: Bool

    public init(_ inputChannels: Int, _ outputChannels: Int, shortcut: Bool = true, groups: Int = 1,
                kernelSizes: (Int, Int) = (3, 3), expansion: Double = 0.5, epsilon: Float) {
        let hidden = Int(Double(outputChannels) * expansion)
        cv1 = Conv(inputChannels, hidden, kernelSize: kernelSizes.0, epsilon: epsilon)
        cv2 = Conv(hidden, outputChannels, kernelSize: kernelSizes.1, groups: groups, epsilon: epsilon)
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

/// Ultralytics `DFL(c1=16)`: the expected value of each box side's distribution over `bins`
/// distances, as a fixed 1×1 conv with weights 0…bins−1 (a parameter, saved and counted).
public struct DFL: Block {
    public var typeName: String { "DFL" }
    public let bins: Int
    public var conv: Conv2d

    public init(bins: Int) {
        self.bins = bins
        conv = Conv2d(bins, 1, kernelSize: 1, bias: false)
        conv.weight.initialization = .computed { Tensor(shape: [1, bins, 1, 1], storage: (0..<bins).map(Float.init)) }
        conv.weight.isTrainable = false
    }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) { visitor.child("conv", &conv) }

    /// [B, 4·bins, A] → [B, 4, A]: softmax over each side's bins, weighted by the conv's weights.
    public func callAsFunction(_ x: Feature, _ pass: Pass) -> Feature {
        let (batch, anchors) = (x.shape[0], x.shape[2])
        // conv(x.view(b, 4, bins, a).transpose(2, 1).softmax(1)).view(b, 4, a), as Ultralytics writes it
        return try! conv(x.reshaped([batch, 4, bins, anchors]).permuted([0, 2, 1, 3]).softmax(axis: 1), Pass()).reshaped([batch, 4, anchors])
    }
}

/// Ultralytics `C3(c1, c2, n=1, shortcut=True, g=1, e=0.5)` and its subclass `C3k(…, k=3)`: two
/// 1×1 Convs side by side, `n` Bottlenecks (e = 1) on the first, concatenated and merged by a
/// 1×1 Conv. C3's Bottlenecks are 1×1 then 3×3; C3k's are k×k twice.
public struct CSPBottleneck: Block {
    public let typeName: String
    public var cv1: Conv
    public var cv2: Conv
    public var cv3: Conv
    public var m: Indexed<Bottleneck>

    public init(_ inputChannels: Int, _ outputChannels: Int, repeats: Int, shortcut: Bool = true, groups: Int = 1,
                expansion: Double = 0.5, kernelSize: Int? = nil, epsilon: Float) {
        typeName = kernelSize == nil ? "C3" : "C3k"
        let hidden = Int(Double(outputChannels) * expansion)
        cv1 = Conv(inputChannels, hidden, epsilon: epsilon)
        cv2 = Conv(inputChannels, hidden, epsilon: epsilon)
        cv3 = Conv(2 * hidden, outputChannels, epsilon: epsilon)
        let kernels = kernelSize.map { ($0, $0) } ?? (1, 3)
        m = Indexed(Array(repeating: Bottleneck(hidden, hidden, shortcut: shortcut, groups: groups, kernelSizes: kernels,
                                                expansion: 1.0, epsilon: epsilon), count: repeats))
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

/// Ultralytics `Attention(dim, num_heads=8, attn_ratio=0.5)`: a 1×1 Conv to per-head q, k
/// (keyDim = int(headDim · attn_ratio) each) and v (headDim), attention over all positions, plus
/// a depthwise 3×3 Conv of v as positional encoding, then a 1×1 Conv. No activations. YOLO12's
/// `AAttn(dim, num_heads, area=1)` is the same with keyDim = headDim, a 7×7 encoding, and
/// attention only within each of `area` runs of consecutive positions (horizontal strips).
public struct PositionalAttention: Block {
    public let typeName: String
    public let heads: Int
    public let headDimension: Int
    public let keyDimension: Int
    /// AAttn's areas (1: every position attends to every other).
    public let areas: Int
    public var qkv: Conv
    public var proj: Conv
    public var pe: Conv

    public init(_ channels: Int, heads: Int, attentionRatio: Double = 0.5, epsilon: Float) {
        let headDimension = channels / heads
        self.init("Attention", channels, heads: heads, keyDimension: Int(Double(headDimension) * attentionRatio), encodingKernel: 3,
                  areas: 1, epsilon: epsilon)
    }

    /// `AAttn(dim, num_heads, area)`.
    public init(areaAttention channels: Int, heads: Int, areas: Int, epsilon: Float) {
        self.init("AAttn", channels, heads: heads, keyDimension: channels / heads, encodingKernel: 7, areas: max(areas, 1), epsilon: epsilon)
    }

    private init(_ typeName: String, _ channels: Int, heads: Int, keyDimension: Int, encodingKernel: Int, areas: Int, epsilon: Float) {
        self.typeName = typeName
        self.heads = heads
        self.areas = areas
        headDimension = channels / heads
        self.keyDimension = keyDimension
        let width = headDimension * heads
        qkv = Conv(channels, width + 2 * keyDimension * heads, activation: .identity, epsilon: epsilon)
        proj = Conv(width, channels, activation: .identity, epsilon: epsilon)
        pe = Conv(width, width, kernelSize: encodingKernel, groups: width, activation: .identity, epsilon: epsilon)
    }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.child("qkv", &qkv)
        visitor.child("proj", &proj)
        visitor.child("pe", &pe)
    }

    public func callAsFunction(_ x: Feature, _ pass: Pass) throws(LayerError) -> Feature {
        let qkvMap = try qkv(x, pass)
        let shape = x.shape
        let positions = shape[2] * shape[3]
        guard positions % areas == 0 else {
            throw LayerError("AAttn splits the \(shape[2])×\(shape[3]) = \(positions) positions into \(areas) areas, which must divide them; choose an input size whose feature maps divide evenly",
                             blame: .row)
        }
        let valueShape = [shape[0], heads * headDimension, shape[2], shape[3]]
        let scale = Float(pow(Double(keyDimension), -0.5))
        let attended: Feature, values: Feature
        if typeName == "AAttn" {
            // Ultralytics' AAttn.forward as program operations: positions split into areas
            let (batch, channels, height, width) = (shape[0], heads * headDimension, shape[2], shape[3])
            let (groups, span) = (batch * areas, positions / areas)
            let tokens = qkvMap.reshaped([batch, 3 * channels, positions]).permuted([0, 2, 1])
                .reshaped([groups, span, heads, 3 * headDimension]).permuted([0, 2, 3, 1])
            let parts = tokens.split(axis: 2, sizes: [headDimension, headDimension, headDimension])
            let (q, k, v) = (parts[0], parts[1], parts[2])
            let scores = q.permuted([0, 1, 3, 2]).matmul(k) * qkvMap.scalar(scale, name: "scale")
            let weights = scores.softmax(axis: 3)
            let mixed = v.matmul(weights.permuted([0, 1, 3, 2])).permuted([0, 3, 1, 2])
            let image = { (t: Feature) in t.reshaped([batch, height, width, channels]).permuted([0, 3, 1, 2]) }
            (attended, values) = (image(mixed), image(v.permuted([0, 3, 1, 2])))
        } else {
            // Ultralytics' Attention.forward as program operations
            let parts = qkvMap.reshaped([shape[0], heads, 2 * keyDimension + headDimension, positions])
                .split(axis: 2, sizes: [keyDimension, keyDimension, headDimension])
            let (q, k, v) = (parts[0], parts[1], parts[2])
            let scores = q.permuted([0, 1, 3, 2]).matmul(k) * qkvMap.scalar(scale, name: "scale")
            let weights = scores.softmax(axis: 3)
            (attended, values) = (v.matmul(weights.permuted([0, 1, 3, 2])).reshaped(valueShape), v.reshaped(valueShape))
        }
        return try proj(attended + pe(values, pass), pass)
    }
}

/// Ultralytics `PSABlock(c, attn_ratio=0.5, num_heads=4, shortcut=True)`: attention, then a
/// 1×1 Conv pair (c → 2c → c, the second linear), each added to its input when `shortcut`.
public struct PSABlock: Block {
    public var typeName: String { "PSABlock" }
    public var attn: PositionalAttention
    public var ffn: Indexed<Conv>
    public let adds: Bool

    public init(_ channels: Int, attentionRatio: Double = 0.5, heads: Int, shortcut: Bool = true, epsilon: Float) {
        attn = PositionalAttention(channels, heads: heads, attentionRatio: attentionRatio, epsilon: epsilon)
        ffn = Indexed([Conv(channels, 2 * channels, epsilon: epsilon),
                       Conv(2 * channels, channels, activation: .identity, epsilon: epsilon)])
        adds = shortcut
    }

    /// Ultralytics gives a PSABlock of c channels max(c // 64, 1) heads; its forward views the
    /// heads' values back as c channels, so c must split evenly.
    static func checkHeads(_ channels: Int, position: Int) throws(LayerError) {
        let heads = max(channels / 64, 1)
        guard channels % heads == 0 else {
            throw LayerError("its PSABlock of \(channels) channels has \(heads) heads (c // 64), which do not divide the channels", blame: .argument(position))
        }
    }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.child("attn", &attn)
        visitor.child("ffn", &ffn)
    }

    public func callAsFunction(_ x: Feature, _ pass: Pass) throws(LayerError) -> Feature {
        let attended = try attn(x, pass)
        let y = adds ? x + attended : attended
        let fed = try ffn.items[1](ffn.items[0](y, pass), pass)
        return adds ? y + fed : fed
    }
}
