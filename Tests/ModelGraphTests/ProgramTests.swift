import Foundation
@testable import ModelGraph
import Tensor
import Testing

/// The traced program: it records every operation of the forward pass, and running it with
/// the reference kernels gives the module code's own forward.
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

    /// Runs `graph` forward and its traced program on one image; the outputs agree within 1e-5 × max|ref|.
    static func expectProgramMatchesForward(_ graph: ModelGraph, fuse: Bool) throws -> Program {
        let weights = Weights.initialized(for: graph, seed: 7)
        let input = KernelTests.random(graph.inputShape, seed: 2, range: 0...1)
        let reference = try graph.forward(input, weights: weights).outputs
        let program = try InferencePlan(graph: graph, weights: weights, fuse: fuse).trace()
        let outputs = program.run(input)
        #expect(outputs.map(\.shape) == reference.map(\.shape))
        for (output, expected) in zip(outputs, reference) {
            let scale = expected.storage.map(abs).max() ?? 1
            #expect(output.maxDifference(to: expected) <= 1e-5 * max(scale, 1e-6), "\(output.maxDifference(to: expected)) vs max \(scale)")
        }
        return program
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
}
