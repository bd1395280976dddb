import Foundation
import Testing
@testable import ModelGraph

/// One reference printout (scripts/make-goldens from the PyTorch oracle).
struct Golden: Decodable {
    struct Row: Decodable {
        var index: Int
        var row: Int
        var frm: FromValue
        var n: Int
        var module: String
        var args: String
        var params: Int
        var modules: Int
    }

    enum FromValue: Decodable {
        case one(Int), many([Int])
        init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let value = try? container.decode(Int.self) { self = .one(value) } else { self = .many(try container.decode([Int].self)) }
        }
        var values: [Int] { switch self { case .one(let v): return [v]; case .many(let v): return v } }
    }

    /// A shape entry: a tensor shape, or (for the decoder) a nested list whose first item is the output.
    enum ShapeValue: Decodable {
        case shape([Int]), nested([ShapeValue]), none
        init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() { self = .none }
            else if let shape = try? container.decode([Int].self) { self = .shape(shape) }
            else { self = .nested(try container.decode([ShapeValue].self)) }
        }
        var primary: [Int]? {
            switch self {
            case .shape(let s): return s
            case .nested(let items): return items.first?.primary
            case .none: return nil
            }
        }
    }

    var config: String
    var scale: String?
    var imgsz: [Int]
    var batch: Int
    var params: Int
    var all_modules: Int
    var rows: [Row]
    var shapes: [String: ShapeValue]
    var state_dict: [[StateEntry]]?
    var params_fused: Int?

    enum StateEntry: Decodable {
        case name(String), shape([Int])
        init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let name = try? container.decode(String.self) { self = .name(name) } else { self = .shape(try container.decode([Int].self)) }
        }
    }

    static func load(_ name: String) throws -> Golden {
        let data = try Data(contentsOf: Paths.goldens.appendingPathComponent(name + ".json"))
        return try JSONDecoder().decode(Golden.self, from: data)
    }

    func build() throws -> ModelGraph {
        let url = Paths.config(named: config)
        let text = try String(contentsOf: url, encoding: .utf8)
        return try ModelGraph.build(yaml: text, file: config,
                                    options: BuildOptions(scale: scale, imageHeight: imgsz[0], imageWidth: imgsz[1], batch: batch))
    }
}

/// One printed row against a reference's: index, module, `from`, repeats, parameters, arguments.
func expectRow(_ layer: ResolvedLayer, index: Int, module: String, from: Golden.FromValue, repeats: Int, parameters: Int,
               arguments: String, label: String) {
    #expect(layer.index == index, "\(label)")
    #expect(layer.moduleName == module, "\(label)")
    #expect(layer.row.from.map(\.value) == from.values, "\(label)")
    #expect(layer.repeats == repeats, "\(label)")
    #expect(layer.parameterCount == parameters, "\(label)")
    #expect(layer.printedArguments.description == arguments, "\(label)")
}

@Suite("Goldens from the PyTorch reference")
struct GoldenTests {
    @Test("at least 35 golden fixtures are present")
    func fixturesPresent() {
        #expect(Paths.goldenNames().count >= 35)
    }

    @Test("parameters, module counts, arguments and shapes equal the reference", arguments: Paths.goldenNames())
    func matchesReference(_ name: String) throws {
        let golden = try Golden.load(name)
        let graph = try golden.build()
        #expect(graph.errors.isEmpty, "\(graph.errors)")
        #expect(graph.parameterCount == golden.params)
        #expect(graph.moduleCount == golden.all_modules)
        #expect(graph.layers.count == golden.rows.count)
        for (layer, row) in zip(graph.layers, golden.rows) {
            let label = "\(name) row \(row.row) \(row.module)"
            expectRow(layer, index: row.index, module: row.module, from: row.frm, repeats: row.n, parameters: row.params,
                      arguments: row.args, label: label)
            #expect(layer.tree.moduleCount == row.modules, "\(label)")
            for (offset, shape) in (layer.outputShapes ?? []).enumerated() {
                #expect(golden.shapes[String(layer.index + offset)]?.primary == shape, "\(label) output \(offset)")
            }
            #expect(layer.outputShapes?.count == layer.outputChannels.count, "\(label)")
        }
        #expect(golden.shapes.count == graph.layers.last.map { $0.indices.upperBound }, "every index has a shape")
    }

    @Test("state_dict keys and shapes equal PyTorch's, in order",
          arguments: Paths.goldenNames().filter { (try? Golden.load($0).state_dict) != nil })
    func stateDictionary(_ name: String) throws {
        let golden = try Golden.load(name)
        let graph = try golden.build()
        let expected = golden.state_dict!.map { entry -> (String, [Int]) in
            guard case .name(let key) = entry[0], case .shape(let shape) = entry[1] else { return ("", []) }
            return (key, shape)
        }
        let ours = graph.stateDictionary
        #expect(ours.count == expected.count)
        for (mine, theirs) in zip(ours, expected) {
            #expect(mine.name == theirs.0)
            #expect(mine.shape == theirs.1, "\(mine.name)")
        }
    }

    @Test("the seed's own printout: 18,716,999 parameters with its per-row figures")
    func seedPrintout() throws {
        let text = try String(contentsOf: Paths.configs.appendingPathComponent("rtdetr-starnet-freqfusion.yaml"), encoding: .utf8)
        let graph = try buildGraph(text, file: "rtdetr-starnet-freqfusion.yaml")
        // From ../shared/seeds/002 (the blog's own Ultralytics printout), row by row.
        let seedRows = [413472, 33280, 789760, 66048, 8704, 16896, 66048, 52514, 2101248, 66048, 52514, 2101248,
                        590336, 0, 2232320, 590336, 0, 2232320, 7303907]
        #expect(graph.layers.map(\.parameterCount) == seedRows)
        #expect(graph.parameterCount == 18_716_999)
        #expect(graph.summaryLine.hasPrefix("rtdetr-starnet-freqfusion summary: 492 layers, 18,716,999 parameters, 18,716,999 gradients, "))
    }
}
