import ArgumentParser
import Foundation
import Checkpoint
import Dispatch
import ModelGraph
import Tensor

extension InferencePlan.Executor: ExpressibleByArgument {}

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

    @Option(help: ArgumentHelp("How a fused plan runs: program (the traced program's planned kernels; the block walk for a model that does not trace) or blocks (the block walk).", valueName: "executor"))
    var executor: InferencePlan.Executor = .program

    @Option(name: .customLong("max-memory"), help: ArgumentHelp("Refuse to run when the memory estimate (see the README) exceeds this many GB (default: this machine's RAM).", valueName: "GB"))
    var maxMemory: Double?

    func validate() throws {
        if let threads, !(1...256).contains(threads) {
            throw ValidationError("--threads must be from 1 to 256, found \(threads)")
        }
        if let maxMemory, !(maxMemory.isFinite && maxMemory > 0 && maxMemory <= 1e6) {
            throw ValidationError("--max-memory must be a number of GB above 0 (at most 1000000), found \(maxMemory)")
        }
    }

    /// What running `graph` needs, estimated before anything is allocated: a loaded plan holds up
    /// to 4× its float32 weights (the fused blocks, Winograd's transformed 3×3 kernels, oneDNN's
    /// copies: 2.4–3.9× measured), and the forward passes up to 1.5× the activation peak (kernel
    /// scratch and layout copies on top of the feature maps: the estimate was 61–85 % of the
    /// heap's measured peak). A run past --max-memory (default: the machine's RAM) prints the
    /// estimate and exits 1, instead of dying in the allocator.
    func checkMemory(for graph: ModelGraph) throws {
        guard let activations = graph.peakActivationBytes else { return }
        let weights = graph.weightBytes(bytesPerElement: 4)
        let needed = 4 * weights + 1.5 * activations
        let limit = maxMemory.map { $0 * 1e9 } ?? physicalMemoryBytes()
        guard needed > limit else { return }
        let gigabytes = { (bytes: Double) in bytes < 1e9 ? String(format: "%.1f MB", bytes / 1e6) : String(format: "%.1f GB", bytes / 1e9) }
        let shape = graph.inputShape
        printError("\(graph.spec.file): error: running it at batch \(shape[0]), \(shape[2])×\(shape[3]) needs about \(gigabytes(needed)) "
                   + "(weights \(gigabytes(weights)), up to 4× that in a loaded plan; feature maps \(gigabytes(activations)) at their peak, up to 1.5× that with kernel buffers), "
                   + "more than \(maxMemory == nil ? "this machine's \(gigabytes(limit)) of RAM" : "--max-memory \(gigabytes(limit))"); lower --imgsz or --batch, or raise --max-memory")
        throw ExitCode(1)
    }

    /// Sets the kernels' thread count (--threads, else the default).
    func configureThreads() {
        Threads.set(threads ?? Threads.defaultCount)
    }

    /// The inference plan over --weights (checked strictly) or a seeded initialisation; a bad
    /// weights file prints its error and exits 1.
    func plan(for graph: ModelGraph, checkpoint: UltralyticsCheckpoint?, seed: UInt64) throws -> InferencePlan {
        try checkMemory(for: graph)
        // the commands make their tensors on the main thread
        if Thread.isMainThread { Allocator.keepLargeBlocksInHeap() }
        return InferencePlan(graph: graph, weights: try loadWeights(for: graph, checkpoint: checkpoint, seed: seed), fuse: !unfused, executor: executor)
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
        if let root = try forkRoot() {
            printError("\(config): error: this YAML lies in the fork \(root.path), whose own code defines its modules; fork mode builds "
                       + "and summarises it (summary, check), and runs of fork models come later. `--source builtin` runs it with "
                       + "ModelGraph's own modules if it uses only those.")
            throw ExitCode(1)
        }
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

/// The machine's physical memory in bytes (sysconf), or infinity when it cannot be read.
func physicalMemoryBytes() -> Double {
    let pages = sysconf(Int32(_SC_PHYS_PAGES)), size = sysconf(Int32(_SC_PAGESIZE))
    return pages > 0 && size > 0 ? Double(pages) * Double(size) : .infinity
}
