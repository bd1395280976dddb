import Checkpoint
import Dispatch
import Foundation
import Imaging
import ModelGraph
import ModelLoading
import Prediction
import Tensor
import YAMLFrontEnd

/// Ultralytics' predictor on a loaded model: letterbox (or the classification crop), one forward
/// pass per batch through a plan made once per input shape, and the head's post-processing
/// (NMS, masks, keypoints, rotated boxes, top-5, RT-DETR's and end-to-end heads' thresholds).
public final class Predictor {
    /// Class names: those given, else the checkpoint's (empty: `class0`, `class1`, …).
    public let names: [String]
    public let head: HeadKind
    /// Heads with one-to-one branches infer through them, as Ultralytics does whenever they exist.
    public let endToEnd: Bool
    public let classCount: Int
    public let stride: Int
    /// The inference size (height, width): the one asked for, else the checkpoint's training
    /// size, else 640 — rounded up to the stride (except for classification).
    public let size: (height: Int, width: Int)
    public let settings: PredictionSettings
    /// `note:` lines for stderr: in fork mode, ops the program runs otherwise than PyTorch would.
    public private(set) var notes: [String] = []
    /// What runs a batch: ModelGraph's modules (later shapes rebuild from the first graph's spec
    /// and options, scale resolved), or a fork's code traced into a program per input shape.
    private enum Engine {
        case native(graph: ModelGraph, weights: [String: Tensor], fuse: Bool)
        case fork(request: ModelRequest, root: URL, weights: String?, fuse: Bool)
    }
    private let engine: Engine
    /// One forward pass per input shape, made once.
    private var runners: [[Int]: (Tensor) throws(ModelLoadError) -> [Tensor]] = [:]
    /// In fork mode, the program outputs post-processing reads, in its order (Segment: the
    /// predictions, then the prototypes).
    private var forkOutputs: [Int] = [0]

    /// One batch's results: per image, the input shape it ran at, and milliseconds per phase.
    public struct BatchResult {
        public var predictions: [ImagePrediction]
        public var inputShape: [Int]
        public var speed: (pre: Double, inference: Double, post: Double)
    }

    /// `size`: nil for the checkpoint's training size (else 640). `names`: nil for the
    /// checkpoint's. Throws when the last row is no head predict knows.
    public init(model: Model, weights: LoadedWeights, size requested: (height: Int, width: Int)? = nil, settings: PredictionSettings,
                names: [String]? = nil, fuse: Bool = true) throws(ModelLoadError) {
        let graph = model.graph
        guard let last = graph.layers.last?.module else { throw ModelLoadError("\(model.request.path): error: the model has no layers") }
        var strides: [Float] = [32]
        var endToEnd = false
        let head: HeadKind
        switch last {
        case let segment as Segment: head = .segment(masks: segment.extraChannels)
        case let pose as Pose: head = .pose(keypoints: pose.keypoints, dimensions: pose.dimensions)
        case is OBB: head = .obb
        case is Detect: head = .detect
        case is Classify: head = .classify
        case is RTDETRDecoder: head = .rtdetr
        default:
            throw ModelLoadError("\(model.request.path): error: predict needs a Detect, Segment, Pose, OBB, Classify or RTDETRDecoder head; the last row is \(graph.layers.last!.moduleName)")
        }
        if let detection = last as? any DetectionHeadModule {
            strides = detection.strides
            endToEnd = detection.core.hasOneToOne
        }
        self.head = head
        self.endToEnd = endToEnd
        classCount = (last as? any DetectionHeadModule)?.classCount ?? (last as? RTDETRDecoder)?.classCount ?? graph.layers.last?.outputChannels.first ?? 0
        stride = Int(strides.max() ?? 32)
        let size = requested ?? Self.trainedSize(model.checkpoint)
        self.size = head == .classify ? size : Self.roundedUp(size, to: stride)
        self.settings = settings
        self.names = names ?? model.checkpoint?.names ?? []
        engine = .native(graph: graph, weights: weights.tensors, fuse: fuse)
    }

