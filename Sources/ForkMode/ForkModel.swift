import Foundation
import ForkTorch
import ModelGraph
import PythonFrontEnd
import PythonInterpreter
import YAMLFrontEnd

/// Where a fork's code lives: the folder holding `ultralytics/nn/tasks.py`.
public enum ForkRoot {
    /// The nearest parent folder of `path` that holds `ultralytics/nn/tasks.py`, if any.
    public static func find(containing path: String) -> URL? {
        var url = URL(fileURLWithPath: path).standardizedFileURL.deletingLastPathComponent()
        while url.path != "/" && !url.path.isEmpty {
            if isFork(url) { return url }
            url = url.deletingLastPathComponent()
        }
        return nil
    }

    public static func isFork(_ url: URL) -> Bool {
        FileManager.default.fileExists(atPath: url.appendingPathComponent("ultralytics/nn/tasks.py").path)
    }
}

/// What to build and at which size.
public struct ForkBuildOptions: Sendable {
    public var scale: String?
    public var imageHeight: Int
    public var imageWidth: Int
    public var shapes: Bool
    public var flops: Bool
    /// Also record the forward as a program (`ForkSummary.program`), to run or export it.
    public var trace: Bool
    public init(scale: String? = nil, imageHeight: Int = 640, imageWidth: Int = 640, shapes: Bool = true, flops: Bool = true, trace: Bool = false) {
        self.scale = scale; self.imageHeight = imageHeight; self.imageWidth = imageWidth; self.shapes = shapes; self.flops = flops
        self.trace = trace
    }
}

/// One `model.model[i]` as the fork built it.
public struct ForkRow: Sendable {
    public var index: Int
    public var from: [Int]
    public var fromIsList: Bool
    public var repeats: Int
    public var module: String
    public var arguments: String
    public var parameters: Int
    /// Output shapes per row at the requested size (several for a tuple or list output).
    public var outputs: [[Int]]
    /// Every multiply-add the row's forward ran at the requested size, ×2, in G.
    public var gflops: Double?
}

/// A fork YAML built by the fork's own code.
public struct ForkSummary: Sendable {
    public var root: String
    public var ultralyticsVersion: String
    public var modelClass: String
    public var scale: String?
    public var parameters: Int
    public var rows: [ForkRow]
    public var output: [[Int]]
    public var input: [Int]
    /// What the fork's get_flops would print at the image size (thop's rules), when counted.
    public var ultralyticsGFLOPs: Double?
    /// Every multiply-add the forward pass ran, ×2, in G.
    public var gflops: Double?
    /// Imports fork mode answered with inert stand-ins (cv2, matplotlib, …).
    public var standIns: [String]
    /// Elements of the state_dict (parameters and buffers) and `len(list(model.modules()))`.
    public var stateElements: Int
    public var moduleCount: Int
    /// The state_dict's keys and shapes, in its order.
    public var stateShapes: [(key: String, shape: [Int])] = []
    public var note: String?
    /// Why the forward pass at the requested size failed, when it did (the build stands).
    public var forwardError: ForkBuildError?
    /// The model's largest stride (`model.stride`), when it has one.
    public var stride: Double?
    /// The head's class count (`nc`) and, for a pose head, its `kpt_shape`, as the fork's code sets them.
    public var headClassCount: Int?
    public var keypointShape: [Int]?
    /// The forward as a program (when traced): its constants named by state_dict keys, their
    /// values bound from a weights file before it runs.
    public var program: Program?
    /// The program's outputs' names, as the fork oracle flattens a model's output (`output`,
    /// `output.0`, `output.0.1`, …).
    public var outputNames: [String] = []
    /// Why the forward is not a program, when traced and it is not.
    public var traceFailure: ForkTraceFailure?
    /// Ops the traced program runs otherwise than PyTorch would (`ForkTrace.departures`), each
    /// located in the YAML and the fork's source.
    public var departures: [UntracedTorchOp] = []

    /// The layer indices row `position` owns: those after the previous row's, up to its own.
    /// A fork's multi-output backbone row takes several (its parse_model numbers the row by the
    /// last, `y` holding one entry per feature map, the first padded with None).
    public func indices(ofRow position: Int) -> Range<Int> {
        let index = rows[position].index
        let previous = position > 0 ? rows[position - 1].index : -1
        return min(previous + 1, index)..<(index + 1)
    }

