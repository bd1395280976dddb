import Foundation
import Imaging
import Tensor

/// Segment heads' masks as Ultralytics' `process_mask` (at the input size, the default) and
/// `process_mask_native` (`retina_masks`, at the original size) make them.
enum MaskDecoder {
    static func detections(_ rows: [[Float]], prototypes: Tensor, imageIndex: Int, masks count: Int,
                           geometry: BoxMapping, retina: Bool, dropsEmpty: Bool = true, cropsFirst: Bool = false,
                           throughSigmoid: Bool = false) -> [Detection] {
        guard !rows.isEmpty else { return [] }
        let (channels, height, width) = (prototypes.shape[1], prototypes.shape[2], prototypes.shape[3])
        precondition(channels == count, "prototypes have \(channels) channels, the head \(count) mask coefficients")
        let plane = height * width
        let base = imageIndex * channels * plane
        let letterbox = geometry.letterbox
        var detections = [Detection]()
        for row in rows {
            // coefficients · prototypes: the mask's logits at prototype resolution
            var logits = [Float](repeating: 0, count: plane)
            prototypes.storage.withUnsafeBufferPointer { proto in
                for c in 0..<channels {
                    let coefficient = row[6 + c]
                    let offset = base + c * plane
                    for p in 0..<plane { logits[p] += coefficient * proto[offset + p] }
                }
            }
            var detection = geometry.detection(row)
            let mask: Mask
            if retina {
                mask = native(logits, width: width, height: height, letterbox: letterbox, box: detection.box)
            } else if cropsFirst {
                // before Ultralytics 8.4: crop at the prototypes' resolution (the box scaled
                // down), then upsample, then threshold (before mid-2024, on probabilities: the
                // cropped-out pixels then read 0 rather than the logit 0)
                if throughSigmoid { logits = logits.map { 1 / (1 + exp(-$0)) } }
                let (scaleX, scaleY) = (Float(width) / Float(letterbox.width), Float(height) / Float(letterbox.height))
                let box = (row[0] * scaleX, row[1] * scaleY, row[2] * scaleX, row[3] * scaleY)
                for y in 0..<height {
                    for x in 0..<width where !(Float(x) >= box.0 && Float(x) < box.2 && Float(y) >= box.1 && Float(y) < box.3) {
                        logits[y * width + x] = 0
                    }
                }
                let upsampled = Bilinear.resize(logits, width: width, height: height, toWidth: letterbox.width, toHeight: letterbox.height)
                let threshold: Float = throughSigmoid ? 0.5 : 0
                mask = Mask(width: letterbox.width, height: letterbox.height, bits: upsampled.map { $0 > threshold ? 1 : 0 })
            } else {
                let upsampled = Bilinear.resize(logits, width: width, height: height, toWidth: letterbox.width, toHeight: letterbox.height)
                mask = cropped(upsampled, width: letterbox.width, height: letterbox.height, box: (row[0], row[1], row[2], row[3]))
            }
            // Ultralytics drops predictions whose mask is empty (from 8.3.84)
            guard !dropsEmpty || mask.bits.contains(1) else { continue }
            detection.mask = mask
            detections.append(detection)
        }
        return detections
    }

    /// `crop_mask(logits > 0, box)`: pixels with column in [x1, x2) and row in [y1, y2).
    static func cropped(_ logits: [Float], width: Int, height: Int, box: (Float, Float, Float, Float)) -> Mask {
        var bits = [UInt8](repeating: 0, count: width * height)
        for y in 0..<height where Float(y) >= box.1 && Float(y) < box.3 {
            for x in 0..<width where Float(x) >= box.0 && Float(x) < box.2 && logits[y * width + x] > 0 {
                bits[y * width + x] = 1
            }
        }
        return Mask(width: width, height: height, bits: bits)
    }

