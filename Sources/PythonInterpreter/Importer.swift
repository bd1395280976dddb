import Foundation
import PythonFrontEnd

/// Finds and runs modules: the fork's own source under its root (read-only, nothing outside
/// it), the modules ModelGraph provides (written in Swift or in its own Python), and inert
/// stand-ins for everything else.
public final class Importer {
    /// The fork's root folder (holding `ultralytics/`), resolved; nil when no fork is read.
    public let root: URL?
    /// Modules written in Swift: name → builder.
    public var nativeModules: [String: (Interpreter, PyModule) throws -> Void] = [:]
    /// Modules written in ModelGraph's own Python: name → source.
    public var providedSources: [String: String] = [:]
    /// Modules that are never stand-ins: their absence is an ImportError (so `try: import x` works).
    public var missingModules: Set<String> = []
    var totalSourceBytes = 0
    /// Parsed files, kept for the run.
    var parsed: [String: PythonFrontEnd.Module] = [:]
    /// Packages ModelGraph provides in part (torch, timm, numpy, einops): a name outside the part
    /// it implements is an inert stand-in that fails, located, when used.
    public var partialPackages: Set<String> = []

    public func isPartial(_ moduleName: String) -> Bool {
        partialPackages.contains(String(moduleName.prefix { $0 != "." }))
    }

    /// Optional imports (inside `try … except ImportError`) that failed as they do where the
    /// package is not installed, so the fork's fallback runs.
    public private(set) var optionalMissing: Set<String> = []
    /// Packages the forks' reference environment has: guarded imports of these still succeed (as
    /// stand-ins), as they do there.
    public var installedInReference: Set<String> = ["cv2", "matplotlib", "PIL", "scipy", "pandas", "yaml", "requests", "tqdm", "psutil",
                                                    "thop", "pywt", "torchvision", "seaborn", "huggingface_hub", "dill", "absl",
                                                    "tensorboard", "efficientnet_pytorch", "torch_pruning", "prodigyopt", "onnx",
                                                    "onnxruntime", "openvino", "safetensors", "cpuinfo", "polars", "pkg_resources",
                                                    "setuptools", "IPython", "clearml", "comet_ml", "wandb", "mlflow", "dvclive", "neptune",
                                                    "ray", "hub", "lap", "shapely", "pycocotools", "sklearn", "filterpy"]
    /// Imports that became stand-ins, for the report.
    public private(set) var standIns: Set<String> = []

    public init(root: URL?) {
        self.root = root.map { $0.resolvingSymlinksInPath().standardizedFileURL }
    }

    func install(into interpreter: Interpreter) {
        StandardLibrary.install(into: self)
    }

    /// `import name` (level 0), `from .name import …` (level ≥ 1), or a submodule reached as an
    /// attribute (level -1: `name` inside package `from`).
    public func importModule(_ name: String, from current: PyModule?, level: Int, interpreter: Interpreter, at location: SourceLocation?) throws -> PyValue {
        var absolute = name
        if level == -1 {
            guard let current, current.namespace["__path__"] != nil || nativeModules[current.name + "." + name] != nil
                    || providedSources[current.name + "." + name] != nil else {
                throw interpreter.error(interpreter.types.moduleNotFoundError, "No module named '\(name)'")
            }
            absolute = current.name + "." + name
        } else if level > 0 {
            guard let current else { throw interpreter.error(interpreter.types.importError, "attempted relative import with no known parent package") }
            var package = current.name.split(separator: ".").map(String.init)
            if current.namespace["__path__"] == nil { package.removeLast() }
            guard package.count >= level - 1 else {
                throw interpreter.error(interpreter.types.importError, "attempted relative import beyond top-level package")
            }
            package.removeLast(level - 1)
            absolute = (package + (name.isEmpty ? [] : [name])).joined(separator: ".")
        }
        let parts = absolute.split(separator: ".").map(String.init)
        var value: PyValue = .none
        for i in parts.indices {
            let prefix = parts[0...i].joined(separator: ".")
            value = try load(prefix, parent: i > 0 ? value : nil, interpreter: interpreter, lastName: parts[i], strict: level == -1)
        }
        return value
    }

