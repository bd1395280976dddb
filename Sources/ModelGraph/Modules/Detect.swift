import ModelSpec
import Tensor

/// Ultralytics 8.4 `Detect(nc=80, reg_max=16, end2end=False, ch=())`: per level a box branch
/// (two 3×3 Convs, a 1×1 Conv2d to 4·reg_max) and a class branch (legacy: two 3×3 Convs; else
/// depthwise + pointwise pairs; a 1×1 Conv2d to nc). Eval output `[B, 4 + nc, anchors]`: boxes
/// (cx, cy, w, h) in input pixels from the DFL distances around each anchor, then sigmoid scores;
/// with `--end2end` on a head with one-to-one branches, the top-k `[B, 300, 6]`.
public struct Detect: DetectionHeadModule {
    public static let names = ["Detect"]
    public static let signature = Signature([
        .init("nc", "classCount", .int(min: 1), default: .int(80)),
    ])
    public static let channelRule = ChannelRule.detectionHead(scaledWidthAt: nil)
    public static let inputArity = InputArity.atLeast(1)

    public var typeName: String { "Detect" }
    public var core: DetectionBranches

    public init(_ context: LayerContext) throws(LayerError) {
        core = try DetectionBranches(context, classCount: context.arguments.int("classCount"))
    }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) { core.visit(&visitor) }

    public mutating func fuse() { core.dropUnusedBranches() }

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        let raw = try core.raw(inputs, pass)
        return [core.output(raw)]
    }
}

/// A head of the Detect family (Detect, Segment, Pose, OBB and their YOLO26 forms): its shared
/// branches and the strides the builder measures for them.
public protocol DetectionHeadModule: LayerModule, StrideDependent {
    var core: DetectionBranches { get set }
    /// Values per anchor the head appends after the scores (mask coefficients, keypoints, angles).
    var extraChannels: Int { get }
}

extension DetectionHeadModule {
    public var classCount: Int { core.classCount }
    /// Input pixels per feature-map cell of each level, as Ultralytics measures them (256×256 probe).
    public var strides: [Float] {
        get { core.strides }
        set { core.strides = newValue }
    }
    public var extraChannels: Int { 0 }
    /// Channels per anchor of the eval output (heads end models: Ultralytics leaves the previous
    /// row's channels for a row after one).
    public var outputChannels: [Int] { [core.outputChannels + extraChannels] }
}

/// A per-level branch list and, for `end2end` heads, its one-to-one copy (`one2one_<name>`).
/// Inference reads one of them; Ultralytics' `Detect.fuse` deletes the other.
public struct BranchPair<Branch: Block>: Sendable {
    public var oneToMany: Branch?
    public var oneToOne: Branch?
    let usesOneToOne: Bool

    /// `copy` is the one-to-one branch (`copy.deepcopy` of `branch`), nil without end2end.
    init(_ branch: Branch, copy: Branch?, usesOneToOne: Bool) {
        oneToMany = branch
        oneToOne = copy
        self.usesOneToOne = usesOneToOne && copy != nil
    }

    /// The branch inference uses (both exist until fusion removes the other).
    var active: Branch {
        guard let branch = usesOneToOne ? oneToOne : oneToMany else { preconditionFailure("the active head branch was fused away") }
        return branch
    }

    /// The branch inference does not read, while both exist: Ultralytics' end2end heads run both
    /// in eval before `fuse()`, so thop counts it.
    var inactive: Branch? {
        guard oneToMany != nil, oneToOne != nil else { return nil }
        return usesOneToOne ? oneToMany : oneToOne
    }

    mutating func dropUnused() {
        guard oneToOne != nil else { return }
        if usesOneToOne { oneToMany = nil } else { oneToOne = nil }
    }

    mutating func visitOneToMany<V: BlockVisitor>(_ name: String, _ visitor: inout V) { visitor.child(name, &oneToMany, absent: nil) }
    mutating func visitOneToOne<V: BlockVisitor>(_ name: String, _ visitor: inout V) { visitor.child("one2one_" + name, &oneToOne, absent: nil) }
    /// `name` then `one2one_<name>`, for a branch the head registers after its Detect branches.
    mutating func visitBoth<V: BlockVisitor>(_ name: String, _ visitor: inout V) {
        visitOneToMany(name, &visitor)
        visitOneToOne(name, &visitor)
    }
}