    /// Row `position`'s sources as absolute indices (−1: the image). A negative `from` counts
    /// back from the row's first index, as `y[j]` does in the forward loop.
    public func sources(ofRow position: Int) -> [Int] {
        let first = indices(ofRow: position).lowerBound
        return rows[position].from.map { $0 < 0 ? max(first + $0, -1) : $0 }
    }
}

/// A failure with a place in the YAML and, for Python errors, the frames inside the fork.
public struct ForkBuildError: Error, CustomStringConvertible {
    public var message: String
    public var frames: [String]
    public init(message: String, frames: [String]) { self.message = message; self.frames = frames }
    public var description: String { ([message] + frames.map { "    " + $0 }).joined(separator: "\n") }
}

/// Builds fork YAMLs with the fork's own `parse_model` and model classes, in the interpreter.
public final class ForkModelBuilder {
    public let root: URL
    let importer: Importer
    let interpreter: Interpreter
    let torch: TorchRuntime
    var tasks: PyValue?

    public init(root: URL, budget: InterpreterBudget = InterpreterBudget()) {
        self.root = root
        importer = Importer(root: root)
        interpreter = Interpreter(importer: importer, budget: budget)
        torch = TorchRuntime.install(into: importer, interpreter: interpreter)
        interpreter.captureLocals = ["parse_model", "_predict_once", "_forward_once", "predict", "forward"]
        importer.nativeModules["yaml"] = { interpreter, module in
            // PyYAML's safe loading, through ModelGraph's libyaml front end (config files the forks read)
            let load = PyBuiltinFunction("yaml.safe_load") { interpreter, arguments in
                guard let stream = arguments.positional.first else { throw interpreter.typeError("load() missing stream") }
                let text: String
                if case .str(let s) = stream { text = s }
                else if case .object(let file as PyFile) = stream { text = file.text }
                else { throw interpreter.typeError("yaml.load() takes a str or an open file") }
                do { return YAMLConversion.value(try YAMLParser.parse(text, file: "<yaml>")) }
                catch { throw interpreter.valueError("yaml: \(error)") }
            }
            for name in ["safe_load", "load", "full_load", "unsafe_load"] { module.namespace[name] = .object(load) }
            for name in ["SafeLoader", "FullLoader", "Loader", "UnsafeLoader", "CLoader", "CSafeLoader"] { module.namespace[name] = .str(name) }
            module.namespace["dump"] = .object(PyBuiltinFunction("yaml.dump") { interpreter, _ in
                throw interpreter.error(interpreter.types.osError, "yaml.dump: fork mode writes nothing")
            })
            module.namespace["safe_dump"] = module.namespace["dump"]
        }
    }

    deinit { interpreter.tearDown() }

    /// The fork's Ultralytics version (its `ultralytics.__version__`).
    public func version() -> String {
        guard case .object(let m as PyModule)? = try? importer.importModule("ultralytics", from: nil, level: 0, interpreter: interpreter, at: nil),
              case .str(let v)? = m.namespace["__version__"] else { return "?" }
        return v
    }

