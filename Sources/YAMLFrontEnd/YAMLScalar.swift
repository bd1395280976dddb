/// A plain scalar as PyYAML's safe loader types it (YAML 1.1's implicit resolvers), which is
/// how Ultralytics and its forks read model YAMLs.
public enum YAMLScalar: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)

    /// A scalar node as PyYAML's safe loader types it: a plain, untagged one by the implicit
    /// resolvers; `!!int` and `!!float` as numbers; anything else (quoted, other tags) a string.
    public static func resolve(_ text: String, style: YAMLNode.ScalarStyle, tag: String?) -> YAMLScalar {
        guard style == .plain, tag == nil else {
            if tag == "!!int", let value = Int(text) { return .int(value) }
            if tag == "!!float", let value = Double(text) { return .float(value) }
            return .string(text)
        }
        return resolve(text)
    }

    /// PyYAML's implicit resolvers for a plain scalar.
    public static func resolve(_ text: String) -> YAMLScalar {
        switch text {
        case "", "~", "null", "Null", "NULL": return .null
        case "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON": return .bool(true)
        case "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF": return .bool(false)
        case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF": return .float(.infinity)
        case "-.inf", "-.Inf", "-.INF": return .float(-.infinity)
        case ".nan", ".NaN", ".NAN": return .float(.nan)
        default: break
        }
        var body = Substring(text)
        var negative = false
        if body.first == "-" || body.first == "+" { negative = body.first == "-"; body = body.dropFirst() }
        let digits = body.filter { $0 != "_" }
        if !digits.isEmpty {
            if digits.hasPrefix("0b"), let v = Int(digits.dropFirst(2), radix: 2) { return .int(negative ? -v : v) }
            if digits.hasPrefix("0x"), let v = Int(digits.dropFirst(2), radix: 16) { return .int(negative ? -v : v) }
            if digits.allSatisfy({ $0.isASCII && $0.isNumber }) {
                // YAML 1.1: a leading 0 means octal
                if digits.count > 1, digits.hasPrefix("0"), let v = Int(digits.dropFirst(), radix: 8) { return .int(negative ? -v : v) }
                if let v = Int(digits) { return .int(negative ? -v : v) }
            }
            // floats need a dot (PyYAML reads 1e-3 as a string)
            if digits.contains("."), isFloat(String(digits)), let v = Double(digits) { return .float(negative ? -v : v) }
        }
        return .string(text)
    }

    static func isFloat(_ s: String) -> Bool {
        // [0-9][0-9_]*\.[0-9_]*([eE][-+][0-9]+)? | \.[0-9_]+([eE][-+][0-9]+)?
        var chars = Array(s)[...]
        var sawDigitBefore = false
        while let c = chars.first, c.isASCII, c.isNumber { chars.removeFirst(); sawDigitBefore = true }
        guard chars.first == "." else { return false }
        chars.removeFirst()
        var sawDigitAfter = false
        while let c = chars.first, c.isASCII, c.isNumber { chars.removeFirst(); sawDigitAfter = true }
        guard sawDigitBefore || sawDigitAfter else { return false }
        if chars.isEmpty { return true }
        guard chars.first == "e" || chars.first == "E" else { return false }
        chars.removeFirst()
        guard chars.first == "-" || chars.first == "+" else { return false }
        chars.removeFirst()
        return !chars.isEmpty && chars.allSatisfy { $0.isASCII && $0.isNumber }
    }
}
