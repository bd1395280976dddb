/// A value built by the pickle machine. Nothing in a file is executed: a class or function is
/// only its name (`global`), and calling one (REDUCE, NEWOBJ) makes an inert `object` that
/// records what was called with what — except the few torch and Python callables whose result
/// the reader needs (tensors, OrderedDict, set), which are interpreted.
public indirect enum PickleValue: Sendable {
    case none
    case bool(Bool)
    case int(Int)
    /// An integer too large for Int (LONG1/LONG4), as its little-endian two's-complement bytes.
    case bigInt([UInt8])
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case list(PickleList)
    case tuple([PickleValue])
    case dict(PickleDict)
    case set([PickleValue])
    case global(module: String, name: String)
    case object(PickleObject)
    case storage(StorageReference)
    case tensor(TensorReference)

    public var string: String? { if case .string(let value) = self { value } else { nil } }
    public var int: Int? {
        switch self {
        case .int(let value): value
        case .bool(let value): value ? 1 : 0
        default: nil
        }
    }
    public var double: Double? {
        switch self {
        case .float(let value): value
        case .int(let value): Double(value)
        default: nil
        }
    }
    public var dictionary: PickleDict? { if case .dict(let value) = self { value } else { nil } }
    public var object: PickleObject? { if case .object(let value) = self { value } else { nil } }
    public var tensor: TensorReference? { if case .tensor(let value) = self { value } else { nil } }
    /// A list's or tuple's items.
    public var items: [PickleValue]? {
        switch self {
        case .list(let list): list.items
        case .tuple(let items), .set(let items): items
        default: nil
        }
    }
    public var isNone: Bool { if case .none = self { true } else { false } }
}

/// A list: a reference, because APPEND after a memo PUT changes every copy (as in Python).
public final class PickleList: @unchecked Sendable {
    public var items: [PickleValue]
    init(_ items: [PickleValue] = []) { self.items = items }
}

/// A dict in insertion order (OrderedDict and dict alike); string keys are indexed.
public final class PickleDict: @unchecked Sendable {
    public private(set) var pairs: [(key: PickleValue, value: PickleValue)] = []
    private var stringIndex: [String: Int] = [:]

    func set(_ key: PickleValue, _ value: PickleValue) {
        if let name = key.string {
            if let index = stringIndex[name] { pairs[index].value = value; return }
            stringIndex[name] = pairs.count
        }
        pairs.append((key, value))
    }

    public subscript(_ key: String) -> PickleValue? { stringIndex[key].map { pairs[$0].value } }
    public var count: Int { pairs.count }

    func removeAll() {
        pairs.removeAll()
        stringIndex.removeAll()
    }
}

/// An instance of a class the reader does not interpret: the class (or function) called, its
/// arguments, the state BUILD gave it, and items appended or set on it (list or dict subclasses).
public final class PickleObject: @unchecked Sendable {
    public let callable: PickleValue
    public let arguments: [PickleValue]
    public var state: PickleValue = .none
    public var listItems: [PickleValue] = []
    public var dictItems = PickleDict()

    init(callable: PickleValue, arguments: [PickleValue]) {
        self.callable = callable
        self.arguments = arguments
    }

    /// `module.name` of the class.
    public var className: String {
        if case .global(let module, let name) = callable { return module + "." + name }
        return "?"
    }
    /// The last component of the class name (`BatchNorm2d`).
    public var shortClassName: String {
        if case .global(_, let name) = callable { return name }
        return "?"
    }
    /// The instance's `__dict__` (BUILD's state, or the dict half of a (dict, slots) pair).
    public var attributes: PickleDict? {
        switch state {
        case .dict(let dict): return dict
        case .tuple(let pair) where pair.count == 2: return pair[0].dictionary
        default: return nil
        }
    }
}

/// Every list, dict and object one unpickling made. A pickle can make a container hold itself
/// (memo GET of a list, then APPEND to it), a cycle reference counting never frees; when the
/// last holder of the result lets go, this empties every container, which breaks every cycle
/// (each one runs through a container mutated after it was made).
final class PickleGraph: @unchecked Sendable {
    private var lists: [PickleList] = []
    private var dicts: [PickleDict] = []
    private var objects: [PickleObject] = []

    func list(_ items: [PickleValue] = []) -> PickleValue {
        let list = PickleList(items)
        lists.append(list)
        return .list(list)
    }

