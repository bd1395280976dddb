import ArgumentParser
import Checkpoint
import Foundation
import ModelGraph
import Tensor

/// PyTorch checkpoints where a model or weights file is accepted.
enum Checkpoints {
    /// A `.pt`/`.pth` name, or a file that starts as a zip archive (torch.save's format).
    static func isCheckpoint(_ path: String) -> Bool {
        let lower = path.lowercased()
        if lower.hasSuffix(".pt") || lower.hasSuffix(".pth") { return true }
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        return (try? handle.read(upToCount: 4)) == Data([0x50, 0x4B, 0x03, 0x04])
    }

    /// Reads a checkpoint; a bad file prints its error and exits 1.
    static func read(_ path: String) throws -> UltralyticsCheckpoint {
        do {
            return try UltralyticsCheckpoint.read(file: path)
        } catch {
            printError(error.description)
            throw ExitCode(1)
        }
    }

    /// The checkpoint's own model YAML; exits 1 when it has none (a bare state dict).
    static func modelYAML(_ checkpoint: UltralyticsCheckpoint) throws -> ModelYAML {
        guard let yaml = checkpoint.yaml else {
            printError("\(checkpoint.file): error: the checkpoint carries no model YAML (\(checkpoint.source == "model" || checkpoint.source == "ema" ? "its model has no `yaml`" : "a bare state dict")); "
                       + "give the model's YAML and pass this file as --weights")
            throw ExitCode(1)
        }
        do {
            return try ModelYAML(yaml, file: checkpoint.file)
        } catch {
            printError(error.description)
            throw ExitCode(1)
        }
    }

    /// The checkpoint's state dict as float32 tensors, unchecked.
    static func floatTensors(_ checkpoint: UltralyticsCheckpoint) -> [String: Tensor] {
        var tensors: [String: Tensor] = [:]
        for (key, reference) in checkpoint.tensors { tensors[key] = reference.tensor }
        return tensors
    }

    /// The checkpoint's weights for `graph` as float32, checked strictly, with every BatchNorm
    /// computing with the eps pickled in the file (a note says which differ from the rule).
    static func weights(_ checkpoint: UltralyticsCheckpoint, for graph: ModelGraph) throws -> [String: Tensor] {
        var checked: [String: Tensor]
        do {
            checked = try Weights.checked(floatTensors(checkpoint), for: graph, file: checkpoint.file)
        } catch {
            printError(error.description)
            throw ExitCode(1)
        }
        let changed = Weights.adjustNormEpsilons(&checked, wanted: checkpoint.normEpsilons, graph: graph)
        if let first = changed.first, let eps = checkpoint.normEpsilons[first] {
            printError("note: \(changed.count) BatchNorm layer\(changed.count == 1 ? "" : "s") (\(first)\(changed.count > 1 ? ", …" : "")) "
                       + "use eps \(eps) as pickled in \(checkpoint.file), not the \(Weights.normEpsilons(for: graph)[first].map { String($0) } ?? "?") Ultralytics' rule gives")
        }
        return checked
    }
}
