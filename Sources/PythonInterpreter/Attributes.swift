import PythonFrontEnd

extension Interpreter {
    public func typeOf(_ value: PyValue) -> PyClass {
        switch value {
        case .none: return types.noneType
        case .bool: return types.bool
        case .int: return types.int
        case .float: return types.float
        case .str: return types.str
        case .object(let o):
            switch o {
            case let i as PyInstance: return i.cls
            case is PyTuple: return types.tuple
            case is PyList: return types.list
            case is PyDict: return types.dict
            case is PySet: return types.set
            case is PyFrozenSet: return types.frozenset
            case is PyClass: return types.type
            case is PyFunction: return types.function
            case is PyBuiltinFunction: return types.builtinFunction
            case is PyBoundMethod: return types.method
            case is PyModule: return types.module
            case is PyRange: return types.range
            case is PySlice: return types.slice
            case is PyProperty: return types.property
            case is PyStaticMethod: return types.staticmethod
            case is PyClassMethod: return types.classmethod
            case is PyIterator: return types.generator
            case is PyBytes: return types.bytes
            case let n as NativeObject: return n.pythonClass(self)
            default: return types.standIn
            }
        }
    }

    public func typeName(_ value: PyValue) -> String {
        if case .object(let s as PyStandIn) = value { return s.path }
        return typeOf(value).name
    }

    public func isInstance(_ value: PyValue, _ cls: PyClass) -> Bool {
        typeOf(value).isSubclass(of: cls)
    }

    // MARK: attributes

    public func getAttribute(_ value: PyValue, _ name: String) throws -> PyValue {
        if let found = try findAttribute(value, name) { return found }
        if case .object(let instance as PyInstance) = value, let getter = instance.cls.lookup("__getattr__") {
            return try call(getter, Arguments([value, .str(name)]))
        }
        if case .object(let module as PyModule) = value {
            throw attributeError("module '\(module.name)' has no attribute '\(name)'")
        }
        if case .object(let cls as PyClass) = value {
            throw attributeError("type object '\(cls.name)' has no attribute '\(name)'")
        }
        throw attributeError("'\(typeName(value))' object has no attribute '\(name)'")
    }

    func bind(_ attribute: PyValue, to receiver: PyValue, cls: PyClass) throws -> PyValue {
        switch attribute {
        case .object(let f as PyFunction): return .object(PyBoundMethod(receiver: receiver, function: .object(f)))
        case .object(let b as PyBuiltinFunction) where b.receiver == nil && b.bindsAsMethod:
            return .object(PyBoundMethod(receiver: receiver, function: .object(b)))
        case .object(let s as PyStaticMethod): return s.function
        case .object(let c as PyClassMethod): return .object(PyBoundMethod(receiver: .object(cls), function: c.function))
        case .object(let p as PyProperty):
            guard !p.getter.isNone else { throw attributeError("property has no getter") }
            return try call(p.getter, Arguments([receiver]))
        default: return attribute
        }
    }

