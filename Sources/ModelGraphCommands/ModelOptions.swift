import ArgumentParser
import Foundation
import ModelGraph
import enum ModelSpec.Limits
import ModelLoading
import Tensor

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

/// `--imgsz`, declared once for the commands that build every model at one size.
struct ImageSizeOption: ParsableArguments {
    @Option(help: ArgumentHelp("Input size: H, or H,W.", valueName: "H[,W]"))
    var imgsz: ImageSize = ImageSize(argument: "640")!

    func validate() throws {
        // the library checks it too; here it is a usage error (exit 2)
        let largest = Limits.largestNumber
        guard imgsz.height <= largest, imgsz.width <= largest else {
            throw ValidationError("--imgsz must be at most \(largest) per side, found \(imgsz.height),\(imgsz.width)")
        }
    }
}

/// `--threads`, declared once for the commands that run kernels.
struct ThreadsOption: ParsableArguments {
    @Option(help: "Threads for the kernels (default: OMP_NUM_THREADS or all cores).")
    var threads: Int?

    func validate() throws {
        if let threads, !(1...256).contains(threads) {
            throw ValidationError("--threads must be from 1 to 256, found \(threads)")
        }
    }

    /// Sets the kernels' thread count (--threads, else the default).
    func configure() {
        Threads.set(threads ?? Threads.defaultCount)
    }
}

/// Options every model command shares.
struct ModelOptions: ParsableArguments {
    @Argument(help: "The model: a YAML file, an official architecture name (yolo11n.yaml), or an Ultralytics .pt checkpoint (its own YAML and weights).")
    var config: String

    @Option(help: "Scale from the file's `scales:` (default: the first one listed).")
    var scale: String?

    @OptionGroup var size: ImageSizeOption

    /// The input size (--imgsz).
    var imgsz: ImageSize {
        get { size.imgsz }
        set { size.imgsz = newValue }
    }

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
    }

    /// What the model arguments ask the library to load.
    var request: ModelRequest {
        ModelRequest(path: config, scale: scale, imageHeight: imgsz.height, imageWidth: imgsz.width, batch: batch, endToEnd: endToEnd, source: source)
    }

    /// Reads and builds the model (YAML, official name or .pt: `Model.load`); on an error prints
    /// it and exits 1 (2 for a usage error such as a scale the file does not list).
    func loadGraph() throws -> ModelGraph {
        try loadModel().graph
    }

    /// The model (with its checkpoint when it is a `.pt`).
    func loadModel() throws -> Model {
        try reporting { () throws(ModelLoadError) in try Model.load(request) }
    }

    /// A model that can run (`Model.loadRunnable`), its diagnostics printed first.
    func loadRunnableModel() throws -> Model {
        try reporting { () throws(ModelLoadError) in try Model.loadRunnable(request) { printError($0.description) } }
    }
}

/// Runs a loading step; its error is printed and becomes the exit status (1, or 2 for usage).
func reporting<T>(_ body: () throws(ModelLoadError) -> T) throws -> T {
    do {
        return try body()
    } catch {
        for message in error.messages { printError(message) }
        throw ExitCode(error.kind == .usage ? 2 : 1)
    }
}

func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
