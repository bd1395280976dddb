import ArgumentParser
import Foundation
import ModelGraph
import ModelLoading

extension FlopsFigure: ExpressibleByArgument {}

struct SummaryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "summary",
        abstract: "Print the layer table (params, output shapes, GFLOPs) and totals of a model file.")

    @OptionGroup var model: ModelOptions

    @OptionGroup var jsonOutput: JSONOutput

    @Flag(help: "Count parameters as after Ultralytics' fuse(): BatchNorm folded into Convs, RepConv re-parameterised.")
    var fuse = false

    @Option(help: ArgumentHelp("GFLOPs in the table and the closing line: ultralytics (what model.info() prints: thop's rules, batch 1) or complete (every multiply-add ModelGraph runs, at --batch). --jsonOutput.json gives both.",
                               valueName: "figure"))
    var flops: FlopsFigure = .ultralytics

    func run() throws {
        if let root = try model.forkRoot() {
            let summary = try model.buildForkModel(root: root)
            if let failure = summary.forwardError { printError("warning: the model builds, but " + failure.description) }
            let name = URL(fileURLWithPath: model.config).deletingPathExtension().lastPathComponent
            if jsonOutput.json {
                print(summary.json(name: name).rendered())
            } else {
                print(summary.forkLine)
                print(summary.table())
                print(summary.summaryLine(name: name))
            }
            return
        }
        let graph = try model.loadGraph()
        for warning in graph.diagnostics where warning.severity != .error { printError(warning.description) }
        guard graph.errors.isEmpty else {
            for error in graph.errors { printError(error.description) }
            printError("\(graph.errors.count) error\(graph.errors.count == 1 ? "" : "s"); run `modelgraph check` for the same list")
            throw ExitCode(1)
        }
        if let note = graph.scaleNote { printError("note: \(note)") }
        if jsonOutput.json {
            print(graph.summaryJSON(fused: fuse).rendered())
        } else {
            print(graph.summaryTable(fused: fuse, flops: flops))
            print(graph.summaryLine(fused: fuse, flops: flops))
            print(graph.memoryLine(fused: fuse))
        }
    }
}
