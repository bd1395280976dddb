import ArgumentParser
import ForkMode
import Foundation
import GraphDrawing
import ModelGraph
import ModelLoading

/// Fork mode in the commands: which fork (if any) a model is built with, and its summary's output.
extension ModelOptions {
    /// The fork whose own code builds this model (`Model.fork(for:)`): `--source DIR`, else the
    /// nearest parent folder of the YAML holding `ultralytics/nn/tasks.py`; nil for the native
    /// builder.
    func forkRoot() throws -> URL? {
        try reporting { () throws(ModelLoadError) in try Model.fork(for: request) }
    }

    /// Builds the YAML with the fork's code; a failure prints its located message and exits 1.
    func buildForkModel(root: URL, flops: Bool = true) throws -> ForkSummary {
        try reporting { () throws(ModelLoadError) in try Model.buildFork(request, root: root, flops: flops) }
    }
}

extension ForkSummary {
    var forkLine: String {
        "fork: \(root) (Ultralytics \(ultralyticsVersion)), \(modelClass)" + (scale.map { ", scale \($0)" } ?? "")
    }

    func table() -> String {
        func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
            text.count >= width ? text : right ? String(repeating: " ", count: width - text.count) + text
                                               : text + String(repeating: " ", count: width - text.count)
        }
        let moduleWidth = max(16, rows.map { $0.module.count + 2 }.max() ?? 0)
        let argumentsWidth = max(30, rows.map { $0.arguments.count + 2 }.max() ?? 0)
        var lines = [pad("", 3) + pad("from", 20, right: true) + pad("n", 3, right: true) + pad("params", 10, right: true) + "  "
            + pad("module", moduleWidth) + pad("arguments", argumentsWidth) + "output"]
        for row in rows {
            let from = row.fromIsList ? "[" + row.from.map(String.init).joined(separator: ", ") + "]" : row.from.first.map(String.init) ?? ""
            let first = row.outputs.first.map(describeShape) ?? "?"
            lines.append(pad(String(row.index), 3, right: true) + pad(from, 20, right: true) + pad(String(row.repeats), 3, right: true)
                + pad(String(row.parameters), 10, right: true) + "  " + pad(row.module, moduleWidth) + pad(row.arguments, argumentsWidth) + first)
            for shape in row.outputs.dropFirst() {
                lines.append(String(repeating: " ", count: 3 + 20 + 3 + 10 + 2 + moduleWidth + argumentsWidth) + describeShape(shape))
            }
        }
        return lines.joined(separator: "\n")
    }

    /// The graph picture of the fork's rows.
    func drawing(name: String) -> GraphDrawing {
        let drawn = rows.enumerated().map { position, row in
            GraphDrawing.Row(index: row.index, indices: indices(ofRow: position), module: row.module, arguments: row.arguments,
                                    from: sources(ofRow: position), outputs: row.outputs, parameters: row.parameters, gflops: row.gflops)
        }
        let title = "\(name) (fork mode) — \(rows.count) rows, \(groupedThousands(parameters)) parameters"
            + (gflops.map { String(format: ", %.1f GFLOPs (complete)", $0) } ?? "")
        return GraphDrawing(title: title, input: input, rows: drawn, output: output, failure: forwardError?.message)
    }

    func summaryLine(name: String) -> String {
        var line = "\(name) summary: \(rows.count) rows, \(groupedThousands(parameters)) parameters"
        if let ultralyticsGFLOPs { line += ", \(String(format: "%.1f", ultralyticsGFLOPs)) GFLOPs" }
        return line
    }

    func json(name: String) -> JSONValue {
        .object([
            ("model", .string(name)),
            ("input", .array(input.map(JSONValue.int))),
            ("parameters", .int(parameters)),
            ("gflops", gflops.map(JSONValue.double) ?? .null),
            ("gflops_ultralytics", ultralyticsGFLOPs.map(JSONValue.double) ?? .null),
            ("memory", .null),
            ("fork", .object([("root", .string(root)), ("ultralytics", .string(ultralyticsVersion)), ("class", .string(modelClass)),
                              ("scale", scale.map(JSONValue.string) ?? .null), ("stand_ins", .array(standIns.map(JSONValue.string)))])),
            ("layers", .array(rows.map { row in
                .object([
                    ("index", .int(row.index)),
                    ("from", .array(row.from.map(JSONValue.int))),
                    ("repeats", .int(row.repeats)),
                    ("module", .string(row.module)),
                    ("arguments", .string(row.arguments)),
                    ("parameters", .int(row.parameters)),
                    ("outputs", .array(row.outputs.map { .array($0.map(JSONValue.int)) })),
                ])
            })),
            ("output", .array(output.map { .array($0.map(JSONValue.int)) })),
            ("forward_error", forwardError.map { .string($0.description) } ?? .null),
        ])
    }
}
