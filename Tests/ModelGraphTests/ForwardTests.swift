import Foundation
@testable import ModelGraph
import Tensor
import Testing

/// Properties of the forward pass that hold for every module: it returns what the shape rule
/// promised, reads weights strictly, and files it cannot trust are errors, not crashes.
struct ForwardTests {
    /// Class text embeddings for an open-vocabulary graph (nil for others).
    static func randomText(_ graph: ModelGraph) -> Tensor? {
        graph.textShape.map { KernelTests.random($0, seed: 5, range: -1...1) }
    }

    @Test("forward returns the shapes the shape rule infers (batch 2)", arguments: ModuleRegistry.allNames)
    func forwardMatchesShapeRule(_ name: String) throws {
        let base = try RegistryTests.sampleGraph(name)
        let graph = try ModelGraph.build(spec: base.spec, options: BuildOptions(imageHeight: 64, imageWidth: 64, batch: 2))
        #expect(graph.errors.isEmpty)
        let result = try graph.forward(KernelTests.random(graph.inputShape, seed: 1, range: 0...1), text: Self.randomText(graph),
                                       weights: Weights.initialized(for: graph, seed: 3), keepAll: true)
        for layer in graph.layers {
            let expected = try #require(layer.indexShapes)
            for (offset, shape) in expected.enumerated() {
                let tensor = try #require(result.layerOutputs[layer.index + offset])
                #expect(tensor.shape == shape, "layer \(layer.index + offset) \(layer.moduleName)")
                #expect(tensor.storage.allSatisfy { $0.isFinite }, "layer \(layer.index + offset) \(layer.moduleName) is finite")
            }
        }
        // the last row's results, a head's further ones included (Segment's prototypes)
        let last = try #require(graph.layers.last)
        let final = try #require(last.module.outputGroups == nil ? last.outputShapes : last.indexShapes)
        #expect(result.outputs.map(\.shape) == final)
    }

    @Test("the inference plan gives the reference path's outputs (batch 2)", arguments: ModuleRegistry.allNames)
    func planMatchesReferencePath(_ name: String) throws {
        // every fast path of the plan (folding, Winograd, oneDNN primitives, 1×1 GEMMs, fused
        // CARAFE passes, token projections) against the unfused reference, with two images
        let base = try RegistryTests.sampleGraph(name)
        try Self.expectPlanMatchesReference(try ModelGraph.build(spec: base.spec, options: BuildOptions(imageHeight: 64, imageWidth: 64, batch: 2)))
    }

    /// Upsampled maps left as compositions: a 1×1 conv of a concatenation holding them (factors 2
    /// and 4, one or two full-size parts, a C3k2's cv1 and a plain Conv) takes its products part by
    /// part; a 3×3 conv, a Concat of a Concat and the Upsample's own output make the elements.
    @Test func planTakesUpsampledPartsOfConcatenationsAsTheyAre() throws {
        let graph = try buildGraph("""
            nc: 3
            backbone:
              - [-1, 1, Conv, [16, 3, 2]]
              - [-1, 1, Conv, [32, 3, 2]]
              - [-1, 1, Conv, [48, 3, 2]]
              - [-1, 1, Conv, [64, 3, 2]]
            head:
              - [-1, 1, nn.Upsample, [None, 2, nearest]]
              - [[-1, 2], 1, Concat, [1]]
              - [-1, 1, C3k2, [32, False]]
              - [3, 1, nn.Upsample, [None, 4, nearest]]
              - [[1, -1, 1], 1, Concat, [1]]
              - [-1, 1, Conv, [24, 1, 1]]
              - [5, 1, Conv, [16, 3, 1]]
              - [[5, 10], 1, Concat, [1]]
              - [-1, 1, Conv, [16, 1, 1]]
              - [4, 1, Conv, [16, 3, 1]]
            """, options: BuildOptions(imageHeight: 64, imageWidth: 96, batch: 2))
        #expect(graph.errors.isEmpty, "\(graph.errors)")
        try Self.expectPlanMatchesReference(graph)
    }

