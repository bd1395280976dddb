import ForkMode
import Imaging
import ModelGraph
import ModelLoading
@testable import Prediction
@testable import PredictionPipeline
import Tensor
import Foundation
import Testing

/// Fork mode on the team's own miniature fork, against what PyTorch builds from the same code.
@Suite("Fork mode")
struct ForkModeTests {
    static let root = Paths.fixtures.appendingPathComponent("forks/tinyfork")

    /// A fresh folder inside the fork for a test's own YAMLs: beside `cfg/models`, never in it,
    /// because `compare` lists that folder while other tests run in parallel.
    static func scratchDirectory() throws -> URL {
        let directory = root.appendingPathComponent("ultralytics/cfg/scratch-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: false)
        return directory
    }

    struct OracleRecord: Sendable, CustomStringConvertible {
        var file: String
        var params: Int
        var rows: [Int]
        var shapes: [String: [[Int]]]
        var output: [[Int]]
        var gflops: Double
        var description: String { file }
    }

    /// Shapes as the oracle writes them: one shape, a list of shapes, or null for a head's dict.
    static func shapeList(_ value: Any?) -> [[Int]] {
        guard let items = value as? [Any] else { return [] }
        if items.allSatisfy({ $0 is Int }) { return [items as! [Int]] }
        return items.flatMap { shapeList($0) }
    }

    static var oracle: [OracleRecord] {
        let url = Paths.fixtures.appendingPathComponent("forks/tinyfork-oracle.jsonl")
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            guard let json = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
            let rows = (json["rows"] as? [[Any]] ?? []).map { $0.last as? Int ?? -1 }
            var shapes: [String: [[Int]]] = [:]
            for (k, v) in json["shapes"] as? [String: Any] ?? [:] { shapes[k] = shapeList(v) }
            return OracleRecord(file: json["file"] as! String, params: json["params"] as! Int, rows: rows, shapes: shapes,
                                output: shapeList(json["output"]), gflops: json["gflops"] as? Double ?? 0)
        }
    }

    static func build(_ file: String, imageSize: Int = 640) throws -> ForkSummary {
        let root = Self.root
        let result = onLargeStack { () -> Result<ForkSummary, ForkBuildError> in
            do {
                return .success(try ForkModelBuilder(root: root).build(yamlPath: root.appendingPathComponent(file).path,
                                                                        options: ForkBuildOptions(imageHeight: imageSize, imageWidth: imageSize)))
            } catch let error as ForkBuildError { return .failure(error) } catch { return .failure(ForkBuildError(message: "\(error)", frames: [])) }
        }
        return try result.get()
    }

