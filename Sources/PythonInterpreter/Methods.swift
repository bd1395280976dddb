import PythonFrontEnd

extension Interpreter {
    func method(_ name: String, _ receiver: PyValue, _ body: @escaping (Interpreter, Arguments) throws -> PyValue) -> PyValue {
        .object(PyBuiltinFunction(name, receiver: receiver, body))
    }

    /// Methods and attributes of built-in values (`"a".split`, `[].append`, `{}.items`, `(1).bit_length`).
    func builtinMethod(_ value: PyValue, _ name: String) -> PyValue? {
        switch value {
        case .str(let s): return stringMethod(s, name, value)
        case .int(let i):
            switch name {
            case "bit_length": return method(name, value) { _, _ in .int(Int.bitWidth - i.magnitude.leadingZeroBitCount) }
            case "real", "numerator": return value
            case "imag": return .int(0)
            case "denominator": return .int(1)
            case "__index__", "__int__": return method(name, value) { _, _ in value }
            case "is_integer": return method(name, value) { _, _ in .bool(true) }
            case "to_bytes", "conjugate": return method(name, value) { _, _ in value }
            default: return nil
            }
        case .float(let d):
            switch name {
            case "is_integer": return method(name, value) { _, _ in .bool(d.isFinite && d.rounded() == d) }
            case "real": return value
            case "imag": return .float(0)
            case "__round__": return method(name, value) { interp, a in try interp.call(interp.builtins["round"]!, Arguments([value] + a.positional)) }
            case "hex": return method(name, value) { _, _ in .str(String(format: "%a", d)) }
            case "as_integer_ratio", "conjugate": return nil
            default: return nil
            }
        case .bool: return builtinMethod(.int(integer(value)!), name)
        case .object(let o):
            switch o {
            case let list as PyList: return listMethod(list, name, value)
            case let tuple as PyTuple:
                switch name {
                case "index": return method(name, value) { interp, a in
                    let x = try interp.argument(a, 0, "index")
                    guard let i = try tuple.items.firstIndex(where: { try interp.equals($0, x) }) else { throw interp.valueError("tuple.index(x): x not in tuple") }
                    return .int(i)
                }
                case "count": return method(name, value) { interp, a in
                    let x = try interp.argument(a, 0, "count")
                    return .int(try tuple.items.filter { try interp.equals($0, x) }.count)
                }
                case "_fields":
                    return nil
                default: return nil
                }
            case let dict as PyDict: return dictMethod(dict, name, value)
            case let set as PySet: return setMethod(set, name, value)
            case let frozen as PyFrozenSet:
                switch name {
                case "union", "intersection", "difference", "issubset", "issuperset", "isdisjoint", "copy":
                    return setMethod(PySet(frozen.items), name, value)
                default: return nil
                }
            case let range as PyRange:
                switch name {
                case "start": return .int(range.start)
                case "stop": return .int(range.stop)
                case "step": return .int(range.step)
                case "index": return method(name, value) { interp, a in
                    let x = try interp.intArgument(try interp.argument(a, 0, "index"), "index")
                    guard try interp.contains(value, .int(x)) else { throw interp.valueError("\(x) is not in range") }
                    return .int((x - range.start) / range.step)
                }
                default: return nil
                }
            case let slice as PySlice:
                switch name {
                case "start": return slice.start
                case "stop": return slice.stop
                case "step": return slice.step
                case "indices": return method(name, value) { interp, a in
                    let (start, stop, step) = try interp.sliceBounds(slice, count: try interp.intArgument(try interp.argument(a, 0, "indices"), "length"))
                    return .tuple([.int(start), .int(stop), .int(step)])
                }
                default: return nil
                }
            case let file as PyFile:
                switch name {
                case "read": return method(name, value) { _, _ in file.binary ? .object(PyBytes(file.bytes)) : .str(file.text) }
                case "readlines": return method(name, value) { _, _ in .list(file.text.split(separator: "\n", omittingEmptySubsequences: false).map { .str(String($0) + "\n") }) }
                case "__enter__": return method(name, value) { _, _ in value }
                case "__exit__", "close": return method(name, value) { _, _ in .bool(false) }
                case "name": return .str(file.path)
                default: return nil
                }
            case let bytes as PyBytes:
                if name == "decode" { return method(name, value) { _, _ in .str(String(decoding: bytes.bytes, as: UTF8.self)) } }
                return nil
            case let iterator as PyIterator:
                if name == "__next__" {
                    return method(name, value) { interp, _ in try interp.call(interp.builtins["next"]!, Arguments([.object(iterator)])) }
                }
                if name == "__iter__" { return method(name, value) { _, _ in value } }
                if name == "send" || name == "close" { return method(name, value) { _, _ in .none } }
                return nil
            case let cls as PyClass:
                return classMethod(cls, name)
            default: return nil
            }
        default: return nil
        }
    }

