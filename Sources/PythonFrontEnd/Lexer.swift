/// Python 3's tokenizer over UTF-8 bytes: indentation, implicit line joining inside brackets,
/// backslash continuation, string prefixes (r, b, f, u and their pairs) and triple quotes.
struct Lexer {
    let bytes: [UInt8]
    let file: String
    var position = 0
    var line = 1
    var lineStart = 0
    var indents: [Int] = [0]
    var depth = 0                   // open brackets: newlines inside are not tokens
    var openBrackets: [(UInt8, SourceLocation)] = []
    var tokens: [Token] = []
    var atLineStart = true

    init(source: [UInt8], file: String) { self.bytes = source; self.file = file }

    var location: SourceLocation { SourceLocation(line: line, column: position - lineStart + 1) }

    func error(_ message: String, at location: SourceLocation? = nil) -> PythonSyntaxError {
        PythonSyntaxError(file: file, location: location ?? self.location, message: message)
    }

    static let operators1: Set<UInt8> = Set("+-*/%@&|^~<>()[]{},:;.=".utf8)

    mutating func tokenize() throws -> [Token] {
        tokens.reserveCapacity(bytes.count / 4)
        while true {
            if atLineStart && depth == 0 {
                if try handleIndentation() { break }
            }
            guard position < bytes.count else { break }
            let byte = bytes[position]
            switch byte {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), 0x0C:
                position += 1
            case UInt8(ascii: "\r"):
                position += 1
            case UInt8(ascii: "\n"):
                if depth == 0 { append(.newline) }
                newLine()
                if depth == 0 { atLineStart = true }
            case UInt8(ascii: "#"):
                while position < bytes.count && bytes[position] != UInt8(ascii: "\n") { position += 1 }
            case UInt8(ascii: "\\"):
                var next = position + 1
                if next < bytes.count && bytes[next] == UInt8(ascii: "\r") { next += 1 }
                guard next < bytes.count, bytes[next] == UInt8(ascii: "\n") else {
                    throw error("unexpected character after line continuation character")
                }
                position = next
                newLine()
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                try number()
            case UInt8(ascii: "."):
                if position + 1 < bytes.count, isDigit(bytes[position + 1]) { try number() } else { try op() }
            case UInt8(ascii: "\""), UInt8(ascii: "'"):
                try string(prefix: "", start: position)
            default:
                if isNameStart(byte) {
                    let start = position, startLocation = location
                    while position < bytes.count && isNameContinue(bytes[position]) { position += 1 }
                    let word = String(decoding: bytes[start..<position], as: UTF8.self)
                    if position < bytes.count, bytes[position] == UInt8(ascii: "\"") || bytes[position] == UInt8(ascii: "'"),
                       word.count <= 2, word.lowercased().allSatisfy({ "rbfu".contains($0) }) {
                        try string(prefix: word.lowercased(), start: start, startLocation: startLocation)
                    } else {
                        tokens.append(Token(kind: .name(word), location: startLocation, offset: start))
                    }
                } else {
                    try op()
                }
            }
        }
        if let (bracket, place) = openBrackets.last {
            throw error("'\(String(UnicodeScalar(bracket)))' was never closed", at: place)
        }
        if let last = tokens.last, last.kind != .newline, last.kind != .dedent, last.kind != .indent {
            append(.newline)
        }
        while indents.count > 1 { indents.removeLast(); append(.dedent) }
        append(.end)
        return tokens
    }

    private mutating func append(_ kind: TokenKind) {
        tokens.append(Token(kind: kind, location: location, offset: position))
    }

    private mutating func newLine() {
        position += 1
        line += 1
        lineStart = position
    }

    /// Measures the indentation of a logical line; blank and comment-only lines are skipped.
    /// Returns true at the end of input.
    private mutating func handleIndentation() throws -> Bool {
        while true {
            var column = 0
            while position < bytes.count {
                let byte = bytes[position]
                if byte == UInt8(ascii: " ") { column += 1 }
                else if byte == UInt8(ascii: "\t") { column = (column / 8 + 1) * 8 }
                else if byte == 0x0C { column = 0 }
                else { break }
                position += 1
            }
            guard position < bytes.count else { return true }
            let byte = bytes[position]
            if byte == UInt8(ascii: "#") {
                while position < bytes.count && bytes[position] != UInt8(ascii: "\n") { position += 1 }
                continue
            }
            if byte == UInt8(ascii: "\r") { position += 1; continue }
            if byte == UInt8(ascii: "\n") { newLine(); continue }
            if byte == UInt8(ascii: "\\") { return false }
            atLineStart = false
            if column > indents.last! {
                indents.append(column)
                append(.indent)
            } else {
                while column < indents.last! {
                    indents.removeLast()
                    append(.dedent)
                }
                if column != indents.last! {
                    throw error("unindent does not match any outer indentation level")
                }
            }
            return false
        }
    }

    private func isDigit(_ b: UInt8) -> Bool { b >= 48 && b <= 57 }
    private func isNameStart(_ b: UInt8) -> Bool {
        (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b == 95 || b >= 0x80
    }
    private func isNameContinue(_ b: UInt8) -> Bool { isNameStart(b) || isDigit(b) }

    /// Whether the bytes at `position` spell a two- or three-character operator (no String made).
    private func operatorWidth() -> Int {
        func at(_ i: Int) -> UInt8 { position + i < bytes.count ? bytes[position + i] : 0 }
        let (a, b, c) = (at(0), at(1), at(2))
        let equals = UInt8(ascii: "=")
        if c == equals && ((a == UInt8(ascii: "*") && b == UInt8(ascii: "*")) || (a == UInt8(ascii: "/") && b == UInt8(ascii: "/"))
                           || (a == UInt8(ascii: ">") && b == UInt8(ascii: ">")) || (a == UInt8(ascii: "<") && b == UInt8(ascii: "<"))) { return 3 }
        if a == UInt8(ascii: "."), b == UInt8(ascii: "."), c == UInt8(ascii: ".") { return 3 }
        if b == equals && "<>=!+-*/%&|^@:".utf8.contains(a) { return 2 }
        if a == b && (a == UInt8(ascii: "*") || a == UInt8(ascii: "/") || a == UInt8(ascii: ">") || a == UInt8(ascii: "<")) { return 2 }
        if a == UInt8(ascii: "-") && b == UInt8(ascii: ">") { return 2 }
        return 1
    }

    private mutating func op() throws {
        let start = position, startLocation = location
        let width = operatorWidth()
        if width > 1 {
            let text = String(decoding: bytes[position..<position + width], as: UTF8.self)
            position += width
            tokens.append(Token(kind: .op(text), location: startLocation, offset: start))
            return
        }
        let byte = bytes[position]
        guard Lexer.operators1.contains(byte) else {
            if byte == UInt8(ascii: "!") { throw error("invalid syntax: '!'") }
            throw error("invalid character '\(String(decoding: [byte], as: UTF8.self))' (U+\(String(byte, radix: 16, uppercase: true)))")
        }
        position += 1
        switch byte {
        case UInt8(ascii: "("), UInt8(ascii: "["), UInt8(ascii: "{"):
            depth += 1
            openBrackets.append((byte, startLocation))
        case UInt8(ascii: ")"), UInt8(ascii: "]"), UInt8(ascii: "}"):
            depth = max(0, depth - 1)
            if !openBrackets.isEmpty { openBrackets.removeLast() }
        default: break
        }
        tokens.append(Token(kind: .op(String(UnicodeScalar(byte))), location: startLocation, offset: start))
    }

    private mutating func number() throws {
        let start = position, startLocation = location
        func digits(_ accept: (UInt8) -> Bool) {
            while position < bytes.count && (accept(bytes[position]) || bytes[position] == UInt8(ascii: "_")) { position += 1 }
        }
        if bytes[position] == UInt8(ascii: "0"), position + 1 < bytes.count,
           "xXoObB".utf8.contains(bytes[position + 1]) {
            position += 2
            digits { ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 70) || ($0 >= 97 && $0 <= 102) }
            let text = String(decoding: bytes[start..<position], as: UTF8.self).replacingUnderscores()
            tokens.append(Token(kind: .int(text), location: startLocation, offset: start))
            return
        }
        var isFloat = false
        digits(isDigit)
        if position < bytes.count && bytes[position] == UInt8(ascii: ".") {
            isFloat = true
            position += 1
            digits(isDigit)
        }
        if position < bytes.count && (bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E")) {
            var look = position + 1
            if look < bytes.count && (bytes[look] == UInt8(ascii: "+") || bytes[look] == UInt8(ascii: "-")) { look += 1 }
            if look < bytes.count && isDigit(bytes[look]) {
                isFloat = true
                position = look
                digits(isDigit)
            }
        }
        let text = String(decoding: bytes[start..<position], as: UTF8.self).replacingUnderscores()
        if position < bytes.count && (bytes[position] == UInt8(ascii: "j") || bytes[position] == UInt8(ascii: "J")) {
            position += 1
            tokens.append(Token(kind: .imaginary(Double(text) ?? 0), location: startLocation, offset: start))
            return
        }
        if position < bytes.count && isNameStart(bytes[position]) {
            throw error("invalid decimal literal", at: startLocation)
        }
        if isFloat {
            guard let value = Double(text) else { throw error("invalid float literal '\(text)'", at: startLocation) }
            tokens.append(Token(kind: .float(value), location: startLocation, offset: start))
        } else {
            if text.count > 1, text.hasPrefix("0"), text.contains(where: { $0 != "0" }) {
                throw error("leading zeros in decimal integer literals are not permitted", at: startLocation)
            }
            tokens.append(Token(kind: .int(text), location: startLocation, offset: start))
        }
    }

    private mutating func string(prefix: String, start: Int, startLocation: SourceLocation? = nil) throws {
        let startLocation = startLocation ?? location
        let quote = bytes[position]
        let triple = position + 2 < bytes.count && bytes[position + 1] == quote && bytes[position + 2] == quote
        position += triple ? 3 : 1
        let bodyStart = position
        while true {
            guard position < bytes.count else {
                throw error(triple ? "unterminated triple-quoted string literal" : "unterminated string literal", at: startLocation)
            }
            let byte = bytes[position]
            if byte == UInt8(ascii: "\\") {
                position += 1
                if position < bytes.count && bytes[position] == UInt8(ascii: "\n") { newLine() } else { position += 1 }
                continue
            }
            if byte == UInt8(ascii: "\n") {
                guard triple else { throw error("unterminated string literal", at: startLocation) }
                newLine()
                continue
            }
            if byte == quote {
                if !triple { break }
                if position + 2 < bytes.count && bytes[position + 1] == quote && bytes[position + 2] == quote { break }
            }
            position += 1
        }
        let body = String(decoding: bytes[bodyStart..<position], as: UTF8.self)
        position += triple ? 3 : 1
        tokens.append(Token(kind: .string(prefix: prefix, body: body), location: startLocation, offset: bodyStart))
    }
}

extension String {
    fileprivate func replacingUnderscores() -> String { contains("_") ? String(filter { $0 != "_" }) : self }
}
