import Foundation

/// Plain data for a checkpoint's pickle: what a YAML dict, class names or training arguments hold.
public indirect enum PickleData: Sendable, Equatable {
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case list([PickleData])
    case dict([Pair])

    public struct Pair: Sendable, Equatable {
        public var key: PickleData
        public var value: PickleData
        public init(_ key: PickleData, _ value: PickleData) { self.key = key; self.value = value }
    }
}

/// Writes a `.pt` file as `torch.save` would write a checkpoint dict: a zip archive of a
/// protocol-2 pickle and one record per storage. The model is a tree of plain
/// `torch.nn.Module` objects carrying parameters and buffers under PyTorch's keys — data and
/// references to torch's own classes only, no code — so `model.state_dict()` gives exactly the
/// tensors written, and ModelGraph's inert reader reads the file back.
public enum CheckpointWriter {
    /// One state-dict entry: its elements' bytes, row-major and little-endian, in `type`.
    public struct Entry: Sendable {
        public var key: String
        public var shape: [Int]
        public var type: StorageType
        public var bytes: Data
        /// A buffer (running statistics, counters) rather than a parameter.
        public var isBuffer: Bool

        public init(key: String, shape: [Int], type: StorageType, bytes: Data, isBuffer: Bool) {
            self.key = key
            self.shape = shape
            self.type = type
            self.bytes = bytes
            self.isBuffer = isBuffer
        }
    }

    public struct WriteError: Error, CustomStringConvertible {
        public var description: String
    }

    /// The checkpoint's bytes: `{key: value}` for each of `fields` in order, with `model` (the
    /// module tree of `entries`, its top module also carrying `modelAttributes`) first.
    public static func encode(entries: [Entry], modelAttributes: [(String, PickleData)], fields: [(String, PickleData)]) throws(WriteError) -> Data {
        var root = ModuleTree()
        var storages: [Data] = []
        for entry in entries {
            let path = entry.key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard path.count >= 2, !path.contains("") else { throw WriteError(description: "state-dict key '\(entry.key)' is not a module path and a name") }
            let (count, overflow) = entry.shape.reduce((1, false)) { partial, size in
                let (product, over) = partial.0.multipliedReportingOverflow(by: size)
                return (product, partial.1 || over || size < 0)
            }
            let (size, sizeOverflow) = count.multipliedReportingOverflow(by: entry.type.byteWidth)
            guard !overflow, !sizeOverflow, entry.bytes.count == size else {
                throw WriteError(description: "\(entry.key): \(entry.bytes.count) bytes for shape \(entry.shape) of \(entry.type.dtypeName)")
            }
            let (data, type) = (entry.bytes, entry.type)
            let tensor = PickleNode.tensor(storage: String(storages.count), type: type, count: count, shape: entry.shape, parameter: !entry.isBuffer)
            storages.append(data)
            root.insert(path: path.dropLast(), name: path.last!, tensor: tensor, isBuffer: entry.isBuffer)
        }
        guard entries.allSatisfy({ $0.key.hasPrefix("model.") }) else {
            throw WriteError(description: "every state-dict key must start with `model.` (the model's layers)")
        }
        // the top module stands where DetectionModel stands: its one child is `model`, a Sequential
        // as Ultralytics' loader indexes it (`model.model[-1]`)
        if let position = root.children.firstIndex(where: { $0.name == "model" }) {
            root.children[position].tree.className = "torch.nn.modules.container.Sequential"
        }
        let topNode = root.node(attributes: modelAttributes.map { ($0.0, PickleNode.data($0.1)) })
        var pairs: [(PickleNode, PickleNode)] = [(.data(.string("model")), topNode)]
        pairs += fields.map { (.data(.string($0.0)), .data($0.1)) }

        var pickle = PickleEncoder()
        pickle.bytes += [0x80, 2]
        pickle.write(.dict(pairs))
        pickle.bytes.append(0x2E)  // STOP

        var zip = ZipWriter()
        do {
            try zip.add("archive/data.pkl", Data(pickle.bytes))
            try zip.add("archive/byteorder", Data("little".utf8))
            for (index, storage) in storages.enumerated() { try zip.add("archive/data/\(index)", storage) }
            try zip.add("archive/version", Data("3\n".utf8))
            return try zip.finished()
        } catch {
            throw WriteError(description: "the checkpoint would pass 4 GiB, which needs ZIP64 (not written)")
        }
    }
}