    /// Unbound methods reached through a built-in class: `dict.fromkeys`, `str.join`, `object.__setattr__`.
    func classMethod(_ cls: PyClass, _ name: String) -> PyValue? {
        let t = types
        if cls === t.object || (cls.kind == .object && name.hasPrefix("__")) {
            switch name {
            case "__setattr__": return .object(PyBuiltinFunction("object.__setattr__") { interp, a in
                guard a.positional.count == 3, case .str(let attribute) = a.positional[1] else { throw interp.typeError("object.__setattr__ expects 3 arguments") }
                try interp.setAttributeDirectly(a.positional[0], attribute, a.positional[2])
                return .none
            })
            case "__getattribute__": return .object(PyBuiltinFunction("object.__getattribute__") { interp, a in
                guard a.positional.count == 2, case .str(let attribute) = a.positional[1] else { throw interp.typeError("object.__getattribute__ expects 2 arguments") }
                guard let v = try interp.findAttribute(a.positional[0], attribute) else { throw interp.attributeError("'\(interp.typeName(a.positional[0]))' object has no attribute '\(attribute)'") }
                return v
            })
            case "__delattr__": return .object(PyBuiltinFunction("object.__delattr__") { interp, a in
                guard a.positional.count == 2, case .str(let attribute) = a.positional[1], case .object(let i as PyInstance) = a.positional[0] else { return .none }
                guard i.attributes[attribute] != nil else { throw interp.attributeError(attribute) }
                i.attributes[attribute] = nil
                return .none
            })
            case "__init__": return .object(PyBuiltinFunction("object.__init__") { _, _ in .none })
            case "__new__": return .object(PyBuiltinFunction("object.__new__") { interp, a in
                guard case .object(let c as PyClass)? = a.positional.first else { throw interp.typeError("object.__new__(X): X is not a type object") }
                return .object(PyInstance(cls: c))
            })
            case "__repr__", "__str__": return .object(PyBuiltinFunction("object.__repr__") { interp, a in
                guard case .object(let i as PyInstance)? = a.positional.first else { return .str("<object>") }
                return .str("<\(i.cls.moduleName).\(i.cls.qualifiedName) object>")
            })
            case "__eq__": return .object(PyBuiltinFunction("object.__eq__") { interp, a in
                .bool(a.positional.count == 2 && interp.identical(a.positional[0], a.positional[1]))
            })
            case "__hash__": return .object(PyBuiltinFunction("object.__hash__") { interp, a in
                try interp.call(interp.builtins["id"]!, a)
            })
            case "__init_subclass__": return .object(PyBuiltinFunction("object.__init_subclass__") { _, _ in .none })
            default: break
            }
        }
        if cls === t.dict && name == "fromkeys" {
            return .object(PyBuiltinFunction("dict.fromkeys") { interp, a in
                let d = PyDict()
                let v = a.positional.count > 1 ? a.positional[1] : .none
                for k in try interp.materialize(try interp.argument(a, 0, "fromkeys")) { d[k] = v }
                return .object(d)
            })
        }
        if cls === t.int && name == "from_bytes" { return nil }
        if [t.str, t.list, t.dict, t.set, t.tuple, t.float, t.int].contains(where: { $0 === cls }) {
            // unbound: str.lower(x), list.append(l, v)
            return .object(PyBuiltinFunction("\(cls.name).\(name)") { interp, a in
                guard var receiver = a.positional.first else { throw interp.typeError("unbound method \(cls.name).\(name)() needs an argument") }
                if case .object(let instance as PyInstance) = receiver, let storage = instance.native {
                    if name == "__init__" {
                        if let d = storage as? PyDict, let source = a.positional.dropFirst().first { try interp.update(d, from: source) }
                        if let d = storage as? PyDict { for (k, v) in a.keywords { d[.str(k)] = v } }
                        if let l = storage as? PyList, let source = a.positional.dropFirst().first { l.items = try interp.materialize(source) }
                        return .none
                    }
                    receiver = .object(storage)
                }
                guard let bound = interp.builtinMethod(receiver, name) else { throw interp.attributeError("'\(cls.name)' has no attribute '\(name)'") }
                return try interp.call(bound, Arguments(Array(a.positional.dropFirst()), keywords: a.keywords))
            })
        }
        return nil
    }

