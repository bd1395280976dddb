import Foundation
@testable import ModelGraph
@testable import ONNXExport
import Tensor
import Testing
import YAMLFrontEnd

/// The traced program: it records every operation of the forward pass; the unfused program on
/// the reference kernels is the reference path, and the fused program (on the reference kernels
/// and as planned) gives its outputs. PyTorch's own numbers are checked by the parity fixtures.
struct ProgramTests {
    static let backbone = """
        nc: 4
        backbone:
          - [-1, 1, Conv, [16, 3, 2]]
          - [-1, 1, Conv, [32, 3, 2]]
          - [-1, 1, C2f, [32, True]]
          - [-1, 1, Conv, [64, 3, 2]]
          - [-1, 1, C3k2, [64, False, 0.25]]
          - [-1, 1, SPPF, [64, 5]]
        head:
          - [-1, 1, nn.Upsample, [None, 2, "nearest"]]
          - [[-1, 2], 1, Concat, [1]]
          - [-1, 1, C2f, [32]]
        """

    /// Runs `graph`'s traced program (fused or not) on the reference kernels, and the planned
    /// program, on one image; both give the reference path's outputs (the unfused program on the
    /// reference kernels) within 1e-5 × max|ref|.
    static func expectProgramMatchesForward(_ graph: ModelGraph, fuse: Bool) throws -> Program {
        let weights = Weights.initialized(for: graph, seed: 7)
        let input = KernelTests.random(graph.inputShape, seed: 2, range: 0...1)
        let reference = try InferencePlan(graph: graph, weights: weights, fuse: false).forward(input).outputs
        let program = try InferencePlan(graph: graph, weights: weights, fuse: fuse).trace()
        let planned = try InferencePlan(graph: graph, weights: weights, fuse: true).forward(input).outputs
        for outputs in [program.run(input), planned] {
            #expect(outputs.map(\.shape) == reference.map(\.shape))
            for (output, expected) in zip(outputs, reference) {
                let scale = expected.storage.map(abs).max() ?? 1
                // top-k detections [B, n, 6]: rows whose scores tie within float error may come in any order
                let difference = Self.detectionsDifference(output, expected)
                #expect(difference <= 1e-5 * max(scale, 1e-6), "\(difference) vs max \(scale)")
            }
        }
        return program
    }

    /// The largest element difference; for top-k detections [B, n, 6] each reference row is
    /// matched to the nearest unused row of ours whose score is within 1e-5 × max|score| of its
    /// own (random weights make whole runs of near-equal scores, which float error reorders), and
    /// the score column must agree rank by rank.
    static func detectionsDifference(_ actual: Tensor, _ expected: Tensor) -> Float {
        let plain = actual.maxDifference(to: expected)
        guard actual.rank == 3, actual.shape[2] == 6, actual.shape == expected.shape, plain > 1e-5 * expected.maxMagnitude else { return plain }
        let (batch, count) = (actual.shape[0], actual.shape[1])
        func row(_ t: Tensor, _ n: Int, _ i: Int) -> [Float] { Array(t.storage[((n * count + i) * 6)..<((n * count + i + 1) * 6)]) }
        let tolerance = 1e-5 * max(expected.maxMagnitude, 1e-6)
        var worst: Float = 0
        for n in 0..<batch {
            var used = Set<Int>()
            for i in 0..<count {
                let target = row(expected, n, i)
                worst = max(worst, abs(row(actual, n, i)[4] - target[4]))
                let candidates = (0..<count).filter { !used.contains($0) && abs(row(actual, n, $0)[4] - target[4]) <= tolerance }
                guard let best = candidates.min(by: { a, b in
                    zip(row(actual, n, a), target).map { abs($0 - $1) }.max()! < zip(row(actual, n, b), target).map { abs($0 - $1) }.max()!
                }) else { return .infinity }
                used.insert(best)
                worst = max(worst, zip(row(actual, n, best), target).map { abs($0 - $1) }.max()!)
            }
        }
        return worst
    }

