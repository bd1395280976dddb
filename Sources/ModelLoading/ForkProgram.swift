import Checkpoint
import ForkMode
import Foundation
import ModelGraph
import Tensor

/// A fork model ready to run: the fork's own code built it and its forward, traced by fork
/// mode's torch, is a program whose weights are bound — what `run`, `bench` and `export`
/// execute in fork mode, on the same planner and kernels as built-in models.
public struct ForkRunnable: Sendable {
    public let summary: ForkSummary
    /// The forward with its named constants bound to the weights.
    public let program: Program
    /// The program's outputs' names (`output`, `output.0`, …: the fork oracle's flattening).
    public let outputNames: [String]
    /// Where the weights came from, for the report line.
    public let weightsDescription: String
    /// Tensors of the weights file the forward does not read (unused branches, buffers).
    public let unusedWeights: [String]
    /// `note:` lines for stderr: ops the program runs otherwise than PyTorch would (see
    /// `ForkSummary.departures`), located in the YAML and the fork's source.
    public var notes: [String] {
        summary.departures.map { departure in
            var text = departure
            text.row = nil
            return "\(departure.row.map { $0 + ": " } ?? "")note: \(text.description)"
        }
    }

    /// The input image's shape [B, C, H, W] the program was traced at.
    public var inputShape: [Int] {
        program.instructions.first { if case .input = $0.op { return true } else { return false } }?.outputs[0].shape ?? summary.input
    }
}

extension Model {
    /// Builds `request`'s YAML with the fork's code at `root`, traces its forward into a program
    /// and binds its weights: from `weights` (a safetensors state dict with the fork's key
    /// names, every tensor the forward reads present with its shape) or a seeded initialisation.
    /// A fork checkpoint (`.pt` pickled by the fork's training) is built from the YAML inside it
    /// and runs on its own weights (or --weights), each BatchNorm's eps as pickled.
    public static func loadForkRunnable(_ request: ModelRequest, root: URL, weights: String?, seed: UInt64) throws(ModelLoadError) -> ForkRunnable {
        var checkpoint: UltralyticsCheckpoint?
        var text: String?
        var scale = request.scale
        if Checkpoints.isCheckpoint(request.path) {
            let read = try Checkpoints.read(request.path)
            let yaml = try Checkpoints.modelYAML(read)
            checkpoint = read
            text = yaml.text
            scale = scale ?? yaml.scale.flatMap { $0.isEmpty ? nil : $0 }  // yaml_model_load writes "" when the name has no scale
        }
        let options = ForkBuildOptions(scale: scale, imageHeight: request.imageHeight, imageWidth: request.imageWidth,
                                       shapes: true, flops: false, trace: true)
        let summary = try buildFork(yamlPath: request.path, root: root, options: options, batch: request.batch, text: text)
        if let failure = summary.forwardError { throw ModelLoadError(failure.description) }
        guard let program = summary.program else {
            let failure = summary.traceFailure
            guard let first = failure?.untraced.first else {
                throw ModelLoadError("\(request.path): error: fork mode cannot run this model yet: \(failure?.message ?? "its forward was not traced")")
            }
            // the first op located in the YAML and the fork's source; the others after it
            var head = first
            head.row = nil
            let others = failure!.untraced.dropFirst().map { "  also " + $0.description }
            throw ModelLoadError(([
                "\(first.row ?? request.path): error: fork mode cannot run this model yet: \(head.description)"
                    + (others.isEmpty ? "" : " (and \(others.count) more op\(others.count == 1 ? "" : "s") below)"),
            ] + others).joined(separator: "\n"))
        }
        // the weights: --weights, else a checkpoint's own (with its pickled eps), else seeded
        let constants = program.namedConstants
        let values: [String: Tensor], description: String
        var epsilons: [String: Double] = [:]
        var unused: [String] = []
        if let source = weights ?? checkpoint?.file {
            if let weights {
                do { values = try SafeTensors.read(file: weights) } catch { throw ModelLoadError(error.description) }
                description = weights
            } else {
                values = Checkpoints.floatTensors(checkpoint!)
                epsilons = checkpoint!.normEpsilons
                description = "\(checkpoint!.file) (\(checkpoint!.source))"
            }
            try checkFit(constants, values, source: source, model: request.path)
            let read = Set(constants.map(\.name))
            unused = values.keys.filter { !read.contains($0) }.sorted()
        } else {
            var generator = SplitMix64(seed: seed)
            var seeded: [String: Tensor] = [:]
            for (name, shape) in constants { seeded[name] = initialValue(name: name, shape: shape, &generator) }
            values = seeded
            description = "seeded initialisation (seed \(seed))"
        }
        return ForkRunnable(summary: summary, program: program.binding { values[$0] }.replacingBatchNormEpsilons(epsilons).foldingConstants(),
                            outputNames: summary.outputNames, weightsDescription: description, unusedWeights: unused)
    }

    /// Every tensor the forward reads is in `file` with its shape, or a located error naming each problem.
    static func checkFit(_ constants: [(name: String, shape: [Int])], _ file: [String: Tensor], source: String, model: String) throws(ModelLoadError) {
        var problems: [String] = []
        for (name, shape) in constants {
            guard let tensor = file[name] else { problems.append("\(name) \(describeShape(shape)) is missing"); continue }
            if tensor.shape != shape { problems.append("\(name): the model reads \(describeShape(shape)), the file has \(describeShape(tensor.shape))") }
        }
        guard problems.isEmpty else {
            throw ModelLoadError("\(source): error: the weights do not fit \(model) as the fork builds it (\(problems.count) problem\(problems.count == 1 ? "" : "s")):\n"
                                 + problems.prefix(12).map { "  " + $0 }.joined(separator: "\n") + (problems.count > 12 ? "\n  …" : ""))
        }
    }

    /// PyTorch's defaults by role, seeded: BatchNorm statistics 0 and 1, norm weights 1 and
    /// biases 0, other weights uniform in ±1/√fan-in (kaiming_uniform with a = √5).
    static func initialValue(name: String, shape: [Int], _ generator: inout SplitMix64) -> Tensor {
        if name.hasSuffix("running_mean") { return Tensor(shape: shape) }
        if name.hasSuffix("running_var") { return Tensor(shape: shape, repeating: 1) }
        if shape.count <= 1 { return Tensor(shape: shape, repeating: name.hasSuffix("weight") ? 1 : 0) }
        let fanIn = shape.dropFirst().reduce(1, *)
        let bound = 1 / Float(max(fanIn, 1)).squareRoot()
        return Tensor(shape: shape) { values in
            for i in values.indices { values[i] = Float.random(in: -bound..<bound, using: &generator) }
        }
    }
}
