import ArgumentParser
import ForkMode
import Foundation
import GraphDrawing
import ModelGraph

/// Fork mode in the commands: which fork (if any) a model is built with, and its summary's output.
extension ModelOptions {
    /// The fork whose own code builds this model: `--source DIR`, else the nearest parent folder
    /// of the YAML holding `ultralytics/nn/tasks.py`; nil for the native builder (`--source builtin`,
    /// official names, checkpoints, YAMLs outside any fork).
    func forkRoot() throws -> URL? {
        guard !Checkpoints.isCheckpoint(config) else { return try source.map(forkSource) ?? nil }
        return try resolveForkRoot(source: source, path: config)
    }

    /// Builds the YAML with the fork's code; a failure prints its located message and exits 1.
    func buildForkModel(root: URL, flops: Bool = true) throws -> ForkSummary {
        guard FileManager.default.fileExists(atPath: config) else {
            printError("\(config): error: cannot read the model file (no such file); fork mode builds YAML files")
            throw ExitCode(1)
        }
        guard batch == 1 else {
            printError("error: --batch \(batch): fork mode summarises at batch 1")
            throw ExitCode(2)
        }
        let builder = ForkModelBuilder(root: root)
        do {
            return try runOnLargeStack {
                try builder.build(yamlPath: config, options: ForkBuildOptions(scale: scale, imageHeight: imgsz.height, imageWidth: imgsz.width, flops: flops))
            }
        } catch let error as ForkBuildError {
            printError(error.description)
            throw ExitCode(1)
        }
    }
}

/// `--source DIR` checked (exit 2 when DIR holds no fork), nil for `builtin`.
func forkSource(_ source: String) throws -> URL? {
    if source == "builtin" { return nil }
    let url = URL(fileURLWithPath: source).standardizedFileURL
    guard ForkRoot.isFork(url) else {
        printError("error: --source \(source): no ultralytics/nn/tasks.py there (give the folder that holds the fork's `ultralytics/` package, or `builtin`)")
        throw ExitCode(2)
    }
    return url
}

/// The fork that builds `path`: `--source`, else the nearest parent folder holding a fork.
func resolveForkRoot(source: String?, path: String) throws -> URL? {
    if let source { return try forkSource(source) }
    guard FileManager.default.fileExists(atPath: path) else { return nil }
    return ForkRoot.find(containing: path)
}

/// Runs deep interpreted code on a thread with a large stack (fork code recurses through
/// nested modules; the interpreter's own depth budget ends it long before this stack does).
private final class ResultBox<T>: @unchecked Sendable {
    var result: Result<T, Error>?
    /// Dropped once run: a finished Thread may outlive its work, and must not keep it alive.
    var body: (() throws -> T)?
    init(_ body: @escaping () throws -> T) { self.body = body }
}

func runOnLargeStack<T>(_ body: @escaping () throws -> T) throws -> T {
    let box = ResultBox<T>(body)
    let done = DispatchSemaphore(value: 0)
    let worker = Thread {
        box.result = Result { try box.body!() }
        box.body = nil
        done.signal()
    }
    worker.stackSize = 1 << 30
    worker.start()
    done.wait()
    return try box.result!.get()
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
