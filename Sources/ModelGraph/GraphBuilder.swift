import ModelSpec
import Tensor
import YAMLFrontEnd

/// What a build needs besides the file: the scale and the input the shapes are inferred for.
public struct BuildOptions: Sendable {
    public var scale: String?
    public var imageHeight: Int
    public var imageWidth: Int
    public var batch: Int
    /// Run end-to-end heads through their one-to-one branches, returning the top-k detections
    /// (Ultralytics' `model.end2end = True`).
    public var endToEnd: Bool

    public init(scale: String? = nil, imageHeight: Int = 640, imageWidth: Int = 640, batch: Int = 1, endToEnd: Bool = false) {
        self.scale = scale
        self.endToEnd = endToEnd
        self.imageHeight = imageHeight
        self.imageWidth = imageWidth
        self.batch = batch
    }
}

/// One YAML row after resolution: its indices, absolute sources, module, tree and shapes.
public struct ResolvedLayer: Sendable {
    public var row: LayerRow
    /// The first layer index the row occupies (what `from` refers to).
    public var index: Int
    public var moduleName: String
    /// Absolute source indices; -1 is the input image.
    public var from: [Int]
    /// Repeats after the depth gain (the summary's `n`).
    public var repeats: Int
    /// The module as built for this row (the first of its chained copies).
    public var module: any LayerModule { instances[0] }
    /// The chained copies the row builds (one unless repeats chain the module), each with its own tensors.
    public var instances: [any LayerModule]
    /// How many chained copies of the module the row builds.
    public var copies: Int { instances.count }
    /// The constructor arguments as Ultralytics prints them (channels filled in by the channel rule).
    public var printedArguments: [ArgumentValue]
    public var outputChannels: [Int]
    /// Output shapes as the summary shows them: one per index, then a head's further results, or a
    /// tuple's pieces (CBLinear); nil when shape inference stopped before this layer.
    public var outputShapes: [[Int]]?
    public var multiplyAdds: Double?
    /// Multiply-adds by thop's rules (see `Pass.thopOperations`) at the built batch.
    public var thopOperations: Double?

    /// The PyTorch module tree (a Sequential of copies when repeats chain the module).
    public var tree: ModuleNode { ResolvedLayer.tree(of: instances) }
    /// The tree after Ultralytics' `fuse()`.
    public var fusedTree: ModuleNode { ResolvedLayer.tree(of: instances.map { $0.fused(ultralyticsOnly: true) }) }

    static func tree(of instances: [any LayerModule]) -> ModuleNode {
        guard instances.count > 1 else { return instances[0].tree }
        return ModuleNode("", "Sequential", children: instances.enumerated().map { index, instance in
            var node = instance.tree
            node.name = String(index)
            return node
        })
    }

    /// The indices the row occupies.
    public var indices: Range<Int> { index..<(index + outputChannels.count) }

    /// The shape each of the row's layer indices holds: a tuple's pieces concatenated (CBLinear),
    /// else the first `outputShapes` (a head's further results feed no index).
    public var indexShapes: [[Int]]? {
        guard let shapes = outputShapes else { return nil }
        if let groups = module.outputGroups, let first = shapes.first { return [[first[0], groups.reduce(0, +), first[2], first[3]]] }
        return Array(shapes.prefix(outputChannels.count))
    }
    public var parameterCount: Int { tree.parameterCount }
    /// The state_dict prefix, as the reference's `nn.Sequential` names the row.
    public var keyPrefix: String { "model.\(row.row)" }
    /// The key prefix of each chained copy ("model.8." or "model.8.0.", "model.8.1.", …).
    var instancePrefixes: [String] {
        copies > 1 ? (0..<copies).map { "\(keyPrefix).\($0)." } : ["\(keyPrefix)."]
    }
    public var gflops: Double? { multiplyAdds.map { 2 * $0 / 1e9 } }
}

