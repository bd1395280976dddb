import ModelSpec
import Tensor
import YAMLFrontEnd

/// The result of a forward pass: the last layer's outputs and, when asked for, every index's.
public struct ForwardResult: Sendable {
    public var outputs: [Tensor]
    /// Every layer index's output (only with `keepAll`).
    public var layerOutputs: [Int: Tensor]
}

/// A model with its weights loaded into its blocks, ready to run: by default fused as
/// Ultralytics' `fuse()` does (every block that knows how: BatchNorm folded into the conv before
/// it, RepConv branches merged), traced into a program and planned (`PlannedProgram`: fusions,
/// layouts and every convolution's kernel chosen once, by instruction). `fuse: false` keeps the
/// reference path the tests compare against: the unfused program on the reference kernels.
public struct InferencePlan: Sendable {
    public let graph: ModelGraph
    public let isFused: Bool
    /// Each row's chained copies with their tensors.
    let instances: [[any LayerModule]]
    /// The traced forward, planned (nil on the reference path, or for a model that does not
    /// trace). A YOLOE model's is traced without prompts.
    public let planned: PlannedProgram?
    /// The reference path's traced forward (unfused), run by `Program.run`'s reference kernels.
    public let reference: Program?
    /// A YOLOE model's forward traced with text prompts as its second input (planned, or the
    /// reference's), for a forward given them.
    private let prompted: ProgramRunner?

    /// Why the model could not be traced (a shape error the graph reports, or a recording
    /// check), nil when it was.
    private let traceFailure: DiagnosticList?

    /// `weights` must have passed `Weights.checked` for this graph.
    public init(graph: ModelGraph, weights: [String: Tensor], fuse: Bool = true) {
        self.graph = graph
        isFused = fuse
        instances = graph.layers.map { layer in
            zip(layer.instances, layer.instancePrefixes).map { instance, prefix in
                var loaded = instance
                loaded.load(weights, prefix: prefix)
                return fuse ? loaded.fused() : loaded
            }
        }
        // a model that may be given text prompts (YOLOE) has a second program that reads them
        let prompts = graph.textShape != nil && !graph.requiresText
        let traced: Program
        do {
            traced = try Self.trace(graph: graph, instances: instances)
            traceFailure = nil
        } catch {
            (planned, reference, prompted, traceFailure) = (nil, nil, nil, error)
            return
        }
        let second = prompts ? try? Self.trace(graph: graph, instances: instances, prompts: true) : nil
        if fuse {
            reference = nil
            planned = PlannedProgram(traced)
            prompted = second.map { .planned(PlannedProgram($0)) }
        } else {
            // the reference path: the unfused program on the reference kernels
            planned = nil
            reference = traced
            prompted = second.map { .reference($0) }
        }
    }

    /// Bytes of the kernels' shared scratch (blocked layouts, Winograd tiles), allocated with the plan.
    public var scratchBytes: Int { planned?.scratchBytes ?? 0 }

    /// Runs the model on `input` (the shape the graph was built for). `keepAll` keeps every
    /// index's output (for parity tests); otherwise each is released after its last use.
    /// `progress` is called after each row with its position.
    /// `text`: the class text embeddings of an open-vocabulary model ([1 or N, classes, 512];
    /// see `ModelGraph.textShape`), which such a model needs.
    public func forward(_ input: Tensor, text: Tensor? = nil, keepAll: Bool = false,
                        progress: ((ResolvedLayer, Int) -> Void)? = nil) throws(DiagnosticList) -> ForwardResult {
        guard graph.errors.isEmpty else { throw DiagnosticList(graph.errors) }
        func failure(_ message: String) -> DiagnosticList { DiagnosticList([Diagnostic(file: graph.spec.file, location: nil, message: message)]) }
        guard input.shape == graph.inputShape else {
            throw failure("the input has shape \(describeShape(input.shape)), the model was built for \(describeShape(graph.inputShape))")
        }
        if let traceFailure { throw traceFailure }
        let program: ProgramRunner = planned.map { .planned($0) } ?? .reference(reference!)
        // no text embeddings given (YOLOE then takes its heads' default ones)
        guard let expected = graph.textShape, let text else {
            if graph.requiresText, let expected = graph.textShape {
                throw failure("the model reads class text embeddings \(describeShape(expected)) (txt_feats), and none were given")
            }
            return run(program, input, text: nil, keepAll: keepAll, progress: progress)
        }
        let batch = input.shape[0]
        guard text.rank == 3, text.shape[0] == 1 || text.shape[0] == batch, text.shape[1] == expected[1], text.shape[2] == expected[2] else {
            throw failure("the text embeddings have shape \(describeShape(text.shape)); the model takes [1 or \(batch), \(expected[1]), \(expected[2])] (nc classes, \(expected[2]) wide)")
        }
        // WorldModel.predict expands one set of embeddings over the batch
        let expanded = text.shape[0] == batch ? text : Tensor.concatenate(Array(repeating: text, count: batch), axis: 0)
        guard let reader = graph.requiresText ? program : prompted, reader.readsText else {
            throw failure("the model could not be traced with text prompts as its second input")
        }
        return run(reader, input, text: expanded, keepAll: keepAll, progress: progress)
    }

