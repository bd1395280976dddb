import Foundation
import ModelGraph
import Tensor
import Testing

/// End-to-end tests of the built `modelgraph run`.
struct RunCommandTests {
    static let parity = Paths.fixtures.appendingPathComponent("parity")
    static var config: String { parity.appendingPathComponent("blocks.yaml").path }
    static var weights: String { parity.appendingPathComponent("blocks/weights.safetensors").path }
    static var input: String { parity.appendingPathComponent("blocks/64x64.safetensors").path }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("modelgraph-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test("run with weights and input reproduces the reference output and writes it")
    func reproducesReference() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let output = directory.appendingPathComponent("y.safetensors").path
        let result = try runCLI(["run", Self.config, "--weights", Self.weights, "--input", Self.input, "--output", output, "--threads", "1"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("input [1, 3, 64, 64] from "))
        #expect(result.stdout.contains("output [1, 20, 6]  min "))
        #expect(result.stdout.contains("forward "))
        let written = try #require(try SafeTensors.read(file: output)["output"])
        let expected = try #require(try SafeTensors.read(file: Self.input)["output"])
        #expect(ParityTests.difference(written, expected, detections: true) <= ParityTests.relativeTolerance * expected.maxMagnitude)
        // only the output file: the temporary file of the atomic write is gone
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["y.safetensors"])
    }

    @Test("a Segment head's run writes `output` and `proto`, equal to Ultralytics' (y, proto)")
    func segmentWritesPrototypes() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let fixture = Paths.fixtures.appendingPathComponent("zoo-parity")
        let output = directory.appendingPathComponent("y.safetensors").path
        let result = try runCLI(["run", fixture.appendingPathComponent("segment-head.yaml").path,
                                 "--weights", fixture.appendingPathComponent("segment-head/weights.safetensors").path,
                                 "--input", fixture.appendingPathComponent("segment-head/64x64/input.safetensors").path,
                                 "--output", output, "--threads", "1"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("output [2, 15, 84]  min ") && result.stdout.contains("proto [2, 6, 16, 16]  min "), "\(result.stdout)")
        let written = try SafeTensors.read(file: output)
        let reference = try SafeTensors.read(file: fixture.appendingPathComponent("segment-head/64x64/output.safetensors").path)
        #expect(Set(written.keys) == ["output", "proto"])
        for (name, key) in [("output", "output.0.0"), ("proto", "output.0.1")] {
            let (mine, theirs) = (try #require(written[name]), try #require(reference[key]))
            #expect(mine.shape == theirs.shape)
            // the prototypes alone; the detections' parts are compared by the zoo parity test
            if name == "proto" { #expect(mine.maxDifference(to: theirs) <= ParityTests.relativeTolerance * theirs.maxMagnitude) }
        }
    }

    @Test("YOLO-World: run reads `txt_feats` from --input and matches Ultralytics; without them it says what is missing")
    func worldReadsTextEmbeddings() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let fixture = Paths.fixtures.appendingPathComponent("zoo-parity")
        let config = fixture.appendingPathComponent("world-blocks.yaml").path
        let weights = fixture.appendingPathComponent("world-blocks/weights.safetensors").path
        let input = fixture.appendingPathComponent("world-blocks/64x64/input.safetensors").path
        let output = directory.appendingPathComponent("y.safetensors").path
        let result = try runCLI(["run", config, "--weights", weights, "--input", input, "--output", output])
        #expect(result.status == 0, "\(result.stderr)")
        let written = try #require(try SafeTensors.read(file: output)["output"])
        let reference = try SafeTensors.read(file: fixture.appendingPathComponent("world-blocks/64x64/output.safetensors").path)
        let expected = try #require(reference["output"] ?? reference["output.0"])
        let scores = (written.slice(axis: 1, 4..<84), expected.slice(axis: 1, 4..<84))
        #expect(scores.0.maxDifference(to: scores.1) <= ParityTests.relativeTolerance * scores.1.maxMagnitude)
        let missing = try runCLI(["run", config, "--imgsz", "64"])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("error: this open-vocabulary model reads class text embeddings [1, 80, 512]; give them as the tensor `txt_feats` in the --input file, next to `images`"))
    }

    @Test("run without weights initialises from the seed, deterministically")
    func seededInitialisation() throws {
        let first = try runCLI(["run", Self.config, "--imgsz", "64", "--seed", "5"])
        let second = try runCLI(["run", Self.config, "--imgsz", "64", "--seed", "5"])
        #expect(first.status == 0 && second.status == 0, "\(first.stderr)")
        func statistics(_ text: String) -> String { text.split(separator: "\n").filter { $0.hasPrefix("output") }.joined() }
        #expect(statistics(first.stdout) == statistics(second.stdout))
        #expect(first.stdout.contains("weights initialised (seed 5)"))
    }

