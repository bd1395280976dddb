import ArgumentParser
import Foundation
import GraphDrawing
import ModelGraph
import ModelLoading

struct GraphCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "graph",
        abstract: "Draw the built graph: a node per row (index, module, arguments, output shape, parameters, GFLOPs), edges from `from`, the image and the outputs.",
        discussion: """
            Laid out and rendered by Graphviz's library in process. -o names the file; its extension picks the \
            format (.svg, .png, .pdf, .dot); without -o the DOT description goes to stdout. A multi-output \
            backbone has one port per feature map. Rows that fail `check` are drawn in red with their message \
            while the rest still draws (exit 1 then, after writing). The file is written atomically. A fork YAML \
            is drawn from the fork's own build (per-row GFLOPs: the complete count of its forward pass).
            """)

    @OptionGroup var model: ModelOptions

    @Option(name: [.customShort("o"), .long], help: ArgumentHelp("The picture: FILE.svg, .png, .pdf or .dot.", valueName: "file"))
    var output: String?

    @Flag(help: "List each module's inner blocks (its PyTorch children, with their parameters) in its node.")
    var expand = false

    func validate() throws {
        if let output, !["svg", "png", "pdf", "dot"].contains(URL(fileURLWithPath: output).pathExtension.lowercased()) {
            throw ValidationError("-o names the picture's format by its extension: .svg, .png, .pdf or .dot, found '\(output)'")
        }
    }

    func run() throws {
        var failed = false
        let drawing: GraphDrawing
        if let root = try model.forkRoot() {
            if expand {
                printError("error: --expand lists the inner blocks of built-in modules; fork mode draws rows only")
                throw ExitCode(2)
            }
            let summary = try model.buildForkModel(root: root, flops: false)
            if let problem = summary.forwardError {
                printError(problem.description)
                failed = true
            }
            drawing = summary.drawing(name: URL(fileURLWithPath: model.config).deletingPathExtension().lastPathComponent)
        } else {
            let graph = try model.loadGraph()
            for diagnostic in graph.diagnostics { printError(diagnostic.description) }
            failed = !graph.errors.isEmpty
            drawing = GraphDrawing(graph, expand: expand)
        }
        guard let output else {
            print(drawing.dot, terminator: "")
            if failed { throw ExitCode(1) }
            return
        }
        let format = URL(fileURLWithPath: output).pathExtension.lowercased()
        let bytes: [UInt8]
        if format == "dot" {
            bytes = Array(drawing.dot.utf8)
        } else {
            switch drawing.render(format: format) {
            case .success(let rendered): bytes = rendered
            case .failure(let problem):
                printError("\(output): error: \(problem)")
                throw ExitCode(1)
            }
        }
        do {
            try Data(bytes).write(to: URL(fileURLWithPath: output), options: .atomic)
        } catch {
            printError("\(output): error: cannot write the picture (\(describeFileError(error)))")
            throw ExitCode(1)
        }
        print("wrote \(output): \(drawing.nodeCount) nodes, \(drawing.edgeCount) edges")
        if failed { throw ExitCode(1) }
    }
}
