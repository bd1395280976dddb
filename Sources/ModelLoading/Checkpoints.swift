import Checkpoint
import Foundation
import ModelGraph
import Tensor

/// PyTorch checkpoints where a model or weights file is accepted.
public enum Checkpoints {
    /// A `.pt`/`.pth` name, or a file that starts as a zip archive (torch.save's format).
    public static func isCheckpoint(_ path: String) -> Bool {
        let lower = path.lowercased()
        if lower.hasSuffix(".pt") || lower.hasSuffix(".pth") { return true }
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        return (try? handle.read(upToCount: 4)) == Data([0x50, 0x4B, 0x03, 0x04])
    }

    public static func read(_ path: String) throws(ModelLoadError) -> UltralyticsCheckpoint {
        do {
            return try UltralyticsCheckpoint.read(file: path)
        } catch {
            throw ModelLoadError(error.description)
        }
    }

    /// The checkpoint's own model YAML (an error for a bare state dict, which has none).
    public static func modelYAML(_ checkpoint: UltralyticsCheckpoint) throws(ModelLoadError) -> ModelYAML {
        guard let yaml = checkpoint.yaml else {
            throw ModelLoadError("\(checkpoint.file): error: the checkpoint carries no model YAML (\(checkpoint.source == "model" || checkpoint.source == "ema" ? "its model has no `yaml`" : "a bare state dict")); "
                                 + "give the model's YAML and pass this file as --weights")
        }
        do {
            return try ModelYAML(yaml, file: checkpoint.file)
        } catch {
            throw ModelLoadError(error.description)
        }
    }

    /// The checkpoint's state dict as float32 tensors, unchecked.
    public static func floatTensors(_ checkpoint: UltralyticsCheckpoint) -> [String: Tensor] {
        var tensors: [String: Tensor] = [:]
        for (key, reference) in checkpoint.tensors { tensors[key] = reference.tensor }
        return tensors
    }

    /// The checkpoint's weights for `graph` as float32, checked strictly, with every BatchNorm
    /// computing with the eps pickled in the file; `notes` says which differ from the rule.
    static func weights(_ checkpoint: UltralyticsCheckpoint, for graph: ModelGraph) throws(ModelLoadError) -> (tensors: [String: Tensor], notes: [String]) {
        var checked: [String: Tensor]
        do {
            checked = try Weights.checked(floatTensors(checkpoint), for: graph, file: checkpoint.file)
        } catch {
            throw ModelLoadError(error.description)
        }
        let changed = Weights.adjustNormEpsilons(&checked, wanted: checkpoint.normEpsilons, graph: graph)
        guard let first = changed.first, let eps = checkpoint.normEpsilons[first] else { return (checked, []) }
        return (checked, ["note: \(changed.count) BatchNorm layer\(changed.count == 1 ? "" : "s") (\(first)\(changed.count > 1 ? ", …" : "")) "
                          + "use eps \(eps) as pickled in \(checkpoint.file), not the \(Weights.normEpsilons(for: graph)[first].map { String($0) } ?? "?") Ultralytics' rule gives"])
    }
}
