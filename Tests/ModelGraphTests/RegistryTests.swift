import Testing
@testable import ModelGraph
import ModelSpec
import YAMLFrontEnd

/// Properties every registered module must have, checked over one sample row per YAML name.
@Suite("Module registry")
struct RegistryTests {
    /// A sample row per YAML name: `from`, args, and the input shape(s) it is checked on.
    static let samples: [String: (from: String, args: String)] = [
        "Conv": ("-1", "[24, 3, 2, None, 2]"),
        "Concat": ("[-1, 1]", "[1]"),
        "nn.Upsample": ("-1", "[None, 2, 'nearest']"),
        "RepC3": ("-1", "[32, 0.5]"),
        "AIFI": ("-1", "[64, 4]"),
        "FreqFusion": ("[0, -1]", "[1, 5, 3, 1, 3, 1, 64, False, 'nearest', True]"),
        "DySample": ("-1", "[2, 'pl', 2, True]"),
        "CARAFE": ("-1", "[3, 5, 16]"),
        "RTDETRDecoder": ("[0, -1]", "[3, 64, 50, 2, 4, 2, 128]"),
        "C2f": ("-1", "[48, True]"),
        "C2": ("-1", "[32, False]"),
        "C3": ("-1", "[32, True, 1, 0.25]"),
        "Bottleneck": ("-1", "[32, True, 1, [1, 3]]"),
        "SPP": ("-1", "[48, [3, 5]]"),
        "nn.ZeroPad2d": ("-1", "[[1, 0, 2, 1]]"),
        "SPPF": ("-1", "[32, 5]"),
        "nn.ConvTranspose2d": ("-1", "[16, 3, 2, 1, 1]"),
        "GhostConv": ("-1", "[32, 3, 2]"),
        "GhostBottleneck": ("-1", "[48, 3, 2]"),
        "C3Ghost": ("-1", "[32, True]"),
        "RepNCSPELAN4": ("-1", "[32, 32, 16, 2]"),
        "ELAN1": ("-1", "[32, 32, 16]"),
        "SPPELAN": ("-1", "[32, 16]"),
        "AConv": ("-1", "[48]"),
        "ADown": ("-1", "[48]"),
        "nn.Identity": ("-1", "[]"),
        "CBLinear": ("-1", "[[16, 24, 32], 3]"),
        "CBFuse": ("[2, 1]", "[[1]]"),
        "SCDown": ("-1", "[48, 3, 2]"),
        "PSA": ("-1", "[32]"),
        "C2fCIB": ("-1", "[32, True, True]"),
        "v10Detect": ("[0, 1]", "[3]"),
        "C2fAttn": ("-1", "[32, 16, 2, 512, True]"),
        "ImagePoolingAttn": ("[0, 1]", "[32, 512, 4, 2]"),
        "WorldDetect": ("[0, 1]", "[3, 512, True]"),
        "YOLOEDetect": ("[0, 1]", "[3, 512, True]"),
        "YOLOESegment": ("[0, 1]", "[3, 16, 32, 512, True]"),
        "YOLOESegment26": ("[0, 1]", "[3, 16, 32, 512, True]"),
        "TorchVision": ("-1", "[256, resnet50, DEFAULT, True, 5]"),
        "nn.MaxPool2d": ("-1", "[3, 2, 1]"),
        "Detect": ("[0, -1]", "[5]"),
        "C3k2": ("-1", "[32, True, 0.5]"),
        "C2PSA": ("-1", "[32]"),
        "HGStem": ("-1", "[16, 24]"),
        "HGBlock": ("-1", "[16, 32, 3, True, True]"),
        "DWConv": ("-1", "[32, 3, 2]"),
        "ResNetLayer": ("-1", "[32, 16, 2, False, 2]"),
        "A2C2f": ("-1", "[64, True, 2]"),
        "SemanticSegment": ("[-1, 0]", "[7]"),
        "Depth": ("[0, -1]", "[32]"),
        "Segment": ("[0, -1]", "[5, 8, 16]"),
        "Segment26": ("[0, -1]", "[5, 8, 16]"),
        "Pose": ("[0, -1]", "[2, [4, 3]]"),
        "Pose26": ("[0, -1]", "[2, [4, 2]]"),
        "OBB": ("[0, -1]", "[3, 1]"),
        "OBB26": ("[0, -1]", "[3]"),
        "Classify": ("-1", "[10, 3]"),
    ]

    @Test("YAML names are unique across types")
    func uniqueNames() {
        let names = ModuleRegistry.allNames
        #expect(Set(names).count == names.count)
    }

    @Test("signatures: unique labels and YAML names, required before defaulted", arguments: ModuleRegistry.allNames)
    func signatures(_ name: String) throws {
        let type = try #require(ModuleRegistry.type(named: name))
        let parameters = type.signature.parameters
        #expect(Set(parameters.map(\.label)).count == parameters.count)
        #expect(Set(parameters.map(\.yamlName)).count == parameters.count)
        if let firstDefault = parameters.firstIndex(where: { $0.defaultValue != nil }) {
            #expect(parameters[firstDefault...].allSatisfy { $0.defaultValue != nil })
        }
        for parameter in parameters {
            guard let value = parameter.defaultValue else { continue }
            #expect(parameter.kind.accepts(value), "\(name).\(parameter.yamlName) default \(value)")
        }
    }