    func stringMethod(_ s: String, _ name: String, _ value: PyValue) -> PyValue? {
        func strArg(_ interp: Interpreter, _ a: Arguments, _ i: Int) throws -> String {
            guard case .str(let x) = try interp.argument(a, i, name) else { throw interp.typeError("\(name)() argument must be str") }
            return x
        }
        func optionalChars(_ interp: Interpreter, _ a: Arguments) throws -> String? {
            guard let v = a.positional.first, !v.isNone else { return nil }
            guard case .str(let x) = v else { throw interp.typeError("\(name) arg must be None or str") }
            return x
        }
        let whitespace = " \t\n\r\u{0B}\u{0C}"
        switch name {
        case "join": return method(name, value) { interp, a in
            let parts = try interp.materialize(try interp.argument(a, 0, "join")).map { v -> String in
                guard case .str(let x) = v else { throw interp.typeError("sequence item: expected str instance, \(interp.typeName(v)) found") }
                return x
            }
            return .str(parts.joined(separator: s))
        }
        case "split", "rsplit": return method(name, value) { interp, a in
            let separator = try a.positional.first.flatMap { $0.isNone ? nil : $0 }.map { v -> String in
                guard case .str(let x) = v else { throw interp.typeError("must be str or None") }
                return x
            } ?? a.keyword("sep").flatMap { if case .str(let x) = $0 { return x }; return nil }
            let maxSplit = try (interp.optionalArgument(a, 1, name: "maxsplit")).map { try interp.intArgument($0, "maxsplit") } ?? -1
            if let separator {
                guard !separator.isEmpty else { throw interp.valueError("empty separator") }
                var parts = s.components(separatedBy: separator)
                if maxSplit >= 0 && parts.count > maxSplit + 1 {
                    if name == "split" {
                        let head = Array(parts[..<maxSplit])
                        parts = head + [parts[maxSplit...].joined(separator: separator)]
                    } else {
                        let tailStart = parts.count - maxSplit
                        parts = [parts[..<tailStart].joined(separator: separator)] + Array(parts[tailStart...])
                    }
                }
                return .list(parts.map { .str($0) })
            }
            var words = s.split(whereSeparator: { whitespace.contains($0) }).map(String.init)
            if maxSplit >= 0 && words.count > maxSplit + 1 {
                // whitespace splitting with a limit keeps the remainder as written (approximately)
                words = Array(words[..<maxSplit]) + [words[maxSplit...].joined(separator: " ")]
            }
            return .list(words.map { .str($0) })
        }
        case "strip": return method(name, value) { interp, a in .str(s.trimmingCharacters(try optionalChars(interp, a) ?? whitespace)) }
        case "lstrip": return method(name, value) { interp, a in
            let set = try optionalChars(interp, a) ?? whitespace
            return .str(String(s.drop { set.contains($0) }))
        }
        case "rstrip": return method(name, value) { interp, a in
            let set = try optionalChars(interp, a) ?? whitespace
            var out = Substring(s)
            while let l = out.last, set.contains(l) { out.removeLast() }
            return .str(String(out))
        }
        case "replace": return method(name, value) { interp, a in
            let old = try strArg(interp, a, 0), new = try strArg(interp, a, 1)
            let count = try a.positional.count > 2 ? interp.intArgument(a.positional[2], "count") : -1
            if count < 0 { return .str(old.isEmpty ? s : s.replacingOccurrences(old, new)) }
            var out = "", rest = Substring(s), n = 0
            while n < count, let r = rest.range(of: old) { out += rest[..<r.lowerBound] + new; rest = rest[r.upperBound...]; n += 1 }
            return .str(out + rest)
        }
        case "startswith", "endswith": return method(name, value) { interp, a in
            let prefixes: [String]
            switch try interp.argument(a, 0, name) {
            case .str(let p): prefixes = [p]
            case .object(let t as PyTuple): prefixes = t.items.compactMap { if case .str(let p) = $0 { return p }; return nil }
            default: throw interp.typeError("\(name) first arg must be str or a tuple of str")
            }
            return .bool(prefixes.contains { name == "startswith" ? s.hasPrefix($0) : s.hasSuffix($0) })
        }
        case "lower": return method(name, value) { _, _ in .str(s.lowercased()) }
        case "upper": return method(name, value) { _, _ in .str(s.uppercased()) }
        case "casefold": return method(name, value) { _, _ in .str(s.lowercased()) }
        case "title": return method(name, value) { _, _ in
            var out = "", previousLetter = false
            for c in s { out += previousLetter ? c.lowercased() : c.uppercased(); previousLetter = c.isLetter }
            return .str(out)
        }
        case "capitalize": return method(name, value) { _, _ in .str(s.prefix(1).uppercased() + s.dropFirst().lowercased()) }
        case "format": return method(name, value) { interp, a in .str(try interp.strFormat(s, a)) }
        case "format_map": return method(name, value) { interp, a in
            let mapping = try interp.mappingItems(try interp.argument(a, 0, name))
            return .str(try interp.strFormat(s, Arguments([], keywords: mapping.compactMap { if case .str(let k) = $0.0 { return (k, $0.1) }; return nil })))
        }
        case "find", "index", "rfind", "rindex": return method(name, value) { interp, a in
            let sub = try strArg(interp, a, 0)
            let chars = Array(s), target = Array(sub)
            var found = -1
            if target.count <= chars.count {
                let positions = Array(0...(chars.count - target.count))
                for i in (name.hasPrefix("r") ? positions.reversed() : positions) where Array(chars[i..<(i + target.count)]) == target { found = i; break }
            }
            if found < 0 && name.hasSuffix("index") { throw interp.valueError("substring not found") }
            return .int(found)
        }
        case "count": return method(name, value) { interp, a in
            let sub = try strArg(interp, a, 0)
            if sub.isEmpty { return .int(s.count + 1) }
            return .int(s.components(separatedBy: sub).count - 1)
        }
        case "isdigit", "isnumeric", "isdecimal": return method(name, value) { _, _ in .bool(!s.isEmpty && s.allSatisfy { $0.isNumber }) }
        case "isalpha": return method(name, value) { _, _ in .bool(!s.isEmpty && s.allSatisfy { $0.isLetter }) }
        case "isalnum": return method(name, value) { _, _ in .bool(!s.isEmpty && s.allSatisfy { $0.isLetter || $0.isNumber }) }
        case "isspace": return method(name, value) { _, _ in .bool(!s.isEmpty && s.allSatisfy { $0.isWhitespace }) }
        case "isupper": return method(name, value) { _, _ in .bool(s.contains { $0.isLetter } && !s.contains { $0.isLowercase }) }
        case "islower": return method(name, value) { _, _ in .bool(s.contains { $0.isLetter } && !s.contains { $0.isUppercase }) }
        case "isidentifier": return method(name, value) { _, _ in
            .bool(!s.isEmpty && !(s.first!.isNumber) && s.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" })
        }
        case "splitlines": return method(name, value) { _, _ in .list(s.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).map { .str(String($0)) }.dropLast(s.hasSuffix("\n") ? 1 : 0).map { $0 }) }
        case "zfill": return method(name, value) { interp, a in
            let width = try interp.intArgument(try interp.argument(a, 0, name), "width")
            guard s.count < width else { return value }
            try interp.checkSize(width)
            let sign = s.first.map { $0 == "-" || $0 == "+" } ?? false
            let padding = String(repeating: "0", count: width - s.count)
            return .str(sign ? String(s.first!) + padding + s.dropFirst() : padding + s)
        }
        case "ljust", "rjust", "center": return method(name, value) { interp, a in
            let width = try interp.intArgument(try interp.argument(a, 0, name), "width")
            let fill = try a.positional.count > 1 ? strArg(interp, a, 1) : " "
            let align = name == "ljust" ? "<" : name == "rjust" ? ">" : "^"
            return .str(try interp.format(value, fill + align + String(width)))
        }
        case "partition", "rpartition": return method(name, value) { interp, a in
            let sep = try strArg(interp, a, 0)
            let parts = s.components(separatedBy: sep)
            guard parts.count > 1 else { return name == "partition" ? .tuple([value, .str(""), .str("")]) : .tuple([.str(""), .str(""), value]) }
            if name == "partition" { return .tuple([.str(parts[0]), .str(sep), .str(parts.dropFirst().joined(separator: sep))]) }
            return .tuple([.str(parts.dropLast().joined(separator: sep)), .str(sep), .str(parts.last!)])
        }
        case "removeprefix": return method(name, value) { interp, a in
            let p = try strArg(interp, a, 0); return .str(s.hasPrefix(p) ? String(s.dropFirst(p.count)) : s)
        }
        case "removesuffix": return method(name, value) { interp, a in
            let p = try strArg(interp, a, 0); return .str(s.hasSuffix(p) && !p.isEmpty ? String(s.dropLast(p.count)) : s)
        }
        case "encode": return method(name, value) { _, _ in .object(PyBytes(Array(s.utf8))) }
        case "swapcase": return method(name, value) { _, _ in .str(String(s.map { $0.isUppercase ? Character($0.lowercased()) : Character($0.uppercased()) })) }
        case "expandtabs": return method(name, value) { _, _ in .str(s.replacingOccurrences("\t", "        ")) }
        case "translate", "maketrans": return nil
        default: return nil
        }
    }

