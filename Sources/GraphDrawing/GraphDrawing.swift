import CGraphviz
import Foundation
import ModelGraph
import ModelSpec
import YAMLFrontEnd

/// A built graph as a picture: its description in Graphviz's DOT language (a node per row with
/// its index, module, arguments, output shape, parameters and GFLOPs; an edge per `from`
/// entry, from the source's own port when a backbone has several outputs; the image and the
/// outputs), and Graphviz's own layout and rendering of it, in process.
public struct GraphDrawing: Sendable {
    public let dot: String
    /// Nodes and edges of the description (rows, rows that failed, the image, the outputs).
    public let nodeCount: Int
    public let edgeCount: Int

    /// `expand`: list each module's inner blocks (its PyTorch children) in its node. Rows whose
    /// checks failed are drawn in red with their message; rows that did not build at all too.
    public init(_ graph: ModelGraph, expand: Bool = false) {
        var lines = ["digraph model {",
                     "  graph [rankdir=TB, fontname=\"Helvetica\", nodesep=0.25, ranksep=0.35, label=\(quoted(graph.spec.name + " — " + (graph.summaryLine.split(separator: ":").last.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""))), labelloc=t];",
                     "  node [shape=plaintext, fontname=\"Helvetica\", fontsize=10];",
                     "  edge [color=\"#555555\", arrowsize=0.6];"]
        var (nodes, edges) = (0, 0)
        let gflops = graph.ultralyticsLayerGFLOPs()
        let problems = Dictionary(grouping: graph.errors.filter { $0.layerIndex != nil }, by: { $0.layerIndex! })
        lines.append("  image [label=<\(table(rows: [["<b>image</b>"], [describeShape(graph.inputShape)]], color: "#e8f0fe"))>];")
        nodes += 1
        // where each index lives: the node and, for a multi-output row, its port
        var owner: [Int: String] = [-1: "image"]
        var nextIndex = 0
        var position = 0  // of the next built layer
        for row in graph.spec.rows {
            if position < graph.layers.count, graph.layers[position].row.row == row.row {
                let layer = graph.layers[position]
                defer { position += 1 }
                nextIndex = layer.indices.upperBound
                let id = "L\(layer.index)"
                let shapes = layer.outputShapes ?? []
                let failed = problems[layer.index]
                var cells: [[String]] = [["<b>\(layer.index)  \(escape(layer.moduleName))</b>"]]
                let arguments = layer.printedArguments.map { "\($0)" }.joined(separator: ", ")
                if !arguments.isEmpty { cells.append([escape(wrapped("[" + arguments + "]"))]) }
                if layer.indices.count > 1 {
                    // one port per feature map of a multi-output backbone
                    cells.append(shapes.prefix(layer.indices.count).enumerated().map { offset, shape in
                        "PORT:o\(offset):\(layer.index + offset): \(describeShape(shape))"
                    })
                } else {
                    cells.append([shapes.isEmpty ? "?" : shapes.map(describeShape).joined(separator: " + ")])
                }
                let flops = gflops.map { String(format: "%.2f", $0[position]) } ?? "?"
                cells.append(["\(groupedThousands(layer.parameterCount)) params · \(flops) GFLOPs"])
                if expand {
                    for child in layer.tree.children {
                        cells.append(["<font point-size=\"8\">\(escape(child.name)): \(escape(child.typeName)) · \(groupedThousands(child.parameterCount))</font>"])
                    }
                }
                if let failed { cells.append(contentsOf: failed.map { ["<font color=\"#b00020\">\(escape(wrapped($0.message)))</font>"] }) }
                lines.append("  \(id) [label=<\(table(rows: cells, color: failed == nil ? "#ffffff" : "#fde7e9", border: failed == nil ? "#888888" : "#b00020"))>];")
                nodes += 1
                for (offset, index) in layer.indices.enumerated() {
                    owner[index] = layer.indices.count > 1 ? "\(id):o\(offset)" : id
                }
                for source in layer.from {
                    lines.append("  \(owner[source] ?? "image") -> \(id);")
                    edges += 1
                }
            } else {
                // a row that did not build: its message, in red, fed from the sources it names
                let index = nextIndex
                nextIndex += 1
                let id = "L\(index)"
                let messages = (problems[index] ?? []).map { escape(wrapped($0.message)) }
                lines.append("  \(id) [label=<\(table(rows: [["<b>\(index)  \(escape(row.module.value))</b>"]] + messages.map { ["<font color=\"#b00020\">\($0)</font>"] }, color: "#fde7e9", border: "#b00020"))>];")
                nodes += 1
                owner[index] = id
                for written in row.from.map(\.value) {
                    let source = written < 0 ? index + written : written
                    guard let from = owner[index == 0 && written == -1 ? -1 : source] else { continue }
                    lines.append("  \(from) -> \(id) [color=\"#b00020\"];")
                    edges += 1
                }
            }
        }
        if let last = graph.layers.last, graph.errors.isEmpty {
            GraphDrawing.appendOutput(last.outputShapes ?? [], after: last.index, to: &lines, nodes: &nodes, edges: &edges)
        }
        lines.append("}")
        dot = lines.joined(separator: "\n") + "\n"
        nodeCount = nodes
        edgeCount = edges
    }

    /// The output node, fed by the last row.
    static func appendOutput(_ shapes: [[Int]], after index: Int, to lines: inout [String], nodes: inout Int, edges: inout Int) {
        lines.append("  output [label=<\(table(rows: [["<b>output</b>"], [shapes.map(describeShape).joined(separator: " + ")]], color: "#e6f4ea"))>];")
        lines.append("  L\(index) -> output;")
        nodes += 1
        edges += 1
    }

    /// One row of a model another builder made (fork mode): what its node shows.
    public struct Row: Sendable {
        public var index: Int
        /// The layer indices the row owns; more than one for a multi-output backbone, whose
        /// feature maps are the last of them.
        public var indices: Range<Int>
        public var module: String
        public var arguments: String
        /// Absolute indices of the sources; −1 is the image.
        public var from: [Int]
        public var outputs: [[Int]]
        public var parameters: Int
        public var gflops: Double?
        public init(index: Int, indices: Range<Int>, module: String, arguments: String, from: [Int], outputs: [[Int]], parameters: Int, gflops: Double?) {
            self.index = index; self.indices = indices; self.module = module; self.arguments = arguments
            self.from = from; self.outputs = outputs; self.parameters = parameters; self.gflops = gflops
        }
    }

    /// The same picture for rows built elsewhere: `title` heads it, `failure` (the forward pass's
    /// error, when it failed) is drawn in red below the rows and leaves the output out.
    public init(title: String, input: [Int], rows: [Row], output: [[Int]], failure: String? = nil) {
        var lines = ["digraph model {",
                     "  graph [rankdir=TB, fontname=\"Helvetica\", nodesep=0.25, ranksep=0.35, label=\(quoted(title)), labelloc=t];",
                     "  node [shape=plaintext, fontname=\"Helvetica\", fontsize=10];",
                     "  edge [color=\"#555555\", arrowsize=0.6];"]
        var (nodes, edges) = (0, 0)
        lines.append("  image [label=<\(table(rows: [["<b>image</b>"], [describeShape(input)]], color: "#e8f0fe"))>];")
        nodes += 1
        var owner: [Int: String] = [-1: "image"]
        for row in rows {
            let id = "L\(row.index)"
            var cells: [[String]] = [["<b>\(row.index)  \(escape(row.module))</b>"]]
            if !row.arguments.isEmpty, row.arguments != "[]" { cells.append([escape(wrapped(row.arguments))]) }
            // a multi-output row's feature maps are its last indices, one port each
            let ported = row.indices.count > 1 && row.outputs.count > 1
            let firstPorted = row.indices.upperBound - row.outputs.count
            if ported {
                cells.append(row.outputs.enumerated().map { offset, shape in
                    "PORT:o\(offset):\(firstPorted + offset): \(describeShape(shape))"
                })
            } else {
                cells.append([row.outputs.isEmpty ? "?" : row.outputs.map(describeShape).joined(separator: " + ")])
            }
            cells.append(["\(groupedThousands(row.parameters)) params · \(row.gflops.map { String(format: "%.2f", $0) } ?? "?") GFLOPs"])
            lines.append("  \(id) [label=<\(table(rows: cells, color: "#ffffff"))>];")
            nodes += 1
            for index in row.indices {
                owner[index] = ported && index >= firstPorted ? "\(id):o\(index - firstPorted)" : id
            }
            for source in row.from {
                lines.append("  \(owner[source] ?? "image") -> \(id);")
                edges += 1
            }
        }
        if let failure {
            lines.append("  failure [label=<\(table(rows: [["<font color=\"#b00020\">\(escape(wrapped(failure)))</font>"]], color: "#fde7e9", border: "#b00020"))>];")
            nodes += 1
        } else if let last = rows.last {
            GraphDrawing.appendOutput(output, after: last.index, to: &lines, nodes: &nodes, edges: &edges)
        }
        lines.append("}")
        dot = lines.joined(separator: "\n") + "\n"
        nodeCount = nodes
        edgeCount = edges
    }

    /// Lays the graph out with Graphviz's `dot` and renders it in `format` (svg, png, pdf, dot);
    /// returns the bytes, or Graphviz's complaint.
    public func render(format: String) -> Result<[UInt8], DrawingError> {
        guard let context = gvContext() else { return .failure(DrawingError("Graphviz could not start (gvContext)")) }
        defer { gvFreeContext(context) }
        guard let graph = dot.withCString({ agmemread($0) }) else { return .failure(DrawingError("Graphviz could not read the graph description")) }
        defer { agclose(graph) }
        guard gvLayout(context, graph, "dot") == 0 else { return .failure(DrawingError("Graphviz's dot layout failed")) }
        defer { gvFreeLayout(context, graph) }
        var buffer: UnsafeMutablePointer<CChar>?
        var length: UInt32 = 0
        guard gvRenderData(context, graph, format, &buffer, &length) == 0, let buffer else {
            return .failure(DrawingError("Graphviz cannot render \(format) here (its plugin for that format is missing)"))
        }
        defer { gvFreeRenderData(buffer) }
        return .success(Array(UnsafeBufferPointer(start: UnsafeRawPointer(buffer).assumingMemoryBound(to: UInt8.self), count: Int(length))))
    }
}

