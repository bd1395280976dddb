import Foundation
import PythonFrontEnd

/// The pieces of Python's standard library that model code uses, written for fork mode:
/// native where they compute (math, copy, re), ModelGraph's own Python where they are glue.
enum StandardLibrary {
    static func install(into importer: Importer) {
        importer.nativeModules["math"] = math
        importer.nativeModules["copy"] = copy
        importer.nativeModules["sys"] = sys
        importer.nativeModules["os"] = os
        importer.nativeModules["os.path"] = osPath
        importer.nativeModules["ast"] = ast
        importer.nativeModules["re"] = re
        importer.nativeModules["itertools"] = itertools
        importer.nativeModules["warnings"] = { interp, m in
            m.namespace["warn"] = .object(PyBuiltinFunction("warn") { interp, a in
                interp.warnings.append(try a.positional.first.map { try interp.str($0) } ?? "")
                return .none
            })
        }
        importer.nativeModules["builtins"] = { interp, m in
            for (k, v) in interp.builtins { m.namespace[k] = v }
        }
        for (name, source) in PythonSources.modules { importer.providedSources[name] = source }
        // the standard library is provided in part: a name outside that part is an inert stand-in
        importer.partialPackages.formUnion(["typing", "collections", "functools", "contextlib", "logging", "abc", "enum", "dataclasses",
                                            "inspect", "types", "operator", "time", "random", "platform", "math", "os", "sys", "re",
                                            "copy", "warnings", "itertools", "ast", "numbers", "__future__", "pathlib", "threading"])
        // the rest of the standard library (subprocess, socket, shutil, …) is inert stand-ins: model code imports
        // them at the top of files, and using one is a located error, never a process, a socket or a write
    }

    static func function(_ module: PyModule, _ name: String, _ body: @escaping NativeFunction) {
        module.namespace[name] = .object(PyBuiltinFunction(name, body))
    }

