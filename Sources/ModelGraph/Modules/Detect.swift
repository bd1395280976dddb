import ModelSpec
import Tensor

/// Ultralytics 8.4 `Detect(nc=80, reg_max=16, end2end=False, ch=())`: per level a box branch
/// (two 3×3 Convs, a 1×1 Conv2d to 4·reg_max) and a class branch (legacy: two 3×3 Convs; else
/// depthwise + pointwise pairs; a 1×1 Conv2d to nc). Eval output `[B, 4 + nc, anchors]`: boxes
/// (cx, cy, w, h) in input pixels from the DFL distances around each anchor, then sigmoid scores.
public struct Detect: LayerModule, StrideDependent {
    public static let names = ["Detect"]
    public static let signature = Signature([
        .init("nc", "classCount", .int(min: 1), default: .int(80)),
    ])
    public static let channelRule = ChannelRule.detectionHead
    public static let inputArity = InputArity.atLeast(1)

    public var typeName: String { "Detect" }
    public let classCount: Int
    public let regressionMaximum: Int
    public var cv2: Indexed<HeadBranch>
    public var cv3: Indexed<HeadBranch>
    public var dfl: DFL?
    /// Input pixels per feature-map cell of each level, as Ultralytics measures them (256×256 probe).
    public var strides: [Float] = []
    let inputChannels: [Int]

    public init(_ context: LayerContext) throws(LayerError) {
        classCount = context.arguments.int("classCount")
        regressionMaximum = context.model.regressionMaximum
        inputChannels = context.inputChannels
        guard context.model.endToEnd != true else {
            throw LayerError("end2end heads (one-to-one branches) are not supported yet", blame: .module)
        }
        guard regressionMaximum >= 1 else {
            throw LayerError("reg_max must be at least 1, found \(regressionMaximum)", blame: .module)
        }
        let (epsilon, bins, classes, legacy) = (context.batchNormEpsilon, regressionMaximum, classCount, context.model.legacy)
        let (boxWidth, classWidth) = (max(16, inputChannels[0] / 4, 4 * regressionMaximum), max(inputChannels[0], min(classCount, 100)))
        cv2 = Indexed(inputChannels.map { channels in
            HeadBranch(convs: [Conv(channels, boxWidth, kernelSize: 3, epsilon: epsilon), Conv(boxWidth, boxWidth, kernelSize: 3, epsilon: epsilon)],
                       output: Conv2d(boxWidth, 4 * bins, kernelSize: 1))
        }, typeName: "ModuleList")
        cv3 = Indexed(inputChannels.map { channels in
            legacy
                ? HeadBranch(convs: [Conv(channels, classWidth, kernelSize: 3, epsilon: epsilon), Conv(classWidth, classWidth, kernelSize: 3, epsilon: epsilon)],
                             output: Conv2d(classWidth, classes, kernelSize: 1))
                : HeadBranch(pairs: [[depthwiseConv(channels, channels, kernelSize: 3, epsilon: epsilon), Conv(channels, classWidth, epsilon: epsilon)],
                                     [depthwiseConv(classWidth, classWidth, kernelSize: 3, epsilon: epsilon), Conv(classWidth, classWidth, epsilon: epsilon)]],
                             output: Conv2d(classWidth, classes, kernelSize: 1))
        }, typeName: "ModuleList")
        dfl = regressionMaximum > 1 ? DFL(bins: regressionMaximum) : nil
    }