    @Test("weights that do not fit: exit 1, every problem listed, no output written")
    func wrongWeights() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let output = directory.appendingPathComponent("y.safetensors").path
        let other = Self.parity.appendingPathComponent("seedlike/weights.safetensors").path
        let result = try runCLI(["run", Self.config, "--weights", other, "--imgsz", "64", "--output", output])
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix("\(other): error: the weights do not fit \(Self.config) — "))
        #expect(result.stderr.contains("missing keys:\n  model.0.conv.weight [16, 3, 3, 3] — layer 0 (Conv), \(Self.config):4"))
        #expect(result.stderr.contains("unexpected keys:"))
        #expect(result.stderr.contains("shape mismatch"))
        #expect(!FileManager.default.fileExists(atPath: output))
    }

    @Test("broken files and values are errors with exit 1, never crashes")
    func brokenFiles() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let truncated = directory.appendingPathComponent("truncated.safetensors").path
        let bytes = try Data(contentsOf: URL(fileURLWithPath: Self.weights))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: truncated))
        let cut = try runCLI(["run", Self.config, "--weights", truncated, "--imgsz", "64"])
        #expect(cut.status == 1)
        #expect(cut.stderr.contains("\(truncated): error: ") && cut.stderr.contains("truncated"))

        let threeChannels = directory.appendingPathComponent("x.safetensors").path
        try SafeTensors.write(["pixels": Tensor(shape: [1, 4, 64, 64]), "other": Tensor(shape: [1])], to: threeChannels)
        let unnamed = try runCLI(["run", Self.config, "--input", threeChannels])
        #expect(unnamed.status == 1)
        #expect(unnamed.stderr.contains("expected a tensor named 'images' (or a single tensor), found other, pixels"))

        try SafeTensors.write(["images": Tensor(shape: [1, 4, 64, 64])], to: threeChannels)
        let channels = try runCLI(["run", Self.config, "--input", threeChannels])
        #expect(channels.status == 1)
        #expect(channels.stderr.contains("tensor has 4 channels, \(Self.config) takes 3"))

        let missingDirectory = directory.appendingPathComponent("no/such/dir/y.safetensors").path
        let unwritable = try runCLI(["run", Self.config, "--imgsz", "64", "--output", missingDirectory])
        #expect(unwritable.status == 1)
        #expect(unwritable.stderr.contains("\(missingDirectory): error: cannot write the file"))

        let threads = try runCLI(["run", Self.config, "--threads", "0"])
        #expect(threads.status == 2)
        #expect(threads.stderr.contains("--threads must be from 1 to 256"))
    }

    @Test("bench --json has exactly the documented keys; --profile lists every row")
    func bench() throws {
        let json = try runCLI(["bench", Self.config, "--imgsz", "64", "--runs", "3", "--warmup", "1", "--json"])
        #expect(json.status == 0, "\(json.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(Set(object.keys) == ["median_ms", "min_ms", "max_ms", "runs", "peak_rss_mb", "loaded_rss_mb", "forward_peak_rss_mb", "scratch_mb",
                                     "estimated_activations_mb"])
        #expect((object["estimated_activations_mb"] as? Double ?? 0) > 0)
        // the planned program's steps by kind; the reference path has none to time
        let steps = try runCLI(["bench", "yolov8n.yaml", "--imgsz", "64", "--runs", "2", "--profile-ops"])
        #expect(steps.status == 0, "\(steps.stderr)")
        #expect(steps.stdout.contains("convolution") && steps.stdout.contains("steps (sum of medians)"), "\(steps.stdout)")
        let unfused = try runCLI(["bench", Self.config, "--imgsz", "64", "--runs", "2", "--profile-ops", "--unfused"])
        #expect(unfused.status == 1 && unfused.stderr.contains("--unfused runs the reference kernels"), "\(unfused.stderr)")
        let program = try runCLI(["export", "yolov8n.yaml", "--imgsz", "64", "--program"])
        #expect(program.status == 0 && program.stdout.contains("= convolution(%"), "\(program.stderr)")
        // the forward passes' high-water mark starts from what loading left resident
        let loaded = object["loaded_rss_mb"] as? Double ?? 0, forward = object["forward_peak_rss_mb"] as? Double ?? 0
        #expect(loaded > 1 && forward >= loaded)
        let (low, median, high) = (object["min_ms"] as? Double ?? -1, object["median_ms"] as? Double ?? -1, object["max_ms"] as? Double ?? -1)
        #expect(0 < low && low <= median && median <= high)
        #expect(object["runs"] as? Int == 3)
        #expect((object["peak_rss_mb"] as? Double ?? 0) > 1)
        let profile = try runCLI(["bench", Self.config, "--imgsz", "64", "--runs", "2", "--profile"])
        #expect(profile.status == 0)
        let rows = profile.stdout.split(separator: "\n").filter { $0.first?.isNumber == true }
        #expect(rows.count == 24)
        #expect(try runCLI(["bench", Self.config, "--runs", "0"]).status == 2)
    }
}