/// A model file resolved into layers, with every problem found on the way.
public struct ModelGraph: Sendable {
    public var spec: ModelSpec
    public var options: BuildOptions
    public var scale: Scale?
    /// Set when no --scale was given and the file lists several.
    public var scaleNote: String?
    public var layers: [ResolvedLayer]
    public var diagnostics: [Diagnostic]

    public var errors: [Diagnostic] { diagnostics.filter { $0.severity == .error } }
    public var inputShape: [Int] { [options.batch, spec.inputChannels, options.imageHeight, options.imageWidth] }
    public var parameterCount: Int { layers.reduce(0) { saturatingSum($0, $1.parameterCount) } }

    /// `len(list(model.modules()))` of the PyTorch model: the model, its Sequential, every
    /// submodule, shared instances once.
    public var moduleCount: Int {
        var seen = Set<String>()
        return 2 + layers.reduce(0) { $0 + $1.tree.countModules(seen: &seen) }
    }

    /// Total GFLOPs (2 × multiply-adds), or nil if a layer's shapes are unknown.
    public var gflops: Double? {
        var total = 0.0
        for layer in layers {
            guard let macs = layer.multiplyAdds else { return nil }
            total += macs
        }
        return 2 * total / 1e9
    }

    /// The GFLOPs Ultralytics' `model.info()` prints for this input size: thop's rules at batch 1
    /// (its `get_flops` extrapolates stride-sized proxies, exact for these polynomial costs), ×2.
    /// `fused`: after Ultralytics' `fuse()` (no BatchNorm, merged RepConv branches). Nil when a
    /// layer's shapes are unknown.
    public func ultralyticsGFLOPs(fused: Bool = false) -> Double? {
        ultralyticsLayerGFLOPs(fused: fused)?.reduce(0, +)
    }

    /// `ultralyticsGFLOPs` row by row. Ultralytics counts at batch 1, and not all work scales
    /// with the batch (AIFI's position embedding is made once per call), so a graph built for
    /// another batch is walked again at batch 1.
    public func ultralyticsLayerGFLOPs(fused: Bool = false) -> [Double]? {
        var operations: [Double] = []
        if !fused && options.batch == 1 {
            for layer in layers {
                guard let counted = layer.thopOperations else { return nil }
                operations.append(counted)
            }
        } else {
            guard let walked = rewalk(atBatchOne: true, { fused ? $0.fused(ultralyticsOnly: true) : $0 }) else { return nil }
            operations = walked.map(\.thopOperations)
        }
        return operations.map { 2 * $0 / 1e9 }
    }

    /// Every row walked again with its copies transformed by `transform` (a fused form), each
    /// fed its sources' shapes as built (at batch 1 when `atBatchOne`); nil when a layer's shapes are unknown.
    func rewalk(atBatchOne: Bool = false, _ transform: (any LayerModule) -> any LayerModule) -> [(multiplyAdds: Double, thopOperations: Double)]? {
        let batched = { (shape: [Int]) -> [Int] in atBatchOne && !shape.isEmpty ? [1] + shape.dropFirst() : shape }
        var shapes: [Int: [Int]] = [-1: batched(inputShape)]
        var results: [(multiplyAdds: Double, thopOperations: Double)] = []
        for layer in layers {
            guard let held = layer.indexShapes else { return nil }
            let inputs = layer.from.compactMap { shapes[$0] }
            guard inputs.count == layer.from.count,
                  let (_, macs, thop) = try? Builder.propagate(layer, inputs, instances: layer.instances.map(transform))
            else { return nil }
            results.append((macs, thop))
            for (offset, shape) in held.enumerated() { shapes[layer.index + offset] = batched(shape) }
        }
        return results
    }

    /// The forward pass traced over placeholder weights (no weights need be loaded), fused as
    /// the inference plan fuses it when `fused`: what the memory pass measures. Nil when the
    /// graph has errors.
    public func weightlessProgram(fused: Bool = true) -> Program? {
        let instances = layers.map { layer in layer.instances.map { fused ? $0.fused() : $0 } }
        return try? InferencePlan.trace(graph: self, instances: instances, weightless: true)
    }