    /// A fork model (a YAML in the fork, or a checkpoint its training wrote, with the fork's folder):
    /// built by the fork's code and traced into a program for each input shape. Its head's outputs
    /// (`forkHead`) are post-processed as Ultralytics' predictors do.
    public init(fork request: ModelRequest, root: URL, weights: String?, size requested: (height: Int, width: Int)? = nil,
                settings: PredictionSettings, names: [String]? = nil, fuse: Bool = true) throws(ModelLoadError) {
        var checkpoint: UltralyticsCheckpoint?
        if Checkpoints.isCheckpoint(request.path) { checkpoint = try Checkpoints.read(request.path) }
        var first = request
        (first.imageHeight, first.imageWidth) = requested ?? Self.trainedSize(checkpoint)
        let loaded = try Model.loadForkRunnable(first, root: root, weights: weights, seed: 0)
        let module = loaded.summary.rows.last?.module ?? "?"
        let shapes = loaded.program.outputs.map(\.shape)
        guard let reading = Self.forkHead(module: module, outputs: shapes, classCount: loaded.summary.headClassCount,
                                          keypointShape: loaded.summary.keypointShape) else {
            throw ModelLoadError("\(request.path): error: predict in fork mode post-processes Detect, Segment, Pose, OBB and Classify heads "
                                 + "as Ultralytics lays out their outputs, v10Detect's end-to-end rows and RT-DETR decoders; this model's head is \(module) "
                                 + "with output\(shapes.count == 1 ? "" : "s") \(shapes.map(describeShape).joined(separator: ", "))")
        }
        (head, classCount, endToEnd, forkOutputs) = (reading.head, reading.classCount, reading.endToEnd, reading.outputs)
        stride = max(Int(loaded.summary.stride ?? 32), 1)
        size = head == .classify ? (first.imageHeight, first.imageWidth) : Self.roundedUp((first.imageHeight, first.imageWidth), to: stride)
        var settings = settings
        settings.dropsEmptyMasks = Self.release(loaded.summary.ultralyticsVersion, isAtLeast: [8, 3, 84])
        // what the fork's own predictor does differently (the boundaries past 8.3.84 are taken as 8.4)
        let current = Self.release(loaded.summary.ultralyticsVersion, isAtLeast: [8, 4])
        settings.cropsMasksBeforeUpsampling = !current
        settings.masksThroughSigmoid = !Self.release(loaded.summary.ultralyticsVersion, isAtLeast: [8, 2, 42])
        settings.legacyPoseResults = !current
        settings.legacyRotatedBoxes = !current
        settings.legacyScaling = !current
        self.settings = settings
        self.names = names ?? checkpoint?.names ?? []
        notes = loaded.notes
        engine = .fork(request: request, root: root, weights: weights, fuse: fuse)
        // the model traced to learn its head already runs a batch of one image at its size
        if loaded.inputShape == [1, 3, size.height, size.width] { runners[loaded.inputShape] = forkRunner(loaded, fuse: fuse) }
    }

    /// Whether an Ultralytics version string ("8.3.9", "8.0.201+fork") is `release` or later; an
    /// unreadable one counts as current.
    static func release(_ version: String, isAtLeast release: [Int]) -> Bool {
        let numbers = version.prefix { $0.isNumber || $0 == "." }.split(separator: ".").compactMap { Int($0) }
        guard !numbers.isEmpty else { return true }
        return !numbers.lexicographicallyPrecedes(release)
    }

    /// The checkpoint's training size (its `imgsz`), else 640.
    static func trainedSize(_ checkpoint: UltralyticsCheckpoint?) -> (height: Int, width: Int) {
        let arguments = Dictionary(checkpoint?.trainingArguments ?? [], uniquingKeysWith: { first, _ in first })
        let trained = arguments["imgsz"].flatMap { Int($0) } ?? 640
        return (trained, trained)
    }

    /// Each side rounded up to a multiple of `stride` (at least one stride).
    static func roundedUp(_ size: (height: Int, width: Int), to stride: Int) -> (height: Int, width: Int) {
        let step = max(stride, 1)
        return (max((size.height + step - 1) / step * step, step), max((size.width + step - 1) / step * step, step))
    }

