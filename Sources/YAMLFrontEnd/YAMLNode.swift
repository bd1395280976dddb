/// A YAML value that remembers where it was written, so every later error can point into the file.
public struct YAMLNode: Sendable, Hashable {
    public enum ScalarStyle: Sendable, Hashable {
        case plain, singleQuoted, doubleQuoted, literal, folded
    }

    public enum Kind: Sendable, Hashable {
        case scalar(String, ScalarStyle)
        case sequence([YAMLNode])
        case mapping([Pair])
    }

    public struct Pair: Sendable, Hashable {
        public var key: YAMLNode
        public var value: YAMLNode
    }

    public var kind: Kind
    public var location: SourceLocation
    /// An explicit tag such as `!!str`, if one was written.
    public var tag: String?

    public init(kind: Kind, location: SourceLocation, tag: String? = nil) {
        self.kind = kind
        self.location = location
        self.tag = tag
    }

    /// The text of a scalar, or nil for collections.
    public var scalar: String? {
        if case .scalar(let text, _) = kind { return text }
        return nil
    }

    /// True for a scalar written without quotes (so `None`, `nc`, numbers are symbols, not strings).
    public var isPlainScalar: Bool {
        if case .scalar(_, .plain) = kind { return tag == nil }
        return false
    }

    public var sequence: [YAMLNode]? {
        if case .sequence(let items) = kind { return items }
        return nil
    }

    public var mapping: [Pair]? {
        if case .mapping(let pairs) = kind { return pairs }
        return nil
    }

    /// The value for a scalar key in a mapping.
    public subscript(key: String) -> YAMLNode? {
        mapping?.first { $0.key.scalar == key }?.value
    }

    /// A short name for messages: "a list", "a mapping", "the string 'x'".
    public var kindDescription: String {
        switch kind {
        case .scalar(let text, let style):
            return style == .plain ? "'\(text)'" : "the string '\(text)'"
        case .sequence: return "a list"
        case .mapping: return "a mapping"
        }
    }
}