/// What every Detect-family head shares: box (`cv2`) and class (`cv3`) branches per level, `dfl`,
/// their one-to-one copies when the file sets `end2end: True`, and the decoding of Ultralytics'
/// `_inference` (anchors, distances to boxes, sigmoid scores) and `postprocess` (top-k).
public struct DetectionBranches: Sendable {
    public let classCount: Int
    public let regressionMaximum: Int
    let inputChannels: [Int]
    public var cv2: BranchPair<Indexed<HeadBranch>>
    public var cv3: BranchPair<Indexed<HeadBranch>>
    public var dfl: DFL?
    /// The head has one-to-one branches (`end2end: True` in the file).
    public let hasOneToOne: Bool
    /// Inference reads the one-to-one branches and returns the top-k (`model.end2end = True`).
    public let isEndToEnd: Bool
    /// Rows of the end-to-end output (`max_det`).
    static let maximumDetections = 300
    public var strides: [Float] = []

    /// `lightClasses`: v10Detect's class branches (depthwise + pointwise pairs of plain Convs,
    /// whatever `legacy` says), with one-to-one copies and 16 DFL bins whatever the file says.
    /// `embedding`: WorldDetect's and YOLOEDetect's class branches, which end in a Conv2d to
    /// that many embedding channels instead of nc (legacy 3×3 pairs for WorldDetect; YOLOE
    /// follows `legacy`).
    init(_ context: LayerContext, classCount: Int, lightClasses: Bool = false, embedding: Int? = nil,
         embeddingFollowsLegacy: Bool = false) throws(LayerError) {
        self.classCount = classCount
        regressionMaximum = lightClasses ? 16 : context.model.regressionMaximum
        inputChannels = context.inputChannels
        hasOneToOne = lightClasses || context.model.endToEnd == true
        isEndToEnd = hasOneToOne && context.model.inferenceEndToEnd
        guard regressionMaximum >= 1 else {
            throw LayerError("reg_max must be at least 1, found \(regressionMaximum)", blame: .module)
        }
        let (epsilon, bins, legacy) = (context.batchNormEpsilon, regressionMaximum, context.model.legacy)
        let (boxWidth, classWidth) = (max(16, inputChannels[0] / 4, 4 * bins), max(inputChannels[0], min(classCount, 100)))
        let boxes = Indexed(inputChannels.map { channels in
            HeadBranch(convs: [Conv(channels, boxWidth, kernelSize: 3, epsilon: epsilon), Conv(boxWidth, boxWidth, kernelSize: 3, epsilon: epsilon)],
                       output: Conv2d(boxWidth, 4 * bins, kernelSize: 1))
        }, typeName: "ModuleList")
        let classOutputs = embedding ?? classCount
        // WorldDetect replaces cv3 with 3×3 pairs whatever `legacy` says
        let legacyClasses = embedding != nil && !embeddingFollowsLegacy ? true : legacy
        let classes = Indexed(inputChannels.map { channels in
            lightClasses
                ? HeadBranch(pairs: [[Conv(channels, channels, kernelSize: 3, groups: channels, epsilon: epsilon), Conv(channels, classWidth, epsilon: epsilon)],
                                     [Conv(classWidth, classWidth, kernelSize: 3, groups: classWidth, epsilon: epsilon), Conv(classWidth, classWidth, epsilon: epsilon)]],
                             output: Conv2d(classWidth, classOutputs, kernelSize: 1))
            : legacyClasses
                ? HeadBranch(convs: [Conv(channels, classWidth, kernelSize: 3, epsilon: epsilon), Conv(classWidth, classWidth, kernelSize: 3, epsilon: epsilon)],
                             output: Conv2d(classWidth, classOutputs, kernelSize: 1))
                : HeadBranch(pairs: [[depthwiseConv(channels, channels, kernelSize: 3, epsilon: epsilon), Conv(channels, classWidth, epsilon: epsilon)],
                                     [depthwiseConv(classWidth, classWidth, kernelSize: 3, epsilon: epsilon), Conv(classWidth, classWidth, epsilon: epsilon)]],
                             output: Conv2d(classWidth, classOutputs, kernelSize: 1))
        }, typeName: "ModuleList")
        cv2 = BranchPair(boxes, copy: hasOneToOne ? boxes.deepCopied(as: "one2one_cv2") : nil, usesOneToOne: isEndToEnd)
        cv3 = BranchPair(classes, copy: hasOneToOne ? classes.deepCopied(as: "one2one_cv3") : nil, usesOneToOne: isEndToEnd)
        dfl = regressionMaximum > 1 ? DFL(bins: regressionMaximum) : nil
    }