    /// The attribute, or nil when there is none (before `__getattr__`).
    func findAttribute(_ value: PyValue, _ name: String) throws -> PyValue? {
        switch value {
        case .object(let instance as PyInstance):
            if name == "__class__" { return .object(instance.cls) }
            if name == "__dict__" { return .object(instance.attributes) }
            let classAttribute = instance.cls.lookup(name)
            if case .object(let p as PyProperty)? = classAttribute {
                return try bind(.object(p), to: value, cls: instance.cls)
            }
            if let v = instance.attributes[name] { return v }
            if let classAttribute { return try bind(classAttribute, to: value, cls: instance.cls) }
            if let native = try nativeInstanceAttribute(instance, name) { return native }
            return nil
        case .object(let cls as PyClass):
            switch name {
            case "__name__": return .str(cls.name)
            case "__qualname__": return .str(cls.qualifiedName)
            case "__module__": return cls.dict["__module__"] ?? .str(cls.moduleName)
            case "__mro__": return .tuple(cls.mro.map { .object($0) })
            case "__bases__": return .tuple(cls.bases.map { .object($0) })
            case "__base__": return cls.bases.first.map { .object($0) } ?? PyValue.none
            case "__dict__": return .object(PyDict(cls.dict.sorted { $0.key < $1.key }.map { (.str($0.key), $0.value) }))
            case "__class__": return .object(types.type)
            case "__doc__": return cls.dict["__doc__"] ?? PyValue.none
            case "mro": return .object(PyBuiltinFunction("mro") { _, _ in .list(cls.mro.map { .object($0) }) })
            case "__subclasses__": return .object(PyBuiltinFunction("__subclasses__") { _, _ in .list([]) })
            default: break
            }
            guard let attribute = cls.lookup(name) else {
                if let method = builtinMethod(.object(cls), name) { return method }
                return nil
            }
            switch attribute {
            case .object(let c as PyClassMethod): return .object(PyBoundMethod(receiver: value, function: c.function))
            case .object(let s as PyStaticMethod): return s.function
            default: return attribute
            }
        case .object(let module as PyModule):
            if let v = module.namespace[name] { return v }
            if name == "__name__" { return .str(module.name) }
            if name == "__file__" { return module.file.map { .str($0) } ?? PyValue.none }
            if name == "__dict__" { return .object(PyDict(module.namespace.sorted { $0.key < $1.key }.map { (.str($0.key), $0.value) })) }
            if let sub = try? importer.importModule(name, from: module, level: -1, interpreter: self, at: nil) { return sub }
            if importer.isPartial(module.name), !name.hasPrefix("__") { return .object(PyStandIn(path: module.name + "." + name)) }
            return nil
        case .object(let function as PyFunction):
            switch name {
            case "__name__": return .str(function.name)
            case "__qualname__": return .str(function.qualifiedName)
            case "__module__": return .str(function.globals.name)
            case "__doc__":
                if case .expression(let e)? = (try? function.definition.body())?.first?.kind, case .constant(.string(let s)) = e.kind { return .str(s) }
                return PyValue.none
            case "__defaults__": return .tuple(function.definition.parameters.compactMap { function.defaults[$0.name] })
            case "__code__", "__globals__": return .object(PyStandIn(path: "function.\(name)"))
            case "__wrapped__": return function.attributes[name]
            case "__class__": return .object(types.function)
            case "__get__":
                return .object(PyBuiltinFunction("__get__") { _, a in
                    guard let receiver = a.positional.first, !receiver.isNone else { return value }
                    return .object(PyBoundMethod(receiver: receiver, function: value))
                })
            default: return function.attributes[name]
            }
        case .object(let method as PyBoundMethod):
            switch name {
            case "__self__": return method.receiver
            case "__func__": return method.function
            case "__name__", "__qualname__", "__module__", "__doc__": return try findAttribute(method.function, name)
            default: return try findAttribute(method.function, name)
            }
        case .object(let builtin as PyBuiltinFunction):
            if name == "__name__" || name == "__qualname__" { return .str(builtin.name) }
            if name == "__self__" { return builtin.receiver ?? PyValue.none }
            return nil
        case .object(let s as PySuper):
            for cls in s.receiverClass.mro.drop(while: { $0 !== s.startAfter }).dropFirst() {
                if let attribute = cls.dict[name] {
                    if case .object(let c as PyClassMethod) = attribute {
                        let receiverClass: PyValue = { if case .object(let k as PyClass) = s.receiver { return .object(k) }; return .object(s.receiverClass) }()
                        return .object(PyBoundMethod(receiver: receiverClass, function: c.function))
                    }
                    if case .object(let k as PyClass) = s.receiver, case .object(let f as PyFunction) = attribute {
                        _ = k
                        return .object(f)
                    }
                    return try bind(attribute, to: s.receiver, cls: s.receiverClass)
                }
                if let native = types.nativeMethods[ObjectIdentifier(cls)]?[name] {
                    return .object(PyBoundMethod(receiver: s.receiver, function: .object(native)))
                }
            }
            if name == "__init__" {
                return .object(PyBuiltinFunction("object.__init__") { _, _ in .none })
            }
            if name == "__setattr__" || name == "__getattribute__" || name == "__delattr__" {
                return .object(PyBuiltinFunction("object.\(name)") { interp, a in
                    switch name {
                    case "__setattr__":
                        guard a.positional.count == 2, case .str(let attribute) = a.positional[0] else { throw interp.typeError("__setattr__ expects a name and a value") }
                        try interp.setAttributeDirectly(s.receiver, attribute, a.positional[1])
                        return .none
                    case "__delattr__":
                        guard case .str(let attribute)? = a.positional.first, case .object(let i as PyInstance) = s.receiver else { return .none }
                        i.attributes[attribute] = nil
                        return .none
                    default:
                        guard case .str(let attribute)? = a.positional.first else { throw interp.typeError("attribute name must be a string") }
                        guard let v = try interp.findAttribute(s.receiver, attribute) else { throw interp.attributeError("no attribute '\(attribute)'") }
                        return v
                    }
                })
            }
            return nil
        case .object(let standIn as PyStandIn):
            if name == "__name__" { return .str(standIn.path) }
            // protocol methods are absent (so a stand-in is not iterable, callable by protocol, …);
            // other names, `__version__` among them, are stand-ins too
            if ["__iter__", "__len__", "__getitem__", "__call__", "__enter__", "__exit__", "__bool__", "__next__", "__contains__",
                "__class__", "__dict__", "__setattr__", "__getattr__", "__code__", "__wrapped__", "__index__", "__float__", "__int__"].contains(name) { return nil }
            return .object(PyStandIn(path: standIn.path + "." + name))
        case .object(let deferred as PyDeferredFailure):
            throw deferredError(deferred)
        case .object(let property as PyProperty):
            switch name {
            case "fget": return property.getter
            case "setter":
                return .object(PyBuiltinFunction("setter") { _, a in
                    .object(PyProperty(getter: property.getter, setter: a.positional.first ?? .none, deleter: property.deleter))
                })
            case "getter":
                return .object(PyBuiltinFunction("getter") { _, a in
                    .object(PyProperty(getter: a.positional.first ?? .none, setter: property.setter, deleter: property.deleter))
                })
            case "deleter":
                return .object(PyBuiltinFunction("deleter") { _, a in
                    .object(PyProperty(getter: property.getter, setter: property.setter, deleter: a.positional.first ?? .none))
                })
            default: return nil
            }
        case .object(let native as NativeObject):
            if let v = try native.attribute(name, self) { return v }
            if name == "__class__" { return .object(native.pythonClass(self)) }
            return nil
        default:
            if name == "__class__" { return .object(typeOf(value)) }
            return builtinMethod(value, name)
        }
    }

