import Foundation

/// Ultralytics' `non_max_suppression` for one image (best class per box, no multi-label).
enum NonMaxSuppression {
    /// `prediction`: `[4 + classCount + extra, anchors]` column-major planes as the Detect
    /// family returns them. Returns the kept rows `[x1, y1, x2, y2, score, class, extra…]`
    /// (rotated: `[cx, cy, w, h, score, class, angle]`), best first.
    static func select(_ prediction: (values: Int, anchors: Int, data: ArraySlice<Float>), classCount: Int, extra: Int,
                       rotated: Bool, settings: PredictionSettings) -> [[Float]] {
        let (values, anchors) = (prediction.values, prediction.anchors)
        precondition(values == 4 + classCount + extra, "prediction has \(values) values per anchor, expected \(4 + classCount + extra)")
        var rows = [[Float]]()
        prediction.data.withUnsafeBufferPointer { data in
            func value(_ v: Int, _ a: Int) -> Float { data[v * anchors + a] }
            for a in 0..<anchors {
                // the best class (torch.max returns the first of equal maxima)
                var best = value(4, a), bestClass = 0
                for c in 1..<max(classCount, 1) where value(4 + c, a) > best { best = value(4 + c, a); bestClass = c }
                guard best > settings.confidence else { continue }
                if let classes = settings.classes, !classes.contains(bestClass) { continue }
                var row = [Float](repeating: 0, count: 6 + extra)
                let (x, y, w, h) = (value(0, a), value(1, a), value(2, a), value(3, a))
                if rotated {
                    (row[0], row[1], row[2], row[3]) = (x, y, w, h)
                } else {
                    let (halfWidth, halfHeight) = (w / 2, h / 2)
                    (row[0], row[1], row[2], row[3]) = (x - halfWidth, y - halfHeight, x + halfWidth, y + halfHeight)
                }
                row[4] = best
                row[5] = Float(bestClass)
                for e in 0..<extra { row[6 + e] = value(4 + classCount + e, a) }
                rows.append(row)
            }
        }
        if rows.isEmpty { return [] }
        if rows.count > settings.maximumCandidates {
            rows = byDescendingScore(rows).prefix(settings.maximumCandidates).map { rows[$0] }
        }
        let offsets = rows.map { settings.agnostic ? 0 : $0[5] * settings.classOffset }
        let kept = rotated ? fastRotated(rows, offsets: offsets, threshold: settings.iou)
                           : greedy(rows, offsets: offsets, threshold: settings.iou)
        return kept.prefix(settings.maximumDetections).map { rows[$0] }
    }

    /// Row indices by descending score (column 4), equal scores in row order — torch's stable
    /// `argsort(descending=True)`, which NMS and `max_nms` both use.
    static func byDescendingScore(_ rows: [[Float]]) -> [Int] {
        rows.indices.sorted { rows[$0][4] > rows[$1][4] || (rows[$0][4] == rows[$1][4] && $0 < $1) }
    }

    /// torchvision's `nms`: by descending score (stable), keep a box, drop every later box whose
    /// IoU with it exceeds `threshold`; float32 arithmetic on the class-offset boxes.
    static func greedy(_ rows: [[Float]], offsets: [Float], threshold: Float) -> [Int] {
        let order = byDescendingScore(rows)
        let boxes = rows.indices.map { i in (rows[i][0] + offsets[i], rows[i][1] + offsets[i], rows[i][2] + offsets[i], rows[i][3] + offsets[i]) }
        let areas = boxes.map { ($0.2 - $0.0) * ($0.3 - $0.1) }
        var suppressed = [Bool](repeating: false, count: rows.count)
        var kept = [Int]()
        for (position, i) in order.enumerated() where !suppressed[i] {
            kept.append(i)
            let a = boxes[i]
            for j in order[(position + 1)...] where !suppressed[j] {
                let b = boxes[j]
                let width = max(0, min(a.2, b.2) - max(a.0, b.0)), height = max(0, min(a.3, b.3) - max(a.1, b.1))
                let intersection = width * height
                if intersection / (areas[i] + areas[j] - intersection) > threshold { suppressed[j] = true }
            }
        }
        return kept
    }

    /// Ultralytics' `TorchNMS.fast_nms` with `batch_probiou`: by descending score, a box is
    /// dropped when any higher-scoring box (kept or not) overlaps it beyond `threshold`.
    static func fastRotated(_ rows: [[Float]], offsets: [Float], threshold: Float) -> [Int] {
        let order = byDescendingScore(rows)
        let boxes = order.map { i in ProbabilisticBox(x: rows[i][0] + offsets[i], y: rows[i][1] + offsets[i], width: rows[i][2], height: rows[i][3], angle: rows[i][6]) }
        var kept = [Int]()
        for j in boxes.indices {
            var overlapped = false
            for i in 0..<j where ProbabilisticBox.iou(boxes[i], boxes[j]) > threshold { overlapped = true; break }
            if !overlapped { kept.append(order[j]) }
        }
        return kept
    }
}

/// A rotated box as a Gaussian, for Ultralytics' probabilistic IoU (`batch_probiou`).
struct ProbabilisticBox {
    let x: Float, y: Float
    let a: Float, b: Float, c: Float

    init(x: Float, y: Float, width: Float, height: Float, angle: Float) {
        self.x = x
        self.y = y
        let (varianceA, varianceB) = (width * width / 12, height * height / 12)
        let (cosine, sine) = (cos(angle), sin(angle))
        let (cos2, sin2) = (cosine * cosine, sine * sine)
        a = varianceA * cos2 + varianceB * sin2
        b = varianceA * sin2 + varianceB * cos2
        c = (varianceA - varianceB) * cosine * sine
    }

    static func iou(_ first: ProbabilisticBox, _ second: ProbabilisticBox, eps: Float = 1e-7) -> Float {
        let (a, b, c) = (first.a + second.a, first.b + second.b, first.c + second.c)
        let denominator = a * b - c * c + eps
        let t1 = (a * (first.y - second.y) * (first.y - second.y) + b * (first.x - second.x) * (first.x - second.x)) / denominator * 0.25
        let t2 = (c * (second.x - first.x) * (first.y - second.y)) / denominator * 0.5
        let determinants = max(first.a * first.b - first.c * first.c, 0) * max(second.a * second.b - second.c * second.c, 0)
        let t3 = log((a * b - c * c) / (4 * determinants.squareRoot() + eps) + eps) * 0.5
        let distance = min(max(t1 + t2 + t3, eps), 100)
        let hellinger = (1 - exp(-distance) + eps).squareRoot()
        return 1 - hellinger
    }
}
