import ModelSpec

/// A JSON value written with keys in the order given (other tools and our checks read it).
public enum JSONValue: Sendable {
    case int(Int)
    case double(Double)
    case string(String)
    case bool(Bool)
    case null
    case array([JSONValue])
    case object([(String, JSONValue)])

    public func rendered() -> String {
        switch self {
        case .int(let value): return String(value)
        case .double(let value): return value.isFinite ? "\(value)" : "null"
        case .bool(let value): return value ? "true" : "false"
        case .null: return "null"
        case .string(let value): return JSONValue.quote(value)
        case .array(let items): return "[" + items.map { $0.rendered() }.joined(separator: ", ") + "]"
        case .object(let pairs):
            return "{" + pairs.map { JSONValue.quote($0.0) + ": " + $0.1.rendered() }.joined(separator: ", ") + "}"
        }
    }

    static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if scalar.value < 0x20 {
                    out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    init(_ argument: ArgumentValue) {
        switch argument {
        case .int(let value): self = .int(value)
        case .float(let value): self = .double(value)
        case .bool(let value): self = .bool(value)
        case .null: self = .null
        case .string(let value): self = .string(value)
        case .list(let items): self = .array(items.map(JSONValue.init))
        }
    }
}

/// Formats an integer with thousands separators: 18,716,999.
public func groupedThousands(_ value: Int) -> String {
    let digits = String(value.magnitude)
    var out = ""
    for (offset, character) in digits.enumerated() {
        if offset > 0 && (digits.count - offset) % 3 == 0 { out += "," }
        out.append(character)
    }
    return value < 0 ? "-" + out : out
}

extension ModelGraph {
    /// The summary line's layer count: leaf modules as Ultralytics 8.4 counts them, or every
    /// module as the forks that build the community's modules (an older Ultralytics) count them.
    public func layerCount(fused: Bool = false) -> Int {
        usesCommunityModules ? (fused ? fusedModuleCount : moduleCount) : leafLayerCount(fused: fused)
    }
}

/// Which GFLOPs figure a summary shows.
public enum FlopsFigure: String, Sendable, CaseIterable {
    /// What Ultralytics' `model.info()` prints (thop's rules: BatchNorm counted, activations and
    /// functional elementwise work not).
    case ultralytics
    /// Every multiply-add ModelGraph's forward does (attention, DFL, sampling included; BatchNorm
    /// folded).
    case complete
}

extension ModelGraph {
    /// The closing line: `NAME summary: L layers, P parameters, P gradients, G GFLOPs`, with
    /// layers counted as the Ultralytics that builds the model counts them.
    public var summaryLine: String { summaryLine(fused: false) }

    /// The closing line; `fused` counts layers and parameters after Ultralytics' `fuse()`.
    public func summaryLine(fused: Bool, flops figure: FlopsFigure = .ultralytics) -> String {
        let value = figure == .ultralytics ? ultralyticsGFLOPs(fused: fused) : gflops
        let flops = value.map { String(format1: $0) } ?? "?"
        // Ultralytics 8.4 counts leaf modules; the forks that build the community's modules
        // (an older Ultralytics) count every module
        let modules = layerCount(fused: fused)
        let parameters = fused ? fusedParameterCount : parameterCount
        let gradients = layers.reduce(0) { saturatingSum($0, (fused ? $1.fusedTree : $1.tree).trainableParameterCount) }
        return "\(spec.name) summary\(fused ? " (fused)" : ""): \(groupedThousands(modules)) layers, \(groupedThousands(parameters)) parameters, "
            + "\(groupedThousands(gradients)) gradients, \(flops) GFLOPs"
            + (figure == .complete ? " (complete count)" : "")
    }