    func dict() -> PickleDict {
        let dict = PickleDict()
        dicts.append(dict)
        return dict
    }

    func object(callable: PickleValue, arguments: [PickleValue]) -> PickleValue {
        let object = PickleObject(callable: callable, arguments: arguments)
        objects.append(object)
        return .object(object)
    }

    deinit {
        for list in lists { list.items.removeAll() }
        for dict in dicts { dict.removeAll() }
        for object in objects {
            object.state = .none
            object.listItems.removeAll()
            object.dictItems.removeAll()
        }
    }
}

/// Resolves a persistent id (torch's storages) to a value.
typealias PersistentLoader = (PickleValue, _ offset: Int) throws(CheckpointError) -> PickleValue

/// The pickle virtual machine for protocols 0–5 (the opcodes torch.save and Python emit), over
/// untrusted bytes: every length is checked against what is left, the memo and the stack are
/// checked on every access, and the run ends at STOP or with an error at the opcode's offset.
struct PickleMachine {
    let bytes: [UInt8]
    let file: String
    let entryName: String
    let persistentLoad: PersistentLoader
    /// How many opcodes a run may execute (a hostile file cannot loop, but it can be long).
    static let largestOpcodeCount = 100_000_000

    private var position = 0
    private var stack: [PickleValue] = []
    private var marks: [Int] = []
    private var memo: [Int: PickleValue] = [:]
    /// Owns the containers this run makes; the caller keeps it as long as it keeps the result.
    let graph = PickleGraph()

    init(bytes: [UInt8], file: String, entryName: String, persistentLoad: @escaping PersistentLoader) {
        self.bytes = bytes
        self.file = file
        self.entryName = entryName
        self.persistentLoad = persistentLoad
    }

    private func fail(_ message: String, at offset: Int) -> CheckpointError {
        CheckpointError(file: file, "\(entryName) byte \(offset): \(message)")
    }

    private mutating func read(_ count: Int, _ opcodeOffset: Int) throws(CheckpointError) -> ArraySlice<UInt8> {
        guard count >= 0, count <= bytes.count - position else {
            throw fail("the pickle ends inside an opcode's argument (\(count) bytes wanted, \(bytes.count - position) left)", at: opcodeOffset)
        }
        defer { position += count }
        return bytes[position..<(position + count)]
    }

    /// A little-endian length or index, which must fit in Int.
    private mutating func unsigned(_ count: Int, _ at: Int) throws(CheckpointError) -> Int {
        let value = try unsignedBits(count, at)
        guard value <= UInt64(Int.max) else { throw fail("a length of \(value)", at: at) }
        return Int(value)
    }

    private mutating func line(_ at: Int) throws(CheckpointError) -> String {
        guard let end = bytes[position...].firstIndex(of: 0x0A) else { throw fail("a text argument without its newline", at: at) }
        defer { position = end + 1 }
        return String(decoding: bytes[position..<end], as: UTF8.self)
    }

    private mutating func pop(_ at: Int) throws(CheckpointError) -> PickleValue {
        guard let value = stack.popLast() else { throw fail("the stack is empty", at: at) }
        if let mark = marks.last, stack.count < mark { throw fail("an opcode reached below a MARK", at: at) }
        return value
    }

    private mutating func popMark(_ at: Int) throws(CheckpointError) -> [PickleValue] {
        guard let mark = marks.popLast() else { throw fail("no MARK to pop to", at: at) }
        guard mark <= stack.count else { throw fail("the MARK is above the stack", at: at) }
        defer { stack.removeSubrange(mark...) }
        return Array(stack[mark...])
    }

    private mutating func top(_ at: Int) throws(CheckpointError) -> PickleValue {
        guard let value = stack.last else { throw fail("the stack is empty", at: at) }
        return value
    }

    private func text(_ slice: ArraySlice<UInt8>, _ at: Int) throws(CheckpointError) -> String {
        guard let value = String(validating: slice, as: UTF8.self) else { throw fail("a string that is not UTF-8", at: at) }
        return value
    }

