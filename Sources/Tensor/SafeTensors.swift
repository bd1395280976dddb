import Foundation

/// A problem with a safetensors file: what is wrong, naming the file (and the tensor when one is at fault).
public struct SafeTensorsError: Error, CustomStringConvertible, Sendable {
    public var file: String
    public var message: String

    public init(file: String, _ message: String) {
        self.file = file
        self.message = message
    }

    public var description: String { "\(file): error: \(message)" }
}

/// Reading and writing the safetensors format: an 8-byte little-endian header length, a JSON
/// header `{name: {"dtype", "shape", "data_offsets": [begin, end]}}`, then the raw data.
/// F32, F16, BF16, F64 and I64 tensors are read (converted to float32); float32 is written, or
/// any of them from raw little-endian bytes (`encode(raw:)`).
public enum SafeTensors {
    /// Headers larger than this are refused (the format's own reference limit is 100 MB).
    public static let largestHeader = 100_000_000

    /// Reads every tensor of a file, keyed by name.
    public static func read(file path: String) throws(SafeTensorsError) -> [String: Tensor] {
        let data: Data
        do {
            data = try InputFile.read(path, options: .mappedIfSafe)
        } catch {
            throw SafeTensorsError(file: path, "cannot read the file (\(error))")
        }
        return try decode(data, file: path)
    }