    /// A traced fork forward can chain patterns built-in traces never do: a 1×1 convolution's
    /// tokens (`conv(x).flatten(2).permute(0, 2, 1)`, one GEMM) read as a matmul operand whose
    /// last two axes that same transpose swaps. Each instruction belongs to one macro, and the
    /// planned program computes what the reference evaluation does.
    @Test func plannerMacrosDoNotClaimOneInstructionTwice() {
        let recorder = ProgramRecorder()
        var generator = SplitMix64(seed: 3)
        func random(_ shape: [Int]) -> Tensor { Tensor(shape: shape) { for i in $0.indices { $0[i] = Float.random(in: -1..<1, using: &generator) } } }
        let input = recorder.record(.input, [], outputs: [[1, 4, 3, 3]])[0].id
        let weight = recorder.record(.constant(random([5, 4, 1, 1]), name: "w"), [], outputs: [[5, 4, 1, 1]])[0].id
        let conv = recorder.record(.convolution(stride: 1, padding: 0, dilation: 1, groups: 1), [input, weight], outputs: [[1, 5, 3, 3]])[0].id
        let flat = recorder.record(.reshape([1, 5, 9]), [conv], outputs: [[1, 5, 9]])[0].id
        let tokens = recorder.record(.transpose([0, 2, 1]), [flat], outputs: [[1, 9, 5]])[0].id
        let other = recorder.record(.constant(random([1, 5, 2]), name: nil), [], outputs: [[1, 5, 2]])[0].id
        let product = recorder.record(.matmul, [tokens, other], outputs: [[1, 9, 2]])[0]
        let program = recorder.program(outputs: [product])
        let x = random([1, 4, 3, 3])
        let expected = program.run(x)[0]
        let planned = PlannedProgram(program).run(x).outputs[0]
        #expect(planned.shape == expected.shape)
        let error = zip(planned.storage, expected.storage).map { abs($0 - $1) }.max() ?? 1
        #expect(error <= 1e-5 * (expected.storage.map(abs).max() ?? 1), "\(error)")
    }

    /// Runs of element-wise operations run as one pass each: on a convolution's channels-last map
    /// (a per-channel [C, 1, 1] scale, `x * x`, a second map, scalars, an activation) and on
    /// [B, H, W, C] tokens (a [C] scale, `1 / x`) and on the NCHW image (a per-channel scale
    /// that changes every plane); the planned program computes what the reference evaluation does.
    @Test func elementwiseChainsRunAsOnePass() {
        let recorder = ProgramRecorder()
        var generator = SplitMix64(seed: 5)
        func random(_ shape: [Int], _ range: Range<Float> = -1..<1) -> Tensor {
            Tensor(shape: shape) { for i in $0.indices { $0[i] = Float.random(in: range, using: &generator) } }
        }
        func constant(_ tensor: Tensor) -> Int { recorder.record(.constant(tensor, name: nil), [], outputs: [tensor.shape])[0].id }
        let map = [1, 16, 9, 11]
        let input = recorder.record(.input, [], outputs: [[1, 8, 9, 11]])[0].id
        let conv = recorder.record(.convolution(stride: 1, padding: 1, dilation: 1, groups: 1), [input, constant(random([16, 8, 3, 3]))], outputs: [map])[0].id
        let other = recorder.record(.convolution(stride: 1, padding: 0, dilation: 1, groups: 1), [input, constant(random([16, 8, 1, 1]))], outputs: [map])[0].id
        var x = recorder.record(.multiply, [conv, constant(random([16, 1, 1]))], outputs: [map])[0].id
        x = recorder.record(.activation(.relu), [x], outputs: [map])[0].id
        x = recorder.record(.multiply, [x, x], outputs: [map])[0].id
        x = recorder.record(.add, [other, x], outputs: [map])[0].id
        x = recorder.record(.subtract, [constant(Tensor(shape: [1], storage: [0.25])), x], outputs: [map])[0].id
        let gated = recorder.record(.activation(.sigmoid), [x], outputs: [map])[0].id
        let tokens = recorder.record(.transpose([0, 2, 3, 1]), [gated], outputs: [[1, 9, 11, 16]])[0].id
        let tokenShape = [1, 9, 11, 16]
        var y = recorder.record(.multiply, [tokens, constant(random([16], 0.5..<2))], outputs: [tokenShape])[0].id
        y = recorder.record(.add, [y, constant(Tensor(shape: [1], storage: [1]))], outputs: [tokenShape])[0].id
        y = recorder.record(.divide, [constant(Tensor(shape: [1], storage: [1])), y], outputs: [tokenShape])[0].id
        let result = recorder.record(.squareRoot, [y], outputs: [tokenShape])[0]
        // the image, NCHW: a per-channel scale whose element changes every plane
        var z = recorder.record(.multiply, [constant(random([8, 1, 1])), input], outputs: [[1, 8, 9, 11]])[0].id
        z = recorder.record(.activation(.tanh), [z], outputs: [[1, 8, 9, 11]])[0].id
        let plain = recorder.record(.add, [z, constant(random([1, 8, 1, 1]))], outputs: [[1, 8, 9, 11]])[0]
        let program = recorder.program(outputs: [result, plain])
        let image = random([1, 8, 9, 11])
        let planned = PlannedProgram(program)
        let steps = program.instructions.indices.compactMap(planned.stepDescription)
        #expect(steps.filter { $0 == "element-wise chain" }.count == 3, "\(steps)")
        #expect(!steps.contains("multiply") && !steps.contains("add") && !steps.contains("relu"), "\(steps)")
        let outputs = planned.run(image).outputs
        for (actual, expected) in zip(outputs, program.run(image)) {
            #expect(actual.shape == expected.shape)
            let error = zip(actual.storage, expected.storage).map { abs($0 - $1) }.max() ?? 1
            #expect(error <= 1e-5 * (expected.storage.map(abs).max() ?? 1), "\(error)")
        }
    }

