import ArgumentParser
import Checkpoint
import Foundation
import ModelLoading
import Tensor

struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Write a .pt checkpoint's state dict as safetensors (and its model YAML), for other tools.",
        discussion: """
            The state dict is the one PyTorch's model.state_dict() gives (from `ema` when the checkpoint has it, else \
            `model`), so the file loads into the PyTorch model with strict=True. Floating-point tensors are written as \
            F32 (F16 with --half); integer buffers (num_batches_tracked) as I64. Files are written atomically.
            Exit status: 0 ok, 1 a bad checkpoint or an unwritable output, 2 usage error.
            """)

    @Argument(help: "The .pt checkpoint.")
    var checkpoint: String

    @Argument(help: "The safetensors file to write.")
    var output: String

    @Option(help: ArgumentHelp("Also write the model YAML the checkpoint carries here.", valueName: "file"))
    var yaml: String?

    @Flag(help: "Write floating-point tensors as F16 instead of F32.")
    var half = false

    func run() throws {
        let read = try reporting { () throws(ModelLoadError) in try Checkpoints.read(checkpoint) }
        var tensors: [String: SafeTensors.RawTensor] = [:]
        for (key, reference) in read.tensors { tensors[key] = reference.encoded(half: half) }
        var metadata = ["format": "pt", "source": URL(fileURLWithPath: checkpoint).lastPathComponent]
        var yamlText: String?
        if read.yaml != nil {
            let model = try reporting { () throws(ModelLoadError) in try Checkpoints.modelYAML(read) }
            var text = "# The model YAML carried by \(URL(fileURLWithPath: checkpoint).lastPathComponent)"
                + (model.sourceFile.map { " (made from \($0))" } ?? "") + ", written by modelgraph convert.\n"
            if let scale = model.scale, !scale.isEmpty { text += "# It was built at scale '\(scale)': pass --scale \(scale).\n" }
            yamlText = text + model.text
            metadata["yaml"] = model.text
        } else if yaml != nil {
            printError("\(checkpoint): error: the checkpoint carries no model YAML to write to \(yaml!)")
            throw ExitCode(1)
        }
        do {
            try SafeTensors.encode(raw: tensors, metadata: metadata).write(to: URL(fileURLWithPath: output), options: .atomic)
        } catch {
            printError("\(output): error: cannot write the file (\(error.localizedDescription))")
            throw ExitCode(1)
        }
        if let yaml, let yamlText {
            do {
                try Data(yamlText.utf8).write(to: URL(fileURLWithPath: yaml), options: .atomic)
            } catch {
                printError("\(yaml): error: cannot write the file (\(error.localizedDescription))")
                throw ExitCode(1)
            }
        }
        let parameters = read.parameterCount
        print("wrote \(output): \(tensors.count) tensors, \(grouped(parameters)) parameters as \(half ? "F16" : "F32") (from \(read.source))"
              + (yaml.map { "; wrote \($0)" } ?? ""))
    }
}
