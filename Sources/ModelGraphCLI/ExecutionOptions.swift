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

    private func loadWeights(for graph: ModelGraph, checkpoint: UltralyticsCheckpoint?, seed: UInt64) throws -> [String: Tensor] {
        guard let weights else {
            if let checkpoint { return try Checkpoints.weights(checkpoint, for: graph) }
            return Weights.initialized(for: graph, seed: seed)
        }
        if Checkpoints.isCheckpoint(weights) { return try Checkpoints.weights(Checkpoints.read(weights), for: graph) }
        do {
            return try Weights.checked(SafeTensors.read(file: weights), for: graph, file: weights)
        } catch let error as SafeTensorsError {
            printError(error.description)
            throw ExitCode(1)
        } catch let error as WeightsError {
            printError(error.description)
            throw ExitCode(1)
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