    func listMethod(_ list: PyList, _ name: String, _ value: PyValue) -> PyValue? {
        switch name {
        case "append": return method(name, value) { interp, a in
            list.items.append(try interp.argument(a, 0, "append"))
            try interp.checkSize(list.items.count)
            return .none
        }
        case "extend": return method(name, value) { interp, a in
            let source = try interp.argument(a, 0, "extend")
            if case .object(let other as PyList) = source, other === list { list.items += other.items; return .none }
            // items are appended as they come: a generator may read the list it extends
            try interp.forEach(source) { item in
                list.items.append(item)
                try interp.checkSize(list.items.count)
                return true
            }
            return .none
        }
        case "insert": return method(name, value) { interp, a in
            var i = try interp.intArgument(try interp.argument(a, 0, "insert"), "index")
            if i < 0 { i = max(0, i + list.items.count) }
            list.items.insert(try interp.argument(a, 1, "insert"), at: min(i, list.items.count))
            return .none
        }
        case "pop": return method(name, value) { interp, a in
            guard !list.items.isEmpty else { throw interp.error(interp.types.indexError, "pop from empty list") }
            let i = try a.positional.first.map { try interp.normalizedIndex($0, count: list.items.count, what: "pop") } ?? list.items.count - 1
            return list.items.remove(at: i)
        }
        case "remove": return method(name, value) { interp, a in
            let x = try interp.argument(a, 0, "remove")
            guard let i = try list.items.firstIndex(where: { try interp.equals($0, x) }) else { throw interp.valueError("list.remove(x): x not in list") }
            list.items.remove(at: i)
            return .none
        }
        case "index": return method(name, value) { interp, a in
            let x = try interp.argument(a, 0, "index")
            guard let i = try list.items.firstIndex(where: { try interp.equals($0, x) }) else { throw interp.valueError("\(try interp.repr(x)) is not in list") }
            return .int(i)
        }
        case "count": return method(name, value) { interp, a in
            let x = try interp.argument(a, 0, "count")
            return .int(try list.items.filter { try interp.equals($0, x) }.count)
        }
        case "sort": return method(name, value) { interp, a in
            let key = a.keyword("key").flatMap { $0.isNone ? nil : $0 }
            list.items = try interp.sortValues(list.items, key: key, reverse: try a.keyword("reverse").map(interp.truthy) ?? false)
            return .none
        }
        case "reverse": return method(name, value) { _, _ in list.items.reverse(); return .none }
        case "copy": return method(name, value) { _, _ in .list(list.items) }
        case "clear": return method(name, value) { _, _ in list.items = []; return .none }
        case "__len__": return method(name, value) { _, _ in .int(list.items.count) }
        case "__getitem__": return method(name, value) { interp, a in try interp.getItem(value, try interp.argument(a, 0, name)) }
        case "__iter__": return method(name, value) { _, _ in .object(PyIterator(list.items)) }
        default: return nil
        }
    }

