import Foundation
@testable import ModelGraph
import Testing

/// The memory line's activation peak: the memory pass over the program traced without weights,
/// in which maps live as the forward pass keeps them.
struct FootprintTests {
    @Test func rowWorkingSetsCountTheMapsInsideBlocks() throws {
        let yaml = """
        nc: 1
        backbone:
          - [-1, 1, Conv, [16, 3, 2]]
          - [-1, 1, C2f, [16, False]]
        head:
          - [[0, 1], 1, Concat, [1]]
        """
        let graph = try ModelGraph.build(yaml: yaml, file: "footprint.yaml", options: BuildOptions(imageHeight: 32, imageWidth: 32))
        let peak = try #require(graph.peakActivationBytes)
        let map = { (channels: Int) in Double(4 * channels * 16 * 16) }
        // C2f(16→16) at 16×16: when its concatenation is made, the row's input (16 channels), the
        // two halves of cv1's output and the bottleneck's (8 each) and the concatenation (24) are
        // all alive — and so is row 0's output, which the Concat row still reads, and the image,
        // which the caller holds for the whole pass
        let image = Double(4 * 3 * 32 * 32)
        let atConcatenation = image + map(16) + 3 * map(8) + map(24)
        #expect(peak >= atConcatenation)
        // at most cv2's output (16) on top, should the pieces outlive the concatenation
        #expect(peak <= atConcatenation + map(16))
        // row outputs alone (the image, row 0's and row 1's outputs) would be far less
        #expect(atConcatenation > image + 2 * map(16))
    }

    /// RTDETRDecoder holds every anchor's tokens twice over at its peak (the projected levels,
    /// and enc_output's linear becoming its LayerNorm); here the pass over the weightless program
    /// gives exactly what the planned program's pass (over loaded weights and chosen kernels) gives.
    @Test func decoderHoldsItsTokensTwice() throws {
        let yaml = """
        nc: 2
        backbone:
          - [-1, 1, Conv, [16, 3, 2]]
          - [-1, 1, Conv, [32, 3, 2]]
        head:
          - [[0, 1], 1, RTDETRDecoder, [nc, 32, 10, 2, 4, 1, 64]]
        """
        let graph = try ModelGraph.build(yaml: yaml, file: "decoder.yaml", options: BuildOptions(imageHeight: 64, imageWidth: 64))
        #expect(graph.errors.isEmpty, "\(graph.errors)")
        let peak = try #require(graph.peakActivationBytes)
        let (image, levels) = (Double(4 * 3 * 64 * 64), Double(4 * (16 * 32 * 32 + 32 * 16 * 16)))
        let tokens = Double(4 * (32 * 32 + 16 * 16) * 32)
        // the image, both levels (the decoder's inputs) and the two token tensors at once
        #expect(peak >= image + levels + 2 * tokens)
        let planned = try #require(InferencePlan(graph: graph, weights: Weights.initialized(for: graph, seed: 7)).planned)
        #expect(peak == planned.peakActivationBytes)
    }

    /// The weightless estimate against the planned program's pass, which follows the kernels'
    /// layouts (a channels-last copy of an NCHW map while a kernel reads it, an NCHW copy kept of
    /// a channels-last one) and fusions (concatenation by writing into views): neither figure is
    /// more than 1.5× the other, the margin `Model.checkMemory` puts on the estimate.
    @Test(arguments: ["yolov8.yaml", "yolo11.yaml", "yolov8-seg.yaml", "yolo11-pose.yaml", "yolov8-worldv2.yaml", "yolo11-cls.yaml"])
    func estimateAgainstThePlannedPass(_ name: String) throws {
        let yaml = try String(contentsOf: Paths.config(named: "ultralytics/" + name), encoding: .utf8)
        let graph = try ModelGraph.build(yaml: yaml, file: name, options: BuildOptions(imageHeight: 128, imageWidth: 128))
        let estimate = try #require(graph.peakActivationBytes)
        let planned = try #require(InferencePlan(graph: graph, weights: Weights.initialized(for: graph, seed: 7)).planned).peakActivationBytes
        #expect(1.5 * estimate >= planned && estimate <= 1.5 * planned, "estimate \(estimate), planned \(planned)")
    }
}
