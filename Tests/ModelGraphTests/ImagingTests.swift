import Foundation
import Testing
import ModelGraph
@testable import Imaging
@testable import Prediction

/// Fixtures from scripts/make-image-fixtures.py: files of every kind the decoder converts with
/// OpenCV's decoding of each, cv2.resize and torchvision results, LetterBox geometry and
/// Ultralytics' non_max_suppression outputs.
private let imageFolder = Paths.fixtures.appendingPathComponent("images")
private func image(_ name: String) -> String { imageFolder.appendingPathComponent(name).path }

private struct ImageGolden: Decodable {
    struct Resize: Decodable { var index: Int; var width: Int; var height: Int }
    struct Crop: Decodable { var index: Int; var size: Int }
    struct Box: Decodable { var height: Int; var width: Int; var target: Int; var auto: Bool; var resized: [Int]; var top: Int; var bottom: Int; var left: Int; var right: Int }
    struct NMS: Decodable { var classes: Int; var extra: Int; var rotated: Bool; var agnostic: Bool; var conf: Float; var iou: Float; var prediction: [Float]; var anchors: Int; var kept: [[Float]] }
    var resize: [Resize]
    var crop: [Crop]
    var letterbox: [Box]
    var nms: [NMS]

    static let loaded: ImageGolden = {
        let data = try! Data(contentsOf: imageFolder.appendingPathComponent("golden.json"))
        return try! JSONDecoder().decode(ImageGolden.self, from: data)
    }()
}

@Suite("Images: decoding, resizing and letterbox as Ultralytics' OpenCV/Pillow pipeline")
struct ImagingTests {
    static let decoded = ["baseline.jpg", "progressive.jpg", "subsampled-420.jpg", "grey.jpg", "cmyk.jpg", "exif-3.jpg", "exif-6.jpg",
                          "exif-8.jpg", "rgb.png", "grey.png", "rgba.png", "rgb16.png", "palette.png", "interlaced.png"]

    @Test("decoding equals OpenCV's imread(IMREAD_COLOR) byte for byte", arguments: decoded)
    func decodesAsOpenCV(_ name: String) throws {
        let ours = try ImageFile.read(image(name))
        let reference = try ImageFile.read(image(name + ".cv2.png")).image
        #expect(ours.image.width == reference.width && ours.image.height == reference.height)
        #expect(ours.image.pixels == reference.pixels)
        if name.hasPrefix("exif") {
            let expected: Int? = Int(String(name.dropFirst(5).prefix(1)))
            #expect(ours.source.orientation == expected)
        }
    }

    @Test("resizedLinear equals cv2.resize(INTER_LINEAR) byte for byte")
    func resizesAsOpenCV() throws {
        for entry in ImageGolden.loaded.resize {
            let source = try ImageFile.read(image("resize-\(entry.index).png")).image
            let reference = try ImageFile.read(image("resize-\(entry.index).cv2.png")).image
            let ours = source.resizedLinear(width: entry.width, height: entry.height)
            let differing = zip(ours.pixels, reference.pixels).filter { $0 != $1 }.count
            #expect(differing == 0, "case \(entry.index): \(source.width)×\(source.height) → \(entry.width)×\(entry.height), \(differing) bytes differ")
        }
    }

    @Test("classificationCrop equals torchvision Resize + CenterCrop on a PIL image byte for byte")
    func cropsAsTorchvision() throws {
        for entry in ImageGolden.loaded.crop {
            let source = try ImageFile.read(image("crop-\(entry.index).png")).image
            let reference = try ImageFile.read(image("crop-\(entry.index).pil.png")).image
            let ours = source.classificationCrop(size: entry.size)
            #expect(ours.width == reference.width && ours.height == reference.height)
            #expect(ours.pixels == reference.pixels, "crop case \(entry.index) differs")
        }
    }

    @Test("Letterbox geometry equals Ultralytics' LetterBox.get_params")
    func letterboxGeometry() {
        for entry in ImageGolden.loaded.letterbox {
            let box = Letterbox(sourceWidth: entry.width, sourceHeight: entry.height, targetHeight: entry.target, targetWidth: entry.target, stride: 32, auto: entry.auto)
            #expect([box.resizedWidth, box.resizedHeight] == entry.resized, "\(entry.width)×\(entry.height)")
            let (ours, theirs): ([Int], [Int]) = ([box.top, box.bottom, box.left, box.right], [entry.top, entry.bottom, entry.left, entry.right])
            #expect(ours == theirs, "\(entry.width)×\(entry.height) auto \(entry.auto)")
        }
    }

