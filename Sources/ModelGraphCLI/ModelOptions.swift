import ArgumentParser
import Foundation
import ModelGraph
import enum ModelSpec.Limits
import YAMLFrontEnd

/// `--imgsz 640` or `--imgsz 512,384` (height, width).
struct ImageSize: ExpressibleByArgument, Sendable {
    var height: Int
    var width: Int

    init?(argument: String) {
        let parts = argument.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 1 || parts.count == 2, let height = parts[0], let width = parts.last ?? nil, height >= 1, width >= 1 else {
            return nil
        }
        self.height = height
        self.width = width
    }

    init(height: Int, width: Int) {
        self.height = height
        self.width = width
    }

    static var defaultValueDescription: String { "640" }
}

/// Options every model command shares.
struct ModelOptions: ParsableArguments {
    @Argument(help: "The model YAML file.")
    var config: String

    @Option(help: "Scale from the file's `scales:` (default: the first one listed).")
    var scale: String?

    @Option(help: ArgumentHelp("Input size: H, or H,W.", valueName: "H[,W]"))
    var imgsz: ImageSize = ImageSize(argument: "640")!

    @Option(help: "Batch size.")
    var batch: Int = 1

    func validate() throws {
        // the library checks these too; here they are usage errors (exit 2)
        let largest = Limits.largestNumber
        guard (1...largest).contains(batch) else { throw ValidationError("--batch must be from 1 to \(largest), found \(batch)") }
        guard imgsz.height <= largest, imgsz.width <= largest else {
            throw ValidationError("--imgsz must be at most \(largest) per side, found \(imgsz.height),\(imgsz.width)")
        }
    }

    var buildOptions: BuildOptions {
        BuildOptions(scale: scale, imageHeight: imgsz.height, imageWidth: imgsz.width, batch: batch)
    }

    /// Reads and builds the model; on a syntax or schema error prints every diagnostic and exits 1.
    func loadGraph() throws -> ModelGraph {
        let text: String
        do {
            text = try String(contentsOfFile: config, encoding: .utf8)
        } catch {
            printError("\(config): error: cannot read the model file (\(describeFileError(error)))")
            throw ExitCode(1)
        }
        do {
            return try ModelGraph.build(yaml: text, file: config, options: buildOptions)
        } catch {
            for diagnostic in error.diagnostics { printError(diagnostic.description) }
            throw ExitCode(1)
        }
    }
}

func describeFileError(_ error: Error) -> String {
    let nsError = error as NSError
    if nsError.domain == NSCocoaErrorDomain {
        switch nsError.code {
        case NSFileReadNoSuchFileError: return "no such file"
        case NSFileReadNoPermissionError: return "permission denied"
        case NSFileReadInapplicableStringEncodingError: return "not UTF-8 text"
        default: break
        }
    }
    return nsError.localizedDescription
}

func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
