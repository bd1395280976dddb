import ModelSpec
import Tensor
import YAMLFrontEnd

/// The tensors of one module, by their names under it (`cv1.conv.weight` under `model.8.`).
/// Keys are checked against the module trees before a forward pass, so a lookup cannot miss.
public struct LayerWeights: Sendable {
    public let tensors: [String: Tensor]
    public let prefix: String
    /// Where a plan keeps the primitives it creates once (nil: the plain reference kernels).
    public let cache: KernelCache?

    public init(_ tensors: [String: Tensor], prefix: String, cache: KernelCache? = nil) {
        self.tensors = tensors
        self.prefix = prefix
        self.cache = cache
    }

    public subscript(_ name: String) -> Tensor {
        guard let tensor = tensors[prefix + name] else {
            preconditionFailure("weight \(prefix + name) missing: Weights.check should have caught it")
        }
        return tensor
    }

    /// The weights of a submodule (`weights.child("cv1")["conv.weight"]`).
    public func child(_ name: String) -> LayerWeights { LayerWeights(tensors, prefix: prefix + name + ".", cache: cache) }
}

/// The result of a forward pass: the last layer's outputs and, when asked for, every index's.
public struct ForwardResult: Sendable {
    public var outputs: [Tensor]
    /// Every layer index's output (only with `keepAll`).
    public var layerOutputs: [Int: Tensor]
}

extension ModelGraph {
    /// Runs the model on `input` (the shape the graph was built for) with checked `weights`.
    /// `keepAll` keeps every index's output (for parity tests); otherwise each is released after
    /// its last use. `progress` is called after each row with its position.
    public func forward(_ input: Tensor, weights: [String: Tensor], keepAll: Bool = false, cache: KernelCache? = nil,
                        progress: ((ResolvedLayer, Int) -> Void)? = nil) throws(DiagnosticList) -> ForwardResult {
        guard errors.isEmpty else { throw DiagnosticList(errors) }
        guard input.shape == inputShape else {
            throw DiagnosticList([Diagnostic(file: spec.file, location: nil,
                                             message: "the input has shape \(describeShape(input.shape)), the model was built for \(describeShape(inputShape))")])
        }
        // last row position that reads each index, so outputs are released once nothing needs them
        var lastUse = [Int: Int]()
        for (position, layer) in layers.enumerated() {
            for source in layer.from { lastUse[source] = position }
        }
        var values: [Int: Tensor] = [-1: input]
        var kept = [Int: Tensor]()
        var outputs = [Tensor]()
        for (position, layer) in layers.enumerated() {
            var current = layer.from.map { values[$0]! }  // every source precedes the row (builder invariant)
            do {
                for copy in 0..<layer.copies {
                    let prefix = layer.copies > 1 ? "\(layer.keyPrefix).\(copy)." : "\(layer.keyPrefix)."
                    current = try layer.module.forward(current, LayerWeights(weights, prefix: prefix, cache: cache))
                }
            } catch {
                throw DiagnosticList([Diagnostic(file: spec.file, location: layer.row.location(of: error.blame),
                                                 layerIndex: layer.index, module: layer.moduleName, message: error.message)])
            }
            for (offset, tensor) in current.enumerated() {
                values[layer.index + offset] = tensor
                if keepAll { kept[layer.index + offset] = tensor }
            }
            for source in layer.from where lastUse[source] == position && !keepAll { values[source] = nil }
            outputs = current
            progress?(layer, position)
        }
        return ForwardResult(outputs: outputs, layerOutputs: kept)
    }
}