    /// Methods that built-in classes provide to Python subclasses (Exception's args, dict's items).
    func nativeInstanceAttribute(_ instance: PyInstance, _ name: String) throws -> PyValue? {
        for cls in instance.cls.mro {
            if let native = types.nativeMethods[ObjectIdentifier(cls)]?[name] {
                return .object(PyBoundMethod(receiver: .object(instance), function: .object(native)))
            }
        }
        if let storage = instance.native, let method = builtinMethod(.object(storage), name) { return method }
        return nil
    }

    public func setAttribute(_ object: PyValue, _ name: String, _ value: PyValue) throws {
        if case .object(let instance as PyInstance) = object, let setter = instance.cls.lookup("__setattr__") {
            _ = try call(setter, Arguments([object, .str(name), value]))
            return
        }
        try setAttributeDirectly(object, name, value)
    }

    /// `object.__setattr__`: properties' setters, else the instance's dict.
    func setAttributeDirectly(_ object: PyValue, _ name: String, _ value: PyValue) throws {
        switch object {
        case .object(let instance as PyInstance):
            if case .object(let p as PyProperty)? = instance.cls.lookup(name) {
                guard !p.setter.isNone else { throw attributeError("can't set attribute '\(name)'") }
                _ = try call(p.setter, Arguments([object, value]))
                return
            }
            if name == "__class__", case .object(let cls as PyClass) = value { instance.cls = cls; return }
            instance.attributes[name] = value
        case .object(let cls as PyClass):
            cls.dict[name] = value
            setDefiningClass(value, cls)
        case .object(let module as PyModule):
            module.namespace[name] = value
        case .object(let function as PyFunction):
            function.attributes[name] = value
        case .object(let native as NativeObject):
            guard try native.setAttribute(name, value, self) else {
                throw attributeError("'\(typeName(object))' object attribute '\(name)' cannot be set")
            }
        case .object(is PyStandIn):
            break
        default:
            throw attributeError("'\(typeName(object))' object has no attribute '\(name)'")
        }
    }

