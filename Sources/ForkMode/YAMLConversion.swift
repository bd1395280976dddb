import PythonInterpreter
import YAMLFrontEnd

/// A YAML document as PyYAML's safe loader gives it to Python (YAML 1.1 scalars).
enum YAMLConversion {
    static func value(_ node: YAMLNode) -> PyValue {
        switch node.kind {
        case .scalar(let text, let style):
            return python(YAMLScalar.resolve(text, style: style, tag: node.tag))
        case .sequence(let items):
            return .list(items.map(value))
        case .mapping(let pairs):
            let dict = PyDict()
            for pair in pairs { dict[value(pair.key)] = value(pair.value) }
            return .object(dict)
        }
    }

    /// A typed scalar as the Python value PyYAML gives.
    static func python(_ scalar: YAMLScalar) -> PyValue {
        switch scalar {
        case .null: .none
        case .bool(let value): .bool(value)
        case .int(let value): .int(value)
        case .float(let value): .float(value)
        case .string(let value): .str(value)
        }
    }

    /// A node written back in flow style, for the summary's arguments column.
    static func flowText(_ node: YAMLNode) -> String {
        switch node.kind {
        case .scalar(let text, let style): return style == .plain ? text : "'\(text)'"
        case .sequence(let items): return "[" + items.map(flowText).joined(separator: ", ") + "]"
        case .mapping(let pairs): return "{" + pairs.map { flowText($0.key) + ": " + flowText($0.value) }.joined(separator: ", ") + "}"
        }
    }
}
