import Foundation
import Testing
@testable import ModelGraph
import Tensor

/// Official Ultralytics configs against Ultralytics' own classes (Fixtures/zoo, from
/// scripts/make-zoo-goldens), and forward parity of the Ultralytics modules (Fixtures/zoo-parity,
/// from scripts/make-zoo-parity-fixtures).
@Suite("Ultralytics zoo")
struct ZooTests {
    struct ZooGolden: Decodable {
        struct Row: Decodable {
            var index: Int
            var row: Int
            var frm: Golden.FromValue  // GoldenTests' int-or-list `from`
            var n: Int
            var params: Int
            var module: String
            var args: String
        }
        var config: String
        var scale: String?
        var imgsz: [Int]
        var batch: Int
        var end2end: Bool?
        var params: Int
        var params_fused: Int?
        var bn_eps: [Double]
        var stride: [Double]?
        struct Info: Decodable {
            var layers: Int
            var parameters: Int
            var gradients: Int
            /// get_flops at the golden's size, batch 1.
            var gflops: Double
        }
        /// model.info()'s figures, unfused and after fuse().
        var info: Info?
        var info_fused: Info?
        var rows: [Row]
        var row_outputs: [String: [[Int]]]
    }

    static let directory = Paths.fixtures.appendingPathComponent("zoo")
    static var goldenNames: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).filter { $0.hasSuffix(".json") }.sorted()
    }

    @Test("yolov8 n/s/m/l/x, -p2 and -p6 are present")
    func goldensPresent() {
        let names = Set(Self.goldenNames)
        for scale in ["n", "s", "m", "l", "x"] {
            #expect(names.contains("yolov8\(scale)-640.json") && names.contains("yolov8\(scale)-512x384-b2.json"))
        }
        #expect(names.contains("yolov8-p2n-640.json") && names.contains("yolov8-p6n-640.json"))
    }

    @Test("parameters per row and in total, fused totals, arguments and output shapes equal Ultralytics'", arguments: goldenNames)
    func matchesUltralytics(_ name: String) throws {
        let golden = try JSONDecoder().decode(ZooGolden.self, from: Data(contentsOf: Self.directory.appendingPathComponent(name)))
        let path = Paths.packageRoot.appendingPathComponent(golden.config).path
        let graph = try ModelGraph.build(yaml: String(contentsOfFile: path, encoding: .utf8), file: golden.config,
                                         options: BuildOptions(scale: golden.scale, imageHeight: golden.imgsz[0], imageWidth: golden.imgsz[1],
                                                               batch: golden.batch, endToEnd: golden.end2end ?? false))
        #expect(graph.errors.isEmpty, "\(graph.errors)")
        #expect(graph.parameterCount == golden.params)
        if let fused = golden.params_fused { #expect(graph.fusedParameterCount == fused) }
        // Ultralytics' summary line: leaf layers, parameters, and gradients without DFL's fixed bins
        let info = try #require(golden.info)
        #expect(graph.summaryLine.contains(": \(groupedThousands(info.layers)) layers, \(groupedThousands(info.parameters)) parameters, \(groupedThousands(info.gradients)) gradients"),
                "\(graph.summaryLine)")
        if let fused = golden.info_fused {
            #expect(graph.summaryLine(fused: true).contains(": \(groupedThousands(fused.layers)) layers, \(groupedThousands(fused.parameters)) parameters, \(groupedThousands(fused.gradients)) gradients"),
                    "\(graph.summaryLine(fused: true))")
        }
        // the GFLOPs model.info() prints (one decimal), unfused and fused; and unrounded, to rounding (passes over the program)
        for (fused, expected) in [(false, info.gflops), (true, golden.info_fused?.gflops)] {
            guard let expected else { continue }
            let figure = try #require(graph.ultralyticsGFLOPs(fused: fused))
            #expect(graph.summaryLine(fused: fused).hasSuffix(", \(String(format: "%.1f", expected)) GFLOPs"), "\(graph.summaryLine(fused: fused))")
            #expect(abs(figure - expected) <= 1e-9 * expected, "fused \(fused): \(figure) against \(expected)")
        }
        #expect(graph.layers.count == golden.rows.count)
        for (layer, row) in zip(graph.layers, golden.rows) {
            let label = "\(name) row \(row.row) \(row.module)"
            expectRow(layer, index: row.index, module: row.module, from: row.frm, repeats: row.n, parameters: row.params,
                      arguments: row.args, label: label)
            #expect(layer.outputShapes == golden.row_outputs[String(row.index)], "\(label)")
        }
        // one BatchNorm eps throughout: 1e-3 in detection-family models, 1e-5 in classifiers
        #expect(golden.bn_eps.count == 1)
        let norms = graph.layers.flatMap { layer in layer.instances.flatMap { BatchNormEpsilons.of($0) } }
        #expect(!norms.isEmpty && norms.allSatisfy { Double($0) == Double(Float(golden.bn_eps[0])) })
        if let stride = golden.stride, let head = graph.layers.last?.module as? any DetectionHeadModule {
            #expect(head.strides.map(Double.init) == stride)
        }
    }

    /// The narrow models of Fixtures/zoo-parity, each holding every module of one issue.
    static let parityModels = ["yolo-blocks", "yolo11-blocks", "rtdetr-blocks", "yolo12-blocks", "segment-head", "pose-head", "obb-head", "classify-head",
                                "segment26-head", "pose26-head", "obb26-head", "dense-heads", "depth-head", "v3v5-blocks",
                                "v6ghost-blocks", "v9-blocks", "v10-blocks", "world-blocks", "yoloe-blocks",
                                "yoloe-detect", "torchvision-blocks"]

    struct ParityCase: CustomTestStringConvertible, Sendable {
        var model: String
        var size: String
        var fused: Bool
        /// Through the one-to-one branches, with the top-k output (fixture folder `<size>-end2end`).
        var endToEnd = false
        var testDescription: String { "\(model) \(size)\(endToEnd ? " end2end" : "")\(fused ? " fused" : "")" }
    }

    static var parityCases: [ParityCase] {
        parityModels.flatMap { model in
            let path = Paths.fixtures.appendingPathComponent("zoo-parity/\(model).yaml").path
            let endToEnd = ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").contains("\nend2end: True")
            return ["64x64", "96x128"].flatMap { size in
                [false, true].flatMap { fused in
                    [ParityCase(model: model, size: size, fused: fused)] + (endToEnd ? [ParityCase(model: model, size: size, fused: fused, endToEnd: true)] : [])
                }
            }
        }
    }

    @Test("forward parity with Ultralytics per part (boxes; scores) and at the head's inputs",
          arguments: parityCases)
    func parity(_ parityCase: ParityCase) throws {
        let directory = Paths.fixtures.appendingPathComponent("zoo-parity")
        let model = parityCase.model
        let configPath = directory.appendingPathComponent("\(model).yaml").path
        let size = parityCase.size.split(separator: "x").compactMap { Int($0) }
        let graph = try ModelGraph.build(yaml: String(contentsOfFile: configPath, encoding: .utf8), file: configPath,
                                         options: BuildOptions(imageHeight: size[0], imageWidth: size[1], batch: 2, endToEnd: parityCase.endToEnd))
        #expect(graph.errors.isEmpty, "\(graph.errors)")
        let weightsPath = directory.appendingPathComponent("\(model)/weights.safetensors").path
        let weights = try Weights.checked(SafeTensors.read(file: weightsPath), for: graph, file: weightsPath)
        let folder = "\(model)/\(parityCase.size)\(parityCase.endToEnd ? "-end2end" : "")"
        let inputs = try SafeTensors.read(file: directory.appendingPathComponent("\(folder)/input.safetensors").path)
        let input = try #require(inputs["images"])
        // YOLO-World and YOLOE: the class text embeddings next to the image (zoo.py's for World,
        // scripts/add-yoloe-prompts.py's for YOLOE)
        let text = inputs["txt_feats"]
        let reference = try SafeTensors.read(file: directory.appendingPathComponent("\(folder)/output.safetensors").path)
        let result = try InferencePlan(graph: graph, weights: weights, fuse: parityCase.fused).forward(input, text: text, keepAll: true)

        let head = try #require(graph.layers.last)
        // Ultralytics' eval output: (y, preds) for the Detect family, ((y, proto), preds) for
        // Segment, (probabilities, logits) for Classify; a plain tensor for Depth and SemanticSegment
        let keys = result.outputs.count > 1 ? result.outputs.indices.map { "output.0.\($0)" } : [reference["output"] != nil ? "output" : "output.0"]
        for (found, key) in zip(result.outputs, keys) {
            var output = found
            let expected = try #require(reference[key], "\(key)")
            #expect(output.shape == expected.shape, "\(key)")
            // the top-k [B, k, 6 + extra] has its parts along the last axis; rows whose scores
            // tie to float rounding may come in another order (matched among their ties), and
            // the scores are also compared rank by rank
            let axis = parityCase.endToEnd && key == keys[0] ? 2 : 1
            if axis == 2 {
                let scores = (output.slice(axis: 2, 4..<5), expected.slice(axis: 2, 4..<5))
                #expect(scores.0.maxDifference(to: scores.1) <= ParityTests.relativeTolerance * scores.1.maxMagnitude, "scores by rank")
                output = Self.matchingRows(output, to: expected)
            }
            for (part, channels) in Self.parts(of: output, head: head.module, isFirst: key == keys[0], endToEnd: parityCase.endToEnd) {
                let (mine, theirs) = (output.slice(axis: axis, channels), expected.slice(axis: axis, channels))
                let error = mine.maxDifference(to: theirs), bound = ParityTests.relativeTolerance * theirs.maxMagnitude
                #expect(error <= bound, "\(key) \(part): max error \(error) > \(bound)")
            }
        }
        // a detection head's inputs as Ultralytics returns them in `feats`
        guard head.module is any DetectionHeadModule else { return }
        for (position, index) in head.from.enumerated() {
            let feats = reference["output.1.feats.\(position)"] ?? reference["output.1.one2many.feats.\(position)"]
            let (mine, theirs) = (try #require(result.layerOutputs[index]), try #require(feats))
            #expect(mine.maxDifference(to: theirs) <= ParityTests.relativeTolerance * theirs.maxMagnitude, "layer \(index)")
        }
    }

    /// `output`'s rows [B, k, width] reordered to follow `reference`'s: each reference row takes
    /// the closest unused row of ours among those whose score ties with its own (rows tied with
    /// the last kept score, which one side may drop at the cut, are not compared).
    static func matchingRows(_ output: Tensor, to reference: Tensor) -> Tensor {
        let (batch, rows, width) = (output.shape[0], output.shape[1], output.shape[2])
        func row(_ tensor: Tensor, _ n: Int, _ i: Int) -> ArraySlice<Float> { tensor.storage[((n * rows + i) * width)..<((n * rows + i + 1) * width)] }
        var matched = output
        for n in 0..<batch {
            let tie = ParityTests.relativeTolerance * abs(reference.storage[n * rows * width + 4])
            let last = reference.storage[(n * rows + rows - 1) * width + 4]
            var used = Set<Int>()
            for i in 0..<rows {
                let wanted = row(reference, n, i)
                func distance(_ j: Int) -> Float { zip(row(output, n, j), wanted).map { abs($0 - $1) }.max() ?? 0 }
                // rows whose scores tie to within the tolerance may come in any order
                let candidates = (0..<rows).filter { !used.contains($0) && abs(output.storage[(n * rows + $0) * width + 4] - wanted[wanted.startIndex + 4]) <= tie }
                let best = candidates.min { distance($0) < distance($1) }
                // at the top-k's cut a pair tied with the last one kept may be kept by one side only: not compared
                let atCut = wanted[wanted.startIndex + 4] - last <= tie && (best.map { distance($0) > 0.01 } ?? true)
                if let best, !atCut { used.insert(best) }
                for c in 0..<width {
                    matched.storage[(n * rows + i) * width + c] = atCut || best == nil ? wanted[wanted.startIndex + c] : output.storage[(n * rows + best!) * width + c]
                }
            }
        }
        return matched
    }

    /// The parts of a head's output that are compared each against its own max |ref|: a detection
    /// head's boxes (pixels), scores (0…1) and extras (mask coefficients, keypoints, angles) apart.
    static func parts(of output: Tensor, head: any LayerModule, isFirst: Bool, endToEnd: Bool) -> [(String, Range<Int>)] {
        guard isFirst, let detection = head as? any DetectionHeadModule else { return [("all", 0..<output.shape[1])] }
        if endToEnd {
            // rows [box, score, class, extra…]: classes must match exactly (a bound of 0 for them)
            let width = output.shape[2]
            return [("boxes", 0..<4), ("scores", 4..<5), ("classes", 5..<6)] + (width > 6 ? [("extras", 6..<width)] : [])
        }
        let classes = detection.classCount, channels = output.shape[1]
        return [("boxes", 0..<4), ("scores", 4..<(4 + classes))] + (channels > 4 + classes ? [("extras", (4 + classes)..<channels)] : [])
    }

    @Test("every registered module has a sample row and appears in a parity fixture")
    func everyModuleHasFixtures() throws {
        var modules = Set<String>()
        for (folder, config) in [("parity", "blocks"), ("parity", "seedlike")] + Self.parityModels.map { ("zoo-parity", $0) } {
            let path = Paths.fixtures.appendingPathComponent("\(folder)/\(config).yaml").path
            let graph = try ModelGraph.build(yaml: String(contentsOfFile: path, encoding: .utf8), file: path)
            modules.formUnion(graph.layers.map(\.moduleName))
        }
        for type in ModuleRegistry.types {
            // StarNet variants share one type; one of them in a fixture covers its code
            #expect(type.names.contains { modules.contains($0) }, "\(type.names) has no parity fixture")
            for name in type.names where !name.hasPrefix("starnet") {
                #expect(RegistryTests.samples[name] != nil, "\(name) has no sample row in RegistryTests")
            }
        }
    }
}