    public func deleteAttribute(_ object: PyValue, _ name: String) throws {
        switch object {
        case .object(let instance as PyInstance):
            if let deleter = instance.cls.lookup("__delattr__") {
                _ = try call(deleter, Arguments([object, .str(name)]))
                return
            }
            guard instance.attributes[name] != nil else { throw attributeError("'\(instance.cls.name)' object has no attribute '\(name)'") }
            instance.attributes[name] = nil
        case .object(let cls as PyClass):
            cls.dict[name] = nil
        case .object(let module as PyModule):
            module.namespace[name] = nil
        default:
            throw attributeError("'\(typeName(object))' object has no attribute '\(name)'")
        }
    }

    public func hasAttribute(_ value: PyValue, _ name: String) throws -> Bool {
        do {
            _ = try getAttribute(value, name)
            return true
        } catch let failure as PyError where failure.exception.cls.isSubclass(of: types.attributeError) {
            return false
        }
    }

    // MARK: items

    public func getItem(_ object: PyValue, _ index: PyValue) throws -> PyValue {
        switch object {
        case .str(let s):
            let characters = Array(s)
            if case .object(let slice as PySlice) = index {
                return .str(String(try sliceItems(characters, slice)))
            }
            let i = try normalizedIndex(index, count: characters.count, what: "string")
            return .str(String(characters[i]))
        case .object(let list as PyList):
            if case .object(let slice as PySlice) = index { return .list(try sliceItems(list.items, slice)) }
            return list.items[try normalizedIndex(index, count: list.items.count, what: "list")]
        case .object(let tuple as PyTuple):
            if case .object(let slice as PySlice) = index { return .tuple(try sliceItems(tuple.items, slice)) }
            return tuple.items[try normalizedIndex(index, count: tuple.items.count, what: "tuple")]
        case .object(let dict as PyDict):
            if let v = dict[index] { return v }
            throw keyError(index)
        case .object(let range as PyRange):
            if case .object(let slice as PySlice) = index {
                return .list(try sliceItems(try materialize(object), slice))
            }
            let i = try normalizedIndex(index, count: range.count, what: "range object")
            return .int(range.start + i * range.step)
        case .object(let bytes as PyBytes):
            return .int(Int(bytes.bytes[try normalizedIndex(index, count: bytes.bytes.count, what: "index")]))
        case .object(let instance as PyInstance):
            if let getter = instance.cls.lookup("__getitem__") { return try call(getter, Arguments([object, index])) }
            if let storage = instance.native { return try getItem(.object(storage), index) }
            if case .object(let cls as PyClass) = object, cls.lookup("__class_getitem__") != nil { return object }
            throw typeError("'\(instance.cls.name)' object is not subscriptable")
        case .object(let cls as PyClass):
            // typing generics: List[int], Optional[Tensor], tuple[int, ...]
            _ = cls
            return object
        case .object(let standIn as PyStandIn):
            return .object(PyStandIn(path: standIn.path + "[]"))
        case .object(let native as NativeObject):
            if let v = try native.item(index, self) { return v }
            throw typeError("'\(typeName(object))' object is not subscriptable")
        default:
            throw typeError("'\(typeName(object))' object is not subscriptable")
        }
    }

