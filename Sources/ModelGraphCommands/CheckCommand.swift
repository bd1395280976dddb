import ArgumentParser
import ModelGraph
import ModelLoading

struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check a model file statically: indices, arguments, channels, shapes. No weights are allocated.",
        discussion: "Exit status: 0 clean, 1 errors found, 2 usage error.")

    @OptionGroup var model: ModelOptions

    func run() throws {
        if let root = try model.forkRoot() {
            let summary = try model.buildForkModel(root: root, flops: false)
            if let failure = summary.forwardError {
                printError(failure.description)
                throw ExitCode(1)
            }
            print("\(model.config): ok (fork mode, Ultralytics \(summary.ultralyticsVersion)) — \(summary.rows.count) rows, "
                  + "input \(describeShape(summary.input)) → output \(summary.output.first.map(describeShape) ?? "?")")
            return
        }
        let graph = try model.loadGraph()
        for diagnostic in graph.diagnostics { printError(diagnostic.description) }
        let errors = graph.errors.count
        guard errors == 0 else {
            printError("\(model.config): \(errors) error\(errors == 1 ? "" : "s")")
            throw ExitCode(1)
        }
        let output = graph.outputShapes?.first.map(describeShape) ?? "?"
        print("\(model.config): ok — \(graph.layers.count) rows, \(graph.layers.last.map { $0.indices.upperBound } ?? 0) layer indices, "
              + "input \(describeShape(graph.inputShape)) → output \(output)")
    }
}