    /// Builds one YAML file (a path inside or outside the fork).
    public func build(yamlPath: String, options: ForkBuildOptions) throws -> ForkSummary {
        let text: String
        do {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: yamlPath))
            text = try YAMLParser.decode(bytes, file: yamlPath)
        } catch let d as Diagnostic {
            throw ForkBuildError(message: d.description, frames: [])
        } catch {
            throw ForkBuildError(message: "\(yamlPath): error: cannot read the model file (\(error.localizedDescription))", frames: [])
        }
        return try build(text: text, yamlPath: yamlPath, options: options)
    }

    /// Builds YAML text (a checkpoint's own model YAML) as if read from `yamlPath`, the name its
    /// messages give (the scale's guess reads that name too).
    public func build(text: String, yamlPath: String, options: ForkBuildOptions) throws -> ForkSummary {
        let node: YAMLNode
        do { node = try YAMLParser.parse(text, file: yamlPath) }
        catch { throw ForkBuildError(message: error.description, frames: []) }
        let rows = ((node["backbone"]?.sequence ?? []) + (node["head"]?.sequence ?? []))
        let dict = YAMLConversion.value(node)
        guard case .object(let d as PyDict) = dict else {
            throw ForkBuildError(message: "\(yamlPath):1:1: error: the model file is not a mapping", frames: [])
        }
        // the oracle's rules: scale from the file name (yolov8n, yolo11s), else the first of scales
        let stem = URL(fileURLWithPath: yamlPath).deletingPathExtension().lastPathComponent
        var scale: String? = nil
        if case .object(let scales as PyDict)? = d["scales"], scales.count > 0 {
            let keys = scales.orderedKeys.compactMap { if case .str(let s) = $0 { return s }; return nil }
            if let requested = options.scale {
                guard keys.contains(requested) else {
                    throw ForkBuildError(message: "\(yamlPath): error: --scale \(requested) given, but the file's `scales:` lists \(keys.joined(separator: ", "))", frames: [])
                }
                scale = requested
            } else if let guessed = ForkModelBuilder.guessScale(stem), keys.contains(guessed) {
                scale = guessed
            } else {
                scale = keys.first
            }
            d["scale"] = .str(scale!)
        }
        d["yaml_file"] = .str(yamlPath)
        let main = PyModule(name: "__modelgraph__", file: "<modelgraph>")
        main.namespace["_yaml"] = .object(d)
        main.namespace["_height"] = .int(options.imageHeight)
        main.namespace["_width"] = .int(options.imageWidth)
        main.namespace["_shapes"] = .bool(options.shapes)
        // the forward's running multiply-add count, read by the per-row hooks
        main.namespace["_macs"] = .object(PyBuiltinFunction("_macs") { [weak torch] _, _ in .float(torch?.multiplyAdds ?? 0) })
        interpreter.modules["__modelgraph__"] = main
        var clock = Date()
        func phase(_ name: String) {
            if ProcessInfo.processInfo.environment["MODELGRAPH_FORK_TIMING"] != nil {
                FileHandle.standardError.write(Data("fork mode: \(name) \(String(format: "%.3f", Date().timeIntervalSince(clock))) s\n".utf8))
            }
            clock = Date()
        }
        do {
            try importer.runProvided("from ultralytics.nn import tasks as _T\n", as: main, interpreter: interpreter)
            phase("import")
            try importer.runProvided(ForkModelBuilder.driver, as: main, interpreter: interpreter)
            phase("build")
        } catch {
            throw describe(error, yamlPath: yamlPath, rows: rows, stage: "build")
        }
        var summary = try collect(main, yamlPath: yamlPath, rows: rows, scale: scale, options: options)
        if options.shapes || options.trace {
            torch.multiplyAdds = 0
            main.namespace["_tracing"] = .bool(options.trace)
            main.namespace["_name_state"] = .object(PyBuiltinFunction("_name_state") { [weak torch] _, arguments in
                if case .str(let key)? = arguments.positional.first, arguments.positional.count == 2,
                   case .object(let tensor as TorchTensor) = arguments.positional[1] { torch?.nameState(tensor, key) }
                return .none
            })
            main.namespace["_trace_begin"] = .object(PyBuiltinFunction("_trace_begin") { [weak torch] _, arguments in
                if case .object(let input as TorchTensor)? = arguments.positional.first { _ = torch?.beginTrace(input: input) }
                return .none
            })
            main.namespace["_trace_defer"] = .object(PyBuiltinFunction("_trace_defer") { [weak torch] _, arguments in
                if case .bool(let on)? = arguments.positional.first { torch?.deferTraceFailures(on) }
                return .none
            })
            main.namespace["_trace_layer"] = .object(PyBuiltinFunction("_trace_layer") { [weak torch] interpreter, arguments in
                if arguments.positional.count == 2, case .int(let index) = arguments.positional[0] {
                    torch?.traceLayer(index, module: (try? interpreter.str(arguments.positional[1])) ?? "?")
                }
                return .none
            })
            defer { torch.trace = nil }
            do {
                try importer.runProvided(ForkModelBuilder.forward, as: main, interpreter: interpreter)
                summary.gflops = Double(torch.multiplyAdds) * 2 / 1e9
                try collectShapes(main, into: &summary)
                if options.trace, let out = main.namespace["_out"] {
                    switch torch.endTrace(outputs: flattened(out, name: "output")) {
                    case .success(let (program, names, departures)):
                        summary.program = program
                        summary.outputNames = names
                        summary.departures = departures.map { departure in
                            var located = departure
                            if let layer = departure.layerIndex, let position = summary.rows.firstIndex(where: { $0.index == layer }), position < rows.count {
                                located.row = "\(yamlPath):\(rows[position].location.line):\(rows[position].location.column)"
                            }
                            return located
                        }
                    case .failure(var failure):
                        // each op's YAML row (the fork numbers multi-output rows by their last index)
                        for k in failure.untraced.indices {
                            guard let layer = failure.untraced[k].layerIndex,
                                  let position = summary.rows.firstIndex(where: { $0.index == layer }), position < rows.count else { continue }
                            failure.untraced[k].row = "\(yamlPath):\(rows[position].location.line):\(rows[position].location.column)"
                        }
                        summary.traceFailure = failure
                    }
                }
                phase("forward")
            } catch let limit as InterpreterLimit where limit.message.contains("steps") || limit.message.contains("recursion") {
                throw describe(limit, yamlPath: yamlPath, rows: rows, stage: "forward")
            } catch {
                // the model is built; its forward pass fails (often in the fork's own code too)
                summary.forwardError = describe(error, yamlPath: yamlPath, rows: rows, stage: "forward")
            }
        }
        if options.flops, summary.forwardError == nil {
            summary.ultralyticsGFLOPs = try? ultralyticsFLOPs(main, options: options)
            phase("get_flops")
        }
        summary.standIns = importer.standIns.sorted()
        return summary
    }

    static func guessScale(_ stem: String) -> String? {
        // Ultralytics' guess_model_scale: yolo(e-)?v?\d+([nslmx])
        let chars = Array(stem)
        var i = 0
        while i + 4 <= chars.count {
            if String(chars[i..<(i + 4)]) == "yolo" {
                var j = i + 4
                if j + 2 <= chars.count, String(chars[j..<(j + 2)]) == "e-" { j += 2 }
                if j < chars.count, chars[j] == "v" { j += 1 }
                let digitsStart = j
                while j < chars.count, chars[j].isASCII, chars[j].isNumber { j += 1 }
                if j > digitsStart, j < chars.count, "nslmx".contains(chars[j]) { return String(chars[j]) }
            }
            i += 1
        }
        return nil
    }

    /// ModelGraph's own driver, run in the fork's interpreter: picks the model class as the
    /// fork's front ends do and builds it.
    static let driver = #"""