public struct DrawingError: Error, Sendable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// An HTML-like table label: one row per entry, cells side by side within a row; a cell
/// written `PORT:name:text` becomes a port.
private func table(rows: [[String]], color: String, border: String = "#888888") -> String {
    var html = "<table border=\"1\" cellborder=\"0\" cellspacing=\"0\" cellpadding=\"3\" bgcolor=\"\(color)\" color=\"\(border)\">"
    let columns = rows.map(\.count).max() ?? 1
    for row in rows {
        html += "<tr>"
        for cell in row {
            let span = row.count == 1 && columns > 1 ? " colspan=\"\(columns)\"" : ""
            if cell.hasPrefix("PORT:") {
                let parts = cell.dropFirst(5).split(separator: ":", maxSplits: 1)
                html += "<td port=\"\(parts[0])\" border=\"1\"\(span)>\(escape(String(parts.count > 1 ? parts[1] : "")))</td>"
            } else {
                html += "<td\(span)>\(cell)</td>"
            }
        }
        html += "</tr>"
    }
    return html + "</table>"
}

private func escape(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\n", with: "<br/>")
}

private func quoted(_ text: String) -> String {
    "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
}

/// Long argument lists and messages broken at commas or spaces every ~48 characters.
private func wrapped(_ text: String, width: Int = 48) -> String {
    var lines: [String] = [], current = ""
    for word in text.split(separator: " ", omittingEmptySubsequences: false) {
        if current.count + word.count + 1 > width, !current.isEmpty {
            lines.append(current)
            current = ""
        }
        current += current.isEmpty ? String(word) : " " + word
    }
    lines.append(current)
    return lines.joined(separator: "\n")
}
