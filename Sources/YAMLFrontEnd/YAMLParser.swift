import CYAML

/// Parses YAML text with libyaml into located nodes. Anchors, aliases and `<<` merge keys are
/// resolved; only the first document is read.
public enum YAMLParser {
    /// Parses `text`; errors name `file` and the line:column libyaml reports.
    public static func parse(_ text: String, file: String) throws(Diagnostic) -> YAMLNode {
        var bytes = Array(text.utf8)
        if bytes.isEmpty { bytes = [0x0A] }
        var reader = EventReader(file: file)
        return try bytes.withUnsafeBufferPointer { (buffer) throws(Diagnostic) -> YAMLNode in
            try reader.run(buffer)
        }
    }
}

private struct EventReader {
    let file: String
    var anchors: [String: YAMLNode] = [:]
    /// Later stages walk values recursively; a bound keeps a hostile file from exhausting the stack.
    static let maximumDepth = 64

    init(file: String) {
        self.file = file
    }

    private enum Frame {
        case sequence(items: [YAMLNode], location: SourceLocation, anchor: String?, tag: String?)
        case mapping(items: [YAMLNode], location: SourceLocation, anchor: String?, tag: String?)
    }

    mutating func run(_ buffer: UnsafeBufferPointer<UInt8>) throws(Diagnostic) -> YAMLNode {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else {
            throw Diagnostic(file: file, location: nil, message: "libyaml could not start (out of memory)")
        }
        defer { yaml_parser_delete(&parser) }
        yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)

        var stack: [Frame] = []
        var root: YAMLNode?
        var documentDone = false

        while !documentDone {
            var event = yaml_event_t()
            guard yaml_parser_parse(&parser, &event) == 1 else {
                throw syntaxError(parser)
            }
            defer { yaml_event_delete(&event) }
            let location = SourceLocation(line: Int(event.start_mark.line) + 1, column: Int(event.start_mark.column) + 1)

            var finished: (node: YAMLNode, anchor: String?)?
            switch event.type {
            case YAML_STREAM_END_EVENT, YAML_DOCUMENT_END_EVENT:
                documentDone = true
            case YAML_SCALAR_EVENT:
                let scalar = event.data.scalar
                let text = string(scalar.value, length: scalar.length)
                let style: YAMLNode.ScalarStyle
                switch scalar.style {
                case YAML_SINGLE_QUOTED_SCALAR_STYLE: style = .singleQuoted
                case YAML_DOUBLE_QUOTED_SCALAR_STYLE: style = .doubleQuoted
                case YAML_LITERAL_SCALAR_STYLE: style = .literal
                case YAML_FOLDED_SCALAR_STYLE: style = .folded
                default: style = .plain
                }
                let tag = optionalString(scalar.tag)
                finished = (YAMLNode(kind: .scalar(text, style), location: location, tag: tag), optionalString(scalar.anchor))
            case YAML_ALIAS_EVENT:
                let name = optionalString(event.data.alias.anchor) ?? ""
                guard var target = anchors[name] else {
                    throw Diagnostic(file: file, location: location, message: "alias *\(name) names no anchor defined before it")
                }
                target.location = location
                finished = (target, nil)
            case YAML_SEQUENCE_START_EVENT where stack.count >= EventReader.maximumDepth,
                 YAML_MAPPING_START_EVENT where stack.count >= EventReader.maximumDepth:
                throw Diagnostic(file: file, location: location, message: "nesting deeper than \(EventReader.maximumDepth) levels")
            case YAML_SEQUENCE_START_EVENT:
                let start = event.data.sequence_start
                stack.append(.sequence(items: [], location: location, anchor: optionalString(start.anchor), tag: optionalString(start.tag)))
            case YAML_MAPPING_START_EVENT:
                let start = event.data.mapping_start
                stack.append(.mapping(items: [], location: location, anchor: optionalString(start.anchor), tag: optionalString(start.tag)))
            case YAML_SEQUENCE_END_EVENT:
                if case .sequence(let items, let start, let anchor, let tag) = stack.popLast() {
                    finished = (YAMLNode(kind: .sequence(items), location: start, tag: tag), anchor)
                }
            case YAML_MAPPING_END_EVENT:
                if case .mapping(let items, let start, let anchor, let tag) = stack.popLast() {
                    let pairs = try mergedPairs(items)
                    finished = (YAMLNode(kind: .mapping(pairs), location: start, tag: tag), anchor)
                }
            default:
                break
            }

            guard let (node, anchor) = finished else { continue }
            if let anchor { anchors[anchor] = node }
            switch stack.popLast() {
            case nil:
                root = node
            case .sequence(var items, let start, let anchor, let tag)?:
                items.append(node)
                stack.append(.sequence(items: items, location: start, anchor: anchor, tag: tag))
            case .mapping(var items, let start, let anchor, let tag)?:
                items.append(node)
                stack.append(.mapping(items: items, location: start, anchor: anchor, tag: tag))
            }
        }
        return root ?? YAMLNode(kind: .mapping([]), location: SourceLocation(line: 1, column: 1))
    }

    /// Pairs up keys and values, applies `<<` merges, and rejects duplicate keys
    /// (PyYAML silently keeps the last one, which hides typos).
    private func mergedPairs(_ items: [YAMLNode]) throws(Diagnostic) -> [YAMLNode.Pair] {
        var pairs: [YAMLNode.Pair] = []
        var merged: [YAMLNode.Pair] = []
        var index = 0
        while index + 1 < items.count {
            let key = items[index], value = items[index + 1]
            index += 2
            if key.scalar == "<<" && key.isPlainScalar {
                let sources = value.sequence ?? [value]
                for source in sources {
                    guard let sourcePairs = source.mapping else {
                        throw Diagnostic(file: file, location: source.location, message: "a << merge takes a mapping, found \(source.kindDescription)")
                    }
                    merged.append(contentsOf: sourcePairs)
                }
                continue
            }
            if let text = key.scalar, let earlier = pairs.first(where: { $0.key.scalar == text }) {
                throw Diagnostic(file: file, location: key.location,
                                 message: "duplicate key '\(text)' (first given at \(earlier.key.location))")
            }
            pairs.append(YAMLNode.Pair(key: key, value: value))
        }
        for pair in merged where !pairs.contains(where: { $0.key.scalar == pair.key.scalar }) {
            pairs.append(pair)
        }
        return pairs
    }

    private func syntaxError(_ parser: yaml_parser_t) -> Diagnostic {
        let problem = parser.problem.map { String(cString: $0) } ?? "unreadable YAML"
        let mark = parser.problem_mark
        var message = "YAML syntax: \(problem)"
        if let context = parser.context.map({ String(cString: $0) }) {
            message += " (\(context) at line \(parser.context_mark.line + 1))"
        }
        return Diagnostic(file: file, location: SourceLocation(line: Int(mark.line) + 1, column: Int(mark.column) + 1), message: message)
    }

    private func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?, length: Int) -> String {
        guard let pointer else { return "" }
        return String(decoding: UnsafeBufferPointer(start: pointer, count: length), as: UTF8.self)
    }

    private func optionalString(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        guard let pointer else { return nil }
        return String(cString: pointer)
    }
}
