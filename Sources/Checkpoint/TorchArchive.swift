import Foundation
import Tensor

/// The element types of torch's storages.
public enum StorageType: String, Sendable {
    case float16 = "HalfStorage", bfloat16 = "BFloat16Storage", float32 = "FloatStorage", float64 = "DoubleStorage"
    case int64 = "LongStorage", int32 = "IntStorage", int16 = "ShortStorage", int8 = "CharStorage"
    case uint8 = "ByteStorage", bool = "BoolStorage"

    public var byteWidth: Int {
        switch self {
        case .float64, .int64: 8
        case .float32, .int32: 4
        case .float16, .bfloat16, .int16: 2
        case .int8, .uint8, .bool: 1
        }
    }

    /// torch's dtype name (`float16`).
    public var dtypeName: String {
        switch self {
        case .float16: "float16"
        case .bfloat16: "bfloat16"
        case .float32: "float32"
        case .float64: "float64"
        case .int64: "int64"
        case .int32: "int32"
        case .int16: "int16"
        case .int8: "int8"
        case .uint8: "uint8"
        case .bool: "bool"
        }
    }

    public var isFloatingPoint: Bool { [.float16, .bfloat16, .float32, .float64].contains(self) }

    /// The safetensors dtype of the same elements (`F32`, `I64`, …).
    public var safetensorsDType: String {
        switch self {
        case .float16: "F16"
        case .bfloat16: "BF16"
        case .float32: "F32"
        case .float64: "F64"
        case .int64: "I64"
        case .int32: "I32"
        case .int16: "I16"
        case .int8: "I8"
        case .uint8: "U8"
        case .bool: "BOOL"
        }
    }
}

/// One `data/KEY` record of the archive, as a persistent id names it.
public struct StorageReference: Sendable {
    public var key: String
    public var type: StorageType
    /// Elements in the storage.
    public var count: Int
    /// Its bytes: a slice of the mapped file, not a copy.
    var data: Data
}

/// A tensor as torch rebuilds it: a view (offset, sizes, strides in elements) of a storage.
public struct TensorReference: Sendable {
    public var storage: StorageReference
    public var offset: Int
    public var shape: [Int]
    public var strides: [Int]

    public var elementCount: Int { shape.reduce(1, *) }

    /// `_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])`,
    /// checked: every element the view reaches lies inside the storage.
    static func rebuild(_ arguments: [PickleValue], file: String, at place: String) throws(CheckpointError) -> TensorReference {
        func fail(_ message: String) -> CheckpointError { CheckpointError(file: file, "\(place): \(message)") }
        guard arguments.count >= 4, case .storage(let storage) = arguments[0] else {
            throw fail("_rebuild_tensor_v2 without a storage and its offset, size and stride")
        }
        guard let offset = arguments[1].int, let sizes = arguments[2].items?.map(\.int), let strides = arguments[3].items?.map(\.int),
              sizes.count == strides.count, sizes.allSatisfy({ $0 != nil }), strides.allSatisfy({ $0 != nil }) else {
            throw fail("_rebuild_tensor_v2 with a malformed offset, size or stride (storage \(storage.key))")
        }
        let shape = sizes.map { $0! }, stride = strides.map { $0! }
        guard offset >= 0, shape.allSatisfy({ $0 >= 0 }), stride.allSatisfy({ $0 >= 0 }), shape.count <= 16 else {
            throw fail("tensor on storage \(storage.key) with a negative offset, size or stride, or more than 16 dimensions")
        }
        // the last element the view touches: offset + Σ (size − 1)·stride, checked
        var count = 1, last = offset
        for (size, step) in zip(shape, stride) {
            let (product, overflow) = count.multipliedReportingOverflow(by: size)
            guard !overflow else { throw fail("tensor sizes \(shape) overflow") }
            count = product
            if size > 0 {
                let (reach, overflowReach) = (size - 1).multipliedReportingOverflow(by: step)
                let (sum, overflowSum) = last.addingReportingOverflow(reach)
                guard !overflowReach, !overflowSum else { throw fail("tensor strides \(stride) overflow") }
                last = sum
            }
        }
        guard count == 0 || last < storage.count else {
            throw fail("tensor \(shape) at offset \(offset), strides \(stride) reaches element \(last) of storage \(storage.key), which holds \(storage.count)")
        }
        return TensorReference(storage: storage, offset: offset, shape: shape, strides: stride)
    }

