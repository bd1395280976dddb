import Foundation
import Testing
import ModelSpec

/// Model names as Ultralytics reads them, and the CLI resolving them without a file.
@Suite("model names")
struct ModelNameTests {
    @Test("the scale letter comes from the name as guess_model_scale finds it")
    func scaleFromName() {
        #expect(ModelNames.scale(fromFileName: "yolov8s.yaml") == "s")
        #expect(ModelNames.scale(fromFileName: "models/yolo11x-pose.yaml") == "x")
        #expect(ModelNames.scale(fromFileName: "yoloe-11l-seg.yaml") == "l")
        #expect(ModelNames.scale(fromFileName: "yolov8n-p6.yaml") == "n")
        #expect(ModelNames.scale(fromFileName: "yolov10b.yaml") == nil)  // b is not a scale letter
        #expect(ModelNames.scale(fromFileName: "rtdetr-l.yaml") == nil)
        #expect(ModelNames.scale(fromFileName: "yolov8.yaml") == nil)
        #expect(ModelNames.scale(fromFileName: "my-yolov8m-neck.yaml") == "m")
    }

    @Test("the architecture's name drops the scale letter after the first digits")
    func unifiedName() {
        #expect(ModelNames.unifiedFileName("yolo11n.yaml") == "yolo11.yaml")
        #expect(ModelNames.unifiedFileName("yolov8s-seg.yaml") == "yolov8-seg.yaml")
        #expect(ModelNames.unifiedFileName("yolov8n-p6.yaml") == "yolov8-p6.yaml")
        #expect(ModelNames.unifiedFileName("rtdetr-l.yaml") == "rtdetr-l.yaml")
        #expect(ModelNames.unifiedFileName("rtdetr-resnet50.yaml") == "rtdetr-resnet50.yaml")
    }

    @Test("old P6 names are renamed as yaml_model_load renames them")
    func p6Names() {
        #expect(ModelNames.p6Renamed("yolov5n6.yaml") == "yolov5n-p6.yaml")
        #expect(ModelNames.p6Renamed("yolov8x6") == "yolov8x-p6")
        #expect(ModelNames.unifiedFileName(ModelNames.p6Renamed("yolov5s6.yaml")) == "yolov5-p6.yaml")
        #expect(ModelNames.p6Renamed("yolo11n6.yaml") == "yolo11n6.yaml")  // only YOLOv5 and YOLOv8 had them
        #expect(ModelNames.p6Renamed("yolov5n-p6.yaml") == "yolov5n-p6.yaml")
        #expect(ModelNames.p6Renamed("yolov5b6.yaml") == "yolov5b6.yaml")
    }

    @Test("summary of official names works from an empty directory; a real file of that name wins")
    func officialNamesWithoutFiles() throws {
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("modelgraph-names-\(getpid())")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: empty) }
        let detr = try runCLI(["summary", "rtdetr-l.yaml"], in: empty)
        #expect(detr.status == 0, "\(detr.stderr)")
        #expect(detr.stdout.contains("rtdetr-l summary: 470 layers, 32,970,476 parameters, 32,970,476 gradients"))
        let small = try runCLI(["summary", "yolo11n.yaml"], in: empty)
        #expect(small.status == 0, "\(small.stderr)")
        #expect(small.stdout.contains("yolo11n summary: 181 layers, 2,624,080 parameters, 2,624,064 gradients"))
        #expect(!small.stderr.contains("no --scale given"))
        // a file named yolo11n.yaml here is read instead, at the scale its name says
        try "nc: 2\nscales:\n  n: [1.0, 0.25, 64]\nbackbone:\n  - [-1, 1, Conv, [64, 3, 2]]\nhead: []\n"
            .write(to: empty.appendingPathComponent("yolo11n.yaml"), atomically: true, encoding: .utf8)
        let own = try runCLI(["summary", "yolo11n.yaml"], in: empty)
        #expect(own.status == 0, "\(own.stderr)")
        #expect(own.stdout.contains("yolo11n summary: 3 layers, 464 parameters"))
        let unknown = try runCLI(["summary", "yolov99.yaml"], in: empty)
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("yolov99.yaml: error: cannot read the model file (no such file), and it is not an official architecture ModelGraph ships; known: rtdetr-l.yaml"))
    }
}