extension ZooTests {
    /// Every module name in the rows of Ultralytics 8.4.190's official configs (cfg/models, 66
    /// files), collected with PyYAML from the reference environment.
    static let officialModuleNames = [
        "A2C2f", "AConv", "ADown", "AIFI", "Bottleneck", "C2", "C2PSA", "C2f", "C2fAttn", "C2fCIB", "C3", "C3Ghost", "C3k2",
        "CBFuse", "CBLinear", "Classify", "Concat", "Conv", "DWConv", "Depth", "Detect", "ELAN1", "GhostConv", "HGBlock",
        "HGStem", "ImagePoolingAttn", "OBB", "OBB26", "PSA", "Pose", "Pose26", "RTDETRDecoder", "RepC3", "RepNCSPELAN4",
        "ResNetLayer", "SCDown", "SPP", "SPPELAN", "SPPF", "Segment", "Segment26", "SemanticSegment", "TorchVision",
        "WorldDetect", "YOLOEDetect", "YOLOESegment", "YOLOESegment26", "nn.ConvTranspose2d", "nn.Identity", "nn.MaxPool2d",
        "nn.Upsample", "nn.ZeroPad2d", "v10Detect",
    ]

    /// thop on the seed forks' own model classes (scripts/make-seed-gflops, build.py --flops).
    @Test("the seed configs' Ultralytics GFLOPs equal thop's on the forks' classes")
    func seedGFLOPs() throws {
        let path = Paths.fixtures.appendingPathComponent("seed-gflops.json")
        let figures = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: path)) as? [String: Double])
        #expect(figures.count == 6)
        for (config, expected) in figures {
            let file = Paths.packageRoot.appendingPathComponent(config).path
            let graph = try ModelGraph.build(yaml: String(contentsOfFile: file, encoding: .utf8), file: config)
            let figure = try #require(graph.ultralyticsGFLOPs())
            #expect(abs(figure - expected) <= 1e-6 * expected, "\(config): \(figure) against thop's \(expected)")
        }
    }

    @Test("the registry knows every module name of the official configs", arguments: officialModuleNames)
    func officialModuleIsRegistered(_ name: String) {
        #expect(ModuleRegistry.type(named: name) != nil, "official module \(name) is not in ModuleRegistry")
    }
}

/// Collects the eps of every BatchNorm2d in a block tree.
struct BatchNormEpsilons: BlockVisitor {
    var values: [Float] = []
    static func of(_ module: any LayerModule) -> [Float] {
        var copy = module
        var visitor = BatchNormEpsilons()
        copy.visit(&visitor)
        return visitor.values
    }
    mutating func parameter(_ name: String, _ parameter: inout Parameter) {}
    mutating func child<B: Block>(_ name: String, _ block: inout B) {
        if let norm = block as? BatchNorm2d { values.append(norm.epsilon) }
        block.visit(&self)
    }
    mutating func leaf(_ name: String, _ typeName: String, shared: String?) {}
}