    /// The elements in row-major order, converted to float32 (integers exactly up to 2²⁴).
    public func floats() -> [Float] {
        let count = elementCount
        guard count > 0 else { return [] }
        let contiguous = strides == Tensor.strides(of: shape)
        let type = storage.type
        return storage.data.withUnsafeBytes { raw in
            func element(_ index: Int) -> Float {
                let at = index * type.byteWidth
                switch type {
                case .float32: return Float(bitPattern: raw.loadUnaligned(fromByteOffset: at, as: UInt32.self).littleEndian)
                case .float16: return Float(Float16(bitPattern: raw.loadUnaligned(fromByteOffset: at, as: UInt16.self).littleEndian))
                case .bfloat16: return Float(bitPattern: UInt32(raw.loadUnaligned(fromByteOffset: at, as: UInt16.self).littleEndian) << 16)
                case .float64: return Float(Double(bitPattern: raw.loadUnaligned(fromByteOffset: at, as: UInt64.self).littleEndian))
                case .int64: return Float(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: Int64.self)))
                case .int32: return Float(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: Int32.self)))
                case .int16: return Float(Int16(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: Int16.self)))
                case .int8: return Float(raw.load(fromByteOffset: at, as: Int8.self))
                case .uint8, .bool: return Float(raw[at])
                }
            }
            if contiguous { return (0..<count).map { element(offset + $0) } }
            var out = [Float](repeating: 0, count: count)
            forEachElement { position, source in out[position] = element(source) }
            return out
        }
    }

    /// Calls `body(position, element)` for each element in row-major order with its index in
    /// the storage (offset plus the strided index).
    private func forEachElement(_ body: (Int, Int) -> Void) {
        var index = [Int](repeating: 0, count: shape.count)
        for position in 0..<elementCount {
            var element = offset
            for axis in shape.indices { element += index[axis] * strides[axis] }
            body(position, element)
            var axis = shape.count - 1
            while axis >= 0 {
                index[axis] += 1
                if index[axis] < shape[axis] { break }
                index[axis] = 0
                axis -= 1
            }
        }
    }

    /// As a float32 tensor.
    public var tensor: Tensor { Tensor(shape: shape, storage: floats()) }

    /// The elements' bytes in row-major order, in the storage's own type.
    public func contiguousBytes() -> Data {
        let width = storage.type.byteWidth, count = elementCount
        if strides == Tensor.strides(of: shape) {
            return Data(storage.data[(storage.data.startIndex + offset * width)..<(storage.data.startIndex + (offset + count) * width)])
        }
        var out = Data(count: count * width)
        out.withUnsafeMutableBytes { (target: UnsafeMutableRawBufferPointer) in
            storage.data.withUnsafeBytes { (source: UnsafeRawBufferPointer) in
                forEachElement { position, element in
                    for byte in 0..<width { target[position * width + byte] = source[element * width + byte] }
                }
            }
        }
        return out
    }

    /// The tensor for a safetensors file: floating point as F32 (or F16 when `half`), integers
    /// and bools in their own type (`num_batches_tracked` stays I64, as PyTorch's strict loading wants).
    public func encoded(half: Bool) -> SafeTensors.RawTensor {
        switch storage.type {
        case .float16, .bfloat16, .float32, .float64:
            if half {
                if storage.type == .float16 { return .init(dtype: "F16", shape: shape, bytes: contiguousBytes()) }
                var bytes = Data(capacity: elementCount * 2)
                for value in floats() { var bits = Float16(value).bitPattern.littleEndian; withUnsafeBytes(of: &bits) { bytes.append(contentsOf: $0) } }
                return .init(dtype: "F16", shape: shape, bytes: bytes)
            }
            if storage.type == .float32 { return .init(dtype: "F32", shape: shape, bytes: contiguousBytes()) }
            var bytes = Data(capacity: elementCount * 4)
            for value in floats() { var bits = value.bitPattern.littleEndian; withUnsafeBytes(of: &bits) { bytes.append(contentsOf: $0) } }
            return .init(dtype: "F32", shape: shape, bytes: bytes)
        case .int64, .int32, .int16, .int8, .uint8, .bool:
            return .init(dtype: storage.type.safetensorsDType, shape: shape, bytes: contiguousBytes())
        }
    }
}

