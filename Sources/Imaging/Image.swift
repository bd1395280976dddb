import CImageCodecs
import Foundation

/// An 8-bit RGB image, rows top to bottom, pixels interleaved (r, g, b).
public struct RGBImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width >= 0 && height >= 0 && pixels.count == width * height * 3, "pixel count does not match \(width)×\(height)×3")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// An image of one colour.
    public init(width: Int, height: Int, fill: (UInt8, UInt8, UInt8)) {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for index in stride(from: 0, to: pixels.count, by: 3) {
            pixels[index] = fill.0
            pixels[index + 1] = fill.1
            pixels[index + 2] = fill.2
        }
        self.init(width: width, height: height, pixels: pixels)
    }
}

/// Why an image could not be read or written, naming the file.
public struct ImageError: Error, CustomStringConvertible, Sendable {
    public let file: String
    public let message: String

    public init(file: String, _ message: String) {
        self.file = file
        self.message = message
    }

    public var description: String { "\(file): error: \(message)" }
}

/// The file formats ModelGraph reads and writes.
public enum ImageFormat: String, Sendable, CaseIterable {
    case jpeg, png

    /// The format a file name asks for (`.jpg`, `.jpeg`, `.png`), nil for others.
    public init?(fileName: String) {
        switch URL(fileURLWithPath: fileName).pathExtension.lowercased() {
        case "jpg", "jpeg": self = .jpeg
        case "png": self = .png
        default: return nil
        }
    }

    /// The format the first bytes announce.
    init?(signature data: Data) {
        if data.starts(with: [0xFF, 0xD8, 0xFF]) { self = .jpeg }
        else if data.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { self = .png }
        else { return nil }
    }
}

/// What the file held before conversion to 8-bit RGB.
public struct ImageSource: Sendable {
    public let format: ImageFormat
    public let channels: Int
    public let bitsPerSample: Int
    /// EXIF orientation (1–8) applied while reading; 1 when absent.
    public let orientation: Int
}

public enum ImageFile {
    /// Largest image read (pixels): 2^28, about 16k × 16k.
    public static let maximumPixels = 1 << 28

