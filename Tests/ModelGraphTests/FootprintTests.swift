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
        // all alive — and so is row 0's output, which the Concat row still reads
        let atConcatenation = map(16) + 3 * map(8) + map(24)
        #expect(peak >= atConcatenation)
        // at most cv2's output (16) on top, should the pieces outlive the concatenation
        #expect(peak <= atConcatenation + map(16))
        // row outputs alone (the image, row 0's and row 1's outputs) would be far less
        #expect(atConcatenation > Double(4 * 3 * 32 * 32) + 2 * map(16))
    }
}
