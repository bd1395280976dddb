import Foundation
import Testing
import ModelGraph
import YAMLFrontEnd

/// Mutated configs: every number in every config replaced, one at a time, by hostile values.
/// The build must return (a graph or located errors) — a trap would end the test process.
@Suite("Robustness: no crash on any input")
struct RobustnessTests {
    static let configNames = ((try? FileManager.default.contentsOfDirectory(atPath: Paths.configs.path)) ?? [])
        .filter { $0.hasSuffix(".yaml") }.sorted()
    static let hostile = ["0", "-1", "-65537", "65536", "65537", "99999999999", "1e300", "-1e-300", "nan", ".inf", "None", "[]", "'x'", "[[[1]]]"]

    @Test("every number replaced by hostile values builds or reports located errors", arguments: RobustnessTests.configNames)
    func mutatedNumbers(_ name: String) throws {
        let text = try String(contentsOf: Paths.configs.appendingPathComponent(name), encoding: .utf8)
        let pattern = try NSRegularExpression(pattern: "(?<![A-Za-z_0-9.])-?[0-9]+(\\.[0-9]+)?(?![A-Za-z_0-9])")
        let matches = pattern.matches(in: text, range: NSRange(text.startIndex..., in: text))
        var built = 0, rejected = 0
        for (position, match) in matches.enumerated() {
            let range = Range(match.range, in: text)!
            // comments hold numbers too; mutating them must change nothing, which is also fine
            let value = RobustnessTests.hostile[position % RobustnessTests.hostile.count]
            let mutated = text.replacingCharacters(in: range, with: value)
            for options in [BuildOptions(), BuildOptions(imageHeight: 33, imageWidth: 17, batch: 3)] {
                do {
                    let graph = try ModelGraph.build(yaml: mutated, file: name, options: options)
                    for error in graph.errors { #expect(error.location != nil, "\(error)") }
                    _ = graph.summaryTable()
                    _ = graph.summaryJSON().rendered()
                    built += 1
                } catch {
                    #expect(!error.diagnostics.isEmpty)
                    rejected += 1
                }
            }
        }
        #expect(built + rejected == 2 * matches.count)
    }

    @Test("deep nesting, empty files, binary noise and odd YAML are errors, not crashes",
          arguments: [String(repeating: "[", count: 100_000), "", "\u{0}\u{1}\u{2}", "---\n...\n", "- a\n- b\n", "a: *x",
                      "backbone: [[-1, 1, Conv, [" + String(repeating: "[", count: 70) + "]]]]\nhead: []",
                      "nc: 1\nbackbone:\n  - [-1, 1, Conv, [65536, 65536, 1, None, 1, 65536]]\nhead: []\n",
                      "nc: 1\nbackbone:\n  - [-1, 1, CARAFE, [3, 65535, 64, 65535]]\nhead: []\n",
                      "nc: 1\nbackbone:\n  - [-1, 4096, DySample, [65536]]\nhead: []\n",
                      "nc: 1\nwidth_multiple: 16\nbackbone:\n  - [-1, 4096, RepC3, [65536, 65536]]\nhead: []\n",
                      // the stride probe behind the input-size hint walks these too
                      "nc: 1\nbackbone:\n" + String(repeating: "  - [-1, 1, nn.Upsample, [None, 65536]]\n", count: 5) + "head: []\n"])
    func hostileFiles(_ text: String) {
        do {
            let graph = try ModelGraph.build(yaml: text, file: "hostile.yaml")
            _ = graph.summaryTable()
        } catch {
            #expect(!error.diagnostics.isEmpty)
        }
    }
}