from ultralytics.nn import tasks as _T
import torch as _torch
d = _yaml
heads = [str(r[2]) for r in d.get("head", [])]
if any("RTDETRDecoder" in x for x in heads):
    _cls = _T.RTDETRDetectionModel
elif any(x.startswith("YOLOE") for x in heads) and hasattr(_T, "YOLOEModel"):
    _cls = _T.YOLOESegModel if any("Segment" in x for x in heads) else _T.YOLOEModel
elif any("WorldDetect" in x for x in heads) and hasattr(_T, "WorldModel"):
    _cls = _T.WorldModel
else:
    _task = _T.guess_model_task(d)
    _cls = {"detect": _T.DetectionModel, "segment": _T.SegmentationModel, "pose": _T.PoseModel,
            "obb": getattr(_T, "OBBModel", None), "classify": _T.ClassificationModel}.get(_task) or _T.DetectionModel
_class_name = _cls.__name__
_channels = d.get("channels", d.get("ch", 3))
model = _cls(d, ch=_channels, verbose=False)
try:
    _stride = float(max(float(s) for s in model.stride)) if getattr(model, "stride", None) is not None else None
except Exception:
    _stride = None
# what predict needs of the head, as the fork's code sets it
_head_classes = _head_keypoints = None
try:
    _head = model.model[-1]
    _head_classes = _head.nc if isinstance(getattr(_head, "nc", None), int) else None
    _head_keypoints = [int(v) for v in _head.kpt_shape] if getattr(_head, "kpt_shape", None) is not None else None
except Exception:
    pass
_rows = [[getattr(m, "i", k), getattr(m, "f", None), getattr(m, "type", type(m).__name__), sum(p.numel() for p in m.parameters())] for k, m in enumerate(model.model)]
_total = sum(p.numel() for p in model.parameters())
try:
    _state_elements = sum(v.numel() for v in model.state_dict().values())
    _state_shapes = [[k, list(v.shape)] for k, v in model.state_dict().items()]
    _module_count = len(list(model.modules()))
except Exception:
    _state_elements = _module_count = 0  # what diff reports; the build stands
    _state_shapes = []
"""#

    static let forward = #"""
_x = _torch.rand(1, _channels, _height, _width)
if _tracing:
    for _k, _v in model.state_dict().items():
        _name_state(_k, _v)
    _trace_begin(_x)
    # tensors that modules cache from their weights when switched to eval (EfficientViT's
    # attention biases) are program values too; ops only the training forward needs do not fail
    _trace_defer(True)
    model.eval()
    _trace_defer(False)
    for _k, _v in model.state_dict().items():
        _name_state(_k, _v)
