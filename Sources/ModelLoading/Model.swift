import Checkpoint
import ForkMode
import Foundation
import ModelGraph
import ModelSpec
import Tensor
import struct YAMLFrontEnd.Diagnostic

/// What to load: a model named as the command line names it, and the size to build it at.
public struct ModelRequest: Sendable {
    /// A YAML file, an official architecture name (`yolo11n.yaml`), or an Ultralytics `.pt`.
    public var path: String
    /// From the file's `scales:`; nil: the checkpoint's, else the one the name asks for
    /// (`yolov8s.yaml` → s), else the file's first.
    public var scale: String?
    public var imageHeight: Int
    public var imageWidth: Int
    public var batch: Int
    /// Heads with one-to-one branches infer through them (Ultralytics' `model.end2end = True`).
    public var endToEnd: Bool
    /// Whose code builds a YAML: a fork's folder, `builtin`, or nil for the fork the YAML lies
    /// in (if any).
    public var source: String?

    public init(path: String, scale: String? = nil, imageHeight: Int = 640, imageWidth: Int = 640, batch: Int = 1,
                endToEnd: Bool = false, source: String? = nil) {
        self.path = path
        self.scale = scale
        self.imageHeight = imageHeight
        self.imageWidth = imageWidth
        self.batch = batch
        self.endToEnd = endToEnd
        self.source = source
    }

    var buildOptions: BuildOptions {
        BuildOptions(scale: scale, imageHeight: imageHeight, imageWidth: imageWidth, batch: batch, endToEnd: endToEnd)
    }
}

/// A model loaded from any source ModelGraph reads — a YAML, an official name, a `.pt` (its own
/// YAML, at the scale it was trained at) — as a built graph, and from there its weights, the
/// memory it needs and its inference plan. A YAML inside a fork is built by the fork's own code
/// (`Model.fork(for:)` and `Model.buildFork`).
public struct Model {
    public let request: ModelRequest
    public let graph: ModelGraph
    /// The checkpoint a `.pt` model was read from (its weights are the model's own).
    public let checkpoint: UltralyticsCheckpoint?

    /// Reads and builds the model. The graph may hold errors (a wrong channel count, an unknown
    /// module): `summary` and `check` show them; `runnable()` refuses them. Throws when nothing
    /// can be built (an unreadable file, a syntax or schema error, a scale the file lacks).
    public static func load(_ request: ModelRequest) throws(ModelLoadError) -> Model {
        try checkSize(request)
        var checkpoint: UltralyticsCheckpoint?
        let source: ModelText
        let config = request.path
        var name = URL(fileURLWithPath: config).deletingPathExtension().lastPathComponent
        var checkpointScale: String?
        if Checkpoints.isCheckpoint(config) {
            let read = try Checkpoints.read(config)
            let yaml = try Checkpoints.modelYAML(read)
            source = ModelText(text: yaml.text, file: "\(config) (its model YAML)")
            if let file = yaml.sourceFile { name = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent }
            checkpointScale = yaml.scale.flatMap { $0.isEmpty ? nil : $0 }
            checkpoint = read
        } else {
            source = try ModelText.find(config).get()
        }
        let spec: ModelSpec
        do {
            // the summary is named as the user named the model (yolo11n), as Ultralytics does
            spec = try ModelSpec.parse(source.text, file: source.file, name: name)
        } catch {
            throw ModelLoadError(messages: error.diagnostics.map(\.description))
        }
        var options = request.buildOptions
        // a scale the file cannot take is the request's fault, as a bad option value is
        if let requested = options.scale, !spec.scales.contains(where: { $0.name == requested }) {
            let position = spec.scales.first.map { ":\($0.location.line):\($0.location.column)" } ?? ""
            throw ModelLoadError("\(source.file)\(position): error: --scale \(requested) given, but " + (spec.scales.isEmpty ? "the file has no `scales:`"
                                 : "the file's `scales:` lists \(spec.scales.map(\.name).joined(separator: ", "))"), kind: .usage)
        }
        if options.scale == nil, let checkpointScale { options.scale = checkpointScale }
        if options.scale == nil, checkpoint == nil, let named = ModelNames.scale(fromFileName: config), !spec.scales.isEmpty {
            guard spec.scales.contains(where: { $0.name == named }) else {
                throw ModelLoadError("\(source.file): error: the name \(config) asks for scale '\(named)', but the file's `scales:` lists \(spec.scales.map(\.name).joined(separator: ", "))")
            }
            options.scale = named
        }
        do {
            return Model(request: request, graph: try ModelGraph.build(spec: spec, options: options), checkpoint: checkpoint)
        } catch {
            throw ModelLoadError(messages: error.diagnostics.map(\.description))
        }
    }

