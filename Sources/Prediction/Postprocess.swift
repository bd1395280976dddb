import Imaging
import Tensor

/// Ultralytics' predictors' `postprocess`: model outputs to per-image results in original-image
/// pixels.
public enum Postprocess {
    /// Results for image `index` of a batch: `outputs` are the model's results (Segment: the
    /// predictions and the prototypes), `letterbox` made that image's input.
    public static func image(_ index: Int, outputs: [Tensor], head: HeadKind, endToEnd: Bool, classCount: Int,
                             letterbox: Letterbox, settings: PredictionSettings) -> ImagePrediction {
        var result = ImagePrediction(width: letterbox.sourceWidth, height: letterbox.sourceHeight)
        result.letterbox = letterbox
        let output = outputs[0]
        switch head {
        case .classify:
            let probabilities = Array(output.storage[(index * classCount)..<((index + 1) * classCount)])
            // torch.argsort(descending=True) is stable: equal probabilities keep class order
            let order = probabilities.indices.sorted { probabilities[$0] > probabilities[$1] || (probabilities[$0] == probabilities[$1] && $0 < $1) }
            result.top5 = order.prefix(5).map { ($0, probabilities[$0]) }
            return result
        case .rtdetr:
            result.detections = rtdetr(rows(output, index), settings: settings, width: letterbox.sourceWidth, height: letterbox.sourceHeight)
            return result
        default:
            break
        }
        let kept: [[Float]]
        if endToEnd {
            kept = endToEndRows(rows(output, index), settings: settings)
        } else {
            kept = NonMaxSuppression.select(columns(output, index), classCount: classCount, extra: head.extraValues,
                                            rotated: head == .obb, settings: settings)
        }
        let geometry = BoxMapping(letterbox, legacy: settings.legacyScaling)
        switch head {
        case .segment(let masks):
            let prototypes = outputs[1]
            result.maskSpace = settings.retinaMasks ? .original : .input
            result.detections = MaskDecoder.detections(kept, prototypes: prototypes, imageIndex: index, masks: masks,
                                                       geometry: geometry, retina: settings.retinaMasks,
                                                       dropsEmpty: settings.dropsEmptyMasks, cropsFirst: settings.cropsMasksBeforeUpsampling,
                                                       throughSigmoid: settings.masksThroughSigmoid)
        case .pose(let keypoints, let dimensions):
            let legacy = settings.legacyPoseResults
            result.detections = kept.map { row in
                var detection = geometry.detection(row)
                if legacy {
                    let box = detection.box
                    detection.box = (box.x1.rounded(.toNearestOrEven), box.y1.rounded(.toNearestOrEven),
                                     box.x2.rounded(.toNearestOrEven), box.y2.rounded(.toNearestOrEven))
                }
                detection.keypoints = (0..<keypoints).map { k in
                    let base = 6 + k * dimensions
                    let (x, y) = geometry.keypoint(row[base], row[base + 1])
                    let visibility = dimensions == 3 ? row[base + 2] : nil
                    if legacy, let visibility, visibility < 0.5 { return Keypoint(x: 0, y: 0, visibility: visibility) }
                    return Keypoint(x: x, y: y, visibility: visibility)
                }
                return detection
            }
        case .obb:
            result.detections = kept.map { row in
                var rotated = geometry.rotated(row)
                if settings.legacyRotatedBoxes {
                    rotated = rotated.regularized()
                    rotated.centerX = min(max(rotated.centerX, 0), geometry.width)
                    rotated.width = min(max(rotated.width, 0), geometry.width)
                    rotated.centerY = min(max(rotated.centerY, 0), geometry.height)
                    rotated.height = min(max(rotated.height, 0), geometry.height)
                }
                let xs = rotated.corners.map(\.x), ys = rotated.corners.map(\.y)
                return Detection(box: (xs.min()!, ys.min()!, xs.max()!, ys.max()!), score: row[4], classIndex: Int(row[5]),
                                 rotated: rotated)
            }
        default:
            result.detections = kept.map { geometry.detection($0) }
        }
        return result
    }

    /// Image `index`'s `[values, anchors]` plane of a `[B, values, anchors]` output, as rows.
    static func columns(_ output: Tensor, _ index: Int) -> (values: Int, anchors: Int, data: ArraySlice<Float>) {
        let (values, anchors) = (output.shape[1], output.shape[2])
        let size = values * anchors
        return (values, anchors, output.storage[(index * size)..<((index + 1) * size)])
    }

    /// Image `index`'s rows of a `[B, rows, width]` output.
    static func rows(_ output: Tensor, _ index: Int) -> [[Float]] {
        let (count, width) = (output.shape[1], output.shape[2])
        let base = index * count * width
        return (0..<count).map { Array(output.storage[(base + $0 * width)..<(base + ($0 + 1) * width)]) }
    }