    func load(_ name: String, parent: PyValue?, interpreter: Interpreter, lastName: String, strict: Bool) throws -> PyValue {
        if let module = interpreter.modules[name] { return .object(module) }
        if case .object(let standIn as PyStandIn)? = parent { return .object(PyStandIn(path: standIn.path + "." + lastName)) }
        let module: PyModule
        if let builder = nativeModules[name] {
            module = PyModule(name: name, file: nil)
            interpreter.modules[name] = module
            try builder(interpreter, module)
            if let source = providedSources[name] { try run(source, as: module, file: "<modelgraph>/\(name).py", interpreter: interpreter, deferFailures: false) }
        } else if let source = providedSources[name] {
            module = PyModule(name: name, file: "<modelgraph>/\(name).py")
            interpreter.modules[name] = module
            try run(source, as: module, file: module.file!, interpreter: interpreter, deferFailures: false)
        } else if let (file, isPackage) = sourceFile(name) {
            module = PyModule(name: name, file: relativePath(file))
            module.namespace["__name__"] = .str(name)
            module.namespace["__file__"] = .str(relativePath(file))
            module.namespace["__package__"] = .str(isPackage ? name : name.split(separator: ".").dropLast().joined(separator: "."))
            if isPackage { module.namespace["__path__"] = .list([.str(relativePath(file.deletingLastPathComponent()))]) }
            interpreter.modules[name] = module
            if case .object(let p as PyModule)? = parent { p.namespace[lastName] = .object(module) }
            let source = try read(file, interpreter: interpreter)
            do {
                try run(source, as: module, file: module.file!, interpreter: interpreter, deferFailures: true)
            } catch {
                interpreter.modules[name] = nil
                throw error
            }
            return .object(module)
        } else if let folder = namespacePackage(name) {
            // a folder without __init__.py: a namespace package (PEP 420)
            module = PyModule(name: name, file: nil)
            module.namespace["__name__"] = .str(name)
            module.namespace["__path__"] = .list([.str(relativePath(folder))])
            module.namespace["__package__"] = .str(name)
            interpreter.modules[name] = module
        } else {
            let top = String(name.prefix { $0 != "." })
            if strict || missingModules.contains(name) || isForkPackage(name) || (interpreter.importGuards > 0 && !installedInReference.contains(top)) {
                if interpreter.importGuards > 0 { optionalMissing.insert(top) }
                throw interpreter.error(interpreter.types.moduleNotFoundError, "No module named '\(name)'")
            }
            standIns.insert(String(name.prefix { $0 != "." }))
            return .object(PyStandIn(path: name))
        }
        if case .object(let p as PyModule)? = parent { p.namespace[lastName] = .object(module) }
        return .object(module)
    }

    func run(_ source: [UInt8], as module: PyModule, file: String, interpreter: Interpreter, deferFailures: Bool) throws {
        let tree: PythonFrontEnd.Module
        if let cached = parsed[file] { tree = cached } else {
            do { tree = try Parser.parse(bytes: source, file: file) }
            catch let syntax as PythonSyntaxError {
                throw InterpreterLimit("SyntaxError: \(syntax.message)", traceback: [TraceFrame(file: syntax.file, location: syntax.location, function: "<module>")])
            }
            parsed[file] = tree
        }
        if module.namespace["__name__"] == nil { module.namespace["__name__"] = .str(module.name) }
        try interpreter.executeModule(module, body: tree.body, deferFailures: deferFailures)
    }

    func run(_ source: String, as module: PyModule, file: String, interpreter: Interpreter, deferFailures: Bool) throws {
        try run(Array(source.utf8), as: module, file: file, interpreter: interpreter, deferFailures: deferFailures)
    }

    /// Runs ModelGraph's own source inside an existing module (the fork-mode driver).
    public func runProvided(_ source: String, as module: PyModule, interpreter: Interpreter) throws {
        interpreter.lastCapturedLocals = [:]
        let tree: PythonFrontEnd.Module
        do { tree = try Parser.parse(source: source, file: module.file ?? "<modelgraph>") }
        catch let syntax as PythonSyntaxError { throw InterpreterLimit("SyntaxError in ModelGraph's driver: \(syntax)") }
        try interpreter.executeModule(module, body: tree.body, deferFailures: false)
    }