    func dictMethod(_ dict: PyDict, _ name: String, _ value: PyValue) -> PyValue? {
        switch name {
        case "keys": return method(name, value) { _, _ in .list(dict.orderedKeys) }
        case "values": return method(name, value) { _, _ in .list(dict.entries.map(\.value)) }
        case "items": return method(name, value) { _, _ in .list(dict.entries.map { .tuple([$0.key, $0.value]) }) }
        case "get": return method(name, value) { interp, a in
            let key = try interp.argument(a, 0, "get")
            try interp.checkHashable(key)
            return dict[key] ?? (a.positional.count > 1 ? a.positional[1] : .none)
        }
        case "pop": return method(name, value) { interp, a in
            let key = try interp.argument(a, 0, "pop")
            if let v = dict[key] { dict[key] = nil; return v }
            if a.positional.count > 1 { return a.positional[1] }
            throw interp.error(interp.types.keyError, try interp.repr(key))
        }
        case "popitem": return method(name, value) { interp, _ in
            guard let last = dict.entries.last else { throw interp.error(interp.types.keyError, "'popitem(): dictionary is empty'") }
            dict[last.key] = nil
            return .tuple([last.key, last.value])
        }
        case "setdefault": return method(name, value) { interp, a in
            let key = try interp.argument(a, 0, "setdefault")
            if let v = dict[key] { return v }
            let v = a.positional.count > 1 ? a.positional[1] : .none
            dict[key] = v
            return v
        }
        case "update": return method(name, value) { interp, a in
            if let source = a.positional.first { try interp.update(dict, from: source) }
            for (k, v) in a.keywords { dict[.str(k)] = v }
            return .none
        }
        case "copy": return method(name, value) { _, _ in .object(PyDict(dict.entries.map { ($0.key, $0.value) })) }
        case "clear": return method(name, value) { _, _ in dict.removeAll(); return .none }
        case "__contains__": return method(name, value) { interp, a in .bool(dict[try interp.argument(a, 0, name)] != nil) }
        case "__getitem__": return method(name, value) { interp, a in try interp.getItem(value, try interp.argument(a, 0, name)) }
        case "__setitem__": return method(name, value) { interp, a in
            try interp.setItem(value, try interp.argument(a, 0, name), try interp.argument(a, 1, name)); return .none
        }
        case "__len__": return method(name, value) { _, _ in .int(dict.count) }
        default: return nil
        }
    }