    public func setItem(_ object: PyValue, _ index: PyValue, _ value: PyValue) throws {
        switch object {
        case .object(let list as PyList):
            if case .object(let slice as PySlice) = index {
                let newItems = try materialize(value)
                let (start, stop, step) = try sliceBounds(slice, count: list.items.count)
                guard step == 1 else {
                    let positions = Array(stride(from: start, to: stop, by: step))
                    guard positions.count == newItems.count else {
                        throw valueError("attempt to assign sequence of size \(newItems.count) to extended slice of size \(positions.count)")
                    }
                    for (p, v) in zip(positions, newItems) { list.items[p] = v }
                    return
                }
                list.items.replaceSubrange(start..<max(start, stop), with: newItems)
                return
            }
            list.items[try normalizedIndex(index, count: list.items.count, what: "list assignment")] = value
        case .object(let dict as PyDict):
            try checkHashable(index)
            dict[index] = value
        case .object(let instance as PyInstance):
            if let setter = instance.cls.lookup("__setitem__") { _ = try call(setter, Arguments([object, index, value])); return }
            if let storage = instance.native { try setItem(.object(storage), index, value); return }
            throw typeError("'\(instance.cls.name)' object does not support item assignment")
        case .object(let native as NativeObject):
            guard try native.setItem(index, value, self) else {
                throw typeError("'\(typeName(object))' object does not support item assignment")
            }
        default:
            throw typeError("'\(typeName(object))' object does not support item assignment")
        }
    }

    public func deleteItem(_ object: PyValue, _ index: PyValue) throws {
        switch object {
        case .object(let list as PyList):
            if case .object(let slice as PySlice) = index {
                let (start, stop, step) = try sliceBounds(slice, count: list.items.count)
                let positions = Set(stride(from: start, to: stop, by: step))
                list.items = list.items.enumerated().filter { !positions.contains($0.offset) }.map(\.element)
                return
            }
            list.items.remove(at: try normalizedIndex(index, count: list.items.count, what: "list assignment"))
        case .object(let dict as PyDict):
            guard dict[index] != nil else { throw error(types.keyError, try repr(index)) }
            dict[index] = nil
        case .object(let instance as PyInstance):
            if let deleter = instance.cls.lookup("__delitem__") { _ = try call(deleter, Arguments([object, index])); return }
            if let storage = instance.native { try deleteItem(.object(storage), index); return }
            throw typeError("'\(instance.cls.name)' object does not support item deletion")
        default:
            throw typeError("'\(typeName(object))' object does not support item deletion")
        }
    }

    public func normalizedIndex(_ index: PyValue, count: Int, what: String) throws -> Int {
        guard let i = try indexValue(index) else {
            throw typeError("\(what) indices must be integers or slices, not \(typeName(index))")
        }
        let j = i < 0 ? i + count : i
        guard j >= 0 && j < count else { throw error(types.indexError, "\(what) index out of range") }
        return j
    }

    /// An integer for indexing (`int`, `bool`, or an object with `__index__`).
    public func indexValue(_ value: PyValue) throws -> Int? {
        switch value {
        case .int(let i): return i
        case .bool(let b): return b ? 1 : 0
        case .object(let native as NativeObject): return try native.index(self)
        case .object(let instance as PyInstance):
            if let method = instance.cls.lookup("__index__") {
                if case .int(let i) = try call(method, Arguments([value])) { return i }
            }
            if let v = instance.enumValue { return try indexValue(v) }
            return nil
        default: return nil
        }
    }

