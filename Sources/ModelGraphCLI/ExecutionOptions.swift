import ArgumentParser
import Checkpoint
import Dispatch
import ModelGraph
import Tensor

/// Options the commands that execute a model share (`run`, `bench`): weights, threads, path.
struct ExecutionOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Weights: a safetensors state dict (PyTorch key names) or a .pt checkpoint (default: the model's own when it is a .pt).", valueName: "file"))
    var weights: String?

    @Option(help: "Threads for the kernels (default: OMP_NUM_THREADS or all cores).")
    var threads: Int?

    @Flag(help: "Load what fits from the weights (--weights or the .pt model) into the config, initialise the rest, and report row by row what was and was not transferred, with the reason (default: strict).")
    var partial = false

    @Flag(help: "Run the reference path: no BatchNorm folding or RepConv re-parameterisation.")
    var unfused = false

    func validate() throws {
        if let threads, !(1...256).contains(threads) {
            throw ValidationError("--threads must be from 1 to 256, found \(threads)")
        }
    }

    /// Sets the kernels' thread count (--threads, else the default).
    func configureThreads() {
        Threads.set(threads ?? Threads.defaultCount)
    }

    /// The inference plan over --weights (checked strictly) or a seeded initialisation; a bad
    /// weights file prints its error and exits 1.
    func plan(for graph: ModelGraph, checkpoint: UltralyticsCheckpoint?, seed: UInt64) throws -> InferencePlan {
        InferencePlan(graph: graph, weights: try loadWeights(for: graph, checkpoint: checkpoint, seed: seed), fuse: !unfused)
    }

    /// Where the weights come from, for the report line.
    func weightsDescription(checkpoint: UltralyticsCheckpoint?, seed: UInt64) -> String {
        weights ?? checkpoint.map { "\($0.file) (\($0.source))" } ?? "initialised (seed \(seed))"
    }

    func loadWeights(for graph: ModelGraph, checkpoint: UltralyticsCheckpoint?, seed: UInt64) throws -> [String: Tensor] {
        if weights == nil && checkpoint == nil {
            if partial { printError("note: --partial without --weights or a .pt model: every tensor is initialised (seed \(seed))") }
            return Weights.initialized(for: graph, seed: seed)
        }
        let source = try weights.map { Checkpoints.isCheckpoint($0) ? try Checkpoints.read($0) : nil } ?? checkpoint
        if partial {
            let file = source?.file ?? weights!
            let tensors = try source.map(Checkpoints.floatTensors) ?? readSafeTensors(file)
            let (loaded, report) = Weights.partial(tensors, for: graph, seed: seed)
            printTransferReport(report, file: file, graph: graph)
            var adjusted = loaded
            if let source { _ = Weights.adjustNormEpsilons(&adjusted, wanted: source.normEpsilons, graph: graph) }
            return adjusted
        }
        if let source { return try Checkpoints.weights(source, for: graph) }
        let file = weights!
        do {
            return try Weights.checked(readSafeTensors(file), for: graph, file: file)
        } catch let error as WeightsError {
            printError(error.description)
            throw ExitCode(1)
        }
    }

    private func readSafeTensors(_ file: String) throws -> [String: Tensor] {
        do {
            return try SafeTensors.read(file: file)
        } catch {
            printError(error.description)
            throw ExitCode(1)
        }
    }

    /// Row by row: what --partial transferred, and for the rest why not (on stderr).
    private func printTransferReport(_ report: TransferReport, file: String, graph: ModelGraph) {
        printError("transferred \(report.transferred)/\(report.declared) tensors from \(file) into \(graph.spec.file):")
        for layer in report.layers where layer.declared > 0 {
            let status = layer.transferred == layer.declared ? "all" : "\(layer.transferred)/\(layer.declared)"
            printError("  layer \(layer.index) (\(layer.module), line \(layer.line)): \(status) transferred")
            for problem in layer.problems.prefix(8) { printError("    \(problem)") }
            if layer.problems.count > 8 { printError("    … and \(layer.problems.count - 8) more") }
        }
        if !report.unused.isEmpty {
            printError("  \(report.unused.count) tensor\(report.unused.count == 1 ? "" : "s") of the file not in the config: "
                       + report.unused.prefix(8).joined(separator: ", ") + (report.unused.count > 8 ? ", …" : ""))
        }
    }
}

extension ModelOptions {
    /// Builds the model and prints its diagnostics; with errors, exits 1 (nothing can run).
    func loadRunnableGraph() throws -> ModelGraph { try loadRunnableModel().graph }

    func loadRunnableModel() throws -> (graph: ModelGraph, checkpoint: UltralyticsCheckpoint?) {
        let (graph, checkpoint) = try loadModel()
        for diagnostic in graph.diagnostics { printError(diagnostic.description) }
        guard graph.errors.isEmpty else {
            printError("\(config): \(graph.errors.count) error\(graph.errors.count == 1 ? "" : "s"); nothing was run")
            throw ExitCode(1)
        }
        return (graph, checkpoint)
    }
}

/// A seeded uniform [0, 1) image.
func randomImage(shape: [Int], seed: UInt64) -> Tensor {
    var generator = SplitMix64(seed: seed ^ 0x1234_5678)
    return Tensor(shape: shape, storage: (0..<Tensor.count(of: shape)).map { _ in Float.random(in: 0..<1, using: &generator) })
}

func milliseconds(_ start: DispatchTime, _ end: DispatchTime) -> Double {
    Double(end.uptimeNanoseconds - start.uptimeNanoseconds) / 1e6
}
