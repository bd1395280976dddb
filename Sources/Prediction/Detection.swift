import Imaging

/// What a model's head computes, as far as turning its output into results needs.
public enum HeadKind: Sendable, Equatable {
    /// Detect: `[B, 4 + nc, anchors]`, boxes (cx, cy, w, h) in input pixels.
    case detect
    /// Segment: Detect's rows plus `masks` coefficients, and prototypes `[B, masks, h, w]`.
    case segment(masks: Int)
    /// Pose: Detect's rows plus `keypoints` × `dimensions` values (x, y in input pixels[, visibility]).
    case pose(keypoints: Int, dimensions: Int)
    /// OBB: Detect's rows (cx, cy, w, h of the rotated box) plus the angle in radians.
    case obb
    /// Classify: softmax probabilities `[B, nc]`.
    case classify
    /// RT-DETR's decoder: `[B, k, 6]` rows of (cx, cy, w, h) normalised, score, class.
    case rtdetr

    /// Values per prediction after the class scores.
    public var extraValues: Int {
        switch self {
        case .segment(let masks): return masks
        case .pose(let keypoints, let dimensions): return keypoints * dimensions
        case .obb: return 1
        default: return 0
        }
    }

    /// The task's name as Ultralytics spells it.
    public var task: String {
        switch self {
        case .detect, .rtdetr: return "detect"
        case .segment: return "segment"
        case .pose: return "pose"
        case .obb: return "obb"
        case .classify: return "classify"
        }
    }
}

/// Ultralytics' prediction arguments (`conf`, `iou`, `classes`, `agnostic_nms`, `max_det`,
/// `retina_masks`) with its defaults.
public struct PredictionSettings: Sendable {
    public var confidence: Float = 0.25
    public var iou: Float = 0.7
    public var classes: [Int]? = nil
    public var agnostic = false
    public var maximumDetections = 300
    public var retinaMasks = false
    /// Ultralytics' `max_nms`: boxes kept for NMS, by score.
    public var maximumCandidates = 30000
    /// Ultralytics' `max_wh`: the per-class offset that keeps classes apart in one NMS.
    public var classOffset: Float = 7680
    /// Whether predictions whose mask is empty are dropped, as Ultralytics does from 8.3.84 on;
    /// a fork built on an earlier release keeps them.
    public var dropsEmptyMasks = true
    /// Whether a mask is cropped to its box at the prototypes' resolution and then upsampled, as
    /// Ultralytics did before 8.4 (a fork built on such a release); since, upsampled then cropped.
    public var cropsMasksBeforeUpsampling = false
    /// With `cropsMasksBeforeUpsampling`: the masks' logits become probabilities before the crop
    /// and are thresholded at 0.5, as Ultralytics did until June 2024 (taken as before 8.2.42).
    public var masksThroughSigmoid = false
    /// Whether boxes and keypoints return to the original image as Ultralytics before 8.4 took
    /// them back (one gain; the padding from the unrounded resized size): see `BoxMapping`.
    public var legacyScaling = false
    /// Ultralytics before 8.4 (a fork built on such a release): a pose box's corners are rounded
    /// to whole pixels, and keypoints whose visibility is under 0.5 read (0, 0) (`Keypoints`).
    public var legacyPoseResults = false
    /// Whether each rotated box is treated as the OBB predictor did before 8.4 (a fork built on
    /// such a release): regularised (`RotatedBox.regularized`), then clipped as if its (cx, cy,
    /// w, h) were corners (`scale_boxes(xywh=True)` ending in `clip_boxes`); 8.4's leaves the
    /// head's angle and does not clip.
    public var legacyRotatedBoxes = false

    public init() {}
}

/// One keypoint in original-image pixels; `visibility` is nil for 2-value keypoints.
public struct Keypoint: Sendable, Equatable {
    public var x: Float
    public var y: Float
    public var visibility: Float?
}

/// A rotated box: centre, size, angle (radians), in original-image pixels.
public struct RotatedBox: Sendable, Equatable {
    public var centerX: Float, centerY: Float, width: Float, height: Float, angle: Float

    /// `regularize_rboxes` as Ultralytics' OBB predictor applied it before 8.4: the longer side is
    /// the width (turning the angle by π/2 when the height was), the angle taken modulo π on
    /// float32 as torch computes it (`%` takes the divisor's sign).
    public func regularized() -> RotatedBox {
        let wider = width > height
        let turned = wider ? angle : angle + Float(Double.pi / 2)
        let pi = Float(Double.pi)
        return RotatedBox(centerX: centerX, centerY: centerY, width: wider ? width : height, height: wider ? height : width,
                          angle: turned - pi * (turned / pi).rounded(.down))
    }

    /// The four corners (Ultralytics' `xywhr2xyxyxyxy` order).
    public var corners: [(x: Float, y: Float)] {
        let (cosine, sine) = (cos(angle), sin(angle))
        let vector1 = (x: width / 2 * cosine, y: width / 2 * sine)
        let vector2 = (x: -height / 2 * sine, y: height / 2 * cosine)
        return [
            (centerX + vector1.x + vector2.x, centerY + vector1.y + vector2.y),
            (centerX + vector1.x - vector2.x, centerY + vector1.y - vector2.y),
            (centerX - vector1.x - vector2.x, centerY - vector1.y - vector2.y),
            (centerX - vector1.x + vector2.x, centerY - vector1.y + vector2.y),
        ]
    }
}

/// A binary mask, one byte (0 or 1) per pixel.
public struct Mask: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public var bits: [UInt8]

    public var area: Int { bits.reduce(0) { $0 + Int($1) } }
}

/// One detected object.
public struct Detection: Sendable {
    /// (x1, y1, x2, y2) in original-image pixels (for OBB, the rotated box's axis-aligned hull).
    public var box: (x1: Float, y1: Float, x2: Float, y2: Float)
    public var score: Float
    public var classIndex: Int
    public var rotated: RotatedBox?
    public var keypoints: [Keypoint]?
    /// Segment: the mask at the model's input size (Ultralytics' `masks.data`), or at the
    /// original size with `retinaMasks`; `maskSpace` says which.
    public var mask: Mask?
}

/// Where a mask's pixels lie: the letterboxed input or the original image.
public enum MaskSpace: Sendable { case input, original }

/// Everything a model said about one image.
public struct ImagePrediction: Sendable {
    public var width: Int
    public var height: Int
    public var detections: [Detection] = []
    /// Classify: the five most probable classes, best first.
    public var top5: [(classIndex: Int, probability: Float)]? = nil
    public var maskSpace: MaskSpace = .input
    /// The letterbox that made the model's input (to map input-space masks back).
    public var letterbox: Letterbox?
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