    func setMethod(_ set: PySet, _ name: String, _ value: PyValue) -> PyValue? {
        switch name {
        case "add": return method(name, value) { interp, a in
            let v = try interp.argument(a, 0, "add"); try interp.checkHashable(v); set.insert(v); return .none
        }
        case "remove": return method(name, value) { interp, a in
            let v = try interp.argument(a, 0, "remove")
            guard set.remove(v) else { throw interp.error(interp.types.keyError, try interp.repr(v)) }
            return .none
        }
        case "discard": return method(name, value) { interp, a in _ = set.remove(try interp.argument(a, 0, "discard")); return .none }
        case "update": return method(name, value) { interp, a in
            for source in a.positional { for v in try interp.materialize(source) { set.insert(v) } }
            return .none
        }
        case "union": return method(name, value) { interp, a in
            let out = PySet(set.items)
            for source in a.positional { for v in try interp.materialize(source) { out.insert(v) } }
            return .object(out)
        }
        case "intersection": return method(name, value) { interp, a in
            var keep = set.items
            for source in a.positional {
                let other = Set(try interp.materialize(source).map(PyKey.init))
                keep = keep.filter { other.contains(PyKey($0)) }
            }
            return .object(PySet(keep))
        }
        case "difference": return method(name, value) { interp, a in
            var keep = set.items
            for source in a.positional {
                let other = Set(try interp.materialize(source).map(PyKey.init))
                keep = keep.filter { !other.contains(PyKey($0)) }
            }
            return .object(PySet(keep))
        }
        case "issubset": return method(name, value) { interp, a in
            .bool(set.storage.isSubset(of: Set(try interp.materialize(try interp.argument(a, 0, name)).map(PyKey.init))))
        }
        case "issuperset": return method(name, value) { interp, a in
            .bool(set.storage.isSuperset(of: Set(try interp.materialize(try interp.argument(a, 0, name)).map(PyKey.init))))
        }
        case "isdisjoint": return method(name, value) { interp, a in
            .bool(set.storage.isDisjoint(with: Set(try interp.materialize(try interp.argument(a, 0, name)).map(PyKey.init))))
        }
        case "copy": return method(name, value) { _, _ in .object(PySet(set.items)) }
        case "clear": return method(name, value) { _, _ in set.storage = []; set.order = []; return .none }
        case "pop": return method(name, value) { interp, _ in
            guard let first = set.order.first else { throw interp.error(interp.types.keyError, "'pop from an empty set'") }
            _ = set.remove(first.value)
            return first.value
        }
        default: return nil
        }
    }
}

extension String {
    func components(separatedBy separator: String) -> [String] {
        var parts: [String] = []
        var rest = Substring(self)
        while let r = rest.range(of: separator) {
            parts.append(String(rest[..<r.lowerBound]))
            rest = rest[r.upperBound...]
        }
        parts.append(String(rest))
        return parts
    }
}
