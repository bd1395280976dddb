import Checkpoint
import ForkMode
import Foundation
import ModelGraph
import Tensor
import YAMLFrontEnd

/// The pretrained side of a transfer: its rows, its state dict, and the tensors themselves.
public struct TransferSource {
    public var side: TransferSide
    /// For the report: the file, and which model in it (`yolo11n.pt (ema)`).
    public var description: String
    /// Each key's elements as an init file takes them: floating point as float32, integers in their own type.
    public var tensors: [String: (type: StorageType, shape: [Int], bytes: Data)]
    public var bufferKeys: Set<String>

    /// A `.pt` with its own model YAML (the weights Ultralytics' loader takes: `ema`, else
    /// `model`), or a YAML (or official name) with `weights` — a `.pt` or a safetensors file.
    public static func load(path: String, weights: String?) throws(ModelLoadError) -> TransferSource {
        var tensors: [String: (type: StorageType, shape: [Int], bytes: Data)] = [:]
        var state: [(key: String, shape: [Int])] = []
        let rows: [TransferSide.Row]
        var buffers: Set<String> = []
        var description: String
        func take(_ checkpoint: UltralyticsCheckpoint) {
            for (key, reference) in checkpoint.tensors {
                state.append((key, reference.shape))
                if reference.storage.type.isFloatingPoint {
                    tensors[key] = (.float32, reference.shape, reference.floats().withUnsafeBufferPointer { Data(buffer: $0) })
                } else {
                    tensors[key] = (reference.storage.type, reference.shape, reference.contiguousBytes())
                }
            }
            buffers = checkpoint.bufferKeys
        }
        if let weights {
            let text = try ModelText.find(path).get()
            rows = try TransferSide.rows(yaml: text.text, file: text.file)
            description = "\(path) with \(weights)"
            if Checkpoints.isCheckpoint(weights) {
                let checkpoint = try Checkpoints.read(weights)
                take(checkpoint)
                description += " (\(checkpoint.source))"
            } else {
                let read: [String: Tensor]
                do { read = try SafeTensors.read(file: weights) } catch { throw ModelLoadError(error.description) }
                for key in read.keys.sorted() {
                    let tensor = read[key]!
                    state.append((key, tensor.shape))
                    if key.hasSuffix("num_batches_tracked") {
                        tensors[key] = (.int64, tensor.shape, tensor.storage.map { Int64($0) }.withUnsafeBufferPointer { Data(buffer: $0) })
                    } else {
                        tensors[key] = (.float32, tensor.shape, tensor.storage.withUnsafeBufferPointer { Data(buffer: $0) })
                    }
                }
                buffers = Set(read.keys.filter { key in ["running_mean", "running_var", "num_batches_tracked"].contains { key.hasSuffix($0) } })
            }
        } else {
            guard Checkpoints.isCheckpoint(path) else {
                throw ModelLoadError("error: \(path) is a model file without weights: give the pretrained weights with --weights FILE, or a .pt", kind: .usage)
            }
            let checkpoint = try Checkpoints.read(path)
            let yaml = try Checkpoints.modelYAML(checkpoint)
            rows = try TransferSide.rows(yaml: yaml.text, file: "\(path) (its model YAML)")
            take(checkpoint)
            description = "\(path) (\(checkpoint.source))"
        }
        return TransferSource(side: TransferSide(rows: rows, state: state), description: description, tensors: tensors, bufferKeys: buffers)
    }
}

/// The edited model of a transfer, as the code that will train it builds it.
public struct TransferTarget {
    public var side: TransferSide
    public var rule: TransferRule
    /// The YAML as Ultralytics' `yaml_model_load` gives it to the model (`model.yaml`), for the init file.
    public var yaml: PickleData
    /// `detect`, `segment`, `pose`, `obb` or `classify`, by the head.
    public var task: String
    /// `ultralytics X.Y.Z` (fork mode: the fork's) or `ModelGraph's builder`.
    public var builder: String