    /// Parameters after Ultralytics' `fuse()` (BatchNorm folded into Convs, RepConv re-parameterised).
    public var fusedParameterCount: Int { layers.reduce(0) { saturatingSum($0, $1.fusedTree.parameterCount) } }

    /// `len(list(model.modules()))` after `fuse()`.
    public var fusedModuleCount: Int {
        var seen = Set<String>()
        return 2 + layers.reduce(0) { $0 + $1.fusedTree.countModules(seen: &seen) }
    }

    /// Ultralytics 8.4's "layers": distinct leaf modules (`model.info()`), unfused or fused.
    public func leafLayerCount(fused: Bool = false) -> Int {
        var seen = Set<String>()
        return layers.reduce(0) { $0 + (fused ? $1.fusedTree : $1.tree).countLeaves(seen: &seen) }
    }

    /// Whether the model uses a module only the community's forks register (StarNet, FreqFusion…):
    /// those forks run an older Ultralytics whose summary line counts every module, not leaves.
    public var usesCommunityModules: Bool {
        layers.contains { layer in layer.instances.contains { type(of: $0).isCommunityModule } }
    }

    /// Every parameter and buffer with its PyTorch state_dict key.
    public var stateDictionary: [TensorDeclaration] {
        layers.flatMap { $0.tree.stateDictionary(prefix: $0.keyPrefix) }
    }

    /// The final output shape(s): the last row's.
    public var outputShapes: [[Int]]? { layers.last?.outputShapes }
}

extension ModelGraph {
    /// Reads and resolves a model file's text. Syntax and schema problems throw; layer problems
    /// (unknown modules, bad arguments, channel and shape mismatches) are collected in
    /// `diagnostics` so one run reports them all.
    public static func build(yaml text: String, file: String, options: BuildOptions = BuildOptions()) throws(DiagnosticList) -> ModelGraph {
        try build(spec: ModelSpec.parse(text, file: file), options: options)
    }

    public static func build(spec: ModelSpec, options: BuildOptions) throws(DiagnosticList) -> ModelGraph {
        let largest = Limits.largestNumber
        for (name, value) in [("batch", options.batch), ("image height", options.imageHeight), ("image width", options.imageWidth)]
        where value < 1 || value > largest {
            throw DiagnosticList([Diagnostic(file: spec.file, location: nil, message: "the \(name) must be between 1 and \(largest), found \(value)")])
        }
        var factors: (depth: Double, width: Double, maxChannels: Int?, chosen: Scale?, note: String?)
        do {
            factors = try spec.scaleFactors(options.scale)
        } catch {
            throw DiagnosticList([error])
        }
        var builder = Builder(spec: spec, options: options, depth: factors.depth, width: factors.width, maxChannels: factors.maxChannels,
                              scaleName: factors.chosen?.name)
        builder.resolveLayers()
        builder.inferShapes()
        builder.assignStrides()
        var warnings = spec.warnings
        let hasOneToOne = builder.layers.contains { ($0.module as? any DetectionHeadModule)?.core.hasOneToOne == true }
        if options.endToEnd && !hasOneToOne && builder.diagnostics.isEmpty {
            // Ultralytics' Detect.end2end setter warns the same way
            warnings.append(Diagnostic(.warning, file: spec.file, location: nil,
                                       message: "--end2end: the model has no one-to-one head (a Detect-family head with `end2end: True`); using the one-to-many outputs"))
        }
        return ModelGraph(spec: spec, options: options, scale: factors.chosen, scaleNote: factors.note,
                          layers: builder.layers, diagnostics: warnings + builder.diagnostics)
    }
}

