import ArgumentParser
import Checkpoint
import Dispatch
import Foundation
import Imaging
import ModelGraph
import ModelLoading
import Prediction
import Tensor

struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Run a model on JPEG/PNG images as Ultralytics' predictor does: letterbox, forward, NMS or the head's own post-processing.",
        discussion: """
            Sources are image files or folders (their .jpg/.jpeg/.png files, sorted by name). Each image is read as \
            OpenCV reads it (EXIF orientation applied; grey, alpha, palette and 16-bit converted to 8-bit RGB), \
            letterboxed to --imgsz (default: the checkpoint's training size, else 640) with the minimal stride padding \
            Ultralytics uses for one image, and post-processed per head: Detect → NMS; Segment → masks; Pose → \
            keypoints; OBB → rotated NMS; Classify → top 5; RT-DETR and end-to-end heads → score threshold. \
            A line per image as Ultralytics prints it; --json prints one JSON object per image instead; --out DIR \
            writes annotated images (and with --save-txt, YOLO-format labels in DIR/labels).
            Exit status: 0 ok, 1 a bad model, weights or image, 2 usage error.
            """)

    @Argument(help: "The model: an Ultralytics .pt checkpoint, a YAML file (with --weights) or an official architecture name.")
    var model: String

    @Argument(help: "Images: JPEG or PNG files, or folders of them.")
    var sources: [String]

    @Option(help: "Scale from the YAML's `scales:` (default: the checkpoint's, else the first).")
    var scale: String?

    @Option(help: ArgumentHelp("Inference size: H, or H,W (default: the checkpoint's training size, else 640).", valueName: "H[,W]"))
    var imgsz: ImageSize?

    @Option(help: "Images per forward pass (images of one shape keep their minimal letterbox; mixed shapes are padded to --imgsz).")
    var batch: Int = 1

    @Option(help: "Confidence threshold.")
    var conf: Float = 0.25

    @Option(help: "IoU threshold of NMS.")
    var iou: Float = 0.7

    @Option(help: ArgumentHelp("Keep only these classes (indices).", valueName: "i,j,…"))
    var classes: String?

    @Flag(help: "Class-agnostic NMS (one NMS over all classes).")
    var agnostic = false

    @Option(name: .customLong("max-det"), help: "Most detections per image.")
    var maxDet: Int = 300

    @Flag(name: .customLong("retina-masks"), help: "Segment: masks at the original image's resolution (default: at the model's input size).")
    var retinaMasks = false

    @Option(help: ArgumentHelp("Class names: a text file, one name per line (default: the checkpoint's, else class0, class1, …).", valueName: "file"))
    var names: String?

    @Option(help: ArgumentHelp("Write annotated images (and --save-txt labels) into this folder.", valueName: "dir"))
    var out: String?

    @Option(help: ArgumentHelp("Format of the annotated images: png or jpg (default: the input's).", valueName: "png|jpg"))
    var format: String?

    @Flag(name: .customLong("save-txt"), help: "With --out: write YOLO-format labels (class, normalised box[, keypoints]) to DIR/labels/NAME.txt.")
    var saveText = false

    @Flag(name: .customLong("save-conf"), help: "With --save-txt: append each detection's confidence.")
    var saveConfidence = false

    @Flag(help: "Print one JSON object per image on stdout instead of the text lines.")
    var json = false

    @OptionGroup var execution: ExecutionOptions

    func validate() throws {
        guard (0...1).contains(conf) else { throw ValidationError("--conf must be between 0 and 1, found \(conf)") }
        guard (0...1).contains(iou) else { throw ValidationError("--iou must be between 0 and 1, found \(iou)") }
        guard (1...1024).contains(batch) else { throw ValidationError("--batch must be from 1 to 1024, found \(batch)") }
        guard (1...100_000).contains(maxDet) else { throw ValidationError("--max-det must be from 1 to 100000, found \(maxDet)") }
        if let imgsz, imgsz.height > 8192 || imgsz.width > 8192 { throw ValidationError("--imgsz must be at most 8192 per side, found \(imgsz.height),\(imgsz.width)") }
        if let classes, parsedClasses(classes) == nil { throw ValidationError("--classes takes class indices separated by commas (0,2,5), found '\(classes)'") }
        if saveText && out == nil { throw ValidationError("--save-txt writes into --out DIR; give --out") }
        if let format, !["png", "jpg", "jpeg"].contains(format.lowercased()) { throw ValidationError("--format is png or jpg, found '\(format)'") }
        if saveConfidence && !saveText { throw ValidationError("--save-conf needs --save-txt") }
    }

    func parsedClasses(_ text: String) -> [Int]? {
        let parts = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, parts.allSatisfy({ ($0 ?? -1) >= 0 }) else { return nil }
        return parts.compactMap { $0 }
    }

    func run() throws {
        execution.configureThreads()
        let paths = try imagePaths()
        let predictor = try Predictor(command: self)
        if let out {
            do { try FileManager.default.createDirectory(atPath: saveText ? out + "/labels" : out, withIntermediateDirectories: true) } catch {
                printError("\(out): error: cannot create the output folder (\(describeFileError(error)))")
                throw ExitCode(1)
            }
        }
        var totals = (pre: 0.0, inference: 0.0, post: 0.0), shown = 0, lastShape = [Int]()
        for start in stride(from: 0, to: paths.count, by: batch) {
            let chunk = Array(paths[start..<min(start + batch, paths.count)])
            var images = [RGBImage]()
            let readStart = DispatchTime.now()
            for path in chunk {
                do { images.append(try ImageFile.read(path).image) } catch {
                    printError(error.description)
                    throw ExitCode(1)
                }
            }
            let batchResult = try predictor.predict(images, readTime: milliseconds(readStart, DispatchTime.now()))
            lastShape = batchResult.inputShape
            for (offset, (path, prediction)) in zip(chunk, batchResult.predictions).enumerated() {
                shown += 1
                let speed = batchResult.speed
                totals.pre += speed.pre / Double(chunk.count)
                totals.inference += speed.inference / Double(chunk.count)
                totals.post += speed.post / Double(chunk.count)
                if json {
                    print(PredictionJSON.render(prediction, path: path, names: predictor.names, task: predictor.head.task,
                                                inputShape: batchResult.inputShape, speed: speed, count: chunk.count).rendered())
                } else {
                    printError("image \(shown)/\(paths.count) \(path): \(batchResult.inputShape[2])x\(batchResult.inputShape[3]) "
                               + describe(prediction, names: predictor.names) + String(format: ", %.1fms", speed.inference / Double(chunk.count)))
                }
                if let out { try save(prediction, image: images[offset], path: path, into: out, names: predictor.names) }
            }
        }
        if !paths.isEmpty && !json {
            let count = Double(paths.count)
            printError(String(format: "Speed: %.1fms preprocess, %.1fms inference, %.1fms postprocess per image at shape (%@)",
                              totals.pre / count, totals.inference / count, totals.post / count,
                              lastShape.map(String.init).joined(separator: ", ")))
            if let out { printError("Results saved to \(out)") }
        }
    }

    /// Ultralytics' per-image summary: "4 persons, 1 bus" (or the top classes for Classify).
    func describe(_ prediction: ImagePrediction, names: [String]) -> String {
        if let top5 = prediction.top5 {
            return top5.map { "\(name($0.classIndex, names)) \(String(format: "%.2f", $0.probability))" }.joined(separator: ", ")
        }
        if prediction.detections.isEmpty { return "(no detections)" }
        var counts = [Int: Int]()
        for detection in prediction.detections { counts[detection.classIndex, default: 0] += 1 }
        return counts.keys.sorted().map { index in
            let count = counts[index]!
            return "\(count) \(name(index, names))\(count > 1 ? "s" : "")"
        }.joined(separator: ", ")
    }

    /// Files named, and the images in folders named, in order.
    func imagePaths() throws -> [String] {
        var paths = [String]()
        for source in sources {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory) else {
                printError("\(source): error: no such file or folder")
                throw ExitCode(1)
            }
            guard isDirectory.boolValue else { paths.append(source); continue }
            let entries: [String]
            do { entries = try FileManager.default.contentsOfDirectory(atPath: source) } catch {
                printError("\(source): error: cannot list the folder (\(describeFileError(error)))")
                throw ExitCode(1)
            }
            let images = entries.filter { ImageFormat(fileName: $0) != nil }.sorted()
            let skipped = entries.count - images.count
            if images.isEmpty {
                printError("\(source): error: no .jpg, .jpeg or .png images in the folder")
                throw ExitCode(1)
            }
            if skipped > 0 { printError("note: \(source): \(skipped) file\(skipped == 1 ? "" : "s") that are not .jpg/.jpeg/.png skipped") }
            paths += images.map { (source as NSString).appendingPathComponent($0) }
        }
        return paths
    }

    func save(_ prediction: ImagePrediction, image: RGBImage, path: String, into folder: String, names: [String]) throws {
        var fileName = (path as NSString).lastPathComponent
        if let format { fileName = (fileName as NSString).deletingPathExtension + "." + format.lowercased() }
        let annotated = Annotator.annotate(image, prediction, names: names)
        do { try ImageFile.write(annotated, to: (folder as NSString).appendingPathComponent(fileName)) } catch {
            printError(error.description)
            throw ExitCode(1)
        }
        guard saveText else { return }
        let stem = (fileName as NSString).deletingPathExtension
        let labels = YOLOLabels.lines(prediction, names: names, confidence: saveConfidence).joined(separator: "\n")
        let file = (folder as NSString).appendingPathComponent("labels/\(stem).txt")
        do { try Data((labels.isEmpty ? "" : labels + "\n").utf8).write(to: URL(fileURLWithPath: file), options: .atomic) } catch {
            printError("\(file): error: cannot write the labels (\(describeFileError(error)))")
            throw ExitCode(1)
        }
    }
}