    /// A per-level branch of the head's own (`cv4`: mask coefficients, keypoints, angles) paired
    /// like the box and class branches: two 3×3 Convs of `width`, then a 1×1 Conv2d to `outputs`.
    func extraBranch(width: Int, outputs: Int?, epsilon: Float, name: String = "one2one_cv4") -> BranchPair<Indexed<HeadBranch>> {
        let branch = Indexed(inputChannels.map { channels in
            HeadBranch(convs: [Conv(channels, width, kernelSize: 3, epsilon: epsilon), Conv(width, width, kernelSize: 3, epsilon: epsilon)],
                       output: outputs.map { Conv2d(width, $0, kernelSize: 1) })
        }, typeName: "ModuleList")
        return BranchPair(branch, copy: hasOneToOne ? branch.deepCopied(as: name) : nil, usesOneToOne: isEndToEnd)
    }

    /// A branch pair of its own kind without activations (Pose26's 1×1 keypoint convs), copied
    /// when the head is end2end.
    func pair<Branch: Block>(_ branch: Branch) -> BranchPair<Branch> {
        BranchPair(branch, copy: hasOneToOne ? branch : nil, usesOneToOne: isEndToEnd)
    }

    /// Channels of the eval output per anchor without the head's extras (4 box values, nc scores),
    /// or 6 (box, score, class) for the end-to-end top-k.
    var outputChannels: Int { isEndToEnd ? 6 : 4 + classCount }