struct Builder {
    let spec: ModelSpec
    let options: BuildOptions
    let depth: Double
    let width: Double
    let maxChannels: Int?
    /// The scale's name (parse_model's `scale`), which some modules' arguments depend on.
    let scaleName: String?
    var layers: [ResolvedLayer] = []
    var parameterTotal = 0
    /// The rows' repeats so far (after depth scaling), against `Limits.largestTotalRepeats`.
    var repeatTotal = 0
    var diagnostics: [Diagnostic] = []
    /// Channels per layer index; nil where the layer failed (its dependants are skipped quietly).
    var channels: [Int?] = []
    /// Layer index → position in `layers`.
    var layerOfIndex: [Int] = []
    /// Channel groups of the indices that hold a tuple (CBLinear).
    var groups: [Int: [Int]] = [:]
    /// Ultralytics' `initialize_weights` gives every BatchNorm eps 1e-3 except in classification models.
    var batchNormEpsilon: Float
    var settings: ModelSettings

    init(spec: ModelSpec, options: BuildOptions, depth: Double, width: Double, maxChannels: Int?, scaleName: String?) {
        self.spec = spec
        self.scaleName = scaleName
        self.options = options
        self.depth = depth
        self.width = width
        self.maxChannels = maxChannels
        batchNormEpsilon = spec.rows.contains { $0.module.value == "Classify" } ? 1e-5 : 1e-3
        settings = ModelSettings(regressionMaximum: spec.regressionMaximum ?? 16, endToEnd: spec.endToEnd, inferenceEndToEnd: options.endToEnd)
        if let name = spec.defaultActivation?.value {
            settings.defaultActivation = Activation.named(name)
        }
    }

    mutating func report(_ error: LayerError, row: LayerRow, index: Int, module: String) {
        diagnostics.append(Diagnostic(file: spec.file, location: row.location(of: error.blame), layerIndex: index,
                                      module: module, message: error.message))
    }

    /// Marks `count` indices as failed so later rows referring to them are skipped.
    mutating func fail(count: Int = 1) {
        for _ in 0..<count {
            channels.append(nil)
            layerOfIndex.append(-1)
        }
    }

