import Imaging

/// Draws predictions on the original image as Ultralytics' `Results.plot()` lays them out:
/// masks blended at half opacity, boxes (or rotated boxes) in the class's palette colour with a
/// "name score" label, keypoints with the COCO skeleton, and the top 5 for classifiers.
public enum Annotator {
    /// Ultralytics' class palette (`Colors.hexs`).
    static let palette: [Color] = [
        0x042AFF, 0x0BDBEB, 0xF3F3F3, 0x00DFB7, 0x111F68, 0xFF6FDD, 0xFF444F, 0xCCED00, 0x00F344, 0xBD00FF,
        0x00B4FF, 0xDD00BA, 0x00FFFF, 0x26C000, 0x01FFB3, 0x7D24FF, 0x7B0068, 0xFF1B6C, 0xFC6D2F, 0xA2FF0B,
    ].map { Color(hex: $0) }

    /// Ultralytics' pose palette and which entries the 17 COCO keypoints and 19 limbs use.
    static let posePalette: [Color] = [
        (255, 128, 0), (255, 153, 51), (255, 178, 102), (230, 230, 0), (255, 153, 255), (153, 204, 255), (255, 102, 255),
        (255, 51, 255), (102, 178, 255), (51, 153, 255), (255, 153, 153), (255, 102, 102), (255, 51, 51), (153, 255, 153),
        (102, 255, 102), (51, 255, 51), (0, 255, 0), (0, 0, 255), (255, 0, 0), (255, 255, 255),
    ].map { Color($0.0, $0.1, $0.2) }
    static let keypointColors = [16, 16, 16, 16, 16, 0, 0, 0, 0, 0, 0, 9, 9, 9, 9, 9, 9]
    static let limbColors = [9, 9, 9, 9, 7, 7, 7, 0, 0, 0, 0, 0, 16, 16, 16, 16, 16, 16, 16]
    /// COCO's skeleton (1-based keypoint pairs).
    static let skeleton = [(16, 14), (14, 12), (17, 15), (15, 13), (12, 13), (6, 12), (7, 13), (6, 7), (6, 8), (7, 9),
                           (8, 10), (9, 11), (2, 3), (1, 2), (1, 3), (2, 4), (3, 5), (4, 6), (5, 7)]

    /// The class's name, or Ultralytics' `class<i>` when the names do not cover it.
    public static func className(_ index: Int, _ names: [String]) -> String {
        names.indices.contains(index) ? names[index] : "class\(index)"
    }

    public static func color(forClass index: Int) -> Color { palette[((index % palette.count) + palette.count) % palette.count] }

    public static func annotate(_ image: RGBImage, _ prediction: ImagePrediction, names: [String]) -> RGBImage {
        var canvas = image
        let lineWidth = max(Int((Double(image.width + image.height + 3) / 2 * 0.003).rounded(.toNearestOrEven)), 2)
        let fontPixels = Double(image.width + image.height + 3) / 2 * 0.035
        let fontScale = max(Int((fontPixels / Double(RGBImage.textSize("A", scale: 1).height)).rounded()), 1)

        if let top5 = prediction.top5 {
            var y: Int = 8 * fontScale
            for entry in top5 {
                let text = "\(className(entry.classIndex, names)) \(format(entry.probability))"
                let size = RGBImage.textSize(text, scale: fontScale)
                canvas.fill(x0: 4 * fontScale - fontScale, y0: y - fontScale, x1: 4 * fontScale + size.width + fontScale, y1: y + size.height + fontScale, Color(40, 40, 40))
                canvas.text(text, x: 4 * fontScale, y: y, scale: fontScale, .white)
                y += size.height + 3 * fontScale
            }
            return canvas
        }
        // masks first, so boxes and labels stay on top
        for detection in prediction.detections.reversed() {
            guard let mask = detection.mask else { continue }
            let region: (x: Int, y: Int, width: Int, height: Int)
            if prediction.maskSpace == .input, let box = prediction.letterbox {
                region = (box.left, box.top, box.resizedWidth, box.resizedHeight)
            } else {
                region = (0, 0, mask.width, mask.height)
            }
            canvas.blend(mask: mask.bits, maskWidth: mask.width, maskHeight: mask.height, region: region,
                         color(forClass: detection.classIndex), alpha: 0.5)
        }
        for detection in prediction.detections.reversed() {
            let tint = color(forClass: detection.classIndex)
            let text = "\(className(detection.classIndex, names)) \(format(detection.score))"
            if let rotated = detection.rotated {
                let corners = rotated.corners
                for index in corners.indices {
                    canvas.line(from: corners[index], to: corners[(index + 1) % corners.count], thickness: lineWidth, tint)
                }
                let top = corners.min { $0.y < $1.y }!
                drawLabel(&canvas, text, x: Int(top.x), y: Int(top.y), scale: fontScale, tint)
            } else {
                let box = detection.box
                let (x0, y0, x1, y1) = (Int(box.x1), Int(box.y1), Int(box.x2), Int(box.y2))
                canvas.stroke(x0: x0, y0: y0, x1: x1, y1: y1, thickness: lineWidth, tint)
                drawLabel(&canvas, text, x: x0, y: y0, scale: fontScale, tint)
            }
            if let keypoints = detection.keypoints { drawKeypoints(&canvas, keypoints, lineWidth: lineWidth) }
        }
        return canvas
    }

    /// A filled label box above (x, y), or below it when there is no room.
    static func drawLabel(_ canvas: inout RGBImage, _ text: String, x: Int, y: Int, scale: Int, _ tint: Color) {
        let size = RGBImage.textSize(text, scale: scale)
        let padding = 2 * scale
        let height = size.height + 2 * padding
        let top = y - height >= 0 ? y - height : y
        let left = min(max(x, 0), max(canvas.width - size.width - 2 * padding, 0))
        canvas.fill(x0: left, y0: top, x1: left + size.width + 2 * padding, y1: top + height, tint)
        canvas.text(text, x: left + padding, y: top + padding, scale: scale, tint.luma > 150 ? .black : .white)
    }

    static func drawKeypoints(_ canvas: inout RGBImage, _ keypoints: [Keypoint], lineWidth: Int) {
        let isCOCO = keypoints.count == 17
        func visible(_ point: Keypoint) -> Bool {
            if let visibility = point.visibility { return visibility >= 0.25 }
            return !(point.x == 0 && point.y == 0)
        }
        func inside(_ point: Keypoint) -> Bool { point.x > 0 && point.y > 0 && point.x < Float(canvas.width) && point.y < Float(canvas.height) }
        if isCOCO {
            for (limb, pair) in skeleton.enumerated() {
                let (a, b) = (keypoints[pair.0 - 1], keypoints[pair.1 - 1])
                guard visible(a), visible(b), inside(a), inside(b) else { continue }
                canvas.line(from: (a.x.rounded(.towardZero), a.y.rounded(.towardZero)), to: (b.x.rounded(.towardZero), b.y.rounded(.towardZero)),
                            thickness: (lineWidth + 1) / 2, posePalette[limbColors[limb]])
            }
        }
        for (index, point) in keypoints.enumerated() where visible(point) {
            let tint = isCOCO ? posePalette[keypointColors[index]] : color(forClass: index)
            canvas.disc(centerX: point.x.rounded(.towardZero), centerY: point.y.rounded(.towardZero), radius: 5, tint)
        }
    }

    static func format(_ value: Float) -> String {
        let hundredths = Int((value * 100).rounded())
        return "\(hundredths / 100).\(hundredths % 100 < 10 ? "0" : "")\(hundredths % 100)"
    }
}