    /// The forward pass for input `shape` [B, 3, H, W], made once per shape.
    func runner(for shape: [Int]) throws(ModelLoadError) -> (Tensor) throws(ModelLoadError) -> [Tensor] {
        if let runner = runners[shape] { return runner }
        let runner: (Tensor) throws(ModelLoadError) -> [Tensor]
        switch engine {
        case .native(let graph, let weights, let fuse):
            var options = graph.options
            (options.imageHeight, options.imageWidth, options.batch) = (shape[2], shape[3], shape[0])
            options.endToEnd = endToEnd
            let sized: ModelGraph
            do { sized = try ModelGraph.build(spec: graph.spec, options: options) } catch {
                throw ModelLoadError(messages: error.diagnostics.map(\.description))
            }
            guard sized.errors.isEmpty else { throw ModelLoadError(messages: sized.errors.map(\.description)) }
            let plan = InferencePlan(graph: sized, weights: weights, fuse: fuse)
            runner = { (x: Tensor) throws(ModelLoadError) -> [Tensor] in
                do { return try plan.forward(x).outputs } catch let failure as DiagnosticList {
                    throw ModelLoadError(messages: failure.diagnostics.map(\.description))
                } catch { throw ModelLoadError("\(error)") }
            }
        case .fork(var request, let root, let weights, let fuse):
            (request.imageHeight, request.imageWidth, request.batch) = (shape[2], shape[3], shape[0])
            runner = forkRunner(try Model.loadForkRunnable(request, root: root, weights: weights, seed: 0), fuse: fuse)
        }
        runners[shape] = runner
        return runner
    }

    /// A traced fork program's forward pass (planned unless `fuse` is off).
    func forkRunner(_ loaded: ForkRunnable, fuse: Bool) -> (Tensor) throws(ModelLoadError) -> [Tensor] {
        let planned = fuse ? PlannedProgram(loaded.program) : nil
        let queries = head == .rtdetr
        let read = forkOutputs
        return { (x: Tensor) throws(ModelLoadError) -> [Tensor] in
            let outputs = planned.map { $0.run(x).outputs } ?? loaded.program.run(x)
            // the fork's RT-DETR returns [B, queries, 4 + nc]: each query's best class and its score
            return queries ? [Predictor.bestClasses(outputs[0])] : read.map { outputs[$0] }
        }
    }

    /// What predict reads of a fork model's outputs.
    public struct ForkHeadReading: Equatable, Sendable {
        public var head: HeadKind
        public var classCount: Int
        public var endToEnd: Bool
        /// The program outputs post-processing takes, in its order.
        public var outputs: [Int]
    }

    /// The head of a fork model from its last row's module name and its outputs' shapes (in the
    /// fork oracle's flattening: a head's eval tuple `(y, extras)` gives y first), as Ultralytics'
    /// heads lay them out: Detect `[B, 4 + nc, anchors]`; Segment the same plus `nm` mask
    /// coefficients, with the prototypes `[B, nm, h, w]` among the extras; Pose plus `kpt_shape`'s
    /// values per keypoint; OBB plus the angle; Classify `[B, nc]` probabilities; v10Detect's
    /// end-to-end `[B, max_det, 6]` rows; an RT-DETR decoder's `[B, queries, 4 + nc]` (8.0.x).
    /// `classCount` and `keypointShape` are the head's `nc` and `kpt_shape` where the fork sets
    /// them. Nil for a head whose outputs fit none of these.
    public static func forkHead(module: String, outputs: [[Int]], classCount: Int?, keypointShape: [Int]?) -> ForkHeadReading? {
        guard let main = outputs.first else { return nil }
        let values = main.count == 3 ? main[1] : 0
        // the class count a layout leaves, checked against the head's own nc when it has one
        func classes(after extra: Int) -> Int? {
            let count = values - 4 - extra
            guard count > 0, classCount == nil || classCount == count else { return nil }
            return count
        }
        if module.contains("RTDETRDecoder") {
            guard main.count == 3, main[2] > 4 else { return nil }
            return ForkHeadReading(head: .rtdetr, classCount: main[2] - 4, endToEnd: false, outputs: [0])
        }
        if module.contains("Classify") {
            guard main.count == 2, main[1] > 0, classCount == nil || classCount == main[1] else { return nil }
            return ForkHeadReading(head: .classify, classCount: main[1], endToEnd: false, outputs: [0])
        }
        if module.contains("WorldDetect") || module.contains("YOLOE") { return nil }
        if module.contains("v10Detect") {
            guard main.count == 3, main[2] == 6, let classCount else { return nil }
            return ForkHeadReading(head: .detect, classCount: classCount, endToEnd: true, outputs: [0])
        }
        guard main.count == 3 else { return nil }
        if module.contains("Segment") {
            // the prototypes: the last map among the extras
            guard let prototypes = outputs.indices.dropFirst().last(where: { outputs[$0].count == 4 }),
                  let count = classes(after: outputs[prototypes][1]) else { return nil }
            return ForkHeadReading(head: .segment(masks: outputs[prototypes][1]), classCount: count, endToEnd: false, outputs: [0, prototypes])
        }
        if module.contains("Pose") {
            guard let shape = keypointShape, shape.count == 2, [2, 3].contains(shape[1]), let count = classes(after: shape[0] * shape[1]) else { return nil }
            return ForkHeadReading(head: .pose(keypoints: shape[0], dimensions: shape[1]), classCount: count, endToEnd: false, outputs: [0])
        }
        if module.contains("OBB") {
            guard let count = classes(after: 1) else { return nil }
            return ForkHeadReading(head: .obb, classCount: count, endToEnd: false, outputs: [0])
        }
        guard let count = classes(after: 0) else { return nil }
        return ForkHeadReading(head: .detect, classCount: count, endToEnd: false, outputs: [0])
    }