    /// Runs source text as the main module (tests, `-c`-like use).
    public func runMain(_ source: String, file: String, interpreter: Interpreter) throws -> PyModule {
        let module = PyModule(name: "__main__", file: file)
        interpreter.modules["__main__"] = module
        try run(source, as: module, file: file, interpreter: interpreter, deferFailures: false)
        return module
    }

    /// A module's file under the root: `a/b.py` or `a/b/__init__.py`.
    func sourceFile(_ name: String) -> (URL, Bool)? {
        guard let root else { return nil }
        let path = name.split(separator: ".").joined(separator: "/")
        let candidates = [(root.appendingPathComponent(path + ".py"), false),
                          (root.appendingPathComponent(path).appendingPathComponent("__init__.py"), true)]
        for (url, isPackage) in candidates {
            let resolved = url.resolvingSymlinksInPath().standardizedFileURL
            guard resolved.path.hasPrefix(root.path + "/") else { continue }     // nothing outside the fork
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: resolved.path, isDirectory: &isDirectory), !isDirectory.boolValue {
                return (resolved, isPackage)
            }
        }
        return nil
    }

    func namespacePackage(_ name: String) -> URL? {
        guard let root else { return nil }
        let folder = root.appendingPathComponent(name.split(separator: ".").joined(separator: "/")).resolvingSymlinksInPath().standardizedFileURL
        var isDirectory: ObjCBool = false
        guard folder.path.hasPrefix(root.path + "/"), FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory),
              isDirectory.boolValue else { return nil }
        return folder
    }

    /// Whether the top-level package of `name` is the fork's own (a missing submodule of it is
    /// an ImportError, as in Python, not a stand-in).
    func isForkPackage(_ name: String) -> Bool {
        guard let root else { return false }
        let top = String(name.prefix { $0 != "." })
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: root.appendingPathComponent(top).path, isDirectory: &isDirectory) && isDirectory.boolValue
            || FileManager.default.fileExists(atPath: root.appendingPathComponent(top + ".py").path)
    }

    func relativePath(_ url: URL) -> String {
        guard let root else { return url.path }
        let path = url.path
        return path.hasPrefix(root.path + "/") ? String(path.dropFirst(root.path.count + 1)) : path
    }

    /// `open(path)` from model code: a file under the fork root (relative paths are relative to it,
    /// as the forks' scripts run from there), read whole; nothing outside the root.
    func readFile(_ path: String, interpreter: Interpreter) throws -> [UInt8] {
        guard let root else { throw interpreter.error(interpreter.types.osError, "open(\(Interpreter.stringRepr(path))): no fork root to read from") }
        let url = (path.hasPrefix("/") ? URL(fileURLWithPath: path) : root.appendingPathComponent(path)).resolvingSymlinksInPath().standardizedFileURL
        guard url.path.hasPrefix(root.path + "/") else {
            throw interpreter.error(interpreter.types.osError, "open(\(Interpreter.stringRepr(path))): fork mode reads only files inside the fork (\(root.path))")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw interpreter.error(interpreter.types.fileNotFoundError, "[Errno 2] No such file or directory: \(Interpreter.stringRepr(path))")
        }
        return try read(url, interpreter: interpreter)
    }

    func read(_ url: URL, interpreter: Interpreter) throws -> [UInt8] {
        let attributes = try? FileManager.default.attributesOfItem(atPath: url.path)
        let size = (attributes?[.size] as? NSNumber)?.intValue ?? 0
        guard size <= interpreter.budget.sourceBytes else {
            throw InterpreterLimit("\(relativePath(url)) is \(size) bytes, past fork mode's \(interpreter.budget.sourceBytes)-byte limit for one source file")
        }
        totalSourceBytes += size
        guard totalSourceBytes <= interpreter.budget.totalSourceBytes else {
            throw InterpreterLimit("the fork's imports read more than \(interpreter.budget.totalSourceBytes) bytes of source; fork mode stops here")
        }
        // an empty file is read without Foundation (which leaks a 4 KiB buffer reading one)
        if size == 0 { return [] }
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw InterpreterLimit("\(relativePath(url)): cannot read the file")
        }
        return Array(data)
    }
}
