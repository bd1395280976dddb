import Dispatch
import Imaging
import ModelGraph
import ModelLoading
import Prediction
import Tensor

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
    /// The model as built first: later shapes rebuild from its spec and options (scale resolved).
    private let graph: ModelGraph
    private let weights: [String: Tensor]
    private let fuse: Bool
    private var plans: [[Int]: InferencePlan] = [:]

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
        let arguments = Dictionary(model.checkpoint?.trainingArguments ?? [], uniquingKeysWith: { first, _ in first })
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
        let trained = arguments["imgsz"].flatMap { Int($0) }
        var size = requested ?? (trained ?? 640, trained ?? 640)
        if head != .classify {
            let step = max(stride, 1)
            size = (max((size.height + step - 1) / step * step, step), max((size.width + step - 1) / step * step, step))
        }
        self.size = size
        self.settings = settings
        self.names = names ?? model.checkpoint?.names ?? []
        self.graph = graph
        self.weights = weights.tensors
        self.fuse = fuse
    }

    /// The plan for input `shape` [B, 3, H, W], built once per shape.
    func plan(for shape: [Int]) throws(ModelLoadError) -> InferencePlan {
        if let plan = plans[shape] { return plan }
        var options = graph.options
        (options.imageHeight, options.imageWidth, options.batch) = (shape[2], shape[3], shape[0])
        options.endToEnd = endToEnd
        let sized: ModelGraph
        do { sized = try ModelGraph.build(spec: graph.spec, options: options) } catch {
            throw ModelLoadError(messages: error.diagnostics.map(\.description))
        }
        guard sized.errors.isEmpty else { throw ModelLoadError(messages: sized.errors.map(\.description)) }
        let plan = InferencePlan(graph: sized, weights: weights, fuse: fuse)
        plans[shape] = plan
        return plan
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
        let plan = try plan(for: shape)
        let prepared = DispatchTime.now()
        let buildTime = milliseconds(building, prepared)
        let result: ForwardResult
        do { result = try plan.forward(tensor) } catch {
            throw ModelLoadError(messages: error.diagnostics.map(\.description))
        }
        let inferred = DispatchTime.now()
        let predictions = letterboxes.enumerated().map { index, letterbox in
            Postprocess.image(index, outputs: result.outputs, head: head, endToEnd: endToEnd, classCount: classCount,
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
