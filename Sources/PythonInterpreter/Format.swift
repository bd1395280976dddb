import PythonFrontEnd
#if canImport(Glibc)
import Glibc
#endif

extension Interpreter {
    /// `repr(x)`, as CPython writes it.
    public func repr(_ value: PyValue) throws -> String {
        switch value {
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return String(i)
        case .float(let d): return Interpreter.floatRepr(d)
        case .str(let s): return Interpreter.stringRepr(s)
        case .object(let o):
            switch o {
            case let l as PyList: return "[" + (try l.items.map(repr).joined(separator: ", ")) + "]"
            case let t as PyTuple:
                if t.items.count == 1 { return "(" + (try repr(t.items[0])) + ",)" }
                return "(" + (try t.items.map(repr).joined(separator: ", ")) + ")"
            case let d as PyDict:
                return "{" + (try d.entries.map { try repr($0.key) + ": " + repr($0.value) }.joined(separator: ", ")) + "}"
            case let s as PySet:
                return s.storage.isEmpty ? "set()" : "{" + (try s.items.map(repr).joined(separator: ", ")) + "}"
            case let s as PyFrozenSet:
                return "frozenset({" + (try s.items.map(repr).joined(separator: ", ")) + "})"
            case let r as PyRange:
                return r.step == 1 ? "range(\(r.start), \(r.stop))" : "range(\(r.start), \(r.stop), \(r.step))"
            case let s as PySlice: return "slice(\(try repr(s.start)), \(try repr(s.stop)), \(try repr(s.step)))"
            case let c as PyClass: return "<class '\(c.moduleName == "builtins" ? "" : c.moduleName + ".")\(c.qualifiedName)'>"
            case let f as PyFunction: return "<function \(f.qualifiedName)>"
            case let b as PyBuiltinFunction: return "<built-in function \(b.name)>"
            case let m as PyModule: return "<module '\(m.name)'>"
            case let b as PyBytes: return "b" + Interpreter.stringRepr(String(decoding: b.bytes, as: UTF8.self))
            case let s as PyStandIn: return "<stand-in \(s.path)>"
            case let instance as PyInstance:
                if let method = instance.cls.lookup("__repr__") {
                    guard case .str(let s) = try call(method, Arguments([value])) else { throw typeError("__repr__ returned non-string") }
                    return s
                }
                if instance.cls.isSubclass(of: types.baseException) {
                    let args = (instance.attributes["args"].flatMap { try? materialize($0) }) ?? []
                    return instance.cls.name + "(" + (try args.map(repr).joined(separator: ", ")) + ")"
                }
                if identical(value, types.ellipsis) { return "Ellipsis" }
                return "<\(instance.cls.moduleName).\(instance.cls.qualifiedName) object>"
            case let native as NativeObject: return native.representation(self)
            default: return "<object>"
            }
        }
    }

    /// `str(x)`.
    public func str(_ value: PyValue) throws -> String {
        switch value {
        case .str(let s): return s
        case .object(let instance as PyInstance):
            if let method = instance.cls.lookup("__str__") {
                guard case .str(let s) = try call(method, Arguments([value])) else { throw typeError("__str__ returned non-string") }
                return s
            }
            if instance.cls.isSubclass(of: types.baseException) {
                let args = (instance.attributes["args"].flatMap { try? materialize($0) }) ?? []
                // KeyError shows its key as repr: str(KeyError('k')) is "'k'"
                if args.count == 1 { return instance.cls.isSubclass(of: types.keyError) ? try repr(args[0]) : try str(args[0]) }
                return args.isEmpty ? "" : try repr(.tuple(args))
            }
            return try repr(value)
        default:
            return try repr(value)
        }
    }