    /// Rows a sample needs before it (layer 2 onwards): CBFuse reads a CBLinear tuple.
    static let preambles: [String: String] = [
        "CBFuse": "  - [0, 1, CBLinear, [[16, 32]]]\n",
    ]

    /// Builds the sample after two Convs (layer 0: 32 channels at 32×32, layer 1: 32 at 16×16 from a
    /// 64×64 image); a StarNet or TorchVision backbone takes the image itself.
    static func sampleGraph(_ name: String, repeats: Int = 1) throws -> ModelGraph {
        let yaml: String
        if name.hasPrefix("starnet") || name == "TorchVision" {
            // backbones that take the image itself
            yaml = "nc: 3\nbackbone:\n  - [-1, \(repeats), \(name), \(samples[name]?.args ?? "[]")]\nhead: []\n"
        } else {
            let row = samples[name] ?? ("-1", "[]")
            yaml = """
            nc: 3
            backbone:
              - [-1, 1, Conv, [32, 3, 2]]
              - [-1, 1, Conv, [32, 3, 2]]
            head:
            \(preambles[name] ?? "")  - [\(row.from), \(repeats), \(name), \(row.args)]
            """
        }
        return try buildGraph(yaml, options: BuildOptions(imageHeight: 64, imageWidth: 64))
    }

    @Test("repeats chain copies or give a located error (a multi-input row cannot chain)", arguments: ModuleRegistry.allNames)
    func repeatedSample(_ name: String) throws {
        for repeats in [2, 3] {
            let graph = try RegistryTests.sampleGraph(name, repeats: repeats)
            let errors = graph.errors
            // every error points into the file, at the sample's row
            #expect(errors.allSatisfy { $0.location != nil && $0.layerIndex != nil }, "\(name) ×\(repeats): \(errors)")
            guard errors.isEmpty, let layer = graph.layers.last else { continue }
            if layer.from.count > 1 { Issue.record("\(name) ×\(repeats) reads \(layer.from.count) inputs and still built") }
            if !type(of: layer.module).takesRepeats && layer.copies != repeats { Issue.record("\(name) ×\(repeats): \(layer.copies) copies") }
        }
    }

    @Test("shape rule agrees with the channel rule; parameter count is the sum of declared tensors",
          arguments: ModuleRegistry.allNames)
    func consistency(_ name: String) throws {
        let graph = try RegistryTests.sampleGraph(name)
        #expect(graph.errors.isEmpty, "\(graph.errors)")
        let layer = try #require(graph.layers.last)
        #expect(layer.moduleName == name)
        let shapes = try #require(layer.outputShapes)
        if let groups = layer.module.outputGroups {
            // a tuple (CBLinear): one shape per piece, its index holding them concatenated
            #expect(shapes.map { $0[1] } == groups && layer.outputChannels == [groups.reduce(0, +)])
        } else {
            // one shape per index, then a head's further results (Segment's prototypes)
            #expect(shapes.count == layer.outputChannels.count + max(layer.module.resultNames.count - 1, 0))
        }
        if name != "RTDETRDecoder" && layer.module.outputGroups == nil {
            #expect(shapes.prefix(layer.outputChannels.count).map { $0[1] } == layer.outputChannels)
        }
        let declared = layer.tree.parameterKeys(prefix: "").reduce(0) { $0 + $1.elementCount }
        #expect(declared == layer.parameterCount)
        let keys = layer.tree.stateDictionary(prefix: layer.keyPrefix).map(\.name)
        #expect(Set(keys).count == keys.count, "state_dict keys are unique")
        #expect(keys.allSatisfy { $0.hasPrefix("model.\(layer.row.row).") })
        #expect((layer.multiplyAdds ?? -1) >= 0)
    }

    @Test("an unknown module lists the nearest names")
    func unknownModule() throws {
        let graph = try buildGraph("nc: 1\nbackbone:\n  - [-1, 1, DySampel, []]\nhead: []\n")
        #expect(graph.errors.first?.message == "unknown module 'DySampel'; did you mean 'DySample'?")
    }

    @Test("width scaling and depth gain follow Ultralytics (make_divisible, half-to-even round)")
    func scaling() throws {
        let yaml = """
        nc: 1
        scales:
          n: [0.33, 0.25, 1024]
          x: [1.00, 1.25, 512]
        backbone:
          - [-1, 1, Conv, [100, 3, 2]]
          - [-1, 3, RepC3, [1024]]
          - [-1, 2, RepC3, [64]]
        head: []
        """
        let small = try buildGraph(yaml, options: BuildOptions(scale: "n"))
        #expect(small.layers.map(\.outputChannels) == [[32], [256], [16]])  // ceil(25/8)*8 = 32
        #expect(small.layers.map(\.repeats) == [1, 1, 1])                    // round(0.99) = 1, round(0.66) = 1
        let large = try buildGraph(yaml, options: BuildOptions(scale: "x"))
        #expect(large.layers.map(\.outputChannels) == [[128], [640], [80]])   // min(1024, 512) * 1.25
        let depth = try buildGraph("nc: 1\ndepth_multiple: 0.5\nbackbone:\n  - [-1, 5, RepC3, [16]]\n  - [-1, 3, RepC3, [16]]\nhead: []\n")
        #expect(depth.layers.map(\.repeats) == [2, 2])  // round(2.5) = 2 (half to even), round(1.5) = 2
    }
}