else:
    model.eval()
_outs = {}
_row_macs = {}
def _pre_hook(i):
    def record(mod, inp):
        _row_macs[i] = -_macs()
        if _tracing:
            _trace_layer(getattr(mod, "i", i), type(mod).__name__)
    return record
def _hook(i):
    def record(mod, inp, out):
        _outs[i] = out
        _row_macs[i] = _row_macs.get(i, 0) + _macs()
    return record
_hooks = [m.register_forward_pre_hook(_pre_hook(i)) for i, m in enumerate(model.model)]
_hooks += [m.register_forward_hook(_hook(i)) for i, m in enumerate(model.model)]
_out = model(_x)
for _h in _hooks:
    _h.remove()
"""#

    func collect(_ main: PyModule, yamlPath: String, rows: [YAMLNode], scale: String?, options: ForkBuildOptions) throws -> ForkSummary {
        guard case .object(let rowList as PyList)? = main.namespace["_rows"], case .int(let total)? = main.namespace["_total"] else {
            throw ForkBuildError(message: "\(yamlPath): error: the fork's model has no rows", frames: [])
        }
        var result: [ForkRow] = []
        for (position, item) in rowList.items.enumerated() {
            let fields = try interpreter.materialize(item)
            let index = (try? interpreter.toInt(fields[0])) ?? position
            var from: [Int] = []
            var fromIsList = false
            if let f = try? interpreter.toInt(fields[1]) { from = [f] } else if let items = try? interpreter.materialize(fields[1]) {
                from = items.compactMap { try? interpreter.toInt($0) }
                fromIsList = true
            }
            let type = (try? interpreter.str(fields[2])) ?? "?"
            let parameters = (try? interpreter.toInt(fields[3])) ?? 0
            var repeats = 1
            var arguments = ""
            if position < rows.count, let row = rows[position].sequence, row.count >= 4 {
                repeats = Int(row[1].scalar ?? "1") ?? 1
                arguments = YAMLConversion.flowText(row[3])
            }
            result.append(ForkRow(index: index, from: from, fromIsList: fromIsList, repeats: repeats,
                                  module: type.replacingOccurrences(of: "ultralytics.nn.modules.", with: "").replacingOccurrences(of: "ultralytics.nn.extra_modules.", with: ""),
                                  arguments: arguments, parameters: parameters, outputs: [], gflops: nil))
        }
        let className = (main.namespace["_class_name"].flatMap { try? interpreter.str($0) }) ?? "?"
        let stride = main.namespace["_stride"].flatMap { try? interpreter.toFloat($0) }
        let count = { (name: String) in main.namespace[name].flatMap { try? self.interpreter.toInt($0) } ?? 0 }
        var summary = ForkSummary(root: root.path, ultralyticsVersion: version(), modelClass: className, scale: scale, parameters: total,
                                  rows: result, output: [], input: [1, 3, options.imageHeight, options.imageWidth],
                                  ultralyticsGFLOPs: nil, gflops: nil, standIns: [],
                                  stateElements: count("_state_elements"), moduleCount: count("_module_count"), note: nil, forwardError: nil)
        summary.stride = stride
        summary.headClassCount = main.namespace["_head_classes"].flatMap { try? interpreter.toInt($0) }
        if case .object(let sizes as PyList)? = main.namespace["_head_keypoints"] {
            summary.keypointShape = sizes.items.compactMap { try? interpreter.toInt($0) }
        }
        if case .object(let entries as PyList)? = main.namespace["_state_shapes"] {
            summary.stateShapes = entries.items.compactMap { entry in
                guard let pair = try? interpreter.materialize(entry), pair.count == 2, let key = try? interpreter.str(pair[0]),
                      let sizes = try? interpreter.materialize(pair[1]) else { return nil }
                return (key, sizes.compactMap { try? interpreter.toInt($0) })
            }
        }
        return summary
    }

    /// The tensors in a model's output with the fork oracle's names: `output` for a tensor,
    /// `output.K` for the K-th item of a tuple or list (nested: `output.0.1`), `output.KEY` in a dict.
    func flattened(_ value: PyValue, name: String, depth: Int = 0) -> [(name: String, tensor: TorchTensor)] {
        guard depth < 6, case .object(let object) = value else { return [] }
        if let tensor = object as? TorchTensor { return [(name, tensor)] }
        if let dict = object as? PyDict {
            return dict.entries.flatMap { key, item in flattened(item, name: name + "." + ((try? interpreter.str(key)) ?? "?"), depth: depth + 1) }
        }
        guard object is PyList || object is PyTuple, let items = try? interpreter.materialize(value) else { return [] }
        return items.enumerated().flatMap { flattened($0.element, name: "\(name).\($0.offset)", depth: depth + 1) }
    }

    func shapes(_ value: PyValue) -> [[Int]] {
        switch value {
        case .object(let t as TorchTensor): return [t.shape]
        case .object(let o) where o is PyList || o is PyTuple:
            return ((try? interpreter.materialize(value)) ?? []).flatMap { shapes($0) }
        default:
            if case .object(let o) = value, let pair = try? interpreter.materialize(.object(o)), !(o is PyDict) { return pair.flatMap { shapes($0) } }
            return []
        }
    }

    func collectShapes(_ main: PyModule, into summary: inout ForkSummary) throws {
        guard case .object(let outs as PyDict)? = main.namespace["_outs"] else { return }
        for (k, v) in outs.entries {
            guard case .int(let position) = k, position < summary.rows.count else { continue }
            summary.rows[position].outputs = shapes(v)
        }
        if case .object(let counts as PyDict)? = main.namespace["_row_macs"] {
            for (k, v) in counts.entries {
                guard case .int(let position) = k, position < summary.rows.count, let macs = try? interpreter.toFloat(v) else { continue }
                summary.rows[position].gflops = macs * 2 / 1e9
            }
        }
        if let out = main.namespace["_out"] { summary.output = shapes(out) }
        if case .int(let c)? = main.namespace["_channels"] { summary.input[1] = c }
    }

    /// The fork's own get_flops (its Ultralytics version's rules), with thop's profile counted by ModelGraph.
    func ultralyticsFLOPs(_ main: PyModule, options: ForkBuildOptions) throws -> Double {
        try importer.runProvided(#"""