    /// A fork's RepConv runs unfused: `silu(bn(conv3×3(x)) + bn(conv1×1(x)) + 0)`. The planner
    /// merges the branches into one 3×3 convolution (the 1×1 kernel at its centre, biases and the
    /// scalar summed) with the SiLU in its epilogue, and computes what the reference evaluation does.
    @Test("an unfused RepConv plans as one 3×3 convolution, with the reference's numbers", arguments: [1, 2])
    func repConvBranchesMerge(_ stride: Int) {
        let recorder = ProgramRecorder()
        var generator = SplitMix64(seed: 7)
        func random(_ shape: [Int], _ range: Range<Float> = -1..<1) -> Tensor {
            Tensor(shape: shape) { for i in $0.indices { $0[i] = Float.random(in: range, using: &generator) } }
        }
        let (channels, outputs, size) = (6, 5, 9)
        let out = (size - 1) / stride + 1
        let input = recorder.record(.input, [], outputs: [[1, channels, size, size]])[0].id
        func branch(kernel: Int, padding: Int) -> Int {
            let weight = recorder.record(.constant(random([outputs, channels, kernel, kernel]), name: nil), [], outputs: [[outputs, channels, kernel, kernel]])[0].id
            let conv = recorder.record(.convolution(stride: stride, padding: padding, dilation: 1, groups: 1), [input, weight], outputs: [[1, outputs, out, out]])[0].id
            let norm = [random([outputs], 0.5..<1.5), random([outputs]), random([outputs]), random([outputs], 0.5..<1.5)].map { tensor in
                recorder.record(.constant(tensor, name: nil), [], outputs: [[outputs]])[0].id
            }
            return recorder.record(.batchNorm(epsilon: 1e-3), [conv] + norm, outputs: [[1, outputs, out, out]])[0].id
        }
        let sum = recorder.record(.add, [branch(kernel: 3, padding: 1), branch(kernel: 1, padding: 0)], outputs: [[1, outputs, out, out]])[0].id
        let zero = recorder.record(.constant(Tensor(shape: [], storage: [0]), name: nil), [], outputs: [[]])[0].id
        let shifted = recorder.record(.add, [sum, zero], outputs: [[1, outputs, out, out]])[0].id
        let result = recorder.record(.activation(.silu), [shifted], outputs: [[1, outputs, out, out]])[0]
        let program = recorder.program(outputs: [result])
        let x = random([1, channels, size, size])
        let expected = program.run(x)[0]
        let planned = PlannedProgram(program)
        let steps = program.instructions.indices.compactMap(planned.stepDescription).filter { !$0.hasPrefix("constant") && $0 != "input" }
        #expect(steps.count == 1 && steps[0].hasPrefix("convolution 3×3") && steps[0].hasSuffix("+ silu"), "\(steps)")
        let actual = planned.run(x).outputs[0]
        #expect(actual.shape == expected.shape)
        let error = zip(actual.storage, expected.storage).map { abs($0 - $1) }.max() ?? 1
        #expect(error <= 1e-5 * (expected.storage.map(abs).max() ?? 1), "\(error)")
    }

