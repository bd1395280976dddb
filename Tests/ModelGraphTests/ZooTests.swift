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
        var params: Int
        var params_fused: Int?
        var bn_eps: [Double]
        var stride: [Double]?
        struct Info: Decodable {
            var layers: Int
            var parameters: Int
            var gradients: Int
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
                                                               batch: golden.batch))
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
    static let parityModels = ["yolo-blocks", "yolo11-blocks", "rtdetr-blocks", "segment-head", "pose-head", "obb-head", "classify-head"]

    struct ParityCase: CustomTestStringConvertible, Sendable {
        var model: String
        var size: String
        var fused: Bool
        var testDescription: String { "\(model) \(size)\(fused ? " fused" : "")" }
    }

    @Test("forward parity with Ultralytics per part (boxes; scores) and at the head's inputs",
          arguments: parityModels.flatMap { model in ["64x64", "96x128"].flatMap { size in [false, true].map { ParityCase(model: model, size: size, fused: $0) } } })
    func parity(_ parityCase: ParityCase) throws {
        let directory = Paths.fixtures.appendingPathComponent("zoo-parity")
        let model = parityCase.model
        let configPath = directory.appendingPathComponent("\(model).yaml").path
        let size = parityCase.size.split(separator: "x").compactMap { Int($0) }
        let graph = try ModelGraph.build(yaml: String(contentsOfFile: configPath, encoding: .utf8), file: configPath,
                                         options: BuildOptions(imageHeight: size[0], imageWidth: size[1], batch: 2))
        #expect(graph.errors.isEmpty, "\(graph.errors)")
        let weightsPath = directory.appendingPathComponent("\(model)/weights.safetensors").path
        let weights = try Weights.checked(SafeTensors.read(file: weightsPath), for: graph, file: weightsPath)
        let input = try #require(SafeTensors.read(file: directory.appendingPathComponent("\(model)/\(parityCase.size)/input.safetensors").path)["images"])
        let reference = try SafeTensors.read(file: directory.appendingPathComponent("\(model)/\(parityCase.size)/output.safetensors").path)
        let result = try InferencePlan(graph: graph, weights: weights, fuse: parityCase.fused).forward(input, keepAll: true)

        let head = try #require(graph.layers.last)
        // Ultralytics' eval output: (y, preds) for the Detect family, ((y, proto), preds) for
        // Segment, (probabilities, logits) for Classify
        let keys = result.outputs.count > 1 ? result.outputs.indices.map { "output.0.\($0)" } : ["output.0"]
        for (output, key) in zip(result.outputs, keys) {
            let expected = try #require(reference[key], "\(key)")
            #expect(output.shape == expected.shape, "\(key)")
            for (part, channels) in Self.parts(of: output, head: head.module, isFirst: key == keys[0]) {
                let (mine, theirs) = (output.slice(axis: 1, channels), expected.slice(axis: 1, channels))
                let error = mine.maxDifference(to: theirs), bound = ParityTests.relativeTolerance * theirs.maxMagnitude
                #expect(error <= bound, "\(key) \(part): max error \(error) > \(bound)")
            }
        }
        // a detection head's inputs as Ultralytics returns them in `feats`
        guard head.module is any DetectionHeadModule else { return }
        for (position, index) in head.from.enumerated() {
            let (mine, theirs) = (try #require(result.layerOutputs[index]), try #require(reference["output.1.feats.\(position)"]))
            #expect(mine.maxDifference(to: theirs) <= ParityTests.relativeTolerance * theirs.maxMagnitude, "layer \(index)")
        }
    }

    /// The parts of a head's output that are compared each against its own max |ref|: a detection
    /// head's boxes (pixels), scores (0…1) and extras (mask coefficients, keypoints, angles) apart.
    static func parts(of output: Tensor, head: any LayerModule, isFirst: Bool) -> [(String, Range<Int>)] {
        guard isFirst, let detection = head as? any DetectionHeadModule else { return [("all", 0..<output.shape[1])] }
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
