import ArgumentParser
import ForkMode
import Foundation
import ModelGraph
import ModelLoading

struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Align two models' rows and show what changed: module, arguments, output shape, parameters, GFLOPs; totals at the end.",
        discussion: """
            Rows are aligned by their module sequence (a longest common subsequence), so an inserted or removed \
            row does not shift everything after it. Marks: '=' same, '~' changed, '-' only in A, '+' only in B. \
            Both models are built at --imgsz (batch 1); --scale applies to each file that has `scales:`. \
            Exit status: 0, 1 when a model does not build, 2 usage error.
            """)

    @Argument(help: "The first model (file or official name).")
    var first: String

    @Argument(help: "The second model.")
    var second: String

    @Option(help: "Scale for files with `scales:` (default: from the name, else the first).")
    var scale: String?

    @OptionGroup var size: ImageSizeOption
    var imgsz: ImageSize { size.imgsz }

    @Flag(help: "Print unchanged rows too (default: only changes, with a count of the unchanged).")
    var all = false

    func run() throws {
        let models = try [first, second].map { path -> ComparedModel in
            let options = try ModelOptions.parse([path, "--imgsz", imgsz.defaultValueDescription] + (scale.map { ["--scale", $0] } ?? []))
            if let root = try options.forkRoot() {
                let summary = try options.buildForkModel(root: root)
                if let problem = summary.forwardError {
                    printError(problem.description)
                    throw ExitCode(1)
                }
                return ComparedModel(summary, name: URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent)
            }
            let graph = try options.loadGraph()
            guard graph.errors.isEmpty else {
                for error in graph.errors { printError(error.description) }
                throw ExitCode(1)
            }
            return ComparedModel(graph)
        }
        let (a, b) = (models[0], models[1])
        print("--- \(first)  (\(a.name))")
        print("+++ \(second)  (\(b.name))")
        var counts = (same: 0, changed: 0, removed: 0, added: 0)
        let steps = RowAlignment.align(a.rows.map { ($0.module, $0.arguments) }, b.rows.map { ($0.module, $0.arguments) })
        // A's layer indices as B numbers them, so a `from` that points at the aligned row is the same
        var renumbered: [Int: Int] = [-1: -1]
        for case .both(let i, let j) in steps {
            for (offset, index) in a.rows[i].indices.enumerated() where offset < b.rows[j].indices.count {
                renumbered[index] = b.rows[j].indices.lowerBound + offset
            }
        }
        for step in steps {
            switch step {
            case .both(let i, let j):
                let (left, right) = (a.rows[i], b.rows[j])
                var changes = differences(left, right, from: left.from.map { renumbered[$0] ?? -2 })
                if let position = changes.firstIndex(where: { $0.hasPrefix("from ") }) {
                    changes[position] = "from \(sources(left, in: a)) → \(sources(right, in: b))"
                }
                if changes.isEmpty {
                    counts.same += 1
                    if all { print("= \(indices(left.index, right.index)) \(left.module) \(left.arguments)") }
                } else {
                    counts.changed += 1
                    print("~ \(indices(left.index, right.index)) \(left.module): " + changes.joined(separator: "; "))
                }
            case .onlyFirst(let i):
                counts.removed += 1
                print("- \(indices(a.rows[i].index, nil)) " + describe(a.rows[i]))
            case .onlySecond(let j):
                counts.added += 1
                print("+ \(indices(nil, b.rows[j].index)) " + describe(b.rows[j]))
            }
        }
        print("rows: \(counts.same) same, \(counts.changed) changed, \(counts.removed) only in A, \(counts.added) only in B")
        print("parameters: " + change(Double(a.parameters), Double(b.parameters), integer: true))
        print("GFLOPs (Ultralytics): " + change(a.ultralyticsGFLOPs ?? 0, b.ultralyticsGFLOPs ?? 0))
        print("GFLOPs (complete): " + change(a.gflops ?? 0, b.gflops ?? 0))
        print("layers: " + change(Double(a.layerCount), Double(b.layerCount), integer: true))
        print("weights MB (float32): " + change(a.weightMegabytes, b.weightMegabytes))
    }

    /// A row's sources with their modules: `[7 HGBlock, 12 Conv]`.
    func sources(_ row: ComparedModel.Row, in model: ComparedModel) -> String {
        "[" + row.from.map { index in
            index < 0 ? "image" : "\(index) " + (model.rows.first { $0.indices.contains(index) }?.module ?? "?")
        }.joined(separator: ", ") + "]"
    }

    func indices(_ left: Int?, _ right: Int?) -> String {
        let text = "\(left.map(String.init) ?? "·") → \(right.map(String.init) ?? "·")"
        return text.padding(toLength: max(text.count, 9), withPad: " ", startingAt: 0)
    }

    func describe(_ row: ComparedModel.Row) -> String {
        "\(row.module) \(row.arguments)  \(row.output.map(describeShape) ?? "?")  "
            + "params \(groupedThousands(row.parameters)), \(String(format: "%.2f", row.gflops ?? 0)) GFLOPs"
    }

    /// What differs between two aligned rows of one module.
    /// `from`: the left row's sources as the right model numbers them (−2: a row with no counterpart).
    func differences(_ left: ComparedModel.Row, _ right: ComparedModel.Row, from: [Int]) -> [String] {
        var changes: [String] = []
        if left.arguments != right.arguments { changes.append("args \(left.arguments) → \(right.arguments)") }
        if from != right.from { changes.append("from \(left.from) → \(right.from)") }
        if left.repeats != right.repeats { changes.append("n \(left.repeats) → \(right.repeats)") }
        let shapes = (left.output.map(describeShape) ?? "?", right.output.map(describeShape) ?? "?")
        if shapes.0 != shapes.1 { changes.append("output \(shapes.0) → \(shapes.1)") }
        if left.parameters != right.parameters {
            changes.append("params " + change(Double(left.parameters), Double(right.parameters), integer: true))
        }
        let flops = (left.gflops ?? 0, right.gflops ?? 0)
        if String(format: "%.2f", flops.0) != String(format: "%.2f", flops.1) { changes.append("GFLOPs " + change(flops.0, flops.1, digits: 2)) }
        return changes
    }

    /// `a → b (+d, +p%)`.
    func change(_ a: Double, _ b: Double, integer: Bool = false, digits: Int = 1) -> String {
        let text = { (value: Double) in integer ? groupedThousands(Int(value)) : String(format: "%.\(digits)f", value) }
        let difference = integer ? (b - a >= 0 ? "+" : "-") + groupedThousands(Int(abs(b - a))) : String(format: "%+.\(digits)f", b - a)
        let percent = a != 0 ? String(format: ", %+.1f%%", (b / a - 1) * 100) : ""
        return "\(text(a)) → \(text(b)) (\(difference)\(percent))"
    }
}