    @Test("a backbone's program, unfused and fused, runs to the forward's outputs", arguments: [false, true])
    func backboneProgram(_ fuse: Bool) throws {
        let graph = try buildGraph(Self.backbone, options: BuildOptions(imageHeight: 64, imageWidth: 64))
        let program = try Self.expectProgramMatchesForward(graph, fuse: fuse)
        let ops = Set(program.instructions.map(\.op.name))
        #expect(ops.isSuperset(of: ["input", "convolution", "silu", "split", "add", "concatenate", "max_pool", "upsample_nearest"]), "\(ops)")
        #expect(ops.contains("batch_norm") == !fuse)
        // every convolution names its block by the state_dict path
        let paths = program.instructions.filter { $0.op.name == "convolution" }.map { $0.origin.path ?? "" }
        #expect(paths.first == "model.0.conv")
        #expect(paths.contains("model.2.m.0.cv1.conv"), "\(paths)")
        #expect(program.instructions.dropFirst().allSatisfy { $0.origin.layerIndex != nil })
        #expect(program.instructions.first?.op.name == "input")
    }

    @Test("official models trace whole: the program runs to the planned forward's outputs",
          arguments: ["yolov8.yaml", "yolo11.yaml", "yolov5.yaml", "yolov8-seg.yaml", "yolo26-seg.yaml", "yolo11-pose.yaml",
                      "yolov8-obb.yaml", "yolo26-obb.yaml", "yolo11-cls.yaml", "yolov9t.yaml", "yolov6.yaml", "yolov3-tiny.yaml",
                      "yolo12.yaml", "yoloe-v8.yaml", "yoloe-11-seg.yaml", "yolo26-depth.yaml", "yolov8-rtdetr.yaml"])
    func officialProgram(_ name: String) throws {
        let base = try ModelGraph.build(yaml: try String(contentsOf: Paths.config(named: "ultralytics/" + name), encoding: .utf8),
                                        file: name, options: BuildOptions(imageHeight: 64, imageWidth: 64))
        let program = try Self.expectProgramMatchesForward(base, fuse: true)
        #expect(program.outputs.map(\.shape) == base.layers.last?.outputShapes)
        // the complete GFLOPs: the pass over the unfused inference program equals its sum over the builder's row programs
        let counted = try #require(base.gflops)
        let unfused = try InferencePlan(graph: base, weights: Weights.initialized(for: base, seed: 7), fuse: false).trace()
        #expect(abs(unfused.multiplyAdds * 2 / 1e9 - counted) <= 1e-9 + 1e-6 * counted, "inference program \(unfused.multiplyAdds * 2 / 1e9) vs rows \(counted)")
    }

    /// End-to-end heads (`--end2end`): the top-k of anchors, then of (anchor, class) pairs, as program operations.
    @Test(arguments: ["yolov10n.yaml", "yolo26n-pose.yaml"])
    func endToEndProgram(_ name: String) throws {
        let file = name.replacingOccurrences(of: "26n-pose", with: "26-pose")
        let graph = try ModelGraph.build(yaml: try String(contentsOf: Paths.config(named: "ultralytics/" + file), encoding: .utf8), file: name,
                                         options: BuildOptions(scale: "n", imageHeight: 96, imageWidth: 96, endToEnd: true))
        let program = try Self.expectProgramMatchesForward(graph, fuse: true)
        #expect(program.outputs.first?.shape.prefix(2) == [1, 189])
        #expect(program.instructions.contains { $0.op.name == "top_k" })
    }