    static func math(_ interp: Interpreter, _ m: PyModule) throws {
        m.namespace["pi"] = .float(Double.pi)
        m.namespace["e"] = .float(M_E)
        m.namespace["tau"] = .float(2 * Double.pi)
        m.namespace["inf"] = .float(.infinity)
        m.namespace["nan"] = .float(.nan)
        let unary: [(String, (Double) -> Double)] = [
            ("sqrt", Foundation.sqrt), ("exp", Foundation.exp), ("log2", Foundation.log2), ("log10", Foundation.log10),
            ("sin", Foundation.sin), ("cos", Foundation.cos), ("tan", Foundation.tan), ("asin", Foundation.asin), ("acos", Foundation.acos),
            ("atan", Foundation.atan), ("sinh", Foundation.sinh), ("cosh", Foundation.cosh), ("tanh", Foundation.tanh),
            ("fabs", Foundation.fabs), ("erf", Foundation.erf), ("erfc", Foundation.erfc), ("log1p", Foundation.log1p), ("expm1", Foundation.expm1),
            ("radians", { $0 * Double.pi / 180 }), ("degrees", { $0 * 180 / Double.pi }), ("gamma", Foundation.tgamma), ("lgamma", Foundation.lgamma),
        ]
        for (name, f) in unary {
            function(m, name) { interp, a in
                let x = try interp.floatArgument(try interp.argument(a, 0, name), "math.\(name)()")
                if name == "sqrt" && x < 0 { throw interp.valueError("math domain error") }
                return .float(f(x))
            }
        }
        function(m, "log") { interp, a in
            let x = try interp.floatArgument(try interp.argument(a, 0, "log"), "math.log()")
            guard x > 0 else { throw interp.valueError("math domain error") }
            if a.positional.count > 1 { return .float(Foundation.log(x) / Foundation.log(try interp.floatArgument(a.positional[1], "base"))) }
            return .float(Foundation.log(x))
        }
        for name in ["floor", "ceil", "trunc"] {
            function(m, name) { interp, a in
                let v = try interp.argument(a, 0, name)
                if let i = interp.integer(v) { return .int(i) }
                let x = try interp.floatArgument(v, "math.\(name)()")
                let r = name == "floor" ? Foundation.floor(x) : name == "ceil" ? Foundation.ceil(x) : x.rounded(.towardZero)
                return .int(try interp.toInt(.float(r)))
            }
        }
        function(m, "pow") { interp, a in
            .float(Foundation.pow(try interp.floatArgument(try interp.argument(a, 0, "pow"), "x"), try interp.floatArgument(try interp.argument(a, 1, "pow"), "y")))
        }
        function(m, "atan2") { interp, a in
            .float(Foundation.atan2(try interp.floatArgument(try interp.argument(a, 0, "atan2"), "y"), try interp.floatArgument(try interp.argument(a, 1, "atan2"), "x")))
        }
        function(m, "hypot") { interp, a in .float(Foundation.sqrt(try a.positional.reduce(0.0) { let x = try interp.floatArgument($1, "hypot"); return $0 + x * x })) }
        function(m, "copysign") { interp, a in
            .float(Foundation.copysign(try interp.floatArgument(try interp.argument(a, 0, "copysign"), "x"), try interp.floatArgument(try interp.argument(a, 1, "copysign"), "y")))
        }
        function(m, "fmod") { interp, a in
            .float(Foundation.fmod(try interp.floatArgument(try interp.argument(a, 0, "fmod"), "x"), try interp.floatArgument(try interp.argument(a, 1, "fmod"), "y")))
        }
        function(m, "isnan") { interp, a in .bool(try interp.floatArgument(try interp.argument(a, 0, "isnan"), "x").isNaN) }
        function(m, "isinf") { interp, a in .bool(try interp.floatArgument(try interp.argument(a, 0, "isinf"), "x").isInfinite) }
        function(m, "isfinite") { interp, a in .bool(try interp.floatArgument(try interp.argument(a, 0, "isfinite"), "x").isFinite) }
        function(m, "isclose") { interp, a in
            let x = try interp.floatArgument(try interp.argument(a, 0, "isclose"), "a"), y = try interp.floatArgument(try interp.argument(a, 1, "isclose"), "b")
            let rel = try a.keyword("rel_tol").map { try interp.floatArgument($0, "rel_tol") } ?? 1e-9
            let abs_ = try a.keyword("abs_tol").map { try interp.floatArgument($0, "abs_tol") } ?? 0
            return .bool(x == y || Swift.abs(x - y) <= Swift.max(rel * Swift.max(Swift.abs(x), Swift.abs(y)), abs_))
        }
        function(m, "gcd") { interp, a in
            var g = 0
            for v in a.positional {
                var x = Swift.abs(try interp.intArgument(v, "gcd")), y = g
                while y != 0 { (x, y) = (y, x % y) }
                g = x
            }
            return .int(g)
        }
        function(m, "lcm") { interp, a in
            var l = 1
            for v in a.positional {
                let x = Swift.abs(try interp.intArgument(v, "lcm"))
                if x == 0 { return .int(0) }
                var p = l, q = x
                while q != 0 { (p, q) = (q, p % q) }
                l = l / p * x
            }
            return .int(l)
        }
        function(m, "factorial") { interp, a in
            let n = try interp.intArgument(try interp.argument(a, 0, "factorial"), "factorial")
            guard n >= 0 else { throw interp.valueError("factorial() not defined for negative values") }
            var r = 1
            for i in Swift.stride(from: 2, through: n, by: 1) {
                let (p, o) = r.multipliedReportingOverflow(by: i); if o { throw interp.overflow("factorial") }; r = p
            }
            return .int(r)
        }
        function(m, "comb") { interp, a in
            let n = try interp.intArgument(try interp.argument(a, 0, "comb"), "n"), k = try interp.intArgument(try interp.argument(a, 1, "comb"), "k")
            guard k >= 0, n >= 0 else { throw interp.valueError("must be non-negative") }
            if k > n { return .int(0) }
            var r = 1
            for i in 0..<Swift.min(k, n - k) {
                let (p, o) = r.multipliedReportingOverflow(by: n - i); if o { throw interp.overflow("comb") }; r = p / (i + 1)
            }
            return .int(r)
        }
        function(m, "prod") { interp, a in
            var total = try a.keyword("start") ?? .int(1)
            try interp.forEach(try interp.argument(a, 0, "prod")) { total = try interp.binary(.multiply, total, $0); return true }
            return total
        }
        function(m, "fsum") { interp, a in
            var total = 0.0
            try interp.forEach(try interp.argument(a, 0, "fsum")) { total += try interp.floatArgument($0, "fsum"); return true }
            return .float(total)
        }
    }

