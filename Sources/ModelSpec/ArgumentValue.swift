import YAMLFrontEnd

/// A module argument as Ultralytics sees it after `yaml.safe_load` and `ast.literal_eval`.
public enum ArgumentValue: Sendable, Hashable, CustomStringConvertible {
    case int(Int)
    case float(Double)
    case bool(Bool)
    case null
    case string(String)
    case list([ArgumentValue])

    /// Python's `repr`, so the summary's arguments column reads like Ultralytics'.
    public var description: String {
        switch self {
        case .int(let value): return String(value)
        case .float(let value): return pythonFloat(value)
        case .bool(let value): return value ? "True" : "False"
        case .null: return "None"
        case .string(let value): return "'\(value)'"
        case .list(let items): return "[" + items.map(\.description).joined(separator: ", ") + "]"
        }
    }

    /// What kind of value this is, for "expected … found …" messages.
    public var typeName: String {
        switch self {
        case .int: return "an int"
        case .float: return "a float"
        case .bool: return "a bool"
        case .null: return "None"
        case .string: return "a string"
        case .list: return "a list"
        }
    }
}

/// Formats a double the way Python's `repr(float)` does for the values configs hold.
public func pythonFloat(_ value: Double) -> String {
    if value.isNaN { return "nan" }
    if value.isInfinite { return value < 0 ? "-inf" : "inf" }
    if value == value.rounded(), abs(value) < 1e16 {
        return String(Int(value)) + ".0"
    }
    return "\(value)"
}

/// One positional argument of a layer row, with where it was written.
public struct Argument: Sendable, Hashable {
    public var value: ArgumentValue
    public var location: SourceLocation
    /// The symbol the value came from (`nc`), if any; kept so messages can say so.
    public var symbol: String?

    public init(value: ArgumentValue, location: SourceLocation, symbol: String? = nil) {
        self.value = value
        self.location = location
        self.symbol = symbol
    }
}

enum ScalarReader {
    static let nullWords: Set<String> = ["", "~", "null", "Null", "NULL"]
    static let trueWords: Set<String> = ["true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"]
    static let falseWords: Set<String> = ["false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"]

    /// Reads a scalar as PyYAML's safe loader, then Ultralytics' `ast.literal_eval`, would.
    static func value(of text: String, plain: Bool) -> ArgumentValue {
        if plain {
            if nullWords.contains(text) { return .null }
            if trueWords.contains(text) { return .bool(true) }
            if falseWords.contains(text) { return .bool(false) }
        }
        // ast.literal_eval applies to every string, quoted or not.
        switch text {
        case "None": return .null
        case "True": return .bool(true)
        case "False": return .bool(false)
        default: break
        }
        if let number = number(text) { return number }
        return .string(text)
    }

    static func number(_ text: String) -> ArgumentValue? {
        let cleaned = text.filter { $0 != "_" }
        guard let first = cleaned.first, first.isNumber || first == "-" || first == "+" || first == "." else { return nil }
        if let int = Int(cleaned) { return .int(int) }
        if cleaned.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }), let double = Double(cleaned), double.isFinite {
            return .float(double)
        }
        return nil
    }
}