    /// Loads a model that can run: built by ModelGraph's own modules (a YAML in a fork is the
    /// fork's to build: `loadForkRunnable`) and without graph errors. `warnings`
    /// gets the graph's diagnostics first (errors included), as they are found.
    public static func loadRunnable(_ request: ModelRequest, warnings: (Diagnostic) -> Void = { _ in }) throws(ModelLoadError) -> Model {
        if let root = try fork(for: request) {
            throw ModelLoadError("\(request.path): error: this YAML lies in the fork \(root.path), whose own code defines its modules; fork mode builds "
                                 + "and summarises it (summary, check, diff, graph) and runs it (run, bench, export, predict), and this command does not "
                                 + "take fork models yet. `--source builtin` builds it with ModelGraph's own modules if it uses only those.")
        }
        let model = try load(request)
        for diagnostic in model.graph.diagnostics { warnings(diagnostic) }
        let errors = model.graph.errors.count
        guard errors == 0 else {
            // a checkpoint pickled by a fork's training names the fork's classes: say which, and how to use them
            if let classes = model.checkpoint?.forkClasses, !classes.isEmpty {
                throw ModelLoadError("\(request.path): \(errors) error\(errors == 1 ? "" : "s"); nothing was run. The checkpoint pickles "
                                     + "\(classes.count) class\(classes.count == 1 ? "" : "es") of a fork (" + classes.prefix(6).joined(separator: ", ")
                                     + (classes.count > 6 ? ", …" : "") + "): give the fork's folder with --source DIR to build it with the fork's own code")
            }
            throw ModelLoadError("\(request.path): \(errors) error\(errors == 1 ? "" : "s"); nothing was run")
        }
        return model
    }

    static func checkSize(_ request: ModelRequest) throws(ModelLoadError) {
        let largest = Limits.largestNumber
        guard (1...largest).contains(request.batch) else { throw ModelLoadError("error: --batch must be from 1 to \(largest), found \(request.batch)", kind: .usage) }
        guard (1...largest).contains(request.imageHeight), (1...largest).contains(request.imageWidth) else {
            throw ModelLoadError("error: --imgsz must be from 1 to \(largest) per side, found \(request.imageHeight),\(request.imageWidth)", kind: .usage)
        }
    }
}

// MARK: Weights

/// Where a model's weights come from.
public struct WeightsRequest: Sendable {
    /// A safetensors state dict or a `.pt`; nil: a `.pt` model's own, else a seeded initialisation.
    public var file: String?
    /// Take what fits by key and shape, initialise the rest (a transfer report says what).
    public var partial: Bool
    /// For the initialisation of what no file gives.
    public var seed: UInt64

    public init(file: String? = nil, partial: Bool = false, seed: UInt64 = 0) {
        self.file = file
        self.partial = partial
        self.seed = seed
    }
}

/// A model's weights by state-dict key (float32), checked against its graph.
public struct LoadedWeights {
    public var tensors: [String: Tensor]
    /// Where they came from: the file (and the checkpoint's `model`/`ema`), or the seed.
    public var description: String
    /// What the caller should see (a BatchNorm eps taken from the file, not the rule).
    public var notes: [String]
    /// With `partial`: what was transferred row by row, and from which file.
    public var transfer: (report: TransferReport, file: String)?
}

