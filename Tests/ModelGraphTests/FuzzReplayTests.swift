import Foundation
import FuzzHarnesses
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

    @Test func imageFiles() throws {
        let seeds = Self.files(Self.fixtures.appendingPathComponent("images"), suffixes: [".jpg", ".png", ".bmp"])
        #expect(try Self.replay(seeds, through: fuzzImage) >= 3 * 10)
    }
}
