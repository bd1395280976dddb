import ArgumentParser
import Foundation

/// `modelgraph`: the root command, its subcommands one per file.
public struct ModelGraphCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "modelgraph",
        abstract: "Build, check, summarise and run Ultralytics-style YAML model files.",
        subcommands: [SummaryCommand.self, CheckCommand.self, RunCommand.self, BenchCommand.self, CompareCommand.self, DiffCommand.self, GraphCommand.self, InfoCommand.self, ConvertCommand.self, PredictCommand.self, ExportCommand.self, TransferCommand.self])

    public init() {}

    /// Parses and runs the command line; usage errors exit 2 (argument-parser's default is 64).
    public static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if code == .validationFailure {
                printError(fullMessage(for: error))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }
}
