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
        countUnread(cv4, inputs, pass)
        let isRaw = typeName == "OBB26"
        if logits.symbol != nil {
            // as program operations: the angle, dist2rbox around the anchors, times the strides
            let points = core.anchorPoints(raw)
            let angle = isRaw ? logits : (logits.activated(.sigmoid) - logits.scalar(0.25, name: "quarter")) * logits.scalar(Float.pi, name: "pi")
            let d = raw.distances
            let (lt, rb) = (d.sliced(axis: 1, 0..<2), d.sliced(axis: 1, 2..<4))
            let half = (rb - lt) / logits.scalar(2, name: "two")
            let (xf, yf) = (half.sliced(axis: 1, 0..<1), half.sliced(axis: 1, 1..<2))
            let (cosine, sine) = (angle.cosine(), angle.sine())
            let anchors = d.constant(Tensor(shape: [1, 2, raw.anchors], storage: points.map(\.x) + points.map(\.y)), name: "anchors")
            let strides = d.constant(Tensor(shape: [1, raw.anchors], storage: points.map(\.stride)), name: "strides")
            let centre = try! Feature.concatenate([xf * cosine - yf * sine, (xf * sine).plus(yf * cosine)], axis: 1).plus(anchors)
            let boxes = try! Feature.concatenate([centre, lt.plus(rb)], axis: 1) * strides
            let decoded = try! Feature.concatenate([boxes, raw.logits.activated(.sigmoid), angle], axis: 1)
            return [core.isEndToEnd ? DetectionBranches.tracedTopK(decoded, classes: core.classCount,
                                                                    count: min(DetectionBranches.maximumDetections, raw.anchors)) : decoded]
        }
        return [core.output(raw, extras: logits, extraChannels: 1,
                            decodeExtras: { logits, _ in isRaw ? logits : logits.map { (1 / (1 + Foundation.exp(-$0)) - 0.25) * Float.pi } },
                            decodeBoxes: OBB.rotatedBoxes)]
    }

    /// `dist2rbox` × stride: the box centre offset (r − l, b − t)/2 rotated by the angle, plus the
    /// anchor; width l + r, height t + b.
    static func rotatedBoxes(distances: Tensor, angles: Tensor, points: [AnchorPoint]) -> Tensor {
        let (batch, anchors) = (distances.shape[0], distances.shape[2])
        return Tensor(shape: [batch, 4, anchors]) { out in
            for n in 0..<batch {
                let base = n * 4 * anchors
                for a in 0..<anchors {
                    let d = distances.storage
                    let (left, top, right, bottom) = (d[base + a], d[base + anchors + a], d[base + 2 * anchors + a], d[base + 3 * anchors + a])
                    let angle = angles.storage[n * anchors + a]
                    let (cosine, sine) = (cos(angle), sin(angle))
                    let (xf, yf) = ((right - left) / 2, (bottom - top) / 2)
                    let point = points[a]
                    out[base + a] = (xf * cosine - yf * sine + point.x) * point.stride
                    out[base + anchors + a] = (xf * sine + yf * cosine + point.y) * point.stride
                    out[base + 2 * anchors + a] = (left + right) * point.stride
                    out[base + 3 * anchors + a] = (top + bottom) * point.stride
                }
            }
        }
    }
}