/// Modules by path, in the order their first tensor came.
struct ModuleTree {
    var className = "torch.nn.modules.module.Module"
    var parameters: [(String, PickleNode)] = []
    var buffers: [(String, PickleNode)] = []
    var children: [(name: String, tree: ModuleTree)] = []

    mutating func insert(path: ArraySlice<String>, name: String, tensor: PickleNode, isBuffer: Bool) {
        guard let head = path.first else {
            if isBuffer { buffers.append((name, tensor)) } else { parameters.append((name, tensor)) }
            return
        }
        if let position = children.firstIndex(where: { $0.name == head }) {
            children[position].tree.insert(path: path.dropFirst(), name: name, tensor: tensor, isBuffer: isBuffer)
        } else {
            var child = ModuleTree()
            child.insert(path: path.dropFirst(), name: name, tensor: tensor, isBuffer: isBuffer)
            children.append((head, child))
        }
    }

    /// `torch.nn.Module.__new__` then `__setstate__` with the attributes torch's own pickles hold.
    func node(attributes: [(String, PickleNode)] = []) -> PickleNode {
        let emptyHooks = PickleNode.orderedDict([])
        var state: [(String, PickleNode)] = [
            ("training", .data(.bool(false))),
            ("_parameters", .orderedDict(parameters)),
            ("_buffers", .orderedDict(buffers)),
            ("_non_persistent_buffers_set", .set),
            ("_backward_pre_hooks", emptyHooks), ("_backward_hooks", emptyHooks), ("_is_full_backward_hook", .data(.none)),
            ("_forward_hooks", emptyHooks), ("_forward_hooks_with_kwargs", emptyHooks), ("_forward_hooks_always_called", emptyHooks),
            ("_forward_pre_hooks", emptyHooks), ("_forward_pre_hooks_with_kwargs", emptyHooks),
            ("_state_dict_hooks", emptyHooks), ("_state_dict_pre_hooks", emptyHooks),
            ("_load_state_dict_pre_hooks", emptyHooks), ("_load_state_dict_post_hooks", emptyHooks),
            ("_modules", .orderedDict(children.map { ($0.name, $0.tree.node()) })),
        ]
        state += attributes
        return .object(className: className, state: state)
    }
}

/// What the encoder writes: plain data, and torch's own structures.
indirect enum PickleNode {
    case data(PickleData)
    case dict([(PickleNode, PickleNode)])
    case orderedDict([(String, PickleNode)])
    /// An empty `set()`.
    case set
    /// `cls.__new__(cls)` with `state` given to `__setstate__` (a dict of attributes).
    case object(className: String, state: [(String, PickleNode)])
    /// `_rebuild_tensor_v2` over the storage record `storage` (contiguous, offset 0), wrapped in
    /// `_rebuild_parameter` (requires_grad) for a parameter.
    case tensor(storage: String, type: StorageType, count: Int, shape: [Int], parameter: Bool)
}

/// Pickle protocol 2, the opcodes torch.save emits for these values.
struct PickleEncoder {
    var bytes: [UInt8] = []

    mutating func global(_ qualified: String) {
        let dot = qualified.lastIndex(of: ".")!
        bytes.append(0x63)  // GLOBAL
        bytes += Array(qualified[..<dot].utf8) + [0x0A] + Array(qualified[qualified.index(after: dot)...].utf8) + [0x0A]
    }