    /// The kernels' shared scratch is sized while the plan is prepared, at the most any kernel
    /// asks for: a forward pass then finds it big enough (growing it mid-pass would fragment the
    /// heap the feature maps use).
    @Test func planAllocatesItsScratchOnce() throws {
        let graph = try buildGraph("""
            nc: 3
            backbone:
              - [-1, 1, Conv, [16, 3, 2]]
              - [-1, 1, Conv, [32, 3, 2]]
              - [-1, 1, C3k2, [32, False]]
              - [-1, 1, Conv, [48, 3, 1]]
            head:
              - [-1, 1, nn.Upsample, [None, 2, nearest]]
              - [[-1, 0], 1, Concat, [1]]
              - [-1, 1, Conv, [24, 1, 1]]
            """, options: BuildOptions(imageHeight: 96, imageWidth: 128, batch: 2))
        #expect(graph.errors.isEmpty, "\(graph.errors)")
        let plan = InferencePlan(graph: graph, weights: Weights.initialized(for: graph, seed: 1))
        let prepared = plan.scratchBytes
        #expect(prepared > 64 * 2)  // some kernel asked for blocked buffers or Winograd tiles
        _ = try plan.forward(KernelTests.random(graph.inputShape, seed: 2, range: 0...1))
        #expect(plan.scratchBytes == prepared)
    }

    /// The plan's outputs of every layer against the unfused reference path, with random BatchNorm
    /// statistics and biases.
    static func expectPlanMatchesReference(_ graph: ModelGraph) throws {
        let input = KernelTests.random(graph.inputShape, seed: 4, range: 0...1)
        // random BatchNorm statistics and biases too (initialised ones are 0/1, which would hide
        // a dropped bias or a wrong fold)
        var weights = Weights.initialized(for: graph, seed: 5)
        for (offset, key) in weights.keys.sorted().enumerated() where key.hasSuffix("running_mean") || key.hasSuffix("running_var")
            || key.hasSuffix("bn.weight") || key.hasSuffix(".bias") {
            let shape = weights[key]!.shape
            weights[key] = key.hasSuffix("running_var") ? KernelTests.random(shape, seed: UInt64(100 + offset), range: 0.5...1.5)
                : KernelTests.random(shape, seed: UInt64(100 + offset), range: -0.5...0.5)
        }
        let text = Self.randomText(graph)
        let reference = try graph.forward(input, text: text, weights: weights, keepAll: true)
        let planned = try InferencePlan(graph: graph, weights: weights, fuse: true).forward(input, text: text, keepAll: true)
        for layer in graph.layers {
            for index in layer.indices {
                let (actual, expected) = (try #require(planned.layerOutputs[index]), try #require(reference.layerOutputs[index]))
                #expect(actual.shape == expected.shape, "layer \(index) \(layer.moduleName)")
                let error = ParityTests.difference(actual, expected, detections: layer.module is RTDETRDecoder)
                #expect(error <= ParityTests.relativeTolerance * max(1, expected.maxMagnitude), "layer \(index) \(layer.moduleName): \(error)")
            }
        }
    }

    @Test("variant configs run and match their inferred shapes",
          arguments: ["conv-variants", "dysample-variants", "carafe-variants", "freqfusion-variants", "decoder-variants"])
    func variantConfigs(_ name: String) throws {
        let path = Paths.fixtureConfigs.appendingPathComponent("\(name).yaml").path
        let graph = try ModelGraph.build(yaml: String(contentsOfFile: path, encoding: .utf8), file: path,
                                         options: BuildOptions(imageHeight: 96, imageWidth: 128))
        #expect(graph.errors.isEmpty)
        let result = try graph.forward(KernelTests.random(graph.inputShape, seed: 2, range: 0...1), text: Self.randomText(graph),
                                       weights: Weights.initialized(for: graph, seed: 0), keepAll: true)
        for layer in graph.layers {
            #expect(layer.indices.map { result.layerOutputs[$0]?.shape } == (layer.outputShapes ?? []).map { $0 },
                    "layer \(layer.index) \(layer.moduleName)")
        }
    }