    mutating func run() throws(CheckpointError) -> PickleValue {
        var executed = 0
        while position < bytes.count {
            executed += 1
            if executed > PickleMachine.largestOpcodeCount { throw fail("more than \(PickleMachine.largestOpcodeCount) opcodes", at: position) }
            let at = position
            let opcode = bytes[position]
            position += 1
            switch opcode {
            case 0x80: _ = try read(1, at)                                  // PROTO
            case 0x95: _ = try read(8, at)                                  // FRAME
            case 0x2E:                                                       // STOP
                guard stack.count == 1, marks.isEmpty else {
                    throw fail("STOP with \(stack.count) values on the stack (expected 1)", at: at)
                }
                return stack[0]
            case 0x28: marks.append(stack.count)                             // MARK
            case 0x30: _ = try pop(at)                                       // POP
            case 0x31: _ = try popMark(at)                                   // POP_MARK
            case 0x32: stack.append(try top(at))                             // DUP
            case 0x4E: stack.append(.none)                                   // NONE
            case 0x88: stack.append(.bool(true))                             // NEWTRUE
            case 0x89: stack.append(.bool(false))                            // NEWFALSE
            case 0x4A:                                                       // BININT
                let value = try unsignedBits(4, at)
                stack.append(.int(Int(Int32(truncatingIfNeeded: value))))
            case 0x4B: stack.append(.int(try unsigned(1, at)))               // BININT1
            case 0x4D: stack.append(.int(try unsigned(2, at)))               // BININT2
            case 0x49:                                                       // INT (text; 00/01 are bools)
                let text = try line(at)
                if text == "00" { stack.append(.bool(false)) } else if text == "01" { stack.append(.bool(true)) } else {
                    guard let value = Int(text) else { throw fail("INT '\(text.prefix(40))' is not an integer", at: at) }
                    stack.append(.int(value))
                }
            case 0x4C:                                                       // LONG (text)
                var text = try line(at)
                if text.hasSuffix("L") { text.removeLast() }
                guard let value = Int(text) else { throw fail("LONG '\(text.prefix(40))' is not an integer Int holds", at: at) }
                stack.append(.int(value))
            case 0x8A, 0x8B:                                                 // LONG1, LONG4
                let count = try unsigned(opcode == 0x8A ? 1 : 4, at)
                let digits = Array(try read(count, at))
                stack.append(PickleMachine.integer(littleEndian: digits))
            case 0x47:                                                       // BINFLOAT (big-endian)
                let slice = try read(8, at)
                let bits = slice.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                stack.append(.float(Double(bitPattern: bits)))
            case 0x46:                                                       // FLOAT (text)
                let text = try line(at)
                guard let value = Double(text) else { throw fail("FLOAT '\(text.prefix(40))' is not a number", at: at) }
                stack.append(.float(value))
            case 0x58, 0x8C, 0x8D:                                           // BINUNICODE, SHORT_, 8
                let count = try unsigned(opcode == 0x8C ? 1 : opcode == 0x58 ? 4 : 8, at)
                stack.append(.string(try text(try read(count, at), at)))
            case 0x56:                                                       // UNICODE (raw-unicode-escape text)
                stack.append(.string(try line(at)))
            case 0x54, 0x55:                                                 // BINSTRING, SHORT_BINSTRING (Python 2 str)
                let count = opcode == 0x55 ? try unsigned(1, at) : try unsignedBits(4, at).clampedLength
                stack.append(.string(String(decoding: try read(count, at), as: UTF8.self)))
            case 0x53:                                                       // STRING (quoted text)
                var text = try line(at)
                if text.count >= 2, let first = text.first, first == "'" || first == "\"", text.last == first {
                    text = String(text.dropFirst().dropLast())
                }
                stack.append(.string(text))
            case 0x42, 0x43, 0x8E, 0x96:                                     // BINBYTES, SHORT_, 8, BYTEARRAY8
                let count = try unsigned(opcode == 0x43 ? 1 : opcode == 0x42 ? 4 : 8, at)
                stack.append(.bytes(Array(try read(count, at))))
            case 0x5D: stack.append(graph.list())                            // EMPTY_LIST
            case 0x6C: stack.append(graph.list(try popMark(at)))             // LIST
            case 0x61:                                                       // APPEND
                let value = try pop(at)
                try append([value], at)
            case 0x65: try append(try popMark(at), at)                       // APPENDS
            case 0x29: stack.append(.tuple([]))                              // EMPTY_TUPLE
            case 0x74: stack.append(.tuple(try popMark(at)))                 // TUPLE
            case 0x85: stack.append(.tuple([try pop(at)]))                   // TUPLE1
            case 0x86:                                                       // TUPLE2
                let second = try pop(at), first = try pop(at)
                stack.append(.tuple([first, second]))
            case 0x87:                                                       // TUPLE3
                let third = try pop(at), second = try pop(at), first = try pop(at)
                stack.append(.tuple([first, second, third]))
            case 0x7D: stack.append(.dict(graph.dict()))                     // EMPTY_DICT
            case 0x64:                                                       // DICT
                let items = try popMark(at)
                let dict = graph.dict()
                guard PickleMachine.pairs(items, { dict.set($0, $1) }) else { throw fail("DICT with an odd number of items", at: at) }
                stack.append(.dict(dict))
            case 0x73:                                                       // SETITEM
                let value = try pop(at), key = try pop(at)
                try setItems([key, value], at)
            case 0x75: try setItems(try popMark(at), at)                     // SETITEMS
            case 0x8F: stack.append(.set([]))                                // EMPTY_SET
            case 0x90:                                                       // ADDITEMS
                let items = try popMark(at)
                guard case .set(let existing) = try pop(at) else { throw fail("ADDITEMS on a value that is not a set", at: at) }
                stack.append(.set(existing + items))
            case 0x91: stack.append(.set(try popMark(at)))                   // FROZENSET
            case 0x63:                                                       // GLOBAL
                let module = try line(at), name = try line(at)
                stack.append(.global(module: module, name: name))
            case 0x93:                                                       // STACK_GLOBAL
                let name = try pop(at), module = try pop(at)
                guard let moduleName = module.string, let attribute = name.string else {
                    throw fail("STACK_GLOBAL with a module or name that is not a string", at: at)
                }
                stack.append(.global(module: moduleName, name: attribute))
            case 0x69:                                                       // INST (protocol 0)
                let module = try line(at), name = try line(at)
                let arguments = try popMark(at)
                stack.append(try call(.global(module: module, name: name), arguments, at))
            case 0x6F:                                                       // OBJ
                var arguments = try popMark(at)
                guard !arguments.isEmpty else { throw fail("OBJ without a class", at: at) }
                let callable = arguments.removeFirst()
                stack.append(try call(callable, arguments, at))
            case 0x52:                                                       // REDUCE
                let arguments = try pop(at), callable = try pop(at)
                guard let list = arguments.items else { throw fail("REDUCE with arguments that are not a tuple", at: at) }
                stack.append(try call(callable, list, at))
            case 0x81:                                                       // NEWOBJ
                let arguments = try pop(at), callable = try pop(at)
                stack.append(graph.object(callable: callable, arguments: arguments.items ?? []))
            case 0x92:                                                       // NEWOBJ_EX
                _ = try pop(at)
                let arguments = try pop(at), callable = try pop(at)
                stack.append(graph.object(callable: callable, arguments: arguments.items ?? []))
            case 0x62:                                                       // BUILD
                let state = try pop(at)
                let target = try top(at)
                switch target {
                case .object(let object): object.state = state
                case .dict(let dict):
                    if case .dict(let update) = state { for (key, value) in update.pairs { dict.set(key, value) } }
                default: break  // tensors rebuilt by torch carry no further state the reader needs
                }
            case 0x70:                                                       // PUT (text index)
                let text = try line(at)
                guard let index = Int(text) else { throw fail("PUT '\(text.prefix(20))' is not an index", at: at) }
                memo[index] = try top(at)
            case 0x71: memo[try unsigned(1, at)] = try top(at)               // BINPUT
            case 0x72: memo[try unsigned(4, at)] = try top(at)               // LONG_BINPUT
            case 0x94: memo[memo.count] = try top(at)                        // MEMOIZE
            case 0x67, 0x68, 0x6A:                                           // GET, BINGET, LONG_BINGET
                let index: Int
                if opcode == 0x67 {
                    let text = try line(at)
                    guard let value = Int(text) else { throw fail("GET '\(text.prefix(20))' is not an index", at: at) }
                    index = value
                } else {
                    index = try unsigned(opcode == 0x68 ? 1 : 4, at)
                }
                guard let value = memo[index] else { throw fail("memo entry \(index) is read before it was stored", at: at) }
                stack.append(value)
            case 0x51:                                                       // BINPERSID
                stack.append(try persistentLoad(try pop(at), at))
            case 0x50:                                                       // PERSID
                stack.append(try persistentLoad(.string(try line(at)), at))
            case 0x82, 0x83, 0x84:
                throw fail("extension-registry opcode EXT\(opcode == 0x82 ? 1 : opcode == 0x83 ? 2 : 4) is not supported", at: at)
            case 0x97, 0x98:
                throw fail("out-of-band buffer opcodes (protocol 5 NEXT_BUFFER/READONLY_BUFFER) are not supported", at: at)
            default:
                throw fail("unknown pickle opcode 0x\(String(opcode, radix: 16, uppercase: true))", at: at)
            }
        }
        throw fail("the pickle ends without STOP", at: bytes.count)
    }