    static func copy(_ interp: Interpreter, _ m: PyModule) throws {
        function(m, "copy") { interp, a in try interp.shallowCopy(try interp.argument(a, 0, "copy")) }
        function(m, "deepcopy") { interp, a in
            var memo: [ObjectIdentifier: PyValue] = [:]
            return try interp.deepCopy(try interp.argument(a, 0, "deepcopy"), memo: &memo)
        }
    }

    static func sys(_ interp: Interpreter, _ m: PyModule) throws {
        m.namespace["version_info"] = .tuple([.int(3), .int(11), .int(7), .str("final"), .int(0)])
        m.namespace["version"] = .str("3.11.7 (ModelGraph fork mode)")
        m.namespace["platform"] = .str("linux")
        m.namespace["argv"] = .list([])
        m.namespace["path"] = .list([])
        m.namespace["maxsize"] = .int(Int.max)
        m.namespace["byteorder"] = .str("little")
        m.namespace["modules"] = .object(PyDict())
        m.namespace["stdout"] = .object(PyStandIn(path: "sys.stdout"))
        m.namespace["stderr"] = .object(PyStandIn(path: "sys.stderr"))
        function(m, "getrecursionlimit") { interp, _ in .int(interp.budget.recursionDepth) }
        function(m, "setrecursionlimit") { _, _ in .none }
        function(m, "exit") { interp, _ in throw interp.error(interp.types.systemExit, "sys.exit() called by model code") }
    }

    static func os(_ interp: Interpreter, _ m: PyModule) throws {
        // no environment: every variable is unset
        m.namespace["environ"] = .object(PyDict())
        m.namespace["sep"] = .str("/")
        m.namespace["name"] = .str("posix")
        m.namespace["linesep"] = .str("\n")
        function(m, "getenv") { _, a in a.positional.count > 1 ? a.positional[1] : (a.keyword("default") ?? .none) }
        function(m, "cpu_count") { _, _ in .int(1) }
        function(m, "getcwd") { _, _ in .str(".") }
        m.namespace["path"] = try interp.importer.importModule("os.path", from: nil, level: 0, interpreter: interp, at: nil)
        for name in ["makedirs", "mkdir", "remove", "unlink", "rename", "system", "popen", "listdir", "walk", "chdir", "rmdir", "putenv", "kill"] {
            function(m, name) { interp, _ in throw interp.error(interp.types.osError, "os.\(name)() is not available to model code in fork mode") }
        }
    }

    static func osPath(_ interp: Interpreter, _ m: PyModule) throws {
        func strings(_ interp: Interpreter, _ a: Arguments) throws -> [String] {
            try a.positional.map { v in
                if case .str(let s) = v { return s }
                return try interp.str(v)
            }
        }
        function(m, "join") { interp, a in
            var out = ""
            for part in try strings(interp, a) {
                if part.hasPrefix("/") { out = part } else if out.isEmpty || out.hasSuffix("/") { out += part } else { out += "/" + part }
            }
            return .str(out)
        }
        function(m, "basename") { interp, a in .str(String(try strings(interp, a).first?.split(separator: "/", omittingEmptySubsequences: false).last ?? "")) }
        function(m, "dirname") { interp, a in
            let s = try strings(interp, a).first ?? ""
            guard let slash = s.lastIndex(of: "/") else { return .str("") }
            return .str(String(s[..<slash]))
        }
        function(m, "splitext") { interp, a in
            let s = try strings(interp, a).first ?? ""
            let base = s.split(separator: "/", omittingEmptySubsequences: false).last ?? ""
            guard let dot = base.lastIndex(of: "."), dot != base.startIndex else { return .tuple([.str(s), .str("")]) }
            let ext = String(base[dot...])
            return .tuple([.str(String(s.dropLast(ext.count))), .str(ext)])
        }
        function(m, "split") { interp, a in
            let s = try strings(interp, a).first ?? ""
            guard let slash = s.lastIndex(of: "/") else { return .tuple([.str(""), .str(s)]) }
            return .tuple([.str(String(s[..<slash])), .str(String(s[s.index(after: slash)...]))])
        }
        for name in ["exists", "isfile", "isdir", "islink"] { function(m, name) { _, _ in .bool(false) } }
        function(m, "abspath") { interp, a in .str(try strings(interp, a).first ?? "") }
        function(m, "realpath") { interp, a in .str(try strings(interp, a).first ?? "") }
        function(m, "expanduser") { interp, a in .str(try strings(interp, a).first ?? "") }
        m.namespace["sep"] = .str("/")
    }

