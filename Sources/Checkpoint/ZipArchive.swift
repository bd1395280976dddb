import Foundation

/// A problem reading a checkpoint: what is wrong, naming the file (and the byte offset or the
/// archive entry when one is at fault).
public struct CheckpointError: Error, CustomStringConvertible, Sendable {
    public var file: String
    public var message: String

    public init(file: String, _ message: String) {
        self.file = file
        self.message = message
    }

    public var description: String { "\(file): error: \(message)" }
}

/// The bytes of a file with bounds-checked little-endian reads; every offset and length that
/// comes from the file goes through `range(_:_:)`, so a bad size is an error, never a trap.
struct ByteReader {
    let data: Data
    let file: String

    func fail(_ message: String) -> CheckpointError { CheckpointError(file: file, message) }

    /// start..<start+count, when it lies inside the file.
    func range(_ start: Int, _ count: Int, _ what: @autoclosure () -> String) throws(CheckpointError) -> Range<Int> {
        let (end, overflow) = start.addingReportingOverflow(count)
        guard start >= 0, count >= 0, !overflow, end <= data.count else {
            throw fail("\(what()) at byte \(start), \(count) bytes, runs past the end of the file (\(data.count) bytes)")
        }
        return start..<end
    }

    func integer(at offset: Int, bytes: Int, _ what: @autoclosure () -> String) throws(CheckpointError) -> UInt64 {
        let span = try range(offset, bytes, what())
        return data.withUnsafeBytes { raw in
            var value: UInt64 = 0
            for (shift, index) in span.enumerated() { value |= UInt64(raw[index]) << (8 * UInt64(shift)) }
            return value
        }
    }

    func u16(_ offset: Int, _ what: @autoclosure () -> String) throws(CheckpointError) -> Int { Int(try integer(at: offset, bytes: 2, what())) }
    func u32(_ offset: Int, _ what: @autoclosure () -> String) throws(CheckpointError) -> Int { Int(try integer(at: offset, bytes: 4, what())) }
    func u64(_ offset: Int, _ what: @autoclosure () -> String) throws(CheckpointError) -> Int {
        let value = try integer(at: offset, bytes: 8, what())
        guard value <= UInt64(Int.max) else { throw fail("\(what()) at byte \(offset) is \(value), larger than any file") }
        return Int(value)
    }
}

/// The entries of a zip archive as `torch.save` writes them: stored (uncompressed), each at an
/// offset found through the central directory and its local header. ZIP64 sizes are read.
struct ZipArchive {
    struct Entry {
        var name: String
        /// Where the entry's bytes start in the file, and how many.
        var offset: Int
        var size: Int
    }

    let reader: ByteReader
    private(set) var entries: [String: Entry] = [:]
    private(set) var names: [String] = []

    /// The most entries read; a checkpoint has one per storage plus a few records.
    static let largestEntryCount = 10_000_000