    /// Decodes a JPEG or PNG as OpenCV's `imread(IMREAD_COLOR)` does — grey, alpha, palette and
    /// 16-bit converted to 8-bit RGB, EXIF orientation applied.
    public static func read(_ path: String) throws(ImageError) -> (image: RGBImage, source: ImageSource) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw ImageError(file: path, "no such file") }
        guard !isDirectory.boolValue else { throw ImageError(file: path, "is a directory, not an image") }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) } catch {
            throw ImageError(file: path, "cannot read the file (\(error.localizedDescription))")
        }
        return try decode(data, file: path)
    }

    /// Decodes image bytes; `file` names them in errors.
    public static func decode(_ data: Data, file: String) throws(ImageError) -> (image: RGBImage, source: ImageSource) {
        guard !data.isEmpty else { throw ImageError(file: file, "the file is empty") }
        guard let format = ImageFormat(signature: data) else {
            let head = data.prefix(8).map { String(format: "%02x", $0) }.joined(separator: " ")
            throw ImageError(file: file, "not a JPEG or PNG image (it starts with bytes \(head))")
        }
        // PNG's first chunk is IHDR: refuse an oversized image before libpng reads further
        if format == .png, data.count >= 24 {
            let bytes = [UInt8](data[data.startIndex + 16..<data.startIndex + 24])
            let width = bytes[0..<4].reduce(0) { $0 << 8 | Int($1) }, height = bytes[4..<8].reduce(0) { $0 << 8 | Int($1) }
            if width.multipliedReportingOverflow(by: height).partialValue > maximumPixels {
                throw ImageError(file: file, "the PNG header says \(width)x\(height) pixels, more than the \(maximumPixels) allowed")
            }
        }
        var decoded = mg_image()
        var message = [CChar](repeating: 0, count: 256)
        let status = data.withUnsafeBytes { raw -> Int32 in
            let bytes = raw.bindMemory(to: UInt8.self).baseAddress!
            switch format {
            case .jpeg: return mg_decode_jpeg(bytes, raw.count, Int64(maximumPixels), &decoded, &message, message.count)
            case .png: return mg_decode_png(bytes, raw.count, Int64(maximumPixels), &decoded, &message, message.count)
            }
        }
        guard status == 0, let pointer = decoded.pixels else {
            let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw ImageError(file: file, "cannot decode the \(format == .jpeg ? "JPEG" : "PNG") image: \(text)")
        }
        defer { mg_free(pointer) }
        let (width, height) = (Int(decoded.width), Int(decoded.height))
        var image = RGBImage(width: width, height: height, pixels: Array(UnsafeBufferPointer(start: pointer, count: width * height * 3)))
        let orientation = format == .jpeg ? ExifOrientation.read(jpeg: data) : 1
        image = image.oriented(orientation)
        return (image, ImageSource(format: format, channels: Int(decoded.sourceChannels), bitsPerSample: Int(decoded.sourceBits), orientation: orientation))
    }

    /// Encodes `image` in `format` (JPEG at `quality`).
    public static func encode(_ image: RGBImage, as format: ImageFormat, quality: Int = 95) throws(ImageError) -> Data {
        var encoded: UnsafeMutablePointer<UInt8>?
        var size = 0
        var message = [CChar](repeating: 0, count: 256)
        let status = image.pixels.withUnsafeBufferPointer { pixels -> Int32 in
            switch format {
            case .png: return mg_encode_png(pixels.baseAddress, Int32(image.width), Int32(image.height), &encoded, &size, &message, message.count)
            case .jpeg: return mg_encode_jpeg(pixels.baseAddress, Int32(image.width), Int32(image.height), Int32(quality), &encoded, &size, &message, message.count)
            }
        }
        guard status == 0, let encoded else {
            throw ImageError(file: "(image)", "cannot encode: " + String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        defer { mg_free(encoded) }
        return Data(bytes: encoded, count: size)
    }

    /// Writes `image` to `path` in the format its extension names, atomically (a temporary file
    /// renamed into place, so an interrupted write leaves no half-written image).
    public static func write(_ image: RGBImage, to path: String, quality: Int = 95) throws(ImageError) {
        guard let format = ImageFormat(fileName: path) else {
            throw ImageError(file: path, "unknown image format: name the file .png, .jpg or .jpeg")
        }
        let data: Data
        do { data = try encode(image, as: format, quality: quality) } catch { throw ImageError(file: path, error.message) }
        do { try data.write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
            throw ImageError(file: path, "cannot write the image (\(error.localizedDescription))")
        }
    }
}

/// The EXIF orientation tag of a JPEG's APP1 segment, as OpenCV applies it.
enum ExifOrientation {
    static func read(jpeg data: Data) -> Int {
        let bytes = [UInt8](data.prefix(1 << 20))
        var offset = 2
        while offset + 4 <= bytes.count, bytes[offset] == 0xFF {
            let marker = bytes[offset + 1]
            if marker == 0xD8 || (0xD0...0xD7).contains(marker) || marker == 0x01 { offset += 2; continue }
            if marker == 0xDA || marker == 0xD9 { break }  // scan data: no metadata after this
            let length = Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
            guard length >= 2, offset + 2 + length <= bytes.count else { break }
            if marker == 0xE1, let value = orientation(exif: bytes[(offset + 4)..<(offset + 2 + length)]) { return value }
            offset += 2 + length
        }
        return 1
    }

    /// Tag 0x0112 of IFD0 in an `Exif\0\0` TIFF block.
    static func orientation(exif segment: ArraySlice<UInt8>) -> Int? {
        let block = Array(segment)
        guard block.count >= 14, block.starts(with: Array("Exif".utf8)), block[4] == 0, block[5] == 0 else { return nil }
        let tiff = Array(block[6...])
        let little: Bool
        switch (tiff[0], tiff[1]) {
        case (0x49, 0x49): little = true
        case (0x4D, 0x4D): little = false
        default: return nil
        }
        func u16(_ at: Int) -> Int? {
            guard at >= 0, at + 2 <= tiff.count else { return nil }
            return little ? Int(tiff[at]) | Int(tiff[at + 1]) << 8 : Int(tiff[at]) << 8 | Int(tiff[at + 1])
        }
        func u32(_ at: Int) -> Int? {
            guard let low = u16(little ? at : at + 2), let high = u16(little ? at + 2 : at) else { return nil }
            return high << 16 | low
        }
        guard let ifd = u32(4), let count = u16(ifd) else { return nil }
        for entry in 0..<min(count, 512) {
            let at = ifd + 2 + entry * 12
            guard let tag = u16(at) else { return nil }
            if tag == 0x0112, let value = u16(at + 8) { return (1...8).contains(value) ? value : nil }
        }
        return nil
    }
}

extension RGBImage {
    /// The image as EXIF orientation `value` says to display it (1: as stored).
    public func oriented(_ value: Int) -> RGBImage {
        switch value {
        case 2: return remapped(width: width, height: height) { x, y in (width - 1 - x, y) }
        case 3: return remapped(width: width, height: height) { x, y in (width - 1 - x, height - 1 - y) }
        case 4: return remapped(width: width, height: height) { x, y in (x, height - 1 - y) }
        case 5: return remapped(width: height, height: width) { x, y in (y, x) }
        case 6: return remapped(width: height, height: width) { x, y in (y, height - 1 - x) }
        case 7: return remapped(width: height, height: width) { x, y in (width - 1 - y, height - 1 - x) }
        case 8: return remapped(width: height, height: width) { x, y in (width - 1 - y, x) }
        default: return self
        }
    }

    /// A new image whose pixel (x, y) is this image's `source(x, y)`.
    func remapped(width newWidth: Int, height newHeight: Int, _ source: (Int, Int) -> (Int, Int)) -> RGBImage {
        var out = [UInt8](repeating: 0, count: newWidth * newHeight * 3)
        for y in 0..<newHeight {
            for x in 0..<newWidth {
                let (sx, sy) = source(x, y)
                let from = (sy * width + sx) * 3, to = (y * newWidth + x) * 3
                out[to] = pixels[from]
                out[to + 1] = pixels[from + 1]
                out[to + 2] = pixels[from + 2]
            }
        }
        return RGBImage(width: newWidth, height: newHeight, pixels: out)
    }
}