    private mutating func unsignedBits(_ count: Int, _ at: Int) throws(CheckpointError) -> UInt64 {
        let slice = try read(count, at)
        var value: UInt64 = 0
        for (shift, byte) in slice.enumerated() { value |= UInt64(byte) << (8 * UInt64(shift)) }
        return value
    }

    private mutating func append(_ values: [PickleValue], _ at: Int) throws(CheckpointError) {
        switch try top(at) {
        case .list(let list): list.items.append(contentsOf: values)
        case .object(let object): object.listItems.append(contentsOf: values)
        default: throw fail("APPEND to a value that is not a list", at: at)
        }
    }

    private mutating func setItems(_ items: [PickleValue], _ at: Int) throws(CheckpointError) {
        let target: PickleDict
        switch try top(at) {
        case .dict(let dict): target = dict
        case .object(let object): target = object.dictItems
        default: throw fail("SETITEM on a value that is not a dict", at: at)
        }
        guard PickleMachine.pairs(items, { target.set($0, $1) }) else { throw fail("SETITEMS with an odd number of items", at: at) }
    }

    /// Calls `body` on consecutive (key, value) items; false for an odd count.
    private static func pairs(_ items: [PickleValue], _ body: (PickleValue, PickleValue) -> Void) -> Bool {
        guard items.count % 2 == 0 else { return false }
        for index in stride(from: 0, to: items.count, by: 2) { body(items[index], items[index + 1]) }
        return true
    }

