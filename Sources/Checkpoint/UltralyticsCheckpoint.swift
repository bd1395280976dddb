/// What an Ultralytics checkpoint holds, read from its pickle without Ultralytics: the model's
/// state dict with PyTorch's key names (from `ema` when present, else `model`), each BatchNorm's
/// eps as pickled, the model's own YAML, class names and the training record. A plain state
/// dict `.pt` (or a dict holding `state_dict` or `model` as one) is read too.
public struct UltralyticsCheckpoint: Sendable {
    public let file: String
    public let fileSize: Int
    /// The state dict, in the module tree's order.
    public let tensors: [(key: String, tensor: TensorReference)]
    /// eps of each BatchNorm, by its key prefix (`model.0.bn`).
    public let normEpsilons: [String: Double]
    /// Keys that are buffers (running statistics, counters), not parameters; empty for a bare state dict.
    public let bufferKeys: Set<String>
    /// The pickled module classes (`ultralytics.nn.extra_modules.block.C2f_Star`), each once.
    public let moduleClasses: [String]

    /// Classes that neither Ultralytics' own modules nor torch define: a fork's, whose code builds them.
    public var forkClasses: [String] {
        moduleClasses.filter { name in
            !["ultralytics.nn.modules.", "ultralytics.nn.tasks.", "torch."].contains { name.hasPrefix($0) }
        }
    }
    /// Where the weights came from: `ema`, `model`, `state_dict` or `file` (a bare state dict).
    public let source: String
    /// The pickled model's class (`ultralytics.nn.tasks.DetectionModel`), when there is one.
    public let modelClass: String?
    /// The model's YAML (`model.yaml`), when pickled with it.
    public let yaml: PickleValue?
    public let names: [String]
    public let metadata: [(key: String, value: String)]
    public let trainingArguments: [(key: String, value: String)]
    /// Keeps `yaml`'s containers (see PickleGraph).
    let pickleGraph: PickleGraph

    /// The most values a walk visits: a hostile pickle can share one list many times over.
    static let largestWalk = 5_000_000

    public static func read(file: String) throws(CheckpointError) -> UltralyticsCheckpoint {
        try UltralyticsCheckpoint(archive: TorchArchive.read(file: file))
    }

    public init(archive: TorchArchive) throws(CheckpointError) {
        pickleGraph = archive.graph
        file = archive.file
        fileSize = archive.fileSize
        func fail(_ message: String) -> CheckpointError { CheckpointError(file: archive.file, message) }
        var budget = UltralyticsCheckpoint.largestWalk
        guard let top = archive.root.dictionary else {
            if let object = archive.root.object, object.attributes?["_modules"] != nil {
                // torch.save(model): the module itself
                var walk = ModuleWalk(file: archive.file, budget: budget)
                try walk.module(object, prefix: "", depth: 0)
                tensors = walk.tensors
                normEpsilons = walk.epsilons
                bufferKeys = walk.bufferKeys
                moduleClasses = walk.classes
                source = "model"
                modelClass = object.className
                yaml = object.attributes?["yaml"]
                names = UltralyticsCheckpoint.classNames(object.attributes?["names"])
                metadata = []
                trainingArguments = []
                return
            }
            throw fail("the checkpoint's top-level object is \(describe(archive.root)), not a dict or a model")
        }
        var tensors: [(key: String, tensor: TensorReference)] = []
        var epsilons: [String: Double] = [:]
        var buffers: Set<String> = []
        var classes: [String] = []
        var modelObject: PickleObject?
        var chosen = "file"
        if let ema = top["ema"]?.object {
            modelObject = ema
            chosen = "ema"
        } else if let model = top["model"]?.object {
            modelObject = model
            chosen = "model"
        }
        if let modelObject {
            var walk = ModuleWalk(file: archive.file, budget: budget)
            try walk.module(modelObject, prefix: "", depth: 0)
            tensors = walk.tensors
            epsilons = walk.epsilons
            buffers = walk.bufferKeys
            classes = walk.classes
            budget = walk.budget
        } else {
            // a state dict: the file's dict itself, or its `state_dict` / `model` entry
            var candidate = top
            for name in ["state_dict", "model"] {
                if let inner = top[name]?.dictionary { candidate = inner; chosen = name; break }
            }
            for (key, value) in candidate.pairs {
                guard let name = key.string, let tensor = value.tensor else { continue }
                tensors.append((name, tensor))
            }
            guard !tensors.isEmpty else {
                let keys = top.pairs.compactMap { $0.key.string }.prefix(12).joined(separator: ", ")
                throw fail("no model in the checkpoint: no `ema` or `model` module and no tensors (its keys: \(keys.isEmpty ? "none" : keys))")
            }
        }
        self.tensors = tensors
        normEpsilons = epsilons
        bufferKeys = buffers
        moduleClasses = classes
        source = chosen
        modelClass = modelObject?.className
        yaml = modelObject?.attributes?["yaml"]
        names = UltralyticsCheckpoint.classNames(modelObject?.attributes?["names"])
        var metadata: [(String, String)] = []
        for key in ["version", "date", "epoch", "best_fitness", "license", "docs"] {
            if let value = top[key], !value.isNone { metadata.append((key, describe(value))) }
        }
        self.metadata = metadata
        var arguments: [(String, String)] = []
        let trainArgs = top["train_args"] ?? modelObject?.attributes?["args"]
        if let dict = trainArgs?.dictionary ?? trainArgs?.object?.attributes {
            for (key, value) in dict.pairs { if let name = key.string { arguments.append((name, describe(value))) } }
        }
        trainingArguments = arguments
    }