    /// The Ultralytics-style table plus output shape and GFLOPs columns. Rows of a multi-output
    /// module continue on one line per extra index, so the index map is visible.
    public func summaryTable(fused: Bool = false, flops figure: FlopsFigure = .ultralytics) -> String {
        let ultralytics = figure == .ultralytics ? ultralyticsLayerGFLOPs(fused: fused) : nil
        func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
            text.count >= width ? text : right ? String(repeating: " ", count: width - text.count) + text
                                               : text + String(repeating: " ", count: width - text.count)
        }
        let argumentsWidth = max(30, layers.map { $0.printedArguments.description.count + 2 }.max() ?? 0)
        let moduleWidth = max(16, layers.map { $0.moduleName.count + 2 }.max() ?? 0)
        var lines = [pad("", 3) + pad("from", 20, right: true) + pad("n", 3, right: true) + pad("params", 10, right: true) + "  "
            + pad("module", moduleWidth) + pad("arguments", argumentsWidth) + pad("output", 20) + pad("GFLOPs", 8, right: true)]
        for (position, layer) in layers.enumerated() {
            let written = layer.row.from.map { String($0.value) }
            let from = layer.row.fromIsList ? "[" + written.joined(separator: ", ") + "]" : written.first ?? ""
            let shapes = layer.outputShapes ?? []
            let flops = (figure == .ultralytics ? ultralytics?[position] : layer.gflops).map { String(format2: $0) } ?? "?"
            let first = shapes.first.map(describeShape) ?? "?"
            lines.append(pad(String(layer.index), 3, right: true) + pad(from, 20, right: true) + pad(String(layer.repeats), 3, right: true)
                + pad(String(fused ? layer.fusedTree.parameterCount : layer.parameterCount), 10, right: true) + "  " + pad(layer.moduleName, moduleWidth)
                + pad(layer.printedArguments.description, argumentsWidth) + pad(first, 20) + pad(flops, 8, right: true))
            let (names, results) = (layer.module.outputNames, layer.module.resultNames)
            for offset in shapes.indices.dropFirst() {
                // further indices of a multi-output module are labelled; a tuple's pieces and a
                // head's further results feed no index
                let indexed = offset < layer.outputChannels.count
                let note = indexed ? (offset < names.count ? "↳ output \(offset)" : "")
                    : layer.module.outputGroups != nil ? "↳ tuple[\(offset)]" : offset < results.count ? "↳ \(results[offset])" : ""
                let label = indexed && offset < names.count ? "  " + names[offset] : ""
                lines.append(pad(indexed ? String(layer.index + offset) : "", 3, right: true) + String(repeating: " ", count: 20 + 3 + 10 + 2 + moduleWidth)
                    + pad(note, argumentsWidth) + pad(describeShape(shapes[offset]), 20) + label)
            }
        }
        return lines.joined(separator: "\n")
    }

    /// The `--json` object: model, input, parameters, gflops (the complete count), gflops_ultralytics
    /// (what `model.info()` prints), layers.
    public func summaryJSON(fused: Bool = false) -> JSONValue {
        .object([
            ("model", .string(spec.name)),
            ("input", .array(inputShape.map(JSONValue.int))),
            ("parameters", .int(fused ? fusedParameterCount : parameterCount)),
            ("gflops", gflops.map(JSONValue.double) ?? .null),
            ("gflops_ultralytics", ultralyticsGFLOPs(fused: fused).map(JSONValue.double) ?? .null),
            ("memory", memoryJSON(fused: fused)),
            ("layers", .array(layers.map { layer in
                .object([
                    ("index", .int(layer.index)),
                    ("from", .array(layer.from.map(JSONValue.int))),
                    ("repeats", .int(layer.repeats)),
                    ("module", .string(layer.moduleName)),
                    ("arguments", .array(layer.printedArguments.map(JSONValue.init))),
                    ("parameters", .int(fused ? layer.fusedTree.parameterCount : layer.parameterCount)),
                    ("outputs", .array((layer.outputShapes ?? []).map { .array($0.map(JSONValue.int)) })),
                ])
            })),
        ])
    }
}

extension String {
    init(format1 value: Double) { self = String(fixed: value, digits: 1) }
    init(format2 value: Double) { self = String(fixed: value, digits: 2) }

    /// Fixed-point formatting without Foundation.
    init(fixed value: Double, digits: Int) {
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let scaled = (abs(value) * scale).rounded()
        // beyond 2^53 a Double holds no fractional digits (and past Int.max it cannot become one)
        guard scaled.isFinite, scaled < 9e15 else {
            self = value.isNaN ? "nan" : "\(value)"
            return
        }
        let whole = Int(scaled / scale)
        let fraction = Int(scaled - Double(whole) * scale)
        var fractionText = String(fraction)
        while fractionText.count < digits { fractionText = "0" + fractionText }
        self = (value < 0 && scaled != 0 ? "-" : "") + String(whole) + (digits > 0 ? "." + fractionText : "")
    }
}
