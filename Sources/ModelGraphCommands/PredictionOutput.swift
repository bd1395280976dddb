import Foundation
import ModelGraph
import Prediction

/// `predict --json`: one object per image, with Ultralytics' `Results.summary()` keys
/// (`name`, `class`, `confidence`, `box`, `keypoints`) plus the mask as run lengths.
enum PredictionJSON {
    static func render(_ prediction: ImagePrediction, path: String, names: [String], task: String, inputShape: [Int],
                       speed: (pre: Double, inference: Double, post: Double), count: Int) -> JSONValue {
        var pairs: [(String, JSONValue)] = [
            ("image", .string(path)), ("width", .int(prediction.width)), ("height", .int(prediction.height)),
            ("task", .string(task)), ("input", .array(inputShape.map { .int($0) })),
        ]
        if let top5 = prediction.top5 {
            pairs.append(("top5", .array(top5.map { entry in
                .object([("name", .string(name(entry.classIndex, names))), ("class", .int(entry.classIndex)), ("confidence", number(entry.probability))])
            })))
        } else {
            pairs.append(("detections", .array(prediction.detections.map { detection(in: prediction, $0, names: names) })))
        }
        let share = Double(max(count, 1))
        pairs.append(("speed", .object([("preprocess", .double(rounded(speed.pre / share))), ("inference", .double(rounded(speed.inference / share))),
                                        ("postprocess", .double(rounded(speed.post / share)))])))
        return .object(pairs)
    }

    static func detection(in prediction: ImagePrediction, _ detection: Detection, names: [String]) -> JSONValue {
        var pairs: [(String, JSONValue)] = [
            ("name", .string(name(detection.classIndex, names))), ("class", .int(detection.classIndex)), ("confidence", number(detection.score)),
        ]
        if let rotated = detection.rotated {
            let corners = rotated.corners
            var box: [(String, JSONValue)] = []
            for (index, corner) in corners.enumerated() { box += [("x\(index + 1)", number(corner.x)), ("y\(index + 1)", number(corner.y))] }
            pairs.append(("box", .object(box)))
            pairs.append(("xywhr", .array([rotated.centerX, rotated.centerY, rotated.width, rotated.height, rotated.angle].map(number))))
        } else {
            pairs.append(("box", .object([("x1", number(detection.box.x1)), ("y1", number(detection.box.y1)),
                                          ("x2", number(detection.box.x2)), ("y2", number(detection.box.y2))])))
        }
        if let keypoints = detection.keypoints {
            var keys: [(String, JSONValue)] = [("x", .array(keypoints.map { number($0.x) })), ("y", .array(keypoints.map { number($0.y) }))]
            if keypoints.first?.visibility != nil { keys.append(("visible", .array(keypoints.map { number($0.visibility ?? 0) }))) }
            pairs.append(("keypoints", .object(keys)))
        }
        if let mask = detection.mask {
            pairs.append(("mask", .object([
                ("space", .string(prediction.maskSpace == .input ? "input" : "original")),
                ("width", .int(mask.width)), ("height", .int(mask.height)), ("area", .int(mask.area)),
                ("counts", .array(runLengths(mask.bits).map { .int($0) })),
            ])))
        }
        return .object(pairs)
    }

    /// Alternating run lengths of 0s and 1s, row-major, starting with 0s.
    static func runLengths(_ bits: [UInt8]) -> [Int] {
        var counts = [Int](), current: UInt8 = 0, run = 0
        for bit in bits {
            if bit == current { run += 1 } else { counts.append(run); current = bit; run = 1 }
        }
        counts.append(run)
        return counts
    }

    static func number(_ value: Float) -> JSONValue { .double(Double(value)) }
    static func rounded(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }
}

/// `--save-txt`: Ultralytics' label lines — class and normalised (cx, cy, w, h), keypoints
/// (x, y[, visibility]) for Pose, the four normalised corners for OBB, "probability name" for
/// Classify's top 5; with `confidence`, each detection's score last.
enum YOLOLabels {
    static func lines(_ prediction: ImagePrediction, names: [String], confidence: Bool) -> [String] {
        let (width, height) = (Float(prediction.width), Float(prediction.height))
        func f(_ value: Float) -> String { String(format: "%g", Double(value)) }
        if let top5 = prediction.top5 { return top5.map { "\(String(format: "%.2f", $0.probability)) \(name($0.classIndex, names))" } }
        return prediction.detections.map { detection in
            var values: [String] = [String(detection.classIndex)]
            if let rotated = detection.rotated {
                for corner in rotated.corners { values += [f(corner.x / width), f(corner.y / height)] }
            } else {
                let box = detection.box
                values += [f((box.x1 + box.x2) / 2 / width), f((box.y1 + box.y2) / 2 / height), f((box.x2 - box.x1) / width), f((box.y2 - box.y1) / height)]
            }
            for point in detection.keypoints ?? [] {
                values += [f(point.x / width), f(point.y / height)]
                if let visibility = point.visibility { values.append(f(visibility)) }
            }
            if confidence { values.append(f(detection.score)) }
            return values.joined(separator: " ")
        }
    }
}