    mutating func resolveLayers() {
        for row in spec.rows {
            let index = channels.count
            let name = row.module.value
            guard name != "?" else { fail(); continue }  // the spec reader already reported this row
            guard let type = ModuleRegistry.type(named: name) else {
                let near = nearestNames(to: name, in: ModuleRegistry.allNames)
                let hint = near.isEmpty ? "known modules: \(ModuleRegistry.allNames.joined(separator: ", "))"
                                        : "did you mean \(near.map { "'\($0)'" }.joined(separator: " or "))?"
                report(LayerError("unknown module '\(abbreviated(name))'; \(hint)", blame: .module), row: row, index: index, module: name)
                fail()
                continue
            }
            guard let sources = resolveSources(row, index: index, name: name) else { fail(); continue }
            guard type.inputArity.accepts(sources.count) else {
                report(LayerError("takes \(type.inputArity.expectation) in `from`, found \(sources.count)", blame: .from(nil)),
                       row: row, index: index, module: name)
                fail()
                continue
            }
            // A failed source was reported where it failed; don't cascade.
            let sourceChannels = sources.map { $0 == -1 ? spec.inputChannels : channels[$0] }
            guard sourceChannels.allSatisfy({ $0 != nil }) else { fail(); continue }

            // a tuple output (CBLinear's) is only for modules that index it (CBFuse)
            let sourceGroups = sources.map { groups[$0] }
            if !type.readsTuples, let position = sourceGroups.firstIndex(where: { $0 != nil }), let tuple = sourceGroups[position] {
                let source = sources[position]
                let producer = layers[layerOfIndex[source]].moduleName
                report(LayerError("layer \(source) (\(producer)) returns a tuple of \(tuple.count) tensors (\(tuple.map(String.init).joined(separator: ", ")) channels), which only CBFuse reads",
                                  blame: .from(position)), row: row, index: index, module: name)
                fail()
                continue
            }
            let written = row.repeats.value
            // Ultralytics: n = max(round(n * depth), 1) if n > 1 else n, with Python's half-to-even round
            let repeats = written > 1 ? max(Int((Double(written) * depth).rounded(.toNearestOrEven)), 1) : written
            guard repeatTotal + repeats <= Limits.largestTotalRepeats else {
                report(LayerError("brings the model's repeats to \(groupedThousands(repeatTotal + repeats)) (after depth_multiple \(depth)), past the \(groupedThousands(Limits.largestTotalRepeats)) blocks ModelGraph builds; lower the rows' repeats",
                                  blame: .repeats), row: row, index: index, module: name)
                fail()
                continue
            }
            repeatTotal += repeats
            let inputChannels = sourceChannels.map { $0! }
            let module: any LayerModule
            let printed: [ArgumentValue]
            do throws(LayerError) {
                let arguments = try type.signature.bind(type.scaleAdjusted(row.arguments, scale: scaleName, at: row.argumentsLocation))
                var scaled = 0
                switch type.channelRule {
                case .scaledOutput: scaled = scaledChannels(arguments.int("outputChannels"))
                case .writtenOutput: scaled = arguments.int("outputChannels")
                case .detectionHead(let position?):
                    // parse_model appends reg_max, end2end and ch first, then scales args[position]
                    guard arguments.written.count > position, case .int(let width) = arguments.written[position].value else {
                        throw LayerError("needs argument \(position + 1) (\(type.signature.parameters[position].yamlName)) written: parse_model scales args[\(position)] after appending reg_max, so a shorter row builds another head",
                                         blame: .arguments)
                    }
                    scaled = scaledChannels(width)
                default: break
                }
                let context = LayerContext(moduleName: name, inputChannels: inputChannels, arguments: arguments, repeats: repeats,
                                           classCount: spec.classCount?.value, scaledOutputChannels: scaled,
                                           batchNormEpsilon: batchNormEpsilon, model: settings, layerIndex: index,
                                           inputGroups: sourceGroups, widthMultiple: width, maxChannels: maxChannels)
                let built = try type.init(context)
                module = settings.defaultActivation == .silu ? built : built.replacingDefaultActivation(with: settings.defaultActivation)
                printed = module.printedArguments(Builder.printedArguments(type, arguments: arguments, inputChannels: inputChannels, scaled: scaled,
                                                                           repeats: repeats, settings: settings))
            } catch {
                report(error, row: row, index: index, module: name)
                fail()
                continue
            }
            // a width rule can leave an inner block with no channels (C3k2 [8, False, 0.125]:
            // one hidden channel, its Bottleneck half of that); PyTorch builds such a conv, but
            // nothing can run it
            if let empty = module.tree.stateDictionary(prefix: "").first(where: { $0.shape.contains(0) }) {
                report(LayerError("builds `\(empty.name)` with shape \(describeShape(empty.shape)): a block with 0 channels; widen the row's channels or expansion",
                                  blame: .arguments), row: row, index: index, module: name)
                fail(count: module.outputChannels.count)
                continue
            }
            if let channel = module.outputChannels.first(where: { $0 > Builder.largestDimension }) {
                report(LayerError("would have \(channel) output channels, beyond the \(Builder.largestDimension) ModelGraph handles",
                                  blame: .arguments), row: row, index: index, module: name)
                fail(count: module.outputChannels.count)
                continue
            }
            // parse_model clears `legacy` at these rows; Detect-family heads after them build the new branches
            if type.clearsLegacy { settings.legacy = false }
            let copies = repeats > 1 && !type.takesRepeats ? repeats : 1
            if copies > 1 {
                // Ultralytics chains n copies in an nn.Sequential, so each copy's output feeds the
                // next: a copy takes one map, so only a one-input row can repeat
                guard sources.count == 1 else {
                    report(LayerError("repeats \(repeats) chains \(repeats) copies, each taking the one output of the copy before, but the row reads \(sources.count) inputs; write repeats 1",
                                      blame: .repeats), row: row, index: index, module: name)
                    fail(count: module.outputChannels.count)
                    continue
                }
                guard module.outputChannels.count == 1, module.outputChannels[0] == sourceChannels[0] else {
                    report(LayerError("repeats \(repeats) chains \(repeats) copies, so output channels (\(module.outputChannels.map(String.init).joined(separator: ", "))) must equal input channels (\(sourceChannels[0]!))",
                                      blame: .repeats), row: row, index: index, module: name)
                    fail()
                    continue
                }
            }
            let layer = ResolvedLayer(row: row, index: index, moduleName: name, from: sources, repeats: repeats,
                                      instances: Array(repeating: module, count: copies), printedArguments: printed,
                                      outputChannels: module.outputChannels)
            guard layer.parameterCount <= Builder.largestParameterCount else {
                report(LayerError("would have more than \(groupedThousands(Builder.largestParameterCount)) parameters; check its channels and kernel sizes",
                                  blame: .arguments), row: row, index: index, module: name)
                fail(count: module.outputChannels.count)
                continue
            }
            // the model's total stays within the same bound, so no sum over its rows can overflow
            let total = parameterTotal + layer.parameterCount
            guard total <= Builder.largestParameterCount else {
                report(LayerError("brings the model past \(groupedThousands(Builder.largestParameterCount)) parameters (\(groupedThousands(total)) with this row); check the rows' channels and repeats",
                                  blame: .row), row: row, index: index, module: name)
                fail(count: module.outputChannels.count)
                continue
            }
            parameterTotal = total
            if let tuple = module.outputGroups { groups[index] = tuple }
            for channel in module.outputChannels {
                channels.append(channel)
                layerOfIndex.append(layers.count)
            }
            layers.append(layer)
        }
    }