    /// A YAML or official name: built by ModelGraph's own modules, or by the fork it lies in
    /// (or `request.source`) with the fork's own code — whose `BaseModel.load` then decides the rule.
    public static func load(_ request: ModelRequest) throws(ModelLoadError) -> TransferTarget {
        guard !Checkpoints.isCheckpoint(request.path) else {
            throw ModelLoadError("error: \(request.path): the variant is a model YAML (the edited file), not a checkpoint", kind: .usage)
        }
        let text = try ModelText.find(request.path).get()
        let rows = try TransferSide.rows(yaml: text.text, file: text.file)
        let state: [(key: String, shape: [Int])]
        let rule: TransferRule
        let builder: String
        var scale = request.scale
        if let root = try Model.fork(for: request) {
            let summary = try Model.buildFork(yamlPath: request.path, root: root,
                                              options: ForkBuildOptions(scale: request.scale, imageHeight: request.imageHeight, imageWidth: request.imageWidth,
                                                                        shapes: false, flops: false))
            guard !summary.stateShapes.isEmpty else { throw ModelLoadError("\(request.path): error: the fork's model has no state_dict to transfer into") }
            state = summary.stateShapes
            scale = summary.scale ?? scale
            rule = Self.forkRule(root: root)
            builder = "the fork's code (Ultralytics \(summary.ultralyticsVersion))"
        } else {
            let model = try Model.load(request)
            guard model.graph.errors.isEmpty else {
                throw ModelLoadError(messages: model.graph.errors.map(\.description) + ["\(request.path): \(model.graph.errors.count) error(s); its state dict is not known"])
            }
            state = TransferSide.state(of: model.graph)
            scale = model.graph.scale?.name ?? scale
            rule = .ultralytics
            builder = "ModelGraph's builder (Ultralytics 8.4.190's rules)"
        }
        var yaml = (try? YAMLParser.parse(text.text, file: text.file)).map(Self.pickleData) ?? .dict([])
        if case .dict(var pairs) = yaml {
            // what yaml_model_load adds: the scale the name asks for, and the file
            pairs.removeAll { [.string("scale"), .string("yaml_file")].contains($0.key) }
            if let scale { pairs.append(.init(.string("scale"), .string(scale))) }
            pairs.append(.init(.string("yaml_file"), .string(request.path)))
            yaml = .dict(pairs)
        }
        let head = rows.last?.module ?? ""
        let task = head.contains("Segment") ? "segment" : head.contains("Pose") ? "pose" : head.contains("OBB") ? "obb"
            : head.contains("Classify") ? "classify" : "detect"
        return TransferTarget(side: TransferSide(rows: rows, state: state), rule: rule, yaml: yaml, task: task, builder: builder)
    }

    /// A YAML node as PyYAML's safe loader gives it to Python.
    static func pickleData(_ node: YAMLNode) -> PickleData {
        switch node.kind {
        case .scalar(let text, let style):
            switch YAMLScalar.resolve(text, style: style, tag: node.tag) {
            case .null: return .none
            case .bool(let value): return .bool(value)
            case .int(let value): return .int(value)
            case .float(let value): return .float(value)
            case .string(let value): return .string(value)
            }
        case .sequence(let items): return .list(items.map(pickleData))
        case .mapping(let pairs): return .dict(pairs.map { .init(pickleData($0.key), pickleData($0.value)) })
        }
    }

    /// A fork's `BaseModel.load`: Ultralytics' rule if its code has the first-convolution copy
    /// the 8.4 rule adds, else the plain intersection of releases up to 8.3.
    static func forkRule(root: URL) -> TransferRule {
        let tasks = root.appendingPathComponent("ultralytics/nn/tasks.py")
        guard let text = try? String(contentsOf: tasks, encoding: .utf8) else { return .intersection }
        return text.contains("first_conv = \"model.0.conv.weight\"") || text.contains("first_conv = 'model.0.conv.weight'") ? .ultralytics : .intersection
    }
}

extension WeightTransfer {
    /// The carried tensors as an init checkpoint Ultralytics' `model.load()` and `pretrained=`
    /// take: `{model, train_args, date, version}` with the variant's own YAML on the model, so
    /// `YOLO("init.pt").train(...)` builds the variant and starts from these tensors.
    public func checkpoint(source: TransferSource, target: TransferTarget, date: Date = Date()) throws(ModelLoadError) -> Data {
        let entries = carried.compactMap { key, fromKey -> CheckpointWriter.Entry? in
            guard let tensor = source.tensors[fromKey] else { return nil }
            return CheckpointWriter.Entry(key: key, shape: tensor.shape, type: tensor.type, bytes: tensor.bytes, isBuffer: source.bufferKeys.contains(fromKey))
        }
        let formatter = ISO8601DateFormatter()
        do {
            return try CheckpointWriter.encode(
                entries: entries,
                modelAttributes: [("yaml", target.yaml), ("task", .string(target.task))],
                fields: [("date", .string(formatter.string(from: date))), ("version", .string("8.4.190")),
                         ("train_args", .dict([.init(.string("task"), .string(target.task))])),
                         ("docs", .string("written by modelgraph transfer: the tensors it carried, under the variant's keys"))])
        } catch {
            throw ModelLoadError("error: cannot write the init checkpoint: \(error.description)")
        }
    }

    /// The carried tensors as a safetensors state dict (float32; integers in their own type).
    public func safetensors(source: TransferSource) -> Data {
        var raw: [String: SafeTensors.RawTensor] = [:]
        for (key, fromKey) in carried {
            guard let tensor = source.tensors[fromKey] else { continue }
            raw[key] = SafeTensors.RawTensor(dtype: tensor.type.safetensorsDType, shape: tensor.shape, bytes: tensor.bytes)
        }
        return SafeTensors.encode(raw: raw, metadata: ["format": "pt", "source": "modelgraph transfer"])
    }
}
