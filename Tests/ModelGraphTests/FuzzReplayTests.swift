import Foundation
import FuzzHarnesses
import ModelGraphCommands
import Testing

/// The fuzzing harnesses (scripts/fuzz) over their seed corpora, and over each seed cut short
/// and with its bytes flipped: they must return on every input (a trap ends the test process).
@Suite("Fuzzing harnesses replay their seeds")
struct FuzzReplayTests {
    static let fixtures = Paths.fixtures

    static func files(_ directory: URL, suffixes: [String]) -> [URL] {
        let enumerator = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: nil)
        return (enumerator?.allObjects as? [URL] ?? []).filter { url in suffixes.contains { url.lastPathComponent.hasSuffix($0) } }
            .sorted { $0.path < $1.path }
    }

    /// The seed, its first half, and a copy with every 97th byte inverted.
    static func variants(of data: Data) -> [Data] {
        var flipped = data
        for index in stride(from: flipped.startIndex, to: flipped.endIndex, by: 97) { flipped[index] ^= 0xFF }
        return [data, data.prefix(data.count / 2), flipped]
    }

    static func replay(_ files: [URL], through harness: (UnsafeRawBufferPointer) -> Void) throws -> Int {
        var count = 0
        for file in files {
            for variant in variants(of: try Data(contentsOf: file)) {
                variant.withUnsafeBytes { harness($0) }
                count += 1
            }
        }
        return count
    }

    @Test func modelFiles() throws {
        let configs = ((try? FileManager.default.contentsOfDirectory(at: Paths.configs, includingPropertiesForKeys: nil)) ?? [])
            .filter { $0.pathExtension == "yaml" }
        let seeds = configs + Self.files(Self.fixtures.appendingPathComponent("bad"), suffixes: [".yaml"])
        #expect(try Self.replay(seeds, through: fuzzModel) >= 3 * 70)
    }

    @Test func safetensorsFiles() throws {
        let seeds = Array(Self.files(Self.fixtures.appendingPathComponent("checkpoints"), suffixes: [".safetensors"]).prefix(6))
        #expect(try Self.replay(seeds, through: fuzzSafeTensors) >= 3 * 6)
    }

    @Test func checkpointFiles() throws {
        let seeds = Array(Self.files(Self.fixtures.appendingPathComponent("checkpoints"), suffixes: [".pt"]).prefix(3))
        #expect(try Self.replay(seeds, through: fuzzCheckpoint) == 3 * 3)
    }

    /// Python sources: the semantics corpus, the hostile sources and the tiny fork's modules.
    @Test func pythonSources() throws {
        // empty files are left out: Foundation's Data(contentsOf:) leaks a buffer reading one
        let seeds = (Self.files(Self.fixtures.appendingPathComponent("python"), suffixes: [".py"])
            + Self.files(Self.fixtures.appendingPathComponent("forks"), suffixes: [".py"]))
            .filter { ((try? FileManager.default.attributesOfItem(atPath: $0.path)[.size] as? Int) ?? 0) > 0 }
        let count = onLargeStack { (try? Self.replay(seeds, through: fuzzPython)) ?? 0 }
        #expect(count >= 3 * 28)
    }

    @Test func imageFiles() throws {
        let seeds = Self.files(Self.fixtures.appendingPathComponent("images"), suffixes: [".jpg", ".png", ".bmp"])
        #expect(try Self.replay(seeds, through: fuzzImage) >= 3 * 10)
    }

    /// Fuzz/options.seeds: its two groups of command lines, as argument lists.
    static func commandLines() throws -> (parse: [[String]], stop: [[String]]) {
        let text = try String(contentsOf: Paths.packageRoot.appendingPathComponent("Fuzz/options.seeds"), encoding: .utf8)
        var groups: [String: [[String]]] = [:], group = ""
        for line in text.split(separator: "\n") {
            if line == "# parse" || line == "# stop" { group = String(line.dropFirst(2)); continue }
            if line.hasPrefix("#") { continue }
            groups[group, default: []].append(line.split(separator: " ").map(String.init))
        }
        return (groups["parse"] ?? [], groups["stop"] ?? [])
    }

    @Test func commandLinesParseOrStopAsTheSeedsSay() throws {
        let lines = try Self.commandLines()
        #expect(lines.parse.count >= 20 && lines.stop.count >= 8)
        for arguments in lines.parse {
            #expect(throws: Never.self, "\(arguments)") { _ = try ModelGraphCommand.parseAsRoot(arguments) }
        }
        for arguments in lines.stop {
            do {
                _ = try ModelGraphCommand.parseAsRoot(arguments)
                Issue.record("\(arguments) parsed")
            } catch {
                // a usage error, which modelgraph exits 2 for
                #expect(ModelGraphCommand.exitCode(for: error) == .validationFailure, "\(arguments)")
            }
        }
        // and the harness, over each line as the fuzzer gets it and cut short
        for arguments in lines.parse + lines.stop {
            let bytes = Data(arguments.joined(separator: "\n").utf8)
            for variant in Self.variants(of: bytes) { variant.withUnsafeBytes { fuzzOptions($0) } }
        }
    }
}