from ultralytics.utils.torch_utils import get_flops as _get_flops
_gflops = _get_flops(model, [_height, _width] if _height != _width else _height)
"""#, as: main, interpreter: interpreter)
        return try interpreter.toFloat(main.namespace["_gflops"] ?? .float(0))
    }

    // MARK: errors

    func describe(_ error: Error, yamlPath: String, rows: [YAMLNode], stage: String) -> ForkBuildError {
        var message: String
        var frames: [TraceFrame]
        var captured: [String: [String: PyValue]] = [:]
        if let failure = error as? PyError {
            let text = (try? interpreter.str(.object(failure.exception))) ?? ""
            message = failure.typeName + (text.isEmpty ? "" : ": " + text)
            frames = failure.traceback
            captured = failure.capturedLocals
        } else if let limit = error as? InterpreterLimit {
            message = limit.message
            frames = limit.traceback
            captured = interpreter.lastCapturedLocals
        } else if let built = error as? ForkBuildError {
            return built
        } else {
            message = "\(error)"
            frames = []
        }
        // which YAML row: parse_model's `i` while building, the running `m.i` in a forward pass
        var layer: Int? = nil
        var module: String? = nil
        if let locals = captured["parse_model"] {
            if case .int(let i)? = locals["i"] { layer = i }
            if let t = locals["t"] ?? locals["m"], case .str(let name) = t { module = name }
            else if let m = locals["m"], case .object(let cls as PyClass) = m { module = cls.name }
        }
        for name in ["_predict_once", "_forward_once"] {
            if let locals = captured[name], let m = locals["m"] {
                if let i = try? interpreter.getAttribute(m, "i"), case .int(let index) = i { layer = index }
                if case .object(let instance as PyInstance) = m { module = instance.cls.name }
            }
        }
        var location = ""
        if let layer, layer >= 0, layer < rows.count {
            location = ":\(rows[layer].location.line):\(rows[layer].location.column)"
        }
        let head = "\(yamlPath)\(location): error: " + (layer.map { "layer \($0)" + (module.map { " (\($0))" } ?? "") + ": " } ?? "")
        let forkFrames = frames.filter { !$0.file.hasPrefix("<modelgraph>") }
        let innermost = forkFrames.first.map { " — \($0.file):\($0.location) in \($0.function)" } ?? ""
        let prefix = stage == "forward" ? "the forward pass at the requested size failed: " : ""
        return ForkBuildError(message: head + prefix + message + innermost,
                              frames: forkFrames.dropFirst().prefix(12).map { "from \($0.file):\($0.location) in \($0.function)" })
    }
}
