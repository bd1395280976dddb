import ArgumentParser
import Foundation
import ModelGraph
import ModelLoading
import ONNXExport

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write the model as an ONNX file: its forward pass traced into standard ONNX operators, weights included.",
        discussion: """
            The forward pass is traced at --imgsz and --batch into ModelGraph's program of typed operations and \
            written with the default ONNX domain's operators only (opset --opset, default 17), BatchNorm folded \
            as Ultralytics' export folds it (--unfused keeps it). The input is `images`, the outputs `output0`, \
            `output1`, … as Ultralytics names them; --dynamic leaves the batch axis symbolic. Weights as for `run` \
            (--weights, a .pt model's own, or a seeded initialisation). The file is written atomically. A module \
            whose forward is not yet written as program operations ends the export with its layer named. \
            Exit status: 0 ok, 1 a bad model or weights file or a module that cannot be traced yet, 2 usage error.
            """)

    @OptionGroup var model: ModelOptions
    @OptionGroup var execution: ExecutionOptions

    @Option(name: [.customShort("o"), .long], help: ArgumentHelp("The ONNX file (default: the model's name with .onnx, here).", valueName: "file"))
    var output: String?

    @Option(help: "ONNX opset (13–21).")
    var opset: Int = 17

    @Flag(help: "A symbolic batch axis (`batch`) on the input and outputs.")
    var dynamic = false

    @Option(help: "Seed for the initialisation (without --weights).")
    var seed: UInt64 = 0

    @Flag(help: "Print the traced program instead (one line per operation: its values' shapes, operands, attributes, block path and row) and write no file.")
    var program = false

    func validate() throws {
        guard ONNXExport.supportedOpsets.contains(opset) else {
            throw ValidationError("--opset \(opset): the export writes opsets \(ONNXExport.supportedOpsets.lowerBound)–\(ONNXExport.supportedOpsets.upperBound)")
        }
        if program && (output != nil || dynamic) {
            throw ValidationError("--program prints the traced program; it takes no -o or --dynamic")
        }
        if let output, URL(fileURLWithPath: output).pathExtension.lowercased() != "onnx" {
            throw ValidationError("-o names an .onnx file, found '\(output)'")
        }
    }

    func run() throws {
        execution.configureThreads()
        if let root = try model.forkRoot() {
            // fork mode: the fork's forward as traced by fork mode's torch; the head's main output only
            // (the first item of a tuple), as Ultralytics' export returns it
            let loaded = try reporting { () throws(ModelLoadError) in
                try Model.loadForkRunnable(model.request, root: root, weights: execution.weights, seed: seed)
            }
            for note in loaded.notes { printError(note) }
            let primary = zip(loaded.outputNames, loaded.program.outputs).filter { $0.0 == "output" || $0.0.hasPrefix("output.0") }.map(\.1)
            try write(loaded.program.returning(primary), input: loaded.summary.input)
            return
        }
        let loaded = try model.loadRunnableModel()
        let graph = loaded.graph
        let plan = try execution.plan(for: loaded, seed: seed)
        let program: Program
        do {
            program = try plan.trace()
        } catch {
            for diagnostic in error.diagnostics { printError(diagnostic.description) }
            throw ExitCode(1)
        }
        try write(program, input: graph.inputShape)
    }

    func write(_ program: Program, input: [Int]) throws {
        if self.program {
            print(program.text)
            return
        }
        let export = ONNXExport(program: program, opset: opset, dynamicBatch: dynamic)
        let file: ONNXExport.File
        do {
            file = try export.file(producerVersion: "0.1")
        } catch {
            printError("\(model.config): error: \(error)")
            throw ExitCode(1)
        }
        let path = output ?? URL(fileURLWithPath: model.config).deletingPathExtension().lastPathComponent + ".onnx"
        do {
            try file.bytes.write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            printError("\(path): error: cannot write the ONNX file (\(describeFileError(error)))")
            throw ExitCode(1)
        }
        let outputs = program.outputs.enumerated().map { "output\($0.offset) \(describeShape($0.element.shape))" }.joined(separator: ", ")
        print("wrote \(path): opset \(opset), \(file.nodeCount) nodes, \(String(format: "%.1f", Double(file.bytes.count) / 1e6)) MB; "
              + "images \(describeShape(input)) → \(outputs)" + (dynamic ? " (batch symbolic)" : ""))
    }
}
