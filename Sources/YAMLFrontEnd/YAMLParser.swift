import CYAML

/// Parses YAML text with libyaml into located nodes. Anchors, aliases and `<<` merge keys are
/// resolved; only the first document is read.
public enum YAMLParser {
    /// Bounds on a document, far beyond any model file, so a hostile one is an error rather than
    /// a hang: its size, one scalar's length, and the nodes it expands to (aliases count their
    /// anchor's whole subtree each time: a kilobyte of nested aliases can otherwise stand for 10⁸).
    public static let largestDocumentBytes = 16 << 20
    public static let largestScalarBytes = 1 << 16
    public static let largestExpandedNodes = 1_000_000

    /// Parses `text`; errors name `file` and the line:column libyaml reports.
    public static func parse(_ text: String, file: String) throws(Diagnostic) -> YAMLNode {
        var bytes = Array(text.utf8)
        guard bytes.count <= largestDocumentBytes else {
            throw Diagnostic(file: file, location: nil, message: "the document is \(bytes.count) bytes; ModelGraph reads model files up to \(largestDocumentBytes >> 20) MiB")
        }
        if bytes.isEmpty { bytes = [0x0A] }
        var reader = EventReader(file: file)
        return try bytes.withUnsafeBufferPointer { (buffer) throws(Diagnostic) -> YAMLNode in
            try reader.run(buffer)
        }
    }

    /// The text of a file's bytes; bytes that are not UTF-8 are an error at the first bad byte
    /// (its byte offset, line and column).
    public static func decode(_ bytes: some Collection<UInt8>, file: String) throws(Diagnostic) -> String {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        var text = ""
        text.reserveCapacity(bytes.count)
        // the decoder reads ahead after a bad lead byte; track offsets by scalar length instead
        var (offset, line, column) = (0, 1, 1)
        loop: while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar):
                text.unicodeScalars.append(scalar)
                offset += UTF8.width(scalar)
                if scalar == "\n" { (line, column) = (line + 1, 1) } else { column += 1 }
            case .emptyInput:
                break loop
            case .error:
                let byte = bytes.dropFirst(offset).first.map { String($0, radix: 16, uppercase: true) } ?? "?"
                throw Diagnostic(file: file, location: SourceLocation(line: line, column: column),
                                 message: "not UTF-8 text: byte 0x\(byte.count == 1 ? "0" + byte : byte) at byte offset \(offset)")
            }
        }
        return text
    }
}

private struct EventReader {
    let file: String
    var anchors: [String: (node: YAMLNode, size: Int)] = [:]
    /// Nodes made so far, an alias counting its anchor's subtree.
    var expandedNodes = 0
    /// Later stages walk values recursively; a bound keeps a hostile file from exhausting the stack.
    static let maximumDepth = 64

    init(file: String) {
        self.file = file
    }

    private enum Frame {
        case sequence(items: [YAMLNode], location: SourceLocation, anchor: String?, tag: String?, size: Int)
        case mapping(items: [YAMLNode], location: SourceLocation, anchor: String?, tag: String?, size: Int)
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

            var finished: (node: YAMLNode, anchor: String?, size: Int)?
            switch event.type {
            case YAML_STREAM_END_EVENT, YAML_DOCUMENT_END_EVENT:
                documentDone = true
            case YAML_SCALAR_EVENT:
                let scalar = event.data.scalar
                guard scalar.length <= YAMLParser.largestScalarBytes else {
                    throw Diagnostic(file: file, location: location, message: "a scalar of \(scalar.length) bytes; ModelGraph reads scalars up to \(YAMLParser.largestScalarBytes) bytes")
                }
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
                finished = (YAMLNode(kind: .scalar(text, style), location: location, tag: tag), optionalString(scalar.anchor), 1)
            case YAML_ALIAS_EVENT:
                let name = optionalString(event.data.alias.anchor) ?? ""
                guard var (target, size) = anchors[name] else {
                    throw Diagnostic(file: file, location: location, message: "alias *\(name) names no anchor defined before it")
                }
                target.location = location
                finished = (target, nil, size)
            case YAML_SEQUENCE_START_EVENT where stack.count >= EventReader.maximumDepth,
                 YAML_MAPPING_START_EVENT where stack.count >= EventReader.maximumDepth:
                throw Diagnostic(file: file, location: location, message: "nesting deeper than \(EventReader.maximumDepth) levels")
            case YAML_SEQUENCE_START_EVENT where expandedNodes >= YAMLParser.largestExpandedNodes,
                 YAML_MAPPING_START_EVENT where expandedNodes >= YAMLParser.largestExpandedNodes:
                throw Diagnostic(file: file, location: location, message: "the document expands to more than \(YAMLParser.largestExpandedNodes) nodes (aliases count their anchor's nodes each time)")
            case YAML_SEQUENCE_START_EVENT:
                expandedNodes += 1
                let start = event.data.sequence_start
                stack.append(.sequence(items: [], location: location, anchor: optionalString(start.anchor), tag: optionalString(start.tag), size: 1))
            case YAML_MAPPING_START_EVENT:
                expandedNodes += 1
                let start = event.data.mapping_start
                stack.append(.mapping(items: [], location: location, anchor: optionalString(start.anchor), tag: optionalString(start.tag), size: 1))
            case YAML_SEQUENCE_END_EVENT:
                if case .sequence(let items, let start, let anchor, let tag, let size) = stack.popLast() {
                    finished = (YAMLNode(kind: .sequence(items), location: start, tag: tag), anchor, size)
                }
            case YAML_MAPPING_END_EVENT:
                if case .mapping(let items, let start, let anchor, let tag, let size) = stack.popLast() {
                    let pairs = try mergedPairs(items)
                    finished = (YAMLNode(kind: .mapping(pairs), location: start, tag: tag), anchor, size)
                }
            default:
                break
            }

            guard let (node, anchor, size) = finished else { continue }
            // a container was counted when it started; a scalar or an alias counts now
            if event.type == YAML_SCALAR_EVENT || event.type == YAML_ALIAS_EVENT {
                expandedNodes += size
                guard expandedNodes <= YAMLParser.largestExpandedNodes else {
                    throw Diagnostic(file: file, location: location, message: "the document expands to more than \(YAMLParser.largestExpandedNodes) nodes (aliases count their anchor's nodes each time)")
                }
            }
            if let anchor { anchors[anchor] = (node, size) }
            switch stack.popLast() {
            case nil:
                root = node
            case .sequence(var items, let start, let anchor, let tag, let total)?:
                items.append(node)
                stack.append(.sequence(items: items, location: start, anchor: anchor, tag: tag, size: total + size))
            case .mapping(var items, let start, let anchor, let tag, let total)?:
                items.append(node)
                stack.append(.mapping(items: items, location: start, anchor: anchor, tag: tag, size: total + size))
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