    /// End-to-end heads (YOLO26): rows over the score threshold, in the head's order.
    static func endToEndRows(_ rows: [[Float]], settings: PredictionSettings) -> [[Float]] {
        let kept = rows.filter { row in
            row[4] > settings.confidence && (settings.classes.map { $0.contains(Int(row[5])) } ?? true)
        }
        return Array(kept.prefix(settings.maximumDetections))
    }

    /// `RTDETRPredictor.postprocess`: (cx, cy, w, h) normalised → corners, score threshold,
    /// then scaled to the original size (RT-DETR stretches the image, it does not letterbox).
    static func rtdetr(_ rows: [[Float]], settings: PredictionSettings, width: Int, height: Int) -> [Detection] {
        var detections = [Detection]()
        for row in rows where row[4] > settings.confidence {
            let classIndex = Int(row[5])
            if let classes = settings.classes, !classes.contains(classIndex) { continue }
            let (halfWidth, halfHeight) = (row[2] / 2, row[3] / 2)
            let (w, h) = (Float(width), Float(height))
            detections.append(Detection(box: ((row[0] - halfWidth) * w, (row[1] - halfHeight) * h, (row[0] + halfWidth) * w, (row[1] + halfHeight) * h),
                                        score: row[4], classIndex: classIndex))
            if detections.count == settings.maximumDetections { break }
        }
        return detections
    }
}

/// Ultralytics' `scale_boxes` / `scale_coords`: from the letterboxed input back to the original
/// image (remove the padding, divide by each side's own gain, clip).
struct BoxMapping {
    let letterbox: Letterbox
    let gainX: Float, gainY: Float
    let padX: Float, padY: Float
    /// `scale_coords`' padding (keypoints): the boxes' since 8.4; unrounded before.
    let pointPadX: Float, pointPadY: Float
    let width: Float, height: Float

    /// `legacy`: as Ultralytics before 8.4 inverted it (a fork built on such a release): one gain,
    /// and the padding from the unrounded resized size (rounded for boxes, not for keypoints);
    /// since, each side's own gain and padding from the sizes LetterBox rounded.
    init(_ letterbox: Letterbox, legacy: Bool = false) {
        self.letterbox = letterbox
        let (sourceWidth, sourceHeight) = (Double(letterbox.sourceWidth), Double(letterbox.sourceHeight))
        let (inputWidth, inputHeight) = (Double(letterbox.width), Double(letterbox.height))
        let gain = min(inputHeight / sourceHeight, inputWidth / sourceWidth)
        if legacy {
            (gainX, gainY) = (Float(gain), Float(gain))
            let (padWidth, padHeight) = ((inputWidth - sourceWidth * gain) / 2, (inputHeight - sourceHeight * gain) / 2)
            padX = Float((padWidth - 0.1).rounded(.toNearestOrEven))
            padY = Float((padHeight - 0.1).rounded(.toNearestOrEven))
            (pointPadX, pointPadY) = (Float(padWidth), Float(padHeight))
        } else {
            let newHeight = max((sourceHeight * gain).rounded(.toNearestOrEven), 1), newWidth = max((sourceWidth * gain).rounded(.toNearestOrEven), 1)
            gainY = Float(newHeight / sourceHeight)
            gainX = Float(newWidth / sourceWidth)
            padX = Float(((inputWidth - newWidth) / 2 - 0.1).rounded(.toNearestOrEven))
            padY = Float(((inputHeight - newHeight) / 2 - 0.1).rounded(.toNearestOrEven))
            (pointPadX, pointPadY) = (padX, padY)
        }
        width = Float(sourceWidth)
        height = Float(sourceHeight)
    }

    func point(_ x: Float, _ y: Float) -> (Float, Float) {
        (min(max((x - padX) / gainX, 0), width), min(max((y - padY) / gainY, 0), height))
    }

    /// A keypoint in original pixels (`scale_coords`, clipped).
    func keypoint(_ x: Float, _ y: Float) -> (Float, Float) {
        (min(max((x - pointPadX) / gainX, 0), width), min(max((y - pointPadY) / gainY, 0), height))
    }

    /// A row (x1, y1, x2, y2, score, class, …) as a detection in original pixels.
    func detection(_ row: [Float]) -> Detection {
        let (x1, y1) = point(row[0], row[1]), (x2, y2) = point(row[2], row[3])
        return Detection(box: (x1, y1, x2, y2), score: row[4], classIndex: Int(row[5]))
    }

    /// An OBB row (cx, cy, w, h, score, class, angle): centre moved, sizes divided, not clipped.
    func rotated(_ row: [Float]) -> RotatedBox {
        RotatedBox(centerX: (row[0] - padX) / gainX, centerY: (row[1] - padY) / gainY,
                   width: row[2] / gainX, height: row[3] / gainY, angle: row[6])
    }
}