    mutating func int(_ value: Int) {
        if (0..<256).contains(value) {
            bytes += [0x4B, UInt8(value)]                                        // BININT1
        } else if (0..<65536).contains(value) {
            bytes += [0x4D, UInt8(value & 0xFF), UInt8(value >> 8)]              // BININT2
        } else if let small = Int32(exactly: value) {
            bytes.append(0x4A)                                                   // BININT
            withUnsafeBytes(of: small.littleEndian) { bytes += $0 }
        } else {
            bytes += [0x8A, 8]                                                   // LONG1, 8 bytes two's complement
            withUnsafeBytes(of: Int64(value).littleEndian) { bytes += $0 }
        }
    }

    mutating func string(_ value: String) {
        let utf8 = Array(value.utf8)
        bytes.append(0x58)                                                       // BINUNICODE
        withUnsafeBytes(of: UInt32(utf8.count).littleEndian) { bytes += $0 }
        bytes += utf8
    }

    mutating func tuple(_ write: (inout PickleEncoder) -> Void) {
        bytes.append(0x28)  // MARK
        write(&self)
        bytes.append(0x74)  // TUPLE
    }

    mutating func write(_ data: PickleData) {
        switch data {
        case .none: bytes.append(0x4E)
        case .bool(let value): bytes.append(value ? 0x88 : 0x89)
        case .int(let value): int(value)
        case .float(let value):
            bytes.append(0x47)                                                   // BINFLOAT, big-endian
            withUnsafeBytes(of: value.bitPattern.bigEndian) { bytes += $0 }
        case .string(let value): string(value)
        case .list(let items):
            bytes.append(0x5D)                                                   // EMPTY_LIST
            guard !items.isEmpty else { return }
            bytes.append(0x28)
            for item in items { write(item) }
            bytes.append(0x65)                                                   // APPENDS
        case .dict(let pairs):
            write(.dict(pairs.map { (PickleNode.data($0.key), PickleNode.data($0.value)) }))
        }
    }

    mutating func write(_ node: PickleNode) {
        switch node {
        case .data(let data): write(data)
        case .dict(let pairs):
            bytes.append(0x7D)                                                   // EMPTY_DICT
            setItems(pairs)
        case .orderedDict(let pairs):
            global("collections.OrderedDict")
            bytes += [0x29, 0x52]                                                // EMPTY_TUPLE, REDUCE
            setItems(pairs.map { (.data(.string($0.0)), $0.1) })
        case .set:
            global("builtins.set")
            tuple { $0.bytes.append(0x5D) }                                      // set([])
            bytes.append(0x52)
        case .object(let className, let state):
            global(className)
            bytes += [0x29, 0x81]                                                // EMPTY_TUPLE, NEWOBJ
            write(.dict(state.map { (.data(.string($0.0)), $0.1) }))
            bytes.append(0x62)                                                   // BUILD
        case .tensor(let storage, let type, let count, let shape, let parameter):
            if parameter { global("torch._utils._rebuild_parameter"); bytes.append(0x28) }
            global("torch._utils._rebuild_tensor_v2")
            tuple { pickle in
                pickle.tuple { persistent in
                    persistent.string("storage")
                    persistent.global("torch." + type.rawValue)
                    persistent.string(storage)
                    persistent.string("cpu")
                    persistent.int(count)
                }
                pickle.bytes.append(0x51)                                        // BINPERSID
                pickle.int(0)
                pickle.tuple { for size in shape { $0.int(size) } }
                var strides = [Int](repeating: 1, count: shape.count)
                for axis in shape.indices.dropLast().reversed() { strides[axis] = strides[axis + 1] * shape[axis + 1] }
                pickle.tuple { for stride in strides { $0.int(stride) } }
                pickle.bytes.append(0x89)                                        // requires_grad False
                pickle.write(.orderedDict([]))                                   // backward hooks
            }
            bytes.append(0x52)
            if parameter {
                bytes.append(0x88)                                               // requires_grad True
                write(.orderedDict([]))
                bytes += [0x74, 0x52]                                            // TUPLE, REDUCE
            }
        }
    }

    mutating func setItems(_ pairs: [(PickleNode, PickleNode)]) {
        guard !pairs.isEmpty else { return }
        bytes.append(0x28)
        for (key, value) in pairs {
            write(key)
            write(value)
        }
        bytes.append(0x75)                                                       // SETITEMS
    }
}
