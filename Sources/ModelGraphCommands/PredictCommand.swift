import ArgumentParser
import Dispatch
import Foundation
import Imaging
import ModelGraph
import ModelLoading
import Prediction
import PredictionPipeline
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

    @Option(help: ArgumentHelp("Whose code builds the model: a fork's folder (one holding ultralytics/nn/tasks.py), or `builtin` (default: the fork a YAML lies in, if any; a checkpoint trained by a fork needs its folder).", valueName: "dir"))
    var source: String?

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

    @OptionGroup var jsonOutput: JSONOutput

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
        let predictor = try Predictor.make(for: self)
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
            let readTime = milliseconds(readStart, DispatchTime.now())
            let batchResult = try reporting { () throws(ModelLoadError) in try predictor.predict(images, readTime: readTime) }
            lastShape = batchResult.inputShape
            for (offset, (path, prediction)) in zip(chunk, batchResult.predictions).enumerated() {
                shown += 1
                let speed = batchResult.speed
                totals.pre += speed.pre / Double(chunk.count)
                totals.inference += speed.inference / Double(chunk.count)
                totals.post += speed.post / Double(chunk.count)
                if jsonOutput.json {
                    print(PredictionJSON.render(prediction, path: path, names: predictor.names, task: predictor.head.task,
                                                inputShape: batchResult.inputShape, speed: speed, count: chunk.count).rendered())
                } else {
                    printError("image \(shown)/\(paths.count) \(path): \(batchResult.inputShape[2])x\(batchResult.inputShape[3]) "
                               + describe(prediction, names: predictor.names) + String(format: ", %.1fms", speed.inference / Double(chunk.count)))
                }
                if let out { try save(prediction, image: images[offset], path: path, into: out, names: predictor.names) }
            }
        }
        if !paths.isEmpty && !jsonOutput.json {
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

extension Predictor {
    /// The predictor the command's options ask for: the model (with --scale), its weights
    /// (--weights, --partial), the size, thresholds and class names.
    static func make(for command: PredictCommand) throws -> Predictor {
        var options = try ModelOptions.parse([command.model])
        options.scale = command.scale
        options.source = command.source
        var settings = PredictionSettings()
        settings.confidence = command.conf
        settings.iou = command.iou
        settings.classes = command.classes.flatMap(command.parsedClasses)
        settings.agnostic = command.agnostic
        settings.maximumDetections = command.maxDet
        settings.retinaMasks = command.retinaMasks
        var names: [String]?
        if let file = command.names {
            do {
                names = try String(contentsOfFile: file, encoding: .utf8).split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            } catch {
                printError("\(file): error: cannot read the class names (\(describeFileError(error)))")
                throw ExitCode(1)
            }
        }
        if let root = try options.forkRoot() {
            // fork mode: the fork's code builds the model, traced per input shape
            let predictor = try reporting { () throws(ModelLoadError) in
                try Predictor(fork: options.request, root: root, weights: command.execution.weights, size: command.imgsz.map { ($0.height, $0.width) },
                              settings: settings, names: names, fuse: !command.execution.unfused)
            }
            for note in predictor.notes { printError(note) }
            return predictor
        }
        let loaded = try options.loadRunnableModel()
        try command.execution.checkMemory(for: loaded)
        let weights = try command.execution.loadWeights(for: loaded, seed: 0)
        return try reporting { () throws(ModelLoadError) in
            try Predictor(model: loaded, weights: weights, size: command.imgsz.map { ($0.height, $0.width) }, settings: settings,
                          names: names, fuse: !command.execution.unfused)
        }
    }
}
