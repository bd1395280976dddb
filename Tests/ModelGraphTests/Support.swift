import Dispatch
import Foundation
import ModelGraph

/// Paths the tests read: the package root (configs/) and the fixtures bundle.
enum Paths {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let fixtures = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
    static let goldens = fixtures.appendingPathComponent("goldens")
    static let fixtureConfigs = fixtures.appendingPathComponent("configs")
    static let configs = packageRoot.appendingPathComponent("configs")

    /// The built `modelgraph` next to the test bundle.
    static var executable: URL {
        var directory = Bundle.module.bundleURL.deletingLastPathComponent()
        for _ in 0..<3 {
            let candidate = directory.appendingPathComponent("modelgraph")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        return packageRoot.appendingPathComponent(".build/debug/modelgraph")
    }

    static func config(named name: String) -> URL {
        let inConfigs = configs.appendingPathComponent(name)
        return FileManager.default.fileExists(atPath: inConfigs.path) ? inConfigs : fixtureConfigs.appendingPathComponent(name)
    }

    static func goldenNames() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: goldens.path)) ?? []
        return names.filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }.sorted()
    }
}

/// Builds a graph from YAML text, failing the test on syntax or schema errors.
func buildGraph(_ yaml: String, file: String = "test.yaml", options: BuildOptions = BuildOptions()) throws -> ModelGraph {
    try ModelGraph.build(yaml: yaml, file: file, options: options)
}

struct CommandResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs the built CLI with arguments and captures its output.
func runCLI(_ arguments: [String], in directory: URL = Paths.packageRoot) throws -> CommandResult {
    let process = Process()
    process.executableURL = Paths.executable
    process.arguments = arguments
    process.currentDirectoryURL = directory
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // both pipes drain at once: reading one to its end first would deadlock on a child that
    // fills the other's 64 KiB buffer (a sanitizer report does)
    final class Collected: @unchecked Sendable { var data = Data() }
    let errors = Collected(), group = DispatchGroup()
    DispatchQueue.global().async(group: group) { errors.data = err.fileHandleForReading.readDataToEndOfFile() }
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    let stderr = errors.data
    process.waitUntilExit()
    return CommandResult(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                         stderr: String(decoding: stderr, as: UTF8.self))
}