    @Test("NMS (greedy, class-aware or agnostic, and rotated fast-NMS) keeps Ultralytics' rows in its order")
    func nonMaxSuppressionMatches() {
        for (index, entry) in ImageGolden.loaded.nms.enumerated() {
            var settings = PredictionSettings()
            settings.confidence = entry.conf
            settings.iou = entry.iou
            settings.agnostic = entry.agnostic
            let values = 4 + entry.classes + entry.extra
            let kept = NonMaxSuppression.select((values, entry.anchors, entry.prediction[...]), classCount: entry.classes, extra: entry.extra,
                                                rotated: entry.rotated, settings: settings)
            #expect(kept.count == entry.kept.count, "case \(index): \(kept.count) kept, Ultralytics \(entry.kept.count)")
            for (ours, reference) in zip(kept, entry.kept) {
                let difference = zip(ours, reference).map { abs($0 - $1) }.max() ?? 0
                #expect(difference <= 1e-4, "case \(index): row \(ours) vs \(reference)")
            }
        }
    }

    @Test("encoding and decoding PNG is lossless; an annotated image keeps its size")
    func pngRoundTrip() throws {
        let source = try ImageFile.read(image("baseline.jpg")).image
        let data = try ImageFile.encode(source, as: .png)
        let decoded: RGBImage = try ImageFile.decode(data, file: "memory").image
        #expect(decoded.pixels == source.pixels)
        var canvas = source
        canvas.text("person 0.87", x: 2, y: 2, scale: 1, .white)
        #expect(canvas != source && canvas.width == source.width)
    }

    static let hostile: [(name: String, bytes: [UInt8], message: String)] = [
        ("empty.jpg", [], "the file is empty"),
        ("text.jpg", Array("hello, not an image".utf8), "not a JPEG or PNG image (it starts with bytes 68 65 6c 6c"),
        ("truncated.jpg", [0xFF, 0xD8, 0xFF, 0xE0, 0x00], "cannot decode the JPEG image"),
        ("signature-only.png", [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], "cannot decode the PNG image: the file ends inside a chunk"),
    ]

    @Test("hostile image bytes give a located error, never a crash", arguments: hostile.indices)
    func hostileImages(_ index: Int) {
        let entry = Self.hostile[index]
        #expect {
            _ = try ImageFile.decode(Data(entry.bytes), file: entry.name)
        } throws: { error in
            let text = (error as? ImageError)?.description ?? ""
            return text.hasPrefix("\(entry.name): error: ") && text.contains(entry.message)
        }
    }

    @Test("a truncated or corrupted real JPEG/PNG errors or decodes, never traps")
    func mutatedImages() throws {
        for name in ["baseline.jpg", "progressive.jpg", "rgb.png", "interlaced.png"] {
            let original = try Data(contentsOf: URL(fileURLWithPath: image(name)))
            var generator = SplitMix64(seed: 11)
            for trial in 0..<60 {
                var bytes = [UInt8](original)
                if trial % 3 == 0 { bytes = Array(bytes.prefix(Int(generator.next() % UInt64(bytes.count)))) }
                else { for _ in 0..<4 { bytes[Int(generator.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: generator.next()) } }
                if let decoded = try? ImageFile.decode(Data(bytes), file: name) {
                    #expect(decoded.image.pixels.count == decoded.image.width * decoded.image.height * 3)
                }
            }
        }
    }

    @Test("an image header asking for more than 2^28 pixels is refused before allocating")
    func oversizedHeader() throws {
        // a PNG whose IHDR says 100000 × 100000 (libpng's own limits allow it; ours do not)
        var png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]
        let ihdr: [UInt8] = [0, 1, 0x86, 0xA0, 0, 1, 0x86, 0xA0, 8, 2, 0, 0, 0]
        png += ihdr
        png += crc32(Array("IHDR".utf8) + ihdr)
        #expect {
            _ = try ImageFile.decode(Data(png), file: "huge.png")
        } throws: { error in
            ((error as? ImageError)?.description ?? "").contains("100000x100000 pixels, more than the 268435456 allowed")
        }
    }
}

private func crc32(_ bytes: [UInt8]) -> [UInt8] {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
    }
    crc ^= 0xFFFF_FFFF
    return [UInt8(crc >> 24), UInt8(crc >> 16 & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc & 0xFF)]
}
