import Foundation
@testable import ModelGraph
import Tensor
import Testing

/// Files and option values that once trapped or gave a vague message: each is now a specific
/// error naming the file (and position), with exit 1 — or 2 for a usage error.
@Suite("Bad input files and option values give specific errors")
struct InputFileTests {
    static func scratchDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("modelgraph-input-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    static let plainConfig = "nc: 1\nbackbone:\n  - [-1, 1, Conv, [16, 3, 2]]\nhead:\n  - [-1, 1, Conv, [16, 1]]\n"

    @Test func modelFileThatIsNotUTF8() throws {
        let directory = try Self.scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var bytes = Array("nc: 1\nbackbone:\n  - [-1, 1, Conv, [16, 3, 2]]\nhead:\n  - [-1, 1, Conv, [16, ".utf8)
        bytes += [0xFF, 0xFE] + Array("1]]\n".utf8)
        try Data(bytes).write(to: directory.appendingPathComponent("latin.yaml"))
        let result = try runCLI(["check", "latin.yaml"], in: directory)
        #expect(result.status == 1)
        #expect(result.stderr == "latin.yaml:5:24: error: not UTF-8 text: byte 0xFF at byte offset 75\n")
    }

    @Test func directoriesAsModelWeightsOrInput() throws {
        let directory = try Self.scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("folder.yaml"), withIntermediateDirectories: true)
        try Self.plainConfig.write(to: directory.appendingPathComponent("plain.yaml"), atomically: true, encoding: .utf8)
        let model = try runCLI(["check", "folder.yaml"], in: directory)
        #expect(model.status == 1)
        #expect(model.stderr == "folder.yaml: error: cannot read the model file (is a directory)\n")
        for option in ["--weights", "--input"] {
            let result = try runCLI(["run", "plain.yaml", "--imgsz", "32", option, "folder.yaml", "--output", "out.safetensors"], in: directory)
            #expect(result.status == 1, "\(option)")
            #expect(result.stderr.contains("folder.yaml: error: cannot read the file (is a directory)"), "\(option): \(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("out.safetensors").path))
        }
    }

    @Test func scaleTheFileDoesNotListIsAUsageError() throws {
        let directory = try Self.scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.plainConfig.write(to: directory.appendingPathComponent("plain.yaml"), atomically: true, encoding: .utf8)
        let result = try runCLI(["summary", "plain.yaml", "--scale", "n"], in: directory)
        #expect(result.status == 2)
        #expect(result.stderr == "plain.yaml: error: --scale n given, but the file has no `scales:`\n")
        let listed = try runCLI(["check", "yolov8.yaml", "--scale", "q"])
        #expect(listed.status == 2)
        #expect(listed.stderr.hasPrefix("yolov8.yaml:") && listed.stderr.hasSuffix(": error: --scale q given, but the file's `scales:` lists n, s, m, l, x\n"))
    }

    /// A header whose shape passes the element-count check but overflows times the element size.
    @Test func safetensorsShapeOverflowingTheByteCount() throws {
        let directory = try Self.scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let header = Data(#"{"x": {"dtype": "F32", "shape": [1099511627776, 2097152], "data_offsets": [0, 0]}}"#.utf8)
        var file = Data((0..<8).map { UInt8(truncatingIfNeeded: header.count >> (8 * $0)) })
        file.append(header)
        try file.write(to: directory.appendingPathComponent("huge.safetensors"))
        #expect(throws: SafeTensorsError.self) { try SafeTensors.decode(file, file: "huge.safetensors") }
        try Self.plainConfig.write(to: directory.appendingPathComponent("plain.yaml"), atomically: true, encoding: .utf8)
        for option in ["--weights", "--input"] {
            let result = try runCLI(["run", "plain.yaml", "--imgsz", "32", option, "huge.safetensors", "--output", "out.safetensors"], in: directory)
            #expect(result.status == 1, "\(option)")
            #expect(result.stderr == "huge.safetensors: error: tensor 'x': shape [1099511627776, 2097152] of F32 is too large\n", "\(option)")
        }
    }

    @Test func runTooLargeForMemorySaysWhatItNeeds() throws {
        let directory = try Self.scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.plainConfig.write(to: directory.appendingPathComponent("plain.yaml"), atomically: true, encoding: .utf8)
        let result = try runCLI(["run", "plain.yaml", "--imgsz", "60000", "--batch", "8", "--output", "out.safetensors"], in: directory)
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix("plain.yaml: error: running it at batch 8, 60000×60000 needs about 1900.8 GB (weights 0.0 MB, up to 4× that in a loaded plan; feature maps 1267.2 GB at their peak"))
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("out.safetensors").path))
        let capped = try runCLI(["run", "plain.yaml", "--imgsz", "64", "--max-memory", "0.000001", "--output", "out.safetensors"], in: directory)
        #expect(capped.status == 1)
        #expect(capped.stderr.contains("more than --max-memory 0.0 MB"))
        let bad = try runCLI(["run", "plain.yaml", "--max-memory", "nan", "--output", "out.safetensors"], in: directory)
        #expect(bad.status == 2)
    }

    /// The table's GFLOPs figure once converted a huge Double to Int and trapped.
    @Test func fixedPointFormattingOfHugeAndNonFiniteValues() {
        #expect(String(fixed: 1.25, digits: 1) == "1.3")
        #expect(String(fixed: 1e30, digits: 2) == "1e+30")
        #expect(String(fixed: -.infinity, digits: 2) == "-inf")
        #expect(String(fixed: .nan, digits: 1) == "nan")
        #expect(String(fixed: 123456.789, digits: 2) == "123456.79")
    }
}
