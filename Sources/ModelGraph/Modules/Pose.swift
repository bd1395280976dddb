import Foundation
import ModelSpec
import Tensor

/// Ultralytics `Pose(nc=80, kpt_shape=(17, 3), reg_max, end2end, ch)`: Detect plus a keypoint
/// branch `cv4` per level (two 3×3 Convs of max(ch[0] // 4, nk), a 1×1 Conv2d to nk = k·d).
/// `Pose26` splits the branch into a trunk (`cv4`: two 3×3 Convs of max(ch[0] // 4, k·(d + 2)))
/// and 1×1 heads for the keypoints (`cv4_kpts`) and their sigmas (`cv4_sigma`, training only),
/// and carries a RealNVP flow (training only); fuse drops both. Eval output `[B, 4 + nc + nk,
/// A]`, keypoints decoded in input pixels: Pose x = (2·k + cell) · stride, Pose26 x = (k + cell
/// + 0.5) · stride; visibility through a sigmoid.
public struct Pose: DetectionHeadModule {
    public static let names = ["Pose", "Pose26"]
    public static let signature = Signature([
        .init("nc", "classCount", .int(min: 1), default: .int(80)),
        .init("kpt_shape", "keypointShape", .intList(count: 2, min: 1), default: .list([.int(17), .int(3)])),
    ])
    public static let channelRule = ChannelRule.detectionHead(scaledWidthAt: nil)
    public static let inputArity = InputArity.atLeast(1)

    public let typeName: String
    public var core: DetectionBranches
    public var cv4: BranchPair<Indexed<HeadBranch>>
    /// Pose26's keypoint and sigma heads (1×1 Conv2d per level) and its flow.
    public var kpts: BranchPair<Indexed<Conv2d>>?
    public var sigma: BranchPair<Indexed<Conv2d>>?
    public var flowModel: RealNVP?
    /// `kpt_shape`: keypoints per object and values per keypoint (2: x, y; 3: x, y, visibility).
    public let keypoints: Int
    public let dimensions: Int
    var values: Int { keypoints * dimensions }

    public var extraChannels: Int { values }