    static func ast(_ interp: Interpreter, _ m: PyModule) throws {
        function(m, "literal_eval") { interp, a in
            guard case .str(let text) = try interp.argument(a, 0, "literal_eval") else { return try interp.argument(a, 0, "literal_eval") }
            return try interp.literalEvaluate(text)
        }
    }

    static func re(_ interp: Interpreter, _ m: PyModule) throws {
        for (flag, value) in [("I", 2), ("IGNORECASE", 2), ("M", 8), ("MULTILINE", 8), ("S", 16), ("DOTALL", 16), ("X", 64), ("VERBOSE", 64)] {
            m.namespace[flag] = .int(value)
        }
        function(m, "compile") { interp, a in .object(try RegexPattern(a, interp)) }
        for name in ["match", "search", "fullmatch", "sub", "findall", "split", "finditer", "subn"] {
            function(m, name) { interp, a in
                let pattern = try RegexPattern(Arguments([try interp.argument(a, 0, name)], keywords: a.keywords.filter { $0.0 == "flags" }), interp)
                return try pattern.call(name, Arguments(Array(a.positional.dropFirst()), keywords: a.keywords.filter { $0.0 != "flags" }), interp)
            }
        }
        function(m, "escape") { interp, a in
            let s = try interp.str(try interp.argument(a, 0, "escape"))
            return .str(NSRegularExpression.escapedPattern(for: s))
        }
    }

    static func itertools(_ interp: Interpreter, _ m: PyModule) throws {
        function(m, "count") { interp, a in
            var next = try interp.optionalArgument(a, 0, name: "start") ?? .int(0)
            let step = interp.optionalArgument(a, 1, name: "step") ?? .int(1)
            return .object(PyIterator(produce: { interp in
                let current = next
                next = try interp.binary(.add, next, step)
                try interp.step(interp.frames.last?.location ?? SourceLocation(line: 0, column: 0))
                return current
            }))
        }
        function(m, "repeat") { interp, a in
            let value = try interp.argument(a, 0, "repeat")
            guard let times = try interp.optionalArgument(a, 1, name: "times").map({ try interp.intArgument($0, "times") }) else {
                return .object(PyIterator(produce: { interp in
                    try interp.step(interp.frames.last?.location ?? SourceLocation(line: 0, column: 0))
                    return value
                }))
            }
            try interp.checkSize(times)
            return .object(PyIterator(Array(repeating: value, count: max(0, times))))
        }
        function(m, "cycle") { interp, a in
            let items = try interp.materialize(try interp.argument(a, 0, "cycle"))
            var i = 0
            return .object(PyIterator(produce: { interp in
                guard !items.isEmpty else { return nil }
                try interp.step(interp.frames.last?.location ?? SourceLocation(line: 0, column: 0))
                defer { i = (i + 1) % items.count }
                return items[i]
            }))
        }
        function(m, "product") { interp, a in
            let repeatCount = try a.keyword("repeat").map { try interp.intArgument($0, "repeat") } ?? 1
            var pools = try a.positional.map { try interp.materialize($0) }
            pools = Array((0..<max(repeatCount, 0)).flatMap { _ in pools })
            var result: [[PyValue]] = [[]]
            for pool in pools {
                result = result.flatMap { prefix in pool.map { prefix + [$0] } }
                try interp.checkSize(result.count)
            }
            return .object(PyIterator(result.map { .tuple($0) }))
        }
        function(m, "accumulate") { interp, a in
            var out: [PyValue] = []
            var total: PyValue? = a.keyword("initial")
            if let t = total { out.append(t) }
            let function = a.positional.count > 1 ? a.positional[1] : a.keyword("func")
            try interp.forEach(try interp.argument(a, 0, "accumulate")) { item in
                if let t = total {
                    total = try function.map { try interp.call($0, Arguments([t, item])) } ?? interp.binary(.add, t, item)
                } else { total = item }
                out.append(total!)
                return true
            }
            return .object(PyIterator(out))
        }
        function(m, "zip_longest") { interp, a in
            let lists = try a.positional.map { try interp.materialize($0) }
            let fill = a.keyword("fillvalue") ?? .none
            let count = lists.map(\.count).max() ?? 0
            return .object(PyIterator((0..<count).map { i in .tuple(lists.map { i < $0.count ? $0[i] : fill }) }))
        }
        for name in ["combinations", "permutations", "combinations_with_replacement"] {
            function(m, name) { interp, a in
                let pool = try interp.materialize(try interp.argument(a, 0, name))
                let r = try interp.optionalArgument(a, 1, name: "r").map { try interp.intArgument($0, "r") } ?? pool.count
                var out: [PyValue] = []
                func pick(_ chosen: [Int], _ start: Int) throws {
                    if chosen.count == r { out.append(.tuple(chosen.map { pool[$0] })); try interp.checkSize(out.count); return }
                    for i in (name == "permutations" ? 0 : start)..<pool.count where name != "permutations" || !chosen.contains(i) {
                        try pick(chosen + [i], name == "combinations_with_replacement" ? i : i + 1)
                    }
                }
                if r <= pool.count || name == "combinations_with_replacement" { try pick([], 0) }
                return .object(PyIterator(out))
            }
        }
        function(m, "starmap") { interp, a in
            let function = try interp.argument(a, 0, "starmap")
            return .object(PyIterator(try interp.materialize(try interp.argument(a, 1, "starmap")).map { try interp.call(function, Arguments(try interp.materialize($0))) }))
        }
        function(m, "groupby") { interp, a in
            throw interp.notSupported("itertools.groupby is not provided in fork mode")
        }
        function(m, "islice") { interp, a in
            let source = try interp.argument(a, 0, "islice")
            let bounds = try a.positional.dropFirst().map { $0.isNone ? nil : try interp.intArgument($0, "islice") }
            let start = bounds.count > 1 ? (bounds[0] ?? 0) : 0
            let stop = bounds.count > 1 ? bounds[1] : bounds.first ?? nil
            let step = bounds.count > 2 ? (bounds[2] ?? 1) : 1
            var out: [PyValue] = []
            var i = 0
            try interp.forEach(source) { item in
                if let stop, i >= stop { return false }
                if i >= start && (i - start) % step == 0 { out.append(item) }
                i += 1
                return true
            }
            return .object(PyIterator(out))
        }
    }
}

