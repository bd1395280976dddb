import ModelGraph
import Testing

/// The memory line's activation peak: maps inside a row live as the forward pass keeps them.
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

    /// RTDETRDecoder's walk holds every anchor's tokens twice over at its peak (the projected
    /// levels, and enc_output's linear becoming its LayerNorm).
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
        // and not more than the encoder head's per-anchor maps beyond that (its class scores, best
        // scores, valid mask and anchor table: nc + 1 + 1 + 4 floats each) and the [1, 10, 6] detections
        let anchors = Double(32 * 32 + 16 * 16)
        #expect(peak <= image + levels + 2 * tokens + 4 * anchors * Double(2 + 1 + 1 + 4) + Double(4 * 10 * 6))
    }
}
