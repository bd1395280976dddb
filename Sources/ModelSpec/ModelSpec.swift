import YAMLFrontEnd

/// A value with the place it was written.
public struct Located<Value: Sendable & Hashable>: Sendable, Hashable {
    public var value: Value
    public var location: SourceLocation

    public init(_ value: Value, at location: SourceLocation) {
        self.value = value
        self.location = location
    }
}

/// One `[from, repeats, module, args]` row of `backbone:` or `head:`.
public struct LayerRow: Sendable, Hashable {
    public enum Section: String, Sendable { case backbone, head }

    /// Position among all rows (backbone first); PyTorch's `model.N` prefix uses it.
    public var row: Int
    public var section: Section
    public var location: SourceLocation
    /// Sources as written: -1 is the previous layer (or the image for the first row).
    public var from: [Located<Int>]
    /// Whether `from` was written as a list (Concat-like rows) or a single int.
    public var fromIsList: Bool
    public var fromLocation: SourceLocation
    public var repeats: Located<Int>
    public var module: Located<String>
    public var arguments: [Argument]
    public var argumentsLocation: SourceLocation
}

/// One entry of `scales:` — `name: [depth, width, max_channels]`.
public struct Scale: Sendable, Hashable {
    public var name: String
    public var depth: Double
    public var width: Double
    public var maxChannels: Int
    public var location: SourceLocation
}

/// The typed content of an Ultralytics-style model YAML file.
public struct ModelSpec: Sendable {
    public var file: String
    /// The file's stem, as Ultralytics names a model in its summary.
    public var name: String
    public var classCount: Located<Int>?
    public var inputChannels: Int
    public var scales: [Scale]
    public var depthMultiple: Double
    public var widthMultiple: Double
    public var rows: [LayerRow]
    /// `reg_max`: DFL bins of the Detect family (Ultralytics' default 16 when absent).
    public var regressionMaximum: Int?
    /// `end2end`: whether Detect-family heads get one-to-one branches (None when absent).
    public var endToEnd: Bool?
    /// `activation:` (YOLOv6's `torch.nn.ReLU()`): the torch.nn class that replaces Ultralytics'
    /// `Conv.default_act` while the model is built; nil keeps SiLU.
    public var defaultActivation: Located<String>?
    /// Warnings found while reading (unknown top-level keys), for the caller to show.
    public var warnings: [Diagnostic] = []

    /// Depth, width and channel cap for a scale name (nil = the first listed), with a note
    /// telling the user which scale was taken by default.
    public func scaleFactors(_ requested: String?) throws(Diagnostic) -> (depth: Double, width: Double, maxChannels: Int?, chosen: Scale?, note: String?) {
        if scales.isEmpty {
            if let requested {
                throw Diagnostic(file: file, location: nil, message: "--scale \(requested) given, but the file has no `scales:`")
            }
            return (depthMultiple, widthMultiple, nil, nil, nil)
        }
        if let requested {
            guard let scale = scales.first(where: { $0.name == requested }) else {
                throw Diagnostic(file: file, location: scales[0].location,
                                 message: "no scale '\(requested)'; the file lists \(scales.map(\.name).joined(separator: ", "))")
            }
            return (scale.depth, scale.width, scale.maxChannels, scale, nil)
        }
        let first = scales[0]
        let note = scales.count > 1
            ? "no --scale given, using '\(first.name)', the first of \(scales.map(\.name).joined(separator: ", "))"
            : "no --scale given, using '\(first.name)', the only scale listed"
        return (first.depth, first.width, first.maxChannels, first, note)
    }
}

extension ModelSpec {
    /// The torch.nn activations `activation:` may name.
    public static let supportedActivations = ["SiLU", "ReLU", "ReLU6", "GELU", "Sigmoid", "Identity"]

    static let knownKeys = ["nc", "ch", "channels", "scales", "depth_multiple", "width_multiple", "max_channels",
                            "backbone", "head", "activation", "kpt_shape", "anchors", "reg_max", "end2end",
                            // YOLOE-26's text encoder name: read by Ultralytics' predictor, not the model
                            "text_model"]

    /// Reads a model file's YAML text. Every problem found is reported, each with its line:column.
    public static func parse(_ text: String, file: String, name: String? = nil) throws(DiagnosticList) -> ModelSpec {
        let root: YAMLNode
        do {
            root = try YAMLParser.parse(text, file: file)
        } catch {
            throw DiagnosticList([error])
        }
        var reader = SpecReader(file: file)
        guard var spec = reader.read(root, name: name ?? stem(of: file)),
              reader.diagnostics.allSatisfy({ $0.severity != .error }) else {
            throw DiagnosticList(reader.diagnostics)
        }
        spec.warnings = reader.diagnostics
        return spec
    }