    func sliceBounds(_ slice: PySlice, count: Int) throws -> (Int, Int, Int) {
        func component(_ v: PyValue) throws -> Int? {
            if v.isNone { return nil }
            guard let i = try indexValue(v) else { throw typeError("slice indices must be integers or None or have an __index__ method") }
            return i
        }
        let step = try component(slice.step) ?? 1
        guard step != 0 else { throw valueError("slice step cannot be zero") }
        func clamp(_ v: Int?, _ defaultValue: Int) -> Int {
            guard var v else { return defaultValue }
            if v < 0 { v += count }
            if step > 0 { return min(max(v, 0), count) }
            return min(max(v, -1), count - 1)
        }
        let start = clamp(try component(slice.start), step > 0 ? 0 : count - 1)
        let stop = clamp(try component(slice.stop), step > 0 ? count : -1)
        return (start, stop, step)
    }

    func sliceItems<T>(_ items: [T], _ slice: PySlice) throws -> [T] {
        let (start, stop, step) = try sliceBounds(slice, count: items.count)
        if step == 1 { return start < stop ? Array(items[start..<stop]) : [] }
        var out: [T] = []
        var i = start
        while step > 0 ? i < stop : i > stop { out.append(items[i]); i += step }
        return out
    }

    // MARK: iteration

    /// Every item of an iterable, in order.
    public func materialize(_ value: PyValue) throws -> [PyValue] {
        switch value {
        case .object(let list as PyList): return list.items
        case .object(let tuple as PyTuple): return tuple.items
        default:
            var items: [PyValue] = []
            try forEach(value) { items.append($0); return true }
            return items
        }
    }

    /// Calls `body` with each item until it returns false.
    public func forEach(_ value: PyValue, _ body: (PyValue) throws -> Bool) throws {
        switch value {
        case .str(let s):
            for c in s { if try !body(.str(String(c))) { return } }
        case .object(let o):
            switch o {
            case let list as PyList:
                var i = 0
                while i < list.items.count {     // a loop may append to the list it walks
                    if try !body(list.items[i]) { return }
                    i += 1
                }
            case let tuple as PyTuple: for item in tuple.items { if try !body(item) { return } }
            case let dict as PyDict: for key in dict.orderedKeys { if try !body(key) { return } }
            case let set as PySet: for item in set.items { if try !body(item) { return } }
            case let set as PyFrozenSet: for item in set.items { if try !body(item) { return } }
            case let range as PyRange:
                var i = range.start
                while range.step > 0 ? i < range.stop : i > range.stop {
                    if try !body(.int(i)) { return }
                    i += range.step
                }
            case let bytes as PyBytes: for b in bytes.bytes { if try !body(.int(Int(b))) { return } }
            case let iterator as PyIterator:
                if let produce = iterator.produce {
                    while let next = try produce(self) { if try !body(next) { return } }
                    return
                }
                while iterator.position < iterator.items.count {
                    let item = iterator.items[iterator.position]
                    iterator.position += 1
                    if try !body(item) { return }
                }
            case let instance as PyInstance:
                if let iter = instance.cls.lookup("__iter__") {
                    let iterator = try call(iter, Arguments([value]))
                    if case .object(let i as PyInstance) = iterator, i === instance, let next = instance.cls.lookup("__next__") {
                        while true {
                            let item: PyValue
                            do { item = try call(next, Arguments([iterator])) }
                            catch let failure as PyError where failure.exception.cls.isSubclass(of: types.stopIteration) { return }
                            if try !body(item) { return }
                        }
                    }
                    try forEach(iterator, body)
                    return
                }
                if let getter = instance.cls.lookup("__getitem__") {
                    var i = 0
                    while true {
                        let item: PyValue
                        do { item = try call(getter, Arguments([value, .int(i)])) }
                        catch let failure as PyError where failure.exception.cls.isSubclass(of: types.indexError) { return }
                        if try !body(item) { return }
                        i += 1
                    }
                }
                if let storage = instance.native { try forEach(.object(storage), body); return }
                throw typeError("'\(instance.cls.name)' object is not iterable")
            case let standIn as PyStandIn:
                throw error(types.moduleNotFoundError, "cannot iterate \(standIn.path): module '\(standIn.path.prefix { $0 != "." })' is not provided in fork mode")
            case let deferred as PyDeferredFailure:
                throw deferredError(deferred)
            case let native as NativeObject:
                guard let items = try native.iterate(self) else { throw typeError("'\(typeName(value))' object is not iterable") }
                for item in items { if try !body(item) { return } }
            default:
                throw typeError("'\(typeName(value))' object is not iterable")
            }
        default:
            throw typeError("'\(typeName(value))' object is not iterable")
        }
    }

