import Foundation
@testable import ModelGraph
import Testing

/// Both GFLOPs figures are passes over the program: the complete count over its operations
/// (`Program.multiplyAdds`), Ultralytics' figure by thop's rules over the module calls recorded
/// with it and the matrix products run outside them (`Program.thopOperations`). The figures
/// themselves are checked against Ultralytics' `model.info()` for every official config
/// (ZooTests) and against thop on the seed forks' classes.
struct CountingTests {
    static func graph(_ rows: String, size: Int = 32, batch: Int = 1) throws -> ModelGraph {
        try buildGraph("nc: 2\nbackbone:\n" + rows, options: BuildOptions(imageHeight: size, imageWidth: size, batch: batch))
    }

    static func rowProgram(_ graph: ModelGraph, _ position: Int) throws -> Program {
        let layer = graph.layers[position]
        let inputs = layer.from.map { source in source == -1 ? graph.inputShape : graph.layers.first { $0.index == source }!.outputShapes![0] }
        return try Builder.rowProgram(layer, inputs)
    }

    /// A Conv row records an nn.Conv2d call and an nn.BatchNorm2d call; thop counts the norm,
    /// the complete figure does not; a folded (fused) Conv leaves only the convolution.
    @Test func convRowRecordsItsModuleCalls() throws {
        let graph = try Self.graph("  - [-1, 1, Conv, [8, 3, 2]]\nhead:\n  - [-1, 1, Conv, [8, 1, 1]]\n")
        let program = try Self.rowProgram(graph, 0)
        #expect(program.moduleCalls.map(\.kind) == [.convolution(groups: 1, kernel: [3, 3]), .normalization(affine: true)])
        #expect(program.moduleCalls.map(\.outputShapes) == [[[1, 8, 16, 16]], [[1, 8, 16, 16]]])
        let normElements = Double(8 * 16 * 16)
        #expect(program.thopOperations - program.multiplyAdds == 4 * normElements)
        #expect(program.instructions.allSatisfy { $0.op.name == "input" || $0.origin.moduleCall != nil || $0.op.name == "silu" })
        let fused = try #require(graph.ultralyticsLayerGFLOPs(fused: true))
        let unfused = try #require(graph.ultralyticsLayerGFLOPs())
        #expect(abs((unfused[0] - fused[0]) * 1e9 / 2 - 4 * normElements) < 1e-6)
    }

    /// nn.Upsample's thop rule counts 11 per output element in bilinear mode (the complete
    /// count: 4 taps); nearest counts nothing in either.
    @Test(arguments: [("bilinear", 11.0, 4.0), ("nearest", 0.0, 0.0)])
    func upsampleRule(_ mode: String, _ thop: Double, _ complete: Double) throws {
        let graph = try Self.graph("  - [-1, 1, Conv, [8, 3, 2]]\nhead:\n  - [-1, 1, nn.Upsample, [None, 2, '\(mode)']]\n")
        let program = try Self.rowProgram(graph, 1)
        #expect(program.moduleCalls.map(\.kind) == [.upsample(mode: mode)])
        let elements = Double(8 * 32 * 32)
        #expect(program.thopOperations == thop * elements)
        #expect(program.multiplyAdds == complete * elements)
    }

    /// AIFI: one nn.MultiheadAttention call (whose out_proj PyTorch reads as weights, so no
    /// Linear call of its own), fc1 and fc2, two LayerNorms; the position embedding's two outer
    /// products are work only thop counts (the program holds the embedding as a constant).
    @Test func aifiCalls() throws {
        let graph = try Self.graph("  - [-1, 1, Conv, [64, 3, 2]]\nhead:\n  - [-1, 1, AIFI, [128, 4]]\n")
        let program = try Self.rowProgram(graph, 1)
        let kinds = program.moduleCalls.map(\.kind)
        #expect(kinds.filter { $0 == .attention(width: 64, heads: 4) }.count == 1)
        #expect(kinds.filter { $0 == .linear(inputFeatures: 64) || $0 == .linear(inputFeatures: 128) }.count == 2)
        #expect(kinds.filter { $0 == .normalization(affine: true) }.count == 2)
        let countedOnly = program.instructions.filter { $0.origin.countedOnly }
        #expect(countedOnly.filter { $0.op.name == "matmul" }.count == 2)
        #expect(countedOnly.allSatisfy { $0.origin.moduleCall == nil })
        // the inference program holds none of it
        let traced = try InferencePlan(graph: graph, weights: Weights.initialized(for: graph, seed: 1), fuse: false).trace()
        #expect(!traced.inlined().instructions.contains { $0.origin.countedOnly })
    }

    /// An end-to-end head's one-to-many branch runs in PyTorch's eval forward though nothing
    /// reads it: the counting walk records it as work only thop counts, the inference trace not at all.
    @Test func unreadBranchIsCountedOnlyByThop() throws {
        let graph = try ModelGraph.build(yaml: try String(contentsOf: Paths.config(named: "ultralytics/yolov10n.yaml"), encoding: .utf8),
                                         file: "yolov10n.yaml", options: BuildOptions(imageHeight: 64, imageWidth: 64))
        let head = graph.layers.count - 1
        let layer = graph.layers[head]
        let inputs = layer.from.map { index in graph.layers.first { $0.index == index }!.outputShapes![0] }
        let program = try Builder.rowProgram(layer, inputs)
        let unread = program.instructions.filter { $0.origin.countedOnly }
        #expect(unread.contains { $0.op.name == "convolution" })
        // removing the unread work leaves the complete figure as it is and lowers thop's
        let read = Program(instructions: program.instructions.filter { !$0.origin.countedOnly }, outputs: program.outputs,
                           layerOutputs: [:], moduleCalls: [])
        #expect(read.multiplyAdds == program.multiplyAdds)
        #expect(program.thopOperations > read.multiplyAdds)
        let traced = try InferencePlan(graph: graph, weights: Weights.initialized(for: graph, seed: 1), fuse: false).trace()
        #expect(!traced.inlined().instructions.contains { $0.origin.countedOnly })
    }

    /// Ultralytics counts at batch 1; a graph built for batch 2 gives the same figure, though
    /// AIFI's position embedding is made once per call, not per image.
    @Test func ultralyticsFigureIsPerImage() throws {
        let text = try String(contentsOf: Paths.config(named: "ultralytics/rtdetr-l.yaml"), encoding: .utf8)
        let one = try ModelGraph.build(yaml: text, file: "rtdetr-l.yaml", options: BuildOptions(imageHeight: 128, imageWidth: 160))
        let two = try ModelGraph.build(yaml: text, file: "rtdetr-l.yaml", options: BuildOptions(imageHeight: 128, imageWidth: 160, batch: 2))
        for fused in [false, true] {
            let (a, b) = (try #require(one.ultralyticsGFLOPs(fused: fused)), try #require(two.ultralyticsGFLOPs(fused: fused)))
            #expect(abs(a - b) <= 1e-12 * a, "fused \(fused): \(a) vs \(b)")
        }
        // the complete figure is the whole batch's
        let (whole, single) = (try #require(two.gflops), try #require(one.gflops))
        #expect(abs(whole - 2 * single) < 1e-3)
    }
}