    static func stem(of path: String) -> String {
        let base = path.split(separator: "/").last.map(String.init) ?? path
        for suffix in [".yaml", ".yml"] where base.hasSuffix(suffix) {
            return String(base.dropLast(suffix.count))
        }
        return base
    }
}

private struct SpecReader {
    let file: String
    var diagnostics: [Diagnostic] = []

    init(file: String) {
        self.file = file
    }

    mutating func error(_ location: SourceLocation?, _ message: String) {
        diagnostics.append(Diagnostic(file: file, location: location, message: message))
    }

    mutating func read(_ root: YAMLNode, name: String) -> ModelSpec? {
        guard let pairs = root.mapping else {
            error(root.location, "a model file is a mapping with `backbone:` and `head:`, found \(root.kindDescription)")
            return nil
        }
        for pair in pairs {
            guard let key = pair.key.scalar else {
                error(pair.key.location, "top-level keys are names, found \(pair.key.kindDescription)")
                continue
            }
            if !ModelSpec.knownKeys.contains(key) {
                let hint = nearestNames(to: key, in: ModelSpec.knownKeys, limit: 1).first.map { " (did you mean '\($0)'?)" } ?? ""
                diagnostics.append(Diagnostic(.warning, file: file, location: pair.key.location,
                                              message: "unknown key '\(key)' is ignored\(hint)"))
            }
        }

        var classCount: Located<Int>?
        if let node = root["nc"] {
            if let value = integer(node), value >= 1, value <= Limits.largestNumber {
                classCount = Located(value, at: node.location)
            } else {
                error(node.location, "`nc` is the number of classes, a positive int; found \(node.kindDescription)")
            }
        }
        var inputChannels = 3
        if let node = root["ch"] ?? root["channels"] {
            if let value = integer(node), value >= 1, value <= Limits.largestNumber {
                inputChannels = value
            } else {
                error(node.location, "`ch` is the number of input channels, a positive int; found \(node.kindDescription)")
            }
        }
        let depth = multiplier(root["depth_multiple"], key: "depth_multiple")
        let width = multiplier(root["width_multiple"], key: "width_multiple")
        var scales: [Scale] = []
        if let node = root["scales"] {
            scales = readScales(node)
        }
        var regressionMaximum: Int?
        if let node = root["reg_max"] {
            if let value = integer(node), value >= 1, value <= 1024 {
                regressionMaximum = value
            } else {
                error(node.location, "`reg_max` is the number of DFL bins, an int from 1 to 1024; found \(node.kindDescription)")
            }
        }
        var endToEnd: Bool?
        if let node = root["end2end"] {
            switch node.scalar {
            case "True", "true": endToEnd = true
            case "False", "false": endToEnd = false
            case "None", "null", "~": endToEnd = nil
            default: error(node.location, "`end2end` is True or False; found \(node.kindDescription)")
            }
        }
        let defaultActivation = root["activation"].flatMap { readActivation($0) }
        // parse_model resolves a string argument by its local variables first: `nc` and `kpt_shape`
        var symbols: [String: Argument] = [:]
        if let classCount { symbols["nc"] = Argument(value: .int(classCount.value), location: classCount.location, symbol: "nc") }
        if let node = root["kpt_shape"] {
            if let items = node.sequence, items.count == 2, let count = integer(items[0]), let dimensions = integer(items[1]),
               count >= 1, count <= Limits.largestNumber, dimensions == 2 || dimensions == 3 {
                symbols["kpt_shape"] = Argument(value: .list([.int(count), .int(dimensions)]), location: node.location, symbol: "kpt_shape")
            } else {
                error(node.location, "`kpt_shape` is [keypoints, dims] with dims 2 (x, y) or 3 (x, y, visible); found \(node.kindDescription)")
            }
        }
        var rows: [LayerRow] = []
        for section in [LayerRow.Section.backbone, .head] {
            guard let node = root[section.rawValue] else {
                error(root.location, "missing `\(section.rawValue):`, a list of [from, repeats, module, args] rows")
                continue
            }
            guard let items = node.sequence else {
                error(node.location, "`\(section.rawValue):` is a list of [from, repeats, module, args] rows, found \(node.kindDescription)")
                continue
            }
            for item in items {
                if let row = readRow(item, index: rows.count, section: section, symbols: symbols) {
                    rows.append(row)
                } else {
                    // keep indices stable so later rows still report the right layer
                    rows.append(LayerRow(row: rows.count, section: section, location: item.location, from: [], fromIsList: false,
                                         fromLocation: item.location, repeats: Located(1, at: item.location),
                                         module: Located("?", at: item.location), arguments: [], argumentsLocation: item.location))
                }
            }
        }
        if rows.isEmpty, diagnostics.allSatisfy({ $0.severity != .error }) {
            error(root.location, "the model has no layers: `backbone:` and `head:` are empty")
        }
        return ModelSpec(file: file, name: name, classCount: classCount, inputChannels: inputChannels, scales: scales,
                         depthMultiple: depth, widthMultiple: width, rows: rows, regressionMaximum: regressionMaximum,
                         endToEnd: endToEnd, defaultActivation: defaultActivation)
    }

