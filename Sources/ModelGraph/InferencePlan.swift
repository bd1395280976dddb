import Tensor
import YAMLFrontEnd

/// A model prepared for repeated inference: weights checked once and, by default, fused as
/// Ultralytics' `fuse()` does — each Conv2d's BatchNorm folded into its weight and bias, each
/// RepConv's two branches re-parameterised into one 3×3 conv — so the forward pass runs fewer,
/// larger kernels. `fuse: false` keeps the reference path that tests compare against.
public struct InferencePlan: Sendable {
    public let graph: ModelGraph
    public let weights: [String: Tensor]
    public let isFused: Bool
    /// oneDNN convolution primitives, created on first use and reused (nil on the reference path).
    let cache: KernelCache?

    public init(graph: ModelGraph, weights: [String: Tensor], fuse: Bool = true) {
        self.graph = graph
        self.weights = fuse ? Fusion.fused(weights, for: graph) : weights
        self.isFused = fuse
        self.cache = fuse ? KernelCache() : nil
        if fuse { Allocator.keepFreedMemory() }
    }

    /// Runs the model; see `ModelGraph.forward`.
    public func forward(_ input: Tensor, keepAll: Bool = false,
                        progress: ((ResolvedLayer, Int) -> Void)? = nil) throws(DiagnosticList) -> ForwardResult {
        try graph.forward(input, weights: weights, keepAll: keepAll, cache: cache, progress: progress)
    }
}

/// Inference-time weight folding over the module trees.
enum Fusion {
    static func fused(_ tensors: [String: Tensor], for graph: ModelGraph) -> [String: Tensor] {
        var out = tensors
        for layer in graph.layers {
            fold(layer.tree, prefix: layer.keyPrefix, in: &out)
        }
        return out
    }

    /// Folds every Conv2d directly followed by a BatchNorm2d (Ultralytics Conv, StarNet's
    /// ConvBN, the decoder's input projections), then merges RepConv branches.
    private static func fold(_ node: ModuleNode, prefix: String, in tensors: inout [String: Tensor]) {
        let base = prefix.isEmpty ? "" : prefix + "."
        for child in node.children {
            fold(child, prefix: base + child.name, in: &tensors)
        }
        for (conv, norm) in zip(node.children, node.children.dropFirst())
        where conv.typeName == "Conv2d" && norm.typeName == "BatchNorm2d" {
            foldBatchNorm(conv: base + conv.name + ".", norm: base + norm.name + ".", in: &tensors)
        }
        if node.typeName == "RepConv" { mergeRepConv(base, in: &tensors) }
    }

    /// W' = W · γ/√(var + ε) per output channel, b' = (b − mean) · γ/√(var + ε) + β; the
    /// BatchNorm's tensors are removed, which tells the forward pass to skip it.
    static func foldBatchNorm(conv: String, norm: String, in tensors: inout [String: Tensor], epsilon: Float = 1e-5) {
        guard var weight = tensors[conv + "weight"], let gamma = tensors[norm + "weight"], let beta = tensors[norm + "bias"],
              let mean = tensors[norm + "running_mean"], let variance = tensors[norm + "running_var"] else { return }
        let outputs = weight.shape[0]
        let perOutput = weight.count / outputs
        var bias = tensors[conv + "bias"] ?? Tensor(shape: [outputs])
        for o in 0..<outputs {
            let scale = gamma.storage[o] / (variance.storage[o] + epsilon).squareRoot()
            for i in 0..<perOutput { weight.storage[o * perOutput + i] *= scale }
            bias.storage[o] = (bias.storage[o] - mean.storage[o]) * scale + beta.storage[o]
        }
        tensors[conv + "weight"] = weight
        tensors[conv + "bias"] = bias
        for name in ["weight", "bias", "running_mean", "running_var"] { tensors[norm + name] = nil }
    }

    /// RepConv's `fuse_convs`: the folded 1×1 kernel added at the centre of the folded 3×3.
    private static func mergeRepConv(_ base: String, in tensors: inout [String: Tensor]) {
        guard var weight = tensors[base + "conv1.conv.weight"], let bias3 = tensors[base + "conv1.conv.bias"],
              let point = tensors[base + "conv2.conv.weight"], let bias1 = tensors[base + "conv2.conv.bias"],
              weight.shape[2] == 3, weight.shape[3] == 3 else { return }
        let (outputs, inputs) = (weight.shape[0], weight.shape[1])
        for o in 0..<outputs {
            for i in 0..<inputs { weight.storage[((o * inputs + i) * 3 + 1) * 3 + 1] += point.storage[o * inputs + i] }
        }
        tensors[base + "conv.weight"] = weight
        tensors[base + "conv.bias"] = bias3 + bias1
        for key in tensors.keys where key.hasPrefix(base + "conv1.") || key.hasPrefix(base + "conv2.") { tensors[key] = nil }
    }
}