    /// A record per YAML of the tiny fork's `cfg/models`, each made by PyTorch.
    @Test func oracleIsPresent() throws {
        let folder = Self.root.appendingPathComponent("ultralytics/cfg/models").path
        let yamls = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".yaml") }
        #expect(Self.oracle.count == 10)
        #expect(Set(Self.oracle.map { URL(fileURLWithPath: $0.file).lastPathComponent }) == Set(yamls))
    }

    /// Parameters in total and per row, and every row's output shape, equal the fork's code in PyTorch.
    @Test(arguments: oracle)
    func buildEqualsTheForkInPyTorch(_ record: OracleRecord) throws {
        let summary = try Self.build(record.file)
        #expect(summary.parameters == record.params)
        #expect(summary.rows.map(\.parameters) == record.rows)
        #expect(summary.forwardError == nil)
        for row in summary.rows {
            guard let expected = record.shapes[String(row.index)] else { continue }
            #expect(row.outputs == expected, "row \(row.index)")
        }
        #expect(summary.output == record.output)
        // the fork's own get_flops, with thop's profile counted by ModelGraph's rules
        let gflops = try #require(summary.ultralyticsGFLOPs)
        #expect(abs(gflops - record.gflops) < 1e-6, "\(gflops) vs \(record.gflops)")
    }

    /// The fork's own Ultralytics version and model class are reported.
    @Test func namesTheForkAndItsClass() throws {
        let summary = try Self.build("ultralytics/cfg/models/tiny-c2f.yaml")
        #expect(summary.ultralyticsVersion == "8.0.0+tiny")
        #expect(summary.modelClass == "DetectionModel")
        #expect(summary.scale == "n")
        // what predict reads of the built model, as the fork's PyTorch gives it (strides [4, 8], nc 5)
        #expect(summary.stride == 8)
        #expect(summary.headClassCount == 5)
        #expect(summary.keypointShape == nil)
    }

    /// An exception in fork code names the YAML row and the place in the fork's source.
    @Test func errorPointsAtBothFiles() throws {
        let directory = try Self.scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let yaml = directory.appendingPathComponent("bad.yaml")
        try """
        nc: 2
        backbone:
          - [-1, 1, Conv, [16, 3, 2]]
          - [-1, 1, Conv, [32, 3, 2]]
        head:
          - [[0, 1], 1, GatedFusion, [16]]
          - [-1, 1, C2f_Star, [16, False, 3]]
        """.write(to: yaml, atomically: true, encoding: .utf8)
        do {
            _ = try Self.build("ultralytics/cfg/\(directory.lastPathComponent)/bad.yaml")
            Issue.record("built a model whose C2f_Star has groups 3 over 8 channels")
        } catch {
            let text = "\(error)"
            #expect(text.contains(yaml.lastPathComponent + ":7:5: error: layer 3 (C2f_Star): ValueError: in_channels must be divisible by groups"), "\(text)")
            #expect(text.contains("<modelgraph>/torch.nn.py") || text.contains("ultralytics/nn/"), "\(text)")
            #expect(text.contains("ultralytics/nn/tasks.py:"), "\(text)")
        }
    }

    /// Native mode stays the default outside forks; --source builtin forces it inside one.
    @Test func builtinSourceForcesTheNativeBuilder() throws {
        let file = Self.root.appendingPathComponent("ultralytics/cfg/models/tiny-c2f.yaml").path
        let fork = try runCLI(["summary", file])
        #expect(fork.status == 0, "\(fork.stderr)")
        #expect(fork.stdout.hasPrefix("fork: "), "\(fork.stdout)")
        #expect(fork.stdout.contains("146,602 parameters"))
        let native = try runCLI(["summary", file, "--source", "builtin"])
        #expect(native.status == 1)
        #expect(native.stderr.contains("unknown module 'C2f_Star'"), "\(native.stderr)")
        let missing = try runCLI(["summary", file, "--source", "/nonexistent"])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("no ultralytics/nn/tasks.py there"))
    }

    /// `summary --json` of a fork YAML keeps the native schema and adds the fork.
    @Test func jsonKeepsTheSchema() throws {
        let file = Self.root.appendingPathComponent("ultralytics/cfg/models/tiny-pyramid-query.yaml").path
        let result = try runCLI(["summary", "--json", file, "--imgsz", "320"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(json["parameters"] as? Int == 666_691)
        #expect((json["layers"] as? [Any])?.count == 6)
        #expect((json["fork"] as? [String: Any])?["ultralytics"] as? String == "8.0.0+tiny")
        #expect(json["input"] as? [Int] == [1, 3, 320, 320])
    }

    /// `compare` lists fork YAMLs with the fork's parameters and GFLOPs, and the change against the first.
    @Test func compareListsForkModels() throws {
        let folder = Self.root.appendingPathComponent("ultralytics/cfg/models").path
        let result = try runCLI(["compare", folder, "--format", "json"])
        #expect(result.status == 0, "\(result.stderr)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
        let oracle = Dictionary(uniqueKeysWithValues: Self.oracle.map { (URL(fileURLWithPath: $0.file).deletingPathExtension().lastPathComponent, $0) })
        #expect(rows.count == Self.oracle.count)
        for row in rows {
            let name = try #require(row["model"] as? String)
            let record = try #require(oracle[name])
            #expect(row["parameters"] as? Int == record.params, "\(name)")
            #expect(abs((row["gflops_ultralytics"] as? Double ?? 0) - record.gflops) < 1e-6, "\(name)")
        }
    }

    /// `diff` aligns a fork YAML with a variant that inserts a row: every other row the same
    /// (sources renumbered), the totals the fork's.
    @Test func diffAlignsForkRows() throws {
        let directory = Self.root.appendingPathComponent("ultralytics/cfg/models")
        let base = directory.appendingPathComponent("tiny-c2f.yaml")
        let scratch = try Self.scratchDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let variant = scratch.appendingPathComponent("variant.yaml")
        var lines = try String(contentsOf: base, encoding: .utf8).components(separatedBy: "\n")
        let sppf = try #require(lines.firstIndex { $0.contains("SPPF") })
        lines.insert("  - [-1, 1, nn.Identity, []]", at: sppf + 1)
        // the rows after it name the layers they meant by their new indices (SPPF stays 5)
        lines = lines.map { $0.replacingOccurrences(of: "[[7, 10]", with: "[[8, 11]") }
        try lines.joined(separator: "\n").write(to: variant, atomically: true, encoding: .utf8)
        let result = try runCLI(["diff", base.path, variant.path, "--imgsz", "320"])
        #expect(result.status == 0, "\(result.stderr)")
        let record = try #require(Self.oracle.first { $0.file.hasSuffix("tiny-c2f.yaml") })
        #expect(result.stdout.contains("+ · → 6     torch.nn.Identity []  [1, 64, 40, 40]  params 0"), "\(result.stdout)")
        #expect(result.stdout.contains("rows: 12 same, 0 changed, 0 only in A, 1 only in B"), "\(result.stdout)")
        let total = groupedThousands(record.params)
        #expect(result.stdout.contains("parameters: \(total) → \(total) (+0, +0.0%)"), "\(result.stdout)")
    }

    /// `graph` draws a fork's multi-output backbone with a port per feature map, and the edges
    /// of later rows from the map they name.
    @Test func graphDrawsForkRows() throws {
        let file = Self.root.appendingPathComponent("ultralytics/cfg/models/tiny-pyramid-query.yaml").path
        let result = try runCLI(["graph", file, "--imgsz", "320"])
        #expect(result.status == 0, "\(result.stderr)")
        let edges = result.stdout.split(separator: "\n").filter { $0.contains("->") }.map { $0.trimmingCharacters(in: .whitespaces) }
        // rows 5 ([-1]) and 6 ([3, 5]) read the backbone's last map and its third index
        #expect(edges.contains("L4:o3 -> L5;"), "\(edges)")
        #expect(edges.contains("L4:o2 -> L6;"), "\(edges)")
        #expect(edges.contains("L9 -> output;"))
        #expect(result.stdout.contains("port=\"o2\" border=\"1\">3: [1, 64, 40, 40]"), "\(result.stdout)")
        let record = try #require(Self.oracle.first { $0.file.hasSuffix("tiny-pyramid-query.yaml") })
        #expect(result.stdout.contains("\(groupedThousands(record.params)) parameters"))
        let expand = try runCLI(["graph", file, "--expand"])
        #expect(expand.status == 2, "\(expand.stderr)")
    }

    /// The rows' multiply-adds, counted between each row's pre- and post-forward hooks, add up
    /// to the whole forward pass's.
    @Test func rowGFLOPsAddUp() throws {
        let summary = try Self.build("ultralytics/cfg/models/tiny-c2f.yaml")
        let rows = summary.rows.compactMap(\.gflops)
        #expect(rows.count == summary.rows.count)
        let total = try #require(summary.gflops)
        #expect(abs(rows.reduce(0, +) - total) < 1e-9 * max(1, total), "\(rows) vs \(total)")
        #expect(rows.allSatisfy { $0 >= 0 })
    }

    /// Loads a fork YAML's traced, weight-bound program (on a large stack: interpreted code recurses).
    @Test("compare --bench times a fork model through its traced program, beside a native one")
    func compareTimesForkModels() throws {
        let fork = Self.root.appendingPathComponent("ultralytics/cfg/models/tiny-c2f.yaml").path
        let result = try runCLI(["compare", fork, "yolov8n.yaml", "--imgsz", "64", "--bench", "--runs", "1", "--format", "json"])
        #expect(result.status == 0, "\(result.stderr)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
        #expect(rows.count == 2)
        for row in rows {
            let milliseconds = try #require(row["median_ms"] as? Double, "\(row["model"] ?? "?"): no latency")
            #expect(milliseconds > 0)
        }
        #expect(rows[0]["fork"] is String)
    }

    static func runnable(_ file: String, size: Int, weights: String?) throws -> ForkRunnable {
        let root = Self.root
        let result = onLargeStack { () -> Result<ForkRunnable, ModelLoadError> in
            do {
                return .success(try Model.loadForkRunnable(ModelRequest(path: root.appendingPathComponent(file).path, imageHeight: size, imageWidth: size),
                                                           root: root, weights: weights, seed: 0))
            } catch let error as ModelLoadError { return .failure(error) } catch { return .failure(ModelLoadError("\(error)")) }
        }
        return try result.get()
    }

    /// Fork mode runs: the fork's forward traced into a program reproduces PyTorch's output on
    /// the fork's weights and input (fork_oracle.py --export-dir), on the reference kernels and
    /// on the planner's, each part (boxes; scores) within 1e-5 × its max |ref|.
    /// tiny-ops7 (deformable convolutions: torchvision's modulated `deform_conv2d` with offsets off the grid,
    /// offset groups, grouped weights, dilation) lies in `cfg/deformable/`: PyTorch's get_flops crashes in
    /// torchvision on it, so the build oracle has no record of it.
    @Test(arguments: [("tiny-ops", 64), ("tiny-c2f", 64), ("tiny-ops2", 56), ("tiny-mha", 64), ("tiny-ops3", 64), ("tiny-ops4", 64), ("tiny-ops5", 64), ("tiny-ops6", 64),
                      ("tiny-ops7", 64)])
    func forwardMatchesPyTorch(name: String, size: Int) throws {
        let fixture = Paths.fixtures.appendingPathComponent("forks/parity/\(name)")
        let folder = name == "tiny-ops7" ? "deformable" : "models"
        let loaded = try Self.runnable("ultralytics/cfg/\(folder)/\(name).yaml", size: size,
                                       weights: fixture.appendingPathComponent("weights.safetensors").path)
        let input = try #require(try SafeTensors.read(file: fixture.appendingPathComponent("input.safetensors").path)["images"])
        let reference = try SafeTensors.read(file: fixture.appendingPathComponent("output.safetensors").path)
        #expect(loaded.outputNames == ["output"])
        let expected = try #require(reference["output"])
        for (path, outputs) in [("reference kernels", loaded.program.run(input)), ("planned", PlannedProgram(loaded.program).run(input).outputs)] {
            let ours = outputs[0]
            #expect(ours.shape == expected.shape, "\(path)")
            guard ours.shape == expected.shape else { continue }
            // [1, 4 + nc, anchors]: boxes are the first four rows, scores the rest
            let anchors = expected.shape[2]
            for (part, range) in [("boxes", 0..<(4 * anchors)), ("scores", (4 * anchors)..<expected.count)] {
                let scale = range.map { abs(expected.storage[$0]) }.max() ?? 1
                let error = range.map { abs(expected.storage[$0] - ours.storage[$0]) }.max() ?? 0
                #expect(error <= 1e-5 * scale, "\(name) \(path) \(part): \(error) vs max \(scale)")
            }
        }
    }

    /// A deformable attention written as the forks write it (values projected over every token,
    /// split by level, grid-sampled per head, weighted and summed) is planned as the native
    /// decoder's kernel, which samples first and projects the sums; `forwardMatchesPyTorch`
    /// checks its numbers on tiny-ops4.
    @Test func forkDeformableAttentionIsPlannedAsOneKernel() throws {
        let loaded = try Self.runnable("ultralytics/cfg/models/tiny-ops4.yaml", size: 64, weights: nil)
        let planned = PlannedProgram(loaded.program)
        let steps = planned.program.instructions.indices.compactMap { planned.stepDescription($0) }
        #expect(steps.filter { $0 == "deformable attention (values projected after sampling)" }.count == 1, "\(steps)")
        #expect(!steps.contains("grid_sample"), "the per-level samples are the kernel's")
    }

    /// A convolution whose weights and bias the forward computes (BankConv: a softmax mix of a
    /// kernel bank) runs on a oneDNN primitive chosen at planning for the weights' shape, with
    /// the BatchNorm and SiLU after it folded in per run, and the scale and shift after those one
    /// element-wise pass; `forwardMatchesPyTorch` checks its numbers on tiny-ops5.
    @Test func dynamicConvolutionsArePlanned() throws {
        let loaded = try Self.runnable("ultralytics/cfg/models/tiny-ops5.yaml", size: 64, weights: nil)
        let planned = PlannedProgram(loaded.program)
        let steps = planned.program.instructions.indices.compactMap { planned.stepDescription($0) }
        let dynamic = steps.filter { $0.hasPrefix("convolution 3×3 onednn") && $0.hasSuffix("(weights from the forward)") }
        #expect(dynamic.count == 2, "\(steps)")
        #expect(!steps.contains("batch_norm") && !steps.contains("silu"), "each BankConv's norm and activation run in its kernel: \(steps)")
        // the scale and shift after them stay theirs: one element-wise pass each (an activation the chain took would leave a conv without its output)
        #expect(steps.filter { $0 == "element-wise chain" }.count == 2, "\(steps)")
    }

    /// The traced program keeps the fork's places: each op's YAML layer and the fork's source
    /// line that called it; weights are constants named by their state_dict keys.
    @Test func programCarriesForkOrigins() throws {
        let loaded = try Self.runnable("ultralytics/cfg/models/tiny-ops.yaml", size: 64, weights: nil)
        let program = loaded.program
        let slices = program.instructions.filter { if case .slice(_, _, _, let step) = $0.op { return step == 2 } else { return false } }
        #expect(slices.count == 8, "SPDConv's four strided slices, two axes each")
        #expect(slices.allSatisfy { $0.origin.layerIndex == 1 && ($0.origin.source ?? "").hasPrefix("ultralytics/nn/extra_modules/ops.py:23:") },
                "\(slices.map(\.origin))")
        let names = Set(program.namedConstants.map(\.name))
        #expect(names.contains("model.1.conv.conv.weight") && names.contains("model.6.qkv.weight") && names.contains("model.3.bn1.running_var"))
        #expect(program.text.contains("ops.py:"))
    }

    /// An op with no program form yet is a located error: the YAML row, the layer's module,
    /// the torch op and the fork's source line that called it.
    @Test func untracedOpIsLocated() throws {
        #expect {
            _ = try Self.runnable("ultralytics/cfg/untraced/tiny-cumsum.yaml", size: 64, weights: nil)
        } throws: { error in
            let message = "\(error)"
            return message.contains("tiny-cumsum.yaml:5:5: error:") && message.contains("layer 1 (CumsumMix)")
                && message.contains("cumsum") && message.contains("ultralytics/nn/extra_modules/ops.py:190:")
        }
    }

    /// PyTorch's shared storage: an in-place op through a view changes the viewed tensor, which
    /// the program does not model — reading that tensor afterwards is a located error, never a
    /// silently different number. (An in-place activation on a tensor of its own is traced:
    /// tiny-ops' InplaceMix, in the parity fixture.)
    @Test func readingATensorChangedThroughAViewIsLocated() throws {
        #expect {
            _ = try Self.runnable("ultralytics/cfg/untraced/tiny-view-inplace.yaml", size: 64, weights: nil)
        } throws: { error in
            let message = "\(error)"
            return message.contains("tiny-view-inplace.yaml:5:5: error:") && message.contains("layer 1 (ViewInplace)")
                && message.contains("changed through another view of its storage (at ultralytics/nn/extra_modules/ops.py:202:")
                && message.contains("— ultralytics/nn/extra_modules/ops.py:203:")
        }
    }

    /// `F.dropout(x, p)` keeps PyTorch's default training=True, so PyTorch drops at random even in
    /// eval(): the program runs the identity (its expectation) and says so once, located in the
    /// YAML and the fork's source; `nn.Dropout` and `F.dropout(…, training=self.training)` beside
    /// it are identities in eval and say nothing.
    @Test func dropoutLeftInTrainingIsSaid() throws {
        let loaded = try Self.runnable("ultralytics/cfg/departures/tiny-dropout.yaml", size: 64, weights: nil)
        #expect(loaded.notes.count == 1, "\(loaded.notes)")
        let note = try #require(loaded.notes.first)
        #expect(note.contains("tiny-dropout.yaml:5:5: note:") && note.contains("layer 1 (DropGate)") && note.contains("training=True")
                && note.contains("p=0.2") && note.contains("ultralytics/nn/extra_modules/ops.py:576:"), "\(note)")
        // the identity: the row's output is twice its input (both dropouts are identities)
        let program = loaded.program
        // each row's result: the last value its instructions make
        let rowResult = { (row: Int) in program.instructions.last { $0.origin.layerIndex == row }?.outputs.first?.id }
        let input = try #require(rowResult(0)), doubled = try #require(rowResult(1))
        #expect(program.instructions.filter { $0.origin.layerIndex == 1 }.map(\.op.name) == ["add"], "the dropouts record no op")
        let x = KernelTests.random(loaded.inputShape, seed: 3, range: 0...1)
        let shapes = program.shapes
        let kept = program.returning([ProgramValue(id: input, shape: shapes[input] ?? []), ProgramValue(id: doubled, shape: shapes[doubled] ?? [])]).run(x)
        #expect(kept[1].maxDifference(to: Tensor(shape: kept[0].shape, storage: kept[0].storage.map { 2 * $0 })) <= 1e-6 * kept[0].maxMagnitude)
    }

    /// Weights that do not fit are refused with every problem named.
    @Test func misfitWeightsAreRefused() throws {
        let other = Paths.fixtures.appendingPathComponent("forks/parity/tiny-c2f/weights.safetensors").path
        #expect {
            _ = try Self.runnable("ultralytics/cfg/models/tiny-ops.yaml", size: 64, weights: other)
        } throws: { error in
            let message = "\(error)"
            return message.contains("error: the weights do not fit") && message.contains("model.1.conv.conv.weight [32, 64, 3, 3] is missing")
        }
    }

    /// A checkpoint pickled by the fork's code (its classes under the fork's module paths, half
    /// precision, one BatchNorm's eps unlike the rest): with the fork as --source it is built from
    /// its own model YAML by the fork's code, runs on its own weights with the pickled eps, and
    /// reproduces PyTorch's output; without, the error names the fork's classes and --source.
    @Test func forkCheckpointRunsWithTheForksCode() throws {
        let folder = Paths.fixtures.appendingPathComponent("forks/checkpoints")
        let file = folder.appendingPathComponent("tiny-ops-fork-fp16.pt").path
        let root = Self.root
        let result = onLargeStack { () -> Result<ForkRunnable, ModelLoadError> in
            do { return .success(try Model.loadForkRunnable(ModelRequest(path: file, imageHeight: 64, imageWidth: 64), root: root, weights: nil, seed: 0)) }
            catch let error as ModelLoadError { return .failure(error) } catch { return .failure(ModelLoadError("\(error)")) }
        }
        let loaded = try result.get()
        #expect(loaded.weightsDescription.hasSuffix("(model)"))
        let input = try #require(try SafeTensors.read(file: folder.appendingPathComponent("tiny-ops-fork.input.safetensors").path)["images"])
        let expected = try #require(try SafeTensors.read(file: folder.appendingPathComponent("tiny-ops-fork.output.safetensors").path)["output"])
        let ours = PlannedProgram(loaded.program).run(input).outputs[0]
        #expect(ours.shape == expected.shape)
        let anchors = expected.shape[2]
        for range in [0..<(4 * anchors), (4 * anchors)..<expected.count] {
            let scale = range.map { abs(expected.storage[$0]) }.max() ?? 1
            let error = range.map { abs(expected.storage[$0] - ours.storage[$0]) }.max() ?? 0
            #expect(error <= 1e-5 * scale, "\(error) vs max \(scale)")
        }
        let native = try runCLI(["run", file, "--imgsz", "64"])
        #expect(native.status == 1)
        #expect(native.stderr.contains("pickles 7 classes of a fork (ultralytics.nn.extra_modules.ops.SPDConv") && native.stderr.contains("--source DIR"), "\(native.stderr)")
    }

    /// `predict` in fork mode: the checkpoint's training size (64), letterboxed with the least
    /// padding to the model's stride as the fork's predictor does (61×47 → 64×49 → 64×56: the
    /// fork's `model.stride` is [4, 8]), the Detect-style head found from the fork's output, a
    /// JSON line per image.
    @Test func predictRunsForkCheckpoints() throws {
        let folder = Paths.fixtures.appendingPathComponent("forks")
        let result = try runCLI(["predict", folder.appendingPathComponent("checkpoints/tiny-ops-fork-fp16.pt").path, "--source", Self.root.path,
                                 Paths.fixtures.appendingPathComponent("images/baseline.jpg").path, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(json["input"] as? [Int] == [1, 3, 56, 64] && json["task"] as? String == "detect", "\(result.stdout)")
    }

    /// Fork-mode predict finds the head from its module name and outputs, in the fork oracle's
    /// flattening of Ultralytics' eval tuples (8.3.9: Segment `(cat(y, mc), (maps, mc, protos))`).
    @Test func forkHeadsAreReadFromTheirOutputs() {
        let maps = [[1, 144, 40, 40], [1, 144, 20, 20], [1, 144, 10, 10]]
        let segment = Predictor.forkHead(module: "Segment_LSCD_LQE", outputs: [[1, 116, 2100]] + maps + [[1, 32, 2100], [1, 32, 80, 80]],
                                         classCount: 80, keypointShape: nil)
        #expect(segment == Predictor.ForkHeadReading(head: .segment(masks: 32), classCount: 80, endToEnd: false, outputs: [0, 5]))
        let pose = Predictor.forkHead(module: "head.Pose", outputs: [[1, 56, 2100], [1, 51, 2100]], classCount: 1, keypointShape: [17, 3])
        #expect(pose == Predictor.ForkHeadReading(head: .pose(keypoints: 17, dimensions: 3), classCount: 1, endToEnd: false, outputs: [0]))
        #expect(Predictor.forkHead(module: "Pose", outputs: [[1, 56, 2100]], classCount: 1, keypointShape: nil) == nil, "no kpt_shape, no split")
        #expect(Predictor.forkHead(module: "OBB_LSCD", outputs: [[1, 20, 2100]], classCount: 15, keypointShape: nil)?.head == .obb)
        #expect(Predictor.forkHead(module: "OBB", outputs: [[1, 20, 2100]], classCount: 80, keypointShape: nil) == nil, "the head's nc disagrees")
        #expect(Predictor.forkHead(module: "Classify", outputs: [[1, 1000], [1, 1000]], classCount: nil, keypointShape: nil)?.head == .classify)
        #expect(Predictor.forkHead(module: "v10Detect", outputs: [[1, 300, 6]], classCount: 80, keypointShape: nil)?.endToEnd == true)
        #expect(Predictor.forkHead(module: "Detect_DyHead", outputs: [[1, 84, 8400]], classCount: 80, keypointShape: nil)?.classCount == 80)
        #expect(Predictor.forkHead(module: "RTDETRDecoder", outputs: [[1, 300, 84]], classCount: 80, keypointShape: nil)?.head == .rtdetr)
        #expect(Predictor.forkHead(module: "WorldDetect", outputs: [[1, 84, 8400]], classCount: 80, keypointShape: nil) == nil)
    }

    /// The fork's release decides its predictor's details.
    @Test func releasesCompare() {
        #expect(Predictor.release("8.3.9", isAtLeast: [8, 3, 84]) == false)
        #expect(Predictor.release("8.3.84", isAtLeast: [8, 3, 84]))
        #expect(Predictor.release("8.0.201", isAtLeast: [8, 4]) == false)
        #expect(Predictor.release("8.4.190", isAtLeast: [8, 4]))
        #expect(Predictor.release("8.0.0+tiny", isAtLeast: [8, 0]))
    }

    /// Boxes and keypoints back to the original image, before 8.4 and since, for a 409×320 image
    /// letterboxed to 640×512: gain 640/409; the resized height 500.73 (LetterBox rounds it to
    /// 501), so the top padding is round(5.633 − 0.1) = 6 for an older release's boxes, 5.633 for
    /// its keypoints, and round(5.5 − 0.1) = 5 since.
    @Test func boxesReturnAsTheForksReleaseReturnsThem() {
        let letterbox = Letterbox(sourceWidth: 409, sourceHeight: 320, targetHeight: 640, targetWidth: 640, stride: 32, auto: true)
        #expect(letterbox.width == 640 && letterbox.height == 512)
        let gain = Float(640.0 / 409.0)
        let legacy = BoxMapping(letterbox, legacy: true), current = BoxMapping(letterbox)
        #expect(legacy.padY == 6 && current.padY == 5 && legacy.padX == 0)
        #expect(abs(legacy.point(100, 100).1 - (100 - 6) / gain) < 1e-4)
        #expect(abs(legacy.keypoint(100, 100).1 - (100 - 5.633251834) / gain) < 1e-4)
        #expect(abs(current.point(100, 100).1 - (100 - 5) / Float(501.0 / 320.0)) < 1e-4)
        #expect(current.keypoint(100, 100) == current.point(100, 100))
    }

    /// Masks as a release before 8.4 made them (cropped at the prototypes' resolution, then
    /// upsampled), on logits and, before mid-2024, on probabilities: one 4×4 prototype of logit 1,
    /// the box (2, 2, 10, 10) of a 16×16 input. Expected bits from torch (`crop_mask` on the box ×
    /// 4/16, `F.interpolate(bilinear)`, then `> 0` / `> 0.5` after a sigmoid).
    @Test func legacyMasksCropBeforeUpsampling() {
        let letterbox = Letterbox(sourceWidth: 16, sourceHeight: 16, targetHeight: 16, targetWidth: 16, stride: 32, auto: false)
        let prototypes = Tensor(shape: [1, 1, 4, 4], storage: [Float](repeating: 1, count: 16))
        let row: [Float] = [2, 2, 10, 10, 0.9, 0, 1]
        func bits(_ sigmoid: Bool) -> String {
            let detections = MaskDecoder.detections([row], prototypes: prototypes, imageIndex: 0, masks: 1, geometry: BoxMapping(letterbox),
                                                    retina: false, dropsEmpty: false, cropsFirst: true, throughSigmoid: sigmoid)
            return detections.first?.mask.map { $0.bits.map(String.init).joined() } ?? ""
        }
        let logits = [
            "0000000000000000",
            "0000000000000000",
            "0011111111111100",
            "0011111111111100",
            "0011111111111100",
            "0011111111111100",
            "0011111111111100",
            "0011111111111100",
            "0011111111111100",
            "0011111111111100",
            "0011111111111100",
            "0011111111111100",
            "0011111111111100",
            "0011111111111100",
            "0000000000000000",
            "0000000000000000",
        ].joined()
        let probabilities = [
            "0000000000000000",
            "0000000000000000",
            "0000000000000000",
            "0000000000000000",
            "0000000000000000",
            "0000011111100000",
            "0000011111100000",
            "0000011111100000",
            "0000011111100000",
            "0000011111100000",
            "0000011111100000",
            "0000000000000000",
            "0000000000000000",
            "0000000000000000",
            "0000000000000000",
            "0000000000000000",
        ].joined()
        #expect(bits(false) == logits)
        #expect(bits(true) == probabilities)
    }

    /// `regularize_rboxes` as the OBB predictor applied it before 8.4, against torch's float32 `%`
    /// (`(torch.tensor([0.6098808646, -0.3]) + math.pi / 2) % math.pi`, `torch.tensor(-0.3) % math.pi`).
    @Test func rotatedBoxesRegularise() {
        let narrow = RotatedBox(centerX: 1, centerY: 2, width: 0.28, height: 0.36, angle: 0.6098808646).regularized()
        #expect(narrow.width == 0.36 && narrow.height == 0.28)
        #expect(abs(narrow.angle - 2.1806771755) < 1e-6, "t + π/2 when the height is the longer side")
        let wide = RotatedBox(centerX: 1, centerY: 2, width: 3, height: 1, angle: -0.3).regularized()
        #expect(wide.width == 3 && wide.height == 1)
        #expect(abs(wide.angle - 2.8415927887) < 1e-6, "the angle taken modulo π, positive")
        let tall = RotatedBox(centerX: 1, centerY: 2, width: 1, height: 3, angle: -0.3).regularized()
        #expect(tall.width == 3 && abs(tall.angle - 1.2707962990) < 1e-6)
    }

    /// `predict` in fork mode on a Segment-style head (the tiny fork's SegmentHead: its eval output
    /// `(cat([boxes, scores, coefficients], 1), (coefficients, prototypes))`): the prototypes found
    /// among the extras, a mask per detection at the input's size, and — the tiny fork being a
    /// release before 8.3.84 — predictions whose mask is empty kept, as that release's predictor keeps them.
    @Test func predictReadsForkSegmentHeads() throws {
        let file = Self.root.appendingPathComponent("ultralytics/cfg/predict/tiny-seg.yaml").path
        let result = try runCLI(["predict", file, Paths.fixtures.appendingPathComponent("images/baseline.jpg").path,
                                 "--imgsz", "64", "--conf", "0.0001", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(json["task"] as? String == "segment" && json["input"] as? [Int] == [1, 3, 56, 64], "\(result.stdout.prefix(300))")
        let detections = try #require(json["detections"] as? [[String: Any]])
        #expect(!detections.isEmpty)
        let masks = detections.compactMap { $0["mask"] as? [String: Any] }
        #expect(masks.count == detections.count)
        #expect(masks.allSatisfy { $0["width"] as? Int == 64 && $0["height"] as? Int == 56 })
        let areas = masks.map { (($0["counts"] as? [Int]) ?? []).enumerated().filter { $0.offset % 2 == 1 }.reduce(0) { $0 + $1.element } }
        #expect(areas.contains(0), "an empty mask is kept before 8.3.84")
    }

    /// The fork's RT-DETR (8.0.x) returns [B, queries, 4 + nc]; predict takes each query's best
    /// class and its score, as RTDETRPredictor's `scores.max(-1)` does.
    @Test func rtdetrQueriesTakeTheirBestClass() {
        let queries = Tensor(shape: [1, 2, 7], storage: [0.5, 0.5, 0.2, 0.2, 0.1, 0.9, 0.3,
                                                         0.1, 0.2, 0.3, 0.4, 0.6, 0.2, 0.6])
        let rows = Predictor.bestClasses(queries)
        #expect(rows.shape == [1, 2, 6])
        #expect(Array(rows.storage[0..<6]) == [0.5, 0.5, 0.2, 0.2, 0.9, 1])
        #expect(Array(rows.storage[6..<12]) == [0.1, 0.2, 0.3, 0.4, 0.6, 0], "ties keep the first class, as torch.max does")
    }

    /// `export` in fork mode writes the traced program as ONNX (the head's main output only), and
    /// `--program` prints it with the fork's source lines.
    @Test func exportWritesForkModels() throws {
        let file = Self.root.appendingPathComponent("ultralytics/cfg/models/tiny-ops.yaml").path
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("fork-export-\(UUID().uuidString).onnx")
        defer { try? FileManager.default.removeItem(at: output) }
        let result = try runCLI(["export", file, "--imgsz", "64", "-o", output.path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("images [1, 3, 64, 64] → output0 [1, 7, 320]"), "\(result.stdout)")
        #expect(try Data(contentsOf: output).count > 100_000)
        let listing = try runCLI(["export", file, "--imgsz", "64", "--program"])
        #expect(listing.status == 0)
        #expect(listing.stdout.contains("ultralytics/nn/extra_modules/ops.py:23:") && listing.stdout.contains("(layer 1 SPDConv)"), "\(listing.stdout.prefix(2000))")
    }

    /// `run` in fork mode: the command prints the fork, the outputs and writes them.
    @Test func runCommandRunsForkModels() throws {
        let file = Self.root.appendingPathComponent("ultralytics/cfg/models/tiny-c2f.yaml").path
        let fixture = Paths.fixtures.appendingPathComponent("forks/parity/tiny-c2f")
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("fork-run-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: output) }
        let result = try runCLI(["run", file, "--weights", fixture.appendingPathComponent("weights.safetensors").path,
                                 "--input", fixture.appendingPathComponent("input.safetensors").path, "--output", output.path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("fork: ") && result.stdout.contains("output [1, 9, 320]"), "\(result.stdout)")
        let written = try SafeTensors.read(file: output.path)
        let expected = try SafeTensors.read(file: fixture.appendingPathComponent("output.safetensors").path)
        #expect(written["output"]?.shape == expected["output"]?.shape)
    }
}