    /// `[torch.]nn.Class()` (optionally `inplace=…`) → the class name, for the activations
    /// ModelGraph computes; anything else is reported at the value.
    mutating func readActivation(_ node: YAMLNode) -> Located<String>? {
        let supported = ModelSpec.supportedActivations
        guard let text = node.scalar else {
            error(node.location, "`activation` is a torch.nn activation such as nn.ReLU(); found \(node.kindDescription)")
            return nil
        }
        var body = Substring(text.filter { $0 != " " })
        if body.hasPrefix("torch.") { body = body.dropFirst(6) }
        guard body.hasPrefix("nn."), let open = body.firstIndex(of: "("), body.hasSuffix(")") else {
            error(node.location, "`activation` is written as a torch.nn call such as nn.ReLU() (Ultralytics accepts only `[torch.]nn.Class(args)`); found '\(text)'")
            return nil
        }
        let name = String(body[body.index(body.startIndex, offsetBy: 3)..<open])
        let arguments = String(body[body.index(after: open)..<body.index(before: body.endIndex)])
        guard supported.contains(name) else {
            error(node.location, "activation nn.\(name) is not one ModelGraph computes; supported: \(supported.map { "nn.\($0)()" }.joined(separator: ", "))")
            return nil
        }
        guard ["", "True", "False", "inplace=True", "inplace=False"].contains(arguments) else {
            error(node.location, "nn.\(name) takes no arguments here except inplace; found '\(arguments)'")
            return nil
        }
        return Located(name, at: node.location)
    }

    func integer(_ node: YAMLNode) -> Int? {
        guard let text = node.scalar, case .int(let value)? = ScalarReader.number(text) else { return nil }
        return value
    }

    func double(_ node: YAMLNode) -> Double? {
        guard let text = node.scalar else { return nil }
        switch ScalarReader.number(text) {
        case .int(let value)?: return Double(value)
        case .float(let value)?: return value
        default: return nil
        }
    }

    mutating func multiplier(_ node: YAMLNode?, key: String) -> Double {
        guard let node else { return 1.0 }
        guard let value = double(node), value > 0, value <= Limits.largestMultiplier else {
            error(node.location, "`\(key)` is a positive number up to \(Int(Limits.largestMultiplier)), found \(node.kindDescription)")
            return 1.0
        }
        return value
    }

    mutating func readScales(_ node: YAMLNode) -> [Scale] {
        guard let pairs = node.mapping else {
            error(node.location, "`scales:` maps a scale name to [depth, width, max_channels], found \(node.kindDescription)")
            return []
        }
        var scales: [Scale] = []
        for pair in pairs {
            let name = pair.key.scalar ?? "?"
            guard let items = pair.value.sequence, items.count == 3,
                  let depth = double(items[0]), let width = double(items[1]), let maxChannels = integer(items[2]),
                  depth > 0, width > 0, maxChannels > 0, depth <= Limits.largestMultiplier, width <= Limits.largestMultiplier,
                  maxChannels <= Limits.largestNumber else {
                error(pair.value.location, "scale '\(name)' must be [depth, width, max_channels] with positive numbers (multiples up to \(Int(Limits.largestMultiplier)), channels up to \(Limits.largestNumber)), found \(pair.value.kindDescription)")
                continue
            }
            scales.append(Scale(name: name, depth: depth, width: width, maxChannels: maxChannels, location: pair.key.location))
        }
        return scales
    }