    /// PyTorch's order: cv2, cv3, dfl, then one2one_cv2, one2one_cv3.
    mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        cv2.visitOneToMany("cv2", &visitor)
        cv3.visitOneToMany("cv3", &visitor)
        visitor.child("dfl", &dfl, absent: "Identity")
        cv2.visitOneToOne("cv2", &visitor)
        cv3.visitOneToOne("cv3", &visitor)
    }

    mutating func dropUnusedBranches() {
        cv2.dropUnused()
        cv3.dropUnused()
    }

    /// The active branches' box distances and class logits, flattened over the levels.
    struct Raw {
        var batch: Int
        var anchors: Int
        var levels: [(height: Int, width: Int)]
        /// [B, 4, A] after DFL (shape only in a shape walk).
        var distances: Feature
        /// [B, nc, A].
        var logits: Feature
    }

    func raw(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> Raw {
        try requireLevels(inputs.map(\.shape), channels: inputChannels)
        let (boxBranches, classBranches) = (cv2.active, cv3.active)
        let distributions = try flattenedBranches(boxBranches, inputs, channels: 4 * regressionMaximum, pass)
        let logits = try flattenedBranches(classBranches, inputs, channels: classCount, pass)
        traceUnread(cv2, inputs, pass)
        traceUnread(cv3, inputs, pass)
        return Raw(batch: inputs[0].shape[0], anchors: distributions.shape[2], levels: inputs.map { ($0.shape[2], $0.shape[3]) },
                   distances: dfl.map { $0(distributions, pass) } ?? distributions, logits: logits)
    }

    /// Runs a per-level extra branch and flattens its outputs to [B, channels, A].
    func extras(_ branch: Indexed<HeadBranch>, _ inputs: [Feature], channels: Int, _ pass: Pass) throws(LayerError) -> Feature {
        try flattenedBranches(branch, inputs, channels: channels, pass)
    }

    /// `make_anchors` as constants of `x`'s walk: the cell centres [1, 2, A] and each anchor's
    /// stride [1, A] (made only when tracing: a shape walk runs before the strides are known).
    func anchorConstants(_ raw: Raw, _ x: Feature) -> (anchors: Feature, strides: Feature) {
        (x.constant(name: "anchors", shape: [1, 2, raw.anchors]) {
            let points = anchorPoints(raw)
            return Tensor(shape: [1, 2, raw.anchors], storage: points.map(\.x) + points.map(\.y))
         },
         x.constant(name: "strides", shape: [1, raw.anchors]) { Tensor(shape: [1, raw.anchors], storage: anchorPoints(raw).map(\.stride)) })
    }

    /// `make_anchors` (cell centres, offset 0.5) with each anchor's stride.
    func anchorPoints(_ raw: Raw) -> [AnchorPoint] {
        precondition(strides.count == raw.levels.count, "Detect strides not set by the builder")
        var points = [AnchorPoint]()
        points.reserveCapacity(raw.anchors)
        for (level, size) in raw.levels.enumerated() {
            for y in 0..<size.height {
                for x in 0..<size.width { points.append((Float(x) + 0.5, Float(y) + 0.5, strides[level])) }
            }
        }
        return points
    }

    /// `_inference` and, end to end, `postprocess`, as program operations: `dist2bbox` around the
    /// anchors (constants made from the level sizes and strides), times the strides, beside the
    /// sigmoid scores and the head's decoded `extras` — `[B, 4 + nc + extra, A]`, or the top-k
    /// `[B, k, 6 + extra]`. Boxes are xywh, or the corners end to end (Ultralytics' `decode_bboxes`).
    func output(_ raw: Raw, extras: Feature? = nil) -> Feature {
        let x = raw.distances
        let (anchors, strides) = anchorConstants(raw, x)
        let (lt, rb) = (x.sliced(axis: 1, 0..<2), x.sliced(axis: 1, 2..<4))
        let (topLeft, bottomRight) = (anchors - lt, anchors.plus(rb))
        let centre = topLeft.plus(bottomRight) / x.scalar(2, name: "two")
        let boxes = try! Feature.concatenate(isEndToEnd ? [topLeft, bottomRight] : [centre, bottomRight - topLeft], axis: 1) * strides
        return decoded(boxes: boxes, raw, extras: extras)
    }

    /// Boxes beside the sigmoid scores and `extras`; end to end, the top-k rows.
    func decoded(boxes: Feature, _ raw: Raw, extras: Feature?) -> Feature {
        let decoded = try! Feature.concatenate([boxes, raw.logits.activated(.sigmoid)] + (extras.map { [$0] } ?? []), axis: 1)
        return isEndToEnd ? DetectionBranches.tracedTopK(decoded, classes: classCount, count: min(DetectionBranches.maximumDetections, raw.anchors)) : decoded
    }

    /// `topK` as program operations: the `count` anchors with the highest best score, then the
    /// `count` best (anchor, class) pairs among them, rows `[box…, score, class, extra…]`.
    static func tracedTopK(_ predictions: Feature, classes: Int, count: Int) -> Feature {
        let (batch, channels) = (predictions.shape[0], predictions.shape[1])
        let rows = predictions.permuted([0, 2, 1])
        let candidates = rows.sliced(axis: 2, 4..<(4 + classes)).reducedMax(axis: 2).topK(count).indices
        let picked = rows.gatheredRows(candidates)
        let top = picked.sliced(axis: 2, 4..<(4 + classes)).reshaped([batch, count * classes]).topK(count)
        let chosen = picked.gatheredRows(top.indices.integerDivided(by: classes))
        var parts = [chosen.sliced(axis: 2, 0..<4), top.values.reshaped([batch, count, 1]),
                     top.indices.remainder(dividingBy: classes).toFloat().reshaped([batch, count, 1])]
        if channels > 4 + classes { parts.append(chosen.sliced(axis: 2, (4 + classes)..<channels)) }
        return try! .concatenate(parts, axis: 2)
    }
}

/// An anchor (a cell centre, in cells) and its level's stride.
typealias AnchorPoint = (x: Float, y: Float, stride: Float)

