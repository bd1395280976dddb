import ArgumentParser
import Checkpoint
import ForkTorch
import Foundation
import Imaging
import ModelGraph
import ModelGraphCommands
import PythonFrontEnd
import PythonInterpreter
import Tensor
import YAMLFrontEnd

// What each fuzzing harness does with one input (scripts/fuzz runs them under libFuzzer with
// AddressSanitizer; the tests replay the seed corpora through them). A harness may reject an
// input with an error — only a trap, a hang or a leak is a finding.

/// The harnesses by the name `scripts/fuzz` gives them.
public let fuzzHarnesses: [String: @Sendable (UnsafeRawBufferPointer) -> Void] = [
    "model": fuzzModel, "safetensors": fuzzSafeTensors, "checkpoint": fuzzCheckpoint, "image": fuzzImage,
    "options": fuzzOptions, "python": fuzzPython,
]

/// Python source as fork mode reads it: tokenized, parsed and run — with ModelGraph's torch, no
/// fork root (no file is read) and small budgets, so every run ends in a value or a located error.
public func fuzzPython(_ bytes: UnsafeRawBufferPointer) {
    guard bytes.count <= 1 << 16, let module = try? Parser.parse(bytes: Array(bytes), file: "fuzz.py", lazyBodies: false) else { return }
    _ = module
    var budget = InterpreterBudget()
    budget.steps = 20_000
    budget.recursionDepth = 40
    budget.containerElements = 20_000
    let importer = Importer(root: nil)
    let interpreter = Interpreter(importer: importer, budget: budget)
    _ = TorchRuntime.install(into: importer, interpreter: interpreter)
    _ = try? importer.runMain(String(decoding: bytes, as: UTF8.self), file: "fuzz.py", interpreter: interpreter)
    interpreter.tearDown()
}

/// A model file: decoded, parsed, built at two input sizes, and everything `check` and
/// `summary` compute from it (the table, JSON, GFLOPs both ways, the memory line).
public func fuzzModel(_ bytes: UnsafeRawBufferPointer) {
    guard let text = try? YAMLParser.decode(bytes, file: "fuzz.yaml") else { return }
    // two builds: the first scale at a square size, and scale s at a non-square size, batch 2,
    // through the end-to-end branches (a third size added no coverage and halved the speed)
    for options in [BuildOptions(imageHeight: 64, imageWidth: 64),
                    BuildOptions(scale: "s", imageHeight: 320, imageWidth: 192, batch: 2, endToEnd: true)] {
        guard let graph = try? ModelGraph.build(yaml: text, file: "fuzz.yaml", options: options) else { continue }
        _ = graph.summaryTable(fused: false)
        _ = graph.summaryTable(fused: true, flops: .complete)
        _ = graph.summaryJSON(fused: true).rendered()
        _ = graph.memoryLine()
    }
}

/// A safetensors file (`--weights`, `--input`).
public func fuzzSafeTensors(_ bytes: UnsafeRawBufferPointer) {
    _ = try? SafeTensors.decode(Data(bytes), file: "fuzz.safetensors")
}

/// A PyTorch checkpoint: the zip archive, the pickle, and Ultralytics' layout inside.
public func fuzzCheckpoint(_ bytes: UnsafeRawBufferPointer) {
    guard let archive = try? TorchArchive.decode(Data(bytes), file: "fuzz.pt") else { return }
    _ = try? UltralyticsCheckpoint(archive: archive)
}

/// An image file (JPEG, PNG, BMP and the other formats `predict` reads).
public func fuzzImage(_ bytes: UnsafeRawBufferPointer) {
    _ = try? ImageFile.decode(Data(bytes), file: "fuzz.img")
}

/// A command line, one argument per line: parsed and validated as `modelgraph` does before it
/// runs anything (every option's value type and every `validate()`), and the message a
/// rejected line would print.
public func fuzzOptions(_ bytes: UnsafeRawBufferPointer) {
    let arguments = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    do {
        _ = try ModelGraphCommand.parseAsRoot(arguments)
    } catch {
        _ = ModelGraphCommand.fullMessage(for: error)
        _ = ModelGraphCommand.exitCode(for: error)
    }
}
