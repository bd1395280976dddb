import Foundation
import Testing

/// `modelgraph predict` end to end against Ultralytics' `model.predict` on the demo detector
/// (golden JSON from scripts/make-predict-fixtures.py): same detections in the same order, boxes
/// within 1 px, scores within 1e-3, with the default settings and with --conf, --agnostic,
/// --classes and --max-det.
private struct PredictGolden: Decodable {
    struct Case: Decodable {
        struct Found: Decodable { var `class`: Int; var confidence: Double; var box: [Double] }
        var image: String
        var arguments: [String]
        var detections: [Found]
        var shape: [Int]
    }
    var model: String
    var names: [String]
    var cases: [Case]

    static let loaded: PredictGolden = {
        let url = Paths.fixtures.appendingPathComponent("predict/golden.json")
        return try! JSONDecoder().decode(PredictGolden.self, from: Data(contentsOf: url))
    }()
}

private func root(_ path: String) -> String { Paths.packageRoot.appendingPathComponent(path).path }

@Suite("predict: the demo detector's detections equal Ultralytics' model.predict")
struct PredictTests {
    @Test("predict --json matches model.predict", arguments: PredictGolden.loaded.cases.indices)
    func matchesUltralytics(_ index: Int) throws {
        let golden = PredictGolden.loaded
        let entry = golden.cases[index]
        let result = try runCLI(["predict", root(golden.model), root(entry.image), "--json"] + entry.arguments)
        #expect(result.status == 0, "\(result.stderr)")
        let line = try #require(result.stdout.split(separator: "\n").last)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["width"] as? Int == entry.shape[1] && object["height"] as? Int == entry.shape[0])
        let detections = try #require(object["detections"] as? [[String: Any]])
        #expect(detections.count == entry.detections.count, "\(entry.image) \(entry.arguments): \(detections.count) vs Ultralytics \(entry.detections.count)")
        for (ours, reference) in zip(detections, entry.detections) {
            let box = try #require(ours["box"] as? [String: Double])
            let values = [box["x1"], box["y1"], box["x2"], box["y2"]].compactMap { $0 }
            let offset = zip(values, reference.box).map { abs($0 - $1) }.max() ?? .infinity
            #expect(ours["class"] as? Int == reference.class)
            #expect(abs((ours["confidence"] as? Double ?? -1) - reference.confidence) <= 1e-3)
            #expect(offset <= 1, "box \(values) vs \(reference.box)")
            #expect(ours["name"] as? String == golden.names[reference.class])
        }
    }

    @Test("--out writes an annotated image of the input's size and YOLO labels; --save-txt lines parse")
    func writesImagesAndLabels() throws {
        let golden = PredictGolden.loaded
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("mg-predict-\(UUID())")
        defer { try? FileManager.default.removeItem(at: folder) }
        let entry = golden.cases[0]
        let result = try runCLI(["predict", root(golden.model), root(entry.image), "--out", folder.path, "--save-txt", "--save-conf", "--format", "png"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("Speed: ") && result.stderr.contains("Results saved to"))
        let stem = URL(fileURLWithPath: entry.image).deletingPathExtension().lastPathComponent
        let png = try Data(contentsOf: folder.appendingPathComponent("\(stem).png"))
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]))
        let labels = try String(contentsOf: folder.appendingPathComponent("labels/\(stem).txt"), encoding: .utf8)
        let lines = labels.split(separator: "\n")
        #expect(lines.count == entry.detections.count)
        for line in lines { #expect(line.split(separator: " ").count == 6) }
        // nothing half-written is left behind
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasPrefix(".") }
        #expect(leftovers.isEmpty)
    }

    @Test("bad predict inputs give a specific message and exit 1 (2 for usage)")
    func badInputs() throws {
        let golden = PredictGolden.loaded
        let notImage = FileManager.default.temporaryDirectory.appendingPathComponent("mg-not-image-\(UUID()).jpg")
        try Data("plain text".utf8).write(to: notImage)
        defer { try? FileManager.default.removeItem(at: notImage) }
        let cases: [(arguments: [String], status: Int32, message: String)] = [
            ([root(golden.model), notImage.path], 1, "\(notImage.path): error: not a JPEG or PNG image"),
            ([root(golden.model), "/nonexistent/photo.jpg"], 1, "/nonexistent/photo.jpg: error: no such file or folder"),
            ([root(golden.model), root("configs")], 1, "error: no .jpg, .jpeg or .png images in the folder"),
            ([root(golden.model), root(golden.cases[0].image), "--conf", "1.5"], 2, "--conf must be between 0 and 1, found 1.5"),
            ([root(golden.model), root(golden.cases[0].image), "--classes", "a,b"], 2, "--classes takes class indices"),
            ([root(golden.model), root(golden.cases[0].image), "--save-txt"], 2, "--save-txt writes into --out DIR"),
        ]
        for entry in cases {
            let result = try runCLI(["predict"] + entry.arguments)
            #expect(result.status == entry.status, "\(entry.arguments): \(result.stderr)")
            #expect(result.stderr.contains(entry.message), "\(entry.arguments): \(result.stderr)")
        }
    }
}