    @Test("the initialisation is deterministic and fills every declared tensor")
    func initialisation() throws {
        let graph = try RegistryTests.sampleGraph("FreqFusion")
        let first = Weights.initialized(for: graph, seed: 7), second = Weights.initialized(for: graph, seed: 7)
        #expect(first == second)
        #expect(first != Weights.initialized(for: graph, seed: 8))
        #expect(Set(first.keys) == Set(graph.stateDictionary.map(\.name)))
        // computed buffers take their computed values: np.hamming(3) = [0.08, 1, 0.08]
        let window = try #require(first["model.2.hamming_highpass"])
        #expect(abs(window.storage[4] - 1) < 1e-6 && abs(window.storage[0] - 0.0064) < 1e-6)
        let checked = try Weights.checked(first, for: graph, file: "w")
        #expect(checked == first)
    }

    @Test("strict loading lists missing, unexpected and mis-shaped keys in one error")
    func strictLoading() throws {
        let graph = try RegistryTests.sampleGraph("RepC3")
        var tensors = Weights.initialized(for: graph, seed: 0)
        tensors["model.2.cv1.conv.weight"] = nil
        tensors["model.2.extra.weight"] = Tensor(shape: [2], repeating: 0)
        tensors["model.0.conv.weight"] = Tensor(shape: [32, 3, 1, 1], repeating: 0)
        tensors["model.0.bn.num_batches_tracked"] = Tensor(shape: [], repeating: 0)  // PyTorch saves it; ignored
        #expect {
            try Weights.checked(tensors, for: graph, file: "w.safetensors")
        } throws: { error in
            let text = String(describing: error)
            return text.hasPrefix("w.safetensors: error: ")
                && text.contains("1 missing key:\n  model.2.cv1.conv.weight [16, 32, 1, 1] — layer 2 (RepC3), test.yaml:6")
                && text.contains("1 unexpected key:\n  model.2.extra.weight [2]")
                && text.contains("1 shape mismatch:\n  model.0.conv.weight: expected [32, 3, 3, 3], found [32, 3, 1, 1] — layer 0 (Conv)")
                && !text.contains("num_batches_tracked")
        }
    }

    @Test("safetensors round-trips, reads F16, and rejects every truncation and corruption with an error")
    func safeTensorsFiles() throws {
        let tensors = ["a": KernelTests.random([2, 3], seed: 1), "b.c": Tensor(shape: [4], storage: [1, -2, 0.5, 65504])]
        let data = SafeTensors.encode(tensors)
        let decoded = try SafeTensors.decode(data, file: "x")
        #expect(decoded == tensors)
        // every prefix of the file is an error, never a crash
        for length in 0..<data.count {
            #expect(throws: SafeTensorsError.self) { try SafeTensors.decode(data.prefix(length), file: "x") }
        }
        func file(_ header: String, _ body: [UInt8] = []) -> Data {
            var out = Data()
            var length = UInt64(header.utf8.count).littleEndian
            withUnsafeBytes(of: &length) { out.append(contentsOf: $0) }
            return out + Data(header.utf8) + Data(body)
        }
        let f16 = file(#"{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#, [0x00, 0x3C, 0x00, 0xC0])
        let half = try SafeTensors.decode(f16, file: "x")
        #expect(half["h"]?.storage == [1, -2])
        // I64 (num_batches_tracked, as `convert` writes it) reads as float
        let counter = file(#"{"n":{"dtype":"I64","shape":[],"data_offsets":[0,8]}}"#, [7, 0, 0, 0, 0, 0, 0, 0])
        #expect(try SafeTensors.decode(counter, file: "x")["n"]?.storage == [7])
        let broken: [(String, Data)] = [
            ("not JSON", file("{nope")),
            ("not an object", file("[1, 2]")),
            ("bad dtype", file(#"{"a":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}}"#, Array(repeating: 0, count: 8))),
            ("size mismatch", file(#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, Array(repeating: 0, count: 8))),
            ("offsets past the end", file(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, Array(repeating: 0, count: 8))),
            ("negative shape", file(#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}}"#)),
            ("huge shape", file(#"{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}"#)),
            ("fractional shape", file(#"{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#, Array(repeating: 0, count: 4))),
            ("missing fields", file(#"{"a":{"dtype":"F32"}}"#)),
            ("implausible header length", Data([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]) + Data(count: 16)),
        ]
        for (what, data) in broken {
            #expect(throws: SafeTensorsError.self, "\(what)") { try SafeTensors.decode(data, file: "x") }
        }
    }
}
