import Foundation

/// A zip archive as `torch.save` writes one: every entry stored (no compression), its data
/// starting on a 64-byte boundary (PyTorch pads the local header's extra field so the reader can
/// map storages in place), a CRC-32 per entry. Sizes are checked: past 4 GiB an archive would
/// need ZIP64, which this writer refuses rather than writing a file no reader can open.
struct ZipWriter {
    private(set) var bytes = Data()
    private var central = Data()
    private var count = 0

    struct TooLarge: Error {}

    mutating func add(_ name: String, _ data: Data) throws(TooLarge) {
        let nameBytes = Array(name.utf8)
        let headerEnd = bytes.count + 30 + nameBytes.count + 4  // the padding field's own 4 bytes
        let padding = (64 - headerEnd % 64) % 64
        let offset = bytes.count
        guard offset + 30 + nameBytes.count + 4 + padding + data.count < Int(UInt32.max), data.count < Int(UInt32.max),
              nameBytes.count < 0xFFFF, count < 0xFFFF else { throw TooLarge() }
        let crc = CRC32.checksum(data)
        var local = Data()
        local.append(le32: 0x0403_4B50)
        local.append(le16: 20)          // version needed
        local.append(le16: 0)           // flags
        local.append(le16: 0)           // stored
        local.append(le16: 0); local.append(le16: 0x21)  // time, date (1980-01-01)
        local.append(le32: crc)
        local.append(le32: UInt32(data.count)); local.append(le32: UInt32(data.count))
        local.append(le16: UInt16(nameBytes.count))
        local.append(le16: UInt16(4 + padding))
        local.append(contentsOf: nameBytes)
        local.append(le16: 0x4246)      // "FB": the padding field PyTorch writes
        local.append(le16: UInt16(padding))
        local.append(Data(count: padding))
        bytes.append(local)
        bytes.append(data)

        central.append(le32: 0x0201_4B50)
        central.append(le16: 20); central.append(le16: 20)
        central.append(le16: 0); central.append(le16: 0)
        central.append(le16: 0); central.append(le16: 0x21)
        central.append(le32: crc)
        central.append(le32: UInt32(data.count)); central.append(le32: UInt32(data.count))
        central.append(le16: UInt16(nameBytes.count))
        central.append(le16: 0); central.append(le16: 0)  // extra, comment
        central.append(le16: 0); central.append(le16: 0)  // disk, internal attributes
        central.append(le32: 0)                            // external attributes
        central.append(le32: UInt32(offset))
        central.append(contentsOf: nameBytes)
        count += 1
    }

    /// The archive with its central directory and end record.
    func finished() throws(TooLarge) -> Data {
        guard bytes.count + central.count < Int(UInt32.max) else { throw TooLarge() }
        var out = bytes
        let directoryOffset = out.count
        out.append(central)
        out.append(le32: 0x0605_4B50)
        out.append(le16: 0); out.append(le16: 0)
        out.append(le16: UInt16(count)); out.append(le16: UInt16(count))
        out.append(le32: UInt32(central.count))
        out.append(le32: UInt32(directoryOffset))
        out.append(le16: 0)
        return out
    }
}

/// CRC-32 (IEEE 802.3, zip's), table-driven.
enum CRC32 {
    static let table: [UInt32] = (0..<256).map { index in
        var value = UInt32(index)
        for _ in 0..<8 { value = value & 1 == 1 ? 0xEDB8_8320 ^ (value >> 1) : value >> 1 }
        return value
    }

    static func checksum(_ data: Data) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        data.withUnsafeBytes { raw in
            for byte in raw { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        }
        return crc ^ 0xFFFF_FFFF
    }
}

extension Data {
    mutating func append(le16 value: UInt16) { Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) } }
    mutating func append(le32 value: UInt32) { Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) } }
}