/// A compiled `re` pattern (NSRegularExpression, whose syntax covers what model code uses).
final class RegexPattern: PyObject, NativeObject {
    let regex: NSRegularExpression
    let source: String

    init(_ a: Arguments, _ interp: Interpreter) throws {
        let pattern = try interp.argument(a, 0, "compile")
        if case .object(let p as RegexPattern) = pattern { regex = p.regex; source = p.source; return }
        guard case .str(let text) = pattern else { throw interp.typeError("first argument must be string or compiled pattern") }
        let flags = try interp.optionalArgument(a, 1, name: "flags").map { try interp.intArgument($0, "flags") } ?? 0
        var options: NSRegularExpression.Options = []
        if flags & 2 != 0 { options.insert(.caseInsensitive) }
        if flags & 8 != 0 { options.insert(.anchorsMatchLines) }
        if flags & 16 != 0 { options.insert(.dotMatchesLineSeparators) }
        if flags & 64 != 0 { options.insert(.allowCommentsAndWhitespace) }
        do { regex = try NSRegularExpression(pattern: text.replacingOccurrences("(?P<", "(?<"), options: options) }
        catch { throw interp.error(interp.types.valueError, "re.error: cannot compile \(Interpreter.stringRepr(text))") }
        source = text
    }

    func pythonClass(_ interpreter: Interpreter) -> PyClass { interpreter.types.standIn }

    func attribute(_ name: String, _ interp: Interpreter) throws -> PyValue? {
        if name == "pattern" { return .str(source) }
        return .object(PyBuiltinFunction(name) { interp, a in try self.call(name, a, interp) })
    }

    func matchObject(_ match: NSTextCheckingResult, in text: String) -> PyValue {
        let ns = text as NSString
        var groups: [PyValue] = []
        for i in 0..<match.numberOfRanges {
            let r = match.range(at: i)
            groups.append(r.location == NSNotFound ? .none : .str(ns.substring(with: r)))
        }
        return .object(RegexMatch(groups: groups, span: (match.range.location, match.range.location + match.range.length)))
    }