    /// Ultralytics' width rule: `make_divisible(min(c, max_channels) * width, 8)`.
    func scaledChannels(_ channels: Int) -> Int {
        let capped = Double(min(channels, maxChannels ?? Int.max)) * width
        return Int((capped / 8).rounded(.up)) * 8
    }

    /// The constructor arguments as parse_model prints them, by the module's channel rule.
    static func printedArguments(_ type: any LayerModule.Type, arguments: BoundArguments, inputChannels: [Int], scaled: Int,
                                 repeats: Int, settings: ModelSettings) -> [ArgumentValue] {
        let written = arguments.writtenValues
        switch type.channelRule {
        case .scaledOutput, .writtenOutput:
            return [.int(inputChannels[0]), .int(scaled)] + (type.takesRepeats ? [.int(repeats)] : []) + written.dropFirst()
        case .sameAsInputWithChannels:
            return [.int(inputChannels[0])] + written
        case .inputChannelsFirst(let position):
            var printed = [.int(inputChannels[0])] + written
            if let position, type.takesRepeats { printed.insert(.int(repeats), at: min(position, printed.count)) }
            return printed
        case .sameAsInput, .concatenation, .own:
            return written
        case .inputPair:
            return [.list(inputChannels.map(ArgumentValue.int))] + written
        case .channelListInserted(let position):
            var printed = written
            printed.insert(.list(inputChannels.map(ArgumentValue.int)), at: min(position, printed.count))
            return printed
        case .detectionHead(let position):
            var written = written
            if let position, position < written.count { written[position] = .int(scaled) }
            return written + [.int(settings.regressionMaximum), settings.endToEnd.map(ArgumentValue.bool) ?? .null,
                              .list(inputChannels.map(ArgumentValue.int))]
        }
    }