    public init(_ context: LayerContext) throws(LayerError) {
        typeName = context.moduleName
        let shape = context.arguments.ints("keypointShape")
        (keypoints, dimensions) = (shape[0], shape[1])
        guard dimensions == 2 || dimensions == 3 else {
            throw LayerError("kpt_shape is [keypoints, dims] with dims 2 (x, y) or 3 (x, y, visible), found \(shape)",
                             blame: .argument(context.arguments.position("keypointShape")))
        }
        core = try DetectionBranches(context, classCount: context.arguments.int("classCount"))
        let (channels, epsilon) = (context.inputChannels, context.batchNormEpsilon)
        if typeName == "Pose26" {
            let width = max(channels[0] / 4, keypoints * (dimensions + 2))
            cv4 = core.extraBranch(width: width, outputs: nil, epsilon: epsilon)
            kpts = core.pair(Indexed(channels.map { _ in Conv2d(width, keypoints * dimensions, kernelSize: 1) }, typeName: "ModuleList"))
            sigma = core.pair(Indexed(channels.map { _ in Conv2d(width, keypoints * 2, kernelSize: 1) }, typeName: "ModuleList"))
            flowModel = RealNVP()
        } else {
            cv4 = core.extraBranch(width: max(channels[0] / 4, keypoints * dimensions), outputs: keypoints * dimensions, epsilon: epsilon)
        }
    }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        core.visit(&visitor)
        cv4.visitBoth("cv4", &visitor)
        visitor.child("flow_model", &flowModel, absent: nil)
        kpts?.visitOneToMany("cv4_kpts", &visitor)
        sigma?.visitOneToMany("cv4_sigma", &visitor)
        kpts?.visitOneToOne("cv4_kpts", &visitor)
        sigma?.visitOneToOne("cv4_sigma", &visitor)
    }

    public mutating func fuse() {
        core.dropUnusedBranches()
        cv4.dropUnused()
        kpts?.dropUnused()
        guard sigma != nil else { return }
        // Pose26.fuse: the flow and the sigma heads only train
        flowModel = nil
        sigma = nil
    }

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        let raw = try core.raw(inputs, pass)
        let branch: Indexed<HeadBranch> = cv4.active
        let unreadKeypoints = kpts?.inactive
        traceUnread(cv4, inputs, pass) { level, trunk in
            if let unreadKeypoints { _ = try? unreadKeypoints.items[level](trunk, pass) }
        }
        var maps = [Feature]()
        for (level, input) in inputs.enumerated() {
            let trunk = try branch.items[level](input, pass)
            if let kpts { maps.append(try kpts.active.items[level](trunk, pass)) } else { maps.append(trunk) }
        }
        let keypoints = try flattenedLevels(maps, channels: values)
        return [core.output(raw, extras: decodedKeypoints(keypoints, raw))]
    }

    /// `kpts_decode`: [B, K·D, A] viewed [B, K, D, A]; x, y scaled around the anchors and times
    /// the strides, visibility through a sigmoid.
    func decodedKeypoints(_ encoded: Feature, _ raw: DetectionBranches.Raw) -> Feature {
        let (batch, anchors) = (encoded.shape[0], encoded.shape[2])
        let (scale, offset): (Float, Float) = kpts == nil ? (2, -0.5) : (1, 0)
        let y = encoded.reshaped([batch, values / dimensions, dimensions, anchors])
        let shifted = encoded.constant(name: "keypoint_anchors", shape: [1, 1, 2, anchors]) {
            let points = core.anchorPoints(raw)
            return Tensor(shape: [1, 1, 2, anchors], storage: points.map { $0.x + offset } + points.map { $0.y + offset })
        }
        let strides = encoded.constant(name: "strides", shape: [1, 1, 1, anchors]) {
            Tensor(shape: [1, 1, 1, anchors], storage: core.anchorPoints(raw).map(\.stride))
        }
        let factor = encoded.scalar(scale, name: "keypoint_scale")
        let xy = (y.sliced(axis: 2, 0..<2) * factor).plus(shifted) * strides
        let decoded = dimensions == 3 ? try! Feature.concatenate([xy, y.sliced(axis: 2, 2..<3).activated(.sigmoid)], axis: 2) : xy
        return decoded.reshaped([batch, values, anchors])
    }
}

/// Ultralytics `RealNVP()`: Pose26's normalising flow, used only by the training loss. Declared
/// for its tensors (buffers loc, cov, mask; six scale and six translation MLPs on 2-D points).
public struct RealNVP: Block {
    public var typeName: String { "RealNVP" }
    public var loc = Parameter([2], initialization: .zeros, isBuffer: true)
    public var cov = Parameter([2, 2], initialization: .computed { Tensor(shape: [2, 2], storage: [1, 0, 0, 1]) }, isBuffer: true)
    public var mask = Parameter([6, 2], initialization: .computed { Tensor(shape: [6, 2], storage: [0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0]) }, isBuffer: true)
    public var s = Indexed(Array(repeating: CouplingNet(tanh: true), count: 6), typeName: "ModuleList")
    public var t = Indexed(Array(repeating: CouplingNet(tanh: false), count: 6), typeName: "ModuleList")

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.parameter("loc", &loc)
        visitor.parameter("cov", &cov)
        visitor.parameter("mask", &mask)
        visitor.child("s", &s)
        visitor.child("t", &t)
    }

    /// `nn.Sequential(Linear(2, 64), SiLU, Linear(64, 64), SiLU, Linear(64, 2)[, Tanh])`.
    public struct CouplingNet: Block {
        public var typeName: String { "Sequential" }
        public var linears = [Linear(2, 64), Linear(64, 64), Linear(64, 2)]
        let tanh: Bool

        public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
            visitor.child("0", &linears[0])
            visitor.leaf("1", "SiLU")
            visitor.child("2", &linears[1])
            visitor.leaf("3", "SiLU")
            visitor.child("4", &linears[2])
            if tanh { visitor.leaf("5", "Tanh") }
        }
    }
}
