import Foundation
import ModelGraph
import Tensor
import Testing

/// Forward passes against the PyTorch reference (fixtures from scripts/make-parity-fixtures.py):
/// every layer index's output at the first size, the final output at both.
struct ParityTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var config: String
        var height: Int
        var width: Int
        /// The inference plan (BatchNorm folding, RepConv re-parameterisation, oneDNN primitives)
        /// rather than the reference path.
        var fused: Bool
        var testDescription: String { "\(config) \(height)×\(width)\(fused ? " fused" : "")" }
    }

    static let cases = [false, true].flatMap { fused in
        [Case(config: "blocks", height: 64, width: 64, fused: fused), Case(config: "blocks", height: 96, width: 128, fused: fused),
         Case(config: "seedlike", height: 128, width: 128, fused: fused), Case(config: "seedlike", height: 96, width: 128, fused: fused)]
    }

    /// max |ours − reference| ≤ 1e-5 × max |reference| (fp32): tight enough to see a wrong BatchNorm eps (~4e-5).
    static let relativeTolerance: Float = 1e-5

    @Test(arguments: cases)
    func matchesReference(_ parityCase: Case) throws {
        let directory = Paths.fixtures.appendingPathComponent("parity")
        let configPath = directory.appendingPathComponent("\(parityCase.config).yaml").path
        let graph = try ModelGraph.build(yaml: String(contentsOfFile: configPath, encoding: .utf8), file: configPath,
                                         options: BuildOptions(imageHeight: parityCase.height, imageWidth: parityCase.width))
        let weightsPath = directory.appendingPathComponent("\(parityCase.config)/weights.safetensors").path
        let weights = try Weights.checked(SafeTensors.read(file: weightsPath), for: graph, file: weightsPath)
        let reference = try SafeTensors.read(
            file: directory.appendingPathComponent("\(parityCase.config)/\(parityCase.height)x\(parityCase.width).safetensors").path)
        let input = try #require(reference["images"])
        let result = try InferencePlan(graph: graph, weights: weights, fuse: parityCase.fused).forward(input, keepAll: true)

        var compared = 0
        for layer in graph.layers {
            for index in layer.indices {
                guard let expected = reference["layer.\(index)"] else { continue }
                let actual = try #require(result.layerOutputs[index])
                #expect(actual.shape == expected.shape, "layer \(index) \(layer.moduleName): shape")
                guard actual.shape == expected.shape else { continue }
                let error = Self.difference(actual, expected, detections: layer.module is RTDETRDecoder)
                let bound = Self.relativeTolerance * expected.maxMagnitude
                #expect(error <= bound, "layer \(index) \(layer.moduleName): max error \(error) > \(bound)")
                compared += 1
            }
        }
        let output = try #require(reference["output"])
        let last = try #require(result.outputs.last)
        #expect(last.shape == output.shape)
        if last.shape == output.shape {
            let detections = graph.layers.last?.module is RTDETRDecoder
            #expect(Self.difference(last, output, detections: detections) <= Self.relativeTolerance * output.maxMagnitude, "final output")
        }
        #expect(compared >= 1, "compared \(compared) layer outputs")
    }

    /// The largest element difference; for detections [B, n, 6] (sorted by score), rows whose
    /// scores tie within the tolerance may come in either order, so each reference row is matched
    /// to the nearest unused row of ours among those of rank ≤ 3 away, and the score column must
    /// agree position by position.
    static func difference(_ actual: Tensor, _ expected: Tensor, detections: Bool) -> Float {
        let plain = actual.maxDifference(to: expected)
        guard detections, actual.rank == 3, actual.shape[2] == 6, plain > relativeTolerance * expected.maxMagnitude else { return plain }
        let (batch, count) = (actual.shape[0], actual.shape[1])
        func row(_ t: Tensor, _ n: Int, _ i: Int) -> ArraySlice<Float> { t.storage[((n * count + i) * 6)..<((n * count + i + 1) * 6)] }
        var worst: Float = 0
        for n in 0..<batch {
            var used = Set<Int>()
            for i in 0..<count {
                let target = row(expected, n, i)
                worst = max(worst, abs(row(actual, n, i)[row(actual, n, i).startIndex + 4] - target[target.startIndex + 4]))
                let candidates = max(0, i - 3)...min(count - 1, i + 3)
                // the same rank first (rows can be exact duplicates), else the closest unused row
                let best = candidates.filter { !used.contains($0) }.map { j -> (Int, Float) in
                    (j, zip(row(actual, n, j), target).map { abs($0 - $1) }.max() ?? 0)
                }.min { ($0.1, $0.0 == i ? 0 : 1) < ($1.1, $1.0 == i ? 0 : 1) }
                guard let (j, error) = best else { return .infinity }
                used.insert(j)
                worst = max(worst, error)
            }
        }
        return worst
    }
}
