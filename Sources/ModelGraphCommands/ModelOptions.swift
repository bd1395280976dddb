import ArgumentParser
import Checkpoint
import Foundation
import ModelGraph
import enum ModelSpec.Limits
import enum ModelSpec.ModelNames
import struct ModelSpec.ModelSpec
import enum Tensor.InputFile
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

    var defaultValueDescription: String { height == width ? "\(height)" : "\(height),\(width)" }
}

/// Options every model command shares.
struct ModelOptions: ParsableArguments {
    @Argument(help: "The model: a YAML file, an official architecture name (yolo11n.yaml), or an Ultralytics .pt checkpoint (its own YAML and weights).")
    var config: String

    @Option(help: "Scale from the file's `scales:` (default: the first one listed).")
    var scale: String?

    @Option(help: ArgumentHelp("Input size: H, or H,W.", valueName: "H[,W]"))
    var imgsz: ImageSize = ImageSize(argument: "640")!

    @Option(help: "Batch size.")
    var batch: Int = 1

    @Option(help: ArgumentHelp("Whose code builds the model: a fork's folder (the one holding `ultralytics/`), or `builtin` for ModelGraph's own builder. Default: the fork a YAML lies in, if any.", valueName: "DIR|builtin"))
    var source: String?

    @Flag(name: .customLong("end2end"),
          help: "Heads with one-to-one branches (end2end: True, YOLO26) infer through them and return the top-300 detections [B, 300, 6 + extra] (Ultralytics' model.end2end = True).")
    var endToEnd = false

    func validate() throws {
        // the library checks these too; here they are usage errors (exit 2)
        let largest = Limits.largestNumber
        guard (1...largest).contains(batch) else { throw ValidationError("--batch must be from 1 to \(largest), found \(batch)") }
        guard imgsz.height <= largest, imgsz.width <= largest else {
            throw ValidationError("--imgsz must be at most \(largest) per side, found \(imgsz.height),\(imgsz.width)")
        }
    }

    var buildOptions: BuildOptions {
        BuildOptions(scale: scale, imageHeight: imgsz.height, imageWidth: imgsz.width, batch: batch, endToEnd: endToEnd)
    }

    /// Reads and builds the model; on a syntax or schema error prints every diagnostic and exits 1.
    /// A name that is no file here but an official architecture (`yolo11n.yaml`, `rtdetr-l.yaml`)
    /// reads the package's own YAML; the scale comes from --scale, else from the name as
    /// Ultralytics reads it (`yolov8s.yaml` → s), else the file's first.
    func loadGraph() throws -> ModelGraph {
        try loadModel().graph
    }

    /// The graph, and the checkpoint when the model is a `.pt` (built from the YAML it carries,
    /// at the scale it was trained at unless --scale says otherwise).
    func loadModel() throws -> (graph: ModelGraph, checkpoint: UltralyticsCheckpoint?) {
        var checkpoint: UltralyticsCheckpoint?
        let source: ModelSource
        var name = URL(fileURLWithPath: config).deletingPathExtension().lastPathComponent
        var checkpointScale: String?
        if Checkpoints.isCheckpoint(config) {
            let read = try Checkpoints.read(config)
            let yaml = try Checkpoints.modelYAML(read)
            source = ModelSource(text: yaml.text, file: "\(config) (its model YAML)")
            if let file = yaml.sourceFile { name = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent }
            checkpointScale = yaml.scale.flatMap { $0.isEmpty ? nil : $0 }
            checkpoint = read
        } else {
            source = try ModelSource.resolve(config)
        }
        let spec: ModelSpec
        do {
            // the summary is named as the user named the model (yolo11n), as Ultralytics does
            spec = try ModelSpec.parse(source.text, file: source.file, name: name)
        } catch {
            for diagnostic in error.diagnostics { printError(diagnostic.description) }
            throw ExitCode(1)
        }
        var options = buildOptions
        // a --scale the file cannot take is a usage error (exit 2), as a bad option value is
        if let requested = options.scale, !spec.scales.contains(where: { $0.name == requested }) {
            let position = spec.scales.first.map { ":\($0.location.line):\($0.location.column)" } ?? ""
            printError("\(source.file)\(position): error: --scale \(requested) given, but " + (spec.scales.isEmpty ? "the file has no `scales:`"
                       : "the file's `scales:` lists \(spec.scales.map(\.name).joined(separator: ", "))"))
            throw ExitCode(2)
        }
        if options.scale == nil, let checkpointScale { options.scale = checkpointScale }
        if options.scale == nil, checkpoint == nil, let named = ModelNames.scale(fromFileName: config), !spec.scales.isEmpty {
            guard spec.scales.contains(where: { $0.name == named }) else {
                printError("\(source.file): error: the name \(config) asks for scale '\(named)', but the file's `scales:` lists \(spec.scales.map(\.name).joined(separator: ", "))")
                throw ExitCode(1)
            }
            options.scale = named
        }
        do {
            return (try ModelGraph.build(spec: spec, options: options), checkpoint)
        } catch {
            for diagnostic in error.diagnostics { printError(diagnostic.description) }
            throw ExitCode(1)
        }
    }
}