    init(_ reader: ByteReader) throws(CheckpointError) {
        self.reader = reader
        let data = reader.data
        // the end-of-central-directory record: the last 22 bytes plus a comment of up to 65535
        let searchStart = max(0, data.count - 22 - 65_535)
        var recordOffset: Int?
        if data.count >= 22 {
            var position = data.count - 22
            while position >= searchStart {
                if try reader.u32(position, "end of the zip directory") == 0x0605_4B50 { recordOffset = position; break }
                position -= 1
            }
        }
        guard let eocd = recordOffset else {
            throw reader.fail("not a zip archive (no end-of-directory record): not a PyTorch ≥ 1.6 checkpoint")
        }
        var count = try reader.u16(eocd + 10, "zip entry count")
        var directorySize = try reader.u32(eocd + 12, "zip directory size")
        var directoryOffset = try reader.u32(eocd + 16, "zip directory offset")
        // ZIP64: the locator sits just before the record
        if count == 0xFFFF || directorySize == 0xFFFF_FFFF || directoryOffset == 0xFFFF_FFFF {
            let locator = eocd - 20
            guard locator >= 0, try reader.u32(locator, "ZIP64 locator") == 0x0706_4B50 else {
                throw reader.fail("the zip directory at byte \(eocd) points to a ZIP64 record that is not there")
            }
            let record = try reader.u64(locator + 8, "ZIP64 record offset")
            guard try reader.u32(record, "ZIP64 record") == 0x0606_4B50 else {
                throw reader.fail("no ZIP64 end-of-directory record at byte \(record)")
            }
            count = try reader.u64(record + 32, "ZIP64 entry count")
            directorySize = try reader.u64(record + 40, "ZIP64 directory size")
            directoryOffset = try reader.u64(record + 48, "ZIP64 directory offset")
        }
        guard count <= ZipArchive.largestEntryCount else {
            throw reader.fail("the zip directory claims \(count) entries (at most \(ZipArchive.largestEntryCount) are read)")
        }
        _ = try reader.range(directoryOffset, directorySize, "the zip directory")
        var position = directoryOffset
        for index in 0..<count {
            guard try reader.u32(position, "zip directory entry \(index)") == 0x0201_4B50 else {
                throw reader.fail("zip directory entry \(index) at byte \(position) has a bad signature (a corrupt or truncated archive)")
            }
            let flags = try reader.u16(position + 8, "entry flags")
            let method = try reader.u16(position + 10, "entry method")
            var compressedSize = try reader.u32(position + 20, "entry size")
            var size = try reader.u32(position + 24, "entry size")
            let nameLength = try reader.u16(position + 28, "entry name length")
            let extraLength = try reader.u16(position + 30, "entry extra length")
            let commentLength = try reader.u16(position + 32, "entry comment length")
            var localOffset = try reader.u32(position + 42, "entry offset")
            let nameRange = try reader.range(position + 46, nameLength, "entry \(index)'s name")
            guard let name = String(bytes: data[nameRange], encoding: .utf8) else {
                throw reader.fail("zip directory entry \(index) at byte \(position): the name is not UTF-8")
            }
            // ZIP64 extra field: the 64-bit values of whichever fields are saturated, in order
            var extra = position + 46 + nameLength
            let extraEnd = extra + extraLength
            while extra + 4 <= extraEnd {
                let id = try reader.u16(extra, "extra field id"), length = try reader.u16(extra + 2, "extra field length")
                if id == 0x0001 {
                    var field = extra + 4
                    if size == 0xFFFF_FFFF { size = try reader.u64(field, "ZIP64 size"); field += 8 }
                    if compressedSize == 0xFFFF_FFFF { compressedSize = try reader.u64(field, "ZIP64 size"); field += 8 }
                    if localOffset == 0xFFFF_FFFF { localOffset = try reader.u64(field, "ZIP64 offset") }
                }
                extra += 4 + length
            }
            guard flags & 1 == 0 else { throw reader.fail("entry '\(name)' is encrypted") }
            guard method == 0, compressedSize == size else {
                throw reader.fail("entry '\(name)' is compressed (method \(method)); torch.save writes stored entries — re-save the file with torch.save")
            }
            guard try reader.u32(localOffset, "entry '\(name)''s local header") == 0x0403_4B50 else {
                throw reader.fail("entry '\(name)': no local header at byte \(localOffset) (a corrupt archive)")
            }
            let localName = try reader.u16(localOffset + 26, "local name length")
            let localExtra = try reader.u16(localOffset + 28, "local extra length")
            let start = localOffset + 30 + localName + localExtra
            _ = try reader.range(start, size, "entry '\(name)'")
            if entries[name] == nil { names.append(name) }
            entries[name] = Entry(name: name, offset: start, size: size)
            position += 46 + nameLength + extraLength + commentLength
        }
    }

    func bytes(_ entry: Entry) -> Data { reader.data.subdata(in: reader.data.startIndex + entry.offset ..< reader.data.startIndex + entry.offset + entry.size) }
}