    /// [B, k, 4 + nc] → [B, k, 6]: the box, the best score and its class (RTDETRPredictor's `max(-1)`).
    public static func bestClasses(_ x: Tensor) -> Tensor {
        let (batch, k, width) = (x.shape[0], x.shape[1], x.shape[2])
        return Tensor(shape: [batch, k, 6]) { out in
            for row in 0..<(batch * k) {
                let base = row * width
                var best = 4
                for c in 5..<width where x.storage[base + c] > x.storage[base + best] { best = c }
                for j in 0..<4 { out[row * 6 + j] = x.storage[base + j] }
                out[row * 6 + 4] = x.storage[base + best]
                out[row * 6 + 5] = Float(best - 4)
            }
        }
    }

    /// Predicts on `images` as one batch. `readTime`: the milliseconds spent reading them,
    /// counted as preprocessing (as Ultralytics counts it).
    public func predict(_ images: [RGBImage], readTime: Double = 0) throws(ModelLoadError) -> BatchResult {
        let started = DispatchTime.now()
        let sameShape = Set(images.map { [$0.width, $0.height] }).count == 1
        var inputs = [RGBImage]()
        var letterboxes = [Letterbox]()
        for image in images {
            if head == .classify {
                let side = min(size.height, size.width)
                inputs.append(image.classificationCrop(size: side))
                letterboxes.append(Letterbox(sourceWidth: image.width, sourceHeight: image.height, targetHeight: side, targetWidth: side, stride: 1, auto: false, stretch: true))
                continue
            }
            let letterbox = Letterbox(sourceWidth: image.width, sourceHeight: image.height, targetHeight: size.height, targetWidth: size.width,
                                      stride: stride, auto: sameShape && head != .rtdetr, stretch: head == .rtdetr)
            inputs.append(letterbox.apply(image))
            letterboxes.append(letterbox)
        }
        let shape = [inputs.count, 3, inputs[0].height, inputs[0].width]
        let tensor = Tensor(shape: shape) { out in
            let plane = shape[2] * shape[3]
            for (n, input) in inputs.enumerated() {
                input.pixels.withUnsafeBufferPointer { pixels in
                    for p in 0..<plane {
                        for channel in 0..<3 { out[(n * 3 + channel) * plane + p] = Float(pixels[p * 3 + channel]) / 255 }
                    }
                }
            }
        }
        // building a plan for a new input shape is set-up, not preprocessing (Ultralytics' warm-up)
        let building = DispatchTime.now()
        let forward = try runner(for: shape)
        let prepared = DispatchTime.now()
        let buildTime = milliseconds(building, prepared)
        let outputs = try forward(tensor)
        let inferred = DispatchTime.now()
        let predictions = letterboxes.enumerated().map { index, letterbox in
            Postprocess.image(index, outputs: outputs, head: head, endToEnd: endToEnd, classCount: classCount,
                              letterbox: letterbox, settings: settings)
        }
        let finished = DispatchTime.now()
        return BatchResult(predictions: predictions, inputShape: shape,
                           speed: (readTime + milliseconds(started, prepared) - buildTime, milliseconds(prepared, inferred), milliseconds(inferred, finished)))
    }
}

private func milliseconds(_ start: DispatchTime, _ end: DispatchTime) -> Double {
    Double(end.uptimeNanoseconds - start.uptimeNanoseconds) / 1e6
}