    /// Decodes the bytes of a safetensors file; `file` names it in errors.
    public static func decode(_ data: Data, file: String) throws(SafeTensorsError) -> [String: Tensor] {
        func fail(_ message: String) -> SafeTensorsError { SafeTensorsError(file: file, message) }
        guard data.count >= 8 else {
            throw fail("not a safetensors file: \(data.count) bytes, shorter than the 8-byte header length")
        }
        let headerLength = data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard headerLength <= UInt64(largestHeader) else {
            throw fail("not a safetensors file: header length \(headerLength) bytes is implausible (limit \(largestHeader))")
        }
        guard 8 + Int(headerLength) <= data.count else {
            throw fail("truncated: the header says \(headerLength) bytes but the file has \(data.count - 8) after the length")
        }
        let headerData = data.subdata(in: data.startIndex + 8 ..< data.startIndex + 8 + Int(headerLength))
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: headerData)
        } catch {
            throw fail("the header is not valid JSON (\(error.localizedDescription))")
        }
        guard let header = parsed as? [String: Any] else { throw fail("the header is not a JSON object") }
        let body = data.startIndex + 8 + Int(headerLength)
        let bodyLength = data.count - 8 - Int(headerLength)
        var tensors = [String: Tensor]()
        for (name, entry) in header where name != "__metadata__" {
            guard let fields = entry as? [String: Any], let dtype = fields["dtype"] as? String,
                  let shapeValues = fields["shape"] as? [Any], let offsetValues = fields["data_offsets"] as? [Any],
                  offsetValues.count == 2 else {
                throw fail("tensor '\(name)': the header entry needs dtype, shape and two data_offsets")
            }
            let shape = shapeValues.compactMap { ($0 as? NSNumber).flatMap { exactInt($0) } }
            let offsets = offsetValues.compactMap { ($0 as? NSNumber).flatMap { exactInt($0) } }
            guard shape.count == shapeValues.count, shape.allSatisfy({ $0 >= 0 && $0 <= 1 << 40 }) else {
                throw fail("tensor '\(name)': shape \(shapeValues) is not a list of non-negative integers")
            }
            guard offsets.count == 2, offsets[0] >= 0, offsets[0] <= offsets[1], offsets[1] <= bodyLength else {
                throw fail("tensor '\(name)': data_offsets \(offsetValues) lie outside the \(bodyLength) data bytes (truncated file?)")
            }
            let width: Int
            switch dtype {
            case "F32": width = 4
            case "F16", "BF16": width = 2
            case "F64", "I64": width = 8
            default: throw fail("tensor '\(name)': dtype \(dtype) is not supported (F32, F16, BF16, F64, I64)")
            }
            var elementCount = 1
            for size in shape {
                let (product, overflow) = elementCount.multipliedReportingOverflow(by: size)
                guard !overflow else { throw fail("tensor '\(name)': shape \(shape) is too large") }
                elementCount = product
            }
            let (byteCount, overflow) = elementCount.multipliedReportingOverflow(by: width)
            guard !overflow else { throw fail("tensor '\(name)': shape \(shape) of \(dtype) is too large") }
            guard offsets[1] - offsets[0] == byteCount else {
                throw fail("tensor '\(name)': shape \(shape) of \(dtype) needs \(byteCount) bytes, data_offsets give \(offsets[1] - offsets[0])")
            }
            let bytes = data.subdata(in: body + offsets[0] ..< body + offsets[1])
            let values: [Float] = bytes.withUnsafeBytes { raw in
                (0..<elementCount).map { i in
                    switch width {
                    case 4: return Float(bitPattern: raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self).littleEndian)
                    case 8:
                        let bits = raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self).littleEndian
                        return dtype == "I64" ? Float(Int64(bitPattern: bits)) : Float(Double(bitPattern: bits))
                    default:
                        let bits = raw.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self).littleEndian
                        return dtype == "BF16" ? Float(bitPattern: UInt32(bits) << 16) : Float(Float16(bitPattern: bits))
                    }
                }
            }
            tensors[name] = Tensor(shape: shape, storage: values)
        }
        return tensors
    }

    /// The bytes of a safetensors file holding `tensors` as F32, names sorted.
    public static func encode(_ tensors: [String: Tensor], metadata: [String: String] = [:]) -> Data {
        var header = [String: Any]()
        var offset = 0
        let names = tensors.keys.sorted()
        for name in names {
            let tensor = tensors[name]!
            header[name] = ["dtype": "F32", "shape": tensor.shape, "data_offsets": [offset, offset + tensor.count * 4]]
            offset += tensor.count * 4
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        // a dictionary of strings, numbers and arrays always serialises
        var json = (try? JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])) ?? Data("{}".utf8)
        while (json.count + 8) % 8 != 0 { json.append(0x20) }  // pad with spaces so the data is aligned
        var out = Data(capacity: 8 + json.count + offset)
        var length = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &length) { out.append(contentsOf: $0) }
        out.append(json)
        for name in names {
            tensors[name]!.storage.withUnsafeBufferPointer { values in
                for value in values {
                    var bits = value.bitPattern.littleEndian
                    withUnsafeBytes(of: &bits) { out.append(contentsOf: $0) }
                }
            }
        }
        return out
    }

    /// A tensor already in its file encoding: dtype name (`F16`, `I64`…), shape, little-endian bytes.
    public struct RawTensor: Sendable {
        public var dtype: String
        public var shape: [Int]
        public var bytes: Data
        public init(dtype: String, shape: [Int], bytes: Data) {
            self.dtype = dtype
            self.shape = shape
            self.bytes = bytes
        }
    }

    /// The bytes of a safetensors file holding raw tensors, names sorted.
    public static func encode(raw tensors: [String: RawTensor], metadata: [String: String] = [:]) -> Data {
        var header = [String: Any]()
        var offset = 0
        let names = tensors.keys.sorted()
        for name in names {
            let tensor = tensors[name]!
            header[name] = ["dtype": tensor.dtype, "shape": tensor.shape, "data_offsets": [offset, offset + tensor.bytes.count]]
            offset += tensor.bytes.count
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = (try? JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])) ?? Data("{}".utf8)
        while (json.count + 8) % 8 != 0 { json.append(0x20) }
        var out = Data(capacity: 8 + json.count + offset)
        var length = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &length) { out.append(contentsOf: $0) }
        out.append(json)
        for name in names { out.append(tensors[name]!.bytes) }
        return out
    }

    /// Writes a file atomically: a temporary file in the same directory, then a rename, so a
    /// failed or interrupted write never leaves a half-written file at `path`.
    public static func write(_ tensors: [String: Tensor], to path: String, metadata: [String: String] = [:]) throws(SafeTensorsError) {
        do {
            try encode(tensors, metadata: metadata).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw SafeTensorsError(file: path, "cannot write the file (\(error.localizedDescription))")
        }
    }
}

/// The integer an NSNumber holds exactly, or nil (a float with a fraction, a bool, out of range).
private func exactInt(_ number: NSNumber) -> Int? {
    let value = number.doubleValue
    guard value.isFinite, value == value.rounded(), abs(value) < 9e15 else { return nil }
    return Int(value)
}