/// Where a model's YAML comes from: the file named, or the package's copy of an official
/// architecture of that name.
struct ModelSource {
    var text: String
    /// The name diagnostics show.
    var file: String

    /// The official architectures shipped with the tool, next to its executable.
    static var architecturesDirectory: URL? {
        guard let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else { return nil }
        let directory = URL(fileURLWithPath: executable).deletingLastPathComponent()
            .appendingPathComponent("ModelGraph_ModelGraphCommands.resources/Architectures")
        return FileManager.default.fileExists(atPath: directory.path) ? directory : nil
    }

    static var architectureNames: [String] {
        guard let directory = architecturesDirectory,
              let names = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else { return [] }
        return names.filter { $0.hasSuffix(".yaml") }.sorted()
    }

    /// The file, else the official architecture of that name; a problem prints its message and exits 1.
    static func resolve(_ path: String) throws -> ModelSource {
        switch find(path) {
        case .success(let source): return source
        case .failure(let problem):
            printError(problem.message)
            throw ExitCode(1)
        }
    }

    struct Problem: Error {
        var message: String
    }

    /// The file, else the official architecture of that name, or the message saying why neither.
    static func find(_ path: String) -> Result<ModelSource, Problem> {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) || path.contains("/") {
            let bytes: Data
            do {
                bytes = try InputFile.read(path, largest: YAMLParser.largestDocumentBytes)
            } catch {
                return .failure(Problem(message: "\(path): error: cannot read the model file (\(describeFileError(error)))"))
            }
            do {
                return .success(ModelSource(text: try YAMLParser.decode(bytes, file: path), file: path))
            } catch {
                return .failure(Problem(message: error.description))
            }
        }
        // Ultralytics' order: the architecture without the scale letter, then the name itself
        let name = ModelNames.p6Renamed(path.hasSuffix(".yaml") || path.hasSuffix(".yml") ? path : path + ".yaml")
        for candidate in [ModelNames.unifiedFileName(name), name] {
            if let directory = architecturesDirectory,
               let text = try? String(contentsOf: directory.appendingPathComponent(candidate), encoding: .utf8) {
                return .success(ModelSource(text: text, file: candidate))
            }
        }
        let known = architectureNames
        return .failure(Problem(message: "\(path): error: cannot read the model file (no such file), and it is not an official architecture ModelGraph ships"
                                + (known.isEmpty ? " (its architectures folder is missing next to the executable)"
                                                 : "; known: \(known.joined(separator: ", ")) (add n/s/m/l/x for a scale: yolo11s.yaml)")))
    }
}

func describeFileError(_ error: Error) -> String {
    switch error as? InputFile.Problem {
    case .tooLarge(let bytes, let largest)?: return "\(groupedThousands(bytes)) bytes; the limit is \(groupedThousands(largest))"
    case let problem?: return problem.description
    case nil: break
    }
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