extension Indexed where Item == HeadBranch {
    /// `copy.deepcopy` of a branch list: the copy's Convs share one new activation instance of
    /// their own instead of `Conv.default_act` (what Ultralytics' layer count sees).
    func deepCopied(as name: String) -> Self {
        var copy = self
        for level in copy.items.indices {
            for index in copy.items[level].convs.indices { copy.items[level].convs[index].renameSharedActivation(under: name) }
            for pair in copy.items[level].pairs.indices {
                for index in copy.items[level].pairs[pair].items.indices { copy.items[level].pairs[pair].items[index].renameSharedActivation(under: name) }
            }
        }
        return copy
    }
}

/// Each level's branch, its outputs flattened into one [B, channels, ΣHW]. Branches ending in a
/// plain 1×1 Conv2d (all but Pose26's keypoint trunk) write that conv straight into the
/// flattened tensor, from channels-last maps as they are: no reorders, no concatenation copy.
func flattenedBranches(_ branch: Indexed<HeadBranch>, _ inputs: [Feature], channels: Int, _ pass: Pass) throws(LayerError) -> Feature {
    var trunks = [Feature]()
    for (level, input) in inputs.enumerated() { trunks.append(try branch.items[level].trunk(input, pass)) }
    let outputs = branch.items.prefix(inputs.count).compactMap(\.output)
    if outputs.count == trunks.count, outputs.allSatisfy({ $0.isPlainPointwise && $0.outputChannels == channels }) {
        return try Conv2d.flattenedPointwise(outputs, trunks)
    }
    var maps = [Feature]()
    for (level, trunk) in trunks.enumerated() { maps.append(try branch.items[level].output.map { conv throws(LayerError) in try conv(trunk, pass) } ?? trunk) }
    return try flattenedLevels(maps, channels: channels)
}

/// Records, as work only thop counts (PyTorch's eval forward runs it, nothing reads it), the
/// branch inference does not read (see `BranchPair.inactive`), `then` applied per level after it
/// (Pose26's keypoint convs after its trunk).
func traceUnread(_ pair: BranchPair<Indexed<HeadBranch>>, _ inputs: [Feature], _ pass: Pass,
                 then next: ((Int, Feature) -> Void)? = nil) {
    guard let branch = pair.inactive, let first = inputs.first else { return }
    first.countedOnly {
        for (level, input) in inputs.enumerated() where level < branch.items.count {
            guard let trunk = try? branch.items[level](input, pass) else { continue }
            next?(level, trunk)
        }
    }
}

/// Flattens per-level maps [B, C, H, W] into one [B, C, ΣHW] (Ultralytics' `view(bs, C, -1)` + cat).
func flattenedLevels(_ maps: [Feature], channels: Int) throws(LayerError) -> Feature {
    let batch = maps[0].shape[0]
    return try .concatenate(maps.map { map in
        map.reshaped([batch, channels, map.shape[2] * map.shape[3]])
    }, axis: 2)
}

/// One level's branch of a Detect head: `nn.Sequential(Conv, Conv, Conv2d)`, or with non-legacy
/// class branches `nn.Sequential(Sequential(DWConv, Conv), Sequential(DWConv, Conv), Conv2d)`;
/// Pose26's keypoint trunk has no final Conv2d.
public struct HeadBranch: Block {
    public var typeName: String { "Sequential" }
    public var convs: [Conv] = []
    public var pairs: [Indexed<Conv>] = []
    public var output: Conv2d?

    init(convs: [Conv], output: Conv2d?) {
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
        visitor.child(String(convs.count + pairs.count), &output, absent: nil)
    }

    public func callAsFunction(_ x: Feature, _ pass: Pass) throws(LayerError) -> Feature {
        let y = try trunk(x, pass)
        guard let output else { return y }
        return try output(y, pass)
    }

    /// Everything before the final Conv2d.
    func trunk(_ x: Feature, _ pass: Pass) throws(LayerError) -> Feature {
        var y = x
        for conv in convs { y = try conv(y, pass) }
        for pair in pairs { for conv in pair.items { y = try conv(y, pass) } }
        return y
    }
}

/// A module whose forward needs each input level's stride (input pixels per cell), which
/// Ultralytics measures once with a 256×256 probe; the builder sets them.
public protocol StrideDependent {
    var strides: [Float] { get set }
}
