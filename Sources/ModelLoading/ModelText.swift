import Foundation
import func ModelGraph.groupedThousands
import enum ModelSpec.ModelNames
import enum Tensor.InputFile
import YAMLFrontEnd

/// A model's YAML text and the name its diagnostics show: the file named, or ModelGraph's own
/// copy of an official architecture of that name.
public struct ModelText: Sendable {
    public var text: String
    public var file: String

    public init(text: String, file: String) {
        self.text = text
        self.file = file
    }

    /// The file at `path`, else the official architecture named so (`yolo11n.yaml`: Ultralytics'
    /// order, the name without its scale letter first), else an error naming both.
    public static func find(_ path: String) -> Result<ModelText, ModelLoadError> {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) || path.contains("/") {
            let bytes: Data
            do {
                bytes = try InputFile.read(path, largest: YAMLParser.largestDocumentBytes)
            } catch {
                return .failure(ModelLoadError("\(path): error: cannot read the model file (\(describeFileError(error)))"))
            }
            do {
                return .success(ModelText(text: try YAMLParser.decode(bytes, file: path), file: path))
            } catch {
                return .failure(ModelLoadError(error.description))
            }
        }
        let name = ModelNames.p6Renamed(path.hasSuffix(".yaml") || path.hasSuffix(".yml") ? path : path + ".yaml")
        for candidate in [ModelNames.unifiedFileName(name), name] {
            if let text = Architectures.text(of: candidate) { return .success(ModelText(text: text, file: candidate)) }
        }
        let known = Architectures.names
        return .failure(ModelLoadError("\(path): error: cannot read the model file (no such file), and it is not an official architecture ModelGraph ships"
                                       + (known.isEmpty ? " (its architectures folder is missing next to the executable)"
                                                        : "; known: \(known.joined(separator: ", ")) (add n/s/m/l/x for a scale: yolo11s.yaml)")))
    }
}

/// The official Ultralytics architectures ModelGraph ships (its own files of their facts), so
/// `yolo11n.yaml` needs no file: the resource folder SwiftPM copies next to the executable.
public enum Architectures {
    public static var directory: URL? {
        guard let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else { return nil }
        let directory = URL(fileURLWithPath: executable).deletingLastPathComponent()
            .appendingPathComponent("ModelGraph_ModelLoading.resources/Architectures")
        return FileManager.default.fileExists(atPath: directory.path) ? directory : nil
    }

    /// The file names (`yolo11.yaml`, `rtdetr-l.yaml`, …), sorted.
    public static var names: [String] {
        guard let directory, let names = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else { return [] }
        return names.filter { $0.hasSuffix(".yaml") }.sorted()
    }

    /// The YAML of the architecture file `name`, if ModelGraph ships it.
    public static func text(of name: String) -> String? {
        guard !name.contains("/"), let directory else { return nil }
        return try? String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
    }
}

/// A file-reading error as a message fragment: "no such file", "permission denied", a size limit.
public func describeFileError(_ error: Error) -> String {
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
