import ArgumentParser
import ModelGraph
import ModelLoading
import YAMLFrontEnd

struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check a model file statically: indices, arguments, channels, shapes. No weights are allocated.",
        discussion: """
            --json prints one object: file, ok, diagnostics (each with file, line, column, layer, module, severity \
            and message; line, column, layer and module null where unknown), and for a model that checks, rows, \
            input and output. Exit status: 0 clean, 1 errors found, 2 usage error.
            """)

    @OptionGroup var model: ModelOptions
    @OptionGroup var jsonOutput: JSONOutput

    func run() throws {
        if let root = try model.forkRoot() {
            let summary = try model.buildForkModel(root: root, flops: false)
            if let failure = summary.forwardError {
                report(errors: [.object([("file", .string(model.config)), ("line", .null), ("column", .null), ("layer", .null),
                                         ("module", .null), ("severity", .string("error")), ("message", .string(failure.description))])],
                       text: failure.description)
                throw ExitCode(1)
            }
            guard !jsonOutput.json else {
                return print(checked(rows: summary.rows.count, input: summary.input, output: summary.output.first, diagnostics: []).rendered())
            }
            print("\(model.config): ok (fork mode, Ultralytics \(summary.ultralyticsVersion)) — \(summary.rows.count) rows, "
                  + "input \(describeShape(summary.input)) → output \(summary.output.first.map(describeShape) ?? "?")")
            return
        }
        let graph = try model.loadGraph()
        let errors = graph.errors.count
        guard errors == 0 else {
            report(errors: graph.diagnostics.map(Self.json), text: nil)
            if !jsonOutput.json {
                for diagnostic in graph.diagnostics { printError(diagnostic.description) }
                printError("\(model.config): \(errors) error\(errors == 1 ? "" : "s")")
            }
            throw ExitCode(1)
        }
        for diagnostic in graph.diagnostics where !jsonOutput.json { printError(diagnostic.description) }
        guard !jsonOutput.json else {
            return print(checked(rows: graph.layers.count, input: graph.inputShape, output: graph.outputShapes?.first,
                                 diagnostics: graph.diagnostics.map(Self.json)).rendered())
        }
        let output = graph.outputShapes?.first.map(describeShape) ?? "?"
        print("\(model.config): ok — \(graph.layers.count) rows, \(graph.layers.last.map { $0.indices.upperBound } ?? 0) layer indices, "
              + "input \(describeShape(graph.inputShape)) → output \(output)")
    }

    /// The object of a model that checks.
    private func checked(rows: Int, input: [Int], output: [Int]?, diagnostics: [JSONValue]) -> JSONValue {
        .object([("file", .string(model.config)), ("ok", .bool(true)), ("diagnostics", .array(diagnostics)), ("rows", .int(rows)),
                 ("input", .array(input.map(JSONValue.int))), ("output", output.map { .array($0.map(JSONValue.int)) } ?? .null)])
    }

    /// With --json, the object of a model with errors; otherwise `text` (when given) on stderr.
    private func report(errors: [JSONValue], text: String?) {
        if jsonOutput.json {
            print(JSONValue.object([("file", .string(model.config)), ("ok", .bool(false)), ("diagnostics", .array(errors))]).rendered())
        } else if let text {
            printError(text)
        }
    }

    private static func json(_ diagnostic: Diagnostic) -> JSONValue {
        .object([("file", .string(diagnostic.file)), ("line", diagnostic.location.map { .int($0.line) } ?? .null),
                 ("column", diagnostic.location.map { .int($0.column) } ?? .null), ("layer", diagnostic.layerIndex.map(JSONValue.int) ?? .null),
                 ("module", diagnostic.module.map(JSONValue.string) ?? .null), ("severity", .string(diagnostic.severity.rawValue)),
                 ("message", .string(diagnostic.message))])
    }
}