    func call(_ name: String, _ a: Arguments, _ interp: Interpreter) throws -> PyValue {
        switch name {
        case "sub", "subn":
            let replacement = try interp.argument(a, 0, name)
            let text = try interp.str(try interp.argument(a, 1, name))
            let ns = text as NSString
            var out = ""
            var last = 0
            var count = 0
            for match in regex.matches(in: text, range: NSRange(location: 0, length: ns.length)) {
                out += ns.substring(with: NSRange(location: last, length: match.range.location - last))
                if case .str(let template) = replacement {
                    out += regex.replacementString(for: match, in: text, offset: 0, template: template.replacingOccurrences("\\g<", "$").replacingOccurrences("\\1", "$1").replacingOccurrences("\\2", "$2"))
                } else {
                    out += try interp.str(try interp.call(replacement, Arguments([matchObject(match, in: text)])))
                }
                last = match.range.location + match.range.length
                count += 1
            }
            out += ns.substring(from: last)
            return name == "sub" ? .str(out) : .tuple([.str(out), .int(count)])
        default:
            let text = try interp.str(try interp.argument(a, 0, name))
            let ns = text as NSString
            let whole = NSRange(location: 0, length: ns.length)
            switch name {
            case "match":
                guard let m = regex.firstMatch(in: text, options: [.anchored], range: whole) else { return .none }
                return matchObject(m, in: text)
            case "fullmatch":
                guard let m = regex.firstMatch(in: text, options: [.anchored], range: whole), m.range.length == ns.length else { return .none }
                return matchObject(m, in: text)
            case "search":
                guard let m = regex.firstMatch(in: text, range: whole) else { return .none }
                return matchObject(m, in: text)
            case "findall":
                return .list(regex.matches(in: text, range: whole).map { m in
                    if m.numberOfRanges == 1 { return .str(ns.substring(with: m.range)) }
                    if m.numberOfRanges == 2 { return m.range(at: 1).location == NSNotFound ? .str("") : .str(ns.substring(with: m.range(at: 1))) }
                    return .tuple((1..<m.numberOfRanges).map { m.range(at: $0).location == NSNotFound ? .str("") : .str(ns.substring(with: m.range(at: $0))) })
                })
            case "finditer":
                return .object(PyIterator(regex.matches(in: text, range: whole).map { matchObject($0, in: text) }))
            case "split":
                var parts: [PyValue] = []
                var last = 0
                for m in regex.matches(in: text, range: whole) {
                    parts.append(.str(ns.substring(with: NSRange(location: last, length: m.range.location - last))))
                    for g in 1..<max(1, m.numberOfRanges) { parts.append(m.range(at: g).location == NSNotFound ? .none : .str(ns.substring(with: m.range(at: g)))) }
                    last = m.range.location + m.range.length
                }
                parts.append(.str(ns.substring(from: last)))
                return .list(parts)
            default:
                throw interp.attributeError("'re.Pattern' object has no attribute '\(name)'")
            }
        }
    }
}

final class RegexMatch: PyObject, NativeObject {
    let groups: [PyValue]
    let span: (Int, Int)
    init(groups: [PyValue], span: (Int, Int)) { self.groups = groups; self.span = span }
    func pythonClass(_ interpreter: Interpreter) -> PyClass { interpreter.types.standIn }
    func truthValue(_ interpreter: Interpreter) throws -> Bool? { true }
    func item(_ index: PyValue, _ interp: Interpreter) throws -> PyValue? {
        groups[try interp.normalizedIndex(index, count: groups.count, what: "group")]
    }
    func attribute(_ name: String, _ interp: Interpreter) throws -> PyValue? {
        switch name {
        case "group": return .object(PyBuiltinFunction("group") { interp, a in
            if a.positional.count <= 1 { return self.groups[try interp.normalizedIndex(a.positional.first ?? .int(0), count: self.groups.count, what: "group")] }
            return .tuple(try a.positional.map { self.groups[try interp.normalizedIndex($0, count: self.groups.count, what: "group")] })
        })
        case "groups": return .object(PyBuiltinFunction("groups") { _, _ in .tuple(Array(self.groups.dropFirst())) })
        case "span": return .object(PyBuiltinFunction("span") { _, _ in .tuple([.int(self.span.0), .int(self.span.1)]) })
        case "start": return .object(PyBuiltinFunction("start") { _, _ in .int(self.span.0) })
        case "end": return .object(PyBuiltinFunction("end") { _, _ in .int(self.span.1) })
        default: return nil
        }
    }
}