func name(_ index: Int, _ names: [String]) -> String { Annotator.className(index, names) }

/// The model, its weights and Ultralytics' settings, with one plan per input shape.
final class Predictor {
    let names: [String]
    let head: HeadKind
    let endToEnd: Bool
    let classCount: Int
    let stride: Int
    let size: ImageSize
    let settings: PredictionSettings
    /// The model as built first: later shapes rebuild from its spec and options (scale resolved).
    private let graph: ModelGraph
    private let weights: [String: Tensor]
    private let fuse: Bool
    private var plans: [[Int]: InferencePlan] = [:]

    struct BatchResult {
        var predictions: [ImagePrediction]
        var inputShape: [Int]
        var speed: (pre: Double, inference: Double, post: Double)
    }

    init(command: PredictCommand) throws {
        var options = try ModelOptions.parse([command.model])
        options.scale = command.scale
        let loaded = try options.loadRunnableModel()
        let (graph, checkpoint) = (loaded.graph, loaded.checkpoint)
        let arguments = Dictionary(checkpoint?.trainingArguments ?? [], uniquingKeysWith: { first, _ in first })
        guard let last = graph.layers.last?.module else {
            printError("\(command.model): error: the model has no layers")
            throw ExitCode(1)
        }
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
            printError("\(command.model): error: predict needs a Detect, Segment, Pose, OBB, Classify or RTDETRDecoder head; the last row is \(graph.layers.last!.moduleName)")
            throw ExitCode(1)
        }
        if let detection = last as? any DetectionHeadModule {
            strides = detection.strides
            // Ultralytics infers end-to-end whenever the head has one-to-one branches
            endToEnd = detection.core.hasOneToOne
        }
        self.head = head
        self.endToEnd = endToEnd
        classCount = (last as? any DetectionHeadModule)?.classCount ?? (last as? RTDETRDecoder)?.classCount ?? graph.layers.last?.outputChannels.first ?? 0
        stride = Int(strides.max() ?? 32)
        // imgsz: the option, else the checkpoint's training size, rounded up to the stride
        let trained = arguments["imgsz"].flatMap { Int($0) }
        var size = command.imgsz ?? ImageSize(height: trained ?? 640, width: trained ?? 640)
        if head != .classify {
            let step = max(stride, 1)
            size = ImageSize(height: max((size.height + step - 1) / step * step, step), width: max((size.width + step - 1) / step * step, step))
        }
        self.size = size
        var settings = PredictionSettings()
        settings.confidence = command.conf
        settings.iou = command.iou
        settings.classes = command.classes.flatMap(command.parsedClasses)
        settings.agnostic = command.agnostic
        settings.maximumDetections = command.maxDet
        settings.retinaMasks = command.retinaMasks
        self.settings = settings
        if let file = command.names {
            do {
                names = try String(contentsOfFile: file, encoding: .utf8).split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            } catch {
                printError("\(file): error: cannot read the class names (\(describeFileError(error)))")
                throw ExitCode(1)
            }
        } else {
            names = checkpoint?.names ?? []
        }
        self.graph = graph
        try command.execution.checkMemory(for: loaded)
        weights = try command.execution.loadWeights(for: loaded, seed: 0).tensors
        fuse = !command.execution.unfused
    }

    /// The plan for input `shape` [B, 3, H, W], built once per shape.
    func plan(for shape: [Int]) throws -> InferencePlan {
        if let plan = plans[shape] { return plan }
        var options = graph.options
        (options.imageHeight, options.imageWidth, options.batch) = (shape[2], shape[3], shape[0])
        options.endToEnd = endToEnd
        let sized: ModelGraph
        do { sized = try ModelGraph.build(spec: graph.spec, options: options) } catch {
            for diagnostic in error.diagnostics { printError(diagnostic.description) }
            throw ExitCode(1)
        }
        guard sized.errors.isEmpty else {
            for diagnostic in sized.errors { printError(diagnostic.description) }
            throw ExitCode(1)
        }
        let plan = InferencePlan(graph: sized, weights: weights, fuse: fuse)
        plans[shape] = plan
        return plan
    }

    func predict(_ images: [RGBImage], readTime: Double) throws -> BatchResult {
        let started = DispatchTime.now()
        let sameShape = Set(images.map { [$0.width, $0.height] }).count == 1
        var inputs = [RGBImage]()
        var letterboxes = [Letterbox]()
        for image in images {
            if head == .classify {
                let side = min(size.height, size.width)
                let crop = image.classificationCrop(size: side)
                inputs.append(crop)
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
            for diagnostic in error.diagnostics { printError(diagnostic.description) }
            throw ExitCode(1)
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