    /// What runs a traced forward: the planned program, or the reference kernels.
    private enum ProgramRunner {
        case planned(PlannedProgram)
        case reference(Program)

        var readsText: Bool {
            switch self {
            case .planned(let planned): return planned.readsText
            case .reference(let program): return program.readsText
            }
        }
    }

    /// The program's run, rows reported in order (a row that records no instruction, an
    /// identity, reports with the next).
    private func run(_ program: ProgramRunner, _ input: Tensor, text: Tensor?, keepAll: Bool,
                     progress: ((ResolvedLayer, Int) -> Void)?) -> ForwardResult {
        let layers = graph.layers
        let keeping = keepAll ? Set(layers.flatMap { layer in layer.outputChannels.indices.map { layer.index + $0 } }) : []
        var next = 0
        let report = { (index: Int) in
            while next < layers.count, layers[next].index <= index {
                progress?(layers[next], next)
                next += 1
            }
        }
        let result: (outputs: [Tensor], kept: [Int: Tensor])
        switch program {
        case .planned(let planned): result = planned.run(input, text: text, keeping: keeping, progress: progress == nil ? nil : report)
        case .reference(let reference): result = reference.run(input, text: text, keeping: keeping, progress: progress == nil ? nil : report)
        }
        report(Int.max)
        return ForwardResult(outputs: result.outputs, layerOutputs: result.kept)
    }
}

extension ModelGraph {
    /// Runs the model on the reference path (no fusion, plain kernels) with checked `weights`.
    public func forward(_ input: Tensor, text: Tensor? = nil, weights: [String: Tensor], keepAll: Bool = false,
                        progress: ((ResolvedLayer, Int) -> Void)? = nil) throws(DiagnosticList) -> ForwardResult {
        try InferencePlan(graph: self, weights: weights, fuse: false).forward(input, text: text, keepAll: keepAll, progress: progress)
    }

    /// The class text embeddings an open-vocabulary model reads, [1, nc, 512] (Ultralytics'
    /// `WorldModel.txt_feats`; YOLOE's text prompts are `embed` wide); nil for other models.
    public var textShape: [Int]? {
        guard let reader = layers.last(where: { type(of: $0.module).readsText || type(of: $0.module).readsPrompts }) else { return nil }
        return [1, spec.classCount?.value ?? 80, reader.module.textWidth]
    }

    /// Whether a forward needs the text embeddings (YOLO-World; YOLOE falls back to zeros).
    public var requiresText: Bool { layers.contains { type(of: $0.module).readsText } }
}

extension InferencePlan {
    /// The forward pass as a program at the graph's input shape: the rows walked over symbolic
    /// features, every operation recorded with its row and block.
    public func trace() throws(DiagnosticList) -> Program {
        try Self.trace(graph: graph, instances: instances)
    }

    /// `prompts`: a model that may be given text prompts (YOLOE) reads them as the program's
    /// second input; without, it is traced with the heads' default (zero) embeddings.
    /// `weightless`: weights recorded as placeholders (a program for the counting and memory passes, never run).
    static func trace(graph: ModelGraph, instances: [[any LayerModule]], prompts: Bool = false, weightless: Bool = false) throws(DiagnosticList) -> Program {
        guard graph.errors.isEmpty else { throw DiagnosticList(graph.errors) }
        func failure(_ message: String, _ layer: ResolvedLayer?) -> DiagnosticList {
            DiagnosticList([Diagnostic(file: graph.spec.file, location: layer.map { $0.row.location(of: .row) } ?? nil,
                                       layerIndex: layer?.index, module: layer?.moduleName, message: message)])
        }
        let recorder = ProgramRecorder(weightless: weightless)
        var values: [Int: Feature] = [-1: recorder.feature(.input, [], shape: graph.inputShape)]
        var outputs: [Feature] = []
        var layerOutputs: [Int: Int] = [:]
        let pass = Pass()
        if graph.requiresText || prompts, let shape = graph.textShape {
            // YOLO-World's class embeddings: the program's second input, one set per image
            pass.text = recorder.feature(.textEmbeddings, [], shape: [graph.inputShape[0], shape[1], shape[2]])
            pass.guide = pass.text
        }
        for (position, layer) in graph.layers.enumerated() {
            recorder.origin = ProgramOrigin(layerIndex: layer.index, module: layer.moduleName, path: "model.\(layer.index)")
            var current = layer.from.map { values[$0]! }
            do {
                for instance in instances[position] { current = try instance(current, pass) }
            } catch {
                throw failure(error.message, layer)
            }
            precondition(current.allSatisfy { $0.symbol != nil }, "layer \(layer.index) returned a feature it did not trace")
            for (offset, feature) in current.prefix(layer.outputChannels.count).enumerated() {
                values[layer.index + offset] = feature
                layerOutputs[layer.index + offset] = feature.symbol!.id
            }
            outputs = current
        }
        return recorder.program(outputs: outputs.map { ProgramValue(id: $0.symbol!.id, shape: $0.shape) }, layerOutputs: layerOutputs)
    }
}