    /// Absolute source indices for a row, or nil after reporting a bad `from`.
    mutating func resolveSources(_ row: LayerRow, index: Int, name: String) -> [Int]? {
        var sources: [Int] = []
        for (position, entry) in row.from.enumerated() {
            let value = entry.value
            if index == 0 {
                guard value == -1 else {
                    report(LayerError("the first layer can only take the input image (from -1), found from \(value)", blame: .from(position)),
                           row: row, index: index, module: name)
                    return nil
                }
                sources.append(-1)
                continue
            }
            let absolute = value < 0 ? index + value : value
            guard absolute >= 0, absolute < index else {
                let problem: String
                if value >= index {
                    problem = value == index ? "points at the layer itself" : "points forward to layer \(value)"
                } else {
                    problem = "reaches before layer 0 (\(index) + \(value) = \(absolute))"
                }
                report(LayerError("from \(value) \(problem); layer \(index) can take layers 0–\(index - 1), or -1…-\(index) counted back",
                                  blame: .from(position)), row: row, index: index, module: name)
                return nil
            }
            sources.append(absolute)
        }
        return sources
    }

    mutating func inferShapes() {
        var shapes: [Int: [Int]] = [-1: [options.batch, spec.inputChannels, options.imageHeight, options.imageWidth]]
        var firstSpatialFailure: Int?
        for position in layers.indices {
            let layer = layers[position]
            let inputs = layer.from.compactMap { shapes[$0] }
            guard inputs.count == layer.from.count else { continue }
            do {
                let (outputs, macs, thop) = try Builder.propagate(layer, inputs)
                // a tuple's index holds its tensors concatenated; the table shows each, as Ultralytics does
                if let tuple = layer.module.outputGroups, let whole = outputs.first, whole.count == 4 {
                    layers[position].outputShapes = tuple.map { [whole[0], $0, whole[2], whole[3]] }
                } else {
                    layers[position].outputShapes = outputs
                }
                layers[position].multiplyAdds = macs
                layers[position].thopOperations = thop
                // a head's further results (Segment's prototypes) feed no index
                for (offset, shape) in outputs.prefix(layer.outputChannels.count).enumerated() {
                    shapes[layer.index + offset] = shape
                }
            } catch {
                report(error, row: layer.row, index: layer.index, module: layer.moduleName)
                if firstSpatialFailure == nil { firstSpatialFailure = diagnostics.count - 1 }
            }
        }
        if let failure = firstSpatialFailure, let hint = inputSizeHint() {
            diagnostics[failure].message += "; \(hint)"
        }
    }

    /// Shapes beyond these bounds are reported, so no later arithmetic can overflow.
    static let largestDimension = 1 << 24
    static let largestElementCount = 1 << 50
    static let largestParameterCount = 1 << 50

    /// A layer's output shapes and both figures' counts, from its row program (`rowProgram`).
    /// Both shape walks (the real input and the stride probe) use it.
    static func propagate(_ layer: ResolvedLayer, _ inputs: [[Int]], instances: [any LayerModule]? = nil) throws(LayerError)
        -> (outputs: [[Int]], multiplyAdds: Double, thopOperations: Double) {
        let program = try rowProgram(layer, inputs, instances: instances)
        // both figures are passes over the row's program
        let counts = program.operationCounts
        return (program.outputs.map(\.shape), counts.multiplyAdds, counts.thopOperations)
    }

    /// A layer's chained copies traced over placeholder weights by the counting walk (with the
    /// work only thop counts), returning the row's outputs; each output's size is checked before
    /// the next copy multiplies it.
    static func rowProgram(_ layer: ResolvedLayer, _ inputs: [[Int]], instances: [any LayerModule]? = nil) throws(LayerError) -> Program {
        let recorder = ProgramRecorder(weightless: true, counting: true)
        recorder.origin = ProgramOrigin(layerIndex: layer.index, module: layer.moduleName, path: "model.\(layer.index)")
        var current = inputs.map { recorder.feature(.input, [], shape: $0) }
        for instance in instances ?? layer.instances {
            let outputs = try instance(current, Pass())
            try checkSize(outputs.map(\.shape))
            current = outputs
        }
        return recorder.program(outputs: current.map { ProgramValue(id: $0.symbol?.id ?? -1, shape: $0.shape) })
    }