extension Model {
    /// The weights `request` asks for: checked strictly (every key, shape and dtype) unless
    /// `partial`; a checkpoint's BatchNorm layers keep the eps pickled in it.
    public func weights(_ request: WeightsRequest) throws(ModelLoadError) -> LoadedWeights {
        let seed = request.seed
        let described = weightsDescription(request)
        guard request.file != nil || checkpoint != nil else {
            let notes = request.partial ? ["note: --partial without --weights or a .pt model: every tensor is initialised (seed \(seed))"] : []
            return LoadedWeights(tensors: Weights.initialized(for: graph, seed: seed), description: described, notes: notes)
        }
        var source = checkpoint
        if let file = request.file { source = Checkpoints.isCheckpoint(file) ? try Checkpoints.read(file) : nil }
        if request.partial {
            let file = source?.file ?? request.file!
            let tensors: [String: Tensor]
            if let source { tensors = Checkpoints.floatTensors(source) } else { tensors = try Self.readSafeTensors(file) }
            var (loaded, report) = Weights.partial(tensors, for: graph, seed: seed)
            if let source { _ = Weights.adjustNormEpsilons(&loaded, wanted: source.normEpsilons, graph: graph) }
            return LoadedWeights(tensors: loaded, description: described, notes: [], transfer: (report, file))
        }
        if let source {
            let (tensors, notes) = try Checkpoints.weights(source, for: graph)
            return LoadedWeights(tensors: tensors, description: described, notes: notes)
        }
        let file = request.file!
        let tensors = try Self.readSafeTensors(file)
        do {
            return LoadedWeights(tensors: try Weights.checked(tensors, for: graph, file: file), description: described, notes: [])
        } catch {
            throw ModelLoadError(error.description)
        }
    }

    /// Where `request`'s weights come from, for a report line: the file (and a checkpoint's
    /// `model`/`ema`), or the seed.
    public func weightsDescription(_ request: WeightsRequest) -> String {
        request.file ?? checkpoint.map { "\($0.file) (\($0.source))" } ?? "initialised (seed \(request.seed))"
    }

    private static func readSafeTensors(_ file: String) throws(ModelLoadError) -> [String: Tensor] {
        do {
            return try SafeTensors.read(file: file)
        } catch {
            throw ModelLoadError(error.description)
        }
    }

    /// The inference plan over checked `weights` (fused and planned unless `fuse` is false).
    public func plan(_ weights: LoadedWeights, fuse: Bool = true) -> InferencePlan {
        InferencePlan(graph: graph, weights: weights.tensors, fuse: fuse)
    }
}

// MARK: Memory

/// What running a model needs, estimated before anything is allocated.
public struct MemoryRequirement: Sendable {
    /// float32 weights as built.
    public var weightBytes: Double
    /// The feature maps at their peak (`ModelGraph.peakActivationBytes`).
    public var activationBytes: Double
    /// A loaded plan holds up to 4× its float32 weights (the fused blocks, Winograd's
    /// transformed 3×3 kernels, oneDNN's copies: 2.4–3.9× measured), and the forward passes up
    /// to 1.5× the activation peak (kernel scratch and layout copies on top of the maps).
    public var neededBytes: Double { 4 * weightBytes + 1.5 * activationBytes }
}

extension Model {
    /// Nil when a layer's shapes are unknown.
    public var memoryRequirement: MemoryRequirement? {
        graph.peakActivationBytes.map { MemoryRequirement(weightBytes: graph.weightBytes(bytesPerElement: 4), activationBytes: $0) }
    }

    /// Refuses a run that would need more than `limit` bytes (nil: the machine's RAM), with
    /// the estimate, instead of dying in the allocator. `limitName` names a given limit in the
    /// message (`--max-memory`).
    public func checkMemory(limit: Double?, limitName: String = "the limit") throws(ModelLoadError) {
        guard let requirement = memoryRequirement else { return }
        let ceiling = limit ?? physicalMemoryBytes()
        guard requirement.neededBytes > ceiling else { return }
        let size = { (bytes: Double) in bytes < 1e9 ? String(format: "%.1f MB", bytes / 1e6) : String(format: "%.1f GB", bytes / 1e9) }
        let shape = graph.inputShape
        throw ModelLoadError("\(graph.spec.file): error: running it at batch \(shape[0]), \(shape[2])×\(shape[3]) needs about \(size(requirement.neededBytes)) "
                             + "(weights \(size(requirement.weightBytes)), up to 4× that in a loaded plan; feature maps \(size(requirement.activationBytes)) at their peak, up to 1.5× that with kernel buffers), "
                             + "more than \(limit == nil ? "this machine's \(size(ceiling)) of RAM" : "\(limitName) \(size(ceiling))"); lower --imgsz or --batch, or raise --max-memory")
    }
}

/// The machine's physical memory in bytes (sysconf), or infinity when it cannot be read.
public func physicalMemoryBytes() -> Double {
    let pages = sysconf(Int32(_SC_PHYS_PAGES)), size = sysconf(Int32(_SC_PAGESIZE))
    return pages > 0 && size > 0 ? Double(pages) * Double(size) : .infinity
}

// MARK: Forks

extension Model {
    /// The fork whose own code builds `request`: its `source` folder (an error when that holds
    /// no fork), else the nearest parent folder of the YAML holding `ultralytics/nn/tasks.py`;
    /// nil for ModelGraph's own builder (`builtin`, official names, checkpoints, YAMLs outside
    /// any fork).
    public static func fork(for request: ModelRequest) throws(ModelLoadError) -> URL? {
        if Checkpoints.isCheckpoint(request.path) { return try request.source.map(forkSource) ?? nil }
        return try forkRoot(source: request.source, path: request.path)
    }