    /// `process_mask_native`: upsample by the smallest factor that crops the letterbox padding on
    /// whole pixels, crop it (`scale_masks`), resize to the original, threshold, crop to the box.
    static func native(_ logits: [Float], width: Int, height: Int, letterbox: Letterbox,
                       box: (x1: Float, y1: Float, x2: Float, y2: Float)) -> Mask {
        let (originalWidth, originalHeight) = (letterbox.sourceWidth, letterbox.sourceHeight)
        let gain = min(4 * Double(height) / Double(originalHeight), 4 * Double(width) / Double(originalWidth))
        let padding = (4 * height - max(Int((Double(originalHeight) * gain).rounded(.toNearestOrEven)), 1))
            | (4 * width - max(Int((Double(originalWidth) * gain).rounded(.toNearestOrEven)), 1))
        let factor = 4 / greatestCommonDivisor(4, padding | (padding >> 1))
        var plane = logits, (planeWidth, planeHeight) = (width, height)
        if factor > 1 {
            plane = Bilinear.resize(plane, width: width, height: height, toWidth: width * factor, toHeight: height * factor, scale: 1 / Float(factor))
            (planeWidth, planeHeight) = (width * factor, height * factor)
        }
        // scale_masks: crop the padding, then resize to the original size
        let innerGain = min(Double(planeHeight) / Double(originalHeight), Double(planeWidth) / Double(originalWidth))
        let contentHeight = max(Int((Double(originalHeight) * innerGain).rounded(.toNearestOrEven)), 1)
        let contentWidth = max(Int((Double(originalWidth) * innerGain).rounded(.toNearestOrEven)), 1)
        let top = Int((Double(planeHeight - contentHeight) / 2 - 0.1).rounded(.toNearestOrEven))
        let left = Int((Double(planeWidth - contentWidth) / 2 - 0.1).rounded(.toNearestOrEven))
        var content = [Float](repeating: 0, count: contentWidth * contentHeight)
        for y in 0..<contentHeight {
            for x in 0..<contentWidth {
                let (sy, sx) = (min(max(y + top, 0), planeHeight - 1), min(max(x + left, 0), planeWidth - 1))
                content[y * contentWidth + x] = plane[sy * planeWidth + sx]
            }
        }
        let resized = contentWidth == originalWidth && contentHeight == originalHeight ? content
            : Bilinear.resize(content, width: contentWidth, height: contentHeight, toWidth: originalWidth, toHeight: originalHeight)
        return cropped(resized, width: originalWidth, height: originalHeight, box: box)
    }

    static func greatestCommonDivisor(_ a: Int, _ b: Int) -> Int {
        var (a, b) = (abs(a), abs(b))
        while b != 0 { (a, b) = (b, a % b) }
        return a
    }
}

/// PyTorch's `F.interpolate(mode="bilinear", align_corners=False)` on one float plane.
enum Bilinear {
    /// `scale`: source pixels per output pixel (default: the size ratio; `1/scale_factor` when
    /// PyTorch is given a factor).
    static func resize(_ plane: [Float], width: Int, height: Int, toWidth: Int, toHeight: Int, scale: Float? = nil) -> [Float] {
        let columns = taps(source: width, destination: toWidth, scale: scale ?? Float(width) / Float(toWidth))
        let rows = taps(source: height, destination: toHeight, scale: scale ?? Float(height) / Float(toHeight))
        var out = [Float](repeating: 0, count: toWidth * toHeight)
        plane.withUnsafeBufferPointer { source in
            for (y, row) in rows.enumerated() {
                let upper = row.first * width, lower = row.second * width
                for (x, column) in columns.enumerated() {
                    let top = column.firstWeight * source[upper + column.first] + column.secondWeight * source[upper + column.second]
                    let bottom = column.firstWeight * source[lower + column.first] + column.secondWeight * source[lower + column.second]
                    out[y * toWidth + x] = row.firstWeight * top + row.secondWeight * bottom
                }
            }
        }
        return out
    }

    struct Tap { var first: Int; var second: Int; var firstWeight: Float; var secondWeight: Float }

    static func taps(source: Int, destination: Int, scale: Float) -> [Tap] {
        (0..<destination).map { index in
            let position = max(scale * (Float(index) + 0.5) - 0.5, 0)
            let first = min(Int(position), source - 1)
            let second = first + (first < source - 1 ? 1 : 0)
            let fraction = position - Float(first)
            return Tap(first: first, second: second, firstWeight: 1 - fraction, secondWeight: fraction)
        }
    }
}
