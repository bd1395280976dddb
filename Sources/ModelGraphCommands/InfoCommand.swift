import ArgumentParser
import Checkpoint
import Foundation
import ModelLoading

struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Describe a .pt checkpoint without running it: version, date, epochs, task, classes, size, dtype, parameters, training arguments.",
        discussion: "Nothing in the file is executed. Exit status: 0 ok, 1 a bad checkpoint, 2 usage error.")

    @Argument(help: "The .pt checkpoint.")
    var checkpoint: String

    @Flag(help: "Also print the model YAML the checkpoint carries.")
    var yaml = false

    func run() throws {
        let read = try reporting { () throws(ModelLoadError) in try Checkpoints.read(checkpoint) }
        func row(_ label: String, _ value: String) { print(label.padding(toLength: 12, withPad: " ", startingAt: 0) + value) }
        let meta = Dictionary(read.metadata, uniquingKeysWith: { first, _ in first })
        let arguments = Dictionary(read.trainingArguments, uniquingKeysWith: { first, _ in first })
        print("\(checkpoint): \(meta["version"].map { "Ultralytics \($0) checkpoint" } ?? "PyTorch checkpoint")")
        if let date = meta["date"] { row("saved", date) }
        row("size", String(format: "%.1f MB on disk", Double(read.fileSize) / 1e6))
        row("model", (read.modelClass ?? "a state dict") + " (weights from `\(read.source)`)")
        if let task = read.task { row("task", task) }
        var model: ModelYAML?
        if read.yaml != nil {
            model = try reporting { () throws(ModelLoadError) in try Checkpoints.modelYAML(read) }
            row("yaml", (model?.sourceFile ?? "embedded") + (model?.scale.flatMap { $0.isEmpty ? nil : ", scale \($0)" } ?? ""))
        }
        if let epoch = meta["epoch"] {
            let total = arguments["epochs"]
            row("epochs", epoch == "-1" ? "finished\(total.map { " (\($0) epochs)" } ?? "") — optimizer stripped" : "\(epoch)\(total.map { " of \($0)" } ?? "")")
        }
        if let fitness = meta["best_fitness"] { row("fitness", fitness) }
        if !read.names.isEmpty {
            let shown = read.names.prefix(20).joined(separator: ", ")
            row("classes", "\(read.names.count): \(shown)\(read.names.count > 20 ? ", …" : "")")
        }
        if let size = arguments["imgsz"] { row("image size", size) }
        row("dtype", read.floatTypes.map(\.dtypeName).joined(separator: ", "))
        row("parameters", "\(grouped(read.parameterCount)) in \(read.tensors.count) tensors")
        if !read.trainingArguments.isEmpty {
            row("training", read.trainingArguments.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
        }
        if yaml, let model {
            print("")
            print(model.text, terminator: "")
        }
    }
}

/// 1234567 → "1,234,567".
func grouped(_ value: Int) -> String {
    let digits = String(value.magnitude)
    var out = ""
    for (index, character) in digits.enumerated() {
        if index > 0 && (digits.count - index) % 3 == 0 { out.append(",") }
        out.append(character)
    }
    return (value < 0 ? "-" : "") + out
}