    /// YOLO-World traces with its class text embeddings as the program's second input
    /// (`txt_feats`): C2fAttn's max-sigmoid gates, ImagePoolingAttn's pooled attention and the
    /// contrastive head as program operations; the program and the planned forward give the
    /// reference path's outputs for the same embeddings.
    @Test(arguments: ["yolov8-world.yaml", "yolov8-worldv2.yaml"])
    func worldProgram(_ file: String) throws {
        let graph = try ModelGraph.build(yaml: try String(contentsOf: Paths.config(named: "ultralytics/" + file), encoding: .utf8), file: file,
                                         options: BuildOptions(scale: "n", imageHeight: 96, imageWidth: 128))
        let weights = Weights.initialized(for: graph, seed: 7)
        let input = KernelTests.random(graph.inputShape, seed: 2, range: 0...1)
        let text = KernelTests.random(try #require(graph.textShape), seed: 3, range: -1...1)
        let reference = try InferencePlan(graph: graph, weights: weights, fuse: false).forward(input, text: text).outputs
        let plan = InferencePlan(graph: graph, weights: weights)
        #expect(plan.planned?.readsText == true)
        let program = try plan.trace()
        #expect(program.instructions.contains { $0.op.name == "text_embeddings" })
        if graph.layers.contains(where: { $0.moduleName == "ImagePoolingAttn" }) {
            #expect(program.instructions.contains { $0.op.name == "adaptive_max_pool" })
        }
        for outputs in [program.run(input, text: text), try plan.forward(input, text: text).outputs] {
            #expect(outputs.map(\.shape) == reference.map(\.shape))
            for (output, expected) in zip(outputs, reference) {
                #expect(output.maxDifference(to: expected) <= 1e-5 * max(expected.maxMagnitude, 1e-6), "\(output.maxDifference(to: expected)) vs \(expected.maxMagnitude)")
            }
        }
    }

    /// RT-DETR's decoder in Ultralytics' formulation (top-k queries, grid-sampled deformable
    /// attention, top-k (query, class) pairs) runs to the tensor path's detections.
    @Test func rtdetrProgram() throws {
        let yaml = try String(contentsOf: Paths.fixtures.appendingPathComponent("checkpoints/rtdetr-tiny.yaml"), encoding: .utf8)
        let graph = try buildGraph(yaml, file: "rtdetr-tiny.yaml", options: BuildOptions(imageHeight: 96, imageWidth: 96))
        let program = try Self.expectProgramMatchesForward(graph, fuse: true)
        // MSDeformAttn's sampling is one composite, whose body has the grid samples
        #expect(program.instructions.contains { $0.op.name == "deformable_attention" })
        let ops = Set(program.inlined().instructions.map(\.op.name))
        #expect(ops.isSuperset(of: ["top_k", "gather_rows", "grid_sample", "layer_norm", "matmul", "log"]), "\(ops)")
        #expect(!ops.contains("deformable_attention"))
        #expect(program.outputs.map(\.shape) == graph.layers.last?.outputShapes)
    }

    @Test("the seed's models trace whole: the program runs to the planned forward's outputs",
          arguments: ["rtdetr-starnet-carafe.yaml", "rtdetr-starnet-dysample.yaml", "rtdetr-starnet-scaled.yaml", "rtdetr-starnet-freqfusion.yaml",
                      "rtdetr-starnet-freqfusion-resample.yaml",
                      "rtdetr-starnet-s4-mixed.yaml"])
    func seedProgram(_ name: String) throws {
        let yaml = try String(contentsOf: Paths.configs.appendingPathComponent(name), encoding: .utf8)
        let graph = try buildGraph(yaml, file: name, options: BuildOptions(imageHeight: 96, imageWidth: 96))
        let program = try Self.expectProgramMatchesForward(graph, fuse: true)
        #expect(program.outputs.map(\.shape) == graph.layers.last?.outputShapes)
        let counted = try #require(graph.gflops)
        let unfused = try InferencePlan(graph: graph, weights: Weights.initialized(for: graph, seed: 7), fuse: false).trace()
        #expect(abs(unfused.multiplyAdds * 2 / 1e9 - counted) <= 1e-9 + 1e-6 * counted, "inference program \(unfused.multiplyAdds * 2 / 1e9) vs rows \(counted)")
    }

    /// FreqFusion with feature resampling (GroupNorm and the local similarity as composites,
    /// then DySample's grid sampling) traces; the program and the planned forward (the
    /// composites' own kernels) give the reference path's outputs.
    @Test func freqFusionResamplingTraces() throws {
        let graph = try buildGraph("""
            nc: 2
            backbone:
              - [-1, 1, Conv, [64, 3, 2]]
              - [-1, 1, Conv, [64, 3, 2]]
            head:
              - [[0, 1], 1, FreqFusion, [1, 5, 3, 1, 3, 1, 16, False, 'nearest', True, 4]]
            """, options: BuildOptions(imageHeight: 32, imageWidth: 48))
        let program = try Self.expectProgramMatchesForward(graph, fuse: true)
        let names = Set(program.instructions.map(\.op.name))
        #expect(names.isSuperset(of: ["group_norm", "local_similarity", "carafe_reassemble", "grid_sample"]), "\(names)")
    }

    /// nn.Upsample to a size and by a fractional factor, and CBFuse's resampling, record the
    /// general `resize`; the program gives the modules' own outputs, and ONNX gets a Resize by
    /// sizes (or by PyTorch's scales where a scale factor was given).
    @Test func resizeTraces() throws {
        let graph = try buildGraph("""
            nc: 2
            backbone:
              - [-1, 1, Conv, [8, 3, 2]]
            head:
              - [-1, 1, nn.Upsample, [[20, 14], None, 'bilinear']]
              - [-1, 1, nn.Upsample, [None, 1.5, 'nearest']]
              - [-1, 1, nn.Upsample, [[25, 31], None, 'nearest-exact']]
              - [-1, 1, nn.Upsample, [None, 0.5, 'bilinear']]
            """, options: BuildOptions(imageHeight: 32, imageWidth: 24))
        let program = try Self.expectProgramMatchesForward(graph, fuse: true)
        let resizes = program.instructions.filter { $0.op.name == "resize" }
        #expect(resizes.map { $0.outputs[0].shape } == [[1, 8, 20, 14], [1, 8, 30, 21], [1, 8, 25, 31], [1, 8, 12, 15]])
        let model = try Onnx_ModelProto(serializedBytes: try ONNXExport(program: program, opset: 17).file(producerVersion: "test").bytes)
        let nodes = model.graph.node.filter { $0.opType == "Resize" }
        #expect(nodes.count == 4)
        let modes = nodes.map { node in node.attribute.first { $0.name == "coordinate_transformation_mode" }.map { String(decoding: $0.s, as: UTF8.self) } ?? "" }
        #expect(modes == ["pytorch_half_pixel", "asymmetric", "half_pixel", "pytorch_half_pixel"], "\(modes)")
        // a scale factor given: scales (the third input), else sizes (the fourth)
        #expect(nodes.map { $0.input.count } == [4, 3, 4, 3])
    }

    /// The memory pass row by row: rows in program order, the largest row peak is the pass's
    /// peak, and no row holds more after it than at its peak.
    @Test func memoryPassByRow() throws {
        let graph = try buildGraph(Self.backbone, options: BuildOptions(imageHeight: 64, imageWidth: 64))
        let planned = try #require(InferencePlan(graph: graph, weights: Weights.initialized(for: graph, seed: 7)).planned)
        let rows = planned.memoryByRow
        #expect(rows.map(\.layer) == rows.map(\.layer).sorted() && rows.count == graph.layers.count)
        #expect(rows.map(\.peak).max() == planned.peakActivationBytes)
        #expect(rows.allSatisfy { $0.live <= $0.peak && $0.live > 0 })
    }

    /// The ONNX file holds standard operators only, the weights under their state_dict keys, and
    /// Ultralytics' input and output names; it reads back as the same model.
    @Test func onnxFileOfABackbone() throws {
        let graph = try buildGraph(Self.backbone, options: BuildOptions(imageHeight: 64, imageWidth: 64))
        let plan = InferencePlan(graph: graph, weights: Weights.initialized(for: graph, seed: 7))
        let export = ONNXExport(program: try plan.trace(), opset: 17)
        let model = try Onnx_ModelProto(serializedBytes: try export.file(producerVersion: "test").bytes)
        #expect(model.opsetImport.map(\.version) == [17])
        #expect(model.graph.input.map(\.name) == ["images"])
        #expect(model.graph.output.map(\.name) == ["output0"])
        #expect(model.graph.output[0].type.tensorType.shape.dim.map(\.dimValue) == [1, 32, 16, 16])
        let standard: Set = ["Conv", "Sigmoid", "Mul", "Add", "Split", "Concat", "MaxPool", "Resize", "Identity"]
        #expect(Set(model.graph.node.map(\.opType)).isSubset(of: standard), "\(Set(model.graph.node.map(\.opType)))")
        #expect(model.graph.node.allSatisfy { $0.domain.isEmpty })
        let names = Set(model.graph.initializer.map(\.name))
        #expect(names.contains("model.0.conv.weight") && names.contains("model.0.conv.bias"), "\(names.sorted().prefix(5))")
        // every value a node reads is made by an earlier node, an initializer or the input
        var known = names.union(["images", ""])
        for node in model.graph.node {
            #expect(node.input.allSatisfy(known.contains), "\(node.name) reads \(node.input)")
            known.formUnion(node.output)
        }
        let weight = try #require(model.graph.initializer.first { $0.name == "model.0.conv.weight" })
        #expect(weight.dims == [16, 3, 3, 3] && weight.rawData.count == 16 * 3 * 3 * 3 * 4)
        let dynamic = try Onnx_ModelProto(serializedBytes: try ONNXExport(program: try plan.trace(), dynamicBatch: true).file(producerVersion: "test").bytes)
        #expect(dynamic.graph.input[0].type.tensorType.shape.dim[0].dimParam == "batch")
    }
}