    /// `names`: a dict {index: name} or a list.
    static func classNames(_ value: PickleValue?) -> [String] {
        if let dict = value?.dictionary {
            return dict.pairs.sorted { ($0.key.int ?? 0) < ($1.key.int ?? 0) }.map { $0.value.string ?? describe($0.value) }
        }
        return value?.items?.map { $0.string ?? describe($0) } ?? []
    }

    /// Parameters, as PyTorch counts them (buffers excluded; in a bare state dict, whose buffers
    /// cannot be told apart, BatchNorm's running statistics and counters are excluded by name).
    public var parameterCount: Int {
        tensors.filter { entry in
            if bufferKeys.contains(entry.key) { return false }
            return !["num_batches_tracked", "running_mean", "running_var"].contains { entry.key.hasSuffix($0) }
        }.reduce(0) { $0 + $1.tensor.elementCount }
    }

    /// The dtypes of the floating-point tensors, most frequent first.
    public var floatTypes: [StorageType] {
        var counts: [StorageType: Int] = [:]
        for (_, tensor) in tensors where tensor.storage.type.isFloatingPoint { counts[tensor.storage.type, default: 0] += 1 }
        return counts.sorted { $0.value > $1.value }.map(\.key)
    }

    /// The task, from the model class or the training arguments.
    public var task: String? {
        if let task = trainingArguments.first(where: { $0.key == "task" })?.value { return task }
        switch modelClass?.split(separator: ".").last {
        case "DetectionModel", "RTDETRDetectionModel", "WorldModel", "YOLOEModel": return "detect"
        case "SegmentationModel", "YOLOESegModel": return "segment"
        case "PoseModel": return "pose"
        case "OBBModel": return "obb"
        case "ClassificationModel": return "classify"
        default: return nil
        }
    }
}

/// Walks a pickled `nn.Module` into its state dict: own `_parameters`, then persistent
/// `_buffers`, then each child of `_modules` — PyTorch's `state_dict()` order.
struct ModuleWalk {
    let file: String
    var budget: Int
    var tensors: [(key: String, tensor: TensorReference)] = []
    var epsilons: [String: Double] = [:]
    var bufferKeys: Set<String> = []
    /// The module classes met, each once, in the tree's order.
    var classes: [String] = []
    private var seenClasses: Set<String> = []