    static func stringRepr(_ s: String) -> String {
        let quote: Character = s.contains("'") && !s.contains("\"") ? "\"" : "'"
        var out = String(quote)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if Character(scalar) == quote { out += "\\" + String(quote) }
                else if scalar.value < 0x20 || scalar.value == 0x7F { out += "\\x" + hex(scalar.value, 2) }
                else { out.unicodeScalars.append(scalar) }
            }
        }
        return out + String(quote)
    }

    static func hex(_ value: UInt32, _ width: Int) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    /// CPython's float repr: the shortest digits that round-trip, exponent form outside 1e-4 ..< 1e16.
    static func floatRepr(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d < 0 ? "-inf" : "inf" }
        if d == 0 { return d.sign == .minus ? "-0.0" : "0.0" }
        // Swift's description gives the shortest round-trip digits; re-lay them out as CPython does
        let (digits, exponent) = shortestDigits(d)
        let sign = d < 0 ? "-" : ""
        let decimalPoint = exponent + 1      // position of the decimal point after the first digit
        if exponent < -4 || exponent >= 16 {
            var mantissa = String(digits.first!)
            if digits.count > 1 { mantissa += "." + digits.dropFirst() }
            return sign + mantissa + "e" + (exponent < 0 ? "-" : "+") + (abs(exponent) < 10 ? "0" : "") + String(abs(exponent))
        }
        if decimalPoint <= 0 {
            return sign + "0." + String(repeating: "0", count: -decimalPoint) + digits
        }
        if decimalPoint >= digits.count {
            return sign + digits + String(repeating: "0", count: decimalPoint - digits.count) + ".0"
        }
        let index = digits.index(digits.startIndex, offsetBy: decimalPoint)
        return sign + digits[..<index] + "." + digits[index...]
    }

    /// The shortest round-trip decimal digits of |d| and the exponent of the first one.
    static func shortestDigits(_ d: Double) -> (String, Int) {
        let text = "\(abs(d))"          // e.g. "1234.5", "1e-05", "1.2345e+20"
        var mantissa = text
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            mantissa = String(text[..<e])
            exponent = Int(text[text.index(after: e)...]) ?? 0
        }
        var integerPart = mantissa
        var fractionPart = ""
        if let dot = mantissa.firstIndex(of: ".") {
            integerPart = String(mantissa[..<dot])
            fractionPart = String(mantissa[mantissa.index(after: dot)...])
        }
        var digits = integerPart + fractionPart
        var firstExponent = exponent + integerPart.count - 1
        while digits.hasPrefix("0") && digits.count > 1 { digits.removeFirst(); firstExponent -= 1 }
        while digits.hasSuffix("0") && digits.count > 1 { digits.removeLast() }
        return (digits, firstExponent)
    }

    // MARK: format specs

    func formatParts(_ parts: [FStringPart], _ frame: Frame) throws -> String {
        var out = ""
        for part in parts {
            switch part {
            case .literal(let s): out += s
            case .value(let expression, let conversion, let spec, let selfDocumenting):
                var value = try evaluate(expression, frame)
                if let selfDocumenting { out += selfDocumenting }
                let conversion = conversion ?? (selfDocumenting != nil && spec == nil ? "r" : nil)
                switch conversion {
                case "r"?: value = .str(try repr(value))
                case "s"?: value = .str(try str(value))
                case "a"?: value = .str(try repr(value))
                default: break
                }
                let specText = try spec.map { try formatParts($0, frame) } ?? ""
                out += try format(value, specText)
            }
        }
        return out
    }

    /// `format(value, spec)`: Python's format-specification mini-language.
    public func format(_ value: PyValue, _ spec: String) throws -> String {
        if case .object(let instance as PyInstance) = value, let method = instance.cls.lookup("__format__") {
            guard case .str(let s) = try call(method, Arguments([value, .str(spec)])) else { throw typeError("__format__ must return a str") }
            return s
        }
        if case .object(let native as NativeObject) = value, spec.isEmpty { return native.representation(self) }
        if spec.isEmpty { return try str(value) }
        var chars = Array(spec)
        var fill: Character = " ", align: Character? = nil
        if chars.count >= 2, "<>^=".contains(chars[1]) { fill = chars[0]; align = chars[1]; chars.removeFirst(2) }
        else if let first = chars.first, "<>^=".contains(first) { align = first; chars.removeFirst() }
        var sign: Character = "-"
        if let first = chars.first, "+- ".contains(first) { sign = first; chars.removeFirst() }
        var alternate = false
        if chars.first == "#" { alternate = true; chars.removeFirst() }
        if chars.first == "0" { if align == nil { fill = "0"; align = "=" }; chars.removeFirst() }
        var width = 0
        while let c = chars.first, let d = c.wholeNumberValue, c.isASCII {
            // digits from untrusted source: too many is CPython's error, never an overflow trap
            guard width < 100_000_000 else { throw valueError("Too many decimal digits in format string") }
            width = width * 10 + d
            chars.removeFirst()
        }
        var grouping: Character? = nil
        if let c = chars.first, c == "," || c == "_" { grouping = c; chars.removeFirst() }
        var precision: Int? = nil
        if chars.first == "." {
            chars.removeFirst()
            var p = 0
            while let c = chars.first, let d = c.wholeNumberValue, c.isASCII {
                guard p < 100_000_000 else { throw valueError("Too many decimal digits in format string") }
                p = p * 10 + d
                chars.removeFirst()
            }
            precision = p
        }
        let type = chars.first
        if chars.count > 1 { throw valueError("Invalid format specifier '\(spec)'") }
        var body: String
        var negative = false
        switch value {
        case .str(let s):
            guard type == nil || type == "s" else { throw valueError("Unknown format code '\(type!)' for object of type 'str'") }
            body = precision.map { String(s.prefix($0)) } ?? s
            if align == nil { align = "<" }
        case .int, .bool:
            let i = integer(value)!
            if let type, "eEfFgG%".contains(type) {
                (body, negative) = try formatFloat(Double(i), type: type, precision: precision, alternate: alternate)
            } else {
                negative = i < 0
                let magnitude = i.magnitude
                switch type {
                case "x"?: body = (alternate ? "0x" : "") + String(magnitude, radix: 16)
                case "X"?: body = (alternate ? "0X" : "") + String(magnitude, radix: 16).uppercased()
                case "o"?: body = (alternate ? "0o" : "") + String(magnitude, radix: 8)
                case "b"?: body = (alternate ? "0b" : "") + String(magnitude, radix: 2)
                case "c"?: body = UnicodeScalar(UInt32(magnitude)).map { String(Character($0)) } ?? ""
                case nil, "d"?, "n"?: body = String(magnitude)
                default: throw valueError("Unknown format code '\(type!)' for object of type 'int'")
                }
                if let grouping { body = group(body, grouping) }
            }
            if align == nil { align = ">" }
        case .float(let d):
            (body, negative) = try formatFloat(d, type: type, precision: precision, alternate: alternate)
            if let grouping, let dot = body.firstIndex(where: { $0 == "." || $0 == "e" || $0 == "%" }) {
                body = group(String(body[..<dot]), grouping) + body[dot...]
            } else if let grouping { body = group(body, grouping) }
            if align == nil { align = ">" }
        default:
            if case .object(let native as NativeObject) = value, let d = try native.floatValue(self) {
                return try format(.float(d), spec)
            }
            body = try str(value)
            if align == nil { align = "<" }
        }
        var signText = ""
        if negative { signText = "-" } else if sign == "+" { signText = "+" } else if sign == " " { signText = " " }
        let length = signText.count + body.count
        guard width > length else { return signText + body }
        try checkSize(width)
        let padding = width - length
        switch align! {
        case "<": return signText + body + String(repeating: fill, count: padding)
        case "^":
            let left = padding / 2
            return String(repeating: fill, count: left) + signText + body + String(repeating: fill, count: padding - left)
        case "=": return signText + String(repeating: fill, count: padding) + body
        default: return String(repeating: fill, count: padding) + signText + body
        }
    }

    func group(_ digits: String, _ separator: Character) -> String {
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(separator) }
            out.append(c)
        }
        return out
    }

    /// The body of a formatted float (without its sign) and whether it is negative.
    func formatFloat(_ d: Double, type: Character?, precision: Int?, alternate: Bool) throws -> (String, Bool) {
        let negative = d.sign == .minus && !(d == 0 && type == nil)
        let magnitude = abs(d)
        if magnitude.isNaN { return ("nan", false) }
        if magnitude.isInfinite { return ("inf", negative) }
        switch type {
        case "f"?, "F"?: return (cFormat(magnitude, "f", precision ?? 6), negative)
        case "e"?, "E"?:
            let s = cFormat(magnitude, "e", precision ?? 6)
            return (type == "E" ? s.uppercased() : s, negative)
        case "%"?: return (cFormat(magnitude * 100, "f", precision ?? 6) + "%", negative)
        case "g"?, "G"?:
            var s = cFormat(magnitude, alternate ? "#g" : "g", precision ?? 6)
            if type == "G" { s = s.uppercased() }
            return (s, negative)
        case nil:
            if let precision {
                var s = cFormat(magnitude, "g", max(precision, 1))
                if !s.contains(".") && !s.contains("e") && !s.contains("n") && !s.contains("i") { s += "" }
                return (s, negative)
            }
            return (Interpreter.floatRepr(magnitude), d.sign == .minus)
        default:
            throw valueError("Unknown format code '\(type!)' for object of type 'float'")
        }
    }

    func cFormat(_ value: Double, _ conversion: String, _ precision: Int) -> String {
        let precision = min(precision, 100)
        var buffer = [CChar](repeating: 0, count: 512)
        let format = "%.\(precision)\(conversion)"
        let count = buffer.withUnsafeMutableBufferPointer { pointer in
            withVaList([value]) { vsnprintf(pointer.baseAddress, 512, format, $0) }
        }
        return String(decoding: buffer.prefix(Int(max(0, min(count, 511)))).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// `"%d items" % n`: printf-style formatting.
    func percentFormat(_ format: String, _ arguments: PyValue) throws -> String {
        var values: [PyValue]
        var mapping: PyDict? = nil
        if case .object(let t as PyTuple) = arguments { values = t.items }
        else if case .object(let d as PyDict) = arguments { values = [arguments]; mapping = d }
        else { values = [arguments] }
        var out = ""
        var chars = Array(format)[...]
        var next = 0
        while let c = chars.first {
            chars.removeFirst()
            guard c == "%" else { out.append(c); continue }
            guard !chars.isEmpty else { throw valueError("incomplete format") }
            if chars.first == "%" { chars.removeFirst(); out += "%"; continue }
            var key: String? = nil
            if chars.first == "(" {
                chars.removeFirst()
                var k = ""
                while let d = chars.first, d != ")" { k.append(d); chars.removeFirst() }
                guard !chars.isEmpty else { throw valueError("incomplete format key") }
                chars.removeFirst()
                key = k
            }
            var flags = ""
            while let d = chars.first, "-+ #0".contains(d) { flags.append(d); chars.removeFirst() }
            var width = ""
            while let d = chars.first, d.isNumber || d == "*" { width.append(d); chars.removeFirst() }
            var precision: String? = nil
            if chars.first == "." {
                chars.removeFirst()
                var p = ""
                while let d = chars.first, d.isNumber { p.append(d); chars.removeFirst() }
                precision = p
            }
            guard let conversion = chars.first else { throw valueError("incomplete format") }
            chars.removeFirst()
            let value: PyValue
            if let key, let mapping {
                guard let v = mapping[.str(key)] else { throw error(types.keyError, Interpreter.stringRepr(key)) }
                value = v
            } else {
                guard next < values.count else { throw typeError("not enough arguments for format string") }
                value = values[next]
                next += 1
            }
            var spec = ""
            if flags.contains("-") { spec += "<" } else if conversion != "s" && conversion != "r" { spec += "" } else { spec += ">" }
            if flags.contains("+") { spec += "+" } else if flags.contains(" ") { spec += " " }
            if flags.contains("0") && !flags.contains("-") { spec += "0" }
            spec += width
            switch conversion {
            case "s": out += try self.format(.str(try str(value)), spec)
            case "r": out += try self.format(.str(try repr(value)), spec)
            case "d", "i", "u":
                guard let n = number(value) else { throw typeError("%d format: a real number is required, not \(typeName(value))") }
                out += try self.format(.int(try toInt(.float(n))), spec + "d")
            case "f", "F", "e", "E", "g", "G":
                guard let n = number(value) else { throw typeError("must be real number, not \(typeName(value))") }
                out += try self.format(.float(n), spec + "." + (precision ?? "6") + String(conversion))
            case "x", "X", "o":
                guard let n = integer(value) else { throw typeError("%x format: an integer is required") }
                out += try self.format(.int(n), spec + String(conversion))
            case "c": out += try str(value)
            default: throw valueError("unsupported format character '\(conversion)'")
            }
        }
        if mapping == nil && next < values.count { throw typeError("not all arguments converted during string formatting") }
        return out
    }

    /// `"{} and {name:>4}".format(…)`.
    func strFormat(_ template: String, _ arguments: Arguments, depth: Int = 0) throws -> String {
        // CPython allows one level of nested fields in a spec ("{:{width}}")
        guard depth <= 2 else { throw valueError("Max string recursion exceeded") }
        var out = ""
        var chars = Array(template)[...]
        var automatic = 0
        while let c = chars.first {
            chars.removeFirst()
            if c == "{" {
                if chars.first == "{" { chars.removeFirst(); out += "{"; continue }
                var field = ""
                var depth = 0
                while let d = chars.first, d != "}" || depth > 0 {
                    if d == "{" { depth += 1 }
                    if d == "}" { depth -= 1 }
                    field.append(d); chars.removeFirst()
                }
                guard !chars.isEmpty else { throw valueError("Single '{' encountered in format string") }
                chars.removeFirst()
                var spec = ""
                var conversion: Character? = nil
                if let colon = field.firstIndex(of: ":") {
                    spec = String(field[field.index(after: colon)...])
                    field = String(field[..<colon])
                }
                if let bang = field.firstIndex(of: "!") {
                    conversion = field[field.index(after: bang)...].first
                    field = String(field[..<bang])
                }
                // nested fields in the spec: "{:{width}}"
                if spec.contains("{") { spec = try strFormat(spec, arguments, depth: depth + 1) }
                let nameEnd = field.firstIndex(where: { $0 == "." || $0 == "[" }) ?? field.endIndex
                let head = String(field[..<nameEnd])
                var value: PyValue
                if head.isEmpty {
                    guard automatic < arguments.positional.count else { throw error(types.indexError, "Replacement index \(automatic) out of range for positional args tuple") }
                    value = arguments.positional[automatic]; automatic += 1
                } else if head.allSatisfy({ $0.isASCII && $0.isNumber }), let i = Int(head) {
                    guard i < arguments.positional.count else { throw error(types.indexError, "Replacement index \(i) out of range for positional args tuple") }
                    value = arguments.positional[i]
                } else {
                    guard let v = arguments.keyword(head) else { throw error(types.keyError, Interpreter.stringRepr(head)) }
                    value = v
                }
                var rest = field[nameEnd...]
                while let d = rest.first {
                    rest.removeFirst()
                    if d == "." {
                        let name = rest.prefix { $0 != "." && $0 != "[" }
                        rest = rest.dropFirst(name.count)
                        value = try getAttribute(value, String(name))
                    } else if d == "[" {
                        let key = rest.prefix { $0 != "]" }
                        rest = rest.dropFirst(key.count + 1)
                        value = try getItem(value, Int(key).map { .int($0) } ?? .str(String(key)))
                    }
                }
                if conversion == "r" { value = .str(try repr(value)) } else if conversion == "s" { value = .str(try str(value)) }
                out += try format(value, spec)
            } else if c == "}" {
                if chars.first == "}" { chars.removeFirst() }
                out += "}"
            } else {
                out.append(c)
            }
        }
        return out
    }
}