/// One model as `diff` compares it, whichever builder made it: its rows and totals.
struct ComparedModel {
    struct Row {
        var index: Int
        /// The layer indices the row owns (several for a multi-output backbone).
        var indices: Range<Int>
        var module: String
        var arguments: String
        var from: [Int]
        var repeats: Int
        var output: [Int]?
        var parameters: Int
        var gflops: Double?
    }
    var name: String
    var rows: [Row]
    var parameters: Int
    var ultralyticsGFLOPs: Double?
    var gflops: Double?
    var layerCount: Int
    var weightMegabytes: Double

    init(_ graph: ModelGraph) {
        name = graph.spec.name
        rows = graph.layers.map { layer in
            Row(index: layer.index, indices: layer.indices, module: layer.moduleName, arguments: "\(layer.printedArguments)",
                from: layer.from, repeats: layer.repeats, output: layer.outputShapes?.first, parameters: layer.parameterCount, gflops: layer.gflops)
        }
        parameters = graph.parameterCount
        ultralyticsGFLOPs = graph.ultralyticsGFLOPs()
        gflops = graph.gflops
        layerCount = graph.layerCount()
        weightMegabytes = graph.weightBytes(bytesPerElement: 4) / 1e6
    }

    /// A fork YAML as the fork's code built it; per-row GFLOPs are the complete count.
    init(_ summary: ForkSummary, name: String) {
        self.name = name + " (fork mode)"
        rows = summary.rows.enumerated().map { position, row in
            Row(index: row.index, indices: summary.indices(ofRow: position), module: row.module, arguments: row.arguments, from: summary.sources(ofRow: position),
                       repeats: row.repeats, output: row.outputs.first, parameters: row.parameters, gflops: row.gflops)
        }
        parameters = summary.parameters
        ultralyticsGFLOPs = summary.ultralyticsGFLOPs
        gflops = summary.gflops
        layerCount = summary.moduleCount
        weightMegabytes = Double(summary.stateElements) * 4 / 1e6
    }
}