    /// A call REDUCE, INST or OBJ asks for: interpreted for the callables a checkpoint needs,
    /// otherwise an inert object.
    private func call(_ callable: PickleValue, _ arguments: [PickleValue], _ at: Int) throws(CheckpointError) -> PickleValue {
        guard case .global(let module, let name) = callable else {
            return graph.object(callable: callable, arguments: arguments)
        }
        switch (module, name) {
        case ("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor"):
            return .tensor(try TensorReference.rebuild(arguments, file: file, at: "\(entryName) byte \(at)"))
        case ("torch._utils", "_rebuild_parameter"), ("torch._utils", "_rebuild_parameter_with_state"):
            guard let data = arguments.first, case .tensor = data else {
                throw fail("\(name) without a tensor as its first argument", at: at)
            }
            return data
        case ("collections", "OrderedDict"), ("builtins", "dict"), ("__builtin__", "dict"):
            let dict = graph.dict()
            for pair in arguments.first?.items ?? [] {
                if let items = pair.items, items.count == 2 { dict.set(items[0], items[1]) }
            }
            return .dict(dict)
        case ("builtins", "set"), ("__builtin__", "set"), ("builtins", "frozenset"), ("__builtin__", "frozenset"):
            return .set(arguments.first?.items ?? [])
        case ("builtins", "list"), ("__builtin__", "list"):
            return graph.list(arguments.first?.items ?? [])
        case ("torch", "Size"), ("builtins", "tuple"), ("__builtin__", "tuple"):
            return .tuple(arguments.first?.items ?? [])
        case ("copyreg", "_reconstructor"), ("copy_reg", "_reconstructor"):
            return graph.object(callable: arguments.first ?? .none, arguments: [])
        default:
            return graph.object(callable: callable, arguments: arguments)
        }
    }

    /// A little-endian two's-complement integer (LONG1/LONG4).
    static func integer(littleEndian digits: [UInt8]) -> PickleValue {
        if digits.isEmpty { return .int(0) }
        let negative = digits.last! & 0x80 != 0
        let significant = digits.count
        if significant <= 8 {
            var value: UInt64 = negative ? ~0 : 0
            for (shift, byte) in digits.enumerated() {
                value &= ~(UInt64(0xFF) << (8 * UInt64(shift)))
                value |= UInt64(byte) << (8 * UInt64(shift))
            }
            return .int(Int(Int64(bitPattern: value)))
        }
        return .bigInt(digits)
    }
}

private extension UInt64 {
    var clampedLength: Int { self > UInt64(Int.max) ? Int.max : Int(self) }
}
