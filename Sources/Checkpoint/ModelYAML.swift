/// The model YAML a checkpoint carries (`model.yaml`, the dict `yaml.safe_load` made), written
/// back as YAML text so the ordinary front end reads it — its diagnostics then point at lines
/// of this text, which `modelgraph convert --yaml` and `info` show.
public struct ModelYAML: Sendable {
    /// The YAML text (without `scale` and `yaml_file`, which are returned apart).
    public var text: String
    /// `scale`: the scale the model was built at (Ultralytics' parse_model reads it first).
    public var scale: String?
    /// `yaml_file`: the file the model was made from (`yolov8n.yaml`).
    public var sourceFile: String?

    public init(_ value: PickleValue, file: String) throws(CheckpointError) {
        guard let dict = value.dictionary else {
            throw CheckpointError(file: file, "the model's `yaml` is \(describe(value)), not a dict")
        }
        var lines: [String] = []
        var budget = UltralyticsCheckpoint.largestWalk
        for (key, item) in dict.pairs {
            guard let name = key.string else { continue }
            switch name {
            case "scale": scale = item.string
            case "yaml_file": sourceFile = item.string ?? describe(item)
            default:
                let emitted = Self.scalarKey(name)
                if let rows = item.items, !rows.isEmpty, rows.allSatisfy({ $0.items != nil }), item.dictionary == nil {
                    lines.append("\(emitted):")
                    for row in rows { lines.append("  - " + (try Self.flow(row, depth: 0, budget: &budget, file: file))) }
                } else if let inner = item.dictionary {
                    lines.append("\(emitted):")
                    for (innerKey, innerValue) in inner.pairs {
                        lines.append("  \(Self.scalarKey(innerKey.string ?? describe(innerKey))): "
                                     + (try Self.flow(innerValue, depth: 0, budget: &budget, file: file)))
                    }
                } else {
                    lines.append("\(emitted): " + (try Self.flow(item, depth: 0, budget: &budget, file: file)))
                }
            }
        }
        text = lines.joined(separator: "\n") + "\n"
    }

    static func scalarKey(_ name: String) -> String { plain(name) ? name : quoted(name) }

    /// A value in flow style: `[-1, 1, Conv, [64, 3, 2]]`.
    static func flow(_ value: PickleValue, depth: Int, budget: inout Int, file: String) throws(CheckpointError) -> String {
        budget -= 1
        guard depth < 32, budget > 0 else {
            throw CheckpointError(file: file, "the model's `yaml` is nested more than 32 deep or too large (a recursive or hostile pickle)")
        }
        switch value {
        case .none: return "null"
        case .bool(let flag): return flag ? "True" : "False"
        case .int(let number): return String(number)
        case .float(let number):
            if number.isNaN { return ".nan" }
            if number.isInfinite { return number > 0 ? ".inf" : "-.inf" }
            var text = String(number)
            // YAML 1.1 resolves a float only with a dot: 1e-05 → 1.0e-05
            if !text.contains("."), let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) { text.insert(contentsOf: ".0", at: e) }
            return text
        case .string(let text): return plain(text) ? text : quoted(text)
        case .list, .tuple, .set:
            var parts: [String] = []
            for item in value.items ?? [] { parts.append(try flow(item, depth: depth + 1, budget: &budget, file: file)) }
            return "[" + parts.joined(separator: ", ") + "]"
        case .dict(let dict):
            var parts: [String] = []
            for (key, item) in dict.pairs {
                parts.append(try flow(key, depth: depth + 1, budget: &budget, file: file) + ": "
                             + (try flow(item, depth: depth + 1, budget: &budget, file: file)))
            }
            return "{" + parts.joined(separator: ", ") + "}"
        default:
            throw CheckpointError(file: file, "the model's `yaml` holds \(describe(value)), which is not YAML data")
        }
    }

    /// Text YAML reads back as the same string without quotes: identifiers and dotted names
    /// (`Conv`, `nn.Upsample`, `nearest`, `None` — which Ultralytics' YAMLs use as a string).
    static func plain(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, first.properties.isAlphabetic || first == "_" else { return false }
        let reserved: Set<String> = ["true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"]
        if reserved.contains(text.lowercased()) { return false }
        return text.unicodeScalars.allSatisfy { ($0.properties.isAlphabetic || $0.properties.numericType != nil || $0 == "_" || $0 == ".") && $0.isASCII }
    }

    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 { out += "\\x" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16) } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out + "\""
    }
}
