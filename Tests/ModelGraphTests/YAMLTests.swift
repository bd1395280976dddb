import Testing
import ModelSpec
import YAMLFrontEnd

@Suite("YAML front end")
struct YAMLTests {
    @Test("block and flow styles, comments and quotes keep line:column")
    func locations() throws {
        let text = """
        # comment
        nc: 80   # trailing
        backbone:
          - [-1, 1, Conv, [64, 3, 2]]
          -
            - -1
            - 1
            - "Conv"
            - [128, 'nearest', "x"]
        """
        let root = try YAMLParser.parse(text, file: "f.yaml")
        let rows = try #require(root["backbone"]?.sequence)
        #expect(rows.count == 2)
        #expect(rows[0].location == SourceLocation(line: 4, column: 5))
        #expect(rows[0].sequence?[2].scalar == "Conv")
        #expect(rows[0].sequence?[2].location == SourceLocation(line: 4, column: 13))
        #expect(rows[1].sequence?[2].isPlainScalar == false)
        #expect(rows[1].sequence?[3].sequence?[1].scalar == "nearest")
        #expect(root["nc"]?.location == SourceLocation(line: 2, column: 5))
    }

    @Test("anchors, aliases and merge keys resolve")
    func anchors() throws {
        let text = """
        base: &base {a: 1, b: 2}
        derived:
          <<: *base
          b: 3
        list: &l [1, 2]
        again: *l
        """
        let root = try YAMLParser.parse(text, file: "f.yaml")
        #expect(root["derived"]?["a"]?.scalar == "1")
        #expect(root["derived"]?["b"]?.scalar == "3")
        #expect(root["again"]?.sequence?.map(\.scalar) == ["1", "2"])
    }

    @Test("syntax errors are located")
    func syntaxError() {
        #expect(throws: Diagnostic.self) { try YAMLParser.parse("a: [1, 2\nb: 3", file: "bad.yaml") }
        do {
            _ = try YAMLParser.parse("a: b: c", file: "bad.yaml")
            Issue.record("no error")
        } catch {
            #expect(error.location == SourceLocation(line: 1, column: 5))
            #expect(error.description.hasPrefix("bad.yaml:1:5: error: YAML syntax:"))
        }
    }

    @Test("scalars read as PyYAML + literal_eval read them",
          arguments: [("None", ArgumentValue.null), ("null", .null), ("~", .null), ("True", .bool(true)), ("false", .bool(false)),
                      ("3", .int(3)), ("-1", .int(-1)), ("0.5", .float(0.5)), ("1e-3", .float(0.001)), ("nearest", .string("nearest"))])
    func scalars(_ text: String, _ value: ArgumentValue) throws {
        let spec = try ModelSpec.parse("nc: 1\nbackbone:\n  - [-1, 1, M, [\(text)]]\nhead: []\n", file: "f.yaml")
        #expect(spec.rows[0].arguments.first?.value == value)
    }

    @Test("quoted None is still None (Ultralytics literal_evals every string), and nc resolves")
    func quotedAndSymbols() throws {
        let spec = try ModelSpec.parse("nc: 7\nbackbone:\n  - [-1, 1, M, ['None', nc, \"nc\"]]\nhead: []\n", file: "f.yaml")
        #expect(spec.rows[0].arguments.map(\.value) == [.null, .int(7), .int(7)])
        #expect(spec.rows[0].arguments[1].symbol == "nc")
    }

    @Test("Python reprs for the arguments column")
    func reprs() {
        let value = ArgumentValue.list([.int(1), .float(1.0), .float(0.25), .null, .bool(false), .string("nearest"), .list([.int(2)])])
        #expect(value.description == "[1, 1.0, 0.25, None, False, 'nearest', [2]]")
    }

    @Test("unknown top-level keys warn with the nearest known key")
    func unknownKeys() throws {
        let warnings = try ModelSpec.parse("nc: 1\nbackbon: []\nbackbone: [[-1, 1, Conv, [8]]]\nhead: []\n", file: "f.yaml").warnings
        #expect(warnings.map(\.description) == ["f.yaml:2:1: warning: unknown key 'backbon' is ignored (did you mean 'backbone'?)"])
    }
}