extension Interpreter {
    /// `ast.literal_eval`: literals, containers of literals, and signed numbers only.
    func literalEvaluate(_ text: String) throws -> PyValue {
        let module: PythonFrontEnd.Module
        do { module = try Parser.parse(source: text.trimmingCharacters(" \t\n\r"), file: "<literal_eval>") }
        catch { throw valueError("malformed node or string: \(Interpreter.stringRepr(text))") }
        guard module.body.count == 1, case .expression(let e) = module.body[0].kind else {
            throw valueError("malformed node or string: \(Interpreter.stringRepr(text))")
        }
        func check(_ e: Expr) throws {
            switch e.kind {
            case .constant: return
            case .tuple(let items), .list(let items), .set(let items): try items.forEach(check)
            case .dict(let entries): for entry in entries { guard let k = entry.key else { throw valueError("malformed node") }; try check(k); try check(entry.value) }
            case .unary(let op, let inner) where op == .minus || op == .plus: try check(inner)
            case .binary(let op, let l, let r) where op == .add || op == .subtract: try check(l); try check(r)
            default: throw valueError("malformed node or string on line 1: \(Interpreter.stringRepr(text))")
            }
        }
        try check(e)
        let frame = Frame(scope: nil, parent: nil, module: PyModule(name: "<literal_eval>", file: nil), isModuleBody: true)
        return try evaluate(e, frame)
    }

    public func shallowCopy(_ value: PyValue) throws -> PyValue {
        switch value {
        case .object(let l as PyList): return .list(l.items)
        case .object(let d as PyDict): return .object(PyDict(d.entries.map { ($0.key, $0.value) }))
        case .object(let s as PySet): return .object(PySet(s.items))
        case .object(let i as PyInstance):
            if let method = i.cls.lookup("__copy__") { return try call(method, Arguments([value])) }
            let copy = PyInstance(cls: i.cls)
            for (k, v) in i.attributes.entries { copy.attributes[k] = v }
            if let d = i.native as? PyDict { copy.native = PyDict(d.entries.map { ($0.key, $0.value) }) }
            if let l = i.native as? PyList { copy.native = PyList(l.items) }
            return .object(copy)
        default: return value
        }
    }

    public func deepCopy(_ value: PyValue, memo: inout [ObjectIdentifier: PyValue]) throws -> PyValue {
        guard case .object(let o) = value else { return value }
        if let done = memo[ObjectIdentifier(o)] { return done }
        try step(frames.last?.location ?? SourceLocation(line: 0, column: 0))
        switch o {
        case let l as PyList:
            let copy = PyList([])
            memo[ObjectIdentifier(o)] = .object(copy)
            for item in l.items { copy.items.append(try deepCopy(item, memo: &memo)) }
            return .object(copy)
        case let t as PyTuple:
            var items: [PyValue] = []
            for item in t.items { items.append(try deepCopy(item, memo: &memo)) }
            return .tuple(items)
        case let d as PyDict:
            let copy = PyDict()
            memo[ObjectIdentifier(o)] = .object(copy)
            for (k, v) in d.entries { copy[try deepCopy(k, memo: &memo)] = try deepCopy(v, memo: &memo) }
            return .object(copy)
        case let s as PySet:
            return .object(PySet(try s.items.map { try deepCopy($0, memo: &memo) }))
        case let i as PyInstance:
            if i.cls.isSubclass(of: types.baseException) { return value }
            let copy = PyInstance(cls: i.cls)
            memo[ObjectIdentifier(o)] = .object(copy)
            for (k, v) in i.attributes.entries { copy.attributes[k] = try deepCopy(v, memo: &memo) }
            if let native = i.native { copy.native = try deepCopy(.object(native), memo: &memo).asObject }
            copy.enumValue = i.enumValue
            return .object(copy)
        case let n as NativeObject:
            let copy = try n.deepCopied(self) ?? value
            memo[ObjectIdentifier(o)] = copy
            return copy
        default:
            return value
        }
    }
}