    func mappingItems(_ value: PyValue) throws -> [(PyValue, PyValue)] {
        switch value {
        case .object(let dict as PyDict): return dict.entries.map { ($0.key, $0.value) }
        case .object(let instance as PyInstance):
            if let storage = instance.native as? PyDict { return storage.entries.map { ($0.key, $0.value) } }
            if instance.cls.lookup("keys") != nil {
                return try materialize(try callMethod(value, "keys", Arguments())).map { ($0, try getItem(value, $0)) }
            }
            throw typeError("argument after ** must be a mapping, not \(instance.cls.name)")
        default:
            throw typeError("argument after ** must be a mapping, not \(typeName(value))")
        }
    }

    public func length(_ value: PyValue) throws -> Int {
        switch value {
        case .str(let s): return s.count
        case .object(let o):
            switch o {
            case let l as PyList: return l.items.count
            case let t as PyTuple: return t.items.count
            case let d as PyDict: return d.count
            case let s as PySet: return s.storage.count
            case let s as PyFrozenSet: return s.storage.count
            case let r as PyRange: return r.count
            case let b as PyBytes: return b.bytes.count
            case let i as PyIterator: return i.items.count - i.position
            case let instance as PyInstance:
                if let method = instance.cls.lookup("__len__") {
                    guard case .int(let n) = try call(method, Arguments([value])) else { throw typeError("__len__ should return an int") }
                    return n
                }
                if let storage = instance.native { return try length(.object(storage)) }
            case let native as NativeObject:
                if let n = try native.length(self) { return n }
            default: break
            }
        default: break
        }
        throw typeError("object of type '\(typeName(value))' has no len()")
    }

    public func truthy(_ value: PyValue) throws -> Bool {
        switch value {
        case .none: return false
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .float(let d): return d != 0
        case .str(let s): return !s.isEmpty
        case .object(let o):
            switch o {
            case let l as PyList: return !l.items.isEmpty
            case let t as PyTuple: return !t.items.isEmpty
            case let d as PyDict: return d.count > 0
            case let s as PySet: return !s.storage.isEmpty
            case let r as PyRange: return r.count > 0
            case let instance as PyInstance:
                if let method = instance.cls.lookup("__bool__") { return try truthy(try call(method, Arguments([value]))) }
                if instance.cls.lookup("__len__") != nil { return try length(value) > 0 }
                if let storage = instance.native { return try truthy(.object(storage)) }
                if let v = instance.enumValue { _ = v; return true }
                return true
            case let native as NativeObject:
                if let b = try native.truthValue(self) { return b }
                return true
            case let deferred as PyDeferredFailure: throw deferredError(deferred)
            default: return true
            }
        }
    }

    func checkHashable(_ value: PyValue) throws {
        if case .object(let o) = value, o is PyList || o is PyDict || o is PySet {
            throw typeError("unhashable type: '\(typeName(value))'")
        }
    }
}
