import ArgumentParser
import Foundation
import ModelLoading
import Dispatch
import ModelGraph
import Tensor

/// Options the commands that execute a model share (`run`, `bench`): weights, threads, path.
struct ExecutionOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Weights: a safetensors state dict (PyTorch key names) or a .pt checkpoint (default: the model's own when it is a .pt).", valueName: "file"))
    var weights: String?

    @OptionGroup var threading: ThreadsOption

    @Flag(help: "Load what fits from the weights (--weights or the .pt model) into the config, initialise the rest, and report row by row what was and was not transferred, with the reason (default: strict).")
    var partial = false

    @Flag(help: "Run the reference path: no BatchNorm folding or RepConv re-parameterisation.")
    var unfused = false

    @Option(name: .customLong("max-memory"), help: ArgumentHelp("Refuse to run when the memory estimate exceeds this many GB (docs/memory.md; default: this machine's RAM).", valueName: "GB"))
    var maxMemory: Double?

    func validate() throws {
        if let maxMemory, !(maxMemory.isFinite && maxMemory > 0 && maxMemory <= 1e6) {
            throw ValidationError("--max-memory must be a number of GB above 0 (at most 1000000), found \(maxMemory)")
        }
    }

    /// Refuses a run past --max-memory (default: the machine's RAM): `Model.checkMemory`.
    func checkMemory(for model: Model) throws {
        try reporting { () throws(ModelLoadError) in try model.checkMemory(limit: maxMemory.map { $0 * 1e9 }, limitName: "--max-memory") }
    }

    /// Sets the kernels' thread count (--threads, else the default).
    func configureThreads() {
        threading.configure()
    }

    /// The inference plan over --weights (checked strictly) or a seeded initialisation; a bad
    /// weights file prints its error and exits 1.
    func plan(for model: Model, seed: UInt64) throws -> InferencePlan {
        try checkMemory(for: model)
        // the commands make their tensors on the main thread
        if Thread.isMainThread { Allocator.keepLargeBlocksInHeap() }
        return model.plan(try loadWeights(for: model, seed: seed), fuse: !unfused)
    }

    /// Where the weights come from, for the report line.
    func weightsDescription(for model: Model, seed: UInt64) -> String {
        model.weightsDescription(WeightsRequest(file: weights, partial: partial, seed: seed))
    }

    /// The weights --weights and --partial ask for (`Model.weights`), their notes and any
    /// transfer report printed on stderr.
    func loadWeights(for model: Model, seed: UInt64) throws -> LoadedWeights {
        let loaded = try reporting { () throws(ModelLoadError) in try model.weights(WeightsRequest(file: weights, partial: partial, seed: seed)) }
        for note in loaded.notes { printError(note) }
        if let (report, file) = loaded.transfer { printTransferReport(report, file: file, graph: model.graph) }
        return loaded
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

/// A seeded uniform [0, 1) image.
func randomImage(shape: [Int], seed: UInt64) -> Tensor {
    var generator = SplitMix64(seed: seed ^ 0x1234_5678)
    return Tensor(shape: shape, storage: (0..<Tensor.count(of: shape)).map { _ in Float.random(in: 0..<1, using: &generator) })
}

func milliseconds(_ start: DispatchTime, _ end: DispatchTime) -> Double {
    Double(end.uptimeNanoseconds - start.uptimeNanoseconds) / 1e6
}