    /// `source` checked: a fork's folder, or nil for `builtin`.
    public static func forkSource(_ source: String) throws(ModelLoadError) -> URL? {
        if source == "builtin" { return nil }
        let url = URL(fileURLWithPath: source).standardizedFileURL
        guard ForkRoot.isFork(url) else {
            throw ModelLoadError("error: --source \(source): no ultralytics/nn/tasks.py there (give the folder that holds the fork's `ultralytics/` package, or `builtin`)", kind: .usage)
        }
        return url
    }

    /// The fork that builds the YAML at `path`: `source`, else the nearest parent folder holding a fork.
    public static func forkRoot(source: String?, path: String) throws(ModelLoadError) -> URL? {
        if let source { return try forkSource(source) }
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return ForkRoot.find(containing: path)
    }

    /// Builds `request`'s YAML with the code of the fork at `root` (its parse_model and
    /// classes, in ModelGraph's interpreter, on a thread with a large stack), at batch 1.
    public static func buildFork(_ request: ModelRequest, root: URL, flops: Bool = true) throws(ModelLoadError) -> ForkSummary {
        try buildFork(yamlPath: request.path, root: root, options: ForkBuildOptions(scale: request.scale, imageHeight: request.imageHeight,
                                                                                   imageWidth: request.imageWidth, flops: flops), batch: request.batch)
    }

    /// `text`: YAML to build instead of the file's (a checkpoint's own model YAML; `yamlPath` then names the checkpoint).
    public static func buildFork(yamlPath: String, root: URL, options: ForkBuildOptions, batch: Int = 1, text: String? = nil) throws(ModelLoadError) -> ForkSummary {
        guard text != nil || FileManager.default.fileExists(atPath: yamlPath) else {
            throw ModelLoadError("\(yamlPath): error: cannot read the model file (no such file); fork mode builds YAML files")
        }
        guard batch == 1 else { throw ModelLoadError("error: --batch \(batch): fork mode summarises at batch 1", kind: .usage) }
        let builder = ForkModelBuilder(root: root)
        do {
            return try runOnLargeStack {
                if let text { return try builder.build(text: text, yamlPath: yamlPath, options: options) }
                return try builder.build(yamlPath: yamlPath, options: options)
            }
        } catch let error as ForkBuildError {
            throw ModelLoadError(error.description)
        } catch {
            throw ModelLoadError("\(yamlPath): error: \(error)")
        }
    }
}

/// Runs `body` (deep interpreted code) on a thread with a large stack (fork code recurses through
/// nested modules; the interpreter's own depth budget ends it long before this stack does).
private final class ResultBox<T>: @unchecked Sendable {
    var result: Result<T, Error>?
    /// Dropped once run: a finished Thread may outlive its work, and must not keep it alive.
    var body: (() throws -> T)?
    init(_ body: @escaping () throws -> T) { self.body = body }
}

public func runOnLargeStack<T>(_ body: @escaping () throws -> T) throws -> T {
    let box = ResultBox<T>(body)
    let done = DispatchSemaphore(value: 0)
    let worker = Thread {
        box.result = Result { try box.body!() }
        box.body = nil
        done.signal()
    }
    worker.stackSize = 1 << 30
    worker.start()
    done.wait()
    return try box.result!.get()
}
