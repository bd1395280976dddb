import ArgumentParser
import Dispatch
import ForkMode
import Foundation
import ModelGraph
import ModelLoading
import struct ModelSpec.ModelSpec
import enum ModelSpec.ModelNames
import Tensor
import struct YAMLFrontEnd.DiagnosticList

enum CompareFormat: String, ExpressibleByArgument, CaseIterable {
    case table, md, csv, json
}

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "One row per model: parameters, GFLOPs (Ultralytics' and complete), layers, weights and activation memory, optionally latency; the change against the first row.",
        discussion: """
            MODELS are YAML files, official names (yolo11n.yaml) or folders (every .yaml in them, sorted). \
            A model that does not build is listed with its first located error; the others are still compared. \
            Exit status: 0 when every model built, 1 when one did not, 2 usage error.
            """)

    @Argument(help: "Model files, official names or folders.")
    var models: [String]

    @Option(help: "Scale for files with `scales:` (default: from the name, else the first); `all` gives a row per scale.")
    var scale: String?

    @OptionGroup var size: ImageSizeOption
    var imgsz: ImageSize { size.imgsz }

    @Flag(help: "Also time forward passes (seeded weights and input, batch 1; a fork model through its traced program, as bench runs it): median ms and images/s.")
    var bench = false

    @Option(help: "Timed forward passes per model with --bench (after one untimed).")
    var runs: Int = 10

    @OptionGroup var threading: ThreadsOption

    @Option(help: "Output: table (the default), md (Markdown), csv or json (--json is the same as --format json).")
    var format: CompareFormat?

    @OptionGroup var jsonOutput: JSONOutput

    /// The output format: --format, or json with --json.
    var outputFormat: CompareFormat { jsonOutput.json ? .json : format ?? .table }

    @Option(help: ArgumentHelp("Whose code builds the models: a fork's folder, or `builtin`. Default: the fork each YAML lies in, if any.", valueName: "DIR|builtin"))
    var source: String?

    func validate() throws {
        guard !models.isEmpty else { throw ValidationError("give at least one model file, name or folder") }
        guard (1...100_000).contains(runs) else { throw ValidationError("--runs must be from 1 to 100000, found \(runs)") }
        if jsonOutput.json, let format, format != .json { throw ValidationError("--json prints JSON; it cannot go with --format \(format.rawValue)") }
    }

    /// One compared model, or the reason it could not be.
    struct Row {
        var name: String
        var graph: ModelGraph?
        var problem: String?
        var latency: Double?
        /// A fork YAML, built by the fork's own code (no memory figures yet), with its file and fork.
        var fork: ForkSummary?
        var forkSource: (path: String, root: URL)?

        var built: Bool { graph != nil || fork != nil }
        var parameters: Int? { graph?.parameterCount ?? fork?.parameters }
        var ultralyticsGFLOPs: Double? { graph?.ultralyticsGFLOPs() ?? fork?.ultralyticsGFLOPs }
        var completeGFLOPs: Double? { graph?.gflops ?? fork?.gflops }
    }

    /// Fork builders by root, reused across the models of one comparison (the fork is imported once).
    final class ForkBuilders: @unchecked Sendable {
        var byRoot: [String: ForkModelBuilder] = [:]
    }

    func forkRoot(for path: String) throws -> URL? {
        try reporting { () throws(ModelLoadError) in try Model.forkRoot(source: source, path: path) }
    }

    func buildFork(_ path: String, root: URL, label: String, builders forkBuilders: ForkBuilders) -> Row {
        let builder = forkBuilders.byRoot[root.path] ?? ForkModelBuilder(root: root)
        forkBuilders.byRoot[root.path] = builder
        let options = ForkBuildOptions(scale: scale == "all" ? nil : scale, imageHeight: imgsz.height, imageWidth: imgsz.width)
        do {
            let summary = try runOnLargeStack { try builder.build(yamlPath: path, options: options) }
            return Row(name: label, fork: summary, forkSource: (path, root))
        } catch {
            return Row(name: label, problem: "\(error)".split(separator: "\n").first.map(String.init) ?? "does not build")
        }
    }

    func run() throws {
        threading.configure()
        var rows: [Row] = []
        let builders = ForkBuilders()
        for item in models {
            for path in expand(item) {
                if let root = try forkRoot(for: path) {
                    rows.append(buildFork(path, root: root, label: URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent, builders: builders))
                } else {
                    rows += build(path)
                }
            }
        }
        if bench {
            for index in rows.indices {
                if let graph = rows[index].graph {
                    rows[index].latency = time(graph)
                } else if let (path, root) = rows[index].forkSource {
                    rows[index].latency = timeFork(path, root: root)
                }
            }
        }
        print(render(rows))
        if rows.contains(where: { !$0.built }) { throw ExitCode(1) }
    }

    /// A folder's YAML files (sorted), or the item itself.
    func expand(_ item: String) -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: item, isDirectory: &isDirectory), isDirectory.boolValue,
              let names = try? FileManager.default.contentsOfDirectory(atPath: item) else { return [item] }
        return names.filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted().map { (item as NSString).appendingPathComponent($0) }
    }

    /// The rows for one file: one, or one per scale with `--scale all`.
    func build(_ path: String) -> [Row] {
        let label = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        let source: ModelText
        switch ModelText.find(path) {
        case .success(let found): source = found
        case .failure(let problem): return [Row(name: label, problem: problem.description)]
        }
        let spec: ModelSpec
        do {
            spec = try ModelSpec.parse(source.text, file: source.file, name: label)
        } catch {
            return [Row(name: label, problem: error.diagnostics.first?.description ?? "cannot read the file")]
        }
        let scales: [String?]
        if scale == "all" {
            scales = spec.scales.isEmpty ? [nil] : spec.scales.map(\.name)
        } else {
            scales = [scale ?? ModelNames.scale(fromFileName: path).flatMap { named in spec.scales.contains { $0.name == named } ? named : nil }]
        }
        return scales.map { chosen in
            let name = scale == "all" && chosen != nil ? "\(label) \(chosen!)" : label
            do throws(DiagnosticList) {
                let graph = try ModelGraph.build(spec: spec, options: BuildOptions(scale: chosen, imageHeight: imgsz.height, imageWidth: imgsz.width))
                if let first = graph.errors.first { return Row(name: name, problem: first.description) }
                return Row(name: name, graph: graph)
            } catch {
                return Row(name: name, problem: error.diagnostics.first?.description ?? "does not build")
            }
        }
    }

    /// Median forward milliseconds over --runs, after one untimed pass.
    func time(_ graph: ModelGraph) -> Double? {
        let plan = InferencePlan(graph: graph, weights: Weights.initialized(for: graph, seed: 0))
        let input = randomImage(shape: graph.inputShape, seed: 0)
        let text = graph.textShape.map { randomImage(shape: $0, seed: 1) }
        return medianMilliseconds { (try? plan.forward(input, text: text)) != nil }
    }

    /// The median milliseconds of `pass` over --runs, after one untimed; nil when a pass fails.
    func medianMilliseconds(_ pass: () -> Bool) -> Double? {
        var times: [Double] = []
        for run in 0...runs {
            let start = DispatchTime.now()
            guard pass() else { return nil }
            if run > 0 { times.append(Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e6) }
        }
        return times.sorted()[times.count / 2]
    }

    /// A fork model's median forward milliseconds: its forward traced into a program (seeded
    /// weights) on the planner's kernels, as `bench` times it; nil when it does not trace.
    func timeFork(_ path: String, root: URL) -> Double? {
        let request = ModelRequest(path: path, scale: scale == "all" ? nil : scale, imageHeight: imgsz.height, imageWidth: imgsz.width, source: root.path)
        let loaded: ForkRunnable
        do {
            loaded = try Model.loadForkRunnable(request, root: root, weights: nil, seed: 0)
        } catch {
            printError("note: \(path): not timed — " + (error.messages.first ?? "it does not run"))
            return nil
        }
        let planned = PlannedProgram(loaded.program)
        let input = randomImage(shape: loaded.inputShape, seed: 0)
        return medianMilliseconds { !planned.run(input).outputs.isEmpty }
    }

    /// The columns, as (header, value per row); a failed row has values only in its name.
    func columns(_ rows: [Row]) -> [(String, [String?])] {
        let first = rows.first { $0.built }
        func change(_ value: Double?, _ reference: Double?) -> String? {
            guard let value, let reference, reference != 0, rows.first?.built == true else { return nil }
            return String(format: "%+.1f%%", (value / reference - 1) * 100)
        }
        func column(_ header: String, _ value: (ModelGraph, Row) -> String?) -> (String, [String?]) {
            (header, rows.map { row in row.graph.flatMap { value($0, row) } })
        }
        /// A column every built row fills, native or fork.
        func shared(_ header: String, _ value: (Row) -> String?) -> (String, [String?]) {
            (header, rows.map { row in row.built ? value(row) : nil })
        }
        var result: [(String, [String?])] = [
            ("model", rows.map(\.name)),
            shared("params") { $0.parameters.map(groupedThousands) },
            shared("Δparams") { change($0.parameters.map(Double.init), first?.parameters.map(Double.init)) },
            column("fused params") { graph, _ in groupedThousands(graph.fusedParameterCount) },
            shared("GFLOPs") { $0.ultralyticsGFLOPs.map { String(format: "%.1f", $0) } },
            shared("ΔGFLOPs") { change($0.ultralyticsGFLOPs, first?.ultralyticsGFLOPs) },
            shared("GFLOPs complete") { $0.completeGFLOPs.map { String(format: "%.1f", $0) } },
            column("layers") { graph, _ in String(graph.layerCount()) },
            shared("weights MB fp32") { row in row.graph.map { String(format: "%.1f", $0.weightBytes(bytesPerElement: 4) / 1e6) }
                                                ?? row.parameters.map { String(format: "%.1f", Double($0) * 4 / 1e6) } },
            shared("fp16") { row in row.graph.map { String(format: "%.1f", $0.weightBytes(bytesPerElement: 2) / 1e6) }
                                     ?? row.parameters.map { String(format: "%.1f", Double($0) * 2 / 1e6) } },
            column("peak act. MB") { graph, _ in graph.peakActivationBytes.map { String(format: "%.1f", $0 / 1e6) } },
        ]
        if bench {
            let reference = rows.first?.latency
            result.append(("ms", rows.map { row in row.latency.map { String(format: "%.1f", $0) } }))
            result.append(("img/s", rows.map { row in row.latency.map { String(format: "%.1f", 1000 / $0) } }))
            result.append(("Δms", rows.map { row in row.built ? change(row.latency, reference) : nil }))
        }
        return result
    }

    func render(_ rows: [Row]) -> String {
        let table = columns(rows)
        switch outputFormat {
        case .json:
            let objects = rows.enumerated().map { index, row -> JSONValue in
                if let fork = row.fork {
                    var fields: [(String, JSONValue)] = [
                        ("model", .string(row.name)), ("parameters", .int(fork.parameters)), ("fused_parameters", .null),
                        ("gflops_ultralytics", fork.ultralyticsGFLOPs.map(JSONValue.double) ?? .null),
                        ("gflops", fork.gflops.map(JSONValue.double) ?? .null), ("layers", .null),
                        ("weights_fp32_mb", .double(Double(fork.parameters) * 4 / 1e6)),
                        ("weights_fp16_mb", .double(Double(fork.parameters) * 2 / 1e6)),
                        ("peak_activations_mb", .null), ("fork", .string(fork.root)),
                    ]
                    if bench { fields.append(("median_ms", row.latency.map(JSONValue.double) ?? .null)) }
                    return .object(fields)
                }
                guard let graph = row.graph else { return .object([("model", .string(row.name)), ("error", .string(row.problem ?? ""))]) }
                var fields: [(String, JSONValue)] = [
                    ("model", .string(row.name)), ("parameters", .int(graph.parameterCount)), ("fused_parameters", .int(graph.fusedParameterCount)),
                    ("gflops_ultralytics", graph.ultralyticsGFLOPs().map(JSONValue.double) ?? .null), ("gflops", graph.gflops.map(JSONValue.double) ?? .null),
                    ("layers", .int(graph.layerCount())), ("weights_fp32_mb", .double(graph.weightBytes(bytesPerElement: 4) / 1e6)),
                    ("weights_fp16_mb", .double(graph.weightBytes(bytesPerElement: 2) / 1e6)),
                    ("peak_activations_mb", graph.peakActivationBytes.map { .double($0 / 1e6) } ?? .null),
                ]
                if bench { fields.append(("median_ms", row.latency.map(JSONValue.double) ?? .null)) }
                return .object(fields)
            }
            return JSONValue.array(objects).rendered()
        case .csv:
            func quoted(_ text: String) -> String { text.contains(",") || text.contains("\"") ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text }
            var lines = [(table.map(\.0) + ["error"]).map(quoted).joined(separator: ",")]
            for (index, row) in rows.enumerated() {
                lines.append((table.map { $0.1[index] ?? "" } + [row.problem ?? ""]).map(quoted).joined(separator: ","))
            }
            return lines.joined(separator: "\n")
        case .md, .table:
            var lines: [String] = []
            let widths = table.map { header, values in max(header.count, values.map { ($0 ?? "").count }.max() ?? 0) }
            func line(_ cells: [String]) -> String {
                let padded = cells.enumerated().map { index, cell in
                    let space = String(repeating: " ", count: max(widths[index] - cell.count, 0))
                    return index == 0 ? cell + space : space + cell
                }
                return outputFormat == .md ? "| " + padded.joined(separator: " | ") + " |" : padded.joined(separator: "  ")
            }
            lines.append(line(table.map(\.0)))
            if outputFormat == .md { lines.append("|" + widths.enumerated().map { index, width in index == 0 ? " " + String(repeating: "-", count: width) + " |" : " " + String(repeating: "-", count: width - 1) + ": |" }.joined()) }
            for (index, row) in rows.enumerated() {
                if let problem = row.problem {
                    lines.append(outputFormat == .md ? "| \(row.name) | \(problem.replacingOccurrences(of: "|", with: "\\|")) |" : "\(row.name): \(problem)")
                } else {
                    lines.append(line(table.map { $0.1[index] ?? "-" }))
                }
            }
            return lines.joined(separator: "\n")
        }
    }
}