    /// Channels of the eval output: 4 box values and the class scores.
    public var outputChannels: [Int] { [4 + classCount] }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.child("cv2", &cv2)
        visitor.child("cv3", &cv3)
        visitor.child("dfl", &dfl, absent: "Identity")
    }

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        try requireLevels(inputs.map(\.shape), channels: inputChannels)
        let batch = inputs[0].shape[0]
        let anchors = inputs.reduce(0) { $0 + $1.shape[2] * $1.shape[3] }
        var boxes = [Feature](), scores = [Feature]()
        for (level, input) in inputs.enumerated() { boxes.append(try cv2.items[level](input, pass)) }
        for (level, input) in inputs.enumerated() { scores.append(try cv3.items[level](input, pass)) }
        func flattened(_ maps: [Feature], _ channels: Int) throws(LayerError) -> Feature {
            try .concatenate(maps.map { map in map.map(shape: [batch, channels, map.shape[2] * map.shape[3]]) { $0.reshaped([batch, channels, map.shape[2] * map.shape[3]]) } }, axis: 2)
        }
        let distributions = try flattened(boxes, 4 * regressionMaximum)
        let distances = dfl.map { $0(distributions, pass) } ?? distributions
        let output = [batch, 4 + classCount, anchors]
        guard let distances = distances.tensor, let logits = try flattened(scores, classCount).tensor else { return [Feature(shape: output)] }
        precondition(strides.count == inputs.count, "Detect strides not set by the builder")
        return [Feature(Detect.decode(distances: distances, logits: logits, levels: inputs.map { ($0.shape[2], $0.shape[3]) }, strides: strides))]
    }

    /// `make_anchors` (cell centres, offset 0.5) and `dist2bbox(xywh=True)` × stride, then the
    /// sigmoid scores: [B, 4 + nc, A].
    static func decode(distances: Tensor, logits: Tensor, levels: [(height: Int, width: Int)], strides: [Float]) -> Tensor {
        let (batch, classes, anchors) = (logits.shape[0], logits.shape[1], logits.shape[2])
        var points = [(x: Float, y: Float, stride: Float)]()
        points.reserveCapacity(anchors)
        for (level, size) in levels.enumerated() {
            for y in 0..<size.height {
                for x in 0..<size.width { points.append((Float(x) + 0.5, Float(y) + 0.5, strides[level])) }
            }
        }
        return Tensor(shape: [batch, 4 + classes, anchors]) { out in
            distances.storage.withUnsafeBufferPointer { d in
                for n in 0..<batch {
                    let source = n * 4 * anchors, target = n * (4 + classes) * anchors
                    for a in 0..<anchors {
                        let (left, top, right, bottom) = (d[source + a], d[source + anchors + a], d[source + 2 * anchors + a], d[source + 3 * anchors + a])
                        let point = points[a]
                        let (x1, y1, x2, y2) = (point.x - left, point.y - top, point.x + right, point.y + bottom)
                        out[target + a] = (x1 + x2) / 2 * point.stride
                        out[target + anchors + a] = (y1 + y2) / 2 * point.stride
                        out[target + 2 * anchors + a] = (x2 - x1) * point.stride
                        out[target + 3 * anchors + a] = (y2 - y1) * point.stride
                    }
                }
            }
            let scores = logits.activated(.sigmoid)
            scores.storage.withUnsafeBufferPointer { s in
                for n in 0..<batch {
                    for i in 0..<(classes * anchors) { out[n * (4 + classes) * anchors + 4 * anchors + i] = s[n * classes * anchors + i] }
                }
            }
        }
    }
}

/// One level's branch of a Detect head: `nn.Sequential(Conv, Conv, Conv2d)`, or with non-legacy
/// class branches `nn.Sequential(Sequential(DWConv, Conv), Sequential(DWConv, Conv), Conv2d)`.
public struct HeadBranch: Block {
    public var typeName: String { "Sequential" }
    public var convs: [Conv] = []
    public var pairs: [Indexed<Conv>] = []
    public var output: Conv2d

    init(convs: [Conv], output: Conv2d) {
        self.convs = convs
        self.output = output
    }

    init(pairs: [[Conv]], output: Conv2d) {
        self.pairs = pairs.map { Indexed($0) }
        self.output = output
    }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        for index in convs.indices { visitor.child(String(index), &convs[index]) }
        for index in pairs.indices { visitor.child(String(index), &pairs[index]) }
        visitor.child(String(convs.count + pairs.count), &output)
    }

    public func callAsFunction(_ x: Feature, _ pass: Pass) throws(LayerError) -> Feature {
        var y = x
        for conv in convs { y = try conv(y, pass) }
        for pair in pairs { for conv in pair.items { y = try conv(y, pass) } }
        return try output(y, pass)
    }
}

/// A module whose forward needs each input level's stride (input pixels per cell), which
/// Ultralytics measures once with a 256×256 probe; the builder sets them.
protocol StrideDependent {
    var strides: [Float] { get set }
}
