import Foundation
import ModelSpec
import Tensor

/// Ultralytics `OBB(nc=80, ne=1, reg_max, end2end, ch)`: Detect plus an angle branch `cv4` per
/// level (two 3×3 Convs of max(ch[0] // 4, ne), a 1×1 Conv2d to ne). Eval output `[B, 4 + nc + 1,
/// A]`: rotated boxes (cx, cy, w, h) from `dist2rbox`, scores, and the angle (sigmoid − 0.25)·π;
/// `OBB26` keeps the raw angle.
public struct OBB: DetectionHeadModule {
    public static let names = ["OBB", "OBB26"]
    public static let signature = Signature([
        .init("nc", "classCount", .int(min: 1), default: .int(80)),
        .init("ne", "extraCount", .int(min: 1), default: .int(1)),
    ])
    public static let channelRule = ChannelRule.detectionHead(scaledWidthAt: nil)
    public static let inputArity = InputArity.atLeast(1)

    public let typeName: String
    public var core: DetectionBranches
    public var cv4: BranchPair<Indexed<HeadBranch>>

    public var extraChannels: Int { 1 }

    public init(_ context: LayerContext) throws(LayerError) {
        typeName = context.moduleName
        let extras = context.arguments.int("extraCount")
        // dist2rbox rotates by angle[:, :1]-shaped tensors; more angles would broadcast the boxes
        guard extras == 1 else {
            throw LayerError("ne (angles per anchor) must be 1: Ultralytics' dist2rbox rotates each box by one angle, found \(extras)",
                             blame: .argument(context.arguments.position("extraCount")))
        }
        core = try DetectionBranches(context, classCount: context.arguments.int("classCount"))
        cv4 = core.extraBranch(width: max(context.inputChannels[0] / 4, extras), outputs: extras, epsilon: context.batchNormEpsilon)
    }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        core.visit(&visitor)
        cv4.visitBoth("cv4", &visitor)
    }

    public mutating func fuse() {
        core.dropUnusedBranches()
        cv4.dropUnused()
    }

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        let raw = try core.raw(inputs, pass)
        let logits = try core.extras(cv4.active, inputs, channels: 1, pass)
        traceUnread(cv4, inputs, pass)
        return [rotatedBoxes(raw, angleLogits: logits)]
    }

    /// The angle, dist2rbox around the anchors, times the strides, beside the scores.
    private func rotatedBoxes(_ raw: DetectionBranches.Raw, angleLogits logits: Feature) -> Feature {
        let isRaw = typeName == "OBB26"
        let angle = isRaw ? logits : (logits.activated(.sigmoid) - logits.scalar(0.25, name: "quarter")) * logits.scalar(Float.pi, name: "pi")
        let d = raw.distances
        let (lt, rb) = (d.sliced(axis: 1, 0..<2), d.sliced(axis: 1, 2..<4))
        let half = (rb - lt) / logits.scalar(2, name: "two")
        let (xf, yf) = (half.sliced(axis: 1, 0..<1), half.sliced(axis: 1, 1..<2))
        let (cosine, sine) = (angle.cosine(), angle.sine())
        let (anchors, strides) = core.anchorConstants(raw, d)
        let centre = try! Feature.concatenate([xf * cosine - yf * sine, (xf * sine).plus(yf * cosine)], axis: 1).plus(anchors)
        let boxes = try! Feature.concatenate([centre, lt.plus(rb)], axis: 1) * strides
        return core.decoded(boxes: boxes, raw, extras: angle)
    }
}
