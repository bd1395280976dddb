import Foundation
import ModelGraph
import ModelLoading
import Tensor
import Testing

/// The library API the commands stand on: one entry from any source to graph, weights, memory
/// and plan, and one error type whose kind says usage (exit 2) or input (exit 1).
@Suite struct ModelLoadingTests {
    /// The zoo golden of `name` (Ultralytics' own build of the official file).
    func zooParameters(_ name: String) throws -> Int {
        let data = try Data(contentsOf: Paths.fixtures.appendingPathComponent("zoo/\(name).json"))
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        return try #require(object["params"] as? Int)
    }

    @Test("an official name, a YAML file and a .pt each load through Model.load")
    func loadsEverySource() throws {
        // official name: the shipped architecture, scale from the name, as Ultralytics builds it
        let official = try Model.load(ModelRequest(path: "yolo11n.yaml"))
        #expect(official.graph.parameterCount == (try zooParameters("yolo11n-640")))
        #expect(official.checkpoint == nil)
        #expect(Architectures.names.contains("yolo11.yaml"))

        // a YAML file at another size and batch
        let file = try Model.load(ModelRequest(path: Paths.config(named: "rtdetr-starnet-freqfusion.yaml").path, imageHeight: 320, imageWidth: 256, batch: 2))
        #expect(file.graph.inputShape == [2, 3, 320, 256])

        // a checkpoint: its own YAML and weights, checked strictly, ready to plan
        let checkpointPath = Paths.fixtures.appendingPathComponent("checkpoints/rtdetr-tiny-fp16.pt").path
        let model = try Model.load(ModelRequest(path: checkpointPath, imageHeight: 64, imageWidth: 64))
        #expect(model.checkpoint != nil)
        let weights = try model.weights(WeightsRequest())
        #expect(weights.description.hasPrefix(checkpointPath))
        #expect(Set(weights.tensors.keys) == Set(Weights.initialized(for: model.graph, seed: 0).keys))
        let plan = model.plan(weights)
        #expect(plan.graph.inputShape == [1, 3, 64, 64])
    }

    @Test("load errors are one type, located, and say whether the request or a file is at fault")
    func errorsCarryTheirKind() throws {
        // a scale the file does not list: the request's fault, located at the file's scales
        let config = Paths.config(named: "rtdetr-starnet-freqfusion.yaml").path
        let badScale = #expect(throws: ModelLoadError.self) { try Model.load(ModelRequest(path: config, scale: "q")) }
        #expect(badScale?.kind == .usage)
        #expect(badScale?.description.contains("--scale q given, but the file's `scales:` lists l") ?? false)
        #expect(badScale?.description.hasPrefix("\(config):") ?? false)

        // no such file and no such architecture: the input's fault, naming what is known
        let missing = #expect(throws: ModelLoadError.self) { try Model.load(ModelRequest(path: "yolo99z.yaml")) }
        #expect(missing?.kind == .input)
        #expect(missing?.description.contains("not an official architecture") ?? false)

        // a folder that holds no fork given as the source
        let noFork = #expect(throws: ModelLoadError.self) { try Model.fork(for: ModelRequest(path: config, source: NSTemporaryDirectory())) }
        #expect(noFork?.kind == .usage)

        // a size past the limits
        let huge = #expect(throws: ModelLoadError.self) { try Model.load(ModelRequest(path: "yolo11n.yaml", batch: 0)) }
        #expect(huge?.kind == .usage)
    }

    @Test("weights that do not fit are refused with the file named; a memory limit refuses a run with its estimate")
    func weightsAndMemory() throws {
        let model = try Model.load(ModelRequest(path: "yolo11n.yaml", imageHeight: 64, imageWidth: 64))
        let wrong = Paths.fixtures.appendingPathComponent("checkpoints/rtdetr-tiny-fp16.pt").path
        let refused = #expect(throws: ModelLoadError.self) { try model.weights(WeightsRequest(file: wrong)) }
        #expect(refused?.description.contains(wrong) ?? false)
        // --partial takes what fits and reports the rest
        let partial = try model.weights(WeightsRequest(file: wrong, partial: true))
        #expect(partial.transfer?.file == wrong)
        #expect(Set(partial.tensors.keys) == Set(Weights.initialized(for: model.graph, seed: 0).keys))

        let requirement = try #require(model.memoryRequirement)
        #expect(requirement.neededBytes == 4 * requirement.weightBytes + 1.5 * requirement.activationBytes)
        let capped = #expect(throws: ModelLoadError.self) { try model.checkMemory(limit: 1000, limitName: "--max-memory") }
        #expect(capped?.description.contains("more than --max-memory 0.0 MB") ?? false)
        try model.checkMemory(limit: requirement.neededBytes * 2)
    }
}