    mutating func readRow(_ node: YAMLNode, index: Int, section: LayerRow.Section, symbols: [String: Argument]) -> LayerRow? {
        guard let items = node.sequence else {
            error(node.location, "row \(index) of `\(section.rawValue):` must be [from, repeats, module, args], found \(node.kindDescription)")
            return nil
        }
        guard items.count == 4 else {
            error(node.location, "row \(index) of `\(section.rawValue):` must have 4 entries [from, repeats, module, args], found \(items.count)")
            return nil
        }
        var ok = true
        var from: [Located<Int>] = []
        var fromIsList = false
        if let value = integer(items[0]) {
            from = [Located(value, at: items[0].location)]
        } else if let list = items[0].sequence, !list.isEmpty {
            fromIsList = true
            for entry in list {
                if let value = integer(entry) {
                    from.append(Located(value, at: entry.location))
                } else {
                    error(entry.location, "row \(index): `from` entries are layer indices (ints), found \(entry.kindDescription)")
                    ok = false
                }
            }
        } else {
            error(items[0].location, "row \(index): `from` is a layer index or a list of them, found \(items[0].kindDescription)")
            ok = false
        }
        var repeats = Located(1, at: items[1].location)
        if let value = integer(items[1]), value >= 1, value <= Limits.largestRepeats {
            repeats.value = value
        } else {
            error(items[1].location, "row \(index): `repeats` is an int from 1 to \(Limits.largestRepeats), found \(items[1].kindDescription)")
            ok = false
        }
        guard let module = items[2].scalar, !module.isEmpty else {
            error(items[2].location, "row \(index): the module is a name such as Conv, found \(items[2].kindDescription)")
            return nil
        }
        var arguments: [Argument] = []
        if let list = items[3].sequence {
            for entry in list {
                if let argument = readArgument(entry, symbols: symbols, row: index) {
                    arguments.append(argument)
                } else {
                    ok = false
                }
            }
        } else if items[3].scalar.map({ ScalarReader.nullWords.contains($0) }) == true {
            // `[-1, 1, Concat, ]` or null args: no arguments
        } else {
            error(items[3].location, "row \(index): `args` is a list, found \(items[3].kindDescription)")
            ok = false
        }
        guard ok else { return nil }
        return LayerRow(row: index, section: section, location: node.location, from: from, fromIsList: fromIsList,
                        fromLocation: items[0].location, repeats: repeats, module: Located(module, at: items[2].location),
                        arguments: arguments, argumentsLocation: items[3].location)
    }

    mutating func readArgument(_ node: YAMLNode, symbols: [String: Argument], row: Int) -> Argument? {
        switch node.kind {
        case .scalar(let text, let style):
            if ["nc", "kpt_shape"].contains(text) {
                guard let symbol = symbols[text] else {
                    if diagnostics.contains(where: { $0.message.hasPrefix("`\(text)`") }) { return nil }  // already reported
                    error(node.location, "row \(row): argument `\(text)` used, but the file sets no top-level `\(text):`")
                    return nil
                }
                return Argument(value: symbol.value, location: node.location, symbol: text)
            }
            return Argument(value: ScalarReader.value(of: text, plain: style == .plain && node.tag == nil), location: node.location)
        case .sequence(let items):
            var values: [ArgumentValue] = []
            for item in items {
                guard let argument = readArgument(item, symbols: symbols, row: row) else { return nil }
                values.append(argument.value)
            }
            return Argument(value: .list(values), location: node.location)
        case .mapping:
            error(node.location, "row \(row): an argument cannot be a mapping")
            return nil
        }
    }
}

/// Names from `candidates` closest to `name` by edit distance (case-insensitive), best first.
public func nearestNames(to name: String, in candidates: [String], limit: Int = 3) -> [String] {
    let target = Array(name.lowercased())
    let threshold = max(2, target.count / 2)
    let scored = candidates.compactMap { candidate -> (String, Int)? in
        let other = Array(candidate.lowercased())
        // the distance is at least the difference in length
        guard abs(other.count - target.count) <= threshold else { return nil }
        var previous = Array(0...other.count)
        for (i, a) in target.enumerated() {
            var current = [i + 1] + Array(repeating: 0, count: other.count)
            for (j, b) in other.enumerated() {
                current[j + 1] = min(previous[j + 1] + 1, current[j] + 1, previous[j] + (a == b ? 0 : 1))
            }
            previous = current
        }
        return (candidate, previous[other.count])
    }
    let near = scored.filter { $0.1 <= threshold }
    // only the closest: with a large vocabulary a typo is nearer to one name than to the rest
    guard let best = near.map(\.1).min() else { return [] }
    return near.filter { $0.1 == best }.sorted { $0.0 < $1.0 }.prefix(limit).map(\.0)
}