/// A `torch.save` archive: its pickled object with every storage resolved to the bytes of its
/// `data/KEY` record (mapped from the file, not copied).
public struct TorchArchive {
    public let file: String
    public let root: PickleValue
    /// The archive's top folder (`archive`, `best`, …).
    public let folder: String
    public let byteOrder: String
    public let fileSize: Int
    /// Keeps `root`'s containers; empties them (breaking any cycle) when the last copy goes.
    let graph: PickleGraph

    /// Reads and unpickles a checkpoint. Nothing in the file is executed.
    public static func read(file path: String) throws(CheckpointError) -> TorchArchive {
        let data: Data
        do {
            data = try InputFile.read(path, options: .alwaysMapped)
        } catch {
            throw CheckpointError(file: path, "cannot read the file (\(error))")
        }
        return try decode(data, file: path)
    }

    public static func decode(_ data: Data, file: String) throws(CheckpointError) -> TorchArchive {
        let reader = ByteReader(data: data, file: file)
        // the legacy format (torch < 1.6, or _use_new_zipfile_serialization=False) is a bare pickle
        if data.count >= 2, data[data.startIndex] == 0x80, data[data.startIndex + 1] <= 5 {
            throw reader.fail("a legacy (PyTorch < 1.6) torch.save file, not a zip archive: load and re-save it with torch.save in PyTorch ≥ 1.6")
        }
        if data.count >= 4, data.prefix(4) != Data([0x50, 0x4B, 0x03, 0x04]) {
            throw reader.fail("not a PyTorch checkpoint: it does not start as a zip archive (first bytes \(data.prefix(4).map { String(format: "%02x", $0) }.joined(separator: " ")))")
        }
        let archive = try ZipArchive(reader)
        guard let pickleName = archive.names.first(where: { $0.hasSuffix("/data.pkl") || $0 == "data.pkl" }) else {
            if archive.names.contains(where: { $0.hasSuffix("constants.pkl") || $0.contains("/code/") }) {
                throw reader.fail("a TorchScript archive (torch.jit.save), not a checkpoint: ModelGraph reads torch.save files")
            }
            throw reader.fail("no data.pkl in the archive (entries: \(archive.names.prefix(5).joined(separator: ", "))\(archive.names.count > 5 ? ", …" : ""))")
        }
        let folder = String(pickleName.dropLast("data.pkl".count))
        var byteOrder = "little"
        if let entry = archive.entries[folder + "byteorder"] {
            byteOrder = String(decoding: archive.bytes(entry), as: UTF8.self)
            guard byteOrder == "little" else {
                throw reader.fail("the storages are \(byteOrder)-endian (entry \(folder)byteorder); only little-endian checkpoints are read")
            }
        }
        let pickle = Array(archive.bytes(archive.entries[pickleName]!))
        var machine = PickleMachine(bytes: pickle, file: file, entryName: pickleName) { (id: PickleValue, offset: Int) throws(CheckpointError) -> PickleValue in
            // ('storage', storage_type, key, location, numel)
            func fail(_ message: String) -> CheckpointError { CheckpointError(file: file, "\(pickleName) byte \(offset): \(message)") }
            guard let parts = id.items, parts.count == 5, parts[0].string == "storage" else {
                throw fail("a persistent id that is not a torch storage ('storage', type, key, location, numel)")
            }
            guard case .global(_, let typeName) = parts[1] else { throw fail("a storage whose type is not a class") }
            guard let key = parts[2].string, let count = parts[4].int, count >= 0 else {
                throw fail("a storage with a malformed key or element count")
            }
            let type: StorageType
            if typeName == "UntypedStorage" { type = .uint8 } else {
                guard let known = StorageType(rawValue: typeName) else {
                    throw fail("storage \(key) has type \(typeName), which is not read (Half, BFloat16, Float, Double, Long, Int, Short, Char, Byte, Bool)")
                }
                type = known
            }
            guard let entry = archive.entries[folder + "data/" + key] else {
                throw fail("storage \(key) has no record \(folder)data/\(key) in the archive")
            }
            let (bytes, overflow) = count.multipliedReportingOverflow(by: type.byteWidth)
            guard !overflow, bytes <= entry.size else {
                throw fail("storage \(key) claims \(count) \(type.dtypeName) elements, but its record holds \(entry.size) bytes")
            }
            return .storage(StorageReference(key: key, type: type, count: count, data: data[(data.startIndex + entry.offset)..<(data.startIndex + entry.offset + bytes)]))
        }
        let root = try machine.run()
        return TorchArchive(file: file, root: root, folder: folder, byteOrder: byteOrder, fileSize: data.count, graph: machine.graph)
    }
}
