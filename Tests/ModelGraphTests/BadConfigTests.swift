import Foundation
import Testing
import ModelGraph
import YAMLFrontEnd

/// The corpus in Fixtures/bad: each file states, in `# expect:` lines, the located diagnostics
/// `modelgraph check` must report (all of them, in one run), and in `# options:` the CLI options.
@Suite("Bad configs give located, specific errors")
struct BadConfigTests {
    static let directory = Paths.fixtures.appendingPathComponent("bad")
    static let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
        .filter { $0.hasSuffix(".yaml") }.sorted()

    @Test("the corpus has at least 30 cases")
    func corpusSize() {
        #expect(BadConfigTests.names.count >= 30)
    }

    static func diagnostics(for name: String) throws -> (expected: [String], found: [Diagnostic]) {
        let text = try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let expected = lines.compactMap { $0.hasPrefix("# expect: ") ? name + ":" + $0.dropFirst("# expect: ".count) : nil }
        var options = BuildOptions()
        if let line = lines.first(where: { $0.hasPrefix("# options: ") }) {
            let words = line.dropFirst("# options: ".count).split(separator: " ").map(String.init)
            for (flag, value) in zip(words, words.dropFirst()) {
                switch flag {
                case "--imgsz":
                    let parts = value.split(separator: ",").compactMap { Int($0) }
                    options.imageHeight = parts[0]
                    options.imageWidth = parts.last!
                case "--scale": options.scale = value
                default: break
                }
            }
        }
        do {
            let graph = try ModelGraph.build(yaml: text, file: name, options: options)
            return (expected, graph.errors)
        } catch {
            return (expected, error.errors)
        }
    }

    @Test("reports exactly the expected located error", arguments: BadConfigTests.names)
    func reportsExpected(_ name: String) throws {
        let (expected, found) = try BadConfigTests.diagnostics(for: name)
        #expect(!expected.isEmpty, "\(name) states no expectation")
        #expect(found.map(\.description) == expected)
    }

    @Test("every error names file, line and column")
    func everyErrorIsLocated() throws {
        for name in BadConfigTests.names {
            let (_, found) = try BadConfigTests.diagnostics(for: name)
            for diagnostic in found {
                #expect(diagnostic.location != nil, "\(diagnostic)")
                #expect(diagnostic.file == name)
            }
        }
    }
}