    static func checkSize(_ shapes: [[Int]]) throws(LayerError) {
        for shape in shapes {
            guard shape.allSatisfy({ $0 >= 1 && $0 <= largestDimension }), elements(shape) <= Double(largestElementCount) else {
                throw LayerError("its output \(describeShape(shape)) is empty or beyond the sizes ModelGraph handles (each side ≤ \(largestDimension), ≤ 2^50 elements)")
            }
        }
    }

    /// Gives stride-dependent heads (Detect) each input level's stride as Ultralytics measures it:
    /// 256 / the level's height in a forward of a 256×256 image (the requested size when that fails).
    mutating func assignStrides() {
        guard layers.contains(where: { $0.module is any StrideDependent }) else { return }
        let probe = 256
        let probed = probeShapes(size: probe)
        let actual: [Int: [Int]] = Dictionary(uniqueKeysWithValues: layers.flatMap { layer in
            (layer.outputShapes ?? []).prefix(layer.outputChannels.count).enumerated().map { (layer.index + $0.offset, $0.element) }
        })
        for position in layers.indices where layers[position].module is any StrideDependent {
            let layer = layers[position]
            let strides: [Float] = layer.from.map { source in
                if let shape = probed?[source], shape.count == 4 { return Float(probe) / Float(shape[2]) }
                if let shape = actual[source], shape.count == 4 { return Float(options.imageHeight) / Float(shape[2]) }
                return 1
            }
            layers[position].instances = layer.instances.map { instance in
                guard var dependent = instance as? any LayerModule & StrideDependent else { return instance }
                dependent.strides = strides
                return dependent
            }
        }
    }

    /// Every index's output shape for a batch-1 `size`×`size` image, or nil when a layer's shape
    /// rule rejects it. Both probes (the input-size hint and the strides) use it.
    func probeShapes(size: Int) -> [Int: [Int]]? {
        var shapes: [Int: [Int]] = [-1: [1, spec.inputChannels, size, size]]
        for layer in layers {
            let inputs = layer.from.compactMap { shapes[$0] }
            guard inputs.count == layer.from.count, let (outputs, _, _) = try? Builder.propagate(layer, inputs) else { return nil }
            for (offset, shape) in outputs.prefix(layer.outputChannels.count).enumerated() { shapes[layer.index + offset] = shape }
        }
        return shapes
    }

    /// When the requested input is not a multiple of the network's largest stride, says which
    /// multiple it needs (found by inferring shapes at a large size every stride divides).
    func inputSizeHint() -> String? {
        let probeSize = 2048
        guard let shapes = probeShapes(size: probeSize) else { return nil }
        var stride = 1
        for shape in shapes.values where shape.count == 4 && shape[2] > 0 && probeSize % shape[2] == 0 {
            stride = max(stride, probeSize / shape[2])
        }
        let height = options.imageHeight, width = options.imageWidth
        guard stride > 1, height % stride != 0 || width % stride != 0 else { return nil }
        let roundedHeight = max(stride, (height + stride / 2) / stride * stride)
        let roundedWidth = max(stride, (width + stride / 2) / stride * stride)
        return "the input \(height)×\(width) is not a multiple of \(stride), the network's largest stride; try \(roundedHeight)×\(roundedWidth)"
    }
}

extension LayerRow {
    /// Where in the file a layer error points: the row, its `from`, an argument, its repeats or module.
    func location(of blame: LayerError.Blame) -> SourceLocation {
        switch blame {
        case .row: return location
        case .from(let entry?) where entry < from.count && fromIsList: return from[entry].location
        case .from: return fromLocation
        case .argument(let position) where position < arguments.count: return arguments[position].location
        case .argument, .arguments: return argumentsLocation
        case .repeats: return repeats.location
        case .module: return module.location
        }
    }
}
