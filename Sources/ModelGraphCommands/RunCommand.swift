import ArgumentParser
import ForkMode
import Foundation
import ModelGraph
import ModelLoading
import Tensor

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a forward pass on the CPU: print each output's shape and statistics, and the wall time.",
        discussion: """
            Weights come from --weights (a safetensors state dict with PyTorch key names, checked strictly) or, \
            without it, from a seeded PyTorch-style initialisation. The input is --input's tensor `images` (or its \
            only tensor), whose shape then sets the batch and size, and for YOLO-World the class text embeddings `txt_feats`; otherwise a seeded uniform [0, 1) image of \
            --imgsz and --batch. --output writes the final output as the tensor `output` (and a head's further results by name, e.g. Segment's `proto`), atomically.
            Exit status: 0 ok, 1 a bad model, weights or input file, 2 usage error.
            """)

    @OptionGroup var model: ModelOptions
    @OptionGroup var execution: ExecutionOptions

    @Option(help: ArgumentHelp("Input: a safetensors file with the tensor `images` [N, C, H, W] (or one tensor).", valueName: "file"))
    var input: String?

    @Option(help: ArgumentHelp("Write the final output here as the tensor `output` (plus `proto` for Segment heads).", valueName: "file"))
    var output: String?

    @Option(help: "Seed for the initialisation (without --weights) and the random input (without --input).")
    var seed: UInt64 = 0

    func run() throws {
        execution.configureThreads()
        let started = DispatchTime.now()
        var options = model
        var image: Tensor?
        var text: Tensor?
        if let input {
            let tensors = try readInput(input)
            options.imgsz = ImageSize(height: tensors.images.shape[2], width: tensors.images.shape[3])
            options.batch = tensors.images.shape[0]
            image = tensors.images
            text = tensors.text
        }
        if let root = try options.forkRoot() {
            try runFork(options, root: root, image: image, started: started)
            return
        }
        let loaded = try options.loadRunnableModel()
        let graph = loaded.graph
        if let given = image, given.shape[1] != graph.inputShape[1] {
            printError("\(input!): error: tensor has \(given.shape[1]) channels, \(model.config) takes \(graph.inputShape[1]) (ch)")
            throw ExitCode(1)
        }
        if let shape = graph.textShape, graph.requiresText, text == nil {
            // a YOLO-World model holds no text encoder: its class embeddings come with the input
            printError("\(model.config): error: this open-vocabulary model reads class text embeddings \(describeShape(shape)); give them as the tensor `txt_feats` in the --input file, next to `images`")
            throw ExitCode(1)
        }
        let plan = try execution.plan(for: loaded, seed: seed)
        let x = image ?? randomImage(shape: graph.inputShape, seed: seed)
        let prepared = DispatchTime.now()

        let showProgress = isatty(STDERR_FILENO) != 0
        let result: ForwardResult
        do {
            result = try plan.forward(x, text: text) { layer, position in
                guard showProgress else { return }
                FileHandle.standardError.write(Data("\r\u{1B}[Klayer \(position + 1)/\(graph.layers.count) \(layer.moduleName)".utf8))
            }
        } catch {
            if showProgress { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
            for diagnostic in error.diagnostics { printError(diagnostic.description) }
            throw ExitCode(1)
        }
        let finished = DispatchTime.now()
        if showProgress { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }

        print("input \(describeShape(x.shape))\(input.map { " from \($0)" } ?? " (random, seed \(seed))"), "
               + "weights \(execution.weightsDescription(for: loaded, seed: seed)), \(Threads.count) thread\(Threads.count == 1 ? "" : "s")")
        let names = resultNames(graph, count: result.outputs.count)
        printStatistics(names, result.outputs)
        print(String(format: "forward %.1f ms (build and load %.1f ms)", milliseconds(prepared, finished), milliseconds(started, prepared)))
        try writeOutputs(names, result.outputs)
    }

    /// Each output's shape, minimum, maximum and mean.
    func printStatistics(_ names: [String], _ outputs: [Tensor]) {
        for (name, tensor) in zip(names, outputs) {
            let values = tensor.storage
            let mean = values.isEmpty ? 0 : values.reduce(0.0) { $0 + Double($1) } / Double(values.count)
            print("\(name) \(describeShape(tensor.shape))  min \(format(values.min() ?? 0))  max \(format(values.max() ?? 0))  mean \(format(Float(mean)))")
        }
    }

    /// --output: the outputs by name, written atomically.
    func writeOutputs(_ names: [String], _ outputs: [Tensor]) throws {
        guard let output, !outputs.isEmpty else { return }
        do {
            try SafeTensors.write(Dictionary(uniqueKeysWithValues: zip(names, outputs)), to: output)
        } catch {
            printError(error.description)
            throw ExitCode(1)
        }
        print("wrote \(output)")
    }

    /// Fork mode: the fork's own code builds the model, fork mode's torch traces its forward
    /// into a program, and the planner's kernels run it (the reference kernels with --unfused).
    func runFork(_ options: ModelOptions, root: URL, image: Tensor?, started: DispatchTime) throws {
        var request = options.request
        if let image { request.imageHeight = image.shape[2]; request.imageWidth = image.shape[3]; request.batch = image.shape[0] }
        let loaded = try reporting { () throws(ModelLoadError) in
            try Model.loadForkRunnable(request, root: root, weights: execution.weights, seed: seed)
        }
        let input = loaded.inputShape
        if let image, image.shape != input {
            printError("\(self.input!): error: tensor is \(describeShape(image.shape)), \(model.config) takes \(describeShape(input)) (ch)")
            throw ExitCode(1)
        }
        let x = image ?? randomImage(shape: input, seed: seed)
        let planned = execution.unfused ? nil : PlannedProgram(loaded.program)
        let prepared = DispatchTime.now()
        let outputs = planned.map { $0.run(x).outputs } ?? loaded.program.run(x)
        let finished = DispatchTime.now()
        print(loaded.summary.forkLine)
        print("input \(describeShape(x.shape))\(self.input.map { " from \($0)" } ?? " (random, seed \(seed))"), "
               + "weights \(loaded.weightsDescription), \(Threads.count) thread\(Threads.count == 1 ? "" : "s"), "
               + "\(loaded.program.instructions.count) program operations")
        for note in loaded.notes { printError(note) }
        if !loaded.unusedWeights.isEmpty {
            printError("note: \(loaded.unusedWeights.count) tensor\(loaded.unusedWeights.count == 1 ? "" : "s") of \(execution.weights ?? "") the forward does not read: "
                       + loaded.unusedWeights.prefix(6).joined(separator: ", ") + (loaded.unusedWeights.count > 6 ? ", …" : ""))
        }
        printStatistics(loaded.outputNames, outputs)
        print(String(format: "forward %.1f ms (build, trace and load %.1f ms)", milliseconds(prepared, finished), milliseconds(started, prepared)))
        try writeOutputs(loaded.outputNames, outputs)
    }

    /// Names of the last row's results: the head's own (Segment: `output`, `proto`), else `output`
    /// (or `output.N` for a module with several outputs).
    func resultNames(_ graph: ModelGraph, count: Int) -> [String] {
        if let names = graph.layers.last?.module.resultNames, names.count == count { return names }
        return count == 1 ? ["output"] : (0..<count).map { "output.\($0)" }
    }

    /// The tensor `images` (or the file's only tensor), which must be [N, C, H, W], and
    /// `txt_feats` when the file has it (an open-vocabulary model's class embeddings).
    func readInput(_ path: String) throws -> (images: Tensor, text: Tensor?) {
        let tensors: [String: Tensor]
        do {
            tensors = try SafeTensors.read(file: path)
        } catch {
            printError(error.description)
            throw ExitCode(1)
        }
        let text = tensors["txt_feats"]
        guard let tensor = tensors["images"] ?? (tensors.count == 1 ? tensors.first?.value : nil) else {
            let names = tensors.keys.sorted().joined(separator: ", ")
            printError("\(path): error: expected a tensor named 'images' (or a single tensor), found \(tensors.isEmpty ? "none" : names)")
            throw ExitCode(1)
        }
        guard tensor.rank == 4, tensor.shape.allSatisfy({ $0 >= 1 }) else {
            printError("\(path): error: the input must be [batch, channels, height, width], found \(describeShape(tensor.shape))")
            throw ExitCode(1)
        }
        if let text, text.rank != 3 {
            printError("\(path): error: txt_feats must be [1 or batch, classes, width], found \(describeShape(text.shape))")
            throw ExitCode(1)
        }
        return (tensor, text)
    }
}

private func format(_ value: Float) -> String { String(format: "%.5g", value) }