    init(file: String, budget: Int) {
        self.file = file
        self.budget = budget
    }

    mutating func module(_ object: PickleObject, prefix: String, depth: Int) throws(CheckpointError) {
        budget -= 1
        guard depth < 100, budget > 0 else {
            throw CheckpointError(file: file, "the module tree is nested more than 100 deep or too large at '\(prefix)' (a recursive or hostile pickle)")
        }
        guard let attributes = object.attributes else {
            throw CheckpointError(file: file, "module '\(prefix.isEmpty ? "(root)" : String(prefix.dropLast()))' (\(object.className)) has no pickled state")
        }
        if seenClasses.insert(object.className).inserted { classes.append(object.className) }
        let skipped = Set(attributes["_non_persistent_buffers_set"]?.items?.compactMap(\.string) ?? [])
        for (group, isBuffer) in [("_parameters", false), ("_buffers", true)] {
            for (key, value) in attributes[group]?.dictionary?.pairs ?? [] {
                guard let name = key.string, !(isBuffer && skipped.contains(name)) else { continue }
                if value.isNone { continue }
                guard let tensor = value.tensor else {
                    throw CheckpointError(file: file, "\(prefix)\(name) in \(group) of \(object.className) is \(describe(value)), not a tensor")
                }
                tensors.append((prefix + name, tensor))
                if isBuffer { bufferKeys.insert(prefix + name) }
            }
        }
        if object.shortClassName.hasPrefix("BatchNorm"), let eps = attributes["eps"]?.double {
            epsilons[String(prefix.dropLast())] = eps
        }
        for (key, value) in attributes["_modules"]?.dictionary?.pairs ?? [] {
            guard let name = key.string else { continue }
            if value.isNone { continue }
            guard let child = value.object else {
                throw CheckpointError(file: file, "\(prefix)\(name) in _modules of \(object.className) is \(describe(value)), not a module")
            }
            try module(child, prefix: prefix + name + ".", depth: depth + 1)
        }
    }
}

/// A short description of a value for messages and `info`.
public func describe(_ value: PickleValue, depth: Int = 0) -> String {
    guard depth < 4 else { return "…" }
    switch value {
    case .none: return "None"
    case .bool(let flag): return flag ? "True" : "False"
    case .int(let number): return String(number)
    case .bigInt(let digits): return "a \(digits.count)-byte integer"
    case .float(let number): return String(number)
    case .string(let text): return text.count > 200 ? String(text.prefix(200)) + "…" : text
    case .bytes(let bytes): return "\(bytes.count) bytes"
    case .list, .tuple, .set:
        let items = value.items ?? []
        let shown = items.prefix(12).map { describe($0, depth: depth + 1) }.joined(separator: ", ")
        return "[" + shown + (items.count > 12 ? ", …" : "") + "]"
    case .dict(let dict):
        let shown = dict.pairs.prefix(12).map { "\(describe($0.key, depth: depth + 1)): \(describe($0.value, depth: depth + 1))" }
        return "{" + shown.joined(separator: ", ") + (dict.count > 12 ? ", …" : "") + "}"
    case .global(let module, let name): return "\(module).\(name)"
    case .object(let object):
        if object.className.hasSuffix("numpy.core.multiarray.scalar") || object.className.hasSuffix("numpy._core.multiarray.scalar"),
           object.arguments.count == 2, case .bytes(let bytes) = object.arguments[1], bytes.count == 8 {
            // numpy float64 scalars (best_fitness)
            let bits = bytes.enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
            return String(Double(bitPattern: bits))
        }
        if object.className.hasSuffix("PosixPath") || object.className.hasSuffix("WindowsPath") {
            return object.arguments.compactMap(\.string).joined(separator: "/")
        }
        return "a \(object.className)"
    case .storage(let storage): return "a \(storage.type.dtypeName) storage"
    case .tensor(let tensor): return "a \(tensor.storage.type.dtypeName) tensor \(tensor.shape)"
    }
}
